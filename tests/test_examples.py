"""The examples, served by a real uvicorn on 127.0.0.1 and read with a spec parser."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from examples import chat, echo, progress
from typedsse import BaseEvent, Decoder, EventCatalog, ServerSentMessage, StreamError

from conftest import Serve

pytestmark = pytest.mark.e2e


def read_stream(
    client: httpx.Client, method: str, url: str, **kwargs: Any
) -> tuple[httpx.Response, Decoder, list[ServerSentMessage]]:
    """Send a request and parse its whole body as `text/event-stream`, chunk by chunk as it arrives."""
    decoder = Decoder()
    with client.stream(method, url, **kwargs) as response:
        messages = [message for chunk in response.iter_bytes() for message in decoder.feed(chunk)]
    return response, decoder, [*messages, *decoder.close()]


def typed(messages: list[ServerSentMessage], *classes: type[BaseEvent[Any]]) -> list[BaseEvent[Any]]:
    """Validate each message into the event class its name maps to, as a typed client does."""
    catalog = EventCatalog.from_classes([*classes, StreamError])
    return [
        catalog.by_name[message.event].model_validate({"data": message.json(), "id": message.id or None})
        for message in messages
    ]


# --- echo -------------------------------------------------------------------------------------


def test_echo_streams_alternating_typed_events_with_ids(serve: Serve) -> None:
    client = serve(echo.app)

    response, decoder, messages = read_stream(client, "GET", "/echo", params={"message": "hello"})

    assert response.status_code == 200
    assert decoder.retry == 500
    events = typed(messages, echo.Echo, echo.ReverseEcho)
    assert [(type(event), event.id, event.data.message) for event in events] == [
        (echo.Echo, "0", "hello"),
        (echo.ReverseEcho, "1", "olleh"),
        (echo.Echo, "2", "hello"),
        (echo.ReverseEcho, "3", "olleh"),
        (echo.Echo, "4", "hello"),
        (echo.ReverseEcho, "5", "olleh"),
    ]
    assert all(isinstance(event.data.created_at, datetime) for event in events)
    assert all(event.data.created_at.tzinfo is not None for event in events)


def test_echo_sends_count_events(serve: Serve) -> None:
    client = serve(echo.app)

    _, _, messages = read_stream(client, "GET", "/echo", params={"message": "abc", "count": 3})

    assert [(message.event, message.id, message.json()["message"]) for message in messages] == [
        ("echo", "0", "abc"),
        ("reverse_echo", "1", "cba"),
        ("echo", "2", "abc"),
    ]


@pytest.mark.parametrize("via", ["header", "query"])
def test_echo_resumes_after_the_last_event_id_without_duplicates_or_gaps(serve: Serve, via: str) -> None:
    client = serve(echo.app)
    received: list[tuple[str, str]] = []
    statuses: list[int] = []
    last_event_id: str | None = None
    for _ in range(5):  # three connections of two events, then the 204 that ends it all
        params: dict[str, str | int] = {"message": "hi", "count": 6, "per_connection": 2}
        headers: dict[str, str] = {}
        if last_event_id is not None and via == "header":
            headers["Last-Event-ID"] = last_event_id
        elif last_event_id is not None:
            params["lastEventId"] = last_event_id
        response, decoder, messages = read_stream(client, "GET", "/echo", params=params, headers=headers)
        statuses.append(response.status_code)
        if response.status_code == 204:
            break
        received += [(message.event, message.id) for message in messages]
        last_event_id = decoder.last_event_id

    assert statuses == [200, 200, 200, 204]
    assert received == [
        ("echo", "0"),
        ("reverse_echo", "1"),
        ("echo", "2"),
        ("reverse_echo", "3"),
        ("echo", "4"),
        ("reverse_echo", "5"),
    ]


def test_echo_answers_204_with_no_body_once_everything_was_sent(serve: Serve) -> None:
    client = serve(echo.app)

    response = client.get("/echo", params={"message": "hi", "count": 2}, headers={"Last-Event-ID": "1"})

    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers


@pytest.mark.parametrize("last_event_id", ["x", "-1", "1.5", "٣", "9" * 5000])
def test_echo_answers_400_to_an_id_it_never_sent(serve: Serve, last_event_id: str) -> None:
    client = serve(echo.app)

    response = client.get("/echo", params={"message": "hi", "lastEventId": last_event_id})

    assert response.status_code == 400
    assert response.json() == {"detail": "Last-Event-ID is not an id this stream sent"}


@pytest.mark.parametrize(
    ("params", "location"),
    [({}, ["query", "message"]), ({"message": "hi", "count": 0}, ["query", "count"])],
    ids=["no-message", "count-zero"],
)
def test_echo_rejects_invalid_query_with_422(serve: Serve, params: dict[str, Any], location: list[str]) -> None:
    client = serve(echo.app)

    response = client.get("/echo", params=params)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert [error["loc"] for error in response.json()["detail"]] == [location]


# --- chat -------------------------------------------------------------------------------------

HELLO_TOKENS = [
    "You",
    " said",
    ' "',
    "Hello",
    " there",
    '"',
    ".",
    " Backwards",
    ",",
    " that",
    " reads",
    ' "',
    "there",
    " Hello",
    '"',
    ".",
]


def test_chat_streams_tokens_then_the_whole_message_then_done(serve: Serve) -> None:
    client = serve(chat.app)
    body = {"messages": [{"role": "user", "content": "Hello there"}]}

    response, _, messages = read_stream(client, "POST", "/chat", json=body)

    assert response.status_code == 200
    events = typed(messages, chat.Token, chat.Message, chat.Done)
    assert events == [
        *(chat.Token(data=token) for token in HELLO_TOKENS),
        chat.Message(
            data=chat.ChatMessage(
                role="assistant", content='You said "Hello there". Backwards, that reads "there Hello".'
            )
        ),
        chat.Done(data=None),
    ]
    assert [message.data for message in messages[-2:]] == [
        '{"role":"assistant","content":"You said \\"Hello there\\". Backwards, that reads \\"there Hello\\"."}',
        "null",
    ]


def test_chat_batched_coalesces_tokens_and_ends_the_same_way(serve: Serve) -> None:
    client = serve(chat.app)
    body = {"messages": [{"role": "user", "content": "one two three four five six seven eight nine ten"}]}
    chat.app.dependency_overrides[chat.get_model] = lambda: chat.FakeModel(delay=0.02)
    try:
        _, _, plain = read_stream(client, "POST", "/chat", json=body)
        response, _, batched = read_stream(client, "POST", "/chat/batched", json=body)
    finally:
        chat.app.dependency_overrides.clear()

    assert response.status_code == 200
    plain_tokens = [m.json() for m in plain if m.event == "token"]
    batched_tokens = [m.json() for m in batched if m.event == "token"]
    assert "".join(batched_tokens) == "".join(plain_tokens)
    assert 1 <= len(batched_tokens) < len(plain_tokens)
    assert [(m.event, m.data) for m in batched[-2:]] == [(m.event, m.data) for m in plain[-2:]]
    assert [m.event for m in batched[-2:]] == ["message", "done"]


def test_chat_answers_the_last_user_message_of_the_conversation(serve: Serve) -> None:
    client = serve(chat.app)
    body = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "  mind   the\tgap "},
        ]
    }

    _, _, messages = read_stream(client, "POST", "/chat", json=body)

    *tokens, message, done = typed(messages, chat.Token, chat.Message, chat.Done)
    expected = 'You said "mind the gap". Backwards, that reads "gap the mind".'
    assert "".join(token.data for token in tokens) == expected
    assert message == chat.Message(data=chat.ChatMessage(role="assistant", content=expected))
    assert done == chat.Done(data=None)


@pytest.mark.parametrize("path", ["/chat", "/chat/batched"])
def test_chat_replies_to_half_an_emoji_with_a_replacement_character(serve: Serve, path: str) -> None:
    client = serve(chat.app)
    # Half an emoji, from a client that cut a string between the emoji's two UTF-16 halves: JSON
    # allows the escape of the lone first half, and UTF-8 cannot write it.
    content = b'{"messages": [{"role": "user", "content": "hi \\ud83d"}]}'

    response, _, messages = read_stream(
        client, "POST", path, content=content, headers={"content-type": "application/json"}
    )

    assert response.status_code == 200
    *tokens, message, done = typed(messages, chat.Token, chat.Message, chat.Done)
    expected = 'You said "hi \ufffd". Backwards, that reads "\ufffd hi".'
    assert "".join(token.data for token in tokens) == expected
    assert message == chat.Message(data=chat.ChatMessage(role="assistant", content=expected))
    assert done == chat.Done(data=None)


def test_chat_stops_after_max_tokens(serve: Serve) -> None:
    client = serve(chat.app)
    body = {"messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 3}

    _, _, messages = read_stream(client, "POST", "/chat", json=body)

    assert typed(messages, chat.Token, chat.Message, chat.Done) == [
        chat.Token(data="You"),
        chat.Token(data=" said"),
        chat.Token(data=' "'),
        chat.Message(data=chat.ChatMessage(role="assistant", content='You said "')),
        chat.Done(data=None),
    ]


def test_chat_model_is_a_dependency_that_can_be_replaced(serve: Serve) -> None:
    class Canned(chat.FakeModel):
        def reply(self, messages: object) -> str:
            return "Fine, thanks."

    chat.app.dependency_overrides[chat.get_model] = lambda: Canned(delay=0)
    try:
        client = serve(chat.app)
        _, _, messages = read_stream(client, "POST", "/chat", json={"messages": [{"role": "user", "content": "?"}]})
    finally:
        chat.app.dependency_overrides.clear()

    assert [(message.event, message.json()) for message in messages] == [
        ("token", "Fine"),
        ("token", ","),
        ("token", " thanks"),
        ("token", "."),
        ("message", {"role": "assistant", "content": "Fine, thanks."}),
        ("done", None),
    ]


@pytest.mark.parametrize(
    ("content", "location"),
    [
        (b'{"messages": []}', ["body", "messages"]),
        (b'{"messages": [{"role": "robot", "content": "hi"}]}', ["body", "messages", 0, "role"]),
        (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}', ["body", "max_tokens"]),
        (b"{}", ["body", "messages"]),
        (b"not json", ["body", 0]),
        (
            b'{"messages": [%s]}' % b", ".join([b'{"role": "user", "content": "hi"}'] * (chat.MAX_MESSAGES + 1)),
            ["body", "messages"],
        ),
        (
            b'{"messages": [{"role": "user", "content": "%s"}]}' % (b"a" * (chat.MAX_CHARACTERS + 1)),
            ["body", "messages"],
        ),
        (
            b'{"messages": [{"role": "system", "content": "%s"}, {"role": "user", "content": "b"}]}'
            % (b"a" * chat.MAX_CHARACTERS),
            ["body", "messages"],
        ),
    ],
    ids=[
        "no-messages",
        "unknown-role",
        "max-tokens-zero",
        "empty-object",
        "not-json",
        "too-many-messages",
        "too-long-a-message",
        "too-many-characters-in-all",
    ],
)
def test_chat_answers_a_bad_body_with_an_http_422_not_a_stream(
    serve: Serve, content: bytes, location: list[str | int]
) -> None:
    client = serve(chat.app)

    response = client.post("/chat", content=content, headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert [error["loc"] for error in response.json()["detail"]] == [location]


def test_chat_accepts_a_body_at_its_bounds(serve: Serve) -> None:
    client = serve(chat.app)
    messages = [{"role": "system", "content": "a" * (chat.MAX_CHARACTERS - chat.MAX_MESSAGES + 1)}]
    messages += [{"role": "user", "content": "b"}] * (chat.MAX_MESSAGES - 1)

    response, _, replied = read_stream(client, "POST", "/chat", json={"messages": messages, "max_tokens": 1})

    assert response.status_code == 200
    assert [message.event for message in replied] == ["token", "message", "done"]


# --- progress ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/jobs/42", "/jobs/42/blocking"], ids=["async", "blocking"])
def test_progress_reports_each_stage_then_the_result(serve: Serve, path: str) -> None:
    client = serve(progress.app)

    response, _, messages = read_stream(client, "GET", path)

    assert response.status_code == 200
    assert [message.event for message in messages] == ["job.progress"] * 4 + ["job.result"]
    assert typed(messages, progress.Progress, progress.Result, progress.Failed) == [
        progress.Progress(data=progress.JobStatus(percent=0, stage="fetch")),
        progress.Progress(data=progress.JobStatus(percent=25, stage="parse")),
        progress.Progress(data=progress.JobStatus(percent=50, stage="validate")),
        progress.Progress(data=progress.JobStatus(percent=75, stage="store")),
        progress.Result(data=progress.JobResult(job_id="42", stages=["fetch", "parse", "validate", "store"])),
    ]


@pytest.mark.parametrize("path", ["/jobs/7", "/jobs/7/blocking"], ids=["async", "blocking"])
def test_progress_failure_is_a_typed_failed_event(serve: Serve, path: str) -> None:
    client = serve(progress.app)

    response, _, messages = read_stream(client, "GET", path, params={"fail_at": "parse"})

    assert response.status_code == 200
    assert typed(messages, progress.Progress, progress.Result, progress.Failed) == [
        progress.Progress(data=progress.JobStatus(percent=0, stage="fetch")),
        progress.Progress(data=progress.JobStatus(percent=25, stage="parse")),
        progress.Failed(
            data=progress.JobFailure(job_id="7", stage="parse", reason="parse failed, as requested with fail_at=parse")
        ),
    ]


def test_progress_logs_a_job_id_that_cannot_forge_a_log_line(serve: Serve, caplog: pytest.LogCaptureFixture) -> None:
    # The path's job id is the client's text: logged with %s, `%0A` in it started a line of
    # the client's choosing in the server's log.
    client = serve(progress.app)
    caplog.set_level(logging.INFO, logger="examples.progress")

    response, _, messages = read_stream(client, "GET", "/jobs/7%0AERROR%20forged", params={"fail_at": "fetch"})

    assert response.status_code == 200
    assert messages[-1].event == "job.failed"
    [record] = [record for record in caplog.records if record.name == "examples.progress"]
    assert record.getMessage() == "job '7\\nERROR forged': stream closed"


def test_progress_answers_an_unknown_stage_with_422(serve: Serve) -> None:
    client = serve(progress.app)

    response = client.get("/jobs/42", params={"fail_at": "launch"})

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["query", "fail_at"]]


# --- every example ----------------------------------------------------------------------------

STREAMS = [
    pytest.param(echo.app, "GET", "/echo?message=hi&count=1", None, id="echo"),
    pytest.param(chat.app, "POST", "/chat", {"messages": [{"role": "user", "content": "hi"}]}, id="chat"),
    pytest.param(progress.app, "GET", "/jobs/1", None, id="progress"),
    pytest.param(progress.app, "GET", "/jobs/1/blocking", None, id="progress-blocking"),
]


@pytest.mark.parametrize(("app", "method", "url", "body"), STREAMS)
def test_examples_send_event_stream_headers(serve: Serve, app: FastAPI, method: str, url: str, body: Any) -> None:
    client = serve(app)

    response, _, messages = read_stream(client, method, url, json=body)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "connection" not in response.headers  # hop-by-hop: forbidden in HTTP/2
    assert "content-length" not in response.headers
    assert messages
