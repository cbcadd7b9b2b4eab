"""The app tests/test_servers.py serves on every ASGI server, importable by a server in a process of its own.

A stream records what its cleanup did in a file under the marks folder (`MARKS_ENV`), one line
per step, so a test sees it whether the server runs in a thread of the test process or in a
process of its own, and also after the server has stopped.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs

import anyio
from fastapi import Depends, FastAPI, Query
from starlette.types import ASGIApp, Receive, Scope, Send

from typedsse import BaseEvent, LastEventId, sse, wait_for_streams

MARKS_ENV = "TYPEDSSE_TEST_MARKS"
"""The environment variable that names the marks folder, for a server in a process of its own."""


class Tick(BaseEvent[int]): ...


class Seen(BaseEvent[str | None]):
    """The `Last-Event-ID` an endpoint received, sent back with that id."""


STREAMS_WAIT = 2.0
"""Seconds the lifespan waits for the streams' cleanup at shutdown, at most."""

GRACEFUL_STEP = 1.8
"""Seconds /sync-step's second step takes: past the servers' graceful timeout, within `STREAMS_WAIT` after it."""

BIG_EVENTS = 32 * 1024
"""How many events /big sends at most: about a kilobyte each, far more than any socket buffer holds."""


def mark(marks: Path, key: str, step: str) -> None:
    """Append `step` to the record of the stream `key`."""
    with (marks / key).open("a") as record:
        record.write(step + "\n")


class RecordOutcome:
    """Records how the app's call ended for a request with a `key`: it returned, or raised what."""

    def __init__(self, app: ASGIApp, marks: Path) -> None:
        self.app = app
        self.marks = marks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = parse_qs(scope.get("query_string", b"").decode()).get("key", [None])[0]
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:
            if key is not None:
                mark(self.marks, key, f"raised:{type(exc).__name__}")
            raise
        if key is not None:
            mark(self.marks, key, "returned")


@asynccontextmanager
async def waits_for_streams(app: FastAPI) -> AsyncIterator[None]:
    """The lifespan the Server shutdown docs give: at shutdown, the streams' cleanup ends first."""
    yield
    with anyio.move_on_after(STREAMS_WAIT):
        await wait_for_streams()


