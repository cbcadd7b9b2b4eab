from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import math
import re
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI, Request, Response
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from typedsse import (
    BaseEvent,
    ErrorPayload,
    EventCatalog,
    EventStreamResponse,
    EventTypeError,
    WireFormatError,
    encode,
    responses,
    sse,
    wait_for_streams,
)
from typedsse import operators as ops
from typedsse.decoding import Decoder, ServerSentMessage, parse
from typedsse.encoding import KEEPALIVE

from conftest import EarlyTimersLoop, GarbageWatch, LiveServer, eager_task_factory

# The built-in error event, as the wire carries it after a failure.
INTERNAL_ERROR = b'event: typedsse.error\ndata: {"message":"The stream failed.","code":"internal_error"}\n\n'
REQUEST_REFUSED = b'event: typedsse.error\ndata: {"message":"The request was refused.","code":"request_refused"}\n\n'


class Tick(BaseEvent[int]): ...


class Other(BaseEvent[int]): ...


class Failure(BaseEvent[str], name="app.failure"): ...


# -- unit tests: the response driven by a bare ASGI harness --------------------------------------


class Harness:
    """Calls an ASGI app with a receive that blocks until `disconnect()`, recording every send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.gone = asyncio.Event()
        self.wrote = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self.wrote.set()

    async def wait_for_writes(self, count: int) -> None:
        while self.writes < count:
            self.wrote.clear()
            await self.wrote.wait()

    def disconnect(self) -> None:
        self.gone.set()

    async def run(self, response: EventStreamResponse, method: str = "GET") -> None:
        scope = {"type": "http", "method": method, "path": "/", "headers": []}
        await response(scope, self.receive, self.send)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")

    @property
    def writes(self) -> int:
        return sum(1 for m in self.sent if m["type"] == "http.response.body")


@pytest.mark.anyio
async def test_response_coalesces_ready_events_into_few_writes() -> None:
    async def burst() -> AsyncIterator[Tick]:
        for i in range(5000):
            yield Tick(data=i)  # never awaits: every event is ready at once

    harness = Harness()
    await harness.run(EventStreamResponse(burst()))
    messages = parse(harness.body)
    assert [m.json() for m in messages] == list(range(5000))
    # ~120 KB of frames, all ready at once: one write per run of 128 events (the producer then
    # lets the loop turn), not one per event, plus the final one.
    assert harness.writes <= 5000 // 128 + 2


class Line(BaseEvent[str], encoding="text"): ...


@pytest.mark.anyio
@pytest.mark.parametrize("send_timeout", [None, 5.0])
@pytest.mark.parametrize("position", ["first", "in a batch", "last"])
async def test_a_large_event_goes_to_the_server_in_slices(position: str, send_timeout: float | None) -> None:
    # A server takes each message into its own buffer whole: a 300 KB event written at once to
    # a client that stopped reading stayed in the process's memory as long as the connection
    # did, after `send_timeout` had ended the stream too.
    large = Line(data="x" * 300_000)

    async def stream() -> AsyncIterator[BaseEvent[Any]]:
        if position != "first":
            yield Tick(data=1)
        if position == "in a batch":
            yield large
            yield Tick(data=2)
            return
        yield large

    harness = Harness()
    await asyncio.wait_for(harness.run(EventStreamResponse(stream(), ping=None, send_timeout=send_timeout)), 5)
    bodies = [message for message in harness.sent if message["type"] == "http.response.body"]
    assert max(len(message["body"]) for message in bodies) <= 64 * 1024
    assert [message.get("more_body", False) for message in bodies] == [True] * (len(bodies) - 1) + [False]
    assert [message.data for message in parse(harness.body)] == [
        *(["1"] if position != "first" else []),
        large.data,
        *(["2"] if position == "in a batch" else []),
    ]


@pytest.mark.anyio
async def test_response_writes_each_event_as_soon_as_it_is_ready() -> None:
    release = asyncio.Event()

    async def slow() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        await release.wait()
        yield Tick(data=2)

    harness = Harness()
    task = asyncio.create_task(harness.run(EventStreamResponse(slow())))
    for _ in range(100):
        await asyncio.sleep(0)
    assert harness.sent[0]["type"] == "http.response.start"
    assert harness.body == b"event: tick\ndata: 1\n\n"
    release.set()
    await task
    assert harness.body == b"event: tick\ndata: 1\n\nevent: tick\ndata: 2\n\n"
    assert harness.sent[-2:] == [
        {"type": "http.response.body", "body": b"event: tick\ndata: 2\n\n", "more_body": True},
        {"type": "http.response.body", "body": b"", "more_body": False},
    ]


@pytest.mark.anyio
async def test_response_ends_a_burst_in_its_last_write() -> None:
    async def burst() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        yield Tick(data=2)

    harness = Harness()
    await harness.run(EventStreamResponse(burst()))
    assert harness.sent[1:] == [
        {"type": "http.response.body", "body": b"event: tick\ndata: 1\n\nevent: tick\ndata: 2\n\n", "more_body": False}
    ]


@pytest.mark.anyio
async def test_response_writes_an_event_after_idle_in_the_step_that_made_it() -> None:
    go = asyncio.Event()
    log: list[str] = []

    def stream(name: str) -> AsyncIterator[Tick]:
        async def generate() -> AsyncIterator[Tick]:
            yield Tick(data=0)
            await go.wait()
            log.append(f"made {name}")
            yield Tick(data=1)

        return generate()

    harnesses = {name: Harness() for name in "abc"}
    for name, harness in harnesses.items():
        original = harness.send

        async def send(message: dict[str, Any], name: str = name, original: Any = original) -> None:
            if message.get("body"):
                log.append(f"sent {name}")
            await original(message)

        harness.send = send  # type: ignore[method-assign]
    tasks = [asyncio.create_task(h.run(EventStreamResponse(stream(n)))) for n, h in harnesses.items()]
    for harness in harnesses.values():
        await harness.wait_for_writes(1)
    log.clear()
    go.set()
    await asyncio.gather(*tasks)
    # Each event goes out before the next connection's stream even runs: none waits in a queue
    # behind the others' work.
    assert log[:6] == ["made a", "sent a", "made b", "sent b", "made c", "sent c"]


@pytest.mark.anyio
async def test_response_yields_to_the_loop_between_writes() -> None:
    ticks = 0

    async def firehose() -> AsyncIterator[Tick]:
        while True:
            yield Tick(data=0)

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    harness = Harness()
    stream = asyncio.create_task(harness.run(EventStreamResponse(firehose(), ping=None)))
    counter = asyncio.create_task(other())
    await harness.wait_for_writes(50)
    harness.disconnect()
    await stream
    counter.cancel()
    assert ticks >= 25  # the other task ran between the writes of a stream that never awaits


@pytest.mark.anyio
async def test_a_stream_that_never_awaits_lets_the_loop_turn_every_few_dozen_events() -> None:
    # Only a full buffer (64 KiB) paused the producer: some two thousand small events went by
    # between two turns of the loop, and with a few hundred such streams every other stream
    # on the server waited about a second for each of its events.
    made = 0

    async def firehose() -> AsyncIterator[Tick]:
        nonlocal made
        for i in range(5_000):
            made += 1
            yield Tick(data=i)

    async def other() -> list[int]:
        seen: list[int] = []  # how many events the stream had made, at each of this task's turns
        while not seen or seen[-1] < 5_000:
            seen.append(made)
            await asyncio.sleep(0)
        return seen

    counter = asyncio.create_task(other())
    await asyncio.sleep(0)  # its first sample, before the stream starts
    harness = Harness()
    await asyncio.wait_for(harness.run(EventStreamResponse(firehose(), ping=None)), timeout=10)
    seen = await asyncio.wait_for(counter, timeout=10)
    assert harness.body.count(b"event: tick") == 5_000
    assert max(later - earlier for earlier, later in itertools.pairwise(seen)) <= 200


@pytest.mark.anyio
async def test_response_sends_a_keepalive_when_headers_wait_longer_than_ping() -> None:
    async def late() -> AsyncIterator[Tick]:
        await asyncio.sleep(0.3)
        yield Tick(data=1)

    harness = Harness()
    await harness.run(EventStreamResponse(late(), ping=0.05, retry=100))
    assert harness.body.startswith(b"retry: 100\n\n:\n\n")
    assert harness.body.endswith(b"event: tick\ndata: 1\n\n")
    assert harness.body.count(b":\n\n") >= 3


@pytest.mark.anyio
async def test_response_sends_no_keepalive_while_events_flow() -> None:
    async def steady() -> AsyncIterator[Tick]:
        for i in range(12):
            yield Tick(data=i)
            await asyncio.sleep(0.02)  # well inside `ping` every time

    harness = Harness()
    await harness.run(EventStreamResponse(steady(), ping=0.1))
    assert b":\n\n" not in harness.body
    assert [m.json() for m in parse(harness.body)] == list(range(12))


# uvloop rounds a timer's delay to the millisecond: the keep-alive's timer, set for 10.3 ms of
# silence, fires at 10 ms. Set again for the 0.3 ms left, it fired at once, and again, until the
# clock caught up: some four hundred wake-ups per keep-alive on a real loop.
EARLY_TIMERS = pytest.mark.parametrize("anyio_backend", [("asyncio", {"loop_factory": EarlyTimersLoop})])


@EARLY_TIMERS
@pytest.mark.anyio
async def test_a_keepalive_timer_that_fires_early_sends_the_keepalive() -> None:
    async def quiet() -> AsyncIterator[Tick]:
        await asyncio.sleep(1.0)
        yield Tick(data=1)

    loop = asyncio.get_running_loop()
    assert isinstance(loop, EarlyTimersLoop)
    harness = Harness()
    await harness.run(EventStreamResponse(quiet(), ping=0.0103))
    keepalives = harness.body.count(KEEPALIVE)
    assert loop.timers <= keepalives + 2  # one per keep-alive, and the stream's own sleep
    assert keepalives >= 50
    assert harness.body.endswith(b"event: tick\ndata: 1\n\n")


@EARLY_TIMERS
@pytest.mark.anyio
async def test_a_keepalive_wait_that_ends_early_while_on_error_awaits_sends_the_keepalive() -> None:
    async def slow_hook(exc: Exception) -> Failure:
        await asyncio.sleep(1.0)
        return Failure(data="sorry")

    loop = asyncio.get_running_loop()
    assert isinstance(loop, EarlyTimersLoop)
    catalog = EventCatalog.of(Tick | Failure)
    harness = Harness()
    await harness.run(EventStreamResponse(_two_ticks_then_fails(), catalog=catalog, on_error=slow_hook, ping=0.0103))
    keepalives = harness.body.count(KEEPALIVE)
    assert loop.timers <= keepalives + 3  # one per keep-alive, the hook's sleep, and the wait it ends
    assert keepalives >= 50
    assert harness.body.endswith(encode(Failure(data="sorry")))


@pytest.mark.anyio
async def test_response_without_ping_waits_for_the_first_event() -> None:
    async def late() -> AsyncIterator[Tick]:
        await asyncio.sleep(0.2)
        yield Tick(data=1)

    harness = Harness()
    await harness.run(EventStreamResponse(late(), ping=None))
    assert harness.body == b"event: tick\ndata: 1\n\n"


@pytest.mark.anyio
async def test_response_raises_errors_before_the_first_event() -> None:
    closed = False

    async def broken() -> AsyncIterator[Tick]:
        nonlocal closed
        try:
            raise LookupError("before anything")
            yield Tick(data=1)  # pragma: no cover
        finally:
            closed = True

    harness = Harness()
    with pytest.raises(LookupError, match="before anything"):
        await harness.run(EventStreamResponse(broken()))
    assert harness.sent == []
    assert closed


@pytest.mark.anyio
async def test_response_ends_a_started_stream_with_a_typed_error_event(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise LookupError("secret internals")

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await harness.run(EventStreamResponse(broken(), name="app.broken"))
    assert harness.body == (b"event: tick\ndata: 1\n\n" + INTERNAL_ERROR)
    [record] = caplog.records
    assert record.getMessage() == "app.broken: the stream failed after it started"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)


async def _await_a_task_someone_else_cancels() -> None:
    task = asyncio.get_running_loop().create_task(asyncio.sleep(10))
    task.cancel()
    await task


@pytest.mark.anyio
async def test_a_stream_raising_a_cancellation_of_its_own_has_failed(caplog: pytest.LogCaptureFixture) -> None:
    # The stream awaited a task that something else cancelled: the response did not cancel it,
    # so the `CancelledError` is a failure like any other, not the end of the stream.
    async def before() -> AsyncIterator[Tick]:
        await _await_a_task_someone_else_cancels()
        yield Tick(data=1)  # pragma: no cover

    async def after() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        await _await_a_task_someone_else_cancels()
        yield Tick(data=2)  # pragma: no cover

    harness = Harness()
    with pytest.raises(RuntimeError, match="CancelledError") as raised:
        await harness.run(EventStreamResponse(before(), name="app.before"))
    assert isinstance(raised.value.__cause__, asyncio.CancelledError)
    assert harness.sent == []

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await harness.run(EventStreamResponse(after(), name="app.after"))
    assert harness.body == (b"event: tick\ndata: 1\n\n" + INTERNAL_ERROR)
    [record] = caplog.records
    assert record.getMessage() == "app.after: the stream failed after it started"


class Abort(BaseException):
    """A library's own control flow (gevent's `Timeout`, a test framework's outcome): no `Exception`."""


