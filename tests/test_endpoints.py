from __future__ import annotations

import asyncio
import datetime
import enum
import functools
import http
import importlib
import inspect
import logging
import re
import sqlite3
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import anyio
import httpx
import pytest
import starlette
from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.middleware.gzip import GZipMiddleware

from typedsse import (
    BaseEvent,
    Decoder,
    EndpointDefinitionError,
    EventStreamResponse,
    LastEventId,
    StreamError,
    sse,
    stream_endpoint,
    wait_for_streams,
)
from typedsse import operators as ops
from typedsse.decoding import parse

from conftest import LiveServer, Serve, installed_before

if TYPE_CHECKING:
    from sqlite3 import Connection  # for type checkers only: the annotations below never resolve it


class Echo(BaseEvent[str]): ...


class ReverseEcho(BaseEvent[str]): ...


class Impostor(BaseEvent[int], name="echo"): ...


class AppError(BaseEvent[str], name="app.error"): ...


class Body(BaseModel):
    words: list[str]


def frames(client: TestClient, method: str, url: str, **kwargs: Any) -> list[tuple[str, str, str]]:
    response = client.request(method, url, **kwargs)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    return [(m.event, m.data, m.id) for m in parse(response.content)]


def test_sse_streams_query_path_header_and_dependency_parameters() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/api", tags=["streams"])

    def suffix(x_suffix: Annotated[str, Header()] = "!") -> str:
        return x_suffix

    @router.get("/echo/{name}")
    @sse()
    async def echo(name: str, count: int, end: Annotated[str, Depends(suffix)]) -> AsyncIterator[Echo | ReverseEcho]:
        for i in range(count):
            yield Echo(data=name + end, id=str(i)) if i % 2 == 0 else ReverseEcho(data=name[::-1] + end, id=str(i))

    app.include_router(router)
    with TestClient(app) as client:
        got = frames(client, "GET", "/api/echo/ab?count=3", headers={"x-suffix": "?"})
    assert got == [("echo", '"ab?"', "0"), ("reverse_echo", '"ba?"', "1"), ("echo", '"ab?"', "2")]


def test_sse_streams_post_bodies_and_gives_422_for_bad_ones() -> None:
    app = FastAPI()

    @app.post("/words")
    @sse()
    async def words(body: Body) -> AsyncIterator[Echo]:
        for word in body.words:
            yield Echo(data=word)

    with TestClient(app) as client:
        got = frames(client, "POST", "/words", json={"words": ["a", "b"]})
        assert got == [("echo", '"a"', ""), ("echo", '"b"', "")]
        bad = client.post("/words", json={"words": 3})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/json"
    assert bad.json()["detail"][0]["loc"] == ["body", "words"]


def test_sse_passes_request_and_runs_background_tasks_after_the_stream() -> None:
    app = FastAPI()
    ran = threading.Event()

    @app.get("/who")
    @sse()
    async def who(request: Request, tasks: BackgroundTasks) -> AsyncIterator[Echo]:
        tasks.add_task(ran.set)
        yield Echo(data=request.url.path)

    with TestClient(app) as client:
        assert frames(client, "GET", "/who") == [("echo", '"/who"', "")]
    assert ran.is_set()


def test_sse_iterates_sync_generators_and_returned_iterables() -> None:
    app = FastAPI()

    @app.get("/sync")
    @sse()
    def sync_stream() -> Iterator[Echo]:
        yield Echo(data=threading.current_thread().name)

    async def source() -> AsyncIterator[Echo]:
        yield Echo(data="from a source")

    @app.get("/returned")
    @sse()
    def returned() -> AsyncIterable[Echo]:
        return source()

    @app.get("/awaited")
    @sse()
    async def awaited() -> AsyncIterable[Echo]:
        return source()

    def on_its_thread() -> Iterator[Echo]:
        yield Echo(data=threading.current_thread().name)

    @app.get("/listed")
    @sse()
    def listed() -> Iterable[Echo]:
        return [Echo(data="from a list")]

    @app.get("/iterated")
    @sse()
    async def iterated() -> Iterable[Echo]:
        return on_its_thread()

    with TestClient(app) as client:
        assert frames(client, "GET", "/listed") == [("echo", '"from a list"', "")]
        [(_, thread_name, _)] = frames(client, "GET", "/iterated")
        assert thread_name != f'"{threading.main_thread().name}"'
        [(_, thread_name, _)] = frames(client, "GET", "/sync")
        assert thread_name != f'"{threading.main_thread().name}"'
        assert frames(client, "GET", "/returned") == [("echo", '"from a source"', "")]
        assert frames(client, "GET", "/awaited") == [("echo", '"from a source"', "")]


def test_a_function_annotated_with_the_pipelines_own_type_is_an_endpoint() -> None:
    # Type checkers infer a pipeline as `ops.Stream[...]`, and accept that annotation.
    app = FastAPI()

    async def echoes() -> AsyncIterator[Echo]:
        yield Echo(data="one")

    async def reversed_echoes() -> AsyncIterator[ReverseEcho]:
        yield ReverseEcho(data="eno")

    @app.get("/piped")
    @sse()
    def piped() -> ops.Stream[Echo | ReverseEcho]:
        return ops.chain(echoes(), reversed_echoes())

    spec = stream_endpoint(piped)
    assert spec is not None
    assert spec.events.names == ("echo", "reverse_echo", "typedsse.error")
    with TestClient(app) as client:
        assert frames(client, "GET", "/piped") == [("echo", '"one"', ""), ("reverse_echo", '"eno"', "")]


@pytest.mark.parametrize(
    "returned", [Echo(data="one"), Body(words=["a"]), {"data": "one"}], ids=["event", "model", "dict"]
)
def test_a_function_returning_what_is_not_a_stream_says_what_it_returned(returned: object) -> None:
    # A Pydantic model (an event, say) iterates as its fields: it was taken for a stream, whose
    # first item, a tuple, was then reported as an invalid event.
    app = FastAPI()

    @app.get("/awaited")
    @sse()
    async def awaited() -> AsyncIterable[Echo]:
        return returned  # type: ignore[return-value]  # pyright: ignore[reportReturnType]

    @app.get("/threaded")
    @sse()
    def threaded() -> AsyncIterable[Echo]:
        return returned  # type: ignore[return-value]  # pyright: ignore[reportReturnType]

    kind = type(returned).__qualname__
    with TestClient(app) as client:
        for path in ("/awaited", "/threaded"):
            with pytest.raises(EndpointDefinitionError, match=rf"the function returned {kind}, not a stream$"):
                client.get(path)


def test_last_event_id_reads_the_header_then_the_query() -> None:
    app = FastAPI()

    @app.get("/resume")
    @sse()
    async def resume(last_event_id: LastEventId = None) -> AsyncIterator[Echo]:
        yield Echo(data=repr(last_event_id))

    with TestClient(app) as client:
        assert frames(client, "GET", "/resume")[0][1] == '"None"'
        assert frames(client, "GET", "/resume", headers={"Last-Event-ID": "7"})[0][1] == "\"'7'\""
        assert frames(client, "GET", "/resume?lastEventId=8")[0][1] == "\"'8'\""
        assert frames(client, "GET", "/resume?lastEventId=8", headers={"Last-Event-ID": "7"})[0][1] == "\"'7'\""
        assert frames(client, "GET", "/resume", headers={"Last-Event-ID": ""})[0][1] == '"None"'
    params = {p["name"]: p["in"] for p in app.openapi()["paths"]["/resume"]["get"]["parameters"]}
    assert params == {"Last-Event-ID": "header", "lastEventId": "query"}
    spec = stream_endpoint(resume)
    assert spec is not None
    assert spec.resumable


