"""The time operators: aiostream operators that act on the clock as well as on their source.

`throttle` in latest mode, `debounce` and `chunk` by time must act when nothing arrives (a
window ends, a silence lasts, a batch is due), so they pull their source through `_Puller`,
which waits for the next item until a deadline without ever cancelling the pull. Times are the
running loop's clock (`loop.time()`), so a virtual-time loop drives them in tests.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Callable, Hashable
from typing import Generic, Literal, TypeAlias, TypeVar

from aiostream.core import Streamer, pipable_operator, streamcontext

__all__ = ["ThrottleMode", "chunk_by_time", "debounce", "throttle"]

T = TypeVar("T")

ThrottleMode: TypeAlias = Literal["leading", "latest"]
"""What `throttle` does with the events that arrive while a window is open."""


class _Signal(enum.Enum):
    MISSED = enum.auto()  # the deadline passed before the next item arrived
    END = enum.auto()  # the source is exhausted


class _Puller(Generic[T]):
    """Pull a streamer's items one at a time, waiting for each at most until a deadline.

    One pump task pulls for the operator's whole life: asked for an item, it fetches one and
    hands it over. A missed deadline leaves the pull running (cancelling it would throw
    `CancelledError` into the source and end it), and the next call picks its item up. The
    source is read only when asked, never ahead. A task per pull, waited on with
    `asyncio.wait`, cost about 132,000 instructions per item in a latest-mode throttle over a
    fast source; this costs about 58,000 (`python -m bench.instructions`), most of it two loop
    turns. A timer per call cost 14,000 more: timers are set per deadline instead.
    """

    __slots__ = (
        "_asked",
        "_deadline",
        "_loop",
        "_outcome",
        "_pending",
        "_streamer",
        "_task",
        "_timer",
        "_timer_at",
        "_waiter",
    )

    def __init__(self, streamer: Streamer[T]) -> None:
        self._streamer = streamer
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._asked: asyncio.Future[None] | None = None  # the pump waits on it between pulls
        self._pending = False  # a pull was asked for and its outcome not yet taken
        self._outcome: tuple[T | Literal[_Signal.END], BaseException | None] | None = None
        self._waiter: asyncio.Future[None] | None = None  # `next` waits on it for the outcome
        # The deadline of the latest call, and a timer set for it or for an earlier one. Timers
        # are not set per call: a window's end stays the same for every item that arrives
        # inside it, and a deadline that moves later (a debounce) moves the timer when it fires.
        self._deadline: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    async def _pump(self) -> None:
        streamer, loop = self._streamer, self._loop
        while True:
            try:
                outcome: tuple[T | Literal[_Signal.END], BaseException | None] = (await anext(streamer), None)
            except StopAsyncIteration:
                outcome = (_Signal.END, None)
            except Exception as exc:
                outcome = (_Signal.END, exc)
            self._outcome = outcome
            waiter = self._waiter
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            if outcome[0] is _Signal.END:
                del outcome  # a failure's traceback holds this frame: no cycle back to the failure
                return
            asked = self._asked = loop.create_future()
            await asked

    async def next(self, deadline: float | None = None) -> T | _Signal:
        """Return the next item, `_Signal.END` at the end, or `_Signal.MISSED` once `deadline` passes."""
        if not self._pending:
            self._pending = True
            if self._task is None:
                self._task = self._loop.create_task(self._pump())
            else:
                asked = self._asked
                if asked is not None and not asked.done():
                    asked.set_result(None)
        if self._outcome is None:
            self._deadline = deadline
            if deadline is None:
                self._cancel_timer()
            elif self._timer is None or deadline < self._timer_at:
                self._cancel_timer()
                self._set_timer(deadline)
            waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
            if self._outcome is None:
                return _Signal.MISSED
        item, error = self._outcome
        self._outcome = None
        self._pending = False
        if error is not None:
            try:
                raise error
            finally:
                del error  # the same: the traceback holds this frame
        return item

    def _set_timer(self, when: float) -> None:
        self._timer = self._loop.call_at(when, self._on_timer)
        self._timer_at = when

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        if deadline > self._timer_at:
            self._set_timer(deadline)  # the deadline moved on since the timer was set
            return
        # The deadline passed: whoever waits now (if anyone) waited for it. A later call with
        # this deadline sets a timer again, which fires at once.
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def aclose(self) -> None:
        """Stop the pump and wait for it, so the source is idle before it is closed."""
        self._cancel_timer()
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if _being_cancelled():
                raise  # this operator is being cancelled too: let that go on
        except Exception:
            # The abandoned pull failed while it was cancelled; the stream is ending anyway.
            pass


def _being_cancelled() -> bool:
    # Not a local of the caller: a frame that holds its own task, on the way out with the
    # task's `CancelledError`, makes a cycle (task, error, traceback, frame, task) that only
    # the garbage collector frees.
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


@pipable_operator
def throttle(
    source: AsyncIterable[T],
    interval: float,
    mode: ThrottleMode,
    key: Callable[[T], Hashable] | None,
) -> AsyncIterator[T]:
    """Forward at most one item per key per `interval` seconds (see `typedsse.operators.throttle`)."""
    if mode == "leading":
        return _throttle_leading(source, interval, key)
    return _throttle_latest(source, interval, key)


async def _throttle_leading(
    source: AsyncIterable[T], interval: float, key: Callable[[T], Hashable] | None
) -> AsyncIterator[T]:
    # Nothing happens when a window ends, so no clock is needed: items are checked as they arrive.
    loop = asyncio.get_running_loop()
    windows: set[Hashable] = set()  # the keys with an open window
    ends: list[tuple[float, int, Hashable]] = []  # a heap of (window end, tie-breaker, key)
    order = itertools.count()
    async with streamcontext(source) as streamer:
        async for item in streamer:
            now = loop.time()
            # Windows are half-open, [start, start + interval): forget the ended ones.
            while ends and ends[0][0] <= now:
                windows.discard(heapq.heappop(ends)[2])
            item_key = key(item) if key is not None else None
            if item_key in windows:
                continue
            windows.add(item_key)
            heapq.heappush(ends, (now + interval, next(order), item_key))
            yield item


async def _throttle_latest(
    source: AsyncIterable[T], interval: float, key: Callable[[T], Hashable] | None
) -> AsyncIterator[T]:
    loop = asyncio.get_running_loop()
    # An open window per key, holding the newest item waiting for the window's end.
    windows: dict[Hashable, list[T]] = {}
    ends: list[tuple[float, int, Hashable]] = []  # a heap of (window end, tie-breaker, key)
    order = itertools.count()

    def open_window(window_key: Hashable, now: float) -> None:
        windows[window_key] = []
        heapq.heappush(ends, (now + interval, next(order), window_key))

    async with streamcontext(source) as streamer:
        puller = _Puller(streamer)
        try:
            while True:
                item = await puller.next(ends[0][0] if ends else None)
                now = loop.time()
                # Windows are half-open, [start, start + interval): close the ended ones first.
                while ends and ends[0][0] <= now:
                    _, _, ended = heapq.heappop(ends)
                    pending = windows.pop(ended)
                    if pending:
                        yield pending[0]  # the window's newest item; it opens the next window
                        open_window(ended, now)
                if item is _Signal.MISSED:
                    continue
                if item is _Signal.END:
                    break
                item_key = key(item) if key is not None else None
                window = windows.get(item_key)
                if window is None:
                    yield item
                    open_window(item_key, now)
                else:
                    window[:] = [item]
        finally:
            await puller.aclose()
    # The source is done; the newest item of each open window still goes out when its window
    # ends, so the final state is never lost and the rate limit still holds.
    while ends:
        end, _, ended = heapq.heappop(ends)
        pending = windows.pop(ended)
        if pending:
            await asyncio.sleep(max(end - loop.time(), 0.0))
            yield pending[0]


@pipable_operator
async def debounce(source: AsyncIterable[T], interval: float) -> AsyncIterator[T]:
    """Forward an item once `interval` seconds pass without a newer one (see `typedsse.operators.debounce`)."""
    loop = asyncio.get_running_loop()
    pending: list[T] = []
    deadline: float | None = None
    async with streamcontext(source) as streamer:
        puller = _Puller(streamer)
        try:
            while True:
                item = await puller.next(deadline)
                if item is _Signal.MISSED:
                    yield pending.pop()
                    deadline = None
                elif item is _Signal.END:
                    break
                else:
                    pending[:] = [item]
                    deadline = loop.time() + interval
        finally:
            await puller.aclose()
    if pending:
        yield pending.pop()  # the end of the source is the longest silence of all


@pipable_operator
async def chunk_by_time(source: AsyncIterable[T], size: int | None, interval: float) -> AsyncIterator[list[T]]:
    """Batch items until `interval` seconds after a batch's first one, or `size` items (see `chunk`)."""
    loop = asyncio.get_running_loop()
    batch: list[T] = []
    deadline: float | None = None
    async with streamcontext(source) as streamer:
        puller = _Puller(streamer)
        try:
            while True:
                item = await puller.next(deadline)
                if item is _Signal.END:
                    break
                if item is not _Signal.MISSED:
                    if not batch:
                        deadline = loop.time() + interval
                    batch.append(item)
                    if size is None or len(batch) < size:
                        continue
                yield batch
                batch = []
                deadline = None
        finally:
            await puller.aclose()
    if batch:
        yield batch
