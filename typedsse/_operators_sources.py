"""Sources: start a pipeline from one stream, or combine several (`merge`, `chain`).

Ids on merged streams are composite cursors such as `echo:3,reverse:2`: every event a merged
stream sends carries the position of every source seen so far, so the one id a client sends
back as `Last-Event-ID` resumes all of them. Names and positions are percent-encoded (RFC 3986
unreserved characters stay as they are), so any source id survives, commas and colons included.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import types
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Never, TypeVar, cast, overload
from urllib.parse import quote, unquote

from aiostream.aiter_utils import AsyncIteratorContext
from aiostream.core import Stream, operator, sources_operator, streamcontext

from typedsse._closing import closed, opened
from typedsse._operators_time import FAIR_SHARE, wait_for_tasks
from typedsse.events import BaseEvent, is_utf8

__all__ = ["chain", "cursors", "merge", "source"]

A = TypeVar("A")
B = TypeVar("B")
C = TypeVar("C")
D = TypeVar("D")
E = TypeVar("E")
F = TypeVar("F")
G = TypeVar("G")
# The items of `merge(..., ids=...)`'s sources: it rewrites their ids, so they must be events.
EvA = TypeVar("EvA", bound="BaseEvent[Any]")
EvB = TypeVar("EvB", bound="BaseEvent[Any]")
EvC = TypeVar("EvC", bound="BaseEvent[Any]")
EvD = TypeVar("EvD", bound="BaseEvent[Any]")
EvE = TypeVar("EvE", bound="BaseEvent[Any]")
EvF = TypeVar("EvF", bound="BaseEvent[Any]")
EvG = TypeVar("EvG", bound="BaseEvent[Any]")


def source(items: AsyncIterable[E] | Iterable[E], /) -> Stream[E]:
    """Start a pipeline from any async iterable (an async generator, say) or a plain iterable.

    An async iterable may also stand on the left of `|` directly (`gen() | ops.take(3)`); use
    `source` to start from a list, or to name the start of a long pipeline. A stream built on a
    generator object runs once, which is what a response needs; a sync generator is closed
    with the stream, as an async one is (its `finally` runs then). A plain iterable is read on
    the event loop, so it must not block: a blocking one (a sync driver's cursor, a sync SDK's
    stream) holds up every connection, where an endpoint that returns it reads it on a thread
    of its own.

    Example:
        ```python
        ops.source(ticks()) | ops.throttle(1.0)
        ops.source([Snapshot(data=state)])
        ```

    Raises:
        TypeError: `items` is neither an async iterable nor an iterable.
    """
    if isinstance(items, AsyncIterable):
        return _from_async_iterable(items)
    # Checked here, as `merge` and `chain` check their sources: `iter` runs only once items
    # flow, so a non-iterable would fail inside a running response. What `iter` takes passes:
    # an `__iter__`, or the old sequence protocol's `__getitem__`.
    given = cast("object", items)  # as an untyped caller may pass it
    if not isinstance(given, Iterable) and not hasattr(type(given), "__getitem__"):
        raise TypeError(f"source() needs an async iterable or an iterable, got {given!r}")
    return _from_iterable(items)


@operator
async def _from_async_iterable(items: AsyncIterable[E]) -> AsyncIterator[E]:
    # aiostream's `iterate` throws an error of its consumer into the source: see `opened`.
    async with opened(items) as streamer:
        async for item in streamer:
            yield item


@operator
async def _from_iterable(items: Iterable[E]) -> AsyncIterator[E]:
    # aiostream's `iterate` never closes a sync iterator, and the stream keeps the generator
    # alive: its `finally` ran only when the stream was collected. Closed here with the stream.
    iterator = iter(items)
    try:
        for count, item in enumerate(iterator, 1):
            if count % FAIR_SHARE == 0:
                await asyncio.sleep(0)  # a long list does not hold the loop
            yield item
    finally:
        if isinstance(iterator, types.GeneratorType):  # ours to close; a file or a cursor is the caller's
            iterator.close()


# No source makes a stream that ends at once, of no item type.
@overload
def merge(*, ids: None = None, resume: None = None) -> Stream[Never]: ...
@overload
def merge(a: AsyncIterable[A], /, *, ids: None = None, resume: None = None) -> Stream[A]: ...
@overload
def merge(
    a: AsyncIterable[A],
    b: AsyncIterable[B],
    /,
    *,
    ids: None = None,
    resume: None = None,
) -> Stream[A | B]: ...
@overload
def merge(
    a: AsyncIterable[A],
    b: AsyncIterable[B],
    c: AsyncIterable[C],
    /,
    *,
    ids: None = None,
    resume: None = None,
) -> Stream[A | B | C]: ...
@overload
def merge(
    a: AsyncIterable[A],
    b: AsyncIterable[B],
    c: AsyncIterable[C],
    d: AsyncIterable[D],
    /,
    *,
    ids: None = None,
    resume: None = None,
) -> Stream[A | B | C | D]: ...
@overload
def merge(
    a: AsyncIterable[A],
    b: AsyncIterable[B],
    c: AsyncIterable[C],
    d: AsyncIterable[D],
    f: AsyncIterable[F],
    /,
    *,
    ids: None = None,
    resume: None = None,
) -> Stream[A | B | C | D | F]: ...
@overload
def merge(
    a: AsyncIterable[A],
    b: AsyncIterable[B],
    c: AsyncIterable[C],
    d: AsyncIterable[D],
    f: AsyncIterable[F],
    g: AsyncIterable[G],
    /,
    *,
    ids: None = None,
    resume: None = None,
) -> Stream[A | B | C | D | F | G]: ...
@overload
def merge(*sources: AsyncIterable[E], ids: None = None, resume: None = None) -> Stream[E]: ...
# With `ids`, the sources must yield events (anything else raises `TypeError` while streaming):
# these overloads take `ids` and type variables bound to `BaseEvent`, the ones above refuse `ids`.
@overload
def merge(*, ids: Sequence[str], resume: Mapping[str, str] | None = None) -> Stream[Never]: ...
@overload
def merge(a: AsyncIterable[EvA], /, *, ids: Sequence[str], resume: Mapping[str, str] | None = None) -> Stream[EvA]: ...
@overload
def merge(
    a: AsyncIterable[EvA],
    b: AsyncIterable[EvB],
    /,
    *,
    ids: Sequence[str],
    resume: Mapping[str, str] | None = None,
) -> Stream[EvA | EvB]: ...
@overload
def merge(
    a: AsyncIterable[EvA],
    b: AsyncIterable[EvB],
    c: AsyncIterable[EvC],
    /,
    *,
    ids: Sequence[str],
    resume: Mapping[str, str] | None = None,
) -> Stream[EvA | EvB | EvC]: ...
@overload
def merge(
    a: AsyncIterable[EvA],
    b: AsyncIterable[EvB],
    c: AsyncIterable[EvC],
    d: AsyncIterable[EvD],
    /,
    *,
    ids: Sequence[str],
    resume: Mapping[str, str] | None = None,
) -> Stream[EvA | EvB | EvC | EvD]: ...
@overload
def merge(
    a: AsyncIterable[EvA],
    b: AsyncIterable[EvB],
    c: AsyncIterable[EvC],
    d: AsyncIterable[EvD],
    f: AsyncIterable[EvF],
    /,
    *,
    ids: Sequence[str],
    resume: Mapping[str, str] | None = None,
) -> Stream[EvA | EvB | EvC | EvD | EvF]: ...
@overload
def merge(
    a: AsyncIterable[EvA],
    b: AsyncIterable[EvB],
    c: AsyncIterable[EvC],
    d: AsyncIterable[EvD],
    f: AsyncIterable[EvF],
    g: AsyncIterable[EvG],
    /,
    *,
    ids: Sequence[str],
    resume: Mapping[str, str] | None = None,
) -> Stream[EvA | EvB | EvC | EvD | EvF | EvG]: ...
@overload
def merge(*sources: AsyncIterable[EvE], ids: Sequence[str], resume: Mapping[str, str] | None = None) -> Stream[EvE]: ...
def merge(
    *sources: AsyncIterable[Any], ids: Sequence[str] | None = None, resume: Mapping[str, str] | None = None
) -> Stream[Any]:
    """Interleave several streams, forwarding each item as soon as it arrives.

    The merged stream ends when every source has ended (at once when there is none: a
    `Stream[Never]` to type checkers). If one source fails, the others are closed and the error
    goes on downstream (to `catch`, or to the response, which ends the stream with its typed
    error event). When the consumer stops (a client disconnects), every source is closed: their
    `finally` blocks run. Sources that are ready at the same time take turns; each source's own
    order is kept.

    Sources that number their events from 0 would collide on a merged stream, and one id could
    not resume them all. With `ids=` (a name per source), each event's id becomes a composite
    cursor of every source's latest position, `echo:3,reverse:2`, so the client's one
    `Last-Event-ID` resumes every source: split it with `cursors` and pass the result as
    `resume=`, so the positions of sources that have not moved yet are kept too.

    Example:
        ```python
        @app.get("/both")
        @sse()
        def both(message: str, last_event_id: LastEventId = None) -> AsyncIterable[Echo | ReverseEcho]:
            after = ops.cursors(last_event_id)  # {"echo": "3", "reverse": "2"}
            return ops.merge(
                echoes(message, after=after.get("echo")),
                reverse_echoes(message, after=after.get("reverse")),
                ids=("echo", "reverse"),
                resume=after,
            )
        ```

    Args:
        *sources: The streams to merge: async generators, pipelines, any async iterables.
        ids: A name per source, turning event ids into composite cursors. The sources must then
            yield events (`BaseEvent`; type checkers refuse other sources with `ids`); an event
            without an id is forwarded as it is, and one with an empty id (a reset) drops its
            source from the cursor, so that source starts over on a reconnection.
        resume: The cursor the client resumes from (`cursors(last_event_id)`), with `ids`.

    Returns:
        A stream of every source's items: `merge(a, b)` is a `Stream[A | B]`.

    Raises:
        TypeError: `ids` is a single string or holds a name that is not a string, `resume` is
            not a mapping of strings to strings, or (while streaming, with `ids`) a source
            yields something that is not an event.
        ValueError: `ids` does not name each source once or holds a name that is not valid Unicode
            (a lone surrogate), `resume` holds a position that is not, or `resume` is given
            without `ids`.
    """
    if ids is None:
        if resume is not None:
            raise ValueError("merge(resume=...) needs ids=..., the names the cursor's positions belong to")
        return _merge(*sources)
    return _merge_with_ids(sources, _check_names(ids, len(sources)), _check_resume(resume))


# No source, as for `merge`.
@overload
def chain() -> Stream[Never]: ...
@overload
def chain(a: AsyncIterable[A], /) -> Stream[A]: ...
@overload
def chain(a: AsyncIterable[A], b: AsyncIterable[B], /) -> Stream[A | B]: ...
@overload
def chain(a: AsyncIterable[A], b: AsyncIterable[B], c: AsyncIterable[C], /) -> Stream[A | B | C]: ...
@overload
def chain(
    a: AsyncIterable[A], b: AsyncIterable[B], c: AsyncIterable[C], d: AsyncIterable[D], /
) -> Stream[A | B | C | D]: ...
@overload
def chain(
    a: AsyncIterable[A], b: AsyncIterable[B], c: AsyncIterable[C], d: AsyncIterable[D], f: AsyncIterable[F], /
) -> Stream[A | B | C | D | F]: ...
@overload
def chain(
    a: AsyncIterable[A],
    b: AsyncIterable[B],
    c: AsyncIterable[C],
    d: AsyncIterable[D],
    f: AsyncIterable[F],
    g: AsyncIterable[G],
    /,
) -> Stream[A | B | C | D | F | G]: ...
@overload
def chain(*sources: AsyncIterable[E]) -> Stream[E]: ...
def chain(*sources: AsyncIterable[Any]) -> Stream[Any]:
    """Play several streams one after the other.

    Each source is opened only when the previous one has ended; with none, the chain ends at
    once (a `Stream[Never]` to type checkers). When the chain ends early (the consumer stops, a
    source fails), the sources it has not reached are closed too, in order, before its close
    returns: what it would have closed after reading them, an async iterator with an `aclose`
    (an async generator, started or not; a pipeline's streamer; a subscription object). A
    not-yet-started generator costs nothing to close. An async iterable that makes its iterator
    when it is read (a pipeline, a `source(...)` of a list) has opened nothing, and is left as
    it is.

    Example:
        ```python
        ops.chain(intro(), story(), outro())  # Stream[Intro | Chapter | Outro]
        ```

    Resuming "history, then live" is not a chain: what is published while the history is read
    reaches neither source. Subscribe to the live updates first, read the history, then send
    the live updates after the history's last id.
    """
    return _chain(*sources)


def cursors(last_event_id: str | None, /) -> dict[str, str]:
    """Split a merged stream's id (`echo:3,reverse:2`) into each source's position.

    The inverse of `merge(..., ids=...)`'s ids: give each source its own position to resume
    after. A missing or empty id gives `{}`: every source starts over. The reading is lenient:
    each comma-separated part is split at its first `:`, a part without one is skipped, and a
    name given twice keeps its last position; `merge` ignores names it does not have. An id
    from before the stream was merged gives `{}` unless it looks like `name:position`: check
    the positions you get, as for any id a client sends.

    Example:
        >>> cursors("echo:3,reverse:2")
        {'echo': '3', 'reverse': '2'}
        >>> cursors(None)
        {}
    """
    return _parse_cursor(last_event_id)


@sources_operator
async def _chain(*sources: AsyncIterable[E]) -> AsyncIterator[E]:
    # aiostream's chain never closed a source it had not reached: a started generator's
    # `finally` ran when the collector or the loop's shutdown got to it, in another task, and a
    # subscription object was never closed.
    reached = 0
    try:
        for source in sources:
            reached += 1
            async with opened(source) as streamer:
                async for item in streamer:
                    yield item
    finally:
        if reached < len(sources):
            await _close_unreached(iter(sources[reached:]))


async def _close_unreached(sources: Iterator[AsyncIterable[Any]]) -> None:
    """Close, in order, the sources a chain ended before reaching, as it closes those it read.

    An async iterator with an `aclose` is closed; an iterable that makes its iterator when it
    is read has opened nothing. Every close runs, whatever the ones before it raised (a further
    cancellation included): an error goes on once the rest are closed, as the `__context__` of
    any error they raise, as errors of nested `finally` blocks chain.
    """
    # A loop, not a level of recursion per failed close: a chain of thousands of sources whose
    # closes fail ran out of stack, and left the rest unclosed. The last error is raised again
    # around each close after it, as it would be handled there in nested `finally` blocks; each
    # raise sets its context and adds to its traceback, which are put back as they were.
    error: BaseException | None = None
    trace: types.TracebackType | None = None
    context: BaseException | None = None
    try:
        for source in sources:
            aclose = getattr(source, "aclose", None) if isinstance(source, AsyncIterator) else None
            if aclose is None:
                continue
            try:
                if error is None:
                    await closed(aclose)
                else:
                    try:
                        raise error.with_traceback(trace)
                    except BaseException:
                        error.__context__ = context
                        await closed(aclose)  # an error of its own takes the one handled as its context
            except BaseException as exc:
                error, trace, context = exc, exc.__traceback__, exc.__context__
        if error is not None:
            try:
                raise error.with_traceback(trace)
            finally:
                error.__context__ = context
    finally:
        error = trace = context = None  # this frame, in the error's traceback, must not hold it


@sources_operator
async def _merge(*sources: AsyncIterable[E]) -> AsyncIterator[E]:
    async with contextlib.aclosing(_interleave(sources)) as pairs:
        async for _, item in pairs:
            yield item


class _Opened:
    """A source's streamer, as the merge's exit stack holds it: until its pump has closed it.

    The stack closes a source whose pump never ran (cancelled before its first step); one whose
    pump closed it is done with, and the stack holding its streamer (the source's iterator, a
    pipeline's whole chain) would keep every ended source until the last one ends.
    """

    __slots__ = ("streamer",)

    def __init__(self, streamer: AsyncIteratorContext[Any]) -> None:
        self.streamer: AsyncIteratorContext[Any] | None = streamer

    async def __aenter__(self) -> _Opened:
        assert self.streamer is not None
        await self.streamer.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: types.TracebackType | None
    ) -> None:
        # Closed, not thrown what ends the merge (a source it cannot open): see `opened`.
        streamer = self.streamer
        if streamer is not None:
            await closed(streamer.aclose)


class _Failed:
    """A source's exception, queued in its turn so items that arrived before it go out first."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_ENDED: Any = object()


class _Turns:
    """The hand-off between the source pumps and the merged stream: a queue of ready items.

    Each source has one pump task that fetches an item, queues it and waits until the merged
    stream has forwarded it (its gate): a source is read at most one item ahead, as aiostream's
    own merge does. A source whose item was just forwarded rejoins the queue behind the others
    that are ready, so ready sources take turns. A source that has ended or failed is marked
    `ended`: its pump only closes it from then on, and is waited for, not cancelled.
    """

    __slots__ = ("ended", "gates", "loop", "ready", "waiter")

    def __init__(self, count: int) -> None:
        self.loop = asyncio.get_running_loop()
        self.ready: deque[tuple[int, Any]] = deque()
        self.gates: list[asyncio.Future[None] | None] = [None] * count
        self.ended: list[bool] = [False] * count
        self.waiter: asyncio.Future[None] | None = None

    def put(self, index: int, item: Any) -> None:
        self.ready.append((index, item))
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def pump(self, index: int, opened: _Opened) -> None:
        streamer = opened.streamer
        assert streamer is not None
        try:
            async for item in streamer:
                if _being_cancelled():
                    # The source took this pump's cancellation (a bare `except:` around an
                    # `await`) and went on yielding: the merged stream is closing, and nobody
                    # will take the item. Waiting at its gate would hold the close for ever;
                    # ending here closes the source at that `yield`, as the response closes a
                    # stream that does the same.
                    return
                gate = self.gates[index] = self.loop.create_future()
                self.put(index, item)
                await gate
        except BaseException as exc:
            # Whatever the source raises goes downstream, a `CancelledError` of its own (a future
            # it awaited was cancelled) too. When the pump itself is cancelled (the merged stream
            # is closing), the pull it abandons ends there; an error other than the cancellation
            # is the source's cleanup failing, raised as the pump's own, as `aclose` would.
            if not _being_cancelled():
                self.ended[index] = True
                self.put(index, _Failed(exc))
            elif not isinstance(exc, asyncio.CancelledError):
                raise
        else:
            self.ended[index] = True
            self.put(index, _ENDED)
        finally:
            # Closed here, not from the merged stream's task: the source's whole life, its
            # `finally` included, runs in this task's context (a `ContextVar.reset` there needs
            # the context of its `set`). An error of that cleanup is the pump's own.
            try:
                await closed(streamer.aclose)
            finally:
                opened.streamer = None

    def release(self, index: int) -> None:
        """Let source `index` fetch its next item: the merged stream has forwarded the last one."""
        gate = self.gates[index]
        self.gates[index] = None
        if gate is not None and not gate.done():
            gate.set_result(None)


async def _interleave(sources: Sequence[AsyncIterable[Any]]) -> AsyncGenerator[tuple[int, Any]]:
    """Merge `sources` fairly, yielding `(source index, item)` pairs.

    aiostream's merge starts a task per item and waits on it with `asyncio.wait`, and serves the
    first ready source first (a busy source starves the others). One task per source, woken by
    plain futures, costs a fraction of that per item (see docs/design.md); aiostream's
    `streamcontext` still opens and closes every source.
    """
    async with contextlib.AsyncExitStack() as stack:
        opened: list[_Opened] = []
        for index, source in enumerate(sources):
            try:
                opened.append(await stack.enter_async_context(_Opened(streamcontext(source))))
            except BaseException:
                # A source that cannot be opened (its `__aiter__` raises) ends the merge before
                # it starts: the ones after it are closed here, as a chain closes those it did not
                # reach, then those opened, by the stack.
                await _close_unreached(iter(sources[index + 1 :]))
                raise
        turns = _Turns(len(opened))
        loop = turns.loop
        pumps = _start(turns, opened)
        alive = len(opened)
        opened.clear()
        try:
            ready = turns.ready
            while alive:
                if not ready:
                    waiter = turns.waiter = loop.create_future()
                    try:
                        await waiter
                    finally:
                        turns.waiter = None
                    continue
                index, item = ready.popleft()
                if item is _ENDED:
                    alive -= 1
                    continue
                if type(item) is _Failed:
                    error, item = item.error, None
                    try:
                        raise error
                    finally:
                        # Raised here, the error's traceback holds this frame: keeping the
                        # error in a local too would make a cycle only the collector frees.
                        del error
                yield index, item
                turns.release(index)
        finally:
            cleanup_error = await _stop(pumps, turns.ended)
            if cleanup_error is not None:
                pumps.clear()  # a task holds its error: none may stay in this frame, which it holds
                try:
                    raise cleanup_error
                finally:
                    del cleanup_error


def _start(turns: _Turns, opened: Sequence[_Opened]) -> dict[asyncio.Task[None], int]:
    """Start a pump per source: each task by its source's index, until it ends cleanly.

    A pump that ended cleanly has closed its source, and the merged stream's close has nothing
    to wait for: kept, the task (its coroutine, its context) of every source that ended early
    would stay until the last one ends, in a merge of many that lives long.
    """
    pumps: dict[asyncio.Task[None], int] = {}
    forget = functools.partial(_forget_ended, pumps)
    for index, holder in enumerate(opened):
        pump = turns.loop.create_task(turns.pump(index, holder))
        pumps[pump] = index
        pump.add_done_callback(forget)
    return pumps


def _forget_ended(pumps: dict[asyncio.Task[None], int], pump: asyncio.Task[None]) -> None:
    """Drop a pump that ended cleanly; one that failed or was cancelled stays for `_stop` to retrieve."""
    if not pump.cancelled() and pump.exception() is None:
        pumps.pop(pump, None)


async def _stop(pumps: dict[asyncio.Task[None], int], ended: Sequence[bool]) -> BaseException | None:
    """Cancel the pumps still reading and wait for every pump, which closes its source.

    A pump whose source has `ended` (or failed) is only closing it: that close is waited for,
    not cancelled, as the time operators' `stop_pump` does; merge knows the source is done, so
    its cleanup (an iterator's `aclose` giving a connection back) is not a read to interrupt.
    The others are cancelled: a pending read, or a wait at the gate, ends only so.

    Every source's `finally` has run when this returns (the exit stack around the pumps closes
    only a source whose pump was cancelled before it started), also when the merged stream is
    cancelled again meanwhile ("stop now": that goes on to the pumps, closing ones included,
    and is raised once they are done). Returns the first error that a source's cleanup raised;
    every pump's outcome is retrieved.
    """
    if not pumps:
        return None
    tasks = list(pumps)  # each one that ends meanwhile leaves `pumps`
    for pump in tasks:
        if not ended[pumps[pump]]:
            pump.cancel()
    await wait_for_tasks(tasks)
    errors = [pump.exception() for pump in tasks if not pump.cancelled()]
    return next((error for error in errors if error is not None), None)


def _being_cancelled() -> bool:
    # Not a local of the caller: a frame that holds its own task, on the way out with the
    # task's `CancelledError`, makes a cycle (task, error, traceback, frame, task) that only
    # the garbage collector frees.
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


# Composite ids


def _part(name: str, position: str) -> str:
    return f"{quote(name, safe='')}:{quote(position, safe='')}"


def _parse_cursor(last_event_id: str | None) -> dict[str, str]:
    """Split a composite id into source name to position; malformed parts are skipped."""
    positions: dict[str, str] = {}
    if not last_event_id:
        return positions
    for part in last_event_id.split(","):
        name, colon, position = part.partition(":")
        if colon and name:
            positions[unquote(name)] = unquote(position)
    return positions


def _check_names(names: Sequence[str], count: int) -> tuple[str, ...]:
    """Validate the `ids=` names given to `merge` for `count` sources."""
    if isinstance(names, str):
        raise TypeError(f"merge(ids=...) takes one name per source, e.g. ids=('echo', 'reverse'), not {names!r}")
    names = tuple(names)
    if len(names) != count:
        raise ValueError(f"merge(ids=...) needs one name per source: got {len(names)} names for {count} sources")
    for name in cast("tuple[object, ...]", names):  # as an untyped caller may pass them
        # Checked here: a name that is not a string would fail only in the first event's id.
        if not isinstance(name, str):
            raise TypeError(f"merge(ids=...) names must be non-empty strings, got {name!r}")
        if not name:
            raise ValueError(f"merge(ids=...) names must be non-empty strings, got {name!r}")
        if not is_utf8(name):
            # Percent-encoding writes UTF-8: the first event's id would fail mid-stream instead.
            raise ValueError(f"merge(ids=...) names must be valid Unicode (no lone surrogate), got {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"merge(ids=...) names must be unique, got {names!r}")
    return names


def _check_resume(resume: object) -> dict[str, str]:
    """Validate the `resume=` positions given to `merge`: a mapping of names to positions."""
    if resume is None:
        return {}
    if isinstance(resume, str):
        raise TypeError(
            "merge(resume=...) takes the positions that ops.cursors(last_event_id) gives, "
            f"not the id itself: {resume!r}"
        )
    if not isinstance(resume, Mapping):
        raise TypeError(f"merge(resume=...) takes a mapping of source names to positions, got {resume!r}")
    positions = cast("Mapping[object, object]", resume)
    for name, position in positions.items():
        if not isinstance(name, str) or not isinstance(position, str):
            raise TypeError(f"merge(resume=...) maps names to positions, both strings, got {name!r}: {position!r}")
        if not is_utf8(position):
            # `cursors` never gives one, but a mapping built by hand may: it would fail as the
            # stream starts (a 500), or with its first event.
            raise ValueError(f"merge(resume=...) positions must be valid Unicode (no lone surrogate), got {position!r}")
    return cast("dict[str, str]", dict(positions))


@sources_operator
async def _merge_stamped(
    *sources: AsyncIterable[Any], names: tuple[str, ...], resume: Mapping[str, str]
) -> AsyncIterator[Any]:
    # Parts in source order; a source seen in the resumed cursor keeps its position until it moves.
    # An empty position is none, as an empty `Last-Event-ID` is no id.
    parts: dict[str, str] = {name: _part(name, resume[name]) for name in names if resume.get(name)}
    async with contextlib.aclosing(_interleave(sources)) as pairs:
        async for index, event in pairs:
            name = names[index]
            if not isinstance(event, BaseEvent):
                raise TypeError(
                    f"merge(ids=...) rewrites event ids, but source {name!r} yielded "
                    f"{type(event).__qualname__}, which is not a BaseEvent"
                )
            event_id: str | None = event.id
            if event_id is None:
                yield event  # the client keeps its last id, which already holds every position
                continue
            if event_id:
                parts[name] = _part(name, event_id)
            else:
                # An empty id resets the client's last id: the source has no position to resume
                # from, and starts over, as it would unmerged. Stamped `name:`, it would resume
                # "after ''", which no source can.
                parts.pop(name, None)
            yield event.model_copy(update={"id": ",".join(parts[n] for n in names if n in parts)})


def _merge_with_ids(
    sources: Sequence[AsyncIterable[Any]], names: tuple[str, ...], resume: Mapping[str, str]
) -> Stream[Any]:
    """Merge `sources`, giving each event a composite id of every source's latest position."""
    return _merge_stamped(*sources, names=names, resume=resume)