def create_app(marks: Path) -> FastAPI:
    """The test app; every stream named by a `key` query parameter records its cleanup under `marks`.

    Its lifespan waits for the streams' cleanup at shutdown (`wait_for_streams`).
    """
    app = FastAPI(lifespan=waits_for_streams)
    app.add_middleware(RecordOutcome, marks=marks)

    def cleanup(key: Annotated[str, Query()]) -> Iterator[None]:
        try:
            yield
        finally:  # also when the request ends cancelled (a server's shutdown)
            mark(marks, key, "dependency")

    @app.get("/blocked")
    @sse(retry=1500)
    async def blocked(key: str, _: Annotated[None, Depends(cleanup)]) -> AsyncIterator[Tick]:
        """One event, then a wait that only the client leaving (or a shutdown) ends."""
        try:
            yield Tick(data=0, id="0")
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.05)  # cleanup that awaits for a while
            mark(marks, key, "finally")

    @app.get("/pinging")
    @sse(ping=0.3)
    async def pinging(key: str) -> AsyncIterator[Tick]:
        """One event, then silence kept alive: a client that leaves unnoticed is found at a write."""
        try:
            yield Tick(data=0, id="0")
            await asyncio.sleep(3600)
        finally:
            mark(marks, key, "finally")

    @app.get("/sync-busy")
    @sse(ping=0.3)
    def sync_busy(key: str) -> Iterator[Tick]:
        """A sync stream whose second step outlasts a shutdown's wait: the loop closes while it runs."""
        steps_on = threading.get_ident()
        try:
            yield Tick(data=0, id="0")
            time.sleep(STREAMS_WAIT + 2)
            yield Tick(data=1, id="1")
        finally:
            mark(marks, key, "finally:" + ("own-thread" if threading.get_ident() == steps_on else "other-thread"))

    @app.get("/sync-step")
    @sse(ping=None)
    def sync_step(key: str) -> Iterator[Tick]:
        """A sync stream whose second step ends within a shutdown's wait, though after uvicorn's deadline."""
        steps_on = threading.get_ident()
        try:
            yield Tick(data=0, id="0")
            time.sleep(GRACEFUL_STEP)
            mark(marks, key, "stepped")
            yield Tick(data=1, id="1")
        finally:
            mark(marks, key, "finally:" + ("own-thread" if threading.get_ident() == steps_on else "other-thread"))

    @app.get("/stuck")
    @sse()
    async def stuck(key: str) -> AsyncIterator[Tick]:
        """One event, then a wait; its cleanup never ends unless it is cancelled."""
        try:
            yield Tick(data=0, id="0")
            await asyncio.sleep(3600)
        finally:
            try:
                await asyncio.Event().wait()
            finally:
                mark(marks, key, "interrupted")

    @app.get("/cleanup-fails")
    @sse(ping=None)
    async def cleanup_fails(key: str) -> AsyncIterator[Tick]:
        """One event, then a wait; its cleanup fails (a lock it cannot release, say)."""
        try:
            yield Tick(data=0, id="0")
            await asyncio.sleep(3600)
        finally:
            mark(marks, key, "finally")
            raise LookupError(f"{key}: the cleanup failed")

    @app.get("/late")
    @sse(ping=None)
    async def late(key: str) -> AsyncIterator[Tick]:
        """The first event after a second: a client may leave before the response has started."""
        mark(marks, key, "started")
        try:
            await asyncio.sleep(1)
            yield Tick(data=0)
        finally:
            mark(marks, key, "finally")

    @app.get("/quiet")
    @sse(ping=0.5)
    async def quiet() -> AsyncIterator[Tick]:
        """One event, then silence: keep-alive comments every half second."""
        yield Tick(data=0)
        await asyncio.sleep(3600)

    @app.api_route("/resume", methods=["GET", "HEAD"])
    @sse()
    async def resume(last_event_id: LastEventId = None) -> AsyncIterator[Tick]:
        """The three events after the last one the client saw, then the end of the stream."""
        after = int(last_event_id) if last_event_id else 0
        for n in range(after + 1, after + 4):
            yield Tick(data=n, id=str(n))

    @app.get("/seen")
    @sse()
    async def seen(last_event_id: LastEventId = None) -> AsyncIterator[Seen]:
        """The id the client sent back, as data and as the event's id: what it resumes from next."""
        yield Seen(data=last_event_id, id=last_event_id)

    @app.get("/big")
    @sse(send_timeout=0.5)
    async def big(key: str) -> AsyncIterator[Tick]:
        """32 MiB of events as fast as the client takes them: one that stops reading is dropped long before the end.

        The bound keeps a server that buffers without limit (instead of making the write wait)
        from taking the machine's memory: the stream then reaches its end, and says so.
        """
        try:
            for _ in range(BIG_EVENTS):
                yield Tick(data=10**1000)
                await asyncio.sleep(0)
            mark(marks, key, "end")
        finally:
            mark(marks, key, "finally")

    return app


def create_slow_dependency_app(marks: Path) -> FastAPI:
    """An app whose stream's dependency cleanup awaits, and whose lifespan closes something else first.

    At a shutdown deadline the request's response returns (cancelled), and FastAPI runs the
    dependency's cleanup after it, in the request's task; the lifespan's shutdown waits for
    that cleanup to begin (closing a resource it shares, say) before it waits for the streams.
    """
    cleanup_began = asyncio.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        with anyio.move_on_after(STREAMS_WAIT):
            await cleanup_began.wait()
            await wait_for_streams()

    app = FastAPI(lifespan=lifespan)

    async def session(key: Annotated[str, Query()]) -> AsyncIterator[None]:
        try:
            yield
        finally:
            mark(marks, key, "cleanup")
            cleanup_began.set()
            await asyncio.sleep(0.2)  # flushing, closing: a cleanup that awaits
            mark(marks, key, "cleaned-up")

    @app.get("/feed")
    @sse(ping=None)
    async def feed(_: Annotated[None, Depends(session)]) -> AsyncIterator[Tick]:
        """One event, then a wait that only the client leaving (or a shutdown) ends."""
        yield Tick(data=0, id="0")
        await asyncio.sleep(3600)

    return app


def from_environment() -> FastAPI:
    """The app factory for a server started as a command (`granian --factory servers_app:from_environment`)."""
    return create_app(Path(os.environ[MARKS_ENV]))
