"""The time operators: aiostream operators that act on the clock as well as on their source.

`throttle` in latest mode, `debounce` and `chunk` by time must act when nothing arrives (a
window ends, a silence lasts, a batch is due). Each is a `_Clocked`, the operator's state and
what it does with an item or at a deadline, run by a `_Driver`, which pulls the source without
ever cancelling a pull and wakes the operator when there is output or a deadline. Times are
the running loop's clock (`loop.time()`), so a virtual-time loop drives them in tests.
"""

from __future__ import annotations

import asyncio
import heapq
import inspect
import itertools
import math
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Hashable
from typing import Any, Generic, Literal, NoReturn, TypeAlias, TypeVar

from aiostream.core import Streamer, pipable_operator

from typedsse._closing import closed, opened

__all__ = ["ThrottleMode", "chunk_by_time", "debounce", "throttle", "wait_for_tasks"]

T = TypeVar("T")
R = TypeVar("R")

ThrottleMode: TypeAlias = Literal["leading", "latest"]
"""What `throttle` does with the events that arrive while a window is open."""


_NOTHING: Any = object()


class _Clocked(Generic[T, R]):
    """What a time operator does with each item and when its deadline passes.

    Subclasses keep the operator's state and put what it sends, in order, on `ready`. Every
    call comes from `_Driver` while the operator's consumer waits for its next output, with
    `now` the loop's time: `arrive` for each item (after `expire` if the deadline passed),
    `expire` when `deadline()` passes with no item. Neither may await.
    """

    __slots__ = ("ready",)

    def __init__(self) -> None:
        self.ready: list[R] = []

    def deadline(self) -> float | None:
        """The loop time at which `expire` must run, or `None` for no deadline."""
        raise NotImplementedError

    def arrive(self, item: T, now: float) -> None:
        """Take an item from the source."""
        raise NotImplementedError

    def expire(self, now: float) -> None:
        """Act on the deadline, which is at or before `now`."""
        raise NotImplementedError

    def leftovers(self, now: float) -> list[tuple[float, R]]:
        """When the source has ended: what still goes out, each with the loop time it is due."""
        raise NotImplementedError


FAIR_SHARE = 64
"""Items an operator may take in a row without handing anything on before it gives the loop a turn.

The response gives the loop a turn as events go out, so a source that never awaits cannot hold
the other connections; an operator that drops items (a throttle's open window, a filter) or
holds them (a batch by size) hides them from it, and gives the turns itself.
"""