def test_last_event_id_reads_a_non_ascii_header_as_utf8() -> None:
    # Browsers (and the TypeScript runtime) send the id back encoded as UTF-8, as the SSE spec
    # says; ASGI servers hand header bytes over as they are, and Starlette reads them as Latin-1.
    app = FastAPI()

    @app.get("/resume")
    @sse()
    async def resume(last_event_id: LastEventId = None) -> AsyncIterator[Echo]:
        yield Echo(data=last_event_id or "", id="café·3")

    with TestClient(app) as client:
        sent = frames(client, "GET", "/resume")[0][2]
        assert sent == "café·3"
        assert frames(client, "GET", "/resume", headers={"Last-Event-ID": sent.encode()})[0][1] == '"café·3"'
        assert frames(client, "GET", "/resume?lastEventId=caf%C3%A9%C2%B73")[0][1] == '"café·3"'
        # Bytes that are not UTF-8 cannot be an id the stream sent: they stay as received.
        assert frames(client, "GET", "/resume", headers={"Last-Event-ID": b"caf\xe9"})[0][1] == '"café"'


def resume_after(last_event_id: LastEventId = None) -> int:
    if last_event_id is None:
        return 0
    if not (last_event_id.isascii() and last_event_id.isdigit()):
        raise HTTPException(400, "not an id this stream sent")
    return int(last_event_id) + 1


class Position:
    def __init__(self, after: Annotated[int, Depends(resume_after)]) -> None:
        self.after = after


def test_an_endpoint_reading_last_event_id_through_a_dependency_is_resumable() -> None:
    # Checking the id in a dependency is the FastAPI way to answer a bad one with a 400; the
    # route still takes `Last-Event-ID`, and clients must know it to reconnect.
    @sse()
    async def direct(start: Annotated[int, Depends(resume_after)]) -> AsyncIterator[Echo]:
        yield Echo(data=str(start), id=str(start))

    @sse()
    async def unrelated(start: Annotated[int, Depends(lambda: 0)]) -> AsyncIterator[Echo]:
        yield Echo(data=str(start))

    assert [getattr(stream_endpoint(f), "resumable", None) for f in (direct, unrelated)] == [True, False]
    app = FastAPI()
    app.get("/direct")(direct)
    with TestClient(app) as client:
        assert frames(client, "GET", "/direct", headers={"Last-Event-ID": "4"}) == [("echo", '"5"', "5")]
        assert client.get("/direct", headers={"Last-Event-ID": "x"}).status_code == 400


@pytest.mark.skipif(
    installed_before("fastapi", "0.123.7"),
    reason="FastAPI before 0.123.7 cannot read the postponed annotations of a class dependency",
)
def test_an_endpoint_reading_last_event_id_through_a_class_dependency_is_resumable() -> None:
    @sse()
    async def nested(position: Annotated[Position, Depends()]) -> AsyncIterator[Echo]:
        yield Echo(data=str(position.after), id=str(position.after))

    assert getattr(stream_endpoint(nested), "resumable", None) is True
    app = FastAPI()
    app.get("/nested")(nested)
    with TestClient(app) as client:
        assert frames(client, "GET", "/nested", headers={"Last-Event-ID": "4"}) == [("echo", '"5"', "5")]


def test_sse_gives_fastapi_the_parameters_but_not_the_stream_annotation() -> None:
    async def echo(message: str, last_event_id: LastEventId = None) -> AsyncIterator[Echo]:
        yield Echo(data=message)

    endpoint = sse()(echo)
    signature = inspect.signature(endpoint)
    assert list(signature.parameters) == ["message", "last_event_id", "typedsse_response"]
    assert signature.parameters["message"].annotation is str
    assert signature.parameters["typedsse_response"].annotation is Response  # FastAPI's, hidden from OpenAPI
    assert signature.return_annotation is EventStreamResponse
    assert not hasattr(endpoint, "__wrapped__")
    assert endpoint.__name__ == "echo"
    app = FastAPI()
    app.get("/echo")(endpoint)
    operation = app.openapi()["paths"]["/echo"]["get"]
    # No response model from `AsyncIterator[Echo]` (typedsse.openapi documents the stream itself).
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {}


def test_sse_http_exception_before_the_first_event_is_an_http_error() -> None:
    app = FastAPI()

    @app.get("/missing")
    @sse()
    async def missing() -> AsyncIterator[Echo]:
        raise HTTPException(status_code=404, detail="no such stream")
        yield Echo(data="unreachable")  # pragma: no cover

    with TestClient(app) as client:
        response = client.get("/missing")
    assert response.status_code == 404
    assert response.json() == {"detail": "no such stream"}


def test_sse_on_error_replaces_the_error_event() -> None:
    app = FastAPI()

    def on_error(exc: Exception) -> AppError:
        return AppError(data=type(exc).__name__)

    @app.get("/fails")
    @sse(on_error=on_error)
    async def fails() -> AsyncIterator[Echo]:
        yield Echo(data="first")
        raise LookupError("internal detail")

    with TestClient(app) as client:
        got = frames(client, "GET", "/fails")
    assert got == [("echo", '"first"', ""), ("app.error", '"LookupError"', "")]
    spec = stream_endpoint(fails)
    assert spec is not None
    # The built-in event stays declared: it is sent when `on_error` itself fails.
    assert spec.error_events == (AppError, StreamError)
    assert spec.events.names == ("echo", "app.error", "typedsse.error")


def test_sse_default_error_event_is_stream_error() -> None:
    async def stream() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    spec = stream_endpoint(sse()(stream))
    assert spec is not None
    assert spec.error_events == (StreamError,)
    assert not spec.resumable
    assert spec.kind == "async"


async def _no_annotation():  # type: ignore[no-untyped-def]
    yield Echo(data="x")


async def _not_a_stream() -> list[Echo]:
    return []


async def _plain_values() -> AsyncIterator[str]:
    yield "x"


async def _collision() -> AsyncIterator[Echo | Impostor]:
    yield Echo(data="x")


async def _generic() -> AsyncIterator[BaseEvent[str]]:
    yield Echo(data="x")


def _sync_annotated_async() -> AsyncIterator[Echo]:  # type: ignore[misc]
    yield Echo(data="x")  # type: ignore[misc]


async def _async_annotated_sync() -> Iterator[Echo]:  # type: ignore[misc]
    yield Echo(data="x")  # type: ignore[misc]


async def _unresolvable() -> AsyncIterator[Missing]:  # type: ignore[name-defined]  # noqa: F821
    yield Echo(data="x")


@pytest.mark.parametrize(
    ("func", "message"),
    [
        (_no_annotation, r"annotate the return type with `AsyncIterator\[A \| B\]`"),
        (_not_a_stream, r"the return annotation list\[.*Echo\] is not a stream"),
        (_plain_values, r"<class 'str'> is not an event class; every member of the stream's union must subclass"),
        (_collision, r"Echo and Impostor share the event name 'echo'"),
        (_generic, r"BaseEvent\[str\] is a generic event class with no name"),
        (_sync_annotated_async, r"a sync generator must be annotated `Iterator\[...\]`"),
        (_async_annotated_sync, r"an async generator must be annotated `AsyncIterator\[...\]`"),
        (_unresolvable, r"cannot resolve its annotations"),
    ],
    ids=["missing", "not-a-stream", "values", "collision", "generic", "sync-as-async", "async-as-sync", "unresolved"],
)
def test_sse_refuses_bad_endpoints_at_decoration(func: Any, message: str) -> None:
    with pytest.raises(EndpointDefinitionError, match=r"^@sse on '" + func.__name__ + "': " + ".*" + message):
        sse()(func)


