"""Operator pipelines returned by `@sse` endpoints, over a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from typedsse import BaseEvent, Decoder, LastEventId, ServerSentMessage, sse
from typedsse import operators as ops

from conftest import LiveServer

pytestmark = pytest.mark.e2e


class Tick(BaseEvent[int]): ...


class Tock(BaseEvent[str]): ...


class Step(BaseEvent[str]): ...


class Closed:
    """Which sources have run their `finally`, visible from the test's thread."""

    def __init__(self, *names: str) -> None:
        self.events = {name: threading.Event() for name in names}

    def mark(self, name: str) -> None:
        self.events[name].set()

    def wait(self, *names: str, timeout: float = 10.0) -> list[str]:
        """Wait for `names` to close; return the ones that did, then every other closed one."""
        done = [name for name in names if self.events[name].wait(timeout)]
        return done + [name for name, event in self.events.items() if name not in names and event.is_set()]


def read_messages(url: str, count: int, **kwargs: Any) -> list[ServerSentMessage]:
    """Read `count` messages (or all, if the stream ends first), then drop the connection."""
    decoder = Decoder()
    messages: list[ServerSentMessage] = []
    with httpx.Client(timeout=10) as client, client.stream("GET", url, **kwargs) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            messages.extend(decoder.feed(chunk))
            if len(messages) >= count:
                return messages[:count]
    return messages


def make_app(closed: Closed) -> FastAPI:
    app = FastAPI()

    async def ticks(name: str, *, after: str | None = None) -> AsyncIterator[Tick]:
        try:
            for i in itertools.count(int(after) + 1 if after is not None else 0):
                yield Tick(data=i, id=str(i))
                await asyncio.sleep(0.01)
        finally:
            closed.mark(name)

    async def tocks() -> AsyncIterator[Tock]:
        try:
            yield Tock(data="before the failure")
            await asyncio.sleep(0.05)
            raise RuntimeError("the database went away")
        finally:
            closed.mark("tocks")

    @app.get("/merged")
    @sse(ping=5)
    def merged() -> AsyncIterable[Tick | Tock]:
        return ops.merge(ticks("left"), ticks("right")) | ops.throttle(0.001)

    async def beating(name: str) -> AsyncIterator[Tick]:
        # Its events beside a heartbeat task, in a task group. It never awaits between them: when
        # it is not running, it is suspended at a `yield` inside the group.
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(asyncio.Event().wait())
                for i in itertools.count():
                    yield Tick(data=i, id=str(i))
        finally:
            closed.mark(name)

    @app.get("/beating")
    @sse(ping=5)
    def with_heartbeat() -> AsyncIterable[Tick | Tock]:
        return ops.merge(beating("left"), ticks("right"))

    @app.get("/failing")
    @sse(ping=5)
    def failing() -> AsyncIterable[Tick | Tock]:
        return ops.merge(ticks("left"), tocks())

    async def steps(name: str, *, after: str | None) -> AsyncIterator[Step]:
        for i in range(int(after) + 1 if after is not None else 0, 3):
            yield Step(data=f"{name}:{i}", id=str(i))
            await asyncio.sleep(0.01)

    @app.get("/resumable")
    @sse(ping=5)
    def resumable(last_event_id: LastEventId = None) -> AsyncIterable[Step]:
        after = ops.cursors(last_event_id)
        return ops.merge(
            steps("left", after=after.get("left")),
            steps("right", after=after.get("right")),
            ids=("left", "right"),
            resume=after,
        )

    async def epochs(name: str, *, after: str | None) -> AsyncIterator[Step]:
        # A feed whose history was truncated: it says so with an empty id, then numbers afresh.
        start = int(after) + 1 if after is not None else 0
        for i in range(start, 3):
            yield Step(data=f"{name}:{i}", id=str(i))
            await asyncio.sleep(0.01)
        if after is None:
            yield Step(data=f"{name}:truncated", id="")

    @app.get("/resets")
    @sse(ping=5)
    def resets(last_event_id: LastEventId = None) -> AsyncIterable[Step]:
        after = ops.cursors(last_event_id)
        return ops.merge(
            epochs("left", after=after.get("left")),
            steps("right", after=after.get("right")),
            ids=("left", "right"),
            resume=after,
        )

    class Subscription:
        """Subscribed when made, as a broker's client is; `aclose` unsubscribes."""

        def __aiter__(self) -> Subscription:
            return self

        async def __anext__(self) -> Tock:
            await asyncio.sleep(0.01)
            return Tock(data="live")

        async def aclose(self) -> None:
            closed.mark("right")

    @app.get("/chained")
    @sse(ping=5)
    def chained() -> AsyncIterable[Tick | Tock]:
        return ops.chain(ticks("left"), Subscription())

    @app.get("/until-done")
    @sse(ping=5)
    def until_done() -> AsyncIterable[Tick | Tock]:
        # A job's updates: ticks, a final tock, then what a feed of them would send next.
        async def updates() -> AsyncIterator[Tick | Tock]:
            try:
                async for tick in ticks("left"):
                    yield tick
                    if tick.data == 2:
                        yield Tock(data="done")
            finally:
                closed.mark("tocks")

        return updates() | ops.take_while(lambda event: not isinstance(event, Tock), inclusive=True)

    @app.get("/mapped-failing")
    @sse(ping=5)
    def mapped_failing() -> AsyncIterable[Tick | Tock]:
        # A feed that ends quietly when it fails itself, and a `map` that fails at its third tick.
        async def feed() -> AsyncIterator[Tick]:
            try:
                async for tick in ticks("left"):
                    yield tick
            except Exception:
                closed.mark("tocks")  # it took the map's failure for its own

        def checked(tick: Tick) -> Tick:
            if tick.data == 2:
                raise ValueError("no third tick")
            return tick

        return feed() | ops.map(checked)

    return app


