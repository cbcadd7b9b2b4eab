"""What type checkers infer and refuse for `@sse` endpoints: checked by mypy --strict and pyright strict.

Not run by pytest: `make test` type-checks this file (see pyproject's mypy and pyright `files`),
and runs pyright on it once more with `tests/type_tests/pyrightconfig.json`, where each expected
error's `# pyright: ignore[rule]` must be needed.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Coroutine, Iterator
from typing import Any, assert_type

from typedsse import BaseEvent, EventStreamResponse, LastEventId, StreamError, sse
from typedsse import operators as ops
from typedsse.responses import default_error_event


class Tick(BaseEvent[int]): ...


class Tock(BaseEvent[int]): ...


class Failed(BaseEvent[str]): ...


def failed_or_built_in(exc: Exception) -> Failed | StreamError:
    # The built-in event, for the failures a handler has no event of its own for.
    if isinstance(exc, LookupError):
        return Failed(data=str(exc))
    return default_error_event(exc)


@sse()
async def ticks(count: int, last_event_id: LastEventId = None) -> AsyncIterator[Tick | Tock]:
    yield Tick(data=count)


@sse(on_error=failed_or_built_in)
async def guarded(count: int) -> AsyncIterator[Tick]:
    yield Tick(data=count)


@sse()
def blocking(count: int) -> Iterator[Tick]:
    yield Tick(data=count)


@sse()
def returned(count: int) -> AsyncIterable[Tick]:
    return ticks_source(count)


@sse()
async def awaited(count: int) -> AsyncIterable[Tick]:
    return ticks_source(count)


async def ticks_source(count: int) -> AsyncIterator[Tick]:
    yield Tick(data=count)


@sse()
def piped(count: int) -> ops.Stream[Tick]:
    # A pipeline's own type is a stream annotation, to `@sse` as to type checkers.
    return ops.source(ticks_source(count)) | ops.take(1)


async def check_endpoints_keep_their_parameters() -> None:
    call: Coroutine[Any, Any, EventStreamResponse] = ticks(1, last_event_id="7")
    assert_type(await call, EventStreamResponse)
    assert_type(await guarded(1), EventStreamResponse)
    assert_type(await blocking(1), EventStreamResponse)
    assert_type(await returned(1), EventStreamResponse)
    assert_type(await awaited(1), EventStreamResponse)
    assert_type(await piped(1), EventStreamResponse)
    await ticks("1")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]


def check_what_sse_refuses_at_import_is_refused_by_type_checkers() -> None:
    # Never called: `@sse` would raise EndpointDefinitionError here, where the annotation tells.
    @sse()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    async def numbers() -> AsyncIterator[int]:
        yield 1

    @sse()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    def text() -> str:
        return "not a stream of events"

    @sse()  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    async def single() -> Tick:
        return Tick(data=1)

    @sse  # type: ignore[deprecated]  # pyright: ignore[reportDeprecated]
    async def bare() -> AsyncIterator[Tick]:
        yield Tick(data=1)


def check_events_take_their_declared_field_types() -> None:
    # With the Pydantic mypy plugin, `init_typed` (set in pyproject, and recommended in the
    # events page) is what makes mypy check these; pyright checks them as it is.
    assert_type(Tick(data=1, id="7", retry=5000).data, int)
    Tick(data="one")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Tick(data=1, id=7)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Tick(data=1, retry="5000")  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    Tick(data=1, retyr=5000)  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