def test_sse_refuses_an_error_event_colliding_with_the_union() -> None:
    class Clash(BaseEvent[str], name="typedsse.error"): ...

    async def stream() -> AsyncIterator[Clash]:
        yield Clash(data="x")

    with pytest.raises(EndpointDefinitionError, match=r"share the event name 'typedsse\.error'"):
        sse()(stream)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ping": 0}, "ping must be a positive number"),
        ({"retry": -1}, "retry must be an integer number of milliseconds from 0 to 2147483647, got -1$"),
        # Written as `retry: 1` before: a fraction was cut silently.
        ({"retry": 1.5}, "retry must be an integer number of milliseconds from 0 to 2147483647, got 1.5"),
        ({"retry": True}, "retry must be an integer number of milliseconds from 0 to 2147483647, got True"),
        ({"retry": 2**31}, "retry must be an integer number of milliseconds from 0 to 2147483647, got 2147483648$"),
        ({"send_timeout": 0}, "send_timeout must be a positive number"),
        # NaN passes every `<` check: it used to be accepted, to fail (or misbehave) per request.
        ({"ping": float("nan")}, "ping must be a positive number"),
        ({"retry": float("nan")}, "retry must be an integer number of milliseconds"),
        ({"retry": float("inf")}, "retry must be an integer number of milliseconds"),
        ({"send_timeout": float("nan")}, "send_timeout must be a positive number"),
        # A stream is a body: these statuses made uvicorn fail the response on every request.
        ({"status_code": 204}, "status_code 204 does not allow a body"),
        ({"status_code": 304}, "status_code 304 does not allow a body"),
        ({"status_code": 101}, r"status_code 101 is not an HTTP status a stream can be sent with \(200 to 599\)"),
        ({"status_code": 1000}, r"status_code 1000 is not an HTTP status a stream can be sent with"),
        ({"status_code": 200.5}, r"status_code must be an int, got 200.5 \(float\)"),
        ({"status_code": True}, r"status_code must be an int, got True \(bool\)"),
        ({"ping": "15"}, r"ping must be a number of seconds or None, got '15' \(str\)"),
        ({"ping": True}, r"ping must be a number of seconds or None, got True \(bool\)"),
        ({"send_timeout": "5"}, r"send_timeout must be a number of seconds or None, got '5' \(str\)"),
        # Past the range of a float: `float()` raised OverflowError, which escaped unwrapped.
        ({"ping": -(10**400)}, "ping must be a positive number"),
        ({"send_timeout": -(10**400)}, "send_timeout must be a positive number"),
    ],
)
def test_sse_refuses_bad_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(EndpointDefinitionError, match=message):
        sse(**options)


def test_sse_takes_seconds_past_the_range_of_a_float_as_infinite() -> None:
    # As `inf` is taken: no keep-alive, no send timeout. It raised OverflowError at decoration.
    app = FastAPI()

    @app.get("/ticks")
    @sse(ping=10**400, send_timeout=10**400)
    async def ticks() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    with TestClient(app) as client:
        response = client.get("/ticks")
    assert response.status_code == 200
    assert [message.data for message in parse(response.content)] == ['"x"']


def test_sse_refuses_decorating_twice() -> None:
    async def stream() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    with pytest.raises(EndpointDefinitionError, match="decorate a plain function, once"):
        sse()(sse()(stream))


def test_sse_head_sends_headers_without_running_the_stream() -> None:
    app = FastAPI()
    started = threading.Event()

    @app.api_route("/head", methods=["GET", "HEAD"])
    @sse()
    async def head() -> AsyncIterator[Echo]:
        started.set()
        yield Echo(data="x")

    with TestClient(app) as client:
        response = client.head("/head")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.content == b""
    assert not started.is_set()


def test_sse_sends_status_headers_and_retry() -> None:
    app = FastAPI()

    @app.get("/custom")
    @sse(status_code=201, headers={"x-stream": "yes"}, retry=2500)
    async def custom() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    with TestClient(app) as client:
        response = client.get("/custom")
    assert response.status_code == 201
    assert response.headers["x-stream"] == "yes"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "connection" not in response.headers
    assert response.content == b'retry: 2500\n\nevent: echo\ndata: "x"\n\n'


def test_a_plain_def_returning_a_stream_runs_in_the_threadpool(serve: Serve) -> None:
    # FastAPI runs a `def` endpoint in its threadpool, so its setup may block; `@sse` must too.
    app = FastAPI()
    entered, release = threading.Event(), threading.Event()

    async def source() -> AsyncIterator[Echo]:
        yield Echo(data="ready")

    @app.get("/slow")
    @sse()
    def slow() -> AsyncIterable[Echo]:
        entered.set()
        release.wait(timeout=20)  # a blocking setup: a sync driver, a file, `time.sleep`
        return source()

    @app.get("/hello")
    async def hello() -> str:
        return "hello"

    client = serve(app)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(httpx.get, client.base_url.join("/slow"), timeout=30)
        try:
            assert entered.wait(timeout=10)
            assert client.get("/hello", timeout=5).json() == "hello"  # the loop is not blocked
        finally:
            release.set()
        response = pending.result(timeout=30)
    assert [(m.event, m.data) for m in parse(response.content)] == [("echo", '"ready"')]


def test_a_plain_def_wrapping_an_async_def_is_awaited_on_the_loop() -> None:
    # An ordinary `functools.wraps` decorator (auditing, metrics) around an `async def`: FastAPI
    # looks through the wrapper and awaits what it returns, and so must `@sse`. It used to run
    # the wrapper in the threadpool and fail every request with "returned coroutine".
    app = FastAPI()
    calls: list[int] = []

    def audited(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(threading.get_ident())
            return func(*args, **kwargs)

        return wrapper

    async def echoes(count: int) -> AsyncIterator[Echo]:
        for index in range(count):
            yield Echo(data=str(index))

    @app.get("/audited")
    @sse(ping=None)
    @audited
    async def audited_echoes(count: int = 2) -> AsyncIterable[Echo]:
        await asyncio.sleep(0)
        return echoes(count)

    with TestClient(app) as client:
        assert frames(client, "GET", "/audited?count=3") == [
            ("echo", '"0"', ""),
            ("echo", '"1"', ""),
            ("echo", '"2"', ""),
        ]
        loop_thread = client.portal.call(threading.get_ident)
    assert calls == [loop_thread]


@pytest.mark.parametrize("shape", ["async-generator", "sync-generator", "returns-a-stream"])
def test_an_async_def_wrapper_is_awaited_whatever_it_wraps(shape: str) -> None:
    # A guard decorator that awaits a check (a feature flag, a permission) is an `async def`
    # around whatever it decorates; FastAPI awaits such a wrapper (it is a coroutine function),
    # and so must `@sse`. It judged by the innermost function alone, ran the wrapper in the
    # threadpool, and failed every request with "returned coroutine".
    app = FastAPI()
    checked: list[str] = []

    def guarded(func: Any) -> Any:
        @functools.wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(0)
            checked.append(shape)
            result = func(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        return wrapper

    async def echoes(count: int) -> AsyncIterator[Echo]:
        for index in range(count):
            yield Echo(data=str(index))

    endpoint: Any
    if shape == "async-generator":

        async def endpoint(count: int = 2) -> AsyncIterator[Echo]:
            for index in range(count):
                yield Echo(data=str(index))

    elif shape == "sync-generator":

        def endpoint(count: int = 2) -> Iterator[Echo]:
            for index in range(count):
                yield Echo(data=str(index))

    else:

        def endpoint(count: int = 2) -> AsyncIterable[Echo]:
            return echoes(count)

    app.get("/guarded")(sse(ping=None)(guarded(endpoint)))

    with TestClient(app) as client:
        assert frames(client, "GET", "/guarded?count=3") == [
            ("echo", '"0"', ""),
            ("echo", '"1"', ""),
            ("echo", '"2"', ""),
        ]
    assert checked == [shape]


BAD_VALUE = (
    r"^headers: the value of 'x-a' must be Latin-1 text with no control character other than a tab "
    r"and no space or tab at either end, got "
)


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        # Each of these used to be accepted, then fail every request (or, with a line break,
        # be refused by the server per request). uvicorn on h11 refuses a space or tab at either
        # end of a value and a control character but a tab; on httptools, a control character
        # but a tab.
        ({"x-max-age": 60}, r"^headers: names and values must be str, got 'x-max-age': 60$"),
        ({"x stream": "1"}, r"^headers: 'x stream' is not a valid header name$"),
        ({"x-a:": "1"}, r"^headers: 'x-a:' is not a valid header name$"),
        ({"x-a": "1\r\nset-cookie: a=b"}, BAD_VALUE),
        ({"x-a": "\u20ac"}, BAD_VALUE),
        ({"x-a": "v1 "}, BAD_VALUE),
        ({"x-a": "\tv1"}, BAD_VALUE),
        ({"x-a": "a\x0cb"}, BAD_VALUE),
        ({"x-a": "a\x01b"}, BAD_VALUE),
        ({"x-a": "a\x7fb"}, BAD_VALUE),
        ({"x-a": "a\x00b"}, BAD_VALUE),
        # Accepted, these broke the stream itself: a length the server cut the body at, a type
        # EventSource refuses, an encoding the body does not have, HTTP/2's forbidden headers.
        ({"Content-Length": "10"}, r"^headers: Content-Length: 10 cannot go with an event stream: a stream has no len"),
        ({"transfer-encoding": "gzip"}, r"^headers: transfer-encoding: gzip cannot go .*: the server frames the body"),
        ({"Content-Type": "text/plain"}, r"^headers: Content-Type: text/plain cannot go .*EventSource refuses"),
        # The events are UTF-8: a client that reads the charset (httpx, httpx-sse) garbled them.
        (
            {"Content-Type": "text/event-stream; charset=iso-8859-1"},
            r"^headers: Content-Type: text/event-stream; charset=iso-8859-1 cannot go .*: the events are UTF-8",
        ),
        ({"content-encoding": "gzip"}, r"^headers: content-encoding: gzip cannot go .*: the events are sent as"),
        ({"Connection": "keep-alive"}, r"^headers: Connection: keep-alive cannot go .*: a hop-by-hop header"),
        ({"upgrade": "h2c"}, r"^headers: upgrade: h2c cannot go with an event stream: a hop-by-hop header"),
        # Read with `dict()`: a list of strings was taken as pairs (`["ab"]` sent `a: b`), and
        # anything else was refused with `dict()`'s own words, which did not say `headers`.
        (["ab"], r"^headers must be a mapping of names to values, got \['ab'\] \(list\)$"),
        ([("x-a", "1")], r"^headers must be a mapping of names to values, got \[\('x-a', '1'\)\] \(list\)$"),
        (5, r"^headers must be a mapping of names to values, got 5 \(int\)$"),
        # The stream sent the last of the two, and the OpenAPI document listed both.
        (
            {"X-Region": "eu", "x-region": "us"},
            r"^headers: 'X-Region' and 'x-region' name the same header; give it once$",
        ),
    ],
    ids=[
        "int-value",
        "space-in-name",
        "colon-in-name",
        "line-break",
        "not-latin-1",
        "trailing-space",
        "leading-tab",
        "form-feed",
        "control",
        "delete",
        "nul",
        "content-length",
        "transfer-encoding",
        "content-type",
        "content-type-charset",
        "content-encoding",
        "connection",
        "upgrade",
        "list-of-strings",
        "list-of-pairs",
        "int",
        "same-name",
    ],
)
def test_sse_refuses_headers_it_cannot_write(headers: Any, error: str) -> None:
    with pytest.raises(EndpointDefinitionError, match=error):
        sse(headers=headers)
    with pytest.raises((TypeError, ValueError), match=error):
        EventStreamResponse([], headers=headers)


