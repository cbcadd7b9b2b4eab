"""The demo page in real Chromium: native EventSource and a fetch-based reader receive the typed events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from examples import chat, echo, progress
from typedsse import BaseEvent, sse
from typedsse.decoding import parse
from typedsse.demo.app import app

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 20_000


class LastEventIdRecorder:
    """ASGI middleware noting, for each request to one path, the `Last-Event-ID` header it carried."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path
        self.seen: list[str | None] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            value = dict(scope["headers"]).get(b"last-event-id")
            self.seen.append(value.decode() if value is not None else None)
        await self.app(scope, receive, send)


@pytest.fixture
def recorder() -> LastEventIdRecorder:
    return LastEventIdRecorder(app, "/echo/echo")


@pytest.fixture
def page(chromium: Any, live_server: Callable[..., Any], recorder: LastEventIdRecorder) -> Iterator[Any]:
    """The demo page, loaded from a live server, failing the test on any script error."""
    server = live_server(recorder)
    context = chromium.new_context(viewport={"width": 1360, "height": 1200})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(server.url + "/")
        page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS)
        yield page
    finally:
        context.close()
    assert errors == []


def start(page: Any, key: str) -> None:
    page.click(f'[data-stream="{key}"] button.start')


def wait_for_state(page: Any, key: str, state: str) -> None:
    page.wait_for_selector(f'[data-stream="{key}"] .state[data-state="{state}"]', timeout=TIMEOUT_MS)


def log_of(page: Any, key: str) -> list[dict[str, str]]:
    """The card's log as the page shows it: events with their name, id and raw data, and status notes."""
    entries: list[dict[str, str]] = page.eval_on_selector_all(
        f'[data-stream="{key}"] .log li',
        """items => items.map(item => item.classList.contains("event")
            ? {event: item.dataset.event, id: item.dataset.id, data: item.querySelector(".data").textContent}
            : {status: item.dataset.status, text: item.textContent})""",
    )
    return entries


def events_of(page: Any, key: str) -> list[dict[str, str]]:
    return [entry for entry in log_of(page, key) if "event" in entry]


def test_browser_eventsource_reconnects_and_resumes_from_last_event_id(
    page: Any, recorder: LastEventIdRecorder, artifacts: Path
) -> None:
    start(page, "echo")
    wait_for_state(page, "echo", "closed")

    events = events_of(page, "echo")
    typed = [
        (echo.Echo if event["event"] == "echo" else echo.ReverseEcho).model_validate(
            {"data": json.loads(event["data"]), "id": event["id"]}
        )
        for event in events
    ]
    assert [(type(event), event.id, event.data.message) for event in typed] == [
        (echo.Echo, "0", "hello"),
        (echo.ReverseEcho, "1", "olleh"),
        (echo.Echo, "2", "hello"),
        (echo.ReverseEcho, "3", "olleh"),
        (echo.Echo, "4", "hello"),
        (echo.ReverseEcho, "5", "olleh"),
    ]
    # Three responses of two events; after each the browser reconnected on its own, sending
    # the last id it had; the fourth request got 204, which stopped it.
    assert recorder.seen == [None, "1", "3", "5"]
    assert [entry.get("status", entry.get("id")) for entry in log_of(page, "echo")] == [
        "connecting",
        "open",
        "0",
        "1",
        "reconnecting",
        "open",
        "2",
        "3",
        "reconnecting",
        "open",
        "4",
        "5",
        "reconnecting",
        "closed",
    ]
    page.screenshot(path=artifacts / "demo-echo.png", full_page=True)


