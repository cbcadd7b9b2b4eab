"""The pipe types: operators waiting for their source, applied with `|` or a call.

Each kind of operator has its own class so that type checkers infer the result exactly: a
`SameTypePipe` keeps whatever item type its source has (its methods are generic), where a
`Pipe[In, Out]` fixes both sides (its function's types).
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from typing import Any, Generic, TypeAlias, TypeVar

from aiostream.core import Stream

__all__ = ["Apply", "ListPipe", "Pipe", "SameTypePipe", "UnionPipe"]

E = TypeVar("E")
In = TypeVar("In", contravariant=True)
Out = TypeVar("Out", covariant=True)
Added = TypeVar("Added", covariant=True)

Apply: TypeAlias = Callable[[AsyncIterable[Any]], Stream[Any]]


class _Operator:
    """An operator waiting for its source; `|` or a call applies it."""

    __slots__ = ("_apply", "_label")

    def __init__(self, label: str, apply: Apply) -> None:
        self._label = label
        self._apply = apply

    def __repr__(self) -> str:
        return f"ops.{self._label}"


class Pipe(_Operator, Generic[In, Out]):
    """An operator turning a stream of `In` into a `Stream[Out]`, as `map` and `scan` return.

    Example:
        ```python
        events = ops.source(prices()) | ops.map(to_event)  # Stream[PriceChanged]
        ```
    """

    __slots__ = ()

    def __call__(self, source: AsyncIterable[In], /) -> Stream[Out]:
        """Apply the operator to `source`."""
        return self._apply(source)

    def __ror__(self, source: AsyncIterable[In], /) -> Stream[Out]:
        """Apply the operator to `source` with `source | operator`, for any async iterable."""
        return self._apply(source)


class SameTypePipe(_Operator):
    """An operator that keeps its source's item type: `Stream[E]` in, `Stream[E]` out.

    `filter`, `take`, `take_while`, `skip`, `distinct_until_changed`, `throttle`, `debounce`,
    `timeout` and `tap` return one.
    """

    __slots__ = ()

    def __call__(self, source: AsyncIterable[E], /) -> Stream[E]:
        """Apply the operator to `source`."""
        return self._apply(source)

    def __ror__(self, source: AsyncIterable[E], /) -> Stream[E]:
        """Apply the operator to `source` with `source | operator`, for any async iterable."""
        return self._apply(source)


class ListPipe(_Operator):
    """An operator batching its source's items: `Stream[E]` in, `Stream[list[E]]` out (`chunk`)."""

    __slots__ = ()

    def __call__(self, source: AsyncIterable[E], /) -> Stream[list[E]]:
        """Apply the operator to `source`."""
        return self._apply(source)

    def __ror__(self, source: AsyncIterable[E], /) -> Stream[list[E]]:
        """Apply the operator to `source` with `source | operator`, for any async iterable."""
        return self._apply(source)


class UnionPipe(_Operator, Generic[Added]):
    """An operator adding items of another type: `Stream[E]` in, `Stream[E | Added]` out.

    `start_with`, `concat` and `catch` return one.
    """

    __slots__ = ()

    def __call__(self, source: AsyncIterable[E], /) -> Stream[E | Added]:
        """Apply the operator to `source`."""
        return self._apply(source)

    def __ror__(self, source: AsyncIterable[E], /) -> Stream[E | Added]:
        """Apply the operator to `source` with `source | operator`, for any async iterable."""
        return self._apply(source)