@pytest.mark.parametrize(("loop", "http"), [("asyncio", "h11"), ("uvloop", "httptools")])
def test_sse_headers_it_accepts_are_written_by_uvicorn(
    live_server: Callable[..., LiveServer], loop: str, http: str
) -> None:
    # The edges of what is accepted: a tab and spaces inside, Latin-1 past ASCII, an empty value,
    # the stream's own type restated with a parameter, no encoding.
    headers = {
        "x-inside": "a\tb  c",
        "x-latin-1": "caf\u00e9",
        "x-empty": "",
        "content-type": "Text/Event-Stream; charset=utf-8",
        "content-encoding": "identity",
    }
    app = FastAPI()

    @app.get("/ticks")
    @sse(headers=headers)
    async def ticks() -> AsyncIterator[Echo]:
        yield Echo(data="1")

    with httpx.Client(base_url=live_server(app, loop=loop, http=http).url, timeout=10) as client:
        response = client.get("/ticks")
    assert response.content == b'event: echo\ndata: "1"\n\n'
    sent = {name.decode(): value for name, value in response.headers.raw if name.decode() in headers}
    written = {**headers, "content-type": "text/event-stream; charset=utf-8"}  # the media type in lower case
    assert sent == {name: value.encode("latin-1") for name, value in written.items()}


def test_sse_writes_latin_1_header_values_as_starlette_does() -> None:
    sse(headers={"x-name": "caf\u00e9"})  # accepted at decoration
    response = EventStreamResponse([], headers={"x-name": "caf\u00e9"})
    assert (b"x-name", b"caf\xe9") in response.raw_headers


@pytest.mark.parametrize(
    "content_type", ['text/event-stream; charset="UTF-8"', "text/event-stream;charset=utf-8", "text/event-stream; v=1"]
)
def test_sse_accepts_a_content_type_that_leaves_the_events_utf_8(content_type: str) -> None:
    sse(headers={"Content-Type": content_type})
    response = EventStreamResponse([], headers={"Content-Type": content_type})
    assert (b"content-type", content_type.encode()) in response.raw_headers