def _abort(kind: str) -> BaseException:
    if kind == "group":
        return BaseExceptionGroup("children", [Abort("stop"), LookupError("x")])
    return Abort("stop")


@pytest.mark.anyio
@pytest.mark.parametrize("sync", [False, True], ids=["async", "sync"])
@pytest.mark.parametrize("kind", ["base-exception", "group"])
async def test_a_stream_raising_a_base_exception_has_failed(
    kind: str, sync: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # Only `Exception` and the stream's own cancellation were caught: the stream ended as if
    # complete (a 200 with no events before the first one, a clean end after it), and the
    # error escaped once the response was over, where the server logged it.
    def sync_stream(first: bool) -> Iterator[Tick]:
        if first:
            yield Tick(data=1)
        raise _abort(kind)

    async def async_stream(first: bool) -> AsyncIterator[Tick]:
        if first:
            yield Tick(data=1)
            await asyncio.sleep(0)
        raise _abort(kind)

    stream = sync_stream if sync else async_stream
    raised_kind = type(_abort(kind))
    harness = Harness()
    with pytest.raises(RuntimeError, match=rf"^app\.before: the stream raised {raised_kind.__name__}$") as raised:
        await asyncio.wait_for(harness.run(EventStreamResponse(stream(False), name="app.before")), timeout=10)
    assert type(raised.value.__cause__) is raised_kind
    assert harness.sent == []

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await asyncio.wait_for(harness.run(EventStreamResponse(stream(True), name="app.after")), timeout=10)
    assert harness.body == (b"event: tick\ndata: 1\n\n" + INTERNAL_ERROR)
    [record] = caplog.records
    assert record.getMessage() == "app.after: the stream failed after it started"
    assert record.exc_info is not None
    assert type(record.exc_info[1].__cause__) is raised_kind


@pytest.mark.anyio
async def test_response_on_error_may_be_async_and_falls_back_when_it_fails() -> None:
    async def broken() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise LookupError("x")

    async def async_hook(exc: Exception) -> Failure:
        return Failure(data=str(exc))

    def failing_hook(exc: Exception) -> Failure:
        raise RuntimeError("hook bug")

    harness = Harness()
    await harness.run(EventStreamResponse(broken(), on_error=async_hook))
    assert parse(harness.body)[-1] == ServerSentMessage(event="app.failure", data='"x"', id="", retry=None)

    harness = Harness()
    await harness.run(EventStreamResponse(broken(), on_error=failing_hook))
    assert parse(harness.body)[-1].event == "typedsse.error"


async def _async_hook_cancelled_by_another_task(exc: Exception) -> Failure:
    await _await_a_task_someone_else_cancels()  # a shared notifier, restarted elsewhere
    return Failure(data="never sent")  # pragma: no cover


def _sync_hook_reading_a_cancelled_future(exc: Exception) -> Failure:
    future: asyncio.Future[Failure] = asyncio.get_running_loop().create_future()
    future.cancel()
    return future.result()  # raises CancelledError


@pytest.mark.anyio
@pytest.mark.parametrize("hook", [_async_hook_cancelled_by_another_task, _sync_hook_reading_a_cancelled_future])
async def test_an_on_error_hook_raising_a_cancellation_of_its_own_has_failed(
    hook: Callable[[Exception], Any], caplog: pytest.LogCaptureFixture
) -> None:
    # Nobody cancelled the request: the hook's `CancelledError` is its failure, as a stream's is,
    # and the built-in event is sent. It escaped the response instead, which ended without an
    # error event or the end of its body, and the server logged an application error.
    async def broken() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise LookupError("x")

    harness = Harness()
    catalog = EventCatalog.of(Tick | Failure)
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await harness.run(EventStreamResponse(broken(), catalog=catalog, on_error=hook, name="app.broken"))
    assert harness.body == b"event: tick\ndata: 1\n\n" + INTERNAL_ERROR
    assert harness.sent[-1]["more_body"] is False
    assert [r.getMessage() for r in caplog.records] == [
        "app.broken: the stream failed after it started",
        "app.broken: on_error failed; sending the built-in error event",
    ]
    exc_info = caplog.records[-1].exc_info
    assert exc_info is not None
    assert isinstance(exc_info[1], asyncio.CancelledError)


@pytest.mark.anyio
async def test_response_checks_what_on_error_returns(caplog: pytest.LogCaptureFixture) -> None:
    from typedsse.catalog import EventCatalog

    async def broken() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise LookupError("x")

    def not_an_event(exc: Exception) -> Any:
        return {"message": "a dict"}

    def undeclared(exc: Exception) -> Any:
        return Other(data=2)

    builtin = INTERNAL_ERROR
    for hook, catalog, returned in [
        (not_an_event, None, "builtins.dict"),
        (not_an_event, EventCatalog.of(Tick | Failure), "builtins.dict"),
        (undeclared, EventCatalog.of(Tick | Failure), "test_responses.Other"),
    ]:
        caplog.clear()
        harness = Harness()
        with caplog.at_level(logging.ERROR, logger="typedsse"):
            await harness.run(EventStreamResponse(broken(), catalog=catalog, on_error=hook, name="app.broken"))
        assert harness.body == b"event: tick\ndata: 1\n\n" + builtin  # a complete stream, the built-in event
        assert harness.sent[-1]["more_body"] is False
        assert caplog.records[-1].getMessage().startswith(f"app.broken: on_error returned {returned}, which is not")


@pytest.mark.anyio
@pytest.mark.parametrize("catalog", [None, EventCatalog.of(Tick | Failure)], ids=["no-catalog", "catalog"])
async def test_an_on_error_event_that_cannot_be_encoded_gives_way_to_the_built_in_one(
    catalog: EventCatalog | None, caplog: pytest.LogCaptureFixture
) -> None:
    # The hook's event was encoded unguarded: its WireFormatError broke the response, which
    # ended without the frames made before the failure, an error event or the end of its body.
    async def broken() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise LookupError("x")

    def unwritable(exc: Exception) -> Failure:
        return Failure(data="bad \ud800")  # a lone surrogate: not UTF-8

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await harness.run(EventStreamResponse(broken(), catalog=catalog, on_error=unwritable, name="app.broken"))
    assert harness.body == b"event: tick\ndata: 1\n\n" + INTERNAL_ERROR
    assert harness.sent[-1]["more_body"] is False
    record = caplog.records[-1]
    assert record.getMessage() == (
        "app.broken: on_error returned an event that cannot be encoded; sending the built-in error event"
    )
    assert isinstance(record.exc_info[1] if record.exc_info else None, WireFormatError)


@pytest.mark.anyio
async def test_response_ends_the_stream_on_an_undeclared_event(caplog: pytest.LogCaptureFixture) -> None:
    from typedsse.catalog import EventCatalog

    async def wrong() -> AsyncIterator[Any]:
        yield Tick(data=1)
        yield Other(data=2)
        yield Tick(data=3)  # pragma: no cover

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await harness.run(EventStreamResponse(wrong(), catalog=EventCatalog.of(Tick), name="app.wrong"))
    assert [m.event for m in parse(harness.body)] == ["tick", "typedsse.error"]
    assert parse(harness.body)[-1].json() == {
        "message": "The stream produced an invalid event.",
        "code": "invalid_event",
    }
    assert caplog.records[0].getMessage() == (
        "app.wrong yielded test_responses.Other, which is not one of its events (Tick); ending the stream"
    )


@pytest.mark.anyio
async def test_response_undeclared_first_event_is_an_http_error() -> None:
    from typedsse.catalog import EventCatalog

    async def wrong() -> AsyncIterator[Any]:
        yield Other(data=2)

    with pytest.raises(EventTypeError, match=r"yielded test_responses\.Other"):
        await Harness().run(EventStreamResponse(wrong(), catalog=EventCatalog.of(Tick)))


@pytest.mark.anyio
@pytest.mark.parametrize("catalog", [None, EventCatalog.of(Tick | Failure)], ids=["no-catalog", "catalog"])
async def test_a_class_given_for_an_event_is_named_as_itself(
    catalog: EventCatalog | None, caplog: pytest.LogCaptureFixture
) -> None:
    # `yield Tick` for `yield Tick(data=...)`: the message named the class's own class, Pydantic's
    # metaclass (`pydantic._internal._model_construction.ModelMetaclass`), not `Tick`.
    async def wrong() -> AsyncIterator[Any]:
        yield Tick

    class_named = r"the class test_responses\.Tick \(not an instance of it\), which is not"
    with pytest.raises(EventTypeError, match=rf"^app\.wrong yielded {class_named}"):
        await Harness().run(EventStreamResponse(wrong(), catalog=catalog, name="app.wrong"))

    async def broken() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise LookupError("x")

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await harness.run(
            EventStreamResponse(broken(), catalog=catalog, on_error=lambda exc: Failure, name="app.broken")
        )
    assert harness.body == b"event: tick\ndata: 1\n\n" + INTERNAL_ERROR
    assert re.match(
        r"^app\.broken: on_error returned the class test_responses\.Failure \(not an instance of it\), which is not",
        caplog.records[-1].getMessage(),
    )


@pytest.mark.anyio
async def test_response_closes_an_aiostream_pipeline_on_an_undeclared_event_rather_than_throw_it_in() -> None:
    # Thrown into aiostream's own outermost stage, the refusal reached the feed's `except`: the
    # feed took it for its own failure and ended, and the stream ended as if complete.
    from aiostream import stream

    from typedsse.catalog import EventCatalog

    caught: list[BaseException] = []
    closed = asyncio.Event()

    async def feed() -> AsyncIterator[Any]:
        try:
            yield Tick(data=1)
            yield Other(data=2)
            yield Tick(data=3)  # pragma: no cover
        except Exception as exc:  # pragma: no cover - the failure this test guards against
            caught.append(exc)
        finally:
            closed.set()

    harness = Harness()
    await harness.run(EventStreamResponse(stream.iterate(feed()), catalog=EventCatalog.of(Tick), name="app.wrong"))
    assert [m.event for m in parse(harness.body)] == ["tick", "typedsse.error"]
    assert parse(harness.body)[-1].json()["code"] == "invalid_event"
    assert closed.is_set()
    assert caught == []


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("item", "kind"),
    # Pydantic names a parametrised class after the module that first parametrised it (an older
    # Pydantic, after the generic class's own: `typedsse.events`).
    [({"data": 2}, r"builtins\.dict"), (BaseEvent[int](data=2), r"[\w.]+\.BaseEvent\[int\]")],
)
async def test_response_without_catalog_ends_the_stream_on_an_item_that_is_not_an_event(
    item: Any, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Without a catalog every named event goes; anything else is an invalid item, as with one,
    # not an AttributeError reported as an internal error, nor an unnamed event left unlogged.
    async def wrong() -> AsyncIterator[Any]:
        yield Tick(data=1)
        yield item
        yield Tick(data=3)  # pragma: no cover

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        await harness.run(EventStreamResponse(wrong(), name="app.wrong"))
    assert [m.event for m in parse(harness.body)] == ["tick", "typedsse.error"]
    assert parse(harness.body)[-1].json()["code"] == "invalid_event"
    [record] = caplog.records
    assert re.fullmatch(f"app.wrong yielded {kind}, which is not a named event; ending the stream", record.getMessage())


@pytest.mark.anyio
async def test_response_without_catalog_refuses_a_first_item_that_is_not_an_event() -> None:
    async def wrong() -> AsyncIterator[Any]:
        yield {"data": 2}

    with pytest.raises(
        EventTypeError, match=r"^stream yielded builtins\.dict, which is not a named event; ending the stream$"
    ):
        await Harness().run(EventStreamResponse(wrong()))


async def _tick_then_wait(closed: asyncio.Event) -> AsyncIterator[Tick]:
    """One event, then a wait only a disconnect ends; `closed` is set once its cleanup has run."""
    try:
        yield Tick(data=1)
        await asyncio.sleep(3600)
    finally:
        await asyncio.sleep(0)  # cleanup may await: the cancellation is delivered once
        closed.set()


@pytest.mark.anyio
async def test_response_disconnect_closes_the_generator_at_once() -> None:
    closed = asyncio.Event()
    harness = Harness()
    task = asyncio.create_task(harness.run(EventStreamResponse(_tick_then_wait(closed))))
    await harness.wait_for_writes(1)
    tasks_during = len(asyncio.all_tasks())
    harness.disconnect()
    await asyncio.wait_for(task, timeout=1)
    assert closed.is_set()
    assert len(asyncio.all_tasks()) == tasks_during - 3  # writer, producer and watcher are gone


@pytest.mark.anyio
@pytest.mark.parametrize("ending", ["client left", "request cancelled"])
async def test_a_stream_that_swallows_its_cancellation_is_closed_all_the_same(ending: str) -> None:
    # A bare `except:` around the generator's await took the cancellation sent when the client
    # left, and it went on yielding: the producer buffered 64 KiB for nobody, then waited for a
    # drain that never came. The request, and its dependencies' cleanup, never ended (one the
    # server cancelled, not before the loop's closing cancelled it again).
    pulled_after_leaving = 0
    left = False
    closed = asyncio.Event()

    async def deaf() -> AsyncIterator[Tick]:
        nonlocal pulled_after_leaving, left
        try:
            yield Tick(data=0)
            while True:
                try:
                    await asyncio.sleep(3600 if not left else 0)
                except BaseException:  # what a bare `except:` does: it swallows the cancellation
                    left = True
                if left:
                    pulled_after_leaving += 1
                yield Tick(data=1)
        finally:
            closed.set()

    harness = Harness()
    task = asyncio.create_task(harness.run(EventStreamResponse(deaf(), ping=None)))
    try:
        await asyncio.wait_for(harness.wait_for_writes(1), timeout=5)
        if ending == "client left":
            harness.disconnect()
        else:
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the request never ended"
    finally:
        task.cancel()
        task.cancel()  # a second cancellation interrupts a stream's cleanup: the test does not hang
    await asyncio.wait({task}, timeout=5)
    assert closed.is_set()
    assert pulled_after_leaving <= 200  # not some 64 KiB of events for nobody


@pytest.mark.anyio
@pytest.mark.parametrize("deadline", ["asyncio.timeout", "anyio.fail_after", "anyio.move_on_after"])
@pytest.mark.parametrize("wait", ["turn", "drain"])
async def test_a_deadline_around_the_generators_yields_is_the_generators_own(deadline: str, wait: str) -> None:
    # A generator that yields inside `asyncio.timeout` (a bound on a whole LLM answer) is
    # suspended at a `yield` while the response waits for the loop to turn (every 128 events)
    # or for the writer to drain 64 KiB. A deadline passing then cancelled the response's wait,
    # not the generator: the generator was closed at its `yield`, its `except TimeoutError`
    # never ran, and the stream ended with `internal_error` ("raised CancelledError without
    # being cancelled"). The cancellation belongs at the generator's `yield`.
    handled: list[str] = []
    payload = "x" * 2048 if wait == "drain" else ""  # 32 events fill the buffer: no turn before that

    class Chunk(BaseEvent[str], name="chunk"): ...

    async def answer() -> AsyncIterator[Chunk | TimedOut]:
        try:
            if deadline == "asyncio.timeout":
                async with asyncio.timeout(0):  # passed: due at the response's next wait
                    while True:
                        yield Chunk(data=payload)  # never awaits: all of it is ready
            elif deadline == "anyio.fail_after":
                with anyio.fail_after(0):
                    while True:
                        yield Chunk(data=payload)
            else:
                with anyio.move_on_after(0):
                    while True:
                        yield Chunk(data=payload)
                handled.append("moved on")
        except TimeoutError:
            handled.append("timed out")
        yield TimedOut(data=None)

    harness = Harness()
    await asyncio.wait_for(harness.run(EventStreamResponse(answer(), ping=None)), timeout=5)
    messages = parse(harness.body)
    assert handled == ["moved on" if deadline == "anyio.move_on_after" else "timed out"]
    assert messages[-1].event == "timed_out"
    assert {m.event for m in messages[:-1]} == {"chunk"}


@pytest.mark.anyio
@pytest.mark.parametrize("group", ["anyio", "asyncio"])
async def test_a_task_group_around_the_generators_yields_fails_with_its_childs_error(group: str) -> None:
    # A child of a task group the generator holds across its yields failed while the generator
    # was suspended at a `yield`: the group's cancellation landed in the response's wait, the
    # generator was closed there, and `on_error` got "the stream raised BaseExceptionGroup"
    # (the child's error beside a `GeneratorExit`) rather than the child's error.
    received: list[BaseException] = []

    def on_error(exc: Exception) -> None:
        received.append(exc)

    async def child() -> None:
        raise ValueError("the model's connection broke")

    async def answer() -> AsyncIterator[Tick]:
        if group == "anyio":
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(child)
                while True:
                    yield Tick(data=0)  # never awaits: the child fails during the response's wait
        else:
            async with asyncio.TaskGroup() as task_group:
                task_group.create_task(child())
                while True:
                    yield Tick(data=0)

    harness = Harness()
    await asyncio.wait_for(harness.run(EventStreamResponse(answer(), ping=None, on_error=on_error)), timeout=5)
    [error] = received
    assert isinstance(error, ExceptionGroup)
    assert [type(e) for e in error.exceptions] == [ValueError]


@pytest.mark.anyio
async def test_a_finally_that_yields_after_the_client_left_still_runs_its_cleanup() -> None:
    # The checks for a stream that swallows its cancellation must not take a `finally` that
    # yields a last event (for nobody, the client has gone) for one: what follows it runs.
    log: list[str] = []

    async def farewell() -> AsyncIterator[Tick]:
        try:
            yield Tick(data=1)
            await asyncio.Event().wait()
        finally:
            yield Tick(data=2)
            await asyncio.sleep(0.01)
            log.append("cleaned up")

    harness = Harness()
    task = asyncio.create_task(harness.run(EventStreamResponse(farewell(), ping=None)))
    await asyncio.wait_for(harness.wait_for_writes(1), timeout=5)
    harness.disconnect()
    await asyncio.wait_for(task, timeout=5)
    assert log == ["cleaned up"]


@pytest.mark.anyio
async def test_a_stream_that_swallows_its_cancellation_and_yields_now_and_then_is_closed_at_once() -> None:
    # A feed that took the cancellation sent when the client left, and then yields an event now
    # and then (here after a loop turn each, as a feed with an event a minute would): the check
    # for a client gone came only every 128 buffered events, so the feed went on for 128 of its
    # events, hours for a slow one, with whatever it held open. It is closed at its next events.
    pulled_after_leaving = 0
    left = False
    closed = asyncio.Event()

    async def deaf_feed() -> AsyncIterator[Tick]:
        nonlocal pulled_after_leaving, left
        try:
            yield Tick(data=0)
            while True:
                try:
                    await asyncio.sleep(3600 if not left else 0)
                except BaseException:  # what a bare `except:` does: it swallows the cancellation
                    left = True
                if left:
                    pulled_after_leaving += 1
                yield Tick(data=1)
        finally:
            closed.set()

    harness = Harness()
    task = asyncio.create_task(harness.run(EventStreamResponse(deaf_feed(), ping=None)))
    try:
        await asyncio.wait_for(harness.wait_for_writes(1), timeout=5)
        harness.disconnect()
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the request never ended"
    finally:
        task.cancel()
        task.cancel()  # a second cancellation interrupts a stream's cleanup: the test does not hang
    await asyncio.wait({task}, timeout=5)
    assert closed.is_set()
    assert pulled_after_leaving <= 2


@contextlib.asynccontextmanager
async def heartbeat_beside(group: str) -> AsyncIterator[None]:
    """A task group, anyio's or asyncio's (`group`), running a heartbeat child that never ends around the block."""

    async def heartbeat() -> None:
        await asyncio.Event().wait()

    if group == "anyio":
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(heartbeat)
            yield
    else:
        async with asyncio.TaskGroup() as task_group:
            task_group.create_task(heartbeat())
            yield


@pytest.mark.anyio
@pytest.mark.parametrize("group", ["anyio", "asyncio"])
@pytest.mark.parametrize("ending", ["client left", "request cancelled"])
async def test_a_task_group_around_the_yield_a_client_leaves_at_is_closed_quietly(
    group: str, ending: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The client left while the generator was suspended at a `yield` inside a task group (a
    # heartbeat child beside an LLM's tokens). Closing it raises `GeneratorExit` there, which
    # task groups hand on wrapped in a `BaseExceptionGroup`: every such disconnect was logged
    # as "the stream failed after its response ended", with a traceback.
    closed = asyncio.Event()

    async def answer() -> AsyncIterator[Tick]:
        try:
            async with heartbeat_beside(group):
                while True:
                    yield Tick(data=0)  # never awaits: the client leaves while it is at a `yield`
        finally:
            closed.set()

    harness = Harness()
    task = asyncio.create_task(harness.run(EventStreamResponse(answer(), ping=None)))
    await asyncio.wait_for(harness.wait_for_writes(3), timeout=5)
    if ending == "client left":
        harness.disconnect()
    else:
        task.cancel()
    await asyncio.wait({task}, timeout=5)
    assert closed.is_set()
    assert [r.getMessage() for r in caplog.records if r.name == "typedsse"] == []


@pytest.mark.anyio
@pytest.mark.parametrize("group", ["anyio", "asyncio"])
@pytest.mark.parametrize("ending", ["write refused", "send_timeout"])
async def test_a_pipeline_closed_after_a_failed_write_at_a_task_groups_yield_is_closed_quietly(
    group: str, ending: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A failed write (the server refuses it, or it outlasts `send_timeout`) closes the stream
    # the response plays. A pipeline passes on its source's close: at a `yield` inside a task
    # group, a `BaseExceptionGroup` holding the `GeneratorExit`, logged as a failed stream.
    closed = asyncio.Event()

    async def answer() -> AsyncIterator[Tick]:
        try:
            async with heartbeat_beside(group):
                for i in itertools.count():
                    yield Tick(data=i)
                    await asyncio.sleep(0.001)  # sparse: the producer writes each event itself
        finally:
            closed.set()

    class Server(Harness):
        """A server that learns from a failed write that the client left, before `receive()` says so."""

        async def send(self, message: dict[str, Any]) -> None:
            if self.writes >= 2 and message["type"] == "http.response.body":
                if ending == "write refused":
                    raise ClientGone("the client has gone")
                await asyncio.Event().wait()  # a client that stopped reading: the write never ends
            await super().send(message)

    timeout = 0.05 if ending == "send_timeout" else None
    pipeline = answer() | ops.map(lambda tick: tick)
    with caplog.at_level(logging.ERROR, logger="typedsse"):  # a timed-out write is a warning of its own
        await asyncio.wait_for(Server().run(EventStreamResponse(pipeline, ping=None, send_timeout=timeout)), timeout=5)
    assert closed.is_set()
    assert [r.getMessage() for r in caplog.records if r.name == "typedsse" and r.levelno >= logging.ERROR] == []


@pytest.mark.anyio
@pytest.mark.parametrize("hook", ["sync", "async"])
async def test_on_error_and_the_failure_log_see_what_the_generator_bound_in_its_context(
    hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    # What a generator binds in its context (structlog's `bind_contextvars(job_id=...)`, a
    # Sentry tag) is its request's, as it is for a plain endpoint's exception handler. The
    # generator runs in a task of its own, and `on_error` and the "stream failed" log line ran
    # in the request's task, without it.
    job: contextvars.ContextVar[str] = contextvars.ContextVar("job", default="unbound")
    seen: dict[str, str] = {}

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.setdefault("log", job.get())

    def sync_hook(exc: Exception) -> Failure:
        seen["on_error"] = job.get()
        return Failure(data="failed")

    async def async_hook(exc: Exception) -> Failure:
        await asyncio.sleep(0)
        seen["on_error"] = job.get()
        return Failure(data="failed")

    async def job_events() -> AsyncIterator[Tick]:
        job.set("job-7")
        yield Tick(data=0)
        raise RuntimeError("the job store went away")

    recorder = Recorder()
    logging.getLogger("typedsse").addHandler(recorder)
    try:
        harness = Harness()
        response = EventStreamResponse(job_events(), on_error=sync_hook if hook == "sync" else async_hook)
        await asyncio.wait_for(harness.run(response), timeout=5)
    finally:
        logging.getLogger("typedsse").removeHandler(recorder)
    assert [m.event for m in parse(harness.body)] == ["tick", "app.failure"]
    assert seen == {"log": "job-7", "on_error": "job-7"}
    assert job.get() == "unbound"  # the request's own context is left alone


class TimedOut(BaseEvent[None], name="timed_out"): ...


@pytest.mark.anyio
async def test_a_client_leaving_interrupts_an_on_error_hook_still_awaiting() -> None:
    # The stream failed after its first event, and `on_error` awaits (a slow write of the
    # failure somewhere). The client leaves meanwhile: the request stayed open for as long as
    # the hook awaited, and its dependencies' cleanup with it. Its event has nobody to go to.
    hook_ended = asyncio.Event()

    async def slow_hook(exc: Exception) -> Failure:
        try:
            await asyncio.sleep(3600)
            return Failure(data="late")
        finally:
            hook_ended.set()

    async def fails_after_one() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        await asyncio.sleep(0.01)
        raise RuntimeError("boom")

    harness = Harness()
    catalog = EventCatalog.of(Tick | Failure)
    task = asyncio.create_task(harness.run(EventStreamResponse(fails_after_one(), catalog=catalog, on_error=slow_hook)))
    await harness.wait_for_writes(1)
    await asyncio.sleep(0.05)  # the stream has failed; the hook awaits
    assert not task.done()
    tasks_during = len(asyncio.all_tasks())
    harness.disconnect()
    await asyncio.wait_for(task, timeout=1)
    assert hook_ended.is_set()
    assert harness.body == encode(Tick(data=1))  # nothing after the client left
    assert len(asyncio.all_tasks()) <= tasks_during - 1


async def _two_ticks_then_fails() -> AsyncIterator[Tick]:
    yield Tick(data=0)
    yield Tick(data=1)
    raise RuntimeError("boom")


@pytest.mark.anyio
async def test_while_on_error_awaits_the_events_before_it_are_out_and_keepalives_follow() -> None:
    # The events the stream made before failing waited for the hook, and while it awaited (a
    # slow service) the connection stayed silent past `ping`, long enough for a proxy to cut it.
    release = asyncio.Event()

    async def slow_hook(exc: Exception) -> Failure:
        await release.wait()
        return Failure(data="sorry")

    harness = Harness()
    catalog = EventCatalog.of(Tick | Failure)
    response = EventStreamResponse(_two_ticks_then_fails(), catalog=catalog, on_error=slow_hook, ping=0.05)
    task = asyncio.create_task(harness.run(response))
    events = encode(Tick(data=0)) + encode(Tick(data=1))

    async def keepalives(count: int) -> None:
        while not harness.body.startswith(events + KEEPALIVE * count):
            await harness.wait_for_writes(harness.writes + 1)

    try:
        await asyncio.wait_for(keepalives(2), timeout=5)
        assert not task.done()
    finally:
        release.set()
    await asyncio.wait_for(task, timeout=5)
    keepalives_sent = harness.body.removeprefix(events).removesuffix(encode(Failure(data="sorry")))
    assert len(keepalives_sent) >= 2 * len(KEEPALIVE)
    assert keepalives_sent == KEEPALIVE * (len(keepalives_sent) // len(KEEPALIVE))
    assert [message.get("more_body") for message in harness.sent[1:]] == [True] * (harness.writes - 1) + [False]


@pytest.mark.anyio
@pytest.mark.parametrize("case", ["refused", "send_timeout"])
async def test_a_keepalive_failing_while_on_error_awaits_cancels_the_hook(case: str) -> None:
    # A keep-alive sent while the hook awaits is a write like any other: refused because the
    # client left, or outlasting `send_timeout`, it ends the stream, and the hook with it.
    hook_ended = asyncio.Event()

    async def slow_hook(exc: Exception) -> Failure:
        try:
            await asyncio.sleep(3600)
            return Failure(data="late")
        finally:
            hook_ended.set()

    class Server(Harness):
        async def send(self, message: dict[str, Any]) -> None:
            if message.get("body") == KEEPALIVE:
                if case == "refused":
                    raise ClientGone("the client has gone")
                await asyncio.Event().wait()  # a client that stopped reading
            await super().send(message)

    server = Server()
    catalog = EventCatalog.of(Tick | Failure)
    send_timeout = 0.05 if case == "send_timeout" else None
    response = EventStreamResponse(
        _two_ticks_then_fails(), catalog=catalog, on_error=slow_hook, ping=0.05, send_timeout=send_timeout
    )
    task = asyncio.create_task(server.run(response))
    try:
        done, _ = await asyncio.wait({task}, timeout=5)
        assert done, "the request waited for the hook"
    finally:
        server.disconnect()
    await asyncio.wait_for(task, timeout=5)
    assert hook_ended.is_set()
    assert server.body == encode(Tick(data=0)) + encode(Tick(data=1))


class LeavesWhileStarting(Harness):
    """A client that leaves while the status line is being sent (a middleware's `send` awaits)."""

    def __init__(self) -> None:
        super().__init__()
        self.told = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        message = await super().receive()
        self.told.set()  # the response has heard of the disconnect by the time this wakes anyone
        return message

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.disconnect()
            await self.told.wait()
        await super().send(message)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["task", "future"])
async def test_an_on_error_task_is_cancelled_when_the_client_has_already_left(kind: str) -> None:
    # The stream has failed, and the client is gone before its error event can be sent: a
    # coroutine from the hook was closed, but a task or future it returned was left running,
    # unawaited, and its exception ("never retrieved") went to the loop's handler.
    returned: list[asyncio.Future[Failure]] = []

    async def slow(exc: Exception) -> Failure:
        await asyncio.sleep(3600)
        raise RuntimeError("nobody is told")

    def hook(exc: Exception) -> asyncio.Future[Failure]:
        future = asyncio.ensure_future(slow(exc)) if kind == "task" else asyncio.get_running_loop().create_future()
        returned.append(future)
        return future

    async def fails_at_once() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise RuntimeError("boom")

    harness = LeavesWhileStarting()
    catalog = EventCatalog.of(Tick | Failure)
    await asyncio.wait_for(harness.run(EventStreamResponse(fails_at_once(), catalog=catalog, on_error=hook)), 5)
    [future] = returned
    assert future.cancelled()


@pytest.mark.anyio
async def test_a_request_cancelled_while_on_error_awaits_ends_after_the_hooks_cleanup() -> None:
    # A shutdown cancels the request while the hook awaits: the hook is cancelled too, and the
    # request ended before the hook's own cleanup had (what runs after it, a dependency's
    # cleanup, then ran beside it).
    log: list[str] = []

    async def slow_hook(exc: Exception) -> Failure:
        try:
            await asyncio.sleep(3600)
            return Failure(data="late")
        finally:
            log.append("hook cleanup")
            await asyncio.sleep(0.01)
            log.append("hook cleaned up")

    async def fails_after_one() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise RuntimeError("boom")

    async def request() -> None:
        try:
            catalog = EventCatalog.of(Tick | Failure)
            await Harness().run(EventStreamResponse(fails_after_one(), catalog=catalog, on_error=slow_hook))
        finally:
            log.append("request ended")

    task = asyncio.create_task(request())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["hook cleanup", "hook cleaned up", "request ended"]


def test_a_stream_served_without_an_asyncio_loop_says_it_needs_one() -> None:
    # As under trio (Hypercorn's trio worker): no asyncio loop runs the request. Driven by hand,
    # the response must say what it needs, not fail somewhere inside with "no running event loop".
    async def never() -> None:  # pragma: no cover - never called
        raise AssertionError

    call = EventStreamResponse(iter([]), name="app.ticks")({"type": "http", "method": "GET"}, never, never)
    try:
        with pytest.raises(RuntimeError, match=r"^app\.ticks: typedsse streams need an asyncio event loop"):
            call.send(None)
    finally:
        call.close()


@pytest.mark.anyio
@pytest.mark.parametrize("leaves", [False, True])
async def test_a_loop_with_eager_tasks_streams_every_event(leaves: bool) -> None:
    # Python 3.12's `asyncio.eager_task_factory` runs a task's first step as it is created: the
    # producer read the first event before the watcher existed, took the stream for over, and
    # closed it, so the client got a 200 with no event at all. A client leaving still ends it.
    closed = asyncio.Event()

    async def ticks() -> AsyncIterator[Tick]:
        try:
            for i in range(3):
                yield Tick(data=i)
                await asyncio.sleep(0)
            if leaves:
                await asyncio.Event().wait()
        finally:
            closed.set()

    loop = asyncio.get_running_loop()
    previous = loop.get_task_factory()
    loop.set_task_factory(eager_task_factory)
    try:
        harness = Harness()
        running = asyncio.create_task(harness.run(EventStreamResponse(ticks(), ping=None)))
        if leaves:

            async def all_sent() -> None:
                while True:
                    harness.wrote.clear()
                    if len(parse(harness.body)) == 3:
                        return
                    await harness.wrote.wait()

            await asyncio.wait_for(all_sent(), timeout=5)
            harness.disconnect()
        await asyncio.wait_for(running, timeout=5)
    finally:
        loop.set_task_factory(previous)
    assert [message.data for message in parse(harness.body)] == ["0", "1", "2"]
    assert closed.is_set()


class ClientGone(OSError):
    """What an ASGI server raises for a write to a client that has gone (ASGI 2.4: an `OSError`)."""


# What uvicorn passes on from uvloop for a write on a transport that closed without uvicorn
# telling this request (a pipelined request was waiting behind it).
UVLOOP_CLOSED = "unable to perform operation on <TCPTransport closed=True reading=False 0x7f>; the handler is closed"
REFUSALS: dict[str, Callable[[], BaseException]] = {
    "oserror": lambda: ClientGone("the client has gone"),
    "uvloop": lambda: RuntimeError(UVLOOP_CLOSED),
}


@pytest.mark.anyio
@pytest.mark.parametrize("refusal", list(REFUSALS))
@pytest.mark.parametrize(
    ("case", "refused"),
    [
        ("sparse", 3),  # the producer writes each event itself
        ("sparse, send_timeout", 3),  # the same, through the timed write
        ("burst", 3),  # the writer sends batches
        ("start", 0),  # the status line
    ],
)
async def test_a_write_refused_because_the_client_left_ends_the_stream_quietly(
    case: str, refused: int, refusal: str, caplog: pytest.LogCaptureFixture
) -> None:
    closed = asyncio.Event()

    async def stream() -> AsyncIterator[Tick]:
        try:
            for i in range(10_000):
                yield Tick(data=i)
                await asyncio.sleep(0.001 if case.startswith("sparse") else 0)
        finally:
            closed.set()

    class Server(Harness):
        """A server that never reports the disconnect through `receive()`, and refuses writes instead."""

        async def send(self, message: dict[str, Any]) -> None:
            if len(self.sent) >= refused:
                raise REFUSALS[refusal]()
            await super().send(message)

    server = Server()
    send_timeout = 5.0 if "send_timeout" in case else None
    await Harness().run(EventStreamResponse(_ends()))  # caches and first-use state are not garbage
    with caplog.at_level(logging.WARNING, logger="typedsse"), GarbageWatch() as watch:
        await asyncio.wait_for(server.run(EventStreamResponse(stream(), send_timeout=send_timeout)), timeout=5)
    assert closed.is_set()
    assert len(server.sent) == refused  # nothing was written after the refusal
    assert caplog.records == []  # a client leaving is no failure of the stream
    assert watch.garbage == []  # and the refusal leaves no reference cycle behind


@pytest.mark.anyio
@pytest.mark.parametrize("case", ["refused", "send_timeout"])
async def test_a_producers_failed_write_lets_the_generators_cleanup_finish(case: str) -> None:
    # The producer writes a sparse event itself and the write fails (the server refuses it, or
    # it outlasts `send_timeout`): it closes the generator, whose `finally` awaits its cleanup.
    # The disconnect reported meanwhile must not cancel that cleanup half way.
    wanted, taken, started, release = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    cleanup: list[str] = []

    async def stream() -> AsyncIterator[Tick]:
        try:
            for i in range(3):
                await wanted.wait()
                wanted.clear()
                taken.set()
                yield Tick(data=i)
        finally:
            cleanup.append("started")
            started.set()
            await release.wait()  # closing a cursor, say
            cleanup.append("finished")

    class Server(Harness):
        """A server that learns from a failed write that the client left, before `receive()` says so."""

        async def send(self, message: dict[str, Any]) -> None:
            if self.writes >= 2 and message["type"] == "http.response.body":
                if case == "refused":
                    raise ClientGone("the client has gone")
                await asyncio.Event().wait()  # a client that stopped reading: the write never ends
            await super().send(message)

    server = Server()
    timeout = 0.05 if case == "send_timeout" else None
    running = asyncio.create_task(server.run(EventStreamResponse(stream(), ping=None, send_timeout=timeout)))
    for _ in range(3):
        wanted.set()
        await taken.wait()
        taken.clear()
        await asyncio.sleep(0.001)  # sparse: the producer writes the next event itself
    await asyncio.wait_for(started.wait(), timeout=5)
    server.disconnect()  # `receive()` tells it now, while the cleanup awaits
    await asyncio.sleep(0.01)
    release.set()
    await asyncio.wait_for(running, timeout=5)
    assert cleanup == ["started", "finished"]


@pytest.mark.anyio
async def test_a_write_refused_with_another_runtime_error_is_a_failure() -> None:
    class Broken(Harness):
        async def send(self, message: dict[str, Any]) -> None:
            if len(self.sent) >= 2:
                raise RuntimeError("Unexpected ASGI message 'http.response.body' sent, after response completed.")
            await super().send(message)

    async def ticks() -> AsyncIterator[Tick]:
        for i in range(100):
            yield Tick(data=i)
            await asyncio.sleep(0.001)

    with pytest.raises(RuntimeError, match="after response completed"):
        await asyncio.wait_for(Broken().run(EventStreamResponse(ticks())), timeout=5)


@pytest.mark.anyio
@pytest.mark.parametrize("started", [True, False])
@pytest.mark.parametrize("ending", ["client left", "request cancelled", "status without a body"])
async def test_a_stream_failing_once_no_event_can_tell_is_logged(
    ending: str, started: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # No event can tell the client any more, but a cleanup that fails (a lock not released, a
    # transaction not rolled back) must not go unnoticed: not when the client left, nor when a
    # server's shutdown deadline cancelled the request, nor when the generator set a status
    # that allows no body (the response answers it and closes the stream). Only the first was
    # logged; the other two lost the failure without a word.
    status = Response()
    waiting = asyncio.Event()

    async def endless() -> AsyncIterator[Tick]:
        try:
            if ending == "status without a body":
                status.status_code = 204  # "nothing more for you"
            if started:
                yield Tick(data=1)
            waiting.set()
            await asyncio.sleep(3600)
            yield Tick(data=2)  # pragma: no cover
        finally:
            raise LookupError("the cleanup failed")

    # Without an event, the 204 goes out once `ping` seconds have passed.
    ping = 0.01 if ending == "status without a body" else None
    response = EventStreamResponse(endless(), ping=ping, name="app.endless", merge_from=status)
    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        task = asyncio.create_task(harness.run(response))
        await waiting.wait()
        if ending == "client left":
            harness.disconnect()
        elif ending == "request cancelled":
            task.cancel()  # what uvicorn does at its graceful shutdown's deadline
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
    assert task.cancelled() == (ending == "request cancelled")
    if ending == "status without a body":
        assert (harness.sent[0]["status"], harness.body) == (204, b"")
    [record] = caplog.records
    assert record.getMessage().startswith("app.endless: the stream failed after its response ended")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)


@pytest.mark.anyio
async def test_a_started_stream_refusing_the_request_ends_with_request_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def checked() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise StarletteHTTPException(403, "no longer allowed")

    harness = Harness()
    with caplog.at_level(logging.WARNING, logger="typedsse"):
        await harness.run(EventStreamResponse(checked(), ping=None))
    assert harness.body == b"event: tick\ndata: 1\n\n" + REQUEST_REFUSED
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert caplog.records[0].exc_info is None


@pytest.mark.parametrize(
    "exc", [RuntimeError("boom"), EventTypeError("not an event"), StarletteHTTPException(403, "no")]
)
def test_every_code_of_the_builtin_error_event_is_documented_on_its_payload(exc: Exception) -> None:
    # The payload's docstring is what a client reads of it: the API reference, the OpenAPI
    # document's description of the component, the generated TypeScript's doc comment.
    code = responses.default_error_event(exc).data.code
    assert f"`{code}`" in (ErrorPayload.__doc__ or "")


@pytest.mark.anyio
@pytest.mark.parametrize("status", [204, 304])
async def test_a_started_stream_answering_without_error_ends_quietly(
    status: int, caplog: pytest.LogCaptureFixture
) -> None:
    # `HTTPException(204)` is how an endpoint says "finished" (EventSource stops on a 204). Once
    # the stream has started (a check slower than `ping`), the status cannot be sent: it ended
    # with `internal_error` and a logged traceback, and EventSource reconnected into the same
    # failure. It ends the stream cleanly: the next connection gets the 204 at once.
    async def finished() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        raise StarletteHTTPException(status)

    def hook(exc: Exception) -> None:  # pragma: no cover - not a failure: not called
        raise AssertionError("on_error called")

    harness = Harness()
    with caplog.at_level(logging.INFO, logger="typedsse"):
        await harness.run(EventStreamResponse(finished(), ping=None, on_error=hook, name="app.finished"))
    assert harness.body == b"event: tick\ndata: 1\n\n"
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("WARNING", None)]
    assert caplog.records[0].getMessage() == (
        f"app.finished: the endpoint answered {status} after the stream started, too late to send the status; "
        "the stream ends without an error event"
    )


class RefusingHarness(Harness):
    """A harness whose `receive` fails once `refuse()` is called, as a body size limit does."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = asyncio.Event()

    def refuse(self) -> None:
        self.refused.set()

    async def receive(self) -> dict[str, Any]:
        await self.refused.wait()
        raise StarletteHTTPException(413, "Content Too Large")


@pytest.mark.anyio
@pytest.mark.parametrize("started", [True, False])
async def test_a_request_failing_while_it_streams_ends_the_stream_by_the_error_policy(
    started: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # The client sends a request body over a middleware's size limit: `receive` raises. The
    # stream must not run on unwatched (it would outlive its client), and the error must not
    # come out of the response once it has started (a traceback for every such client).
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[Tick]:
        try:
            if started:
                yield Tick(data=1)
            await asyncio.sleep(3600)
            yield Tick(data=2)  # pragma: no cover
        finally:
            closed.set()

    harness = RefusingHarness()
    task = asyncio.create_task(harness.run(EventStreamResponse(endless(), ping=None)))
    if started:
        await harness.wait_for_writes(1)
    with caplog.at_level(logging.WARNING, logger="typedsse"):
        harness.refuse()
        done, _ = await asyncio.wait([task], timeout=5)
    if not done:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    assert done, "the stream ran on with nothing watching for its client"
    assert closed.is_set()
    if started:
        assert task.exception() is None
        # The client's doing: a refusal, not a failure of the stream, and no traceback in the log.
        assert harness.body == (b"event: tick\ndata: 1\n\n" + REQUEST_REFUSED)
        assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
            (
                "WARNING",
                "stream: the request was refused after the stream started (413 Content Too Large); the stream ends",
                None,
            )
        ]
    else:
        error = task.exception()
        assert isinstance(error, StarletteHTTPException)
        assert error.status_code == 413  # before the first event: an HTTP error
        assert harness.sent == []


@pytest.mark.anyio
async def test_a_request_refused_before_the_start_is_an_http_error_though_an_event_is_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A stream that yields at once (a "connected" event) to a client whose body is over the
    # limit: the refusal was recorded with the first frame ready and nothing sent, and the
    # response started anyway, as for a stream failing after its first event (a 200 and
    # `request_refused` for a chunked body; an ERROR with a traceback in the log besides).
    async def greeting() -> AsyncIterator[Tick]:
        yield Tick(data=1)
        await asyncio.sleep(3600)

    harness = RefusingHarness()
    harness.refuse()  # the body the client sends is over the limit from its first byte
    with caplog.at_level(logging.WARNING, logger="typedsse"), pytest.raises(StarletteHTTPException) as info:
        await asyncio.wait_for(harness.run(EventStreamResponse(greeting(), ping=None)), timeout=5)
    assert info.value.status_code == 413
    assert harness.sent == []
    assert caplog.records == []


class LateRefusingHarness(Harness):
    """A harness whose `receive`, cancelled, fails with a 413 instead: as the request body's reading
    through Starlette's `BaseHTTPMiddleware` does when it is over the size limit."""

    async def receive(self) -> dict[str, Any]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise StarletteHTTPException(413, "Content Too Large") from None
        raise AssertionError("unreachable")  # pragma: no cover


@pytest.mark.anyio
async def test_a_request_failing_once_its_response_has_ended_is_no_stream_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The whole stream went out; the request's body, read on until then, failed as the watch on
    # it ended. That was logged as an ERROR with a traceback: "the stream failed".
    async def single() -> AsyncIterator[Tick]:
        yield Tick(data=1)

    harness = LateRefusingHarness()
    with caplog.at_level(logging.WARNING, logger="typedsse"):
        await asyncio.wait_for(harness.run(EventStreamResponse(single(), ping=None)), timeout=5)
    assert harness.body == b"event: tick\ndata: 1\n\n"
    assert caplog.records == []


class ReplayingHarness(Harness):
    """A harness whose `receive` answers at once with a copy of the request, as a middleware that
    read the body and hands it out again does; after `copies` of them it passes on to the
    blocking receive (`None`: never). A watcher reading it in a tight loop would never let the
    event loop run: after 10,000 copies it says the client left, so such a test fails, not hangs."""

    def __init__(self, copies: int | None) -> None:
        super().__init__()
        self.copies = copies
        self.reads = 0

    async def receive(self) -> dict[str, Any]:
        self.reads += 1
        if self.reads > 10_000:
            return {"type": "http.disconnect"}
        if self.copies is None or self.reads <= self.copies:
            return {"type": "http.request", "body": b"{}", "more_body": False}
        return await super().receive()


def _replay_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "replaying the request" in r.getMessage()]


@pytest.mark.anyio
async def test_a_receive_that_replays_the_request_is_polled_not_spun(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(responses, "_REPLAY_POLL", 0.05)

    async def ticks() -> AsyncIterator[Tick]:
        for i in range(5):
            yield Tick(data=i)
            await asyncio.sleep(0.02)

    harness = ReplayingHarness(copies=None)
    with caplog.at_level(logging.WARNING, logger="typedsse"):
        await asyncio.wait_for(harness.run(EventStreamResponse(ticks(), name="replayed")), timeout=5)
    assert harness.body == b"".join(b"event: tick\ndata: %d\n\n" % i for i in range(5))
    # Three reads at once (the body, one allowed repeat, the one that tells), then one per poll
    # over the stream's ~0.1 s; the tight loop would have read until the harness gave up.
    assert harness.reads < 20
    [warning] = _replay_warnings(caplog)
    assert warning.startswith("replayed: receive() returned 'http.request' after the request body had ended")


@pytest.mark.anyio
@pytest.mark.parametrize(("copies", "warned"), [(1, False), (2, False), (6, True)])
async def test_a_receive_that_replays_the_request_then_waits_still_tells_the_disconnect(
    copies: int, warned: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A middleware that hands out its copy of the body once, then calls the server's receive
    # (which hands out the end of the body once more) is within the rules: no warning, and the
    # disconnect arrives at once. One that replays longer is polled until it passes it on.
    monkeypatch.setattr(responses, "_REPLAY_POLL", 0.01)
    closed = asyncio.Event()
    harness = ReplayingHarness(copies=copies)
    with caplog.at_level(logging.WARNING, logger="typedsse"):
        task = asyncio.create_task(harness.run(EventStreamResponse(_tick_then_wait(closed))))
        await harness.wait_for_writes(1)
        await asyncio.sleep(0.1)  # the copies are all read by now
        harness.disconnect()
        await asyncio.wait_for(task, timeout=5)
    assert closed.is_set()
    assert harness.reads == copies + 1
    assert bool(_replay_warnings(caplog)) is warned


@pytest.mark.anyio
async def test_wait_for_streams_returns_at_once_with_no_stream_open() -> None:
    with anyio.fail_after(1):
        await wait_for_streams()


@pytest.mark.anyio
async def test_wait_for_streams_waits_for_a_cancelled_requests_cleanup_and_its_end() -> None:
    # What a server's shutdown does: cancel the request, then (in the app's lifespan) wait.
    release, cleaned = asyncio.Event(), []
    harness = Harness()
    request = asyncio.create_task(harness.run(EventStreamResponse(_cleanup_that_waits(release, cleaned)())))
    await harness.wait_for_writes(1)
    request.cancel()
    waiting = asyncio.create_task(wait_for_streams())
    await asyncio.sleep(0.05)
    assert not waiting.done()  # the cleanup awaits
    release.set()
    await asyncio.wait_for(waiting, timeout=5)
    assert cleaned == ["done"]
    assert request.cancelled()  # the request had ended too
    assert not responses._requests  # and nothing of it is kept


@pytest.mark.anyio
async def test_wait_for_streams_waits_for_what_a_cancelled_request_runs_after_its_response() -> None:
    # FastAPI runs the dependencies' cleanup after the response has returned, in the request's
    # task. A wait that began then (a lifespan closing something else first) returned at once:
    # the request counted as ended when its response returned, and the loop's closing then
    # interrupted that cleanup.
    returned, release, cleaned = asyncio.Event(), asyncio.Event(), list[str]()
    harness = Harness()

    async def request() -> None:
        try:
            await harness.run(EventStreamResponse(_waits_for_ever()))
        finally:
            returned.set()
            await release.wait()  # a dependency's cleanup that awaits
            cleaned.append("dependency")

    task = asyncio.create_task(request())
    await harness.wait_for_writes(1)
    task.cancel()  # a server's shutdown deadline
    await returned.wait()
    waiting = asyncio.create_task(wait_for_streams())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()
    release.set()
    await asyncio.wait_for(waiting, timeout=5)
    assert cleaned == ["dependency"]
    assert task.cancelled()
    assert not responses._requests


@pytest.mark.anyio
async def test_wait_for_streams_waits_for_a_request_nobody_cancelled_until_its_response_returns() -> None:
    # Past its response, a task nobody cancelled may be doing anything: an in-process client
    # (httpx's ASGITransport) runs the app in the caller's task, which may go on to wait for the
    # app's shutdown, and so for this wait. It serves several responses with one entry.
    harness, shutdown = Harness(), asyncio.Event()

    async def caller() -> None:
        await Harness().run(EventStreamResponse(_ends()))
        await harness.run(EventStreamResponse(_waits_for_ever()))
        await shutdown.wait()

    task = asyncio.create_task(caller())
    await harness.wait_for_writes(1)
    assert len(responses._requests) == 1
    waiting = asyncio.create_task(wait_for_streams())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()  # the second stream is still open
    harness.disconnect()
    await asyncio.wait_for(waiting, timeout=5)
    assert not task.done()
    shutdown.set()
    await asyncio.wait_for(task, timeout=5)
    assert not responses._requests


@pytest.mark.anyio
async def test_wait_for_streams_is_bounded_from_outside_and_leaves_the_streams_alone() -> None:
    harness = Harness()
    request = asyncio.create_task(harness.run(EventStreamResponse(_waits_for_ever())))
    await harness.wait_for_writes(1)
    with anyio.move_on_after(0.05) as scope:
        await wait_for_streams()
    assert scope.cancelled_caught
    assert not request.done()
    harness.disconnect()
    await asyncio.wait_for(request, timeout=5)
    await asyncio.wait_for(wait_for_streams(), timeout=5)


@pytest.mark.anyio
async def test_response_head_closes_the_stream_unstarted() -> None:
    started = False

    async def stream() -> AsyncIterator[Tick]:
        nonlocal started
        started = True
        yield Tick(data=1)

    harness = Harness()
    await harness.run(EventStreamResponse(stream()), method="HEAD")
    assert harness.sent[0]["status"] == 200
    assert harness.body == b""
    assert not started


class Cursor:
    """A sync iterator with a `close` (a database result): no generator, so not closed as one."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __iter__(self) -> Cursor:
        return self

    def __next__(self) -> Tick:
        self.log.append("step")
        raise StopIteration

    def close(self) -> None:
        self.log.append(f"close on {'a thread of its own' if threading.current_thread() is not MAIN else 'the loop'}")


class AsyncCursor:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    def __aiter__(self) -> AsyncCursor:
        return self

    async def __anext__(self) -> Tick:
        self.log.append("step")
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.log.append("aclose")


MAIN = threading.main_thread()


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["HEAD", "GET-204"])
@pytest.mark.parametrize("kind", [Cursor, AsyncCursor])
async def test_a_stream_that_never_runs_closes_an_iterator_object_too(method: str, kind: type[Any]) -> None:
    # A HEAD, or a 204 set before the stream starts, closed generators only: a cursor's
    # connection leaked on every such request.
    log: list[str] = []
    merge_from = Response(status_code=204) if method == "GET-204" else None
    harness = Harness()
    await harness.run(EventStreamResponse(kind(log), merge_from=merge_from), method=method.split("-")[0])
    assert harness.sent[0]["status"] == (204 if merge_from else 200)
    assert log == (["close on a thread of its own"] if kind is Cursor else ["aclose"])


def _refused_merge_from(refusal: str) -> Response:
    merge_from = Response()
    del merge_from.headers["content-length"]
    if refusal == "status":
        merge_from.status_code = 101
    else:
        merge_from.headers[refusal] = "application/json" if refusal == "content-type" else "eu\r\n"
    return merge_from


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("refusal", ["content-type", "x-region", "status"])
@pytest.mark.parametrize("kind", [Cursor, AsyncCursor])
async def test_a_stream_refused_before_it_runs_closes_an_iterator_object(
    method: str, refusal: str, kind: type[Any]
) -> None:
    # A header or status on the `Response` parameter that the stream cannot be sent with fails
    # the request before the stream runs: a cursor returned as the stream was left open.
    log: list[str] = []
    harness = Harness()
    with pytest.raises((ValueError, TypeError), match="set on its Response"):
        await harness.run(EventStreamResponse(kind(log), merge_from=_refused_merge_from(refusal)), method=method)
    assert harness.sent == []
    assert log == (["close on a thread of its own"] if kind is Cursor else ["aclose"])


def _cleanup_that_waits(release: asyncio.Event, cleaned: list[str]) -> Callable[[], AsyncIterator[Tick]]:
    async def stream() -> AsyncIterator[Tick]:
        try:
            yield Tick(data=1)
            await asyncio.sleep(3600)
        finally:
            await release.wait()  # closing a cursor, flushing a log: cleanup that awaits
            cleaned.append("done")

    return stream


@pytest.mark.anyio
async def test_a_cancelled_request_waits_for_the_streams_cleanup_then_ends_cancelled() -> None:
    # A client left and the stream's `finally` is still awaiting when the server cancels the
    # request (a shutdown deadline): the request waits for the cleanup, then ends cancelled.
    release, cleaned, background = asyncio.Event(), list[str](), list[str]()
    harness = Harness()
    response = EventStreamResponse(
        _cleanup_that_waits(release, cleaned)(), background=BackgroundTask(background.append, "ran")
    )
    task = asyncio.create_task(harness.run(response))
    await harness.wait_for_writes(1)
    harness.disconnect()
    for _ in range(5):
        await asyncio.sleep(0)
    task.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    assert not cleaned
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=1)
    assert cleaned == ["done"]
    assert background == []  # a cancelled request runs no background task


@pytest.mark.anyio
@pytest.mark.parametrize("client_left", [False, True])
async def test_a_second_cancellation_interrupts_the_streams_cleanup_and_the_request_ends_after_it(
    client_left: bool,
) -> None:
    release, cleaned = asyncio.Event(), list[str]()
    harness = Harness()
    before = asyncio.all_tasks()
    task = asyncio.create_task(harness.run(EventStreamResponse(_cleanup_that_waits(release, cleaned)())))
    await harness.wait_for_writes(1)
    streams = asyncio.all_tasks() - before - {task}
    assert streams  # the response's own tasks
    if client_left:
        harness.disconnect()
    else:
        task.cancel()  # a shutdown cancels the request while it streams
    for _ in range(5):
        await asyncio.sleep(0)
    if client_left:
        task.cancel()
        for _ in range(5):
            await asyncio.sleep(0)
    assert not task.done()  # waiting for the `finally`
    task.cancel()  # "stop now": passed on to the stream, whose awaiting cleanup is interrupted
    done, _ = await asyncio.wait([task], timeout=1)
    assert done
    assert task.cancelled()
    assert all(stream.done() for stream in streams)  # nothing of the stream runs on after the request
    release.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert cleaned == []


@pytest.mark.anyio
async def test_a_loop_cancelling_every_task_lets_the_streams_cleanup_end_before_the_request() -> None:
    # A server's shutdown deadline cancels the request, and the server returns at once (uvicorn
    # does): asyncio then cancels every task left as its loop closes, the stream's own task
    # included, before that task has run again. It has then been cancelled as often as the
    # request and gets one `CancelledError`: its cleanup runs to its end, and the request (so its
    # dependencies' cleanup) ends after it, not at the loop's cancellation.
    release, cleaned = asyncio.Event(), list[str]()
    harness = Harness()
    before = asyncio.all_tasks()
    task = asyncio.create_task(harness.run(EventStreamResponse(_cleanup_that_waits(release, cleaned)())))
    await harness.wait_for_writes(1)
    task.cancel()  # the deadline
    await asyncio.sleep(0)  # the request cancels the stream's task, which has not run since
    for other in asyncio.all_tasks() - before:
        other.cancel()  # what `asyncio.run` does on its way out
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=1)
    assert cleaned == ["done"]


@pytest.mark.anyio
@pytest.mark.parametrize("client_left", [False, True])
@pytest.mark.parametrize("in_task_group", [False, True])
async def test_a_request_cancelled_by_an_anyio_cancel_scope_waits_for_the_streams_cleanup(
    client_left: bool, in_task_group: bool
) -> None:
    # Starlette's TestClient cancels an unfinished response with an anyio cancel scope, which
    # cancels the request again at every await until it exits: one cancellation, not a second.
    # In a task group (Starlette's BaseHTTPMiddleware runs the app in one), the group cancels
    # its own scope too when its host is cancelled: still the same cancellation.
    release, cleaned = asyncio.Event(), list[str]()
    harness = Harness()
    scope = anyio.CancelScope()
    response = EventStreamResponse(_cleanup_that_waits(release, cleaned)())

    async def request() -> None:
        with scope:
            if in_task_group:
                async with anyio.create_task_group() as group:
                    group.start_soon(harness.run, response)
                    await anyio.sleep_forever()  # the middleware, waiting for the response
            else:
                await harness.run(response)

    task = asyncio.create_task(request())
    await harness.wait_for_writes(1)
    if client_left:
        harness.disconnect()
        for _ in range(5):
            await asyncio.sleep(0)
    scope.cancel()
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()  # waiting for the `finally`
    assert not cleaned
    release.set()
    await asyncio.wait_for(task, timeout=5)
    assert cleaned == ["done"]
    assert scope.cancelled_caught  # the scope got its own cancellation back


async def _ends() -> AsyncIterator[Tick]:
    yield Tick(data=1)
    yield Tick(data=2)


async def _waits_for_ever() -> AsyncIterator[Tick]:
    try:
        yield Tick(data=1)
        await asyncio.sleep(3600)
    finally:
        await asyncio.sleep(0)


async def _fails() -> AsyncIterator[Tick]:
    yield Tick(data=1)
    raise RuntimeError("the model went away")


async def _yields_a_wrong_item() -> AsyncIterator[Any]:
    yield Tick(data=1)
    yield "not an event"


async def _cancelled_by_another_task() -> AsyncIterator[Tick]:
    yield Tick(data=1)
    await _await_a_task_someone_else_cancels()


async def _aborts() -> AsyncIterator[Tick]:
    yield Tick(data=1)
    raise Abort("stop")


def _sync_ticks() -> Iterator[Tick]:
    yield Tick(data=1)
    yield Tick(data=2)


def _sync_fails() -> Iterator[Tick]:
    yield Tick(data=1)
    raise RuntimeError("the model went away")


def _sync_ticks_for_ever() -> Iterator[Tick]:
    yield Tick(data=1)
    while True:
        time.sleep(0.01)
        yield Tick(data=2)


_STREAMS: dict[str, tuple[Callable[[], Any], bool]] = {
    "ends": (_ends, False),
    "disconnect": (_waits_for_ever, True),
    "error-event": (_fails, False),
    "invalid-item": (_yields_a_wrong_item, False),
    "foreign-cancellation": (_cancelled_by_another_task, False),
    "base-exception": (_aborts, False),
    "sync-ends": (_sync_ticks, False),
    "sync-disconnect": (_sync_ticks_for_ever, True),
    "sync-error-event": (_sync_fails, False),
    "merge-disconnect": (lambda: ops.merge(_waits_for_ever(), _waits_for_ever()), True),
    "merge-error-event": (lambda: ops.merge(_fails(), _waits_for_ever()), False),
    "throttle-latest-disconnect": (lambda: _waits_for_ever() | ops.throttle(0.001, mode="latest"), True),
    "throttle-latest-error-event": (lambda: _fails() | ops.throttle(0.001, mode="latest"), False),
    "debounce-disconnect": (lambda: _waits_for_ever() | ops.debounce(0.001), True),
    "chunk-error-event": (lambda: _fails() | ops.chunk(size=1, interval=1) | ops.map(lambda batch: batch[0]), False),
}


@pytest.mark.anyio
@pytest.mark.parametrize("case", list(_STREAMS))
async def test_response_leaves_no_reference_cycles(case: str, caplog: pytest.LogCaptureFixture) -> None:
    # A stream that ends, fails or loses its client frees everything it used by reference
    # counting, at once: nothing waits for the garbage collector (an exception, its traceback
    # and a frame that holds the exception are the usual cycle). On a server that a thousand
    # clients leave at once, what waits for the collector is memory held until its next pass.
    stream, disconnect = _STREAMS[case]
    caplog.set_level(logging.CRITICAL, logger="typedsse")
    await Harness().run(EventStreamResponse(_ends()))  # caches and first-use state are not garbage
    with GarbageWatch() as watch:
        harness = Harness()
        task = asyncio.create_task(harness.run(EventStreamResponse(stream())))
        await harness.wait_for_writes(1)
        if disconnect:
            harness.disconnect()
        await asyncio.wait_for(task, timeout=5)
        del task
    assert parse(harness.body)[0].json() == 1
    assert watch.garbage == []


def _raising_hook(exc: Exception) -> Any:
    raise RuntimeError("the hook has a bug")


async def _async_undeclared_hook(exc: Exception) -> Any:
    return Other(data=2)


@pytest.mark.anyio
@pytest.mark.parametrize(
    "hook",
    [
        _raising_hook,
        lambda exc: {"not": "an event"},
        _async_undeclared_hook,
        _async_hook_cancelled_by_another_task,
        _sync_hook_reading_a_cancelled_future,
    ],
)
async def test_on_error_fallbacks_leave_no_reference_cycles(hook: Any, caplog: pytest.LogCaptureFixture) -> None:
    from typedsse.catalog import EventCatalog

    caplog.set_level(logging.CRITICAL, logger="typedsse")
    await Harness().run(EventStreamResponse(_ends()))
    with GarbageWatch() as watch:
        harness = Harness()
        await harness.run(EventStreamResponse(_fails(), catalog=EventCatalog.of(Tick), on_error=hook))
    assert [m.event for m in parse(harness.body)] == ["tick", "typedsse.error"]
    assert watch.garbage == []


@pytest.mark.anyio
async def test_a_sync_stream_left_while_it_waits_for_a_thread_leaves_no_reference_cycles() -> None:
    # Its step waited for a token of the thread limiter, borrowed for the producer task: anyio's
    # wait holds the borrower in a local, and the task, cancelled there, held the cancellation's
    # traceback, which held that frame: a cycle for each such client, with its connection in it.
    release = threading.Event()
    entered = asyncio.Event()
    loop = asyncio.get_running_loop()

    def blocking() -> Iterator[Tick]:
        loop.call_soon_threadsafe(entered.set)
        release.wait(5)
        yield Tick(data=1)

    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens = limiter.total_tokens
    limiter.total_tokens = 1
    try:
        busy = Harness()
        holder = asyncio.create_task(busy.run(EventStreamResponse(blocking(), ping=None)))
        await asyncio.wait_for(entered.wait(), timeout=5)  # its step holds the only token
        with GarbageWatch() as watch:
            waiting = Harness()
            task = asyncio.create_task(waiting.run(EventStreamResponse(_sync_ticks(), ping=None)))
            for _ in range(1000):  # a few loop turns: the response starts its producer, which asks
                if limiter.statistics().tasks_waiting:
                    break
                await asyncio.sleep(0)
            assert limiter.statistics().tasks_waiting == 1
            waiting.disconnect()
            await asyncio.wait_for(task, timeout=5)
        release.set()
        await asyncio.wait_for(holder, timeout=5)
    finally:
        release.set()
        limiter.total_tokens = tokens
    assert waiting.body == b""
    assert watch.garbage == []


@pytest.mark.anyio
async def test_endpoint_disconnect_leaves_no_reference_cycles() -> None:
    # The same through FastAPI's routing and middleware, as a server calls it.
    app = FastAPI()

    @app.get("/ticks")
    @sse()
    async def ticks() -> AsyncIterator[Tick]:
        async for event in _waits_for_ever():
            yield event

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/ticks",
        "raw_path": b"/ticks",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }

    async def once() -> Harness:
        harness = Harness()
        task = asyncio.create_task(app(scope, harness.receive, harness.send))
        await harness.wait_for_writes(1)
        harness.disconnect()
        await asyncio.wait_for(task, timeout=5)
        return harness

    await once()
    with GarbageWatch() as watch:
        harness = await once()
    assert harness.sent[0]["status"] == 200
    assert watch.garbage == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ping": 0}, "ping must be a positive number"),
        ({"send_timeout": -1}, "send_timeout must be a positive"),
        ({"ping": float("nan")}, "ping must be a positive number"),
        ({"send_timeout": float("nan")}, "send_timeout must be a positive"),
        ({"status_code": 304}, "status_code 304 does not allow a body"),
    ],
)
def test_response_refuses_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventStreamResponse(iter([]), **options)


@pytest.mark.anyio
@pytest.mark.parametrize("option", ["ping", "send_timeout"])
async def test_response_takes_seconds_past_the_range_of_a_float_as_infinite(option: str) -> None:
    # `float()` raised OverflowError, where a bad value is a ValueError; and a huge `int` kept
    # as it was would overflow again when the response adds it to the loop's clock.
    async def late() -> AsyncIterator[Tick]:
        await asyncio.sleep(0.01)
        yield Tick(data=1)

    response = EventStreamResponse(late(), **{option: 10**400})
    assert getattr(response, option) == math.inf
    harness = Harness()
    await asyncio.wait_for(harness.run(response), timeout=5)
    assert harness.body == encode(Tick(data=1))
    with pytest.raises(ValueError, match=f"{option} must be a positive number"):
        EventStreamResponse(iter([]), **{option: -(10**400)})


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"status_code": 1000}, ValueError, "status_code 1000 is not an HTTP status"),
        ({"status_code": "200"}, TypeError, "status_code must be an int"),
        ({"ping": "15"}, TypeError, "ping must be a number of seconds"),
        ({"send_timeout": True}, TypeError, "send_timeout must be a number of seconds"),
    ],
)
def test_response_refuses_options_of_the_wrong_type(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        EventStreamResponse(iter([]), **options)


async def _ticks() -> AsyncIterator[Tick]:
    yield Tick(data=1)


async def _fetch() -> int:
    return 1


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        # Each was taken, and failed on every request: a 500 whose traceback named a thread's
        # `iter()`, or, for a catalog, an invalid item reported with an `AttributeError`.
        (_ticks, {}, r"^content must be an async or sync iterable of events, got function; call the function"),
        (_fetch, {}, r"got function; call the function"),
        ("ab", {}, r"^content must be an async or sync iterable of events, got str$"),
        ({"data": 1}, {}, r"got dict$"),
        (Tick(data=1), {}, r"got Tick$"),
        (
            iter([]),
            {"catalog": Tick | Other},
            r"^catalog must be an EventCatalog or None, got .*EventCatalog\.of\(A \| B\)",
        ),
        (iter([]), {"catalog": [Tick, Other]}, r"^catalog must be an EventCatalog or None"),
        (iter([]), {"on_error": "internal_error"}, r"^on_error must be a callable or None, got 'internal_error'$"),
    ],
    ids=["generator-function", "coroutine-function", "text", "mapping", "event", "union", "list", "on-error"],
)
def test_response_refuses_what_it_cannot_stream_at_once(content: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        EventStreamResponse(content, **options)


def test_response_refuses_a_coroutine_and_closes_it() -> None:
    coroutine = _fetch()
    with pytest.raises(TypeError, match=r"got coroutine; await the coroutine that returns the stream$"):
        EventStreamResponse(coroutine)  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
    assert coroutine.cr_frame is None  # closed: no "never awaited" warning


# -- end to end: a real uvicorn server on 127.0.0.1 ---------------------------------------------


def read_events(url: str, count: int, **kwargs: Any) -> list[ServerSentMessage]:
    """Read `count` events from a stream, then drop the connection."""
    decoder = Decoder()
    received: list[ServerSentMessage] = []
    with httpx.stream("GET", url, timeout=10, **kwargs) as response:
        for chunk in response.iter_raw():
            received.extend(decoder.feed(chunk))
            if len(received) >= count:
                break
    return received


@pytest.fixture
def closed_app() -> tuple[FastAPI, dict[str, threading.Event]]:
    app = FastAPI()
    closed = {"async": threading.Event(), "sync": threading.Event(), "idle": threading.Event()}

    @app.get("/async")
    @sse()
    async def async_stream() -> AsyncIterator[Tick]:
        try:
            i = 0
            while True:
                yield Tick(data=i)
                i += 1
                await asyncio.sleep(0.01)
        finally:
            closed["async"].set()

    @app.get("/idle")
    @sse(ping=None)
    async def idle_stream() -> AsyncIterator[Tick]:
        try:
            yield Tick(data=0)
            await asyncio.sleep(3600)
        finally:
            closed["idle"].set()

    @app.get("/sync")
    @sse()
    def sync_stream() -> Iterator[Tick]:
        try:
            i = 0
            while True:
                yield Tick(data=i)
                i += 1
                time.sleep(0.05)
        finally:
            closed["sync"].set()

    @app.get("/tasks")
    async def tasks() -> int:
        return len(asyncio.all_tasks())

    return app, closed


@pytest.mark.parametrize("path", ["async", "idle", "sync"])
def test_disconnect_runs_the_generators_finally_within_a_second(
    live_server: Callable[..., LiveServer], closed_app: tuple[FastAPI, dict[str, threading.Event]], path: str
) -> None:
    app, closed = closed_app
    server = live_server(app)
    baseline = httpx.get(f"{server.url}/tasks").json()
    assert [m.event for m in read_events(f"{server.url}/{path}", 1)] == ["tick"]
    assert closed[path].wait(timeout=1.0), f"the {path} generator's finally did not run within 1 s"
    deadline = time.monotonic() + 5
    while httpx.get(f"{server.url}/tasks").json() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    assert httpx.get(f"{server.url}/tasks").json() == baseline


@pytest.mark.parametrize("shielded", [False, True], ids=["plain", "own-task-shielded"])
def test_a_client_leaving_during_the_finally_cancels_it_once(
    live_server: Callable[..., LiveServer], shielded: bool
) -> None:
    # The docs' Disconnects section: the cancellation lands where the generator waits, its
    # `finally` included, and only once, so a cleanup run in a task of its own, awaited under
    # `asyncio.shield` and then again, runs to its end.
    app = FastAPI()
    in_finally = threading.Event()
    interrupted = threading.Event()
    release = threading.Event()
    outcome: list[str] = []

    async def save() -> None:
        await asyncio.to_thread(release.wait, 30)
        outcome.append("saved")

    @app.get("/chat")
    @sse()
    async def chat() -> AsyncIterator[Tick]:
        try:
            yield Tick(data=1)
        finally:
            in_finally.set()
            if not shielded:
                try:
                    await save()
                except asyncio.CancelledError:
                    interrupted.set()
                    raise
            else:
                saving = asyncio.ensure_future(asyncio.wait_for(save(), timeout=30))
                try:
                    await asyncio.shield(saving)
                except asyncio.CancelledError:
                    interrupted.set()
                    await saving
                    raise

    server = live_server(app)
    with httpx.stream("GET", f"{server.url}/chat", timeout=10) as response:
        decoder = Decoder()
        for chunk in response.iter_raw():
            if decoder.feed(chunk):
                break  # the last event: the client closes on it while the generator cleans up
        assert in_finally.wait(timeout=10)
    assert interrupted.wait(timeout=10), "the client's close did not reach the finally"
    release.set()
    deadline = time.monotonic() + 10
    while shielded and not outcome and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outcome == (["saved"] if shielded else [])


def test_fast_stream_does_not_starve_other_connections(live_server: Callable[..., LiveServer]) -> None:
    app = FastAPI()

    @app.get("/firehose")
    @sse()
    async def firehose() -> AsyncIterator[Tick]:
        while True:
            yield Tick(data=0)  # never awaits

    @app.get("/hello")
    async def hello() -> str:
        return "hello"

    server = live_server(app)
    stop = threading.Event()
    received = 0

    def drain() -> None:
        nonlocal received
        with httpx.stream("GET", f"{server.url}/firehose", timeout=10) as response:
            for chunk in response.iter_raw():
                received += len(chunk)
                if stop.is_set():
                    return

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        while received < 1_000_000:
            time.sleep(0.01)
        assert httpx.get(f"{server.url}/hello", timeout=5).json() == "hello"
    finally:
        stop.set()
        reader.join(timeout=10)


def test_send_timeout_drops_a_client_that_stopped_reading(live_server: Callable[..., LiveServer]) -> None:
    app = FastAPI()
    closed = threading.Event()

    @app.get("/big")
    @sse(send_timeout=0.5)
    async def big() -> AsyncIterator[Tick]:
        try:
            while True:
                yield Tick(data=10**100)
                await asyncio.sleep(0)
        finally:
            closed.set()

    server = live_server(app)
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
        # Read nothing more: the server's buffers fill, a write stalls, the stream gives up.
        assert closed.wait(timeout=20)


def test_a_sync_generator_runs_every_step_and_its_cleanup_on_one_thread(
    live_server: Callable[..., LiveServer],
) -> None:
    # Thread-bound resources (a sqlite3 connection, a `threading.local` session) must see the
    # same thread at every step, and in `finally`, however many streams run at once.
    app = FastAPI()
    steps: dict[str, list[int]] = {}
    cleanup: dict[str, int] = {}
    session = threading.local()

    @app.get("/steps/{client}")
    @sse()
    def recorded(client: str, count: int = 20) -> Iterator[Tick]:
        threads = steps.setdefault(client, [])
        session.client = client
        try:
            for i in range(count):
                threads.append(threading.get_ident())
                assert session.client == client
                time.sleep(0.002)
                yield Tick(data=i)
        finally:
            cleanup[client] = threading.get_ident()

    server = live_server(app)
    baseline = threading.active_count()
    clients = [f"c{n}" for n in range(8)]

    def read(client: str) -> int:
        if client == "c0":  # one client leaves early: its generator is closed, not exhausted
            return len(read_events(f"{server.url}/steps/{client}?count=1000", 3))
        return len(parse(httpx.get(f"{server.url}/steps/{client}", timeout=10).content))

    after_rounds: list[int] = []
    for _ in range(2):
        steps.clear()
        cleanup.clear()
        with ThreadPoolExecutor(len(clients)) as pool:
            received = list(pool.map(read, clients))
        assert received == [3] + [20] * (len(clients) - 1)
        deadline = time.monotonic() + 5
        while len(cleanup) < len(clients) and time.monotonic() < deadline:
            time.sleep(0.01)
        for client in clients:
            assert len(set(steps[client])) == 1, f"{client} ran on threads {sorted(set(steps[client]))}"
            assert cleanup[client] == steps[client][0], f"{client} was closed on another thread"
        after_rounds.append(threading.active_count())
    # A finished stream hands its thread back to anyio's pool, where the next stream takes it:
    # a second round of as many streams does not add a thread per stream (a leak would leave
    # `baseline + 2 * len(clients)`; a thread still closing the first round's early leaver may
    # make the pool start one more).
    assert after_rounds[0] <= baseline + len(clients), after_rounds
    assert after_rounds[1] < baseline + 2 * len(clients) - 2, after_rounds


@pytest.mark.anyio
async def test_merge_from_never_gives_a_stream_a_content_length() -> None:
    # A plain `Response()` carries `content-length: 0`; a stream sent with it would be cut off.
    async def ticks() -> AsyncIterator[Tick]:
        yield Tick(data=1)

    harness = Harness()
    await harness.run(EventStreamResponse(ticks(), ping=None, merge_from=Response(headers={"x-extra": "1"})))
    start = harness.sent[0]
    names = [name for name, _ in start["headers"]]
    assert b"content-length" not in names
    assert b"x-extra" in names
    assert parse(harness.body)[0].event == "tick"


@pytest.mark.anyio
async def test_a_sync_generator_may_call_back_into_the_event_loop() -> None:
    # The stream's thread is one of anyio's workers, so `anyio.from_thread` works in it as in
    # any `def` FastAPI runs (checking for a disconnect, calling an async helper).
    async def double(value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    def doubled() -> Iterator[Tick]:
        for i in range(3):
            yield Tick(data=anyio.from_thread.run(double, i))

    harness = Harness()
    await harness.run(EventStreamResponse(doubled(), ping=None))
    assert [message.data for message in parse(harness.body)] == ["0", "2", "4"]


class Rows:
    """A sync iterable whose `__iter__` opens what its steps use: a sqlite3 cursor, bound to its thread."""

    def __init__(self, *, fails: bool = False) -> None:
        self.fails = fails
        self.threads: list[threading.Thread] = []  # where `__iter__`, each step and the close ran

    def __iter__(self) -> Iterator[Tick]:
        self.threads.append(threading.current_thread())
        if self.fails:
            raise LookupError("no such table: users")
        db = sqlite3.connect(":memory:")
        return self._rows(db, db.execute("select 1 union all select 2"))

    def _rows(self, db: sqlite3.Connection, cursor: sqlite3.Cursor) -> Iterator[Tick]:
        try:
            for (value,) in cursor:
                self.threads.append(threading.current_thread())
                yield Tick(data=value)
        finally:
            db.close()
            self.threads.append(threading.current_thread())


@pytest.mark.anyio
async def test_a_sync_iterables_iter_runs_on_the_streams_own_thread() -> None:
    # `iter()` ran on the event loop: an `__iter__` that blocks (a query) held up every other
    # connection, and a sqlite3 cursor it opened failed at the first step, on another thread.
    rows = Rows()
    harness = Harness()
    await asyncio.wait_for(harness.run(EventStreamResponse(rows, ping=None)), timeout=10)
    assert [message.json() for message in parse(harness.body)] == [1, 2]
    assert len(rows.threads) == 4
    assert len(set(rows.threads)) == 1
    assert rows.threads[0] is not threading.current_thread()


@pytest.mark.anyio
async def test_a_sync_iterables_iter_failing_is_an_http_error_as_a_failing_first_step_is() -> None:
    rows = Rows(fails=True)
    harness = Harness()
    with pytest.raises(LookupError, match="no such table"):
        await asyncio.wait_for(harness.run(EventStreamResponse(rows, ping=None)), timeout=10)
    assert harness.sent == []
    [thread] = rows.threads
    assert thread is not threading.current_thread()  # raised on the stream's thread, not the loop's
    assert anyio.to_thread.current_default_thread_limiter().borrowed_tokens == 0


@pytest.mark.anyio
async def test_a_sync_stream_whose_thread_cannot_start_fails_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A process out of threads: the error reaches the framework (a 500), and nothing waits for
    # a thread that never came.
    def no_thread(*args: object, **kwargs: object) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(anyio.to_thread, "run_sync", no_thread)

    def ticks() -> Iterator[Tick]:
        yield Tick(data=1)

    with pytest.raises(RuntimeError, match="can't start new thread"):
        await asyncio.wait_for(Harness().run(EventStreamResponse(ticks(), ping=None)), timeout=10)


def test_the_sqlite_export_example_serves_concurrent_clients(
    live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    class UserRow(BaseEvent[str]): ...

    database = tmp_path / "app.db"
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute("create table users (id integer primary key, name text)")
        db.executemany("insert into users (name) values (?)", [(f"user{n}",) for n in range(50)])

    app = FastAPI()

    @app.get("/users/export")
    @sse()
    def export_users(since: int = 0) -> Iterator[UserRow]:
        with contextlib.closing(sqlite3.connect(database)) as db:
            for user_id, name in db.execute("select id, name from users where id > ?", (since,)):
                time.sleep(0.001)
                yield UserRow(data=name, id=str(user_id))

    server = live_server(app)

    def export(_: int) -> list[str]:
        response = httpx.get(f"{server.url}/users/export", timeout=10)
        return [message.event for message in parse(response.content)]

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(export, range(10)))
    assert results == [["user_row"] * 50] * 10


@pytest.mark.anyio
async def test_sync_streams_take_a_token_of_anyios_thread_limiter_per_step() -> None:
    # Blocking streams share the bound FastAPI's `def` endpoints use: at most `total_tokens`
    # steps run at once, and a stream holds no token while it waits to be consumed.
    limiter = anyio.to_thread.current_default_thread_limiter()
    running = peak = 0
    lock = threading.Lock()

    def blocking() -> Iterator[Tick]:
        nonlocal running, peak
        for i in range(5):
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.005)
            with lock:
                running -= 1
            yield Tick(data=i)

    tokens = limiter.total_tokens
    limiter.total_tokens = 2
    try:
        harnesses = [Harness() for _ in range(6)]
        await asyncio.gather(*(h.run(EventStreamResponse(blocking(), ping=None)) for h in harnesses))
    finally:
        limiter.total_tokens = tokens
    assert peak == 2
    assert all([m.json() for m in parse(h.body)] == list(range(5)) for h in harnesses)
    assert limiter.borrowed_tokens == 0


@pytest.mark.anyio
async def test_a_sync_step_that_fails_after_its_client_left_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    # The client leaves while a step runs; the step then fails (here, the generator's `finally`).
    # As for an async generator, the error is logged: it used to be dropped with the step's result.
    def failing() -> Iterator[Tick]:
        try:
            yield Tick(data=0)
            time.sleep(0.3)  # the client leaves meanwhile
        finally:
            raise LookupError("the cleanup failed")

    harness = Harness()
    with caplog.at_level(logging.ERROR, logger="typedsse"):
        task = asyncio.create_task(harness.run(EventStreamResponse(failing(), ping=None, name="app.failing")))
        await harness.wait_for_writes(1)
        harness.disconnect()
        await asyncio.wait_for(task, timeout=10)
    [record] = caplog.records
    assert record.getMessage().startswith("app.failing: the stream failed after its response ended")
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)


@pytest.mark.anyio
async def test_a_sync_stream_cancelled_twice_while_its_close_waits_for_a_token_still_closes() -> None:
    # A server's shutdown cancels a stream, and the loop's closing cancels it again. If the second
    # cancellation comes while the close waits for a thread-limiter token, the close used to be
    # lost: the stream's thread waited for it for ever, its `finally` never ran, and the process,
    # which waits for its threads, never exited.
    limiter = anyio.to_thread.current_default_thread_limiter()
    tokens = limiter.total_tokens
    steps: set[int] = set()
    closed_on: list[int] = []
    closed, busy_started = threading.Event(), threading.Event()

    def idle() -> Iterator[Tick]:
        try:
            for i in range(10):
                steps.add(threading.get_ident())
                yield Tick(data=i)
        finally:
            closed_on.append(threading.get_ident())
            closed.set()

    def busy() -> Iterator[Tick]:
        yield Tick(data=0)
        busy_started.set()
        time.sleep(1.0)  # holds the only token meanwhile
        yield Tick(data=1)

    async def first_then_more(source: AsyncIterator[Tick], go_on: asyncio.Event) -> None:
        await source.__anext__()
        await go_on.wait()
        async for _ in source:
            pass

    limiter.total_tokens = 1
    try:
        go_on = asyncio.Event()
        idle_task = asyncio.create_task(first_then_more(responses._iterate_in_thread(idle()), go_on))
        await asyncio.sleep(0.05)  # the idle stream's thread has run its first step
        going = asyncio.Event()
        going.set()
        busy_task = asyncio.create_task(first_then_more(responses._iterate_in_thread(busy()), going))
        assert await anyio.to_thread.run_sync(busy_started.wait, 5, limiter=anyio.CapacityLimiter(1))
        await asyncio.sleep(0.05)  # the busy stream holds the token for its second step
        go_on.set()
        await asyncio.sleep(0.05)  # the idle stream waits for a token for its next step
        idle_task.cancel()  # the shutdown: its close now waits for a token too
        await asyncio.sleep(0.05)
        idle_task.cancel()  # the loop's closing
        with contextlib.suppress(asyncio.CancelledError):
            await idle_task
        # Closed well before the busy step gives its token back, on the thread that ran its steps.
        assert await anyio.to_thread.run_sync(closed.wait, 0.5, limiter=anyio.CapacityLimiter(1))
        assert closed_on[0] in steps
        busy_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await busy_task
    finally:
        limiter.total_tokens = tokens


def test_a_sync_stream_whose_loop_closed_mid_step_is_closed_on_its_own_thread() -> None:
    # The loop closes (a server's shutdown) while a step runs: nobody will ask for the close, and
    # the garbage collector would run the `finally` on whatever thread it runs on.
    ran_on: list[str] = []

    def stream() -> Iterator[Tick]:
        try:
            ran_on.append(threading.current_thread().name)
            yield Tick(data=0)
        finally:
            ran_on.append(threading.current_thread().name)

    loop = asyncio.new_event_loop()
    future = loop.create_future()
    loop.close()
    requests: Any = responses.queue.SimpleQueue()
    requests.put((future, False))
    generator = stream()  # held here, as the response holds it: not closed by its collection
    thread = threading.Thread(target=responses._serve_stream, args=(generator, requests, loop), name="stream-thread")
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert ran_on == ["stream-thread", "stream-thread"]
    del generator


@pytest.mark.anyio
async def test_a_sync_generator_computes_an_item_only_when_the_response_asks() -> None:
    made: list[int] = []

    def counted() -> Iterator[Tick]:
        for i in range(1000):
            made.append(i)
            yield Tick(data=i)

    class Slow(Harness):
        async def send(self, message: dict[str, Any]) -> None:
            await super().send(message)
            if message["type"] == "http.response.body" and message.get("more_body"):
                self.disconnect()

    harness = Slow()
    await harness.run(EventStreamResponse(counted(), ping=None))
    delivered = len(parse(harness.body))
    assert delivered >= 1
    assert len(made) <= delivered + 2  # no read-ahead beyond the item in progress


@pytest.mark.parametrize("stack", ["asyncio", "uvloop"])
@pytest.mark.parametrize("kind", [SystemExit, KeyboardInterrupt])
def test_a_stream_raising_system_exit_fails_as_a_plain_endpoint_does_and_the_server_runs_on(
    live_server: Callable[..., LiveServer], kind: type[BaseException], stack: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Raised from the producer task, SystemExit and KeyboardInterrupt went through asyncio out
    # of the event loop, and the server stopped. A plain endpoint raising them gets a 500 from
    # uvicorn, which goes on serving: so does a stream, with its error event once started.
    app = FastAPI()

    @app.get("/before")
    @sse()
    async def before() -> AsyncIterator[Tick]:
        raise kind(3)
        yield Tick(data=0)  # pragma: no cover

    @app.get("/after")
    @sse()
    async def after() -> AsyncIterator[Tick]:
        yield Tick(data=0)
        await asyncio.sleep(0.01)
        raise kind(3)

    @app.get("/sync-after")
    @sse()
    def sync_after() -> Iterator[Tick]:
        yield Tick(data=0)
        raise kind(3)

    @app.get("/alive")
    async def alive() -> str:
        return "yes"

    def logged() -> list[str]:
        # The server logs an application's error after its 500 has gone out: wait for the line.
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.1)  # and for any line after it
        return [record.getMessage() for record in caplog.records]

    loop, http = ("uvloop", "httptools") if stack == "uvloop" else ("asyncio", "h11")
    server = live_server(app, loop=loop, http=http, log_config=None)  # uvicorn's loggers propagate to caplog
    with httpx.Client(base_url=server.url, timeout=10) as client, caplog.at_level(logging.ERROR):
        response = client.get("/before")
        assert response.status_code == 500
        assert logged() == ["Exception in ASGI application\n"]
        for path in ("/after", "/sync-after"):
            caplog.clear()
            response = client.get(path)
            assert response.status_code == 200
            assert response.content == encode(Tick(data=0)) + INTERNAL_ERROR
            [line] = logged()
            assert line.endswith(f".{path.removeprefix('/').replace('-', '_')}: the stream failed after it started")
        assert client.get("/alive").json() == "yes"
    assert server.thread.is_alive()


def test_a_client_leaving_before_the_first_event_is_not_an_application_error(
    live_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    # With any `@app.middleware("http")`, Starlette raises "No response returned." if the app
    # ends without starting its response; a client leaving early is not an error to log.
    app = FastAPI()
    started, closed, done = threading.Event(), threading.Event(), threading.Event()

    @app.middleware("http")
    async def passthrough(request: Request, call_next: Any) -> Any:
        try:
            return await call_next(request)
        finally:
            done.set()

    @app.get("/quiet")
    @sse(ping=None)
    async def quiet() -> AsyncIterator[Tick]:
        try:
            started.set()
            await asyncio.sleep(3600)
            yield Tick(data=1)  # pragma: no cover
        finally:
            closed.set()

    server = live_server(app, log_config=None)  # uvicorn's loggers propagate to caplog
    with caplog.at_level(logging.WARNING):
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET /quiet HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert started.wait(timeout=5)
        assert closed.wait(timeout=5)
        assert done.wait(timeout=5)
        time.sleep(0.3)  # what the server logs, it logs as the request ends
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