def test_browser_reads_the_post_chat_stream_with_fetch(page: Any, artifacts: Path) -> None:
    start(page, "chat")
    wait_for_state(page, "chat", "done")

    reply = chat.FakeModel().reply([chat.ChatMessage(role="user", content="Tell me about server-sent events")])
    assert reply == (
        'You said "Tell me about server-sent events". Backwards, that reads "events server-sent about me Tell".'
    )
    events = events_of(page, "chat")
    assert [event["event"] for event in events] == ["token"] * 26 + ["message", "done"]
    assert "".join(json.loads(event["data"]) for event in events[:-2]) == reply
    assert chat.Message.model_validate({"data": json.loads(events[-2]["data"])}) == chat.Message(
        data=chat.ChatMessage(role="assistant", content=reply)
    )
    assert events[-1] == {"event": "done", "id": "", "data": "null"}
    assert page.text_content('[data-stream="chat"] .assistant') == reply
    assert page.text_content('[data-stream="chat"] .user') == "Tell me about server-sent events"
    page.screenshot(path=artifacts / "demo-chat.png", full_page=True)


def test_browser_shows_the_http_422_of_a_bad_chat_body(page: Any) -> None:
    page.fill('[data-stream="chat"] textarea.body', '{"messages": []}')
    start(page, "chat")
    wait_for_state(page, "chat", "failed")

    log = log_of(page, "chat")
    assert [entry.get("status") for entry in log] == ["connecting", "http-error"]
    assert log[1]["text"].startswith('HTTP 422: {"detail":[{"type":"too_short","loc":["body","messages"]')


@pytest.mark.parametrize(
    ("key", "state", "expected", "label"),
    [
        (
            "progress",
            "done",
            [
                progress.Progress(data=progress.JobStatus(percent=0, stage="fetch")),
                progress.Progress(data=progress.JobStatus(percent=25, stage="parse")),
                progress.Progress(data=progress.JobStatus(percent=50, stage="validate")),
                progress.Progress(data=progress.JobStatus(percent=75, stage="store")),
                progress.Result(data=progress.JobResult(job_id="42", stages=["fetch", "parse", "validate", "store"])),
            ],
            "finished: fetch → parse → validate → store",
        ),
        (
            "progress-failure",
            "failed",
            [
                progress.Progress(data=progress.JobStatus(percent=0, stage="fetch")),
                progress.Progress(data=progress.JobStatus(percent=25, stage="parse")),
                progress.Progress(data=progress.JobStatus(percent=50, stage="validate")),
                progress.Failed(
                    data=progress.JobFailure(
                        job_id="43", stage="validate", reason="validate failed, as requested with fail_at=validate"
                    )
                ),
            ],
            "failed at validate: validate failed, as requested with fail_at=validate",
        ),
    ],
    ids=["result", "failure"],
)
def test_browser_shows_job_progress_then_its_outcome(
    page: Any, artifacts: Path, key: str, state: str, expected: list[Any], label: str
) -> None:
    start(page, key)
    wait_for_state(page, key, state)

    classes = {
        event_class.event_name: event_class for event_class in (progress.Progress, progress.Result, progress.Failed)
    }
    received = [
        classes[event["event"]].model_validate({"data": json.loads(event["data"])}) for event in events_of(page, key)
    ]
    assert received == expected
    assert page.text_content(f'[data-stream="{key}"] .stage') == label
    # The page closed the EventSource on the final event: no reconnection restarted the job.
    page.wait_for_timeout(1000)
    assert len(events_of(page, key)) == len(expected)
    page.screenshot(path=artifacts / f"demo-{key}.png", full_page=True)


# Text chunks as the page's reader gets them from TextDecoderStream, by case name.
READER_CASES: dict[str, list[str]] = {
    "lf": ["event: a\nid: 1\ndata: x\n\n"],
    "crlf": ["data: a\r\ndata: b\r\n\r\n"],
    "cr": ["data: a\rdata: b\r\r"],
    "cr-at-chunk-end-then-lf": ["data: x\r", "\ndata: y\r\n\r\n"],
    "cr-empty-chunk-lf": ["data: x\r", "", "\n", "\n"],
    "cr-at-chunk-end-then-cr": ["data: x\r", "\rdata: y\n\n"],
    "split-lines": ["da", "ta: spl", "it\n", "\n"],
    "comments": [": keep-alive\n\ndata: x\n:\n\n"],
    "no-colon-and-spaces": ["data\n\ndata:  two spaces\ndata:\tx\n\n"],
    "event-without-data-not-dispatched": ["event: e\n\ndata: x\n\n"],
    "ids": ["id: 7\ndata: a\n\nid: 8\0\ndata: b\n\nid\ndata: c\n\n"],
    "retry": ["retry: 10\ndata: a\n\nretry: x\ndata: b\n\n"],
    "unterminated-discarded": ["data: done\n\ndata: unterminated\n"],
    "json-and-unicode": ['event: token\ndata: "\\r\\n é 😀"\n\n'],
}


