"""Closing an async generator, or what wraps one, that may be suspended inside a task group.

Shared by the response, which closes the stream it plays, the operators, which close their
sources, and `aiter_messages`, which closes its chunks: each takes a close that a task group
reports as a group the same way.
"""

from __future__ import annotations

import types
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import Generic, TypeVar

from aiostream.core import Streamer, streamcontext

__all__ = ["closed", "opened"]

T = TypeVar("T")


async def closed(aclose: Callable[[], Awaitable[object]]) -> None:
    """Close a generator; a task group handing on the `GeneratorExit` it got, in a group, has closed as asked.

    Closing a generator suspended at a `yield` inside a task group (a client leaving a stream
    that keeps a heartbeat task beside its events) raises `GeneratorExit` in the group, which
    raises it back wrapped in a `BaseExceptionGroup` (asyncio's and anyio's alike): `aclose()`
    takes a bare `GeneratorExit` as a generator that closed, but not a group of them, and every
    such close read as a failed stream. What else the group holds is raised, as a group.
    """
    try:
        await aclose()
    except BaseExceptionGroup as group:
        rest = group.split(GeneratorExit)[1]
        if rest is not None:
            try:
                raise rest from group.__cause__
            finally:
                del rest  # this frame, in its traceback, must not hold it
        # Nothing but the `GeneratorExit` sent: the generator closed, as `aclose()` asked.


class opened(Generic[T]):  # named as a function, like `contextlib.aclosing`
    """Open an operator's source as aiostream's `streamcontext` does, and close it on the way out.

    Whatever ends the block, the source is closed (`GeneratorExit` at its `yield`), as the
    response closes a generator: an error of the operator's own function, or of its consumer,
    is not thrown into the source, as `streamcontext` throws it. Thrown in, it reached the
    source's own `except` as if the source had failed: one that caught it and ended made the
    error vanish (the stream ended as if complete), and one suspended in a task group handed
    it back wrapped in an exception group, which `catch(exceptions=...)` no longer matched.
    """

    __slots__ = ("_streamer",)

    def __init__(self, source: AsyncIterable[T]) -> None:
        self._streamer = streamcontext(source)

    async def __aenter__(self) -> Streamer[T]:
        return await self._streamer.__aenter__()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: types.TracebackType | None
    ) -> None:
        try:
            await closed(self._streamer.aclose)
        except BaseException as exc:
            # The source's cleanup failed: chained to the error that ended the block, as an
            # error of a `finally` is, not to the `GeneratorExit` that asked for the close.
            if error is not None and exc is not error and type(exc.__context__) in (GeneratorExit, type(None)):
                exc.__context__ = error
            raise