class _Driver(Generic[T, R]):
    """Feed a `_Clocked` from its source, and wake the consumer when there is output or a deadline.

    One pump task pulls the source for the operator's whole life, so a deadline can pass while
    a pull is under way without cancelling it (that would throw `CancelledError` into the
    source and end it). The pump pulls only while the consumer waits in `take`, and hands the
    items to the `_Clocked` itself: an item that only changes the operator's state (the most of
    them, in a throttle's open window or a debounce's burst) costs no loop turn and no task
    switch. An item that arrives while the consumer is away is held until it is back, so the
    source is never read ahead and every time the operator sees is one at which its consumer
    was ready. The deadline's timer is set once per deadline, not per item.
    """

    __slots__ = (
        "_asked",
        "_clocked",
        "_ended",
        "_ended_at",
        "_error",
        "_held",
        "_loop",
        "_reached",
        "_streamer",
        "_task",
        "_timer",
        "_timer_at",
        "_waiter",
    )

    # A source that never waits would keep the pump from ever giving the loop a turn: after
    # this many items in a row it yields one, so timers fire and other connections are served.
    FAIR_SHARE = FAIR_SHARE

    def __init__(self, streamer: Streamer[T], clocked: _Clocked[T, R]) -> None:
        self._streamer = streamer
        self._clocked = clocked
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self._asked: asyncio.Future[None] | None = None  # the pump parks on it while the consumer is away
        self._waiter: asyncio.Future[None] | None = None  # the consumer waits on it in `take`
        self._held: T = _NOTHING  # an item that arrived while the consumer was away
        self._ended = False
        self._ended_at = 0.0  # the loop time the source ended or failed
        self._error: BaseException | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        # The latest deadline whose timer has fired: passed, as far as the loop's timers go.
        self._reached = -math.inf

    def _now(self) -> float:
        """The loop's time, but never before a deadline whose timer has fired.

        A loop may fire a timer a little before its clock reads the time it was set for:
        uvloop rounds a delay to the millisecond (up to half of one early), asyncio fires what
        falls due within its clock's resolution (15.6 ms on Windows). A deadline that did not
        count as passed then set its timer again, for less than the loop can wait, which fired
        at once: the operator spun, hundreds of wake-ups per deadline, until the clock caught
        up. So a timer that fires counts as its deadline, as `asyncio.sleep` counts it.
        """
        now = self._loop.time()
        reached = self._reached
        return reached if reached > now else now

    async def take(self) -> list[R] | None:
        """Wait for the operator's next outputs and return them; `None` once the source has ended."""
        clocked, loop = self._clocked, self._loop
        while True:
            held = self._held
            if held is not _NOTHING:
                self._held = _NOTHING
                self._feed(held, self._now())
            else:
                deadline = clocked.deadline()
                if deadline is not None:
                    now = self._now()
                    if self._error is not None:
                        # The source failed while the consumer was away: what fell due before
                        # that goes out, what would fall due after it is dropped with the rest.
                        now = min(now, self._ended_at)
                    if deadline <= now:
                        clocked.expire(now)
            if clocked.ready:
                ready, clocked.ready = clocked.ready, []
                return ready
            if self._ended:
                if self._error is not None:
                    reraise(self._take_error())
                return None
            self._arm()
            waiter = self._waiter = loop.create_future()
            if self._task is None:
                self._task = loop.create_task(self._pump())
            else:
                asked = self._asked
                if asked is not None and not asked.done():
                    asked.set_result(None)
            try:
                await waiter
            finally:
                self._waiter = None

    def _take_error(self) -> BaseException | None:
        error, self._error = self._error, None
        return error

    def _feed(self, item: T, now: float) -> None:
        clocked = self._clocked
        deadline = clocked.deadline()
        if deadline is not None and deadline <= now:
            clocked.expire(now)
        clocked.arrive(item, now)

    async def _pump(self) -> None:
        streamer, clocked, loop = self._streamer, self._clocked, self._loop
        in_a_row = 0
        try:
            while True:
                waiter = self._waiter
                if waiter is None or waiter.done():
                    asked = self._asked = loop.create_future()
                    await asked
                    in_a_row = 0
                try:
                    item = await anext(streamer)
                except StopAsyncIteration:
                    self._end(None)
                    return
                except BaseException as exc:
                    # Whatever the source raises goes to the consumer, a `CancelledError` of its
                    # own (a future it awaited was cancelled) too. When the pump itself is
                    # cancelled (the operator is closing), the pull it abandons ends there; an
                    # error other than the cancellation is the source's cleanup failing, raised
                    # as the pump's own (`stop_pump` passes it on), as `aclose` would raise it.
                    if not being_cancelled():
                        self._end(exc)
                    elif not isinstance(exc, asyncio.CancelledError):
                        raise
                    return
                if being_cancelled():
                    # The source took the pump's cancellation (a bare `except:` around an
                    # `await`) and went on: the operator is closing, and holding the item for a
                    # consumer that is gone would keep the pump, and the close, waiting for ever.
                    # Ending here closes the source at that `yield`, as `merge` does.
                    return
                waiter = self._waiter
                if waiter is None or waiter.done():
                    self._held = item  # the consumer is away (or on its way back): it takes this first
                    continue
                try:
                    self._feed(item, self._now())
                except BaseException as exc:
                    # The operator's own code failed (a throttle's key, say): whatever it raises
                    # goes to the consumer, as the source's errors do (a pump that ended without
                    # `_end` would leave the consumer waiting for ever). When the pump itself is
                    # being cancelled, that ends it as it would end a pull.
                    if not being_cancelled():
                        self._end(exc)
                    elif not isinstance(exc, asyncio.CancelledError):
                        raise
                    return
                if clocked.ready:
                    waiter.set_result(None)
                    continue
                self._arm()
                in_a_row += 1
                if in_a_row == self.FAIR_SHARE:
                    in_a_row = 0
                    await asyncio.sleep(0)
        finally:
            # Closed here, not from the consumer's task: the source's whole life, its `finally`
            # included, runs in this task's context (a `ContextVar.reset` there needs the
            # context of its `set`). An error of that cleanup is the pump's own.
            await closed(streamer.aclose)

    def _end(self, error: BaseException | None) -> None:
        self._ended = True
        self._ended_at = self._now()
        self._error = error
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _arm(self) -> None:
        deadline = self._clocked.deadline()
        if deadline is None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        elif self._timer is None or deadline < self._timer_at:
            # A deadline that moves later (a debounce's, with every item) keeps the timer set
            # for the earlier one, which moves it when it fires.
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self._loop.call_at(deadline, self._on_timer)
            self._timer_at = deadline

    def _on_timer(self) -> None:
        self._timer = None
        deadline = self._clocked.deadline()
        if deadline is None:
            return
        if deadline > self._timer_at:
            self._timer = self._loop.call_at(deadline, self._on_timer)  # it moved on since
            self._timer_at = deadline
            return
        # The deadline passed (see `_now`): a waiting consumer acts on it in `take`. A consumer
        # that is away acts on it when it is back, and sets a timer again if it has to wait.
        self._reached = self._timer_at
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def aclose(self) -> None:
        """Stop the pump and wait for it: it closes the source, whose `finally` has run on return.

        An error raised by the source's cleanup goes on to the caller, as it would from the
        source closed directly.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held = _NOTHING
        self._error = None  # not taken (the consumer stopped first): its traceback holds the pump's frame
        task, self._task = self._task, None
        try:
            await stop_pump(task, ended=self._ended)
        finally:
            task = None  # it holds the error of the source's cleanup, whose traceback holds this frame


async def stop_pump(task: asyncio.Task[None] | None, *, ended: bool) -> None:
    """Stop an operator's pump task and wait for it: it closes its source, whose `finally` has run on return.

    A pump that ended on its own (`ended`: its source ended or failed) is closing the source
    already, and is waited for, not cancelled. An error raised by the source's cleanup goes on
    to the caller, also from a pump that is done by now (it is not left unretrieved).
    """
    if task is None:
        return
    if task.done():
        error = None if task.cancelled() else task.exception()
        task = None  # neither it nor its error may stay in this frame, which the error's traceback holds
        if error is not None:
            try:
                raise error
            finally:
                del error
        return
    if not ended:
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if being_cancelled():
            raise  # the operator is being cancelled too: let that go on
    finally:
        task = None  # as above: its error, raised here, must not find it in this frame


async def wait_for_tasks(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Wait until every one of `tasks` is done, and retrieve their outcomes.

    A cancellation of the caller meanwhile goes on to them, as awaiting a single task passes
    it on, and is raised once they are all done: `asyncio.wait` would return at once and leave
    them running, their cleanup outliving the close that waited for it.
    """
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def reraise(error: BaseException | None) -> NoReturn:
    """Raise a stored error without keeping it in the raising frame (no cycle through its traceback).

    Pass it straight from where it is kept (`reraise(self._take_error())`): a local of the
    caller's would hold it too.
    """
    assert error is not None
    try:
        raise error
    finally:
        del error


