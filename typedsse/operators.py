"""Typed stream operators on aiostream: merge, map, throttle and the rest, with pipe syntax.

Taught as `from typedsse import operators as ops`. Sources (`source`, `merge`, `chain`) make an
aiostream `Stream`; every other operator returns a pipe, applied with `|` (or called with the
source). An `@sse` endpoint may return the pipeline as it is: the response enters aiostream's
stream context and leaves it on disconnect, closing every source at once.

Example:
    ```python
    @app.get("/prices")
    @sse()
    def prices() -> AsyncIterable[PriceChanged | TradeExecuted]:
        return ops.merge(price_changes() | ops.throttle(0.5, mode="latest", key=symbol_of), trades())
    ```

Typing: `merge(a, b)` is a `Stream[A | B]`, `map(fn)` gives a stream of `fn`'s return type, the
operators that only select, delay or watch (`filter`, `take`, `take_while`, `skip`,
`distinct_until_changed`, `throttle`, `debounce`, `timeout`, `tap`) keep the item type exactly,
whatever their callbacks accept, and `chunk` turns `E` into `list[E]`.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import math
import numbers
import reprlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, Literal, Never, TypeGuard, TypeVar, cast, overload

from aiostream import stream
from aiostream.core import Stream, Streamer, pipable_operator
from typing_extensions import TypeIs

from typedsse import _operators_time as _time
from typedsse._closing import closed, opened
from typedsse._operators_pipes import ListPipe, Pipe, SameTypePipe, UnionPipe
from typedsse._operators_sources import chain, cursors, merge, source
from typedsse._operators_time import FAIR_SHARE as _FAIR_SHARE
from typedsse._operators_time import ThrottleMode

__all__ = [
    "ListPipe",
    "Pipe",
    "SameTypePipe",
    "Stream",
    "ThrottleMode",
    "UnionPipe",
    "catch",
    "chain",
    "chunk",
    "concat",
    "cursors",
    "debounce",
    "distinct_until_changed",
    "end_with",
    "filter",
    "map",
    "merge",
    "scan",
    "skip",
    "source",
    "start_with",
    "take",
    "take_while",
    "tap",
    "throttle",
    "timeout",
]

S = TypeVar("S")
T = TypeVar("T")
U = TypeVar("U")
R = TypeVar("R")
X = TypeVar("X", bound=Exception)
Y = TypeVar("Y", bound=Exception)
Z = TypeVar("Z", bound=Exception)
A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")


# Operators keeping the item type


# A TypeGuard or TypeIs predicate also matches the last overload, which does not narrow: they come first.
@overload
def filter(predicate: Callable[[T], TypeGuard[U]], /) -> Pipe[T, U]: ...  # type: ignore[overload-overlap]  # noqa: A001
@overload
def filter(predicate: Callable[[T], TypeIs[U]], /) -> Pipe[T, U]: ...  # type: ignore[overload-overlap]  # noqa: A001
@overload
def filter(predicate: Callable[[Any], object], /) -> SameTypePipe: ...  # noqa: A001
def filter(predicate: Callable[[Any], Any], /) -> Pipe[Any, Any] | SameTypePipe:  # noqa: A001
    """Forward the items for which `predicate` (sync or async) is true.

    Its answer may be any value, taken by its truth as the builtin `filter` takes it (a
    pattern's `search`, giving a `Match` or `None`). An awaitable answer is awaited, whatever
    gives it: an `async def`, an object with an `async def __call__`, a lambda returning a
    coroutine.

    A `TypeGuard` or `TypeIs` predicate narrows the item type; any other keeps it. Under
    pyright, give a predicate that reads the item a `def` with its parameter annotated: a
    lambda such as `lambda event: event.data.price > 0` matches the `TypeGuard` overload with an unknown
    result (see "Typing guarantees" on the operators page).

    Example:
        ```python
        merged | ops.filter(is_positive)  # with `def is_positive(e: Echo | ReverseEcho) -> bool`: same type
        merged | ops.filter(is_echo)  # with `def is_echo(e: Echo | ReverseEcho) -> TypeGuard[Echo]`
        merged | ops.filter(lambda event: event.id is not None)  # a bool whatever the item: same type
        lines() | ops.filter(re.compile(r"ERROR").search)  # a `Match` or `None`: same type
        ```

    Raises:
        TypeError: `predicate` is not callable.
    """
    _check_callable("filter()", predicate)
    return SameTypePipe(f"filter({_name(predicate)})", lambda source: _filter(source, predicate))


def take(count: int, /) -> SameTypePipe:
    """Forward the first `count` items and end, closing the source (its `finally` runs) as the last arrives.

    Example:
        ```python
        ops.source(ticks()) | ops.take(10)
        ```

    Raises:
        TypeError: `count` is not an integer (a `bool` is not one).
        ValueError: `count` is negative.
    """
    _check_count(count, 0, f"take() needs a non-negative integer, got {count!r}")
    return SameTypePipe(f"take({count!r})", lambda source: _forward_until(source, lambda: _counting(count)))


def tap(function: Callable[[Any], object], /) -> SameTypePipe:
    """Call `function(item)` for each item, then forward the item unchanged: for logs and metrics.

    An async function (any awaitable answer) is awaited before the item goes on, one call at a
    time; what the function returns is ignored. An exception it raises ends the stream, as one
    from the source does.

    Example:
        ```python
        events() | ops.tap(lambda event: sent_total.labels(event.event_name).inc())
        ```

    Raises:
        TypeError: `function` is not callable.
    """
    _check_callable("tap()", function)
    return SameTypePipe(f"tap({_name(function)})", lambda source: _tap(source, function))


# A TypeGuard predicate narrows what goes out, unless the refused item goes out too.
@overload
def take_while(  # type: ignore[overload-overlap]
    predicate: Callable[[T], TypeGuard[U]], /, *, inclusive: Literal[False] = False
) -> Pipe[T, U]: ...
@overload
def take_while(  # type: ignore[overload-overlap]
    predicate: Callable[[T], TypeIs[U]], /, *, inclusive: Literal[False] = False
) -> Pipe[T, U]: ...
@overload
def take_while(predicate: Callable[[Any], object], /, *, inclusive: bool = False) -> SameTypePipe: ...
def take_while(predicate: Callable[[Any], Any], /, *, inclusive: bool = False) -> Pipe[Any, Any] | SameTypePipe:
    """Forward items while `predicate` (sync or async) is true; end at the first for which it is false.

    As in `filter`, its answer may be any value, taken by its truth, and an awaitable one is
    awaited.

    The source is closed as that item arrives (its `finally` runs), before anything else goes
    on; nothing is read past it. With `inclusive=True` that item is forwarded too, as the
    stream's last: a job's result after its progress, say.

    A `TypeGuard` or `TypeIs` predicate narrows the item type, unless `inclusive=True`.

    Example:
        ```python
        job_events() | ops.take_while(lambda event: not isinstance(event, JobDone), inclusive=True)
        ```

    Raises:
        TypeError: `predicate` is not callable.
    """
    _check_callable("take_while()", predicate)
    label = f"take_while({_name(predicate)}{', inclusive=True' if inclusive else ''})"
    return SameTypePipe(label, lambda source: _forward_until(source, lambda: _while(predicate, inclusive)))


def skip(count: int, /) -> SameTypePipe:
    """Drop the first `count` items and forward the rest.

    Example:
        ```python
        readings() | ops.skip(1)  # the first reading of a sensor is its warm-up value
        ```

    Raises:
        TypeError: `count` is not an integer (a `bool` is not one).
        ValueError: `count` is negative.
    """
    _check_count(count, 0, f"skip() needs a non-negative integer, got {count!r}")
    return SameTypePipe(f"skip({count!r})", lambda source: _skip(source, count))


def distinct_until_changed(*, key: Callable[[Any], Any] | None = None) -> SameTypePipe:
    """Drop an item equal to the one before it; forward every change.

    Items are compared with `==`, or through `key`. Events carry their `id` and `retry`, so two
    events with the same data but different ids are not equal: compare them by
    `key=lambda event: event.data`.

    Example:
        ```python
        statuses() | ops.distinct_until_changed(key=lambda event: event.data)  # only changes of state
        ```

    Args:
        key: A sync function of an item giving what is compared; `None` compares the items.

    Raises:
        TypeError: `key` is not callable, or is async; or, as items flow, it returned an
            awaitable (a lambda calling an async function).
    """
    if key is not None:
        _check_callable("distinct_until_changed(key=...)", key)
        if _is_async(key):  # its awaitables would all differ: nothing would be dropped
            raise TypeError(f"distinct_until_changed(key=...) needs a sync function, got {_name(key)}, an async one")
    label = f"distinct_until_changed(key={_name(key)})" if key is not None else "distinct_until_changed()"
    return SameTypePipe(label, lambda source: _distinct_until_changed(source, key))


def throttle(
    interval: float, /, *, mode: ThrottleMode = "leading", key: Callable[[Any], Hashable] | None = None
) -> SameTypePipe:
    """Forward at most one item per `interval` seconds, dropping the rest; never delay a backlog.

    An item that arrives when no window is open goes out at once and opens a window of
    `interval` seconds. What happens to the items arriving inside the window is the `mode`:

    - `"leading"`: they are dropped.
    - `"latest"`: the newest of them is kept and sent when the window ends (opening the next
      one), so the final state always arrives. When the source ends, kept items still go out at
      the end of their windows.

    With `key`, each key gets its own windows: one busy ticker symbol does not starve another.

    Example:
        ```python
        prices() | ops.throttle(0.5, mode="latest", key=lambda event: event.data.symbol)
        ```

    Args:
        interval: The window length, in seconds.
        mode: `"leading"` or `"latest"`.
        key: A sync function returning the throttling key of an item; items with different keys
            never wait for each other. `None` throttles the whole stream as one.

    Raises:
        TypeError: `key` is not callable or is async, or `interval` is not a real number (a `bool` is not one).
            While the stream runs, the key of an item is an awaitable or is not hashable (a
            Pydantic model that is not frozen: use its id field).
        ValueError: `interval` is not positive, or `mode` is unknown, or `interval` is infinite
            (or an integer too large for a float, which counts as infinite) in `"latest"` mode.
    """
    interval = _check_interval("throttle", interval)
    if key is not None:
        _check_callable("throttle(key=...)", key)
        if _is_async(key):  # its awaitables would all be distinct keys: nothing would be throttled
            raise TypeError(f"throttle(key=...) needs a sync function, got {_name(key)}, an async one")
    if mode not in ("leading", "latest"):
        raise ValueError(f"throttle(mode=...) is 'leading' or 'latest', got {mode!r}")
    if mode == "latest" and math.isinf(interval):
        # A window that never ends would keep its newest item forever, and the stream open after
        # its source ended.
        raise ValueError(
            "throttle(inf, mode='latest') never ends its window, so it would never send the item it "
            "keeps; use mode='leading' to send only the first item"
        )
    keyed = f", key={_name(key)}" if key is not None else ""
    return SameTypePipe(
        f"throttle({interval!r}, mode={mode!r}{keyed})", lambda source: _time.throttle(source, interval, mode, key)
    )


def debounce(interval: float, /) -> SameTypePipe:
    """Forward an item only once `interval` seconds pass without a newer one.

    Bursts collapse to their last item, sent after the burst. When the source ends, the
    waiting item goes out at once.

    Example:
        ```python
        keystrokes() | ops.debounce(0.3)  # search as the user pauses typing
        ```

    Raises:
        TypeError: `interval` is not a real number (a `bool` is not one).
        ValueError: `interval` is not positive.
    """
    interval = _check_interval("debounce", interval)
    return SameTypePipe(f"debounce({interval!r})", lambda source: _time.debounce(source, interval))


def timeout(seconds: float, /) -> SameTypePipe:
    """Fail with `TimeoutError` when `seconds` pass without an item (the first one included).

    The idle source is closed; follow with `catch` to end with an event of your own instead of
    the response's error event.

    Example:
        ```python
        updates() | ops.timeout(30) | ops.catch(lambda exc: Idle(data=None), exceptions=TimeoutError)
        ```

    Raises:
        TypeError: `seconds` is not a real number (a `bool` is not one).
        ValueError: `seconds` is not positive.
    """
    seconds = _check_interval("timeout", seconds)
    return SameTypePipe(f"timeout({seconds!r})", lambda source: _timeout(source, seconds))


# At least one of `size` and `interval`: with neither, `chunk()` raises `ValueError`. `leading`
# is for batches by time only: without an interval, `chunk(leading=True)` raises it too.
@overload
def chunk(*, size: int, interval: float | None = None, leading: Literal[False] = False) -> ListPipe: ...
@overload
def chunk(*, size: int | None = None, interval: float, leading: bool = False) -> ListPipe: ...
def chunk(*, size: int | None = None, interval: float | None = None, leading: bool = False) -> ListPipe:
    """Batch items into lists, by count, by time, or both (whichever comes first).

    With `interval`, a batch is sent `interval` seconds after its first item arrived (so no
    item waits longer), or as soon as it holds `size` items. Batches are never empty; the last,
    partial one goes out when the source ends.

    With `leading=True` (and `interval`), an item that arrives when no window is open is not
    held: it goes out at once, alone, and opens a window of
    `interval` seconds, as in `throttle`. The items arriving while the window is open go out
    together when it ends (opening the next one), or as soon as `size` of them are held; a
    window that ends with none closes. An LLM's first token then costs no wait, and the rest
    are still batched.

    Example:
        ```python
        tokens() | ops.chunk(interval=0.05, leading=True) | ops.map(join_tokens)  # ~20 writes a second
        ```

    Args:
        size: The most items in a batch.
        interval: The longest a batch stays open, in seconds.
        leading: Send an item that opens a window at once, and batch the ones behind it.

    Raises:
        TypeError: `size` is not an integer, `interval` not a real number (a `bool` is neither),
            or `leading` not a `bool`.
        ValueError: Neither `size` nor `interval` is given (type checkers refuse that call),
            `leading=True` is given without `interval`, `size` is below 1, or `interval` is
            not positive.
    """
    if size is not None:
        _check_count(size, 1, f"chunk(size=...) must be a positive integer, got {size!r}")
    if not isinstance(leading, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"chunk(leading=...) is True or False, got {leading!r}")
    if interval is not None:
        interval = _check_interval("chunk", interval)
        return ListPipe(
            f"chunk(size={size!r}, interval={interval!r}{', leading=True' if leading else ''})",
            lambda source: _time.chunk_by_time(source, size, interval, leading),
        )
    if size is None:
        raise ValueError("chunk() needs size=..., interval=..., or both")
    if leading:
        # Without an interval nothing would end the window its first item opens.
        raise ValueError("chunk(leading=True) needs interval=...: the window its first item opens is that long")
    return ListPipe(f"chunk(size={size!r})", lambda source: _chunk_by_size(source, size))


# Operators changing the item type


# A sync function runs one call at a time: `concurrency` above 1 raises `ValueError`, and only 1 type-checks.
@overload
def map(function: Callable[[T], Awaitable[U]], /, *, concurrency: int = 1) -> Pipe[T, U]: ...  # noqa: A001
@overload
def map(function: Callable[[T], U], /, *, concurrency: Literal[1] = 1) -> Pipe[T, U]: ...  # noqa: A001
def map(function: Callable[[Any], Any], /, *, concurrency: int = 1) -> Pipe[Any, Any]:  # noqa: A001
    """Replace each item with `function(item)`; an async function's result is awaited.

    Example:
        ```python
        ops.merge(prices(), trades()) | ops.map(to_event)  # Stream[<to_event's return type>]
        ```

    Args:
        function: A function of one item: sync or async (an `async def`, a `partial` of one, an
            object with an `async def __call__`). An awaitable that a sync function returns (a
            lambda calling an async function) is awaited too, one at a time.
        concurrency: For an async function, how many calls may run at once; results keep the
            source's order either way, and the source is read at most this many items ahead.
            A sync function takes 1 only, the default (type checkers refuse any other).

    Raises:
        TypeError: `function` is not callable, or `concurrency` is not an integer (a `bool` is not one).
        ValueError: `concurrency` is below 1, or above 1 for a sync function (one returning
            awaitables included: make it an `async def` to run calls at once).
    """
    _check_callable("map()", function)
    _check_count(concurrency, 1, f"map(concurrency=...) must be a positive integer, got {concurrency!r}")
    label = f"map({_name(function)})"
    if _is_async(function) and concurrency > 1:
        return Pipe(label, lambda source: _map_concurrently(source, function, concurrency))
    if concurrency != 1:
        raise ValueError(f"map(concurrency=...) applies to async functions only; {_name(function)} is sync")
    return Pipe(label, lambda source: _map(source, function))


@overload
def scan(function: Callable[[S, T], Awaitable[S]], initial: S, /) -> Pipe[T, S]: ...
@overload
def scan(function: Callable[[S, T], S], initial: S, /) -> Pipe[T, S]: ...
def scan(function: Callable[[Any, Any], Any], initial: Any, /) -> Pipe[Any, Any]:
    """Fold the items into a state, sending the state after each item.

    `function(state, item)` (sync or async) returns the next state; `initial` is the state
    before the first item and is not sent itself (prepend it with `start_with` if needed).
    Return a new state rather than change the one given: `initial` is the same object for every
    stream the pipe is applied to, so a pipe built once and applied per request would share a
    state changed in place between its clients.

    Example:
        ```python
        trades() | ops.scan(add_volume, Volume(data=0))  # a running total after each trade
        ```

    Raises:
        TypeError: `function` is not callable.
    """
    _check_callable("scan()", function)
    # The label shows the initial state in brief (`reprlib`): a large state's whole `repr` would be
    # paid by every request that builds the pipe, and one whose `__repr__` raises made `scan()` fail.
    label = f"scan({_name(function)}, {reprlib.repr(initial)})"
    return Pipe(label, lambda source: _scan(source, function, initial))


# Up to six items of different types keep each type (mypy would join them, often to `object`);
# none add no type.
@overload
def start_with() -> UnionPipe[Never]: ...
@overload
def start_with(a: A, /) -> UnionPipe[A]: ...
@overload
def start_with(a: A, b: B, /) -> UnionPipe[A | B]: ...
@overload
def start_with(a: A, b: B, c: C, /) -> UnionPipe[A | B | C]: ...
@overload
def start_with(a: A, b: B, c: C, d: D, /) -> UnionPipe[A | B | C | D]: ...
@overload
def start_with(a: A, b: B, c: C, d: D, e: E, /) -> UnionPipe[A | B | C | D | E]: ...
@overload
def start_with(a: A, b: B, c: C, d: D, e: E, f: F, /) -> UnionPipe[A | B | C | D | E | F]: ...
@overload
def start_with(*items: S) -> UnionPipe[S]: ...
def start_with(*items: Any) -> UnionPipe[Any]:
    """Send `items` first, then the source's items.

    With no `items`, the source's items go on as they are, and so does their type.

    Example:
        ```python
        updates() | ops.start_with(Snapshot(data=current_state()))  # Stream[Update | Snapshot]
        ```
    """
    return UnionPipe("start_with(...)", lambda source: chain(stream.iterate(items), source))


# Up to six items, as for `start_with`.
@overload
def end_with() -> UnionPipe[Never]: ...
@overload
def end_with(a: A, /) -> UnionPipe[A]: ...
@overload
def end_with(a: A, b: B, /) -> UnionPipe[A | B]: ...
@overload
def end_with(a: A, b: B, c: C, /) -> UnionPipe[A | B | C]: ...
@overload
def end_with(a: A, b: B, c: C, d: D, /) -> UnionPipe[A | B | C | D]: ...
@overload
def end_with(a: A, b: B, c: C, d: D, e: E, /) -> UnionPipe[A | B | C | D | E]: ...
@overload
def end_with(a: A, b: B, c: C, d: D, e: E, f: F, /) -> UnionPipe[A | B | C | D | E | F]: ...
@overload
def end_with(*items: S) -> UnionPipe[S]: ...
def end_with(*items: Any) -> UnionPipe[Any]:
    """Send `items` after the source's items, once it has ended without failing.

    The closing events of a stream (a final message, a `Done`) after a pipeline, keeping each
    one's type, where `ops.concat(ops.source([...]))` would have mypy join the list's types.
    Nothing is sent if the source fails or the consumer stops first. With no `items`, the
    source's items go on as they are, and so does their type.

    Example:
        ```python
        tokens() | ops.chunk(interval=0.05) | ops.map(to_batch) | ops.end_with(Done(data=None))
        # Stream[Batch | Done]
        ```
    """
    return UnionPipe("end_with(...)", lambda source: chain(source, stream.iterate(items)))


# Up to six sources, as for `start_with`.
@overload
def concat() -> UnionPipe[Never]: ...
@overload
def concat(a: AsyncIterable[A], /) -> UnionPipe[A]: ...
@overload
def concat(a: AsyncIterable[A], b: AsyncIterable[B], /) -> UnionPipe[A | B]: ...
@overload
def concat(a: AsyncIterable[A], b: AsyncIterable[B], c: AsyncIterable[C], /) -> UnionPipe[A | B | C]: ...
@overload
def concat(
    a: AsyncIterable[A], b: AsyncIterable[B], c: AsyncIterable[C], d: AsyncIterable[D], /
) -> UnionPipe[A | B | C | D]: ...
@overload
def concat(
    a: AsyncIterable[A], b: AsyncIterable[B], c: AsyncIterable[C], d: AsyncIterable[D], e: AsyncIterable[E], /
) -> UnionPipe[A | B | C | D | E]: ...
@overload
def concat(
    a: AsyncIterable[A],
    b: AsyncIterable[B],
    c: AsyncIterable[C],
    d: AsyncIterable[D],
    e: AsyncIterable[E],
    f: AsyncIterable[F],
    /,
) -> UnionPipe[A | B | C | D | E | F]: ...
@overload
def concat(*others: AsyncIterable[S]) -> UnionPipe[S]: ...
def concat(*others: AsyncIterable[Any]) -> UnionPipe[Any]:
    """Send the items of `others` after the source ends; `xs | ops.concat(ys)` is `ops.chain(xs, ys)`.

    With no `others`, the source's items go on as they are, and so does their type.

    Example:
        ```python
        job_progress() | ops.concat(job_result())  # Stream[Progress | Result]
        ```
    """
    return UnionPipe("concat(...)", lambda source: chain(source, *others))


# A handler that only ever returns `None` adds no item type (its `R` would stay unsolved).
@overload
def catch(handler: Callable[[Exception], Awaitable[None]], /) -> UnionPipe[Never]: ...
@overload
def catch(handler: Callable[[Exception], None], /) -> UnionPipe[Never]: ...
@overload
def catch(handler: Callable[[Exception], Awaitable[R | None]], /) -> UnionPipe[R]: ...
@overload
def catch(handler: Callable[[Exception], R | None], /) -> UnionPipe[R]: ...
@overload
def catch(
    handler: Callable[[X], Awaitable[None]], /, *, exceptions: type[X] | tuple[type[X], ...]
) -> UnionPipe[Never]: ...
@overload
def catch(handler: Callable[[X], None], /, *, exceptions: type[X] | tuple[type[X], ...]) -> UnionPipe[Never]: ...
@overload
def catch(
    handler: Callable[[X], Awaitable[R | None]], /, *, exceptions: type[X] | tuple[type[X], ...]
) -> UnionPipe[R]: ...
@overload
def catch(handler: Callable[[X], R | None], /, *, exceptions: type[X] | tuple[type[X], ...]) -> UnionPipe[R]: ...
# Two exception types: mypy would join them (often to `Exception`) and refuse a handler of `X | Y`.
@overload
def catch(
    handler: Callable[[X | Y], Awaitable[None]], /, *, exceptions: tuple[type[X], type[Y]]
) -> UnionPipe[Never]: ...
@overload
def catch(handler: Callable[[X | Y], None], /, *, exceptions: tuple[type[X], type[Y]]) -> UnionPipe[Never]: ...
@overload
def catch(
    handler: Callable[[X | Y], Awaitable[R | None]], /, *, exceptions: tuple[type[X], type[Y]]
) -> UnionPipe[R]: ...
@overload
def catch(handler: Callable[[X | Y], R | None], /, *, exceptions: tuple[type[X], type[Y]]) -> UnionPipe[R]: ...
# Three, for the same reason.
@overload
def catch(
    handler: Callable[[X | Y | Z], Awaitable[None]], /, *, exceptions: tuple[type[X], type[Y], type[Z]]
) -> UnionPipe[Never]: ...
@overload
def catch(
    handler: Callable[[X | Y | Z], None], /, *, exceptions: tuple[type[X], type[Y], type[Z]]
) -> UnionPipe[Never]: ...
@overload
def catch(
    handler: Callable[[X | Y | Z], Awaitable[R | None]], /, *, exceptions: tuple[type[X], type[Y], type[Z]]
) -> UnionPipe[R]: ...
@overload
def catch(
    handler: Callable[[X | Y | Z], R | None], /, *, exceptions: tuple[type[X], type[Y], type[Z]]
) -> UnionPipe[R]: ...
def catch(
    handler: Callable[[Any], Any], /, *, exceptions: type[Exception] | tuple[type[Exception], ...] = Exception
) -> UnionPipe[Any]:
    """End cleanly when the source fails: send `handler(exception)` (if not `None`) and stop.

    The failed source is closed before the handler's event goes out. Only the source's errors
    are caught, never the consumer's; cancellation is never caught. An error the source's close
    raises (an iterator whose `aclose` fails) is the source's too, caught like one from a read.

    Example:
        ```python
        def failed(exc: Exception) -> JobFailed:
            return JobFailed(data=str(exc))

        job_progress() | ops.catch(failed)  # Stream[Progress | JobFailed]
        ```

    Args:
        handler: A sync or async function of the exception returning the last item, or `None`
            to end without one.
        exceptions: The exception types to catch; others go on downstream.

    Raises:
        TypeError: `handler` is not callable, or `exceptions` holds something other than a
            subclass of `Exception` (a `BaseException` such as `CancelledError` is never caught).
    """
    _check_callable("catch()", handler)
    _check_exceptions(exceptions)
    return UnionPipe(f"catch({_name(handler)})", lambda source: _catch(source, handler, exceptions))


# Implementations that aiostream lacks


@pipable_operator
async def _chunk_by_size(source: AsyncIterable[T], size: int) -> AsyncIterator[list[T]]:
    # aiostream's `chunks` builds a `take` sub-stream and a list aggregation per batch: about
    # 30,000 instructions per item (`python -m bench.instructions`); a list costs a few hundred.
    # Items held in a batch do not reach the response, which gives the loop its turns as events
    # go out: while a big batch fills from a source that never awaits, it gives a turn every
    # `FAIR_SHARE` items itself, as the operators that drop items do.
    batch: list[T] = []
    ended = False
    failure: Exception | None = None
    try:
        async with opened(source) as streamer:
            async for item in streamer:
                batch.append(item)
                if len(batch) >= size:
                    yield batch
                    batch = []
                elif not len(batch) % _FAIR_SHARE:
                    await asyncio.sleep(0)
            ended = True
    except Exception as exc:
        # A source that ended and then failed to close (an iterator whose `aclose` raises): the
        # partial batch still goes out, and the error follows, as after `take`'s last item.
        if not ended:
            raise
        failure = exc
    try:
        if batch:
            yield batch
        if failure is not None:
            raise failure
    finally:
        failure = None  # this frame must not hold the error its traceback holds


# What `_forward_until`'s `decide` says of an item.
_FORWARD, _LAST, _END = 0, 1, 2


def _counting(count: int) -> Callable[[object], int] | None:
    """`take(count)`'s decision: the `count`th item is the last; none at all when `count` is 0."""
    if count <= 0:
        return None

    def decide(item: object) -> int:
        nonlocal count
        count -= 1
        return _FORWARD if count else _LAST

    return decide


def _while(predicate: Callable[[T], Any], inclusive: bool) -> Callable[[T], Awaitable[int]]:
    """`take_while`'s decision: forward while `predicate` holds; the refused item is the last or not sent."""
    stop = _LAST if inclusive else _END

    async def decide(item: T) -> int:
        keep = predicate(item)
        if keep is not True and keep is not False and inspect.isawaitable(keep):
            keep = await keep
        return _FORWARD if keep else stop

    return decide


@pipable_operator
async def _forward_until(
    source: AsyncIterable[T], decider: Callable[[], Callable[[T], int | Awaitable[int]] | None]
) -> AsyncIterator[T]:
    # `decider` makes the decision function for one iteration (a stream may be iterated again);
    # `None` ends the stream without reading an item.
    # aiostream's `take` and `until` end after the last item only when they are pulled again, so
    # the source stays open while the consumer holds that item (a response writing it to a slow
    # client). Here the source is closed as the deciding item arrives, before the last item is
    # handed out. If closing fails, that item still goes out first and the error follows at the
    # next pull.
    last: list[T] = []
    failure: Exception | None = None
    decide = decider()
    try:
        async with opened(source) as streamer:
            if decide is None:
                return  # the source is opened and closed, and nothing is read
            async for item in streamer:
                verdict = decide(item)
                if not isinstance(verdict, int):
                    verdict = await verdict
                if verdict == _FORWARD:
                    yield item
                    continue
                if verdict == _LAST:
                    last.append(item)
                break
            # Closed here, by the operator's own decision, as a pump closes its source: one held
            # at a `yield` inside a task group raises the close back in a group, no failure.
            await closed(streamer.aclose)
    except Exception as exc:
        if not last:
            raise
        failure = exc
    try:
        for item in last:
            yield item
        if failure is not None:
            raise failure
    finally:
        # This frame must not hold the error its traceback holds: not once it is raised, nor
        # when the consumer stops at the last item, before the error's turn.
        failure = None


# An operator that drops items gives the loop a turn every `FAIR_SHARE` drops in a row: a
# source that never awaits would otherwise hold the whole server while nothing goes out.


@pipable_operator
async def _skip(source: AsyncIterable[T], count: int) -> AsyncIterator[T]:
    async with opened(source) as streamer:
        async for item in streamer:
            if count:
                count -= 1
                if not count % _FAIR_SHARE:
                    await asyncio.sleep(0)
                continue
            yield item


@pipable_operator
async def _distinct_until_changed(source: AsyncIterable[T], key: Callable[[T], Any] | None) -> AsyncIterator[T]:
    previous: Any = _NOTHING
    dropped = 0
    async with opened(source) as streamer:
        async for item in streamer:
            current = item if key is None else key(item)
            if previous is _NOTHING or current != previous:
                if key is not None:
                    _time.check_key(current, "distinct_until_changed")
                previous = current
                dropped = 0
                yield item
            else:
                dropped += 1
                if dropped == _FAIR_SHARE:
                    dropped = 0
                    await asyncio.sleep(0)


_NOTHING: Any = object()  # no item yet: unequal to every key, `None` included


@pipable_operator
async def _filter(source: AsyncIterable[T], predicate: Callable[[T], Any]) -> AsyncIterator[T]:
    # Whatever the predicate's kind (an `async def`, an object with an `async def __call__`, a
    # lambda returning a coroutine), an awaitable answer is awaited; a bool needs no check.
    dropped = 0
    async with opened(source) as streamer:
        async for item in streamer:
            keep = predicate(item)
            if keep is not True and keep is not False and inspect.isawaitable(keep):
                keep = await keep
            if keep:
                dropped = 0
                yield item
            else:
                dropped += 1
                if dropped == _FAIR_SHARE:
                    dropped = 0
                    await asyncio.sleep(0)


@pipable_operator
async def _map(source: AsyncIterable[T], function: Callable[[T], Any]) -> AsyncIterator[Any]:
    # A sync function returning an awaitable (a lambda calling an async function) is typed as
    # giving the awaited value, so the awaitable is awaited, as an async function's result is.
    async with opened(source) as streamer:
        async for item in streamer:
            result = function(item)
            yield await result if inspect.isawaitable(result) else result


@pipable_operator
async def _map_concurrently(source: AsyncIterable[T], function: Callable[[T], Any], limit: int) -> AsyncIterator[Any]:
    # aiostream's `map(task_limit=n)` reads the source from tasks of its own and closes it from
    # the consumer's: a source that sets a context variable around its `yield`s (structlog's
    # `bound_contextvars`, a tracing span) failed in its `finally` ("created in a different
    # Context"), and a stream that had sent everything ended with an error event.
    async with opened(source) as streamer:
        calls = _Calls(streamer, function, limit)
        try:
            while True:
                call = await calls.next()
                if call is None:
                    return
                try:
                    value = call.result()  # the call's own error goes on from here
                finally:
                    call = None  # the traceback of that error holds this frame: no cycle through it
                yield value
        finally:
            await calls.aclose()


class _Calls:
    """`map(function, concurrency=n)`'s calls: up to `n` at once, taken in the source's order.

    One pump task reads the source for the operator's whole life and closes it, so the
    source's `finally` runs in the context of its own `set`s, as with `merge`. It reads an item
    only while fewer than `n` calls are running or waiting to be taken, and starts a task for
    each call. What the source raises comes after the results of the items it gave before.
    """

    __slots__ = ("_calls", "_ended", "_error", "_function", "_limit", "_loop", "_room", "_streamer", "_task", "_waiter")

    def __init__(self, streamer: Streamer[T], function: Callable[[T], Any], limit: int) -> None:
        self._streamer: Streamer[Any] = streamer
        self._function: Callable[[Any], Any] = function
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._calls: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._ended = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None  # the consumer waits on it for a call or the end
        self._room: asyncio.Future[None] | None = None  # the pump waits on it while `limit` calls are out
        self._task: asyncio.Task[None] | None = None

    async def next(self) -> asyncio.Future[Any] | None:
        """Wait for the next call in the source's order to finish and return it; `None` at the end."""
        calls = self._calls
        while True:
            if calls:
                head = calls[0]
                if not head.done():
                    await asyncio.wait((head,))  # not `await head`: a cancelled wait must not cancel it
                    continue
                calls.popleft()
                room = self._room
                if room is not None and not room.done():
                    room.set_result(None)
                return head
            if self._ended:
                if self._error is not None:
                    _time.reraise(self._take_error())
                return None
            if self._task is None:
                self._task = self._loop.create_task(self._pump())
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def _take_error(self) -> BaseException | None:
        error, self._error = self._error, None
        return error

    async def _pump(self) -> None:
        streamer, calls, loop, limit = self._streamer, self._calls, self._loop, self._limit
        try:
            while True:
                while len(calls) >= limit:
                    room = self._room = loop.create_future()
                    await room
                try:
                    item = await anext(streamer)
                except StopAsyncIteration:
                    self._end(None)
                    return
                except BaseException as exc:
                    # As in `merge`: what the source raises goes to the consumer, unless the
                    # pump itself is cancelled (the operator is closing): then only an error of
                    # the source's cleanup goes on, as the pump's own.
                    if not _time.being_cancelled():
                        self._end(exc)
                    elif not isinstance(exc, asyncio.CancelledError):
                        raise
                    return
                if _time.being_cancelled():
                    # The source took the pump's cancellation (a bare `except:` around an
                    # `await`) and went on: the operator is closing, and a call for the item
                    # would go to nobody. Ending here closes the source at that `yield`, as
                    # `merge` does, rather than reading it for ever.
                    return
                try:
                    call = asyncio.ensure_future(self._function(item))
                except BaseException as exc:
                    # The function failed before giving an awaitable: whatever it raised is
                    # that call's outcome (a pump that ended with it would leave the consumer
                    # waiting for ever). When the pump itself is being cancelled, that ends it
                    # as it would end a pull.
                    if _time.being_cancelled():
                        if not isinstance(exc, asyncio.CancelledError):
                            raise
                        return
                    call = loop.create_future()
                    call.set_exception(exc)
                calls.append(call)
                self._wake()
        finally:
            await closed(streamer.aclose)  # in this task's context, that of the source's whole life

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _end(self, error: BaseException | None) -> None:
        self._ended = True
        self._error = error
        self._wake()

    async def aclose(self) -> None:
        """Cancel the calls under way, close the source, and wait for both.

        An error raised by the source's cleanup goes on to the caller; the calls' own outcomes
        are nobody's any more.
        """
        self._error = None
        calls, self._calls = self._calls, collections.deque()
        for call in calls:
            call.cancel()
        task, self._task = self._task, None
        try:
            await _time.stop_pump(task, ended=self._ended)
        finally:
            task = None  # it holds the error of the source's cleanup, whose traceback holds this frame
            await _time.wait_for_tasks(calls)  # also when cancelled again meanwhile: none outlives the close


@pipable_operator
async def _tap(source: AsyncIterable[T], function: Callable[[T], object]) -> AsyncIterator[T]:
    # aiostream's `action` runs an async function through `map` with no task limit: the source
    # would be read ahead while calls are pending. Here each call ends before the item goes on.
    async with opened(source) as streamer:
        async for item in streamer:
            result = function(item)
            if inspect.isawaitable(result):
                await result
            yield item


@pipable_operator
async def _timeout(source: AsyncIterable[T], seconds: float) -> AsyncIterator[T]:
    # aiostream's `timeout` pulls with `asyncio.wait_for`, which runs each pull in a task of its
    # own (a source's `ContextVar.reset` then fails: its `set` was in another context) and, on
    # Python 3.11, drops a cancellation of the consumer that comes with an item. Here every pull
    # runs in the consumer's task, and a timer that fires cancels only the pull under way.
    async with opened(source) as streamer:
        while True:
            try:
                async with asyncio.timeout(seconds):
                    item = await anext(streamer)
            except StopAsyncIteration:
                return
            yield item


@pipable_operator
async def _scan(source: AsyncIterable[T], function: Callable[[Any, T], Any], initial: Any) -> AsyncIterator[Any]:
    state = initial
    async with opened(source) as streamer:
        async for item in streamer:
            result = function(state, item)
            state = await result if inspect.isawaitable(result) else result
            yield state


@pipable_operator
async def _catch(
    source: AsyncIterable[T],
    handler: Callable[[Any], Any],
    exceptions: type[Exception] | tuple[type[Exception], ...],
) -> AsyncIterator[Any]:
    failure: Exception | None = None
    ended = False
    try:
        async with opened(source) as streamer:
            while True:
                # Only the pull is guarded: an exception the consumer throws in at `yield` is not ours.
                try:
                    item = await anext(streamer)
                except StopAsyncIteration:
                    break
                except exceptions as exc:
                    failure = exc
                    break
                yield item
            ended = True
    except Exception as exc:
        if not ended:
            raise
        # The source's close failed, after its end or its failure (an iterator whose `aclose`
        # raises): that error is the source's own, as a generator's `finally` raises it from
        # the pull, and is caught as one.
        if failure is not None and exc.__context__ is None:
            exc.__context__ = failure
        failure = None  # the error goes on from this frame, which must not hold the first one
        if not isinstance(exc, exceptions):
            raise
        failure = exc
    if failure is not None:  # the source is closed by now
        try:
            result = handler(failure)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            # The handler runs outside the `except` that caught the failure (the source had to
            # close first), so its own error is chained by hand, as it would be in there.
            if exc is not failure and exc.__context__ is None:
                exc.__context__ = failure
            raise
        finally:
            failure = None  # the traceback of the handler's error holds this frame: no cycle
        if result is not None:
            yield result


def _check_callable(operator: str, function: object) -> None:
    # Called only once items flow, a non-callable would fail deep inside a running response.
    if not callable(function):
        raise TypeError(f"{operator} needs a function, got {function!r}")


def _check_count(count: int, least: int, message: str) -> None:
    # A float passes `count < least` and then misbehaves: `take(2.5)` sends 3 items, and NaN
    # compares false to everything, so `take(nan)` never stops and `chunk(size=nan)` never fills.
    # An int or what stands for one (numpy's), no float; and no bool, which is an int to Python but
    # a slip for a count (`take(True)` sends one item).
    if not hasattr(type(count), "__index__") or isinstance(count, bool):
        raise TypeError(message)
    if count < least:
        raise ValueError(message)


def _check_interval(operator: str, seconds: float) -> float:
    """Refuse what is not a positive number of seconds; return the interval the operator runs with."""
    # A `Decimal` compares with 0 but cannot be added to the loop's float clock: it would fail
    # only once items flow. `Real` takes ints, floats, fractions and numpy's floats; not a bool
    # (`True` is not one second).
    if not isinstance(seconds, numbers.Real) or isinstance(seconds, bool):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"{operator}() needs a positive number of seconds, got {seconds!r}")
    if not seconds > 0:  # NaN fails too
        raise ValueError(f"{operator}() needs a positive number of seconds, got {seconds!r}")
    try:
        float(seconds)
    except OverflowError:
        # An int (or a fraction) beyond a float's range cannot be added to the loop's float
        # clock either, which would fail only once items flow. Every float past the largest
        # one is `inf`: so is this interval, with what `inf` means to each operator.
        return math.inf
    return seconds


def _check_exceptions(exceptions: object) -> None:
    # Checked here, not by the `except` clause: that would fail only once the source fails (its
    # error then lost to a `TypeError`), and a `BaseException` there would catch cancellations.
    kinds = cast("tuple[object, ...]", exceptions) if isinstance(exceptions, tuple) else (exceptions,)
    for kind in kinds:
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            raise TypeError(f"catch(exceptions=...) takes subclasses of Exception, got {exceptions!r}")


def _is_async(function: Callable[..., Any]) -> bool:
    # A callable object with an `async def __call__` counts too (as a partial of an async function does).
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(type(function).__call__)


def _name(function: object) -> str:
    return getattr(function, "__qualname__", None) or repr(function)