def test_sse_headers_replace_the_defaults_whatever_their_case() -> None:
    app = FastAPI()

    @app.get("/private")
    @sse(headers={"Cache-Control": "no-store", "X-Accel-Buffering": "yes", "X-Stream": "1"})
    async def private() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    with TestClient(app) as client:
        response = client.get("/private")
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert response.headers.get_list("x-accel-buffering") == ["yes"]
    assert response.headers.get_list("x-stream") == ["1"]


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")  # GET and HEAD on one function
def test_sse_sends_the_headers_cookies_and_status_set_on_the_response_parameter() -> None:
    app = FastAPI()

    def session(response: Response) -> str:
        response.set_cookie("session", "abc")
        response.set_cookie("theme", "dark")
        response.headers["Cache-Control"] = "private"
        return "abc"

    async def source() -> AsyncIterator[Echo]:
        yield Echo(data="returned")

    @app.api_route("/dependency", methods=["GET", "HEAD"])
    @sse()
    async def dependency(user: Annotated[str, Depends(session)], typedsse_response: str = "") -> AsyncIterator[Echo]:
        yield Echo(data=user + typedsse_response)

    @app.get("/generator")
    @sse()
    async def generator(response: Response) -> AsyncIterator[Echo]:
        response.status_code = 202  # set before the first event: the stream has not started
        response.headers["x-set"] = "in the stream"
        yield Echo(data="x")

    @app.get("/returned")
    @sse()
    def returned(response: Response, user: Annotated[str, Depends(session)]) -> AsyncIterable[Echo]:
        response.headers["x-set"] = "in the function"
        return source()

    with TestClient(app) as client:
        for method in ("GET", "HEAD"):
            response = client.request(method, "/dependency")
            assert response.status_code == 200
            assert response.headers.get_list("set-cookie") == [
                "session=abc; Path=/; SameSite=lax",
                "theme=dark; Path=/; SameSite=lax",
            ]
            assert response.headers.get_list("cache-control") == ["private"]
            assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert parse(client.get("/dependency").content)[0].data == '"abc"'
        response = client.get("/generator")
        assert (response.status_code, response.headers["x-set"]) == (202, "in the stream")
        response = client.get("/returned")
        assert response.headers["x-set"] == "in the function"
        assert response.cookies["session"] == "abc"
    # The added parameter is FastAPI's `Response`: no query parameter, nothing in the document.
    operation = app.openapi()["paths"]["/dependency"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["typedsse_response"]  # the function's own
    assert "parameters" not in app.openapi()["paths"]["/generator"]["get"]


def test_sse_resolves_on_error_annotations_in_the_defining_scope() -> None:
    # This module uses `from __future__ import annotations`: `-> Local` is a string, naming a
    # class that only the factory's scope holds, as for the endpoint's own annotations.
    def build() -> FastAPI:
        class Local(BaseEvent[str], name="local.error"): ...

        def on_error(exc: Exception) -> Local:
            return Local(data=str(exc))

        app = FastAPI()

        @app.get("/fails")
        @sse(on_error=on_error)
        async def fails() -> AsyncIterator[Echo]:
            yield Echo(data="first")
            raise LookupError("boom")

        spec = stream_endpoint(fails)
        assert spec is not None
        assert spec.error_events == (Local, StreamError)
        return app

    with TestClient(build()) as client:
        assert frames(client, "GET", "/fails")[-1] == ("local.error", '"boom"', "")


def test_sse_applied_from_another_module_reads_the_functions_own_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `sse()(handlers.ticks)` in a routes module with its own `get_db` and `Tick`: the routes
    # module's names used to win over the handler module's (wrong dependency injected, or every
    # request refused as yielding an undeclared event). FastAPI alone reads the function's own.
    (tmp_path / "shadowed_handlers.py").write_text(
        "from __future__ import annotations\n"
        "from collections.abc import AsyncIterator\n"
        "from typing import Annotated\n"
        "from fastapi import Depends\n"
        "from typedsse import BaseEvent\n\n"
        "class Tick(BaseEvent[str]): ...\n\n"
        "def get_db() -> str:\n"
        "    return 'the handler module db'\n\n"
        "async def ticks(db: Annotated[str, Depends(get_db)]) -> AsyncIterator[Tick]:\n"
        "    yield Tick(data=db)\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    handlers = importlib.import_module("shadowed_handlers")

    class Tick(BaseEvent[int], name="routes.tick"): ...

    def get_db() -> int:
        return 35

    app = FastAPI()
    app.add_api_route("/ticks", sse()(handlers.ticks), methods=["GET"])
    spec = stream_endpoint(app.routes[-1].endpoint)  # type: ignore[attr-defined]
    assert spec is not None
    assert spec.catalog.events == (handlers.Tick,)
    assert frames(TestClient(app), "GET", "/ticks") == [("tick", '"the handler module db"', "")]
    assert (Tick, get_db) != (handlers.Tick, handlers.get_db)


def test_sse_resolves_on_error_annotations_in_the_handlers_own_module_first() -> None:
    # The handler's module says what its names mean, even when the endpoint's scope has a class
    # of the same name.
    handlers: dict[str, Any] = {"BaseEvent": BaseEvent}
    exec(  # a module of handlers, with postponed annotations
        "from __future__ import annotations\n"
        "class Failure(BaseEvent[str], name='handlers.failure'): ...\n"
        "def on_error(exc: Exception) -> Failure:\n"
        "    return Failure(data=str(exc))\n",
        handlers,
    )

    class Failure(BaseEvent[str], name="app.failure"): ...

    app = FastAPI()

    @app.get("/fails")
    @sse(on_error=handlers["on_error"])
    async def fails() -> AsyncIterator[Echo | Failure]:
        yield Echo(data="first")
        raise LookupError("boom")

    spec = stream_endpoint(fails)
    assert spec is not None
    assert spec.error_events == (handlers["Failure"], StreamError)
    with TestClient(app) as client:
        assert frames(client, "GET", "/fails")[-1] == ("handlers.failure", '"boom"', "")


@pytest.mark.anyio
async def test_a_decorated_endpoint_can_be_called_directly() -> None:
    # Outside FastAPI (a unit test, another endpoint) there is no `Response` parameter to take.
    @sse()
    async def ticks(count: int = 1) -> AsyncIterator[Echo]:
        for i in range(count):
            yield Echo(data=str(i))

    response = await ticks(count=2)
    assert isinstance(response, EventStreamResponse)
    assert response.merge_from is None


@pytest.mark.skipif(
    installed_before("fastapi", "0.128.2"),
    reason="FastAPI before 0.128.2 refuses `Depends` on a parameter typed `Response`",
)
def test_a_dependency_that_returns_a_response_is_not_fastapis_response_parameter() -> None:
    app = FastAPI()

    def upstream() -> Response:
        return Response(b"cached", media_type="text/plain")

    def session(response: Response) -> None:
        response.set_cookie("session", "abc")

    @app.get("/stream", dependencies=[Depends(session)])
    @sse()
    async def stream(cached: Annotated[Response, Depends(upstream)]) -> AsyncIterator[Echo]:
        yield Echo(data=cached.body.decode())

    with TestClient(app) as client:
        response = client.get("/stream")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert "content-length" not in response.headers
    assert response.cookies["session"] == "abc"
    assert parse(response.content)[0].data == '"cached"'


def _missing_on_error(exc: Exception) -> Missing:  # type: ignore[name-defined]  # noqa: F821
    raise NotImplementedError


def _dict_on_error(exc: Exception) -> dict[str, str]:
    return {}


def test_sse_refuses_an_on_error_it_cannot_document() -> None:
    async def stream() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    with pytest.raises(
        EndpointDefinitionError, match=r"^@sse on .*: cannot resolve the return annotation of on_error .*Missing"
    ):
        sse(on_error=_missing_on_error)(stream)
    with pytest.raises(EndpointDefinitionError, match=r"\(on_error\): dict\[str, str\] is not an event class"):
        sse(on_error=_dict_on_error)(stream)  # type: ignore[arg-type]


def test_sse_sends_the_built_in_error_event_when_on_error_returns_an_undeclared_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = FastAPI()

    def on_error(exc: Exception) -> AppError:
        return ReverseEcho(data="not declared")  # type: ignore[return-value]

    @app.get("/fails")
    @sse(on_error=on_error)
    async def fails() -> AsyncIterator[Echo]:
        yield Echo(data="first")
        raise LookupError("boom")

    with TestClient(app) as client, caplog.at_level(logging.ERROR, logger="typedsse"):
        got = frames(client, "GET", "/fails")
    assert [event for event, _, _ in got] == ["echo", "typedsse.error"]
    assert (
        caplog.records[-1]
        .getMessage()
        .endswith(
            "on_error returned test_endpoints.ReverseEcho, which is not one of its events "
            "(Echo, AppError, StreamError); sending the built-in error event"
        )
    )


def test_an_on_error_hook_cancelled_by_another_task_falls_back_to_the_built_in_event(serve: Serve) -> None:
    # The hook awaits a future that something else cancelled; nobody cancelled the request.
    # The `CancelledError` broke the response: the connection closed mid-body (uvicorn logged
    # "Exception in ASGI application"), without the error event.
    app = FastAPI()

    async def on_error(exc: Exception) -> AppError:
        notifier = asyncio.get_running_loop().create_future()
        notifier.cancel()  # a shared notifier, restarted elsewhere
        await notifier
        return AppError(data="never sent")  # pragma: no cover

    @app.get("/fails")
    @sse(on_error=on_error)
    async def fails() -> AsyncIterator[Echo]:
        yield Echo(data="first")
        raise LookupError("boom")

    response = serve(app).get("/fails")
    assert response.status_code == 200
    assert [(m.event, m.data) for m in parse(response.content)] == [
        ("echo", '"first"'),
        ("typedsse.error", '{"message":"The stream failed.","code":"internal_error"}'),
    ]


def test_sse_refuses_a_partial_saying_why() -> None:
    async def counts(limit: int) -> AsyncIterator[Echo]:
        yield Echo(data=str(limit))

    with pytest.raises(EndpointDefinitionError, match=r"partial objects \(functools\.partial, callable instances\)"):
        sse()(functools.partial(counts, 5))
    # A class was refused as "ModelMetaclass objects (functools.partial, callable instances)".
    with pytest.raises(
        EndpointDefinitionError, match=r"^@sse on 'Echo': a class is not supported; decorate a function"
    ):
        sse()(Echo)  # type: ignore[arg-type]


def test_sse_without_parentheses_says_to_write_them() -> None:
    # `@sse` bare passed the function to `sse()`, and Python said "sse() takes 0 positional
    # arguments but 1 was given", which does not say what to write.
    app = FastAPI()
    with pytest.raises(
        EndpointDefinitionError, match=r"^@sse on '.*\.ticks': @sse needs its parentheses: write @sse\(\)"
    ):

        @app.get("/ticks")
        @sse  # type: ignore[deprecated]  # pyright: ignore[reportDeprecated]
        async def ticks() -> AsyncIterator[Echo]:
            yield Echo(data="x")

    assert app.routes[-1].path != "/ticks"  # type: ignore[attr-defined]  # refused before routing


@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")  # GET and HEAD on one function
def test_sse_head_runs_the_checks_in_setup_but_not_the_generator() -> None:
    # Documented: HEAD answers with the success status without running a generator (which could
    # consume its first event); checks in a dependency or in setup before the stream run for it.
    app = FastAPI()

    def room_exists(room: str) -> str:
        if room != "lobby":
            raise HTTPException(404, "no such room")
        return room

    async def lines() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    @app.api_route("/dependency/{room}", methods=["GET", "HEAD"])
    @sse()
    async def dependency(room: Annotated[str, Depends(room_exists)]) -> AsyncIterator[Echo]:
        yield Echo(data=room)

    @app.api_route("/setup/{room}", methods=["GET", "HEAD"])
    @sse()
    async def setup(room: str) -> AsyncIterable[Echo]:
        room_exists(room)
        return lines()

    @app.api_route("/generator/{room}", methods=["GET", "HEAD"])
    @sse()
    async def generator(room: str) -> AsyncIterator[Echo]:
        yield Echo(data=room_exists(room))

    with TestClient(app) as client:
        for path in ("dependency", "setup", "generator"):
            assert client.head(f"/{path}/lobby").status_code == 200
            assert client.get(f"/{path}/attic").status_code == 404
        assert client.head("/dependency/attic").status_code == 404
        assert client.head("/setup/attic").status_code == 404
        assert client.head("/generator/attic").status_code == 200  # the generator does not run


@pytest.mark.parametrize("ping", [15.0, None])
def test_a_status_without_a_body_set_before_the_stream_is_sent_at_once(serve: Serve, ping: float | None) -> None:
    # A dependency's 204 (how a resumable endpoint tells EventSource to stop) was sent only
    # once the generator gave its first item or the keep-alive fell due: after 15 s, never
    # without `ping`, and the item taken from the queue was lost.
    app = FastAPI()
    messages: asyncio.Queue[str] = asyncio.Queue()
    messages.put_nowait("kept for the next subscriber")
    started: list[str] = []

    async def nothing_left(response: Response) -> None:
        response.status_code = 204

    @app.get("/done")
    @sse(ping=ping)
    async def done(_: Annotated[None, Depends(nothing_left)]) -> AsyncIterator[Echo]:
        started.append("started")
        yield Echo(data=await messages.get())

    client = serve(app)
    response = client.get("/done", timeout=5.0)
    assert (response.status_code, response.content) == (204, b"")
    assert started == []  # the generator never ran
    assert messages.qsize() == 1
    assert client.get("/done", timeout=5.0).status_code == 204  # the connection is still good


def test_a_status_without_a_body_set_by_the_stream_is_sent_without_one(serve: Serve) -> None:
    app = FastAPI()
    closed: list[str] = []

    @app.get("/done")
    @sse()
    async def done(response: Response) -> AsyncIterator[Echo]:
        try:
            response.status_code = 204  # decided by the generator itself, before its first event
            if False:  # pragma: no cover - a generator with nothing to send
                yield Echo(data="never sent")
        finally:
            closed.append("done")

    client = serve(app)
    response = client.get("/done")
    assert (response.status_code, response.content) == (204, b"")
    assert closed == ["done"]
    assert client.get("/done").status_code == 204  # the connection is still good for the next request


_BREAKING_HEADERS = [
    ("content-type", "application/json", "EventSource refuses any other type"),
    ("content-type", "text/event-stream; charset=latin-1", "decode them as latin-1"),
    ("content-encoding", "gzip", "decode them as encoded"),
    ("transfer-encoding", "chunked", "frames the body itself"),
    ("connection", "close", "hop-by-hop"),
]


def _refused_before_the_stream(
    serve: Serve, set_on: Callable[[Response], None], paths: Sequence[tuple[str, str]]
) -> list[str]:
    """Serve endpoints whose `Response` parameter `set_on` spoils, request `paths`, and return the errors.

    A dependency sets it (`/dependency`, GET and HEAD), the generator before its first event
    (`/generator`), the endpoint before it returns a stream (`/returned`); none of the streams
    may run, every request must get the 500 of the app's handler, and each error is
    `TypeName: message`, in the order of `paths`.
    """
    app = FastAPI()
    started: list[str] = []
    errors: list[str] = []

    async def record(request: Request, exc: Exception) -> Response:
        errors.append(f"{type(exc).__name__}: {exc}")
        return Response("refused", status_code=500)

    app.add_exception_handler(ValueError, record)
    app.add_exception_handler(TypeError, record)

    @app.api_route("/dependency", methods=["GET", "HEAD"])
    @sse()
    async def dependency(_: Annotated[None, Depends(set_on)]) -> AsyncIterator[Echo]:
        started.append("dependency")
        yield Echo(data="never sent")

    @app.get("/generator")
    @sse()
    async def generator(response: Response) -> AsyncIterator[Echo]:
        set_on(response)  # before the first event: the stream has not started
        yield Echo(data="never sent")

    async def source() -> AsyncIterator[Echo]:
        started.append("returned")
        yield Echo(data="never sent")

    @app.get("/returned")
    @sse()
    def returned(response: Response) -> AsyncIterable[Echo]:
        set_on(response)
        return source()

    client = serve(app)
    for method, path in paths:
        response = client.request(method, path)
        assert response.status_code == 500
        assert response.content == (b"" if method == "HEAD" else b"refused")
        assert "x-injected" not in response.headers
    assert started == []  # spoilt before the stream ran: it never runs
    assert len(errors) == len(paths)
    return errors


@pytest.mark.parametrize(("name", "value", "reason"), _BREAKING_HEADERS)
def test_a_header_set_on_the_response_parameter_that_breaks_the_stream_fails_before_it(
    serve: Serve, name: str, value: str, reason: str
) -> None:
    # `@sse(headers=...)` refuses these when it decorates; set on FastAPI's `Response`, they
    # were sent unchecked: a stream EventSource refuses (`application/json`), or that httpx
    # fails to decompress (`gzip`).
    def breaking(response: Response) -> None:
        response.headers[name] = value

    paths = [("GET", "/dependency"), ("HEAD", "/dependency"), ("GET", "/generator"), ("GET", "/returned")]
    errors = _refused_before_the_stream(serve, breaking, paths)
    for error, endpoint in zip(errors, ("dependency", "dependency", "generator", "returned"), strict=True):
        assert error.startswith("ValueError: ")
        assert f".{endpoint}: the header {name}: {value}, set on its Response" in error
        assert reason in error


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (100, r"^ValueError: .*: the status 100, set on its Response .* is not a final HTTP status \(200 to 599\)"),
        (199, r"^ValueError: .*: the status 199, set on its Response"),
        (600, r"^ValueError: .*: the status 600, set on its Response"),
        ("201", r"^TypeError: .*: the status '201', set on its Response .* is not an int"),
        (201.0, r"^TypeError: .*: the status 201.0, set on its Response"),
        (True, r"^TypeError: .*: the status True, set on its Response"),
    ],
)
def test_a_status_set_on_the_response_parameter_that_no_response_can_have_fails_before_the_stream(
    serve: Serve, status: object, error: str
) -> None:
    # Sent as it was, an informational status or one past 599 made the server drop the
    # connection without a response (h11 refuses it, uvicorn has no phrase for it), or httptools
    # write a broken status line; a string failed with a `TypeError` that named nothing.
    def informational(response: Response) -> None:
        response.status_code = status  # type: ignore[assignment]

    paths = [("GET", "/dependency"), ("HEAD", "/dependency"), ("GET", "/generator"), ("GET", "/returned")]
    errors = _refused_before_the_stream(serve, informational, paths)
    for message, endpoint in zip(errors, ("dependency", "dependency", "generator", "returned"), strict=True):
        assert re.match(error, message), message
        assert f"{endpoint}: the status" in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-region", "e\x01u"),
        ("x-region", "eu\r\nx-injected: yes"),
        ("x-region", "eu\x00"),
        ("x region", "eu"),
        ("x:region", "eu"),
    ],
)
def test_a_header_set_on_the_response_parameter_that_no_server_can_write_fails_before_the_stream(
    serve: Serve, name: str, value: str
) -> None:
    # `@sse(headers=...)` refuses these when it decorates; set on FastAPI's `Response`, they
    # reached the server, which refused them (h11 or httptools) and closed the connection
    # without a response: `EventSource` takes that for a dropped connection and reconnects.
    def unwritable(response: Response) -> None:
        response.headers[name] = value

    errors = _refused_before_the_stream(serve, unwritable, [("GET", "/dependency"), ("GET", "/generator")])
    for error, endpoint in zip(errors, ("dependency", "generator"), strict=True):
        assert error.startswith("ValueError: ")
        assert f".{endpoint}: the header {name!r}: {value!r}, set on its Response" in error
        assert "no server writes it" in error