async def _drive(source: AsyncIterable[T], clocked: _Clocked[T, R]) -> AsyncIterator[R]:
    """Run a time operator over its source: its outputs, then its leftovers once the source ends."""
    # The driver's pump closes the source; this context closes it only if the pump never started.
    ended = False
    failure: Exception | None = None
    try:
        async with opened(source) as streamer:
            driver = _Driver(streamer, clocked)
            try:
                while (ready := await driver.take()) is not None:
                    for output in ready:
                        yield output
                ended = True
            finally:
                await driver.aclose()
    except Exception as exc:
        # A source that ended and then failed to close (an iterator whose `aclose` raises) gave
        # everything it had: what the operator holds still goes out, and the error follows, as
        # after `take`'s last item. What a source raises while read is not such an end.
        if not ended:
            raise
        failure = exc
    loop = asyncio.get_running_loop()
    try:
        for due, output in clocked.leftovers(loop.time()):
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield output
        if failure is not None:
            raise failure
    finally:
        failure = None  # this frame must not hold the error its traceback holds


def being_cancelled() -> bool:
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
    return _drive(source, _LatestWindows(interval, key))


async def _throttle_leading(
    source: AsyncIterable[T], interval: float, key: Callable[[T], Hashable] | None
) -> AsyncIterator[T]:
    # Nothing happens when a window ends, so no clock is needed: items are checked as they arrive.
    loop = asyncio.get_running_loop()
    windows: set[Hashable] = set()  # the keys with an open window
    ends: list[tuple[float, int, Hashable]] = []  # a heap of (window end, tie-breaker, key)
    order = itertools.count()
    dropped = 0
    async with opened(source) as streamer:
        async for item in streamer:
            now = loop.time()
            # Windows are half-open, [start, start + interval): forget the ended ones.
            while ends and ends[0][0] <= now:
                windows.discard(heapq.heappop(ends)[2])
            item_key = key(item) if key is not None else None
            try:
                open_window = item_key in windows
            except TypeError as exc:
                raise unhashable_key(item_key) from exc
            if open_window:
                dropped += 1
                if dropped == FAIR_SHARE:
                    dropped = 0
                    await asyncio.sleep(0)
                continue
            dropped = 0
            check_key(item_key)
            windows.add(item_key)
            heapq.heappush(ends, (now + interval, next(order), item_key))
            yield item


