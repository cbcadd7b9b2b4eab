"""Operators on a virtual clock: every time below is exact, and no test sleeps for real."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import itertools
import re
import weakref
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, TypeGuard

import anyio
import pytest
from aiostream.test_utils import TimeTrackingTestLoop

from typedsse import BaseEvent
from typedsse import operators as ops
from typedsse._operators_time import _Clocked, _Driver

from conftest import EarlyTimersLoop, GarbageWatch


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, Any]]:
    return ("asyncio", {"loop_factory": TimeTrackingTestLoop})


class Tick(BaseEvent[int]): ...


class Tock(BaseEvent[str]): ...


class Failed(BaseEvent[str]): ...


def now() -> float:
    return asyncio.get_running_loop().time()


async def timed(
    *schedule: tuple[float, Any], end: float | None = None, log: list[str] | None = None
) -> AsyncIterator[Any]:
    """Yield each item at its time (seconds after the first pull); end at `end` if given."""
    start = now()
    try:
        for at, item in schedule:
            await asyncio.sleep(start + at - now())
            yield item
        if end is not None:
            await asyncio.sleep(start + end - now())
    finally:
        if log is not None:
            log.append("closed")


async def collect(events: AsyncIterable[Any]) -> list[tuple[float, Any]]:
    """Every item with the time it arrived, relative to the start, rounded against float noise."""
    received: list[tuple[float, Any]] = []
    await drain(events, received)
    return received


async def drain(events: AsyncIterable[Any], received: list[tuple[float, Any]]) -> None:
    """Like `collect`, into `received`, so the items that came before an error can be checked."""
    start = now()
    async with ops.source(events).stream() as streamer:
        async for item in streamer:
            received.append((round(now() - start, 6), item))


async def items(events: AsyncIterable[Any]) -> list[Any]:
    return [item for _, item in await collect(events)]


async def counting(name: str, log: list[str] | None = None) -> AsyncIterator[str]:
    """A source that never waits: it is always ready with its next item."""
    try:
        for i in itertools.count():
            yield f"{name}{i}"
    finally:
        if log is not None:
            log.append(f"{name} closed")


# throttle

BURSTS = ((0.0, "a"), (0.1, "b"), (0.2, "c"), (0.6, "d"), (0.7, "e"), (1.3, "f"))


@pytest.mark.anyio
async def test_throttle_leading_forwards_the_first_and_drops_the_rest_of_each_window() -> None:
    received = await collect(timed(*BURSTS) | ops.throttle(0.5))
    assert received == [(0.0, "a"), (0.6, "d"), (1.3, "f")]


@pytest.mark.anyio
async def test_throttle_latest_sends_the_newest_of_each_window_when_it_ends() -> None:
    received = await collect(timed(*BURSTS) | ops.throttle(0.5, mode="latest"))
    # f arrives in the window opened by e's trailing send and goes out when that window ends.
    assert received == [(0.0, "a"), (0.5, "c"), (1.0, "e"), (1.5, "f")]


@pytest.mark.anyio
async def test_throttle_latest_forwards_at_once_after_a_quiet_window() -> None:
    schedule = ((0.0, "a"), (0.2, "b"), (2.0, "c"), (2.1, "d"), (4.0, "e"))
    received = await collect(timed(*schedule, end=5.0) | ops.throttle(0.5, mode="latest"))
    assert received == [(0.0, "a"), (0.5, "b"), (2.0, "c"), (2.5, "d"), (4.0, "e")]


@pytest.mark.anyio
async def test_throttle_latest_keeps_the_final_state_when_the_source_ends() -> None:
    schedule = [(0.0, 0), *((0.01 * i, i) for i in range(1, 10))]
    received = await collect(timed(*schedule) | ops.throttle(1.0, mode="latest"))
    assert received == [(0.0, 0), (1.0, 9)]


@pytest.mark.anyio
async def test_throttle_leading_with_an_endless_window_sends_the_first_item_only() -> None:
    received = await collect(timed(*BURSTS) | ops.throttle(float("inf")))
    assert received == [(0.0, "a")]


@pytest.mark.parametrize("huge", [10**400, 10**5000], ids=["beyond-float", "beyond-int-str-digits"])
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (ops.throttle, [(0.0, "a")]),
        (ops.debounce, [(1.3, "f")]),
        (lambda interval: ops.chunk(interval=interval), [(1.3, ["a", "b", "c", "d", "e", "f"])]),
        (
            lambda interval: ops.chunk(interval=interval, leading=True),
            [(0.0, ["a"]), (1.3, ["b", "c", "d", "e", "f"])],
        ),
        (ops.timeout, list(BURSTS)),
    ],
    ids=["throttle", "debounce", "chunk", "chunk-leading", "timeout"],
)
@pytest.mark.anyio
async def test_time_operators_take_an_int_too_large_for_a_float_as_endless(
    build: Callable[[Any], Any], expected: list[tuple[float, Any]], huge: int
) -> None:
    # The loop's clock is a float: such an interval failed with `OverflowError` at the first
    # item, in a running response. It is what `inf` is, for each operator.
    assert await collect(timed(*BURSTS) | build(huge)) == expected
    assert await collect(timed(*BURSTS) | build(float("inf"))) == expected
    assert repr(build(huge)) == repr(build(float("inf")))


@pytest.mark.anyio
async def test_throttle_never_delays_a_backlog() -> None:
    log: list[str] = []
    received = await collect(timed(*((0.0, i) for i in range(100)), log=log) | ops.throttle(10.0))
    assert received == [(0.0, 0)]
    assert log == ["closed"]


@pytest.mark.anyio
async def test_throttle_by_key_gives_each_key_its_own_windows() -> None:
    schedule = ((0.0, "A1"), (0.1, "B1"), (0.2, "A2"), (0.3, "B2"), (0.35, "A3"), (0.6, "A4"), (0.7, "B3"))
    received = await collect(timed(*schedule) | ops.throttle(0.5, key=lambda item: item[0]))
    assert received == [(0.0, "A1"), (0.1, "B1"), (0.6, "A4"), (0.7, "B3")]


@pytest.mark.anyio
async def test_throttle_latest_by_key_sends_every_keys_final_state() -> None:
    schedule = ((0.0, "A1"), (0.05, "B1"), (0.1, "A2"), (0.2, "A3"), (0.3, "B2"))
    received = await collect(timed(*schedule) | ops.throttle(0.5, mode="latest", key=lambda item: item[0]))
    assert received == [(0.0, "A1"), (0.05, "B1"), (0.5, "A3"), (0.55, "B2")]


@pytest.mark.anyio
async def test_throttle_busy_key_does_not_starve_a_quiet_one() -> None:
    busy = [(0.01 * i, f"A{i}") for i in range(100)]
    schedule = sorted([*busy, (0.255, "B0"), (0.755, "B1")])
    received = await collect(timed(*schedule) | ops.throttle(0.5, key=lambda item: item[0]))
    assert received == [(0.0, "A0"), (0.255, "B0"), (0.5, "A50"), (0.755, "B1")]


@pytest.mark.parametrize("mode", ["leading", "latest"])
@pytest.mark.anyio
async def test_throttle_refuses_a_key_that_gives_awaitables(mode: ops.ThrottleMode) -> None:
    # Each awaitable is a new, distinct key: the throttle would let every item through.
    async def symbol(item: str) -> str:
        return item[0]

    with pytest.raises(TypeError, match=r"^throttle\(key=\.\.\.\) needs a sync function, got .*symbol, an async one$"):
        ops.throttle(0.5, mode=mode, key=symbol)
    log: list[str] = []
    pipeline = timed((0.0, "A1"), (0.1, "A2"), log=log) | ops.throttle(0.5, mode=mode, key=lambda item: symbol(item))
    with pytest.raises(TypeError, match=r"^throttle\(key=\.\.\.\) returned a coroutine, an awaitable: "):
        await items(pipeline)
    assert log == ["closed"]


@pytest.mark.parametrize("mode", ["leading", "latest"])
@pytest.mark.anyio
async def test_throttle_refuses_an_unhashable_key_naming_the_key_function(mode: ops.ThrottleMode) -> None:
    # A key returning the payload model itself (not frozen, so not hashable) failed with
    # Python's bare "unhashable type: 'list'", naming neither the throttle nor its key.
    log: list[str] = []
    pipeline = timed((0.0, "A1"), (0.1, "A2"), log=log) | ops.throttle(0.5, mode=mode, key=lambda item: [item[0]])
    with pytest.raises(TypeError, match=r"^throttle\(key=\.\.\.\) returned a list, which is not hashable") as caught:
        await items(pipeline)
    assert isinstance(caught.value.__cause__, TypeError)  # Python's own, kept as the cause
    assert log == ["closed"]


@pytest.mark.parametrize(
    "pipe",
    [
        ops.throttle(0.5),
        ops.throttle(0.5, mode="latest"),
        ops.debounce(0.1),
        ops.chunk(interval=0.1),
        ops.chunk(interval=0.1, leading=True),
        ops.chunk(size=2),
    ],
    ids=["throttle-leading", "throttle-latest", "debounce", "chunk", "chunk-leading", "chunk-size"],
)
@pytest.mark.anyio
async def test_time_operators_close_the_source_when_the_consumer_stops(pipe: Any) -> None:
    log: list[str] = []
    schedule = [(0.3 * i, i) for i in range(10)]
    tasks = asyncio.all_tasks()
    async with (timed(*schedule, log=log) | pipe).stream() as streamer:
        async for _ in streamer:
            break
    assert log == ["closed"]
    assert asyncio.all_tasks() - tasks == set()  # no pull is left pending


@pytest.mark.parametrize(
    "pipe",
    [
        ops.throttle(0.5, mode="latest"),
        ops.debounce(0.1),
        ops.chunk(interval=0.1),
        ops.chunk(interval=0.1, leading=True),
    ],
    ids=["throttle-latest", "debounce", "chunk", "chunk-leading"],
)
@pytest.mark.anyio
async def test_time_operators_read_the_source_only_when_they_need_an_item(pipe: Any) -> None:
    pulled: list[int] = []

    async def recording() -> AsyncIterator[int]:
        for i in range(100):
            pulled.append(i)
            yield i
            await asyncio.sleep(1.0)

    async with (recording() | pipe).stream() as streamer:
        async for _ in streamer:
            await asyncio.sleep(10.0)  # a slow consumer: the source must not run ahead
            break
    # Every item pulled was one the operator asked for while it waited; a source that ran
    # ahead during the consumer's 10 s would have been read about ten more times.
    assert len(pulled) <= 3


# the driver under the time operators


async def _ticking(interval: float) -> AsyncIterator[int]:
    for i in itertools.count():
        await asyncio.sleep(interval)
        yield i


class _Marks(_Clocked[int, str]):
    """Says when each item and each deadline came; the deadlines (from the start) follow a script."""

    def __init__(self, start: float, deadlines: list[float | None]) -> None:
        super().__init__()
        self._start = start
        self._script = [None if d is None else start + d for d in deadlines]
        self._due = self._script.pop(0)

    def deadline(self) -> float | None:
        return self._due

    def _next(self) -> None:
        self._due = self._script.pop(0) if self._script else None

    def arrive(self, item: int, now: float) -> None:
        self.ready.append(f"item {item} at {round(now - self._start, 6):g}")
        self._next()

    def expire(self, now: float) -> None:
        self.ready.append(f"missed at {round(now - self._start, 6):g}")
        self._next()

    def leftovers(self, now: float) -> list[tuple[float, str]]:
        return []


async def _take_all(source: AsyncIterator[int], deadlines: list[float | None], count: int) -> list[str]:
    from aiostream.core import streamcontext

    taken: list[str] = []
    async with streamcontext(source) as streamer:
        driver = _Driver(streamer, _Marks(now(), deadlines))
        try:
            while len(taken) < count:
                ready = await driver.take()
                assert ready is not None
                taken.extend(ready)
        finally:
            await driver.aclose()
    return taken


@pytest.mark.anyio
async def test_driver_acts_on_each_deadline_while_the_same_pull_goes_on() -> None:
    # Were the pull cancelled and started again at a deadline, item 0 would come at 109.
    taken = await _take_all(_ticking(100.0), [1.0, 3.0, 9.0, None], 4)
    assert taken == ["missed at 1", "missed at 3", "missed at 9", "item 0 at 100"]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (50.0, 1.5, "missed at 1.5"),  # moved earlier than the timer set for the first deadline
        (1.5, 5.0, "item 1 at 2"),  # moved later: the timer set for 1.5 must not act at 1.5
        (1.5, None, "item 1 at 2"),  # no deadline: likewise
    ],
)
@pytest.mark.anyio
async def test_driver_keeps_to_the_latest_deadline(first: float, second: float | None, expected: str) -> None:
    taken = await _take_all(_ticking(1.0), [first, second], 2)
    assert taken == ["item 0 at 1", expected]  # the item comes at 1.0, before the first deadline


@pytest.mark.parametrize("anyio_backend", [("asyncio", {"loop_factory": EarlyTimersLoop})])
@pytest.mark.parametrize(
    ("pipe", "expected"),
    [
        (ops.throttle(0.0071, mode="latest"), list(range(20))),
        (ops.throttle(0.0071, mode="latest", key=lambda i: i % 2), list(range(20))),
        (ops.debounce(0.0071), list(range(20))),
        (ops.chunk(interval=0.0071), [[i] for i in range(20)]),
        (ops.chunk(interval=0.0071, leading=True), [[i] for i in range(20)]),
    ],
    ids=["throttle-latest", "throttle-latest-key", "debounce", "chunk", "chunk-leading"],
)
@pytest.mark.anyio
async def test_time_operators_take_a_timer_that_fires_early_as_its_deadline(pipe: Any, expected: list[Any]) -> None:
    # uvloop rounds a timer's delay to the millisecond: the timer set for a deadline 7.1 ms away
    # fires at 7 ms. Setting it again for the 0.1 ms left fired it at once, and again, until the
    # clock caught up: hundreds of wake-ups per deadline on a real loop.
    loop = asyncio.get_running_loop()
    assert isinstance(loop, EarlyTimersLoop)
    received = await items(timed(*((0.0103 * i, i) for i in range(20))) | pipe)
    assert received == expected
    # The source's own sleeps, and a timer per deadline.
    assert loop.timers <= 2 * len(expected) + 2


@pytest.mark.parametrize(
    "pipe",
    [
        ops.throttle(1e6, mode="latest"),
        ops.debounce(1e6),
        ops.chunk(interval=1e6),
        ops.chunk(interval=1e6, leading=True),
        # Operators that drop items hide them from the response, which gives the loop a turn as
        # events go out: a leading throttle over an always-ready sampler froze the whole server.
        ops.throttle(1e6),
        ops.throttle(1e6, key=lambda i: i % 2),
        ops.filter(lambda i: i < 0),
        ops.skip(20_000),
        ops.distinct_until_changed(key=lambda i: 0),
        # A batch by size holds its items from the response just the same, until it is full.
        ops.chunk(size=20_000),
    ],
    ids=[
        "throttle-latest",
        "debounce",
        "chunk",
        "chunk-leading",
        "throttle-leading",
        "throttle-leading-key",
        "filter",
        "skip",
        "distinct",
        "chunk-size",
    ],
)
@pytest.mark.anyio
async def test_time_operators_give_the_loop_turns_over_a_source_that_never_waits(pipe: Any) -> None:
    # Items that only change the operator's state (or are dropped) cost no loop turn: over a
    # source that is always ready, the operator must still let the loop run its timers and
    # other tasks.
    pulled: list[int] = []

    async def ready_at_once() -> AsyncIterator[int]:
        for i in range(10_000):
            pulled.append(i)
            yield i

    async def other_task() -> list[int]:
        seen: list[int] = []  # how far the source was, at each of this task's turns
        while not seen or seen[-1] < 10_000:
            seen.append(len(pulled))
            await asyncio.sleep(0)
        return seen

    other = asyncio.create_task(other_task())
    await asyncio.sleep(0)  # its first sample, before the source starts: a run without turns shows then
    await items(ready_at_once() | pipe)
    seen = await other
    assert max(later - earlier for earlier, later in itertools.pairwise(seen)) <= 1_000


# what the pumped operators (merge and the clock-driven ones) owe their sources


PUMPED = {
    "merge": lambda source: ops.merge(source, timed((0.0, "other"), end=9.0)),
    "throttle-latest": lambda source: source | ops.throttle(0.5, mode="latest"),
    "debounce": lambda source: source | ops.debounce(0.001),
    "chunk": lambda source: source | ops.chunk(interval=0.5),
    "chunk-leading": lambda source: source | ops.chunk(interval=0.5, leading=True),
    "map-concurrent": lambda source: source | ops.map(_later_copy, concurrency=3),
}


async def _later_copy(item: Any) -> Any:
    await asyncio.sleep(0.01)
    return item


class Halt(BaseException):
    """A `BaseException` that is not an `Exception`, raised by a source."""


@pytest.mark.parametrize("error", [asyncio.CancelledError, Halt])
@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_pass_on_what_a_source_raises_besides_exceptions(
    pipeline: str, error: type[BaseException]
) -> None:
    # A source's own `CancelledError` (a future it awaited was cancelled by someone else) is
    # not the operator closing: it reaches the consumer, as from the source iterated directly.
    async def interrupted() -> AsyncIterator[str]:
        yield "x"
        await asyncio.sleep(1.0)
        if error is Halt:
            raise Halt
        future = asyncio.get_running_loop().create_future()
        future.cancel()
        await future

    received: list[tuple[float, Any]] = []
    consumer = asyncio.create_task(drain(PUMPED[pipeline](interrupted()), received))
    done, _ = await asyncio.wait([consumer], timeout=100.0)
    assert consumer in done, "the consumer waits for ever"
    if error is asyncio.CancelledError:
        assert consumer.cancelled()
    else:
        assert isinstance(consumer.exception(), Halt)
    assert "x" in [piece for _, item in received for piece in (item if isinstance(item, list) else [item])]


CLOCKED = {name: PUMPED[name] for name in ("throttle-latest", "debounce", "chunk", "chunk-leading")}


@pytest.mark.parametrize("caught", [False, True], ids=["failing", "caught-upstream"])
@pytest.mark.parametrize("pipeline", list(CLOCKED))
@pytest.mark.anyio
async def test_clocked_operators_drop_what_they_hold_when_the_source_fails(pipeline: str, caught: bool) -> None:
    # The documented choice: the error goes on at once, and what the operator holds (a window's
    # newest item, the waiting item, a partial batch) is not sent ahead of it. Caught upstream,
    # the source ends cleanly instead, and an ending source flushes what is held.
    async def failing() -> AsyncIterator[str]:
        yield "first"
        yield "held"
        raise LookupError("source failed")

    source: AsyncIterable[str] = failing()
    if caught:
        source = source | ops.catch(lambda exc: None, exceptions=LookupError)
    received: list[tuple[float, Any]] = []
    if caught:
        await drain(CLOCKED[pipeline](source), received)
    else:
        with pytest.raises(LookupError, match="source failed"):
            await drain(CLOCKED[pipeline](source), received)
    flat = [piece for _, item in received for piece in (item if isinstance(item, list) else [item])]
    assert ("held" in flat) is caught


@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_close_a_source_in_its_own_context(pipeline: str) -> None:
    # A source that sets a context variable around its `yield`s (a tracing span, structlog's
    # `bound_contextvars`) resets it in its `finally`, which must run in the context of the
    # `set`; its cleanup may await, and is over when the consumer's stream context has closed.
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")
    log: list[str] = []

    async def spanned() -> AsyncIterator[str]:
        token = var.set("span")
        try:
            for i in itertools.count():
                yield f"{var.get()}{i}"
                await asyncio.sleep(0.1)
        finally:
            await asyncio.sleep(1.0)
            var.reset(token)
            log.append(f"closed, {var.get()}")

    tasks = asyncio.all_tasks()
    async with PUMPED[pipeline](spanned()).stream() as streamer:
        async for _ in streamer:
            await asyncio.sleep(0.5)  # meanwhile the source yields again, and waits at its `yield`
            break
    assert log == ["closed, outside"]
    assert asyncio.all_tasks() - tasks == set()


@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_pass_on_an_error_of_a_sources_cleanup(pipeline: str) -> None:
    async def failing_cleanup() -> AsyncIterator[str]:
        try:
            for i in itertools.count():
                yield str(i)
                await asyncio.sleep(0.1)
        finally:
            raise RuntimeError("cleanup")

    async def consume() -> None:
        async with PUMPED[pipeline](failing_cleanup()).stream() as streamer:
            async for _ in streamer:
                await asyncio.sleep(0.5)
                break

    with pytest.raises(RuntimeError, match=r"^cleanup$"):
        await consume()


async def _grouped(
    group: str, log: list[str], *, child_fails: bool = False, pause: float | None = 0.1
) -> AsyncIterator[str]:
    """A source that yields inside a task group, beside a heartbeat child that runs until it is cancelled.

    With no `pause` it never awaits: whenever it is not running, it is suspended at a `yield`.
    """

    async def heartbeat() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            if child_fails:
                raise OSError("heartbeat cleanup failed")

    try:
        if group == "anyio":
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(heartbeat)
                for i in itertools.count():
                    yield str(i)
                    if pause is not None:
                        await asyncio.sleep(pause)
        else:
            async with asyncio.TaskGroup() as task_group:
                task_group.create_task(heartbeat())
                for i in itertools.count():
                    yield str(i)
                    if pause is not None:
                        await asyncio.sleep(pause)
    finally:
        log.append("closed")


@pytest.mark.parametrize("group", ["anyio", "asyncio"])
@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_close_a_source_held_at_a_yield_in_a_task_group_quietly(
    pipeline: str, group: str
) -> None:
    # Closed at a `yield` inside a task group, a generator raises the `GeneratorExit` of its
    # close back wrapped in a `BaseExceptionGroup`: the pump took that for a failure of the
    # source's cleanup, raised to the consumer (and logged as a failed stream by a response).
    log: list[str] = []
    async with PUMPED[pipeline](_grouped(group, log)).stream() as streamer:
        async for _ in streamer:
            await asyncio.sleep(0.5)  # meanwhile the source yields again, and waits at its `yield`
            break
    assert log == ["closed"]


@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_pass_on_what_else_a_task_group_raises_at_the_close(pipeline: str) -> None:
    # The child's failed cleanup is no close: it goes on, in a group, without the `GeneratorExit`.
    log: list[str] = []

    async def consume() -> None:
        async with PUMPED[pipeline](_grouped("asyncio", log, child_fails=True)).stream() as streamer:
            async for _ in streamer:
                await asyncio.sleep(0.5)
                break

    with pytest.raises(BaseExceptionGroup) as info:
        await consume()
    assert info.value.subgroup(GeneratorExit) is None
    assert [str(error) for error in info.value.exceptions] == ["heartbeat cleanup failed"]
    assert log == ["closed"]


@pytest.mark.parametrize("group", ["anyio", "asyncio"])
@pytest.mark.anyio
async def test_merge_raises_a_failing_source_s_error_not_the_close_of_another_in_a_task_group(group: str) -> None:
    # The failure closes the other sources: one held at a `yield` in a task group raised its
    # close as a group, which replaced the source's error on its way to the consumer.
    log: list[str] = []
    with pytest.raises(ValueError, match=r"^boom$"):
        await items(ops.merge(_grouped(group, log, pause=None), failing(error=ValueError("boom"))))
    assert log == ["closed"]


async def _cancelled_by_another() -> AsyncIterator[str]:
    yield "x"
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_later(1.0, future.cancel)
    await future


async def _cleanup_awaits() -> AsyncIterator[str]:
    try:
        for i in itertools.count():
            yield str(i)
            await asyncio.sleep(0.1)
    finally:
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_close_a_source_that_swallows_their_cancellation(pipeline: str) -> None:
    # A bare `except:` around the source's await took the pump's cancellation when the consumer
    # stopped (a client leaving), and the source went on yielding: the pump kept the item for a
    # consumer that was gone and waited for ever, so the operator's close never returned (nor
    # did a response over it). The source is closed at the `yield` after the cancellation, as
    # the response closes a plain generator that does the same.
    log: list[str] = []
    waiting = asyncio.Event()

    async def deaf() -> AsyncIterator[str]:
        try:
            yield "first"
            while True:
                waiting.set()
                try:
                    await asyncio.sleep(3600)
                except BaseException:  # what a bare `except:` does: it swallows the cancellation
                    log.append("swallowed")
                yield "after"
        finally:
            log.append("closed")

    consumer = asyncio.create_task(items(PUMPED[pipeline](deaf())))
    await waiting.wait()
    consumer.cancel()
    try:
        done, _ = await asyncio.wait({consumer}, timeout=60)
        assert done, "the operator's close never returned"
    finally:
        consumer.cancel()  # a second cancellation reaches the pump where it waits: the test does not hang
        await asyncio.wait({consumer})
    assert consumer.cancelled()
    assert log == ["swallowed", "closed"]


@pytest.mark.parametrize("stop", ["source-cancelled", "consumer-stops"])
@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_leave_no_reference_cycles(pipeline: str, stop: str) -> None:
    # What a pipeline used is freed by reference counting as soon as it ends: a stored error
    # or a task kept in a frame its traceback holds would wait for the garbage collector.
    async def run() -> None:
        if stop == "source-cancelled":
            consumer = asyncio.create_task(items(PUMPED[pipeline](_cancelled_by_another())))
            await asyncio.wait([consumer])
            assert consumer.cancelled()
        else:
            async with PUMPED[pipeline](_cleanup_awaits()).stream() as streamer:
                async for _ in streamer:
                    await asyncio.sleep(0.5)
                    break

    assert await garbage_of(run) == []


class _CloseFails:
    """An async iterator (not a generator) that ends cleanly, then fails to close: its `aclose` raises."""

    def __init__(self, *items: str) -> None:
        self.items = list(items)

    def __aiter__(self) -> _CloseFails:
        return self

    async def __anext__(self) -> str:
        await asyncio.sleep(0.1)
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)

    async def aclose(self) -> None:
        raise RuntimeError("cleanup failed")


@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_leave_no_cycle_when_an_ended_sources_cleanup_fails(pipeline: str) -> None:
    # The pump closes the source after its end, and the operator's close waits for it: the
    # cleanup's error goes on from there, and no frame it passes may keep the pump's task.
    async def run() -> None:
        with pytest.raises(RuntimeError, match=r"^cleanup failed$"):
            await items(PUMPED[pipeline](_CloseFails("first", "held")))

    assert await garbage_of(run) == []


# Operators holding the last item when their source ends (it arrives 0.1 s before the end).
HOLDING = {
    "throttle-latest": lambda source: source | ops.throttle(0.5, mode="latest"),
    "debounce": lambda source: source | ops.debounce(0.5),
    "chunk": lambda source: source | ops.chunk(interval=0.5),
    "chunk-leading": lambda source: source | ops.chunk(interval=0.5, leading=True),
    "chunk-by-size": lambda source: source | ops.chunk(size=10),
}


@pytest.mark.parametrize("pipeline", list(HOLDING))
@pytest.mark.anyio
async def test_holding_operators_send_what_they_hold_before_an_ended_sources_cleanup_error(pipeline: str) -> None:
    # The source gave everything it had: its end flushes what is held (the final state of a
    # throttle, a debounce's waiting item, a partial batch), and its cleanup's error follows,
    # as after `take`'s last item.
    received: list[tuple[float, Any]] = []
    with pytest.raises(RuntimeError, match=r"^cleanup failed$"):
        await drain(HOLDING[pipeline](_CloseFails("first", "held")), received)
    flat = [piece for _, item in received for piece in (item if isinstance(item, list) else [item])]
    assert flat[-1] == "held"

    async def run() -> None:
        with pytest.raises(RuntimeError, match=r"^cleanup failed$"):
            await items(HOLDING[pipeline](_CloseFails("first", "held")))

    assert await garbage_of(run) == []


@pytest.mark.anyio
async def test_garbage_of_sees_a_cycle_the_run_leaves() -> None:
    # The check the tests above rely on: a task kept by its own error's traceback is found.
    async def run() -> None:
        async def fails() -> None:
            raise RuntimeError("kept")

        task = asyncio.create_task(fails())
        await asyncio.wait([task])
        error = task.exception()
        assert error is not None
        error.task = task  # type: ignore[attr-defined]  # task -> error -> task

    assert {"Task", "RuntimeError"} <= set(await garbage_of(run))


async def garbage_of(run: Callable[[], Awaitable[None]]) -> list[str]:
    """What only the garbage collector frees after a second `run` (the first sets up caches)."""
    await run()
    with GarbageWatch() as watch:
        await run()
    return watch.garbage


# debounce


@pytest.mark.anyio
async def test_debounce_sends_the_last_item_of_each_burst_after_a_silence() -> None:
    schedule = ((0.0, "a"), (0.1, "b"), (0.2, "c"), (1.0, "d"), (1.25, "e"))
    received = await collect(timed(*schedule, end=3.0) | ops.debounce(0.3))
    assert received == [(0.5, "c"), (1.55, "e")]


@pytest.mark.anyio
async def test_debounce_sends_the_waiting_item_when_the_source_ends() -> None:
    received = await collect(timed((0.0, "a"), (0.1, "b")) | ops.debounce(5.0))
    assert received == [(0.1, "b")]


# chunk


@pytest.mark.anyio
async def test_chunk_by_size_batches_items_in_order() -> None:
    assert await items(ops.source(range(7)) | ops.chunk(size=3)) == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.anyio
async def test_chunk_by_size_sends_a_full_batch_without_waiting_for_the_next_item() -> None:
    schedule = ((0.0, "a"), (0.1, "b"), (5.0, "c"))
    received = await collect(timed(*schedule) | ops.chunk(size=2))
    assert received == [(0.1, ["a", "b"]), (5.0, ["c"])]


@pytest.mark.anyio
async def test_chunk_by_size_of_an_empty_source_sends_nothing() -> None:
    assert await items(ops.source([]) | ops.chunk(size=3)) == []


@pytest.mark.anyio
async def test_chunk_by_interval_sends_a_batch_that_long_after_its_first_item() -> None:
    schedule = ((0.0, "a"), (0.01, "b"), (0.02, "c"), (0.1, "d"), (0.2, "e"), (0.21, "f"))
    received = await collect(timed(*schedule, end=1.0) | ops.chunk(interval=0.05))
    assert received == [(0.05, ["a", "b", "c"]), (0.15, ["d"]), (0.25, ["e", "f"])]


@pytest.mark.anyio
async def test_chunk_by_size_and_interval_sends_whichever_comes_first() -> None:
    schedule = ((0.0, "a"), (0.01, "b"), (0.02, "c"), (0.1, "d"))
    received = await collect(timed(*schedule, end=1.0) | ops.chunk(size=2, interval=0.05))
    assert received == [(0.01, ["a", "b"]), (0.07, ["c"]), (0.15, ["d"])]


@pytest.mark.anyio
async def test_chunk_by_interval_sends_the_partial_batch_when_the_source_ends() -> None:
    received = await collect(timed((0.0, "a"), (0.01, "b")) | ops.chunk(interval=10.0))
    assert received == [(0.01, ["a", "b"])]


QUIET_THEN_BUSY = ((0.0, "a"), (0.1, "b"), (0.2, "c"), (0.6, "d"), (0.8, "e"), (1.0, "f"), (2.0, "g"))


@pytest.mark.anyio
async def test_chunk_leading_sends_the_first_item_at_once_and_batches_the_window_behind_it() -> None:
    # A plain chunk holds the first token for the whole interval; a leading one sends it alone
    # at once, and what comes while its window is open goes out together when the window ends.
    received = await collect(timed(*QUIET_THEN_BUSY, end=3.0) | ops.chunk(interval=0.3, leading=True))
    assert received == [
        (0.0, ["a"]),  # at once: nothing went out before
        (0.3, ["b", "c"]),  # the window a opened; sending them opens the next one, [0.3, 0.6)
        (0.6, ["d"]),  # that window ended empty: a quiet interval, so d goes out at once
        (0.9, ["e"]),
        (1.2, ["f"]),  # f came in the window e's batch opened
        (2.0, ["g"]),  # after a quiet period, at once again
    ]
    plain = await collect(timed(*QUIET_THEN_BUSY, end=3.0) | ops.chunk(interval=0.3))
    assert plain[0] == (0.3, ["a", "b", "c"])


@pytest.mark.anyio
async def test_chunk_leading_sends_a_full_batch_before_its_window_ends() -> None:
    schedule = ((0.0, "a"), (0.01, "b"), (0.02, "c"), (0.03, "d"), (0.04, "e"), (0.5, "f"))
    received = await collect(timed(*schedule, end=1.0) | ops.chunk(size=2, interval=0.1, leading=True))
    # The first item goes out alone (a batch of one is within any size); the window it opened
    # goes on after a full batch, and ends with what is left.
    assert received == [(0.0, ["a"]), (0.02, ["b", "c"]), (0.04, ["d", "e"]), (0.5, ["f"])]


@pytest.mark.anyio
async def test_chunk_leading_sends_the_partial_batch_when_the_source_ends_not_when_its_window_does() -> None:
    log: list[str] = []
    received = await collect(
        timed((0.0, "a"), (0.01, "b"), (0.02, "c"), log=log) | ops.chunk(interval=10.0, leading=True)
    )
    assert received == [(0.0, ["a"]), (0.02, ["b", "c"])]
    assert log == ["closed"]


# timeout


@pytest.mark.anyio
async def test_timeout_fails_after_an_idle_period_and_closes_the_source() -> None:
    log: list[str] = []
    received: list[tuple[float, Any]] = []
    start = now()
    with pytest.raises(TimeoutError):
        await drain(timed((0.0, "a"), (1.0, "b"), (5.0, "c"), log=log) | ops.timeout(2.0), received)
    assert received == [(0.0, "a"), (1.0, "b")]
    assert now() - start == 3.0
    assert log == ["closed"]


@pytest.mark.anyio
async def test_timeout_never_drops_a_cancellation_that_comes_with_an_item() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def source() -> AsyncIterator[str]:
        yield await future
        await asyncio.sleep(1.0)
        yield "after the cancellation"

    received: list[tuple[float, Any]] = []
    consumer = asyncio.create_task(drain(source() | ops.timeout(10.0), received))
    await asyncio.sleep(0.1)
    future.set_result("item")
    consumer.cancel()  # in the same step as the item: the pull is done, the consumer not yet woken
    done, _ = await asyncio.wait([consumer], timeout=5.0)
    assert consumer in done
    assert consumer.cancelled()
    assert received == []


@pytest.mark.anyio
async def test_timeout_pulls_the_source_in_the_consumers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="outside")

    async def spanned() -> AsyncIterator[str]:
        token = var.set("span")
        try:
            for i in range(3):
                await asyncio.sleep(0.1)
                yield f"{var.get()}{i}"
        finally:
            var.reset(token)

    assert await items(spanned() | ops.timeout(1.0)) == ["span0", "span1", "span2"]
    assert await items(spanned() | ops.timeout(1.0) | ops.take(1)) == ["span0"]


@pytest.mark.anyio
async def test_timeout_with_catch_ends_with_a_typed_event() -> None:
    events = timed((0.0, Tick(data=1)), (9.0, Tick(data=2))) | ops.timeout(1.0)
    pipeline = events | ops.catch(lambda exc: Failed(data=type(exc).__name__), exceptions=TimeoutError)
    assert await collect(pipeline) == [(0.0, Tick(data=1)), (1.0, Failed(data="TimeoutError"))]


# catch


async def failing(*values: int, error: Exception, log: list[str] | None = None) -> AsyncIterator[Tick]:
    try:
        for value in values:
            yield Tick(data=value)
        raise error
    finally:
        if log is not None:
            log.append("closed")


@pytest.mark.anyio
async def test_catch_turns_the_error_into_a_last_event_after_closing_the_source() -> None:
    log: list[str] = []

    def failed(exc: Exception) -> Failed:
        log.append("handled")
        return Failed(data=str(exc))

    received = await items(failing(1, 2, error=ValueError("boom"), log=log) | ops.catch(failed))
    assert received == [Tick(data=1), Tick(data=2), Failed(data="boom")]
    assert log == ["closed", "handled"]


@pytest.mark.anyio
async def test_catch_awaits_an_async_handler() -> None:
    async def failed(exc: Exception) -> Failed:
        await asyncio.sleep(1.0)
        return Failed(data=str(exc))

    received = await collect(failing(1, error=ValueError("boom")) | ops.catch(failed))
    assert received == [(0.0, Tick(data=1)), (1.0, Failed(data="boom"))]


@pytest.mark.anyio
async def test_catch_ends_quietly_when_the_handler_returns_none() -> None:
    assert await items(failing(1, error=ValueError("boom")) | ops.catch(lambda exc: None)) == [Tick(data=1)]


@pytest.mark.anyio
async def test_catch_lets_other_exception_types_through() -> None:
    pipeline = failing(1, error=KeyError("k")) | ops.catch(lambda exc: Failed(data="?"), exceptions=ValueError)
    with pytest.raises(KeyError):
        await items(pipeline)


@pytest.mark.anyio
async def test_catch_chains_the_handlers_own_error_to_the_failure() -> None:
    def broken(exc: Exception) -> Failed:
        raise RuntimeError("handler")

    with pytest.raises(RuntimeError, match=r"^handler$") as raised:
        await items(failing(1, error=ValueError("boom")) | ops.catch(broken))
    assert isinstance(raised.value.__context__, ValueError)
    assert str(raised.value.__context__) == "boom"


@pytest.mark.parametrize("handler_fails", [False, True], ids=["handled", "handler-fails"])
@pytest.mark.anyio
async def test_catch_leaves_no_reference_cycles(handler_fails: bool) -> None:
    def handler(exc: Exception) -> Failed:
        if handler_fails:
            raise RuntimeError("handler")
        return Failed(data=str(exc))

    async def fails() -> AsyncIterator[Tick]:  # not `failing`: its frame holds the error it raised
        yield Tick(data=1)
        raise ValueError("boom")

    async def run() -> None:
        with contextlib.suppress(RuntimeError):
            await items(fails() | ops.catch(handler))

    assert await garbage_of(run) == []


class _ReadAndCloseFail(_CloseFails):
    """Fails at its end instead of ending, then fails to close too."""

    async def __anext__(self) -> str:
        try:
            return await super().__anext__()
        except StopAsyncIteration:
            raise LookupError("read failed") from None


@pytest.mark.parametrize("source", [_CloseFails, _ReadAndCloseFail], ids=["ended", "failed"])
@pytest.mark.anyio
async def test_catch_catches_an_error_of_its_sources_close(source: type[_CloseFails]) -> None:
    # An iterator's `aclose` is a step apart from its last read: what it raises is the source's
    # error all the same (a generator's `finally` raises it from the read), after the read's own.
    def failed(exc: Exception) -> str:
        context = exc.__context__
        return f"{exc}, after {context}" if context is not None else str(exc)

    received = await items(source("a") | ops.catch(failed))
    expected = "cleanup failed, after read failed" if source is _ReadAndCloseFail else "cleanup failed"
    assert received == ["a", expected]

    async def run() -> None:
        await items(source("a") | ops.catch(failed))
        with pytest.raises(RuntimeError, match=r"^cleanup failed$"):
            await items(source("a") | ops.catch(failed, exceptions=LookupError))

    assert await garbage_of(run) == []


@pytest.mark.anyio
async def test_catch_never_catches_the_consumers_own_errors() -> None:
    log: list[str] = []
    pipeline = counting("a", log) | ops.catch(lambda exc: "caught")

    async def consume() -> None:
        async with pipeline.stream() as streamer:
            async for _ in streamer:
                raise RuntimeError("consumer")

    with pytest.raises(RuntimeError, match=r"^consumer$"):
        await consume()
    assert log == ["a closed"]


# an error downstream of a source is not the source's


async def _forgiving(log: list[str]) -> AsyncIterator[int]:
    """A source that ends quietly when it fails: the error it catches must be its own."""
    try:
        for i in range(10):
            yield i
            await asyncio.sleep(0.1)
    except Exception as exc:
        log.append(f"caught {exc!r}")
    finally:
        log.append("closed")


async def _in_a_task_group(log: list[str]) -> AsyncIterator[int]:
    """A source whose `yield`s are inside a task group, beside a heartbeat task."""
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(asyncio.sleep(100.0))
            for i in range(10):
                yield i
                await asyncio.sleep(0.1)
    finally:
        log.append("closed")


DOWNSTREAM_SOURCES = {"forgiving": _forgiving, "task-group": _in_a_task_group}


def _fails_at_two(item: int) -> int:
    if item == 2:
        raise ValueError("failed at 2")
    return item


async def _fails_at_two_later(item: int) -> int:
    return _fails_at_two(item)


# Operators whose function fails at the item 2.
FAILING_FUNCTIONS = {
    "map": lambda: ops.map(_fails_at_two),
    "map-async": lambda: ops.map(_fails_at_two_later),
    "filter": lambda: ops.filter(_fails_at_two),
    "tap": lambda: ops.tap(_fails_at_two),
    "scan": lambda: ops.scan(lambda state, item: _fails_at_two(item), 0),
    "take_while": lambda: ops.take_while(lambda item: _fails_at_two(item) < 5),
    "throttle-key": lambda: ops.throttle(0.01, key=_fails_at_two),
    "throttle-latest-key": lambda: ops.throttle(0.01, mode="latest", key=_fails_at_two),
    "distinct-key": lambda: ops.distinct_until_changed(key=_fails_at_two),
}


@pytest.mark.parametrize("source", list(DOWNSTREAM_SOURCES))
@pytest.mark.parametrize("failing", list(FAILING_FUNCTIONS))
@pytest.mark.anyio
async def test_an_operators_function_failing_closes_the_source_and_its_error_goes_on_as_it_is(
    failing: str, source: str
) -> None:
    # The error was thrown into the source at its `yield`: a source that caught it and ended
    # made it vanish (the stream ended as if complete), one in a task group gave it back
    # wrapped in an `ExceptionGroup`, which `catch(exceptions=ValueError)` did not match.
    log: list[str] = []
    with pytest.raises(ValueError, match=r"^failed at 2$"):
        await items(DOWNSTREAM_SOURCES[source](log) | FAILING_FUNCTIONS[failing]())
    assert log == ["closed"]

    def caught(exc: ValueError) -> str:
        return f"caught {exc}"

    log.clear()
    pipeline = DOWNSTREAM_SOURCES[source](log) | FAILING_FUNCTIONS[failing]() | ops.catch(caught, exceptions=ValueError)
    assert (await items(pipeline))[-1] == "caught failed at 2"
    assert log == ["closed"]


@pytest.mark.parametrize("failing", list(FAILING_FUNCTIONS))
@pytest.mark.anyio
async def test_an_operators_function_failing_leaves_no_reference_cycles(failing: str) -> None:
    # Thrown into the source, the error came back through a frame of aiostream's that held it:
    # the error, its traceback and every frame of the pipeline waited for the garbage collector.
    async def run() -> None:
        with pytest.raises(ValueError, match=r"^failed at 2$"):
            await items(timed(*((0.1 * i, i) for i in range(5))) | FAILING_FUNCTIONS[failing]())

    assert await garbage_of(run) == []


# Operators passing every item of their source on, as the last stage of a pipeline.
PASSING = {
    "source": lambda source: ops.source(source),
    "map": lambda source: source | ops.map(str),
    "filter": lambda source: source | ops.filter(lambda item: True),
    "tap": lambda source: source | ops.tap(lambda item: None),
    "scan": lambda source: source | ops.scan(lambda state, item: item, 0),
    "skip": lambda source: source | ops.skip(0),
    "take": lambda source: source | ops.take(5),
    "take_while": lambda source: source | ops.take_while(lambda item: True),
    "distinct": lambda source: source | ops.distinct_until_changed(),
    "throttle": lambda source: source | ops.throttle(0.01),
    "throttle-latest": lambda source: source | ops.throttle(0.01, mode="latest"),
    "debounce": lambda source: source | ops.debounce(0.01),
    "chunk": lambda source: source | ops.chunk(size=1),
    "chunk-interval": lambda source: source | ops.chunk(interval=0.01),
    "timeout": lambda source: source | ops.timeout(10.0),
    "catch": lambda source: source | ops.catch(lambda exc: None),
    "chain": lambda source: ops.chain(source),
    "start_with": lambda source: source | ops.start_with(),
    "merge": lambda source: ops.merge(source),
    "map-concurrent": lambda source: source | ops.map(_copy, concurrency=2),
}


@pytest.mark.parametrize("source", list(DOWNSTREAM_SOURCES))
@pytest.mark.parametrize("passing", list(PASSING))
@pytest.mark.anyio
async def test_the_consumers_own_error_closes_the_source_and_goes_on_as_it_is(passing: str, source: str) -> None:
    # As above, for an error of the code that iterates the pipeline: a source that caught it
    # made it vanish from the `async with` around the pipeline.
    log: list[str] = []

    async def consume() -> None:
        async with PASSING[passing](DOWNSTREAM_SOURCES[source](log)).stream() as streamer:
            async for _ in streamer:
                raise RuntimeError("consumer")

    with pytest.raises(RuntimeError, match=r"^consumer$"):
        await consume()
    assert log == ["closed"]


# merge


@pytest.mark.anyio
async def test_merge_interleaves_items_as_they_arrive_and_keeps_each_sources_order() -> None:
    left = timed((0.0, "a0"), (1.0, "a1"), (2.0, "a2"))
    right = timed((0.5, "b0"), (0.7, "b1"), (2.5, "b2"))
    received = await collect(ops.merge(left, right))
    assert received == [(0.0, "a0"), (0.5, "b0"), (0.7, "b1"), (1.0, "a1"), (2.0, "a2"), (2.5, "b2")]


@pytest.mark.anyio
async def test_merge_ready_sources_take_turns() -> None:
    received = await items(ops.merge(counting("a"), counting("b"), counting("c")) | ops.take(9))
    assert received == ["a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"]


@pytest.mark.anyio
async def test_merge_reads_each_source_at_most_one_item_ahead() -> None:
    pulled: list[str] = []

    async def recording(name: str) -> AsyncIterator[str]:
        for i in itertools.count():
            pulled.append(f"{name}{i}")
            yield f"{name}{i}"

    received: list[str] = []
    async with ops.merge(recording("a"), recording("b")).stream() as streamer:
        async for item in streamer:
            received.append(item)
            await asyncio.sleep(0.1)  # a slow consumer: the sources must not run ahead of it
            if len(received) == 6:
                break
    assert received == ["a0", "b0", "a1", "b1", "a2", "b2"]
    # A source fetches its next item only once its last one was taken: "a3" waits to be
    # handed over, and "b3" was never asked for (the consumer stopped while holding "b2").
    assert sorted(pulled) == ["a0", "a1", "a2", "a3", "b0", "b1", "b2"]


@pytest.mark.anyio
async def test_merge_forwards_items_that_arrived_before_a_failure() -> None:
    async def then_fail() -> AsyncIterator[str]:
        await asyncio.sleep(1.0)
        raise ValueError("late")
        yield "never"

    received: list[tuple[float, Any]] = []
    with pytest.raises(ValueError, match=r"^late$"):
        await drain(ops.merge(timed((0.5, "a"), (0.9, "b"), (5.0, "c")), then_fail()), received)
    assert received == [(0.5, "a"), (0.9, "b")]


@pytest.mark.anyio
async def test_merge_ends_when_every_source_has_ended() -> None:
    received = await collect(ops.merge(timed((0.0, "a")), timed((3.0, "b")), ops.source([])))
    assert received == [(0.0, "a"), (3.0, "b")]


@pytest.mark.anyio
async def test_merge_of_no_sources_ends_at_once() -> None:
    assert await items(ops.merge()) == []


@pytest.mark.anyio
async def test_merge_a_failing_source_closes_the_others_and_the_error_goes_downstream() -> None:
    log: list[str] = []
    pipeline = ops.merge(counting("a", log), timed((1.0, "b"), log=log), failing(error=ValueError("boom")))
    with pytest.raises(ValueError, match=r"^boom$"):
        await items(pipeline)
    assert sorted(log) == ["a closed", "closed"]


@pytest.mark.anyio
async def test_merge_a_failing_source_ends_with_a_typed_event_under_catch() -> None:
    log: list[str] = []
    pipeline = ops.merge(
        timed((0.0, Tock(data="a")), (5.0, Tock(data="late")), log=log),
        timed((1.0, 0), log=log) | ops.map(lambda _: 1 / 0),
    ) | ops.catch(lambda exc: Failed(data=type(exc).__name__))
    assert await collect(pipeline) == [(0.0, Tock(data="a")), (1.0, Failed(data="ZeroDivisionError"))]
    assert log == ["closed", "closed"]


@pytest.mark.anyio
async def test_merge_stopping_the_consumer_closes_every_source() -> None:
    log: list[str] = []
    async with ops.merge(counting("a", log), counting("b", log), timed((9.0, "c"), log=log)).stream() as streamer:
        async for item in streamer:
            if item == "b1":
                break
    assert sorted(log) == ["a closed", "b closed", "closed"]


@pytest.mark.anyio
async def test_merge_lets_go_of_each_source_that_ended_while_the_others_go_on() -> None:
    # A merge lives as long as its longest source: each source that ended early kept its pump
    # task (its coroutine, its context) and its iterator until then, about a kilobyte a source
    # in a merge of many.
    pumps: list[weakref.ref[asyncio.Task[Any]]] = []
    iterators: list[weakref.ref[AsyncIterator[str]]] = []

    async def short() -> AsyncIterator[str]:
        task = asyncio.current_task()  # the source runs in its pump
        assert task is not None
        pumps.append(weakref.ref(task))
        del task
        yield "short"

    class Fresh:
        """An async iterable making its iterator when read, as a pipeline does."""

        def __aiter__(self) -> AsyncIterator[str]:
            iterator = short()
            iterators.append(weakref.ref(iterator))
            return iterator

    merged = ops.merge(timed((0.1, "long"), (1.0, "later")), *(Fresh() for _ in range(10)))
    async with merged.stream() as streamer:
        assert [await anext(streamer) for _ in range(11)] == ["short"] * 10 + ["long"]
        assert len(pumps) == len(iterators) == 10
        assert [ref() for ref in pumps] == [None] * 10
        assert [ref() for ref in iterators] == [None] * 10
        assert await anext(streamer) == "later"


class _Rows:
    """An async iterator (not a generator) whose `aclose` awaits: a connection given back, say."""

    def __init__(self, name: str, count: int, log: list[str], *, fails: bool = False, closing: float = 1.0) -> None:
        self.name, self.count, self.fails, self.closing, self.log = name, count, fails, closing, log
        self.sent = 0

    def __aiter__(self) -> _Rows:
        return self

    async def __anext__(self) -> str:
        if self.sent == self.count:
            if self.fails:
                raise LookupError(f"{self.name} failed")
            raise StopAsyncIteration
        self.sent += 1
        await asyncio.sleep(0)
        return f"{self.name}{self.sent}"

    async def aclose(self) -> None:
        self.log.append(f"{self.name} closing")
        try:
            await asyncio.sleep(self.closing)
        except asyncio.CancelledError:
            self.log.append(f"{self.name} close cancelled")
            raise
        self.log.append(f"{self.name} closed")


@pytest.mark.anyio
async def test_merge_lets_a_source_that_ended_finish_closing() -> None:
    # Every source ended: merge knew it, and still cancelled the `aclose` each one was awaiting.
    log: list[str] = []
    received = await items(ops.merge(_Rows("a", 2, log), _Rows("b", 1, log)))
    assert received == ["a1", "b1", "a2"]
    assert sorted(log) == ["a closed", "a closing", "b closed", "b closing"]


@pytest.mark.anyio
async def test_merge_lets_a_failed_source_finish_closing_and_cancels_the_reads_under_way() -> None:
    log: list[str] = []
    with pytest.raises(LookupError, match=r"^a failed$"):
        await items(ops.merge(_Rows("a", 1, log, fails=True), timed((0.0, "x"), end=9.0, log=log)))
    assert sorted(log) == ["a closed", "a closing", "closed"]


@pytest.mark.anyio
async def test_merge_stopped_early_lets_an_ended_source_finish_closing() -> None:
    # The consumer stops while one source is closing after its end and another is always ready:
    # the ready one's read is cancelled, the ended one's close is waited for.
    log: list[str] = []
    received = await items(ops.merge(_Rows("a", 1, log), counting("b", log)) | ops.take(4))
    assert received == ["b0", "a1", "b1", "b2"]
    assert sorted(log) == ["a closed", "a closing", "b closed"]


@pytest.mark.anyio
async def test_merge_passes_a_second_cancellation_on_to_an_ended_sources_close() -> None:
    log: list[str] = []
    tasks = asyncio.all_tasks()
    consumer = asyncio.create_task(
        items(ops.merge(_Rows("a", 1, log, closing=3600.0), timed((0.0, "x"), end=9.0, log=log)))
    )
    await asyncio.sleep(2.0)  # "a" ended at once, and is closing
    consumer.cancel()
    await asyncio.sleep(0.5)
    assert sorted(log) == ["a closing", "closed"]  # the waiting read is cancelled, the close goes on
    consumer.cancel()  # "stop now"
    await asyncio.wait([consumer])
    assert consumer.cancelled()
    assert sorted(log) == ["a close cancelled", "a closing", "closed"]
    assert asyncio.all_tasks() - tasks == set()


# ids on merged streams


async def ticks(*ids: str | None) -> AsyncIterator[Tick]:
    for i, event_id in enumerate(ids):
        yield Tick(data=i, id=event_id)


@pytest.mark.anyio
async def test_merge_ids_are_composite_cursors_of_every_sources_position() -> None:
    left = timed((0.0, Tick(data=0, id="0")), (1.0, Tick(data=1, id="1")))
    right = timed((0.5, Tock(data="x", id="7")), (1.5, Tock(data="y", id="8")))
    received = await items(ops.merge(left, right, ids=("echo", "reverse")))
    assert [event.id for event in received] == ["echo:0", "echo:0,reverse:7", "echo:1,reverse:7", "echo:1,reverse:8"]
    assert [event.data for event in received] == [0, "x", 1, "y"]


@pytest.mark.anyio
async def test_merge_ids_resume_keeps_the_positions_of_sources_that_have_not_moved() -> None:
    resume = ops.cursors("echo:3,reverse:2")
    received = await items(ops.merge(ops.source([]), ticks("3"), ids=("echo", "reverse"), resume=resume))
    assert [event.id for event in received] == ["echo:3,reverse:3"]


@pytest.mark.anyio
async def test_merge_ids_leave_events_without_an_id_alone() -> None:
    received = await items(ops.merge(ticks(None, "1"), ids=("only",)))
    assert [event.id for event in received] == [None, "only:1"]


@pytest.mark.anyio
async def test_merge_ids_drop_a_source_whose_id_resets_so_it_starts_over_on_resume() -> None:
    left = timed((0.0, Tick(data=0, id="7")), (1.0, Tick(data=1, id="")), (2.0, Tick(data=2, id="8")))
    right = timed((0.5, Tock(data="x", id="3")))
    received = await items(ops.merge(left, right, ids=("a", "b")))
    assert [event.id for event in received] == ["a:7", "a:7,b:3", "b:3", "a:8,b:3"]
    # Resumed from the reset, `a` has no position: it starts over, as it would unmerged.
    assert ops.cursors(received[2].id) == {"b": "3"}
    # The last source to reset leaves an empty id, which resets the client's: it reconnects afresh.
    received = await items(ops.merge(ticks("7", ""), ids=("a",)))
    assert [event.id for event in received] == ["a:7", ""]


@pytest.mark.anyio
async def test_merge_ids_resume_gives_an_empty_position_no_part() -> None:
    received = await items(ops.merge(ops.source([]), ticks("3"), ids=("a", "b"), resume={"a": "", "b": "2"}))
    assert [event.id for event in received] == ["b:3"]


@pytest.mark.anyio
async def test_merge_ids_escape_separators_so_any_id_round_trips() -> None:
    received = await items(ops.merge(ticks("a,b:c %"), ids=("s,1:x",)))
    assert [event.id for event in received] == ["s%2C1%3Ax:a%2Cb%3Ac%20%25"]
    assert ops.cursors(received[0].id) == {"s,1:x": "a,b:c %"}


@pytest.mark.anyio
async def test_merge_ids_refuse_items_that_are_not_events() -> None:
    with pytest.raises(TypeError, match=r"^merge\(ids=\.\.\.\) rewrites event ids, but source 'n' yielded int, "):
        await items(ops.merge(ops.source([1]), ids=("n",)))


@pytest.mark.parametrize(
    ("ids", "error", "message"),
    [
        (
            "ab",
            TypeError,
            r"^merge\(ids=\.\.\.\) takes one name per source, e\.g\. ids=\('echo', 'reverse'\), not 'ab'$",
        ),
        (("a",), ValueError, r"^merge\(ids=\.\.\.\) needs one name per source: got 1 names for 2 sources$"),
        (("a", "a"), ValueError, r"^merge\(ids=\.\.\.\) names must be unique, got \('a', 'a'\)$"),
        (("a", ""), ValueError, r"^merge\(ids=\.\.\.\) names must be non-empty strings, got ''$"),
        ((1, 2), TypeError, r"^merge\(ids=\.\.\.\) names must be non-empty strings, got 1$"),
        (
            ("a", "b\ud800"),
            ValueError,
            r"^merge\(ids=\.\.\.\) names must be valid Unicode \(no lone surrogate\), got 'b\\ud800'$",
        ),
    ],
    ids=["a-string", "too-few", "duplicates", "empty", "not-strings", "lone-surrogate"],
)
def test_merge_ids_are_checked_when_the_stream_is_built(ids: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ops.merge(ops.source([]), ops.source([]), ids=ids)


@pytest.mark.parametrize(
    ("resume", "message"),
    [
        (
            "a:1,b:2",
            r"^merge\(resume=\.\.\.\) takes the positions that ops\.cursors\(last_event_id\) gives, not the id",
        ),
        ([("a", "1")], r"^merge\(resume=\.\.\.\) takes a mapping of source names to positions, got \[\('a', '1'\)\]$"),
        ({"a": 3}, r"^merge\(resume=\.\.\.\) maps names to positions, both strings, got 'a': 3$"),
    ],
    ids=["the-id-itself", "not-a-mapping", "not-strings"],
)
def test_merge_resume_is_checked_when_the_stream_is_built(resume: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        ops.merge(ops.source([]), ops.source([]), ids=("a", "b"), resume=resume)


def test_merge_resume_position_that_cannot_be_encoded_is_refused_when_the_stream_is_built() -> None:
    # Percent-encoding writes UTF-8: a lone surrogate would fail only once the stream started.
    message = r"^merge\(resume=\.\.\.\) positions must be valid Unicode \(no lone surrogate\), got '\\ud800'$"
    with pytest.raises(ValueError, match=message):
        ops.merge(ops.source([]), ops.source([]), ids=("a", "b"), resume={"a": "\ud800"})


def test_merge_resume_without_ids_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^merge\(resume=\.\.\.\) needs ids=\.\.\., "):
        ops.merge(ops.source([]), resume={"a": "1"})


@pytest.mark.parametrize(
    ("last_event_id", "positions"),
    [
        (None, {}),
        ("", {}),
        ("17", {}),
        ("echo:3,reverse:2", {"echo": "3", "reverse": "2"}),
        ("echo:3,junk,:9,reverse:", {"echo": "3", "reverse": ""}),
        ("stream:1700000000000-0", {"stream": "1700000000000-0"}),
    ],
    ids=["none", "empty", "not-composite", "two", "malformed-parts", "redis-id"],
)
def test_cursors_split_a_merged_id_into_positions(last_event_id: str | None, positions: dict[str, str]) -> None:
    assert ops.cursors(last_event_id) == positions


# take, filter, map, scan, start_with, concat, chain, source


# The operators that end on an item of their own deciding, and close the source there.
TAKING = {
    "take": lambda source: source | ops.take(2),
    "take_while-inclusive": lambda source: source | ops.take_while(lambda item: item != "1", inclusive=True),
    "take_while": lambda source: source | ops.take_while(lambda item: item != "2"),
}


@pytest.mark.parametrize("group", ["anyio", "asyncio"])
@pytest.mark.parametrize("taking", list(TAKING))
@pytest.mark.anyio
async def test_take_ends_cleanly_over_a_source_held_at_a_yield_in_a_task_group(taking: str, group: str) -> None:
    # The source is closed at its `yield` inside a task group, which raises the close's
    # `GeneratorExit` back in a `BaseExceptionGroup`: the stream failed with it after one item,
    # and a response sent its error event in place of a clean end.
    log: list[str] = []
    assert await items(TAKING[taking](_grouped(group, log, pause=None))) == ["0", "1"]
    assert log == ["closed"]


@pytest.mark.anyio
async def test_take_stops_and_closes_the_source_without_reading_ahead() -> None:
    pulled: list[int] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in itertools.count():
                pulled.append(i)
                yield i
        finally:
            pulled.append(-1)

    assert await items(numbers() | ops.take(3)) == [0, 1, 2]
    assert pulled == [0, 1, 2, -1]


async def cleanup_fails() -> AsyncIterator[int]:
    """Counts up for ever; closing it raises."""
    try:
        for i in itertools.count():
            yield i
    finally:
        raise RuntimeError("cleanup failed")


# Two operators that end on an item and hand it out last: the second item, here.
ENDS_ON_THE_SECOND = {
    "take": lambda: ops.take(2),
    "take_while-inclusive": lambda: ops.take_while(lambda item: item not in ("a1", 1), inclusive=True),
}


@pytest.mark.parametrize("pipe", list(ENDS_ON_THE_SECOND))
@pytest.mark.anyio
async def test_last_item_goes_out_after_its_source_is_closed(pipe: str) -> None:
    log: list[str] = []
    async with (counting("a", log) | ENDS_ON_THE_SECOND[pipe]()).stream() as streamer:
        assert [await anext(streamer), log] == ["a0", []]
        assert [await anext(streamer), log] == ["a1", ["a closed"]]  # not on the next pull only
        with pytest.raises(StopAsyncIteration):
            await anext(streamer)


@pytest.mark.parametrize("pipe", list(ENDS_ON_THE_SECOND))
@pytest.mark.anyio
async def test_last_item_goes_out_before_the_sources_cleanup_error(pipe: str) -> None:
    async with (cleanup_fails() | ENDS_ON_THE_SECOND[pipe]()).stream() as streamer:
        assert [await anext(streamer), await anext(streamer)] == [0, 1]
        with pytest.raises(RuntimeError, match="cleanup failed"):
            await anext(streamer)


@pytest.mark.parametrize("pipe", list(ENDS_ON_THE_SECOND))
@pytest.mark.anyio
async def test_last_item_leaves_no_cycle_when_the_sources_cleanup_fails(pipe: str) -> None:
    async def run() -> None:
        with pytest.raises(RuntimeError, match="cleanup failed"):
            await items(cleanup_fails() | ENDS_ON_THE_SECOND[pipe]())

    assert await garbage_of(run) == []


@pytest.mark.parametrize("pipe", list(ENDS_ON_THE_SECOND))
@pytest.mark.anyio
async def test_last_item_leaves_no_cycle_when_the_consumer_stops_before_the_cleanup_error(pipe: str) -> None:
    async def run() -> None:
        async with (cleanup_fails() | ENDS_ON_THE_SECOND[pipe]()).stream() as streamer:
            assert [await anext(streamer), await anext(streamer)] == [0, 1]
        # The consumer stopped at the last item: the cleanup's error, not yet raised, is dropped.

    assert await garbage_of(run) == []


@pytest.mark.anyio
async def test_take_zero_closes_the_source_without_reading() -> None:
    pulled: list[int] = []

    async def numbers() -> AsyncIterator[int]:
        pulled.append(0)
        yield 0

    assert await items(numbers() | ops.take(0)) == []
    assert pulled == []


@pytest.mark.anyio
async def test_take_while_ends_at_the_first_refused_item_and_closes_the_source() -> None:
    pulled: list[int] = []

    async def numbers() -> AsyncIterator[int]:
        try:
            for i in itertools.count():
                pulled.append(i)
                yield i
        finally:
            pulled.append(-1)

    assert await items(numbers() | ops.take_while(lambda value: value < 3)) == [0, 1, 2]
    assert pulled == [0, 1, 2, 3, -1]  # the refused item is read, nothing after it


@pytest.mark.anyio
async def test_take_while_ends_when_the_refused_item_arrives() -> None:
    # Not after the last item it forwarded: it cannot know that item was the last until then.
    schedule = ((0.0, 1), (0.2, 2), (0.4, 9), (0.6, 3))
    received: list[tuple[float, Any]] = []
    start = now()
    await drain(timed(*schedule) | ops.take_while(lambda value: value < 5), received)
    assert received == [(0.0, 1), (0.2, 2)]
    assert round(now() - start, 6) == 0.4


@pytest.mark.anyio
async def test_take_while_inclusive_sends_the_deciding_item_last() -> None:
    sent = [Tick(data=1), Tick(data=2), Tock(data="done"), Tick(data=3)]
    until_done = ops.take_while(lambda event: not isinstance(event, Tock), inclusive=True)
    assert await items(ops.source(sent) | until_done) == sent[:3]
    assert await items(ops.source([Tick(data=1)]) | until_done) == [Tick(data=1)]  # the source ended first
    assert await items(ops.source(sent) | ops.take_while(lambda event: False, inclusive=True)) == sent[:1]


@pytest.mark.anyio
async def test_take_while_raises_the_sources_cleanup_error_when_it_refuses_an_item() -> None:
    with pytest.raises(RuntimeError, match="cleanup failed"):
        await items(cleanup_fails() | ops.take_while(lambda value: value < 1))


@pytest.mark.anyio
async def test_take_while_accepts_sync_and_async_predicates() -> None:
    async def small(value: int) -> bool:
        return value < 2

    assert await items(ops.source(range(6)) | ops.take_while(small)) == [0, 1]
    assert await items(ops.source(range(6)) | ops.take_while(IsOdd())) == []
    assert await items(ops.source([1, 3, 4, 5]) | ops.take_while(IsOdd(), inclusive=True)) == [1, 3, 4]
    assert await items(ops.source(range(6)) | ops.take_while(lambda value: small(value))) == [0, 1]


@pytest.mark.anyio
async def test_skip_drops_the_first_items() -> None:
    assert await items(ops.source(range(5)) | ops.skip(2)) == [2, 3, 4]
    assert await items(ops.source(range(5)) | ops.skip(0)) == [0, 1, 2, 3, 4]
    assert await items(ops.source(range(2)) | ops.skip(5)) == []


@pytest.mark.anyio
async def test_distinct_until_changed_forwards_changes_only() -> None:
    assert await items(ops.source([None, None, 1, 1, 2, 1, 1]) | ops.distinct_until_changed()) == [None, 1, 2, 1]
    words = ["a", "b", "cc", "dd", "e"]
    assert await items(ops.source(words) | ops.distinct_until_changed(key=len)) == ["a", "cc", "e"]


@pytest.mark.anyio
async def test_distinct_until_changed_compares_events_whole_unless_given_a_key() -> None:
    sent = [Tick(data=1, id="1"), Tick(data=1, id="2"), Tick(data=2, id="3"), Tick(data=2, id="4"), Tick(data=1)]
    assert await items(ops.source(sent) | ops.distinct_until_changed()) == sent  # the ids differ
    by_data = ops.distinct_until_changed(key=lambda event: event.data)
    assert await items(ops.source(sent) | by_data) == [sent[0], sent[2], sent[4]]


@pytest.mark.anyio
async def test_distinct_until_changed_refuses_a_key_that_gives_awaitables() -> None:
    # Each awaitable differs from the last: nothing would ever be dropped.
    async def kind(item: str) -> str:
        return item[0]

    log: list[str] = []
    pipeline = timed((0.0, "A1"), (0.1, "A2"), log=log) | ops.distinct_until_changed(key=lambda item: kind(item))
    with pytest.raises(TypeError, match=r"^distinct_until_changed\(key=\.\.\.\) returned a coroutine, an awaitable: "):
        await items(pipeline)
    assert log == ["closed"]


@pytest.mark.anyio
async def test_tap_calls_the_function_before_each_item_goes_on() -> None:
    seen: list[int] = []
    assert await items(ops.source(range(3)) | ops.tap(seen.append)) == [0, 1, 2]
    assert seen == [0, 1, 2]


@pytest.mark.anyio
async def test_tap_awaits_each_call_without_reading_ahead() -> None:
    log: list[str] = []

    async def numbers() -> AsyncIterator[int]:
        for i in range(2):
            log.append(f"pulled {i}")
            yield i

    async def record(value: int) -> None:
        await asyncio.sleep(1.0)
        log.append(f"tapped {value}")

    received = await collect(numbers() | ops.tap(record))
    assert received == [(1.0, 0), (2.0, 1)]
    assert log == ["pulled 0", "tapped 0", "pulled 1", "tapped 1"]
    assert await items(ops.source([1, 2]) | ops.tap(IsOdd())) == [1, 2]  # an async callable object
    assert await items(ops.source([1, 2]) | ops.tap(lambda value: record(value))) == [1, 2]  # a returned coroutine
    assert log[-2:] == ["tapped 1", "tapped 2"]


@pytest.mark.anyio
async def test_tap_failure_ends_the_stream_and_closes_the_source() -> None:
    log: list[str] = []

    def refuse(item: str) -> None:
        if item == "a1":
            raise ValueError("metrics backend down")

    received: list[tuple[float, Any]] = []
    with pytest.raises(ValueError, match="metrics backend down"):
        await drain(counting("a", log) | ops.tap(refuse), received)
    assert [item for _, item in received] == ["a0"]
    assert log == ["a closed"]


@pytest.mark.anyio
async def test_filter_accepts_sync_and_async_predicates() -> None:
    async def odd(value: int) -> bool:
        return value % 2 == 1

    assert await items(ops.source(range(6)) | ops.filter(lambda value: value > 2)) == [3, 4, 5]
    assert await items(ops.source(range(6)) | ops.filter(odd)) == [1, 3, 5]


@pytest.mark.anyio
async def test_filter_and_take_while_take_any_answer_by_its_truth() -> None:
    # As the builtin `filter` does: a pattern's `Match` or `None`, a list that may be empty.
    words = re.compile(r"[a-z]+")
    lines = ["abc", "123", "de", "4"]
    assert await items(ops.source(lines) | ops.filter(words.fullmatch)) == ["abc", "de"]
    assert await items(ops.source(lines) | ops.take_while(words.fullmatch)) == ["abc"]
    assert await items(ops.source(lines) | ops.take_while(words.fullmatch, inclusive=True)) == ["abc", "123"]

    async def letters(line: str) -> list[str]:
        return [char for char in line if char.isalpha()]

    assert await items(ops.source(lines) | ops.filter(letters)) == ["abc", "de"]
    assert await items(ops.source(lines) | ops.take_while(letters)) == ["abc"]


class IsOdd:
    """An async callable object: `inspect.iscoroutinefunction` is false for it."""

    async def __call__(self, value: int) -> bool:
        await asyncio.sleep(1.0)
        return value % 2 == 1


@pytest.mark.anyio
async def test_filter_awaits_the_answer_of_any_async_callable() -> None:
    assert await collect(ops.source(range(4)) | ops.filter(IsOdd())) == [(2.0, 1), (4.0, 3)]
    assert await items(ops.source(range(4)) | ops.filter(lambda value: IsOdd()(value))) == [1, 3]


@pytest.mark.anyio
async def test_filter_with_a_type_guard_narrows() -> None:
    def is_tick(event: Tick | Tock) -> TypeGuard[Tick]:
        return isinstance(event, Tick)

    events = ops.source([Tick(data=1), Tock(data="a"), Tick(data=2)])
    assert await items(events | ops.filter(is_tick)) == [Tick(data=1), Tick(data=2)]


@pytest.mark.anyio
async def test_map_applies_sync_and_async_functions() -> None:
    async def later(value: int) -> str:
        await asyncio.sleep(1.0)
        return str(value)

    assert await items(ops.source(range(3)) | ops.map(lambda value: value * 10)) == [0, 10, 20]
    assert await items(ops.source(range(3)) | ops.map(str, concurrency=1)) == ["0", "1", "2"]
    assert await collect(ops.source(range(3)) | ops.map(later)) == [(1.0, "0"), (2.0, "1"), (3.0, "2")]


class Later:
    """An async callable object: `inspect.iscoroutinefunction` is false for it."""

    async def __call__(self, value: int) -> str:
        await asyncio.sleep(3.0 - value)
        return str(value)


@pytest.mark.anyio
async def test_map_awaits_the_result_of_any_async_callable() -> None:
    assert await collect(ops.source(range(3)) | ops.map(Later())) == [(3.0, "0"), (5.0, "1"), (6.0, "2")]
    assert await collect(ops.source(range(3)) | ops.map(Later(), concurrency=3)) == [(3.0, "0"), (3.0, "1"), (3.0, "2")]
    assert await items(ops.source(range(3)) | ops.map(lambda value: Later()(value))) == ["0", "1", "2"]


@pytest.mark.anyio
async def test_map_concurrency_runs_calls_at_once_and_keeps_the_order() -> None:
    async def later(value: int) -> int:
        await asyncio.sleep(3.0 - value)
        return value

    assert await collect(ops.source(range(3)) | ops.map(later, concurrency=3)) == [(3.0, 0), (3.0, 1), (3.0, 2)]


@pytest.mark.anyio
async def test_map_concurrency_reads_ahead_only_as_far_as_its_limit() -> None:
    pulled: list[int] = []

    async def counted() -> AsyncIterator[int]:
        for i in range(10):
            pulled.append(i)
            yield i

    async def slow(value: int) -> int:
        await asyncio.sleep(1.0)
        return value

    async with (counted() | ops.map(slow, concurrency=3)).stream() as streamer:
        assert await anext(streamer) == 0
        await asyncio.sleep(0.5)
        assert pulled == [0, 1, 2, 3]  # three calls out (1, 2, 3), the first result taken


@pytest.mark.anyio
async def test_map_concurrency_sends_earlier_results_before_an_error() -> None:
    async def source() -> AsyncIterator[int]:
        yield 1
        yield 2
        raise LookupError("source failed")

    async def fails_on_two(value: int) -> int:
        await asyncio.sleep(3.0 - value)
        if value == 2:
            raise ValueError("call failed")
        return value

    received: list[tuple[float, Any]] = []
    with pytest.raises(ValueError, match="call failed"):
        await drain(source() | ops.map(fails_on_two, concurrency=2), received)
    assert received == [(2.0, 1)]  # in the source's order; the source's own error never came up
    received.clear()
    with pytest.raises(LookupError, match="source failed"):
        await drain(source() | ops.map(_later_copy, concurrency=2), received)
    assert [item for _, item in received] == [1, 2]


async def _copy(item: Any) -> Any:
    return item


class _FailsOnTwo:
    """An async function to `inspect.iscoroutinefunction`, whose call raises before giving a coroutine.

    Function-like, as a compiled async function is; one marked by hand
    (`inspect.markcoroutinefunction`, Python 3.12+) can raise so too.
    """

    __name__ = "fails_on_two"
    __code__ = _copy.__code__
    __defaults__ = None
    __kwdefaults__ = None

    def __init__(self, error: type[BaseException]) -> None:
        self.error = error

    def __call__(self, item: int) -> Awaitable[int]:
        if item == 2:
            raise self.error
        return _copy(item)


async def _assert_fails_at_two(operator: Any, error: type[BaseException]) -> None:
    """Items 0 to 4, 0.1 s apart, through `operator`, which raises `error` at 2: the consumer
    gets 0 and 1, then `error` (or its cancellation), and the source is closed."""
    log: list[str] = []
    received: list[tuple[float, Any]] = []
    pipeline = timed(*((0.1 * i, i) for i in range(5)), log=log) | operator
    consumer = asyncio.create_task(drain(pipeline, received))
    done, _ = await asyncio.wait([consumer], timeout=100.0)
    assert consumer in done, "the consumer waits for ever"
    if error is asyncio.CancelledError:
        assert consumer.cancelled()
    else:
        assert isinstance(consumer.exception(), Halt)
    assert received == [(0.0, 0), (0.1, 1)]
    assert log == ["closed"]


@pytest.mark.parametrize("error", [asyncio.CancelledError, Halt])
@pytest.mark.anyio
async def test_map_concurrency_passes_on_what_a_call_raises_besides_exceptions(error: type[BaseException]) -> None:
    # The call is made in the operator's own task: what it raised there beyond `Exception` ended
    # that task alone, and the consumer waited for ever. It is the call's outcome, in its turn.
    await _assert_fails_at_two(ops.map(_FailsOnTwo(error), concurrency=2), error)


@pytest.mark.anyio
async def test_map_concurrency_cancels_its_calls_when_the_consumer_stops() -> None:
    ended: list[str] = []

    async def slow(value: int) -> int:
        try:
            await asyncio.sleep(10.0 + value)
            return value
        finally:
            ended.append(f"call {value}")

    tasks = asyncio.all_tasks()
    async with (ops.source(range(5)) | ops.map(slow, concurrency=3) | ops.take(1)).stream() as streamer:
        assert [item async for item in streamer] == [0]
    assert sorted(ended) == ["call 0", "call 1", "call 2"]  # 1 and 2 cancelled; 3 never started
    assert asyncio.all_tasks() - tasks == set()


@pytest.mark.anyio
async def test_scan_sends_the_state_after_each_item() -> None:
    async def total_later(total: int, value: int) -> int:
        return total + value

    assert await items(ops.source([1, 2, 3]) | ops.scan(lambda total, value: total + value, 10)) == [11, 13, 16]
    assert await items(ops.source([1, 2, 3]) | ops.scan(total_later, 0)) == [1, 3, 6]


@pytest.mark.anyio
async def test_start_with_concat_and_chain_keep_the_given_order() -> None:
    assert await items(ops.source([3, 4]) | ops.start_with(1, 2)) == [1, 2, 3, 4]
    assert await items(ops.source([1]) | ops.concat(ops.source([2]), ops.source([3]))) == [1, 2, 3]
    assert await items(ops.chain(ops.source("ab"), ops.source([1]))) == ["a", "b", 1]


@pytest.mark.anyio
async def test_end_with_sends_its_items_after_the_source_ends_and_none_after_a_failure() -> None:
    assert await items(ops.source([1, 2]) | ops.end_with("x", "y")) == [1, 2, "x", "y"]
    assert await items(ops.source([1, 2]) | ops.end_with()) == [1, 2]

    async def fails() -> AsyncIterator[int]:
        yield 1
        raise RuntimeError("model went away")

    seen: list[object] = []

    async def consume() -> None:
        async with (fails() | ops.end_with("done")).stream() as streamer:
            async for item in streamer:
                seen.append(item)

    with pytest.raises(RuntimeError, match="model went away"):
        await consume()
    assert seen == [1]  # no closing item after a failure: a `Done` would say all went well


@pytest.mark.anyio
async def test_end_with_stopped_early_closes_the_source() -> None:
    log: list[str] = []
    assert await items(counting("a", log) | ops.end_with("z") | ops.take(2)) == ["a0", "a1"]
    assert log == ["a closed"]


@pytest.mark.anyio
async def test_chain_of_no_sources_ends_at_once_and_start_with_or_concat_of_none_adds_nothing() -> None:
    assert await items(ops.chain()) == []
    assert await items(ops.merge(ids=())) == []
    assert await items(ops.source([1, 2]) | ops.start_with()) == [1, 2]
    assert await items(ops.source([1, 2]) | ops.concat()) == [1, 2]


@pytest.mark.anyio
async def test_chain_opens_a_source_only_when_the_previous_one_ended() -> None:
    log: list[str] = []

    async def second() -> AsyncIterator[str]:
        log.append("opened")
        yield "b"

    assert await items(ops.chain(ops.source(["a"]), second()) | ops.take(1)) == ["a"]
    assert log == []


async def _primed(name: str, log: list[str]) -> AsyncIterator[str]:
    """A generator whose first item a caller read ahead of the chain ("peek, then chain")."""
    try:
        log.append(f"{name} started")
        yield f"{name}0"
        yield f"{name}1"
    finally:
        await asyncio.sleep(0.5)  # its cleanup awaits, in the chain's task
        log.append(f"{name} closed")


# The chain-like operators, each with `first` played ahead of `rest`.
CHAINED = {
    "chain": lambda first, *rest: ops.chain(first, *rest),
    "concat": lambda first, *rest: first | ops.concat(*rest),
}


@pytest.mark.parametrize("chained", list(CHAINED))
@pytest.mark.anyio
async def test_chain_stopped_early_closes_the_sources_it_did_not_reach(chained: str) -> None:
    # The consumer stops in the first source. A started generator after it, and an iterator
    # that holds a subscription since it was made, were left open: the generator's `finally`
    # ran when the loop shut down, and the subscription was never closed.
    log: list[str] = []
    peeked = _primed("p", log)
    assert await anext(peeked) == "p0"
    never_started = _primed("n", log)
    pipeline = ops.source(_primed("q", log))  # a pipeline makes its iterator when read: nothing open
    chain = CHAINED[chained](counting("a", log), peeked, never_started, _Rows("s", 1, log), pipeline)
    assert await items(chain | ops.take(2)) == ["a0", "a1"]
    assert log == ["p started", "a closed", "p closed", "s closing", "s closed"]
    assert await items(never_started) == []  # closed, never run


@pytest.mark.parametrize("group", ["anyio", "asyncio"])
@pytest.mark.parametrize("chained", list(CHAINED))
@pytest.mark.anyio
async def test_chain_closes_an_unreached_source_held_at_a_yield_in_a_task_group_quietly(
    chained: str, group: str
) -> None:
    # A started generator after the first source, suspended at a `yield` inside a task group:
    # its close raised a `BaseExceptionGroup` holding the `GeneratorExit`, which the chain took
    # for a failed cleanup and raised to the consumer.
    log: list[str] = []
    peeked = _grouped(group, log)
    assert await anext(peeked) == "0"
    assert await items(CHAINED[chained](counting("a"), peeked) | ops.take(2)) == ["a0", "a1"]
    assert log == ["closed"]


@pytest.mark.anyio
async def test_start_with_stopped_early_closes_a_started_source() -> None:
    log: list[str] = []
    primed = _primed("p", log)
    assert await anext(primed) == "p0"
    assert await items(primed | ops.start_with("x", "y") | ops.take(1)) == ["x"]
    assert log == ["p started", "p closed"]


@pytest.mark.parametrize("chained", list(CHAINED))
@pytest.mark.anyio
async def test_chain_closes_the_sources_it_did_not_reach_when_a_source_fails(chained: str) -> None:
    log: list[str] = []
    peeked = _primed("p", log)
    assert await anext(peeked) == "p0"
    failing_first = failing(1, error=ValueError("boom"), log=log)
    received: list[tuple[float, Any]] = []
    with pytest.raises(ValueError, match=r"^boom$"):
        await drain(CHAINED[chained](failing_first, peeked, _Rows("s", 1, log)), received)
    assert [item for _, item in received] == [Tick(data=1)]
    assert log == ["p started", "closed", "p closed", "s closing", "s closed"]


class _CloseRaises(_Rows):
    """A subscription whose `aclose` fails."""

    async def aclose(self) -> None:
        self.log.append(f"{self.name} closing")
        raise OSError(f"{self.name} cleanup failed")


@pytest.mark.anyio
async def test_chain_closes_every_unreached_source_and_chains_their_errors_to_the_failure() -> None:
    # Each close runs whatever the ones before raised; no error is lost: the last goes on, each
    # with the one before as its context, down to the failure that ended the chain.
    log: list[str] = []
    sources = (_CloseRaises("s", 1, log), _Rows("r", 1, log, closing=0.0), _CloseRaises("t", 1, log))
    with pytest.raises(OSError, match=r"^t cleanup failed$") as info:
        await items(ops.chain(failing(1, error=ValueError("boom")), *sources))
    assert log == ["s closing", "r closing", "r closed", "t closing"]
    first = info.value.__context__
    assert isinstance(first, OSError)
    assert str(first) == "s cleanup failed"
    assert isinstance(first.__context__, ValueError)
    assert str(first.__context__) == "boom"

    async def run() -> None:
        with pytest.raises(OSError, match=r"^t cleanup failed$"):
            await items(ops.chain(counting("a"), _CloseRaises("s", 1, []), _CloseRaises("t", 1, [])) | ops.take(1))

    assert await garbage_of(run) == []


@pytest.mark.anyio
async def test_chain_closes_thousands_of_unreached_sources_whose_closes_fail() -> None:
    # A close per level of recursion ran out of stack (a `RecursionError` past a thousand or
    # so), and the sources after that were never closed.
    log: list[str] = []
    sources = [_CloseRaises(f"s{i}", 1, log) for i in range(3_000)]
    with pytest.raises(OSError, match=r"^s2999 cleanup failed$") as info:
        await items(ops.chain(counting("a"), *sources) | ops.take(1))
    assert log == [f"s{i} closing" for i in range(3_000)]
    before = info.value.__context__
    assert isinstance(before, OSError)
    assert str(before) == "s2998 cleanup failed"


class _Unopenable:
    """An async iterable whose `__aiter__` fails: a subscription refused when it is opened."""

    def __aiter__(self) -> AsyncIterator[str]:
        raise ConnectionError("refused")


@pytest.mark.anyio
async def test_merge_closes_the_sources_after_one_it_cannot_open() -> None:
    # The sources before the one that failed to open were closed, those after it never were: a
    # started generator's `finally` ran when the loop shut down, a subscription never closed.
    log: list[str] = []
    before, after = _primed("b", log), _primed("p", log)
    assert await anext(before) == "b0"
    assert await anext(after) == "p0"
    with pytest.raises(ConnectionError, match=r"^refused$"):
        await items(ops.merge(before, _Unopenable(), after, _Rows("s", 1, log)))
    # Those after it first, as the failure goes by; then those opened, as the merge's context exits.
    assert log == ["b started", "p started", "p closed", "s closing", "s closed", "b closed"]


@pytest.mark.anyio
async def test_merge_closes_the_sources_before_one_it_cannot_open_without_throwing_its_error_in() -> None:
    # The error was thrown into the opened sources: one that caught it and ended made it
    # vanish, and the merge ended as if complete.
    log: list[str] = []
    before = _forgiving(log)
    assert await anext(before) == 0
    with pytest.raises(ConnectionError, match=r"^refused$"):
        await items(ops.merge(before, _Unopenable()))
    assert log == ["closed"]


@pytest.mark.anyio
async def test_chain_passes_a_second_cancellation_on_to_the_close_under_way_and_closes_the_rest() -> None:
    log: list[str] = []
    consumer = asyncio.create_task(
        items(ops.chain(timed((0.0, "x"), end=9.0, log=log), _Rows("s", 1, log, closing=3600.0), _Rows("t", 1, log)))
    )
    await asyncio.sleep(2.0)
    consumer.cancel()
    await asyncio.sleep(0.5)
    assert log == ["closed", "s closing"]  # the read is cancelled, the unreached source closing
    consumer.cancel()  # "stop now"
    await asyncio.wait([consumer])
    assert consumer.cancelled()
    assert log == ["closed", "s closing", "s close cancelled", "t closing", "t closed"]


@pytest.mark.anyio
async def test_pipes_apply_with_a_call_or_with_any_async_iterable_on_the_left() -> None:
    assert await items(ops.take(2)(counting("a"))) == ["a0", "a1"]
    assert await items(counting("a") | ops.take(2) | ops.map(str.upper)) == ["A0", "A1"]


def test_pipes_refuse_what_is_not_async_iterable() -> None:
    with pytest.raises(TypeError, match=r"^'list' object is not async iterable$"):
        ops.take(1)([1, 2])  # type: ignore[arg-type]


def test_pipes_describe_themselves() -> None:
    def symbol(item: str) -> str:
        return item[0]

    assert repr(ops.throttle(0.5, mode="latest", key=symbol)) == (
        "ops.throttle(0.5, mode='latest', key=test_pipes_describe_themselves.<locals>.symbol)"
    )
    assert repr(ops.chunk(size=3)) == "ops.chunk(size=3)"
    assert repr(ops.chunk(interval=0.05, leading=True)) == "ops.chunk(size=None, interval=0.05, leading=True)"
    # A large initial state is shown in brief, and one whose `repr` fails does not fail `scan()`.
    assert repr(ops.scan(max, list(range(100_000)))) == "ops.scan(max, [0, 1, 2, 3, 4, 5, ...])"
    assert repr(ops.scan(max, _ReprFails())).startswith("ops.scan(max, <_ReprFails instance at 0x")
    assert repr(ops.take(2)) == "ops.take(2)"


# argument checks


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ops.throttle(0), r"^throttle\(\) needs a positive number of seconds, got 0$"),
        (
            lambda: ops.throttle(1, mode="trailing"),
            r"^throttle\(mode=\.\.\.\) is 'leading' or 'latest', got 'trailing'$",
        ),
        (
            lambda: ops.throttle(float("inf"), mode="latest"),
            r"^throttle\(inf, mode='latest'\) never ends its window, so it would never send the item it keeps; "
            r"use mode='leading' to send only the first item$",
        ),
        (
            lambda: ops.throttle(10**400, mode="latest"),
            r"^throttle\(inf, mode='latest'\) never ends its window, so it would never send the item it keeps; "
            r"use mode='leading' to send only the first item$",
        ),
        (lambda: ops.debounce(-1), r"^debounce\(\) needs a positive number of seconds, got -1$"),
        (lambda: ops.timeout(float("nan")), r"^timeout\(\) needs a positive number of seconds, got nan$"),
        (lambda: ops.chunk(), r"^chunk\(\) needs size=\.\.\., interval=\.\.\., or both$"),
        (lambda: ops.chunk(size=0), r"^chunk\(size=\.\.\.\) must be a positive integer, got 0$"),
        (lambda: ops.chunk(interval=0), r"^chunk\(\) needs a positive number of seconds, got 0$"),
        (
            lambda: ops.chunk(size=3, leading=True),
            r"^chunk\(leading=True\) needs interval=\.\.\.: the window its first item opens is that long$",
        ),
        (lambda: ops.take(-1), r"^take\(\) needs a non-negative integer, got -1$"),
        (lambda: ops.skip(-1), r"^skip\(\) needs a non-negative integer, got -1$"),
        (lambda: ops.map(str, concurrency=0), r"^map\(concurrency=\.\.\.\) must be a positive integer, got 0$"),
        (
            lambda: ops.map(str, concurrency=2),
            r"^map\(concurrency=\.\.\.\) applies to async functions only; str is sync$",
        ),
    ],
    ids=[
        "throttle-interval",
        "throttle-mode",
        "throttle-latest-forever",
        "throttle-latest-beyond-float",
        "debounce-interval",
        "timeout-nan",
        "chunk-nothing",
        "chunk-size",
        "chunk-interval",
        "chunk-leading-without-interval",
        "take-negative",
        "skip-negative",
        "map-concurrency",
        "map-concurrency-sync",
    ],
)
def test_operators_check_their_arguments_when_built(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ops.source(5), r"^source\(\) needs an async iterable or an iterable, got 5$"),
        (lambda: ops.map(5), r"^map\(\) needs a function, got 5$"),
        (lambda: ops.filter(None), r"^filter\(\) needs a function, got None$"),
        (lambda: ops.scan("add", 0), r"^scan\(\) needs a function, got 'add'$"),
        (lambda: ops.catch(Failed(data="?")), r"^catch\(\) needs a function, got Failed\(.*\)$"),
        (lambda: ops.throttle(1, key="symbol"), r"^throttle\(key=\.\.\.\) needs a function, got 'symbol'$"),
        (
            lambda: ops.throttle(Decimal("0.5")),
            r"^throttle\(\) needs a positive number of seconds, got Decimal\('0\.5'\)$",
        ),
        (lambda: ops.debounce("1"), r"^debounce\(\) needs a positive number of seconds, got '1'$"),
        (lambda: ops.timeout(None), r"^timeout\(\) needs a positive number of seconds, got None$"),
        (lambda: ops.chunk(interval=Decimal(1)), r"^chunk\(\) needs a positive number of seconds, got Decimal\('1'\)$"),
        (lambda: ops.take(2.5), r"^take\(\) needs a non-negative integer, got 2\.5$"),
        (lambda: ops.take(float("nan")), r"^take\(\) needs a non-negative integer, got nan$"),
        (lambda: ops.take("3"), r"^take\(\) needs a non-negative integer, got '3'$"),
        (lambda: ops.skip(1.5), r"^skip\(\) needs a non-negative integer, got 1\.5$"),
        (lambda: ops.take(True), r"^take\(\) needs a non-negative integer, got True$"),
        (lambda: ops.chunk(size=True), r"^chunk\(size=\.\.\.\) must be a positive integer, got True$"),
        (lambda: ops.chunk(interval=0.05, leading="yes"), r"^chunk\(leading=\.\.\.\) is True or False, got 'yes'$"),
        (lambda: ops.debounce(True), r"^debounce\(\) needs a positive number of seconds, got True$"),
        (lambda: ops.timeout(True), r"^timeout\(\) needs a positive number of seconds, got True$"),
        (lambda: ops.take_while(None), r"^take_while\(\) needs a function, got None$"),
        (lambda: ops.tap("log"), r"^tap\(\) needs a function, got 'log'$"),
        (
            lambda: ops.distinct_until_changed(key="symbol"),
            r"^distinct_until_changed\(key=\.\.\.\) needs a function, got 'symbol'$",
        ),
        (
            lambda: ops.distinct_until_changed(key=IsOdd()),
            r"^distinct_until_changed\(key=\.\.\.\) needs a sync function, got .*IsOdd.*, an async one$",
        ),
        (lambda: ops.chunk(size=float("nan")), r"^chunk\(size=\.\.\.\) must be a positive integer, got nan$"),
        (
            lambda: ops.map(asyncio.sleep, concurrency=1.5),
            r"^map\(concurrency=\.\.\.\) must be a positive integer, got 1\.5$",
        ),
        (
            lambda: ops.catch(lambda exc: None, exceptions="ValueError"),
            r"^catch\(exceptions=\.\.\.\) takes subclasses of Exception, got 'ValueError'$",
        ),
        (
            lambda: ops.catch(lambda exc: None, exceptions=(ValueError, None)),
            r"^catch\(exceptions=\.\.\.\) takes subclasses of Exception, got \(<class 'ValueError'>, None\)$",
        ),
        (
            lambda: ops.catch(lambda exc: None, exceptions=asyncio.CancelledError),
            r"^catch\(exceptions=\.\.\.\) takes subclasses of Exception, got <class '.*CancelledError'>$",
        ),
    ],
    ids=[
        "source-not-iterable",
        "map-not-callable",
        "filter-none",
        "scan-not-callable",
        "catch-not-callable",
        "throttle-key-not-callable",
        "throttle-decimal",
        "debounce-str",
        "timeout-none",
        "chunk-interval-decimal",
        "take-float",
        "take-nan",
        "take-str",
        "skip-float",
        "take-bool",
        "chunk-size-bool",
        "chunk-leading-not-bool",
        "debounce-bool",
        "timeout-bool",
        "take-while-none",
        "tap-not-callable",
        "distinct-key-not-callable",
        "distinct-key-async",
        "chunk-size-nan",
        "map-concurrency-float",
        "catch-not-a-class",
        "catch-tuple-with-none",
        "catch-cancellation",
    ],
)
def test_operators_refuse_arguments_of_the_wrong_type_when_built(build: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        build()


@pytest.mark.parametrize("mode", ["leading", "latest"])
@pytest.mark.anyio
async def test_throttle_raises_a_cleanup_error_after_its_key_failed(mode: ops.ThrottleMode) -> None:
    # The key fails while the source is open; closing the source then fails too. Both reach the
    # consumer, chained: in latest mode the cleanup's error was left in the pump's task
    # ("Task exception was never retrieved").
    async def source() -> AsyncIterator[int]:
        try:
            for i in range(10):
                yield i
                await asyncio.sleep(0.001)
        finally:
            raise OSError("cleanup failed")

    def key(item: int) -> int:
        if item == 2:
            raise ValueError("key failed")
        return 0

    with pytest.raises(OSError, match="cleanup failed") as info:
        await items(source() | ops.throttle(0.0001, mode=mode, key=key))
    assert isinstance(info.value.__context__, ValueError)


@pytest.mark.parametrize("error", [asyncio.CancelledError, Halt])
@pytest.mark.parametrize("mode", ["leading", "latest"])
@pytest.mark.anyio
async def test_throttle_passes_on_what_its_key_raises_besides_exceptions(
    mode: ops.ThrottleMode, error: type[BaseException]
) -> None:
    # In latest mode the key runs in the operator's own task: what it raised beyond `Exception`
    # ended that task alone, and the consumer waited for ever. Both modes pass it on at once.
    def key(item: int) -> int:
        if item == 2:
            raise error
        return 0

    await _assert_fails_at_two(ops.throttle(0.01, mode=mode, key=key), error)


async def _yields_then_waits(log: list[str], cleanup: str) -> AsyncIterator[str]:
    """One item, then a pull that only a cancellation ends; its cleanup awaits a second, or fails."""
    try:
        yield "0"
        await asyncio.sleep(3600)
        yield "never"
    finally:
        log.append("cleanup")
        if cleanup == "fails":
            raise OSError("cleanup failed")
        await asyncio.sleep(1.0)
        log.append("cleaned up")


@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_pass_on_a_cleanup_error_raised_as_a_pull_is_cancelled(pipeline: str) -> None:
    # The consumer stops while the pump is waiting in the source: the cancellation ends the
    # pull, and the source's `finally` raises. That error reached nobody (debounce, chunk,
    # map(concurrency=n), merge for a source still waiting): a plain generator raises it.
    log: list[str] = []
    consumer = asyncio.create_task(items(PUMPED[pipeline](_yields_then_waits(log, "fails"))))
    await asyncio.sleep(2.0)
    consumer.cancel()
    with pytest.raises(OSError, match="cleanup failed"):
        await consumer
    assert log == ["cleanup"]


@pytest.mark.parametrize("pipeline", list(PUMPED))
@pytest.mark.anyio
async def test_pumped_operators_pass_a_second_cancellation_on_to_the_cleanup(pipeline: str) -> None:
    # A response cancels its stream when the client leaves, and again to stop it now (a
    # shutdown's deadline). As for a plain generator, the second cancellation reaches the
    # source's cleanup where it waits; merge and map(concurrency=n) returned at once instead,
    # and left their pumps running after the close that waited for them.
    log: list[str] = []
    tasks = asyncio.all_tasks()
    consumer = asyncio.create_task(items(PUMPED[pipeline](_yields_then_waits(log, "awaits"))))
    await asyncio.sleep(2.0)
    consumer.cancel()
    await asyncio.sleep(0.5)  # the source's cleanup is waiting
    consumer.cancel()
    await asyncio.wait([consumer])
    assert consumer.cancelled()
    assert log == ["cleanup"]  # interrupted where it waited, as a plain generator would be
    assert asyncio.all_tasks() - tasks == set()


@pytest.mark.anyio
async def test_concurrent_map_passes_a_second_cancellation_on_to_the_calls_under_way() -> None:
    log: list[str] = []

    async def call(item: int) -> int:
        try:
            await asyncio.sleep(3600)
            return item
        finally:
            log.append(f"call {item}")
            await asyncio.sleep(1.0)
            log.append(f"call {item} done")

    tasks = asyncio.all_tasks()
    consumer = asyncio.create_task(items(ops.source([1, 2]) | ops.map(call, concurrency=2)))
    await asyncio.sleep(2.0)
    consumer.cancel()
    await asyncio.sleep(0.5)
    consumer.cancel()
    await asyncio.wait([consumer])
    assert consumer.cancelled()
    assert sorted(log) == ["call 1", "call 2"]
    assert asyncio.all_tasks() - tasks == set()


async def _away_after_x1(events: AsyncIterable[str], received: list[tuple[float, Any]]) -> None:
    """Collect `events` with their times; after `x1`, be away for a second (a slow client)."""
    start = now()
    async with ops.source(events).stream() as streamer:
        async for item in streamer:
            received.append((round(now() - start, 6), item))
            if item == "x1":
                await asyncio.sleep(1.0)


@pytest.mark.parametrize(
    ("fails_at", "expected"),
    [
        # y1's window ends at 0.6, after the failure: it was sent ahead of the error at 1.5,
        # which the docs say never happens.
        (0.55, [(0.0, "x0"), (0.1, "y0"), (0.5, "x1")]),
        # It ends before the failure: with a ready consumer it goes out then, so it goes out
        # before the error when the consumer is back.
        (0.65, [(0.0, "x0"), (0.1, "y0"), (0.5, "x1"), (1.5, "y1")]),
    ],
    ids=["due-after-the-failure", "due-before-it"],
)
@pytest.mark.anyio
async def test_keyed_latest_throttle_whose_consumer_is_away_when_the_source_fails(
    fails_at: float, expected: list[tuple[float, str]]
) -> None:
    # x1 goes out at 0.5; the consumer is then away for a second (a slow client), and the
    # source fails meanwhile. The error goes on once it is back, at 1.5.
    async def source() -> AsyncIterator[str]:
        async for item in timed((0.0, "x0"), (0.1, "y0"), (0.2, "x1"), (0.3, "y1"), end=fails_at):
            yield item
        raise ValueError("source failed")

    received: list[tuple[float, Any]] = []
    start = now()
    with pytest.raises(ValueError, match="source failed"):
        await _away_after_x1(source() | ops.throttle(0.5, mode="latest", key=lambda item: item[0]), received)
    assert received == expected
    assert round(now() - start, 6) == 1.5


@pytest.mark.anyio
async def test_a_sync_generator_source_is_closed_with_its_stream() -> None:
    # aiostream never closed it, and the stream kept it alive: its `finally` ran when the
    # stream object was collected, and running the stream again resumed it.
    log: list[str] = []

    def numbers() -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            log.append("closed")

    taken = ops.source(numbers()) | ops.take(2)
    assert await items(taken) == [0, 1]
    assert log == ["closed"]
    assert await items(taken) == []  # a stream built on a generator object runs once
    assert await items(ops.merge(ops.source(numbers()), ops.source(numbers())) | ops.take(3)) == [0, 0, 1]
    assert log == ["closed", "closed", "closed"]
    assert await items(ops.source(range(200))) == list(range(200))  # lists and ranges run every time
    lines = io.StringIO("a\nb\nc\n")  # a file, a cursor: the caller's to close
    assert await items(ops.source(lines) | ops.take(1)) == ["a\n"]
    assert not lines.closed
    assert lines.read() == "b\nc\n"


@pytest.mark.anyio
async def test_source_takes_an_old_style_sequence_as_iter_does() -> None:
    # Refused when built, what `iter` refuses: a class with `__getitem__` only is still iterable.
    class Squares:
        def __getitem__(self, index: int) -> int:
            if index == 3:
                raise IndexError(index)
            return index * index

    assert await items(ops.source(Squares())) == [0, 1, 4]  # type: ignore[arg-type]


class _ReprFails:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")