def test_the_headers_cookies_and_status_a_stream_can_take_from_the_response_parameter_pass(serve: Serve) -> None:
    app = FastAPI()

    def session(response: Response) -> None:
        response.set_cookie("session", "abc")
        response.headers["cache-control"] = "no-store"
        response.headers["x-region"] = "eu"
        response.headers["content-type"] = "text/event-stream; charset=UTF-8"
        response.headers["content-encoding"] = "identity"
        response.headers["content-length"] = "10"  # dropped: a stream has no length
        response.status_code = 201

    @app.get("/stream")
    @sse()
    async def stream(_: Annotated[None, Depends(session)]) -> AsyncIterator[Echo]:
        for n in range(5):
            yield Echo(data="x" * 20 + str(n))

    response = serve(app).get("/stream")
    assert response.status_code == 201
    assert response.cookies["session"] == "abc"
    assert (response.headers["cache-control"], response.headers["x-region"]) == ("no-store", "eu")
    assert response.headers["content-type"] == "text/event-stream; charset=UTF-8"
    assert "content-length" not in response.headers
    assert [message.data for message in parse(response.content)] == [f'"{"x" * 20}{n}"' for n in range(5)]


class _Created(enum.IntEnum):
    CREATED = 201


@pytest.mark.parametrize(
    "status", [http.HTTPStatus.CREATED, _Created.CREATED, 299, 599], ids=["HTTPStatus", "IntEnum", "299", "599"]
)
def test_unusual_but_legal_headers_and_statuses_on_the_response_parameter_pass(serve: Serve, status: int) -> None:
    # What FastAPI and Starlette themselves put on the `Response` parameter, and what HTTP allows
    # in a field value (a tab inside, Latin-1 and obs-text bytes, nothing at all), is sent as set;
    # spaces and tabs at either end, no part of a value, are dropped (h11 refused the header).
    app = FastAPI()

    def session(response: Response) -> None:
        response.status_code = status
        expires = datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
        response.set_cookie("session", 'a b,c;"d', expires=expires, max_age=60, samesite="strict", secure=True)
        response.delete_cookie("old")
        response.headers["x-latin"] = "caf\u00e9"
        response.headers["x-tab"] = "a\tb"
        response.headers["x-empty"] = ""
        response.headers["x-padded"] = " \teu west\t "
        response.headers.raw.append((b"x-obs", b"\x80\x9f\xff"))

    @app.get("/stream")
    @sse()
    async def stream(_: Annotated[None, Depends(session)]) -> AsyncIterator[Echo]:
        yield Echo(data="sent")

    response = serve(app).get("/stream")
    assert response.status_code == int(status)
    cookies = response.headers.get_list("set-cookie")
    assert len(cookies) == 2
    assert "expires=Tue, 01 Jan 2030 00:00:00 GMT" in cookies[0]
    assert cookies[1].startswith('old=""; expires=')
    raw = dict(response.headers.raw)
    assert (raw[b"x-latin"], raw[b"x-tab"], raw[b"x-empty"]) == (b"caf\xe9", b"a\tb", b"")
    assert raw[b"x-obs"] == b"\x80\x9f\xff"
    assert raw[b"x-padded"] == b"eu west"
    assert [message.data for message in parse(response.content)] == ['"sent"']