def test_browser_stream_reader_agrees_with_the_spec_parser(page: Any) -> None:
    script = """async (cases) => {
        const { EventStreamParser } = await import("/static/sse.js");
        return Object.fromEntries(Object.entries(cases).map(([name, chunks]) => {
            const parser = new EventStreamParser();
            return [name, chunks.flatMap((chunk) => parser.feed(chunk))];
        }));
    }"""

    in_browser = page.evaluate(script, READER_CASES)

    expected = {
        name: [{"event": m.event, "data": m.data, "id": m.id} for m in parse("".join(chunks).encode())]
        for name, chunks in READER_CASES.items()
    }
    assert in_browser == expected


class Held(BaseEvent[int]):
    """One event, then the stream stays open until the client leaves."""


def held_open_app() -> tuple[FastAPI, list[str]]:
    """An app whose streams stay open, a page and a plain route; it notes every request's path."""
    arrived: list[str] = []
    app = FastAPI()

    @app.middleware("http")
    async def note(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        arrived.append(request.url.path)
        return await call_next(request)

    @app.get("/held/{n}")
    @sse(ping=1)
    async def held(n: int) -> AsyncIterator[Held]:
        yield Held(data=n)
        await asyncio.Event().wait()

    @app.get("/page")
    def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>streams</title>")

    @app.get("/plain")
    def plain() -> PlainTextResponse:
        return PlainTextResponse("ok")

    return app, arrived


def test_browser_six_open_streams_hold_back_every_other_request_to_their_server(
    chromium: Any, live_server: Callable[..., Any]
) -> None:
    # As docs/endpoints.md says: over HTTP/1.1 each open stream holds one of the six connections
    # a browser allows per server, for all its tabs; a seventh stream, a fetch, another tab's page
    # wait, without an error, until one closes.
    app, arrived = held_open_app()
    server = live_server(app)
    context = chromium.new_context()
    try:
        page, other_tab = context.new_page(), context.new_page()
        for tab in (page, other_tab):
            tab.goto(f"{server.url}/page")
        opened = page.evaluate(
            """() => new Promise((resolve) => {
                window.sources = [];
                let open = 0;
                for (let n = 0; n < 6; n++) {
                    const source = new EventSource(`/held/${n}`);
                    source.addEventListener("held", () => { if (++open === 6) resolve(open); });
                    window.sources.push(source);
                }
            })"""
        )
        assert opened == 6
        page.evaluate(
            """() => {
                window.waiting = [];
                const seventh = new EventSource("/held/6");
                seventh.addEventListener("held", () => window.waiting.push("stream"));
                fetch("/plain").then((response) => response.text()).then((text) => window.waiting.push(text));
            }"""
        )
        other_tab.evaluate(
            """() => {
                window.waiting = [];
                fetch("/plain").then((response) => response.text()).then((text) => window.waiting.push(text));
            }"""
        )
        page.wait_for_timeout(1000)
        assert (page.evaluate("window.waiting"), other_tab.evaluate("window.waiting")) == ([], [])
        assert {"/held/6", "/plain"}.isdisjoint(arrived)

        page.evaluate("window.sources[0].close(); window.sources[1].close()")
        page.wait_for_function("window.waiting.length === 2", timeout=TIMEOUT_MS)
        other_tab.wait_for_function("window.waiting.length === 1", timeout=TIMEOUT_MS)
        assert (sorted(page.evaluate("window.waiting")), other_tab.evaluate("window.waiting")) == (
            ["ok", "stream"],
            ["ok"],
        )
    finally:
        context.close()