@pytest.fixture
def closed() -> Closed:
    return Closed("left", "right", "tocks")


@pytest.fixture
def server(live_server: Callable[..., Any], closed: Closed) -> str:
    return str(live_server(make_app(closed)).url)


def test_pipeline_client_disconnect_runs_every_merged_sources_finally(server: str, closed: Closed) -> None:
    messages = read_messages(f"{server}/merged", 4)
    assert [message.event for message in messages] == ["tick"] * 4
    assert closed.wait("left", "right") == ["left", "right"]


def test_pipeline_client_disconnect_closes_a_source_in_a_task_group_quietly(
    closed: Closed, caplog: pytest.LogCaptureFixture
) -> None:
    # Closed at a `yield` inside its task group, the source raises the close's `GeneratorExit`
    # back in a `BaseExceptionGroup`: merge took it for a failed cleanup, and every client
    # leaving was logged as "the stream failed after its response ended", with a traceback.
    with caplog.at_level(logging.ERROR, logger="typedsse"), LiveServer(make_app(closed)) as live:
        messages = read_messages(f"{live.url}/beating", 4)
        assert [message.event for message in messages] == ["tick"] * 4
        assert closed.wait("left", "right") == ["left", "right"]
    # The server has stopped: the request, and whatever it logged, is over.
    assert [record.getMessage() for record in caplog.records if record.name == "typedsse"] == []


def test_pipeline_client_disconnect_closes_the_sources_a_chain_has_not_reached(server: str, closed: Closed) -> None:
    # The client leaves while the first source plays: the subscription after it was never closed.
    messages = read_messages(f"{server}/chained", 3)
    assert [message.event for message in messages] == ["tick"] * 3
    assert closed.wait("left", "right") == ["left", "right"]


def test_pipeline_failing_source_sends_the_typed_error_and_closes_the_others(server: str, closed: Closed) -> None:
    messages = read_messages(f"{server}/failing", 1000)
    assert messages[-1] == ServerSentMessage(
        event="typedsse.error", data='{"message":"The stream failed.","code":"internal_error"}', id=messages[-1].id
    )
    assert messages[0] == ServerSentMessage(event="tick", data="0", id="0")
    assert [(m.event, m.data) for m in messages if m.event == "tock"] == [("tock", '"before the failure"')]
    assert closed.wait("left", "tocks") == ["left", "tocks"]


def test_pipeline_merged_ids_resume_every_source_from_one_last_event_id(server: str) -> None:
    first = read_messages(f"{server}/resumable", 4)
    rest = read_messages(f"{server}/resumable", 100, headers={"Last-Event-ID": first[-1].id})
    received = [*first, *rest]
    # Each source's steps arrive exactly once, in order, across the two connections...
    for name in ("left", "right"):
        assert [m.data for m in received if m.data.startswith(f'"{name}:')] == [f'"{name}:{i}"' for i in range(3)]
    # ...and every id is the cursor of every source seen so far, the moved one included.
    for message in received:
        name, step = message.json().split(":")
        assert ops.cursors(message.id)[name] == step
    assert ops.cursors(received[-1].id) == {"left": "2", "right": "2"}


def test_pipeline_merged_source_that_resets_its_id_starts_over_on_reconnection(server: str) -> None:
    first = read_messages(f"{server}/resets", 100)
    assert [m.data for m in first if m.data.startswith('"left:')][-1] == '"left:truncated"'
    # The reset left the cursor: the reconnection resumes `right` alone, and `left` starts over.
    assert ops.cursors(first[-1].id) == {"right": "2"}
    rest = read_messages(f"{server}/resets", 100, headers={"Last-Event-ID": first[-1].id})
    assert [m.data for m in rest] == ['"left:0"', '"left:1"', '"left:2"', '"left:truncated"']


def test_pipeline_ends_the_response_with_the_event_take_while_stops_at(server: str, closed: Closed) -> None:
    messages = read_messages(f"{server}/until-done", 1000)  # the response ends by itself
    assert [(m.event, m.data) for m in messages] == [("tick", "0"), ("tick", "1"), ("tick", "2"), ("tock", '"done"')]
    assert closed.wait("tocks", "left") == ["tocks", "left"]


def test_pipeline_whose_map_fails_sends_the_typed_error_and_closes_the_source(server: str, closed: Closed) -> None:
    # The map's error was thrown into the feed, which caught it and ended: the response ended as
    # if the stream were complete, without its error event.
    messages = read_messages(f"{server}/mapped-failing", 1000)
    assert [(m.event, m.data) for m in messages] == [
        ("tick", "0"),
        ("tick", "1"),
        ("typedsse.error", '{"message":"The stream failed.","code":"internal_error"}'),
    ]
    assert closed.wait("left") == ["left"]