def test_test_client_reads_a_finite_stream_and_raises_an_error_before_the_first_event() -> None:
    app = FastAPI()

    @app.get("/ticks")
    @sse()
    async def ticks(count: int) -> AsyncIterator[Echo]:
        for n in range(count):
            yield Echo(data=str(n))

    @app.get("/broken")
    @sse()
    async def broken() -> AsyncIterator[Echo]:
        raise RuntimeError("no database")
        yield Echo(data="never")  # pragma: no cover

    with TestClient(app) as client:
        response = client.get("/ticks", params={"count": 3})
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert [message.data for message in Decoder().feed(response.content)] == ['"0"', '"1"', '"2"']
        with pytest.raises(RuntimeError, match="no database"):
            client.get("/broken")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/broken").status_code == 500


@pytest.mark.anyio
async def test_httpx_asgi_transport_reads_a_finite_stream() -> None:
    app = FastAPI()

    @app.get("/ticks")
    @sse(retry=100)
    def ticks(count: int) -> Iterator[Echo]:
        for n in range(count):
            yield Echo(data=str(n), id=str(n))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/ticks", params={"count": 2})
    assert response.status_code == 200
    assert response.content == b'retry: 100\n\nevent: echo\nid: 0\ndata: "0"\n\nevent: echo\nid: 1\ndata: "1"\n\n'


@pytest.mark.anyio
async def test_an_in_process_client_does_not_hold_up_the_lifespans_wait_for_streams() -> None:
    # FastAPI's async tests run the app through httpx's ASGITransport, in the test's own task, and
    # the lifespan in a task of its own (as asgi-lifespan's LifespanManager does). The lifespan's
    # shutdown waits for the streams while the test's task, which served them, waits for that
    # shutdown: its requests ended when their responses returned, not when the task does.
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        with anyio.move_on_after(3600):
            await wait_for_streams()

    app = FastAPI(lifespan=lifespan)

    @app.get("/ticks")
    @sse()
    async def ticks() -> AsyncIterator[Echo]:
        yield Echo(data="1")

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    running = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        for _ in range(2):
            assert (await client.get("/ticks")).content == b'event: echo\ndata: "1"\n\n'
    await inbox.put({"type": "lifespan.shutdown"})
    with anyio.fail_after(10):
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await running


@pytest.mark.skipif(
    tuple(int(part) for part in starlette.__version__.split(".")[:2]) < (1, 9),
    reason="TestClient streams a response's body from Starlette 1.9 on",
)
@pytest.mark.parametrize("middleware", [False, True])
def test_leaving_a_test_client_stream_runs_the_generators_finally_to_its_end(middleware: bool) -> None:
    app = FastAPI()
    steps: list[str] = []

    if middleware:  # runs the app in a task group of its own

        @app.middleware("http")
        async def passthrough(request: Request, call_next: Any) -> Any:
            return await call_next(request)

    async def session() -> AsyncIterator[str]:
        try:
            yield "session"
        finally:
            steps.append("session closed")

    @app.get("/follow")
    @sse()
    async def follow(_: Annotated[str, Depends(session)], tasks: BackgroundTasks) -> AsyncIterator[Echo]:
        tasks.add_task(steps.append, "background task")
        try:
            yield Echo(data="first")
            await asyncio.Event().wait()  # an endless stream, idle
        finally:
            steps.append("finally started")
            for _ in range(3):
                await asyncio.sleep(0)  # cleanup that awaits: closing a cursor, say
            steps.append("finally ended")

    decoder = Decoder()
    with TestClient(app) as client:
        with client.stream("GET", "/follow") as response:
            for chunk in response.iter_bytes():
                if messages := decoder.feed(chunk):
                    break
        assert steps == ["finally started", "finally ended", "session closed"]  # a cancellation: no background task
    assert [message.data for message in messages] == ['"first"']


@pytest.mark.skipif(
    installed_before("starlette", "0.46"),
    reason="GZipMiddleware leaves text/event-stream alone from Starlette 0.46 on (docs/endpoints.md)",
)
def test_gzip_middleware_leaves_the_stream_alone(serve: Serve) -> None:
    app = FastAPI()
    app.add_middleware(GZipMiddleware, minimum_size=1)

    @app.get("/follow")
    @sse()
    async def follow() -> AsyncIterator[Echo]:
        yield Echo(data="first " * 200)  # compressible, and over `minimum_size`
        await asyncio.Event().wait()  # nothing more: a buffering middleware would hold the first back

    client = serve(app)
    with client.stream("GET", "/follow", headers={"accept-encoding": "gzip"}) as response:
        assert "content-encoding" not in response.headers
        decoder = Decoder()
        for chunk in response.iter_raw():
            if messages := decoder.feed(chunk):
                break
    assert [message.event for message in messages] == ["echo"]