def check_key(item_key: object, operator: str = "throttle") -> None:
    """Refuse a key that is an awaitable (from a lambda calling an async function, say).

    Every awaitable is a key of its own, so a throttle would let every item through (and
    `distinct_until_changed` would drop none). Checked when a key opens a window (or an item
    goes out), which such keys do with every item: no cost while windows are open.
    """
    if inspect.isawaitable(item_key):
        if inspect.iscoroutine(item_key):
            item_key.close()  # never awaited, and never will be: no warning about it
        raise TypeError(
            f"{operator}(key=...) returned a {type(item_key).__qualname__}, an awaitable: "
            "the key function must be sync and return the key itself"
        )


def unhashable_key(item_key: object) -> TypeError:
    """The error for a key that cannot be one: Python's own ("unhashable type: 'Quote'") names no key function."""
    return TypeError(
        f"throttle(key=...) returned a {type(item_key).__qualname__}, which is not hashable and so cannot "
        "be a key: return something that is (a str, an int, a tuple of them), such as the model's id field"
    )


class _LatestWindows(_Clocked[T, T]):
    """A latest-mode throttle: an open window per key, holding the newest item for its end."""

    __slots__ = ("_ends", "_interval", "_key", "_order", "_windows")

    def __init__(self, interval: float, key: Callable[[T], Hashable] | None) -> None:
        super().__init__()
        self._interval = interval
        self._key = key
        self._windows: dict[Hashable, T] = {}  # key -> the newest item waiting, or _NOTHING
        self._ends: list[tuple[float, int, Hashable]] = []  # a heap of (window end, tie-breaker, key)
        self._order = itertools.count()

    def _open(self, window_key: Hashable, now: float) -> None:
        self._windows[window_key] = _NOTHING
        heapq.heappush(self._ends, (now + self._interval, next(self._order), window_key))

    def deadline(self) -> float | None:
        return self._ends[0][0] if self._ends else None

    def expire(self, now: float) -> None:
        # Windows are half-open, [start, start + interval): every one that ended by now closes.
        ends, windows = self._ends, self._windows
        while ends and ends[0][0] <= now:
            _, _, ended = heapq.heappop(ends)
            pending = windows.pop(ended)
            if pending is not _NOTHING:
                self.ready.append(pending)  # the window's newest item; it opens the next window
                self._open(ended, now)

    def arrive(self, item: T, now: float) -> None:
        item_key = self._key(item) if self._key is not None else None
        try:
            open_window = item_key in self._windows
        except TypeError as exc:
            raise unhashable_key(item_key) from exc
        if open_window:
            self._windows[item_key] = item
        else:
            check_key(item_key)
            self.ready.append(item)
            self._open(item_key, now)

    def leftovers(self, now: float) -> list[tuple[float, T]]:
        # The newest item of each open window still goes out when its window ends, so the final
        # state is never lost and the rate limit still holds.
        ends, windows = self._ends, self._windows
        due: list[tuple[float, T]] = []
        while ends:
            end, _, ended = heapq.heappop(ends)
            pending = windows.pop(ended)
            if pending is not _NOTHING:
                due.append((end, pending))
        return due


