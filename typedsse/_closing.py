"""Closing an async generator, or what wraps one, that may be suspended inside a task group.

Shared by the response, which closes the stream it plays, the operators, which close their
sources, and `aiter_messages`, which closes its chunks: each takes a close that a task group
reports as a group the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

__all__ = ["closed"]


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