@pytest.mark.parametrize("where", ["headers", "response parameter"])
def test_a_content_type_in_any_case_goes_out_as_gzip_middleware_recognises_a_stream(where: str) -> None:
    # Starlette's `GZipMiddleware` before 1.5 leaves a response alone only if its content-type
    # starts with `text/event-stream` as written here, in lower case; another case is compressed,
    # and events wait for the compressor's buffer to fill. The media type goes out in lower case.
    app = FastAPI()

    def shouting(response: Response) -> None:
        response.headers["Content-Type"] = "TEXT/Event-Stream; charset=UTF-8"

    @app.get("/follow", dependencies=[Depends(shouting)] if where == "response parameter" else [])
    @sse(headers={"Content-Type": "Text/Event-Stream; charset=UTF-8"} if where == "headers" else None)
    async def follow() -> AsyncIterator[Echo]:
        yield Echo(data="first")

    with TestClient(app) as client:
        response = client.get("/follow")
    assert response.headers.get_list("content-type") == ["text/event-stream; charset=UTF-8"]
    assert [message.data for message in parse(response.content)] == ['"first"']


@pytest.mark.parametrize("ending", ["end", "error", "client leaves"])
@pytest.mark.parametrize("middleware", [False, True])
def test_background_tasks_run_once_the_stream_has_ended(serve: Serve, ending: str, middleware: bool) -> None:
    app = FastAPI()
    steps: list[str] = []
    done = threading.Event()

    if middleware:  # runs the app in a task group of its own

        @app.middleware("http")
        async def passthrough(request: Request, call_next: Any) -> Any:
            return await call_next(request)

    async def session() -> AsyncIterator[str]:
        try:
            yield "session"
        finally:
            steps.append("session closed")
            done.set()

    @app.get("/follow")
    @sse()
    async def follow(_: Annotated[str, Depends(session)], tasks: BackgroundTasks) -> AsyncIterator[Echo]:
        tasks.add_task(steps.append, "background task")
        try:
            yield Echo(data="first")
            if ending == "error":
                raise RuntimeError("the stream failed")
            if ending == "client leaves":
                await asyncio.Event().wait()
        finally:
            steps.append("finally")

    client = serve(app)
    with client.stream("GET", "/follow") as response:
        decoder = Decoder()
        for chunk in response.iter_bytes():
            if decoder.feed(chunk):
                break
    assert done.wait(10)
    assert steps == ["finally", "background task", "session closed"]


def test_a_route_class_sees_what_a_function_returning_the_stream_raises_not_what_its_generator_raises() -> None:
    # The generator's exception is raised while the response runs, after the route handler has
    # returned (docs/endpoints.md); exception handlers and middleware still see it.
    class NotFoundError(Exception): ...

    class TranslatingRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def translating(request: Request) -> Response:
                try:
                    return await handler(request)
                except NotFoundError:
                    return JSONResponse({"error": "not found"}, status_code=404)

            return translating

    router = APIRouter(route_class=TranslatingRoute)

    @router.get("/returned")
    @sse()
    async def returned() -> AsyncIterable[Echo]:
        raise NotFoundError

    @router.get("/generated")
    @sse()
    async def generated() -> AsyncIterator[Echo]:
        raise NotFoundError
        yield Echo(data="never sent")

    app = FastAPI()
    app.include_router(router)

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> JSONResponse:
        return JSONResponse({"error": "handled by the app"}, status_code=404)

    with TestClient(app) as client:
        assert client.get("/returned").json() == {"error": "not found"}
        assert client.get("/generated").json() == {"error": "handled by the app"}


def test_background_tasks_do_not_run_when_the_stream_fails_before_its_first_event() -> None:
    app = FastAPI()
    steps: list[str] = []

    @app.get("/refused")
    @sse()
    async def refused(tasks: BackgroundTasks) -> AsyncIterator[Echo]:
        tasks.add_task(steps.append, "background task")
        raise HTTPException(404, "no such stream")
        yield Echo(data="never sent")

    with TestClient(app) as client:
        assert client.get("/refused").status_code == 404
    assert steps == []  # as for a plain endpoint that raises


@pytest.mark.skipif("scope" not in inspect.signature(Depends).parameters, reason="FastAPI without dependency scopes")
def test_a_dependency_ends_after_the_stream_unless_its_scope_is_the_function() -> None:
    app = FastAPI()
    steps: list[str] = []

    async def request_session() -> AsyncIterator[str]:
        yield "request"
        steps.append("request-scoped closed")

    async def function_session() -> AsyncIterator[str]:
        yield "function"
        steps.append("function-scoped closed")

    @app.get("/stream")
    @sse()
    async def stream(
        a: Annotated[str, Depends(request_session)],
        b: Annotated[str, Depends(function_session, scope="function")],
    ) -> AsyncIterator[Echo]:
        steps.append("stream started")
        yield Echo(data=a + b)
        steps.append("stream ended")

    with TestClient(app) as client:
        assert frames(client, "GET", "/stream") == [("echo", '"requestfunction"', "")]
    assert steps == ["function-scoped closed", "stream started", "stream ended", "request-scoped closed"]


@pytest.mark.parametrize("wrapper", [staticmethod, classmethod])
def test_sse_above_a_method_decorator_says_where_it_goes(wrapper: Any) -> None:
    async def ticks(*args: Any) -> AsyncIterator[Echo]:
        yield Echo(data="x")

    with pytest.raises(EndpointDefinitionError, match=rf"put @sse below @{wrapper.__name__}, on the function itself$"):
        sse()(wrapper(ticks))


def test_sse_names_the_endpoint_of_an_annotation_that_does_not_parse() -> None:
    async def ticks() -> AsyncIterator[Echo]:
        yield Echo(data="x")

    ticks.__annotations__["return"] = "AsyncIterator[Echo"
    with pytest.raises(EndpointDefinitionError, match=r"^@sse on '.*ticks': cannot resolve its annotations"):
        sse()(ticks)


def test_a_dependency_parameter_may_name_a_type_imported_for_type_checkers_only() -> None:
    # FastAPI reads the annotation of a parameter whose default is `Depends(dependency)` only to
    # find the dependency; a plain route serves it unresolved, and so does a stream.
    app = FastAPI()

    def connect() -> Iterator[Connection]:
        db = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            yield db
        finally:
            db.close()

    @app.get("/one")
    @sse()
    async def one(db: Connection = Depends(connect)) -> AsyncIterator[Echo]:  # noqa: B008
        yield Echo(data=str(db.execute("select 1").fetchone()[0]))

    with TestClient(app) as client:
        assert frames(client, "GET", "/one") == [("echo", '"1"', "")]

    # A parameter whose annotation FastAPI reads is refused as before, and so is the stream's own.
    async def query(db: Connection) -> AsyncIterator[Echo]:
        yield Echo(data="x")

    async def returned(db: Connection = Depends(connect)) -> AsyncIterator[Connection]:  # noqa: B008
        yield Echo(data="x")

    for func in (query, returned):
        with pytest.raises(EndpointDefinitionError, match=r"cannot resolve its annotations \(name 'Connection'"):
            sse()(func)  # type: ignore[arg-type]


def test_sse_reads_only_the_return_annotation_of_on_error() -> None:
    # Its parameters' types are no concern of the stream's, nor need they exist at run time.
    def on_error(exc: Exception, db: Connection | None = None) -> AppError:
        return AppError(data=type(exc).__name__)

    app = FastAPI()

    @app.get("/fails")
    @sse(on_error=on_error)
    async def fails() -> AsyncIterator[Echo]:
        yield Echo(data="first")
        raise LookupError("internal detail")

    spec = stream_endpoint(fails)
    assert spec is not None
    assert spec.error_events == (AppError, StreamError)
    with TestClient(app) as client:
        assert frames(client, "GET", "/fails")[-1] == ("app.error", '"LookupError"', "")