@pipable_operator
def debounce(source: AsyncIterable[T], interval: float) -> AsyncIterator[T]:
    """Forward an item once `interval` seconds pass without a newer one (see `typedsse.operators.debounce`)."""
    return _drive(source, _Silence(interval))


class _Silence(_Clocked[T, T]):
    """A debounce: the newest item, sent when `interval` seconds pass without another."""

    __slots__ = ("_due", "_interval", "_pending")

    def __init__(self, interval: float) -> None:
        super().__init__()
        self._interval = interval
        self._pending: T = _NOTHING
        self._due: float | None = None

    def deadline(self) -> float | None:
        return self._due

    def arrive(self, item: T, now: float) -> None:
        self._pending = item
        self._due = now + self._interval

    def expire(self, now: float) -> None:
        self.ready.append(self._pending)
        self._pending = _NOTHING
        self._due = None

    def leftovers(self, now: float) -> list[tuple[float, T]]:
        # The end of the source is the longest silence of all.
        return [] if self._pending is _NOTHING else [(now, self._pending)]


@pipable_operator
def chunk_by_time(source: AsyncIterable[T], size: int | None, interval: float, leading: bool) -> AsyncIterator[list[T]]:
    """Batch items until `interval` seconds after a batch's first one, or `size` items (see `chunk`)."""
    return _drive(source, _LeadingBatch(size, interval) if leading else _Batch(size, interval))


class _Batch(_Clocked[T, list[T]]):
    """A chunk by time: a batch that goes out `interval` seconds after its first item, or when full."""

    __slots__ = ("_batch", "_due", "_interval", "_size")

    def __init__(self, size: int | None, interval: float) -> None:
        super().__init__()
        self._size = size
        self._interval = interval
        self._batch: list[T] = []
        self._due: float | None = None

    def deadline(self) -> float | None:
        return self._due

    def arrive(self, item: T, now: float) -> None:
        batch = self._batch
        if not batch:
            self._due = now + self._interval
        batch.append(item)
        if self._size is not None and len(batch) >= self._size:
            self.expire(now)

    def expire(self, now: float) -> None:
        self.ready.append(self._batch)
        self._batch = []
        self._due = None

    def leftovers(self, now: float) -> list[tuple[float, list[T]]]:
        return [(now, self._batch)] if self._batch else []


class _LeadingBatch(_Batch[T]):
    """A leading chunk by time: an item that comes when nothing went out for `interval` seconds goes out at once.

    That item goes out alone and opens a window of `interval` seconds; the items arriving
    while it is open go out together when it ends, opening the next window (as a latest-mode
    throttle's newest item does), or as soon as `size` of them are held. A window that ends
    with none closes: the next item is the first of a quiet stream again.
    """

    __slots__ = ()

    def arrive(self, item: T, now: float) -> None:
        if self._due is None:
            self.ready.append([item])
            self._due = now + self._interval
            return
        batch = self._batch
        batch.append(item)
        if self._size is not None and len(batch) >= self._size:
            # Full before the window ends: it goes out, and the window goes on for the next items.
            self.ready.append(batch)
            self._batch = []

    def expire(self, now: float) -> None:
        # Windows are half-open, [start, start + interval), as a throttle's are.
        if self._batch:
            self.ready.append(self._batch)
            self._batch = []
            self._due = now + self._interval
        else:
            self._due = None
