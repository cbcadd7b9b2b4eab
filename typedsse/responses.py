"""The streaming ASGI response: pull events, encode them, write them, keep the connection alive.

One `EventStreamResponse` serves one connection with the request's own task (the writer) and
two helpers: a producer task that runs the user's stream, and a task parked on `receive()` that
notices the client leaving. Events the producer finds ready while the writer is busy are
batched into one write; the writer yields to the event loop between writes, so a stream that
never awaits cannot starve the other connections. See docs/design.md for the measured reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import math
import numbers
import queue
import re
import weakref
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any, NoReturn, TypeAlias, TypeGuard, cast

import anyio
import anyio.lowlevel
import anyio.to_thread
from aiostream.core import Stream, Streamer
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from typedsse._closing import closed
from typedsse.catalog import EventCatalog
from typedsse.encoding import KEEPALIVE, encode, frame_encoder, retry_frame
from typedsse.events import BaseEvent, ErrorPayload, StreamError
from typedsse.exceptions import EventTypeError

__all__ = [
    "DEFAULT_PING",
    "ErrorHandler",
    "EventSource",
    "EventStreamResponse",
    "default_error_event",
    "wait_for_streams",
]

logger = logging.getLogger("typedsse")

DEFAULT_PING = 15.0
"""Seconds of silence before a keep-alive comment, unless an endpoint says otherwise."""

EventSource: TypeAlias = AsyncIterable[BaseEvent[Any]] | Iterable[BaseEvent[Any]]
"""What a response streams: an async iterable (generator, operator pipeline) or a sync iterator."""

ErrorHandler: TypeAlias = Callable[[Exception], BaseEvent[Any] | Awaitable[BaseEvent[Any] | None] | None]
"""Turns the exception that ended a started stream into the last event sent (or `None` for none)."""

# The producer pauses once this much is buffered: a batch is one write, so this also bounds how
# long one connection keeps the loop before the others get a turn; and no ASGI message is larger
# (a large event goes out in slices of it).
_HIGH_WATER = 64 * 1024
# ... and lets the loop turn after this many frames buffered in a row, however small they are.
_FAIR_SHARE = 128

# Seconds between reads of a `receive()` that answers at once with a copy of the request.
_REPLAY_POLL = 1.0


# The request tasks serving an event stream now, on every event loop, with how many of their
# responses stream (one, but for an in-process client running several in its own task). A plain
# count, not an object per request: an idle connection costs an entry, and a burst of
# disconnects leaves nothing for the garbage collector. A task the server cancelled stays until
# it is done (see `_response_returned`).
_requests: dict[asyncio.Task[Any], int] = {}
# What a `wait_for_streams` waiting for a task's response to return waits on.
_returned: dict[asyncio.Task[Any], asyncio.Future[None]] = {}

_SSE_HEADERS: Mapping[str, str] = {
    "cache-control": "no-cache",
    # nginx buffers proxied responses unless told otherwise; the header is end-to-end.
    "x-accel-buffering": "no",
}


def default_error_event(exc: Exception) -> StreamError:
    """Return the built-in `StreamError` for `exc`, saying nothing about its internals.

    Its code is `invalid_event` for an item outside the stream's events, `request_refused` for
    an `HTTPException` with a client error status (4xx: a request body over a size limit, a
    check the generator makes once started), and `internal_error` for anything else.
    """
    if isinstance(exc, EventTypeError):
        return StreamError(data=ErrorPayload(message="The stream produced an invalid event.", code="invalid_event"))
    if _refused(exc):
        return StreamError(data=ErrorPayload(message="The request was refused.", code="request_refused"))
    return StreamError(data=ErrorPayload(message="The stream failed.", code="internal_error"))


def _refused(exc: Exception) -> bool:
    """Whether `exc` refuses the request (an HTTP client error) rather than reports a failure."""
    return isinstance(exc, HTTPException) and 400 <= exc.status_code < 500


class _Buffer:
    """Frames on their way from the producer to the writer; every wake-up is a plain future."""

    __slots__ = ("done", "drained", "error", "frames", "size", "waiter")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.size = 0
        self.done = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self) -> bytes:
        body = b"".join(self.frames) if len(self.frames) > 1 else self.frames[0]
        self.frames = []
        self.size = 0
        drained = self.drained
        if drained is not None and not drained.done():
            drained.set_result(None)
        return body


class EventStreamResponse(Response):
    """Stream typed events as `text/event-stream`.

    `@sse` builds this response for you; use it directly to return a stream from an ordinary
    endpoint or from Starlette.

    The status line and headers wait for the first event (or the end of the stream), for at
    most `ping` seconds: an exception raised before then propagates to the framework, which
    answers with a normal HTTP error. After that, an exception is logged and the stream ends
    with a typed error event (`StreamError`, or what `on_error` returns).

    Args:
        content: The events: an async iterable (async generator, operator pipeline) or a sync
            iterable, which is iterated on a thread of its own.
        catalog: The events the stream may send; anything else ends it with an error event.
            `None` accepts every named event.
        status_code: The status of a successful stream; one that allows a body (not 1xx,
            204, 205 or 304). A status set on `merge_from` that allows none is sent without
            a body, and the stream is closed.
        headers: Extra response headers.
        ping: Seconds of silence before a keep-alive comment; `None` for none.
        retry: A reconnection delay in milliseconds, sent once at the start.
        send_timeout: Seconds one write (of at most 64 KiB: a larger one goes in slices) may take
            before the client counts as gone.
        on_error: Makes the last event of a stream that failed after it started.
        background: A task to run once the response is finished.
        name: The stream's name in log lines (the endpoint's qualified name).
        merge_from: A `Response` whose headers and cookies, and status code if set, the stream
            takes when it starts: the `Response` parameter of a FastAPI endpoint, which FastAPI
            ignores once the endpoint returns a response of its own. A header it names
            replaces the stream's own (`set-cookie` adds to them); one that would break the
            stream or that no server writes, as `headers` may not, fails the request with a
            `ValueError` before anything is sent (its `content-length` is dropped: a stream
            has none, and so are spaces and tabs at either end of a value); so does a status
            that is not from 200 to 599 (a `TypeError` if it is not an `int`).

    Raises:
        ValueError: `ping` or `send_timeout` is not positive, `retry` is not an integer from 0
            to `MAX_RETRY` (a `WireFormatError`), `status_code` is not an HTTP status that
            allows a body, a header's name is not a token or its value is not Latin-1 text
            with no control character other than a tab and no space or tab at either end, or
            a header would break the stream (`content-length`, `transfer-encoding`, a hop-by-hop
            header, a `content-type` other than `text/event-stream` or with a charset other than
            `utf-8`, a `content-encoding` other than `identity`, two names that differ only in case).
        TypeError: `content` is not an async or sync iterable of events (a generator function
            not called, a coroutine not awaited, text, a mapping), `catalog` is not an
            `EventCatalog`, `on_error` is not callable, `ping` or `send_timeout` is not a
            number, `status_code` not an `int`, `headers` not a mapping, or a header's name or
            value not a `str`.
    """

    media_type = "text/event-stream"
    charset = "utf-8"

    def __init__(
        self,
        content: EventSource,
        *,
        catalog: EventCatalog | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        ping: float | None = DEFAULT_PING,
        retry: int | None = None,
        send_timeout: float | None = None,
        on_error: ErrorHandler | None = None,
        background: BackgroundTask | None = None,
        name: str = "stream",
        merge_from: Response | None = None,
    ) -> None:
        # Kept as checked: as floats, which the loop's clock takes (a huge `int` would overflow).
        self.ping = checked_seconds(ping, "ping")
        self.send_timeout = checked_seconds(send_timeout, "send_timeout")
        checked_status(status_code)
        checked_source(content)
        if catalog is not None and not isinstance(cast("object", catalog), EventCatalog):  # what callers pass
            # A union or a list of classes was taken, and failed on every request (an event is
            # in neither: an invalid item, reported with an `AttributeError`).
            raise TypeError(
                f"catalog must be an EventCatalog or None, got {catalog!r}: "
                "build one with EventCatalog.of(A | B) or EventCatalog.from_classes([A, B])"
            )
        if on_error is not None and not callable(on_error):
            raise TypeError(f"on_error must be a callable or None, got {on_error!r}")
        self.content = content
        self.catalog = catalog
        self.status_code = status_code
        self.retry = retry
        self.on_error = on_error
        self.background = background
        self.name = name
        self.merge_from = merge_from
        self.prelude = retry_frame(retry) if retry is not None else b""
        merged = dict(_SSE_HEADERS)
        for header, value in checked_headers(headers).items():
            # Names are case-insensitive: `Cache-Control` replaces the default.
            name = header.lower()
            merged[name] = _sent_type(value) if name == "content-type" else value
        self.init_headers(merged)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the stream on one ASGI connection (`HEAD` gets the headers and no body).

        A status that allows no body, set before the stream starts (a dependency's 204 on the
        `Response` parameter), is answered at once: the stream is closed without running, so
        its first step consumes nothing (a message from a queue) and no keep-alive is waited for.
        A header or a status set there that the stream cannot be sent with fails the request
        before the stream runs; the stream is closed, as one that never ran.
        """
        try:
            _merged_headers(self)
            allows_body = status_allows_body(_status(self))
        except Exception:
            await _close_unstarted(self.content)  # a cursor returned as the stream is closed too
            raise
        if scope.get("method") == "HEAD" or not allows_body:
            await _close_unstarted(self.content)
            await send(_start_message(self))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            try:
                request = asyncio.current_task()
            except RuntimeError as exc:  # no asyncio loop runs this task: trio, say (Hypercorn's trio worker)
                raise RuntimeError(
                    f"{self.name}: typedsse streams need an asyncio event loop (uvloop is one); "
                    "this server runs another, such as trio"
                ) from exc
            if request is not None:
                _requests[request] = _requests.get(request, 0) + 1
            try:
                await _Connection(self, receive, send).run()
            finally:
                if request is not None:
                    _response_returned(request)
        if self.background is not None:
            await self.background()


async def wait_for_streams() -> None:
    """Wait until every request that served an event stream on this event loop has ended.

    Call it in the application's lifespan, after its `yield`: uvicorn cancels the requests
    still open at its shutdown deadline, runs the lifespan's shutdown and returns at once, and
    asyncio then cancels every task left, which interrupts a stream's `finally` still awaiting
    its cleanup. Waiting here lets those cleanups, and the dependencies' after them, run to
    their end first. Bound the wait the usual way, `with anyio.move_on_after(5):` (or
    `asyncio.timeout`) around the call.

    A request the server has cancelled while its stream was open (uvicorn cancels every
    request still open at its deadline) is waited for until its task is done: what runs after the response in that task,
    the dependencies' cleanup, is part of the request, also once the response has returned. A
    request nobody cancelled is waited for until its response returns, since its task may go on
    with other work: an in-process client (httpx's `ASGITransport`) runs the app in the caller's
    task, which may be the very one waiting for this call.
    """
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    while True:
        # Once what it waits for is over, it looks again: a request that started, or whose
        # response returned cancelled, meanwhile is waited for too.
        waits: list[asyncio.Future[Any]] = []
        for task, streams in list(_requests.items()):  # a snapshot: other threads' loops add to it too
            if task.get_loop() is not loop or task is current or task.done():
                continue
            if task.cancelling() or not streams:
                waits.append(task)
            else:
                returned = _returned.get(task)
                if returned is None:
                    returned = _returned[task] = loop.create_future()
                waits.append(returned)
        if not waits:
            return
        await asyncio.wait(waits)


def _response_returned(task: asyncio.Task[Any]) -> None:
    """Count a stream's response as returned, and drop its task once nothing is left to wait for."""
    returned = _returned.pop(task, None)
    if returned is not None and not returned.done():
        returned.set_result(None)
    streams = _requests.get(task, 0) - 1
    if streams > 0:
        _requests[task] = streams
    elif task.cancelling():
        # The server cancelled the request (a shutdown): what runs after the response in its
        # task, the dependencies' cleanup, is part of the request, waited for until it is done.
        _requests[task] = 0
        task.add_done_callback(_forget)
    else:
        _requests.pop(task, None)


def _forget(task: asyncio.Task[Any]) -> None:
    _requests.pop(task, None)


def checked_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Return `headers` as a dict if every one can be written; else raise at once, not per request.

    Raises:
        TypeError: `headers` is not a mapping, or a name or value is not a `str`.
        ValueError: A name is not an HTTP token, or a value is not Latin-1 text (what Starlette
            writes), holds a control character other than a tab, or starts or ends with a
            space or tab (RFC 9110's field value; uvicorn refuses each of these on h11 or on
            httptools, and CR, LF or NUL would end the header block); or the header would
            break the stream: its framing and hop-by-hop headers, which are the server's, a
            `content-type` other than `text/event-stream` or with a charset other than `utf-8`,
            a `content-encoding` the body does not have; or two names differ only in case.
    """
    given = cast("object", headers)  # what callers pass, not what they annotate
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        # `dict()` would take any iterable of pairs: `["ab"]` as the header `a: b`.
        raise TypeError(f"headers must be a mapping of names to values, got {given!r} ({type(given).__name__})")
    checked = dict(cast("Mapping[object, object]", given))
    names: dict[str, str] = {}
    for name, value in checked.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"headers: names and values must be str, got {name!r}: {value!r}")
        if not _TOKEN.fullmatch(name):
            raise ValueError(f"headers: {name!r} is not a valid header name")
        # Names are case-insensitive: the stream would send one of the two, and the OpenAPI
        # document would list both.
        same = names.setdefault(name.lower(), name)
        if same != name:
            raise ValueError(f"headers: {same!r} and {name!r} name the same header; give it once")
        if _BAD_VALUE.search(value) or not _is_latin1(value):
            raise ValueError(
                f"headers: the value of {name!r} must be Latin-1 text with no control character other than "
                f"a tab and no space or tab at either end, got {value!r}"
            )
        problem = _stream_breaker(name, value)
        if problem is not None:
            raise ValueError(f"headers: {name}: {value} cannot go with an event stream: {problem}")
    return cast("dict[str, str]", checked)


def _stream_breaker(name: str, value: str) -> str | None:
    """Why the header `name: value` would break an event stream, or `None` if it would not."""
    problem = _STREAM_BREAKERS.get(name.lower())
    if problem is not None and (name.lower(), value.lower().split(";")[0].strip()) not in _HARMLESS:
        return problem
    if name.lower() == "content-type":
        # `EventSource` decodes a stream as UTF-8 whatever it says, but other clients (httpx,
        # httpx-sse) read the charset: the type's registration allows `utf-8` only.
        for charset in _charsets(value):
            if charset.lower() != "utf-8":
                return (
                    "the events are UTF-8, the only charset text/event-stream allows, "
                    f"and a client would decode them as {charset}"
                )
    return None


def _sent_type(content_type: str) -> str:
    """A stream's `content-type` as it is sent: its media type in lower case, its parameters as given.

    Media types are case-insensitive, but Starlette's `GZipMiddleware` before 1.5 leaves a
    response uncompressed only if its type starts with `text/event-stream` as written so: in
    another case the stream is compressed, and its events wait for the compressor's buffer.
    """
    media_type, separator, parameters = content_type.partition(";")
    return media_type.lower() + separator + parameters


def _charsets(content_type: str) -> list[str]:
    """The values of the `charset` parameters of a `content-type` value, unquoted."""
    parameters = (parameter.partition("=") for parameter in content_type.split(";")[1:])
    return [value.strip().strip('"') for key, _, value in parameters if key.strip().lower() == "charset"]


def _is_latin1(text: str) -> bool:
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110's `token`: the syntax of a field name
_HOP_BY_HOP = "a hop-by-hop header is the server's to send (HTTP/2 forbids it in a response)"
# Headers a stream's response must not carry, and why.
_STREAM_BREAKERS: Mapping[str, str] = {
    "content-length": "a stream has no length, and the server would cut the body at the one given",
    "transfer-encoding": "the server frames the body itself",
    "content-type": "a stream is text/event-stream; EventSource refuses any other type",
    "content-encoding": "the events are sent as they are, and a client would decode them as encoded",
    **dict.fromkeys(("connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"), _HOP_BY_HOP),
}
# What such a header may say all the same: the type the stream has, the encoding it has.
_HARMLESS = frozenset({("content-type", "text/event-stream"), ("content-encoding", "identity")})
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what no server writes anywhere in a value
# What a field value must not hold (RFC 9110): a control character but a tab, which uvicorn's
# httptools stack refuses, or a space or tab at either end, which h11 refuses (and HTTP would
# strip); uvicorn then fails every request of the route.
_BAD_VALUE = re.compile(_CONTROL.pattern + r"|\A[ \t]|[ \t]\Z")


def is_event_source(content: object) -> bool:
    """Whether `content` can be streamed: an async or sync iterable, but not one of what is not a stream.

    Text, bytes and a mapping iterate, but not as events; nor does a Pydantic model (an event
    given in place of a stream of it), which iterates as its fields, `(name, value)` pairs.
    """
    is_text = isinstance(content, str | bytes | Mapping) or (
        isinstance(content, BaseModel)
        and not isinstance(content, AsyncIterable)
        and type(content).__iter__ is BaseModel.__iter__
    )
    return isinstance(content, AsyncIterable | Iterable) and not is_text


def checked_source(content: object) -> EventSource:
    """Return `content` if it can be streamed (see `is_event_source`); else raise at once, not per request.

    Raises:
        TypeError: `content` is not an async or sync iterable of events: a generator function
            not called, a coroutine not awaited, text, a mapping, an event.
    """
    if is_event_source(content):
        return cast(EventSource, content)
    if inspect.iscoroutine(content):
        content.close()  # never awaited, and never will be: no warning about it
        hint = "; await the coroutine that returns the stream"
    elif callable(content):
        hint = "; call the function that makes the stream"
    else:
        hint = ""
    raise TypeError(f"content must be an async or sync iterable of events, got {type(content).__qualname__}{hint}")


def status_allows_body(status: int) -> bool:
    """Whether HTTP lets a response with this status carry a body (informational, 204, 205, 304 do not)."""
    return status >= 200 and status not in (204, 205, 304)


def checked_status(status: object) -> int:
    """Return `status` if a stream can be sent with it: an HTTP status (200-599) that allows a body.

    Raises:
        TypeError: `status` is not an `int` (a `bool` is not one here).
        ValueError: `status` is not from 200 to 599, or is 204, 205 or 304.
    """
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"status_code must be an int, got {status!r} ({type(status).__name__})")
    if not 200 <= status <= 599:  # the server could not write another: every request would fail
        raise ValueError(f"status_code {status!r} is not an HTTP status a stream can be sent with (200 to 599)")
    if not status_allows_body(status):
        raise ValueError(f"status_code {status!r} does not allow a body, and a stream is one")
    return status


def checked_seconds(seconds: object, option: str) -> float | None:
    """Return `seconds` as a `float` if it is a positive number of seconds, or `None`.

    A number past the range of a float (`10**400`) is infinite, as `inf` is.

    Raises:
        TypeError: `seconds` is not a real number (a `bool` or a numeric string is not one).
        ValueError: `seconds` is not positive (NaN included).
    """
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
        raise TypeError(f"{option} must be a number of seconds or None, got {seconds!r} ({type(seconds).__name__})")
    try:
        value = float(seconds)
    except OverflowError:
        value = -math.inf if seconds < 0 else math.inf
    if not value > 0:  # written so that NaN, which every comparison refuses, is refused too
        raise ValueError(f"{option} must be a positive number of seconds or None, got {seconds!r}")
    return value


def _status(response: EventStreamResponse) -> int:
    """The status the stream starts with: `merge_from`'s, once the endpoint or a dependency set one.

    Raises:
        TypeError: The status set on `merge_from` is not an `int` (a `bool` is not one here).
        ValueError: The status set on `merge_from` is not a final HTTP status (200 to 599): an
            informational one cannot end a request, and servers cannot write one past 599 (h11
            refuses both, and the connection closes without a response). Raised before
            anything is sent, as for a header that would break the stream.
    """
    source = response.merge_from
    # FastAPI's `Response` parameter has `None` until something sets a status.
    if source is None or not source.status_code:
        return response.status_code
    status = cast("object", source.status_code)  # what the endpoint or a dependency set, whatever its type
    if isinstance(status, int) and not isinstance(status, bool) and 200 <= status <= 599:
        return status
    where = (
        f"{response.name}: the status {status!r}, set on its Response (FastAPI's `Response` parameter, "
        "by a dependency or the endpoint),"
    )
    if not isinstance(status, int) or isinstance(status, bool):
        raise TypeError(f"{where} is not an int ({type(status).__name__})")
    raise ValueError(f"{where} is not a final HTTP status (200 to 599) a response can be sent with")


def _merged_headers(response: EventStreamResponse) -> list[tuple[bytes, bytes]]:
    """The stream's headers, with what `merge_from` holds by now.

    Raises:
        ValueError: A header set on `merge_from` would break the stream (see `checked_headers`).
            `@sse` refuses such a header when it decorates; one set on FastAPI's `Response`
            parameter, by a dependency or the endpoint, exists only once the request is
            under way, and is refused before anything is sent: the client gets a 500 rather
            than a stream it cannot read (`EventSource` refuses another `content-type`). So is
            one no server writes (a name that is not a token, a value with a control character
            other than a tab): uvicorn would close the connection without a response, which
            `EventSource` takes for a dropped connection, and reconnects. Spaces and tabs at
            either end of a value, which are no part of it, are dropped.
    """
    headers, source = response.raw_headers, response.merge_from
    if source is not None:
        extra = source.headers.raw
        if extra:
            sent: list[tuple[bytes, bytes]] = []
            for raw_name, raw_value in extra:
                if raw_name == b"content-length":
                    # A stream has no length: a `content-length` (a plain `Response()` carries one
                    # of 0) would make the server refuse the body.
                    continue
                name, value = raw_name.decode("latin-1"), raw_value.decode("latin-1")
                if not _TOKEN.fullmatch(name) or _CONTROL.search(value):
                    raise ValueError(
                        f"{response.name}: the header {name!r}: {value!r}, set on its Response (FastAPI's "
                        "`Response` parameter, by a dependency or the endpoint), cannot be sent: no server "
                        "writes it (a header's name is a token; its value has no control character other "
                        "than a tab)"
                    )
                # Spaces and tabs at either end are no part of a value (RFC 9110), and a client
                # drops them: httptools sends them, but h11 refuses the header.
                value = value.strip(" \t")
                problem = _stream_breaker(name, value)
                if problem is not None:
                    raise ValueError(
                        f"{response.name}: the header {name}: {value}, set on its Response (FastAPI's "
                        f"`Response` parameter, by a dependency or the endpoint), cannot go with an event "
                        f"stream: {problem}"
                    )
                if raw_name == b"content-type":
                    value = _sent_type(value)
                sent.append((raw_name, value.encode("latin-1")))
            extra = sent
            named = {name for name, _ in extra if name != b"set-cookie"}
            headers = [header for header in headers if header[0] not in named] + extra
    return headers


def _start_message(response: EventStreamResponse) -> Message:
    """The `http.response.start` message, with what `merge_from` holds by now."""
    return {"type": "http.response.start", "status": _status(response), "headers": _merged_headers(response)}


class _Connection:
    """The state of one streaming connection: the writer loop runs in the request's task."""

    __slots__ = (
        "buffer",
        "closing",
        "context",
        "disconnected",
        "gone",
        "last_write",
        "loop",
        "ping_at",
        "ping_timer",
        "producer",
        "receive",
        "refused",
        "response",
        "send",
        "started",
        "stopped",
        "turn",
        "turns",
        "watcher",
        "writing",
    )

    def __init__(self, response: EventStreamResponse, receive: Receive, send: Send) -> None:
        self.response = response
        self.receive = receive
        self.send = send
        self.loop = asyncio.get_running_loop()
        self.buffer = _Buffer()
        self.disconnected = False
        self.gone: asyncio.Future[None] | None = None  # set when the client leaves, while an `on_error` hook awaits
        # The producer left its loop on a failed write of its own and is closing the generator:
        # not to be cancelled, which would interrupt the generator's `finally` at its `await`.
        self.closing = False
        self.stopped = False  # the response has asked the producer to stop (see `_stop_producer`)
        self.started = False  # the status line and headers are out
        self.refused = False  # the buffer's error is the request's (`receive()` failed), not the stream's
        self.writing = False  # a write is in progress (by the writer or the producer)
        # The producer may write an event itself once the loop has turned since its last write.
        self.turns = _turns_of(self.loop)
        self.turn = -1  # the loop turn of the producer's last write
        self.producer: asyncio.Task[None] | None = None
        self.watcher: asyncio.Task[None] | None = None
        # The producer's context: what the generator binds there (a request or job id for the
        # log, a tracing or error-reporting tag) is its request's, as it is for a plain
        # endpoint's handlers. The stream's failure is logged and `on_error` runs in it too.
        self.context = contextvars.copy_context()
        # Keep-alive: one timer per `ping` seconds of silence, re-armed lazily, not one per wait.
        self.last_write = self.loop.time()
        self.ping_timer: asyncio.TimerHandle | None = None
        self.ping_at = 0.0  # the loop time the timer is set for

    async def run(self) -> None:
        # Plain asyncio tasks, cancelled once: a cancelled generator may still await in its
        # `finally` (closing a database cursor, say), which a level-triggered cancel scope forbids.
        self.producer = self.loop.create_task(self._produce(), context=self.context)
        self.watcher = self.loop.create_task(self._watch())
        try:
            await self._stream()
        finally:
            if self.ping_timer is not None:
                self.ping_timer.cancel()
            self.watcher.cancel()
            self._stop_producer()
            try:
                # The request ends after the stream's own cleanup (its `finally`), even when a
                # server cancels it meanwhile (a shutdown deadline). An anyio cancel scope around
                # the request (Starlette's `TestClient` closing an unfinished response, a task
                # group under `BaseHTTPMiddleware`, a timeout) cancels again at every `await`
                # until it exits: shielded from those, the wait sees only `Task.cancel()` calls,
                # and the scope's cancellation is raised once it is over.
                with anyio.CancelScope(shield=True):
                    await _outlive(self.producer, self.watcher)
                await anyio.lowlevel.checkpoint_if_cancelled()
            finally:
                error = self.buffer.error
                if error is not None and not self.refused and not isinstance(error, EventTypeError):
                    # Neither raised nor sent (an invalid item was logged when it was found): the
                    # stream failed where no event could carry it, its cleanup say, once the client
                    # was gone, the request cancelled (a server's shutdown deadline) or a status
                    # without a body sent. Nobody can be told but the log. A request that failed
                    # once its response had ended (a body over the size limit, read on after the
                    # last event) is the client's doing, and no failure of the stream.
                    self._log(
                        logging.ERROR,
                        "%s: the stream failed after its response ended; no error event was sent",
                        self.response.name,
                        exc_info=error,
                    )
                del error  # this frame, if a traceback holds it, must not hold the error
                # A finished task keeps its exception (a cancellation's too), whose traceback
                # holds the task's frames, which hold this connection: let go of both ends, so
                # that all of it is freed now and not at the garbage collector's next pass.
                self.producer = self.watcher = None
                self.buffer.error = None

    async def _stream(self) -> None:
        response, buffer = self.response, self.buffer
        await self._wait()
        if self.disconnected:
            # The client left before the first event. Still answer, with no body: a server drops
            # what it cannot send, and middleware that waits for a response (Starlette's
            # `BaseHTTPMiddleware`) would otherwise report "No response returned." as an error.
            if await self._send(_start_message(response)):
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if buffer.error is not None and (not buffer.frames or self.refused):
            # Nothing was sent yet: let the framework answer with a real HTTP error. A refused
            # request (a body over the size limit) is answered so even with an event ready:
            # what the stream made for it was never the client's to read.
            error, buffer.error = buffer.error, None
            try:
                raise error
            finally:
                del error  # this frame, in the error's traceback, must not hold the error
        start = _start_message(response)
        if not status_allows_body(start["status"]):
            # The endpoint or a dependency set a status that allows no body (a 204 to tell
            # `EventSource` to stop): answer with it and close the stream.
            if await self._send(start):
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if not await self._send(start):
            return
        self.started = True
        head = response.prelude
        if not buffer.frames and not buffer.done:
            head += KEEPALIVE  # `ping` seconds passed: show the client the stream is alive
        while True:
            # Everything ready goes out in one write; the end of the stream (and its error
            # event, if it failed) rides along with the last frames.
            body = head + buffer.take() if buffer.frames else head
            head = b""
            if buffer.done:
                last = await self._ending(body)
                if last is not None:
                    await self._write(last, more_body=False)
                return
            if body or not self.writing:  # no keep-alive while the producer is writing
                self.writing = True
                try:
                    if not await self._write(body or KEEPALIVE, more_body=True):
                        return
                finally:
                    self.writing = False
            if buffer.frames:
                await asyncio.sleep(0)  # a checkpoint per write: other connections get their turn
            else:
                await self._wait()
            if self.disconnected:
                return

    async def _wait(self) -> None:
        """Wait until frames are ready, the stream ends, the client leaves, or a keep-alive is due."""
        buffer = self.buffer
        if buffer.frames or buffer.done or self.disconnected:
            return
        ping = self.response.ping
        if ping is not None and self.ping_timer is None:
            self.ping_at = self.last_write + ping
            self.ping_timer = self.loop.call_at(self.ping_at, self._ping_due)
        waiter = buffer.waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            buffer.waiter = None

    def _ping_due(self) -> None:
        ping = self.response.ping
        if ping is None:  # pragma: no cover - the timer is only armed with a ping
            return
        if self.writing or self.last_write + ping > self.ping_at:
            # A slow write is not silence; a write since the timer was set moved the keep-alive on.
            due = self.loop.time() + ping if self.writing else self.last_write + ping
            self.ping_at = due
            self.ping_timer = self.loop.call_at(due, self._ping_due)  # wait for the rest
        else:
            # The timer set for the end of the silence fired: the keep-alive is due, also when the
            # loop's clock reads a little earlier. uvloop rounds a timer's delay to the millisecond,
            # firing up to half of one early: set again for what was left, the timer fired at once,
            # and again, until the clock caught up.
            self.ping_timer = None
            self.buffer.wake()

    async def _send(self, message: Message) -> bool:
        """Send `message`; whether the client took it (`False`: it has gone, and the stream ends)."""
        try:
            await self.send(message)
        except (OSError, RuntimeError) as exc:
            if not _client_gone(exc):
                raise
            self.disconnected = True
            return False
        return True

    async def _write(self, body: bytes, *, more_body: bool) -> bool:
        if len(body) <= _HIGH_WATER:
            return await self._write_message(body, more_body=more_body)
        # A server takes a whole message into its own buffer at once, and waits for the socket
        # only before the next: one large event, written whole to a client that has stopped
        # reading, would stay in the process's memory for as long as the connection stays open
        # (after `send_timeout` too). In slices of 64 KiB it holds one slice beyond its own mark.
        view = memoryview(body)
        for start in range(0, len(body), _HIGH_WATER):
            end = start + _HIGH_WATER
            if not await self._write_message(bytes(view[start:end]), more_body=more_body or end < len(body)):
                return False
            if end < len(body):
                # A server's write that finds the client gone (a reset) learns it only at the
                # next loop turn, and a send that does not wait for the socket does not turn it:
                # without this, every slice left went to the dead transport in that one turn
                # (asyncio logs each past the fifth). The turn also lets other connections run.
                await asyncio.sleep(0)
                if self.disconnected:
                    return False
        return True

    async def _write_message(self, body: bytes, *, more_body: bool) -> bool:
        message = {"type": "http.response.body", "body": body, "more_body": more_body}
        timeout = self.response.send_timeout
        self.last_write = self.loop.time()
        if timeout is None:
            return await self._send(message)
        try:
            async with asyncio.timeout(timeout):
                return await self._send(message)
        except TimeoutError:
            logger.warning("%s: a write took over %ss; closing the stream", self.response.name, timeout)
            self.disconnected = True
            return False

    async def _ending(self, body: bytes) -> bytes | None:
        """The last write: `body`, the stream's last frames, and its error event if it failed.

        An `on_error` hook that awaits gets `body` written before it, and keep-alives while it
        runs (see `_unless_gone`); `None` if the client leaves meanwhile: nothing is left to write.
        """
        exc, self.buffer.error = self.buffer.error, None  # reported here, to the client and the log
        if exc is None:
            return body
        response = self.response
        if isinstance(exc, HTTPException) and exc.status_code < 400:
            # The endpoint's deliberate answer (`HTTPException(204)`: "finished"), too late for its
            # status: the stream ends cleanly, and a client reconnecting gets the status at once.
            self._log(
                logging.WARNING,
                "%s: the endpoint answered %s after the stream started, too late to send the status; "
                "the stream ends without an error event",
                response.name,
                exc.status_code,
            )
            return body
        if _refused(exc):
            # The client's doing, or the endpoint's deliberate answer: no failure, no traceback.
            detail = cast(HTTPException, exc)
            self._log(
                logging.WARNING,
                "%s: the request was refused after the stream started (%s %s); the stream ends",
                response.name,
                detail.status_code,
                detail.detail,
            )
        elif not isinstance(exc, EventTypeError):
            self._log(logging.ERROR, "%s: the stream failed after it started", response.name, exc_info=exc)
        if response.on_error is None:
            return body + encode(default_error_event(exc))
        # What the hook raises is its failure, logged, and the built-in event is sent; a failed
        # write while it awaits is the response's own, and is not caught here.
        failed = False
        event: object = None
        try:
            event = self.context.run(response.on_error, exc)
        except Exception:
            failed = self._hook_failed()
        except asyncio.CancelledError:
            if _being_cancelled():
                raise  # the request's own (a shutdown)
            # A cancellation of the hook's own (it awaited a future or task that something else
            # cancelled) is its failure, as it is a stream's: raised on, it would break the
            # response, which would end without an error event or the end of its body.
            failed = self._hook_failed()
        if not failed and inspect.isawaitable(event):
            hook = await self._unless_gone(event, body)
            if hook is None:
                return None  # the client left: the event has nobody to go to
            body = b""  # sent before the hook awaited
            try:
                event = hook.result()
            except (Exception, asyncio.CancelledError):  # the request's own cancellation is raised by `_unless_gone`
                failed = self._hook_failed()
            del hook  # its exception, if any, must not stay in this frame
        if not failed:
            if event is None:
                return body
            catalog = response.catalog
            if _is_event(event) and (catalog is None or event in catalog):
                try:
                    return body + encode(event)
                except Exception:
                    # Its payload cannot be written (a lone surrogate in a `str`), or it has no
                    # name: the hook's failure. Raised from here, it broke the response, which
                    # ended without an error event, the frames before it, or the end of its body.
                    self._log(
                        logging.ERROR,
                        "%s: on_error returned an event that cannot be encoded; sending the built-in error event",
                        response.name,
                        exc_info=True,
                    )
                    return body + encode(default_error_event(exc))
            # Checked like a yielded item: an event the stream never declared, or no event at
            # all, must not reach the client.
            events = ", ".join(cls.__qualname__ for cls in catalog.events) if catalog is not None else "events"
            self._log(
                logging.ERROR,
                "%s: on_error returned %s, which is not one of its events (%s); sending the built-in error event",
                response.name,
                _described(event),
                events,
            )
        return body + encode(default_error_event(exc))

    def _log(self, level: int, message: str, *args: object, exc_info: BaseException | bool | None = None) -> None:
        """Log on the `typedsse` logger in the stream's context (see `__init__`)."""
        self.context.run(logger.log, level, message, *args, exc_info=exc_info, stacklevel=2)

    def _hook_failed(self) -> bool:
        # Called while the hook's exception is handled: it is the one logged.
        self._log(
            logging.ERROR, "%s: on_error failed; sending the built-in error event", self.response.name, exc_info=True
        )
        return True

    async def _unless_gone(self, awaitable: Awaitable[object], pending: bytes) -> asyncio.Future[object] | None:
        """Run an `on_error` hook's result to its end, but not past the client leaving: then it is cancelled.

        The hook may take a while (a call to another service): `pending`, the frames the stream
        made before it failed, goes out first, and a keep-alive after every `ping` seconds of
        silence while it runs, written as any other (a client gone or past `send_timeout` is
        the client leaving). The request, and its dependencies' cleanup, would wait for a hook
        that awaits for long (or for ever) after the client has gone; its event has nobody to go
        to. Returns the hook's task once it is done, or `None` when the client left.
        """
        if self.disconnected and inspect.iscoroutine(awaitable):
            awaitable.close()  # never awaited, and never will be: no warning about it
            return None
        # A task or future the hook started runs whether or not it is awaited: it is cancelled
        # and waited for like any other, also when the client is gone already.
        task = self.context.run(asyncio.ensure_future, awaitable)  # a coroutine's task starts from the stream's context
        try:
            if not self.disconnected and (not pending or await self._write(pending, more_body=True)):
                ping = self.response.ping
                gone = self.gone = self.loop.create_future()
                silent = False  # the wait ran out: the keep-alive is due (see `_ping_due`)
                while not (task.done() or self.disconnected):
                    due_in = None if ping is None else self.last_write + ping - self.loop.time()
                    if silent or (due_in is not None and due_in <= 0):
                        silent = False
                        await self._write(KEEPALIVE, more_body=True)  # if it fails, the client has left
                    else:
                        done, _ = await asyncio.wait((task, gone), timeout=due_in, return_when=asyncio.FIRST_COMPLETED)
                        silent = not done
        except BaseException:
            # The request is cancelled (a shutdown), or a write failed: the hook is cancelled, and
            # the request ends after the hook's own cleanup, as it does after the generator's.
            await _cancel_and_wait(task)
            raise
        finally:
            self.gone = None
        if task.done() and not self.disconnected:
            return task
        await _cancel_and_wait(task)  # the hook's own cleanup runs before the request ends
        return None

    async def _produce(self) -> None:
        buffer, response, loop, send = self.buffer, self.response, self.loop, self.send
        catalog = response.catalog
        turns = self.turns
        # With a send timeout every write goes through `_write`; without one (the default) the
        # inline write below is spelled out: it runs once per sparse event.
        timed = response.send_timeout is not None
        # One encoder per event class, found by a dict lookup: the catalog check runs once per class.
        encoders: dict[type[BaseEvent[Any]], Callable[[BaseEvent[Any]], bytes]] = {}
        burst = 0  # frames buffered since the producer last let the loop turn
        try:
            async with _open(response.content) as events:
                source: AsyncIterator[BaseEvent[Any]] = events
                resumable = inspect.isasyncgen(events)  # a cancellation can be raised at its `yield`
                while True:
                    thrown: asyncio.CancelledError | None = None
                    async for event in source:
                        encoder = encoders.get(type(event))
                        if encoder is None:
                            if not (_is_named_event(event) if catalog is None else event in catalog):
                                raise _invalid_event(response, catalog, event)
                            encoder = encoders[type(event)] = frame_encoder(type(event))
                        frame = encoder(event)
                        if self.turn != turns.count and buffer.waiter is not None and self.started and not self.writing:
                            # The writer is parked and the loop has turned since the last write: send
                            # the event in this very step. Routing it through the writer would queue
                            # it behind every other connection's ready work (latency under load). A
                            # burst (no loop turn in between) takes the buffered path and coalesces.
                            self.turn = turns.mark()
                            self.writing = True
                            try:
                                if timed or len(frame) > _HIGH_WATER:
                                    if not await self._write(frame, more_body=True):
                                        self.closing = True
                                        break
                                else:
                                    self.last_write = loop.time()
                                    try:
                                        await send({"type": "http.response.body", "body": frame, "more_body": True})
                                    except (OSError, RuntimeError) as exc:
                                        if not _client_gone(exc):
                                            raise
                                        self.disconnected = self.closing = True
                                        break
                            finally:
                                self.writing = False
                            continue
                        if not buffer.frames:
                            if self._unread():
                                # As below, once per batch as well as every 128 frames: a generator
                                # that took the cancellation and yields now and then (a feed with an
                                # event a minute) would go on for 128 of its events, hours, before
                                # the check below came round.
                                break
                            buffer.wake()
                        buffer.frames.append(frame)
                        buffer.size += len(frame)
                        burst += 1
                        if buffer.size >= _HIGH_WATER:
                            if self._unread():
                                break  # see below: nobody would ever drain it
                            drained = buffer.drained = loop.create_future()
                            try:
                                await drained
                            except asyncio.CancelledError as exc:
                                if self.stopped or not resumable:
                                    raise
                                thrown = exc  # the generator's own (see below)
                                break
                            burst = 0
                        elif burst == _FAIR_SHARE:
                            # A generator that never awaits would hold the loop until 64 KiB are
                            # buffered (some two thousand small events), and a few hundred such
                            # streams slowed every other one to an event a second. A turn every 128
                            # keeps their pace; batches stay large enough to cost no throughput
                            # (measured: 64 cost 6-13% of it, 128 none beyond noise).
                            if self._unread():
                                # The client has left (or the response is over), and the generator
                                # is still yielding: it took the cancellation sent then (a bare
                                # `except:` around an `await`). Checked here, not per event: the
                                # events since the last check go nowhere, and the generator is
                                # closed on the way out.
                                break
                            burst = 0
                            try:
                                await asyncio.sleep(0)
                            except asyncio.CancelledError as exc:
                                if self.stopped or not resumable:
                                    raise
                                thrown = exc  # the generator's own (see below)
                                break
                            # That turn was this stream's gift, not a pause of the generator: the
                            # events after it stay in the batch (the inline write is for an event
                            # that comes after the loop has turned without the producer asking).
                            self.turn = turns.mark()
                    if thrown is None:
                        break
                    # A cancellation the response did not send landed in one of its two waits
                    # above, while the generator was suspended at its `yield`: a deadline around
                    # the generator's `yield`s (`asyncio.timeout`, `anyio.fail_after`) passed, or
                    # a task group it holds across them lost a child. It is the generator's, and
                    # is raised at that `yield`, where the deadline turns it into `TimeoutError`
                    # (the group into its `ExceptionGroup`), as at any `await` of its own. Raised
                    # here instead, it closed the generator without its `except` running, and
                    # the stream failed with a cancellation nobody had sent. The frames buffered
                    # so far stay; what the generator yields next leads the rest of its events.
                    # Only here, off the per-event path: the loop above is the same as before.
                    try:
                        resumed = await cast(AsyncGenerator[BaseEvent[Any]], events).athrow(thrown)
                    except StopAsyncIteration:
                        break
                    finally:
                        thrown = None  # a traceback through this frame must not hold it
                    source = _Resumed(resumed, events)
        except Exception as exc:
            buffer.error = exc
        except asyncio.CancelledError as exc:
            if _being_cancelled():
                raise  # the response's own cancellation: the client left, or the request is cancelled
            # A cancellation of the stream's own (it awaited a future or task that something else
            # cancelled) is a failure: ending quietly would pass a broken stream off as complete.
            buffer.error = RuntimeError(f"{response.name}: the stream raised CancelledError without being cancelled")
            buffer.error.__cause__ = exc
        except BaseException as exc:
            # Not an `Exception` (SystemExit, KeyboardInterrupt, a library's own, a group holding
            # one), and still a failure, reported as any other: raised from this task, it ended
            # the stream as if complete, and asyncio raises SystemExit and KeyboardInterrupt out
            # of the event loop, which stops the server. Wrapped, it is an `Exception` for the
            # framework (a 500, as uvicorn answers a plain endpoint raising it) and for `on_error`.
            buffer.error = RuntimeError(f"{response.name}: the stream raised {type(exc).__name__}")
            buffer.error.__cause__ = exc
        finally:
            buffer.done = True
            buffer.wake()

    def _unread(self) -> bool:
        """Whether nothing the producer makes can be sent any more: the client left, or the response is over.

        The watcher ends when the client leaves, when the request fails, and with the response.
        A producer may run before the watcher exists: a loop with eager tasks (Python 3.12's
        `asyncio.eager_task_factory`) runs a task's first step as it is created, and a stream
        read then to its first `await` is still being read, not over.
        """
        watcher = self.watcher
        return self.disconnected or (watcher is not None and watcher.done())

    def _stop_producer(self) -> None:
        """Cancel the producer (once), unless it is closing the generator already."""
        self.stopped = True
        if self.producer is not None and not self.closing:
            _cancel_once(self.producer)

    async def _watch(self) -> None:
        try:
            body_ended = False
            repeats = 0
            while True:
                message = await self.receive()
                kind, ends_body = message["type"], not message.get("more_body", False)
                del message  # not kept while the next `receive()` waits: an idle connection holds nothing of it
                if kind == "http.disconnect":
                    break
                if not body_ended:
                    body_ended = kind == "http.request" and ends_body
                    continue
                # Once the body has ended, `receive()` waits for the disconnect. One that answers
                # again hands out a copy of the request (a middleware replaying the body it read):
                # read in a tight loop, it would never let the event loop run. One repeat is
                # allowed (a middleware handing out its copy, then the server's own end of the
                # body); from the second on, the watcher polls, and says so once.
                repeats += 1
                if repeats < 2:
                    continue
                if repeats == 2:
                    logger.warning(
                        "%s: receive() returned %r after the request body had ended, where it must wait "
                        "for the client to leave: a middleware is replaying the request. typedsse cannot "
                        "notice this client leave and polls receive() every %ss; the stream's cleanup "
                        "may wait until a write fails or the stream ends. Fix the middleware to call "
                        "the server's receive() once it has handed out the body.",
                        self.response.name,
                        kind,
                        _REPLAY_POLL,
                    )
                await asyncio.sleep(_REPLAY_POLL)
        except Exception as exc:
            # The request failed: a middleware refused the body the client is sending (a body
            # size limit), say. Nothing could notice the client leave any more, so the stream
            # ends now, by its error policy: an HTTP error before the first event (the 413),
            # the error event after it. Raised from this task, it would surface only once the
            # stream ended, if ever, as a traceback.
            if self.buffer.error is None:
                self.buffer.error = exc
                self.refused = True
        else:
            self.disconnected = True
            if self.gone is not None and not self.gone.done():
                self.gone.set_result(None)
        self._stop_producer()  # the generator's `finally` runs now, not when a write fails
        self.buffer.wake()
        drained = self.buffer.drained
        if drained is not None and not drained.done():
            drained.cancel()


_CLOSED_TRANSPORT = "the handler is closed"
"""How uvloop's refusal of a write on a closed transport ends (`unable to perform operation on ...`)."""


def _client_gone(exc: OSError | RuntimeError) -> bool:
    """Whether a write failed because the client has gone, not because the stream is broken.

    An ASGI server refuses a write to a gone client with an `OSError` (ASGI 2.4), possibly before
    `receive()` says so. uvloop refuses a write on a closed transport with a RuntimeError of its
    own, which uvicorn passes on where it was not told of the close: with a pipelined request
    waiting behind this one, uvicorn reads nothing and tells only the waiting request, so every
    write is where this one finds out. Any other RuntimeError is a failure.
    """
    return isinstance(exc, OSError) or _CLOSED_TRANSPORT in str(exc)


class _LoopTurns:
    """Counts an event loop's turns, lazily, for every connection on it.

    A producer may write an event itself only if the loop has turned since its last write
    (see `_Connection._produce`). Counting needs a callback in the next turn, scheduled only
    when a write asks for it and at most one at a time: a burst of events due together on many
    connections (a broadcast) costs one callback, not one per event. An idle loop schedules
    nothing.
    """

    __slots__ = ("__weakref__", "count", "loop", "pending")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.count = 0
        self.pending = False

    def mark(self) -> int:
        """Return the current turn; the count moves on at the start of the next one."""
        if not self.pending:
            self.pending = True
            self.loop.call_soon(self._advance)
        return self.count

    def _advance(self) -> None:
        self.count += 1
        self.pending = False


_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopTurns] = weakref.WeakKeyDictionary()


def _turns_of(loop: asyncio.AbstractEventLoop) -> _LoopTurns:
    turns = _TURNS.get(loop)
    if turns is None:
        turns = _TURNS[loop] = _LoopTurns(loop)
    return turns


def _is_event(item: object) -> TypeGuard[BaseEvent[Any]]:
    return isinstance(item, BaseEvent)


def _is_named_event(item: object) -> bool:
    # `BaseEvent[int](data=1)` is an event with no name: nothing a stream can send.
    return _is_event(item) and type(item).is_concrete()


async def _outlive(*tasks: asyncio.Task[None]) -> None:
    """Wait until `tasks` have ended, whatever their outcome, then raise any cancellation received.

    The current task may already be on its way out by a cancellation (a server cancels the
    request while it streams), or be cancelled while it waits: it still waits, and raises the
    cancellation afterwards, so that what runs after the request (a dependency's cleanup) runs
    after the stream's own. The first cancellation is not passed on: the tasks have been
    cancelled once already, and their cleanup may await. A further one means "stop now": it is
    passed on to each task that has not had as many, which interrupts a cleanup still awaiting,
    and the wait goes on until the tasks have ended. A cancellation that reached the tasks as
    well (asyncio cancelling every task of a loop as it closes, which a server's shutdown ends
    with) is not passed on twice.
    """
    current = asyncio.current_task()
    if current is None:
        await asyncio.wait(tasks)
        return
    interrupted = False
    while True:
        _pass_on_cancellation(current, tasks)
        if all(task.done() for task in tasks):
            break
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            interrupted = True
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:  # not ours: `_produce` keeps its own
            raise cast(BaseException, task.exception())
    if interrupted:
        raise asyncio.CancelledError


def _pass_on_cancellation(current: asyncio.Task[Any], tasks: tuple[asyncio.Task[None], ...]) -> None:
    # The first cancellation of the request is not passed on (see `_outlive`); every later one is,
    # to each task that has not been cancelled as many times.
    for task in tasks:
        if current.cancelling() > 1 and not task.done() and task.cancelling() < current.cancelling():
            task.cancel()


async def _cancel_and_wait(task: asyncio.Future[object]) -> None:
    """Cancel an `on_error` hook's task and wait until it is done; its outcome is nobody's any more.

    A further cancellation of the current task while it waits is passed on ("stop now"), and
    raised once the hook is done.
    """
    task.cancel()
    interrupted = False
    while not task.done():
        try:
            await asyncio.wait((task,))
        except asyncio.CancelledError:
            interrupted = True
            task.cancel()
    if not task.cancelled():
        task.exception()  # retrieved: the loop would report it as never retrieved
    if interrupted:
        raise asyncio.CancelledError


class _Resumed:
    """A generator's events after a cancellation raised at its `yield`: what it yielded then, and the rest."""

    __slots__ = ("events", "first")

    def __init__(self, first: BaseEvent[Any], events: AsyncIterator[BaseEvent[Any]]) -> None:
        self.first: BaseEvent[Any] | None = first
        self.events = events

    def __aiter__(self) -> _Resumed:
        return self

    async def __anext__(self) -> BaseEvent[Any]:
        first = self.first
        if first is None:
            return await self.events.__anext__()
        self.first = None
        return first


def _being_cancelled() -> bool:
    # Not a local of the caller: a frame that holds its own task, on the way out with the
    # task's `CancelledError`, makes a cycle (task, error, traceback, frame, task).
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _cancel_once(task: asyncio.Task[None]) -> None:
    # A second cancel would interrupt the stream's `finally` while it awaits its cleanup.
    if not task.done() and not task.cancelling():
        task.cancel()


def _invalid_event(response: EventStreamResponse, catalog: EventCatalog | None, event: object) -> EventTypeError:
    what = (
        "a named event"
        if catalog is None
        else f"one of its events ({', '.join(cls.__qualname__ for cls in catalog.events)})"
    )
    message = f"{response.name} yielded {_described(event)}, which is not {what}; ending the stream"
    logger.error(message)
    return EventTypeError(message)


def _described(item: object) -> str:
    """Name what a stream or `on_error` gave in place of an event: its class, or the class it is.

    A class given for an instance of it (`yield Tick`) is named as itself: its own class is a
    metaclass (Pydantic's), which says nothing of what was given.
    """
    if isinstance(item, type):
        return f"the class {item.__module__}.{item.__qualname__} (not an instance of it)"
    kind = type(item)
    return f"{kind.__module__}.{kind.__qualname__}"


@contextlib.asynccontextmanager
async def _open(content: EventSource) -> AsyncGenerator[AsyncIterator[BaseEvent[Any]]]:
    """Open any supported event source as an async iterator and close it on the way out."""
    if isinstance(content, Stream | Streamer):
        # An aiostream pipeline: its context owns every source and closes them all.
        async with content.stream() if isinstance(content, Stream) else content as streamer:
            try:
                yield streamer
            finally:
                # Closed here, as a generator is, however the block ends (a pipeline passes on
                # its source's close, a group from a task group's `yield` included); the
                # context's exit then finds it closed. Left to the context, an error of the
                # response's own (an event the endpoint does not declare) would be thrown into
                # the outermost stage, which could take it for its own and end quietly.
                await closed(streamer.aclose)
        return
    if isinstance(content, AsyncIterable):
        iterator = aiter(content)
        try:
            yield iterator
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await closed(aclose)
        return
    events = _iterate_in_thread(content)
    try:
        yield events
    finally:
        await events.aclose()


_EXHAUSTED: Any = object()


class _Raised:
    """What a stream's thread returns in place of raising: see `_next_in_thread`."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error: BaseException | None = error

    def reraise(self) -> NoReturn:
        """Raise the error, letting go of it first: the frame holding this would be in its traceback."""
        error, self.error = self.error, None
        if error is None:  # pragma: no cover - each is raised once
            raise RuntimeError("a stream thread's error was raised twice")
        try:
            raise error
        finally:
            del error


def _next_in_thread(iterator: Iterator[BaseEvent[Any]]) -> Any:
    # Runs in the stream's thread. An error comes back as a value and is raised on the loop:
    # a frame that kept it while it is raised would be in its traceback, a cycle that only the
    # garbage collector would free. Anything the thread does not hand back, the loop waits for
    # in vain, hence `BaseException`.
    try:
        return next(iterator, _EXHAUSTED)
    except BaseException as error:
        return _Raised(error)


def _start_in_thread(content: Iterable[BaseEvent[Any]]) -> tuple[Iterator[BaseEvent[Any]] | None, Any]:
    # The first step, `iter()` included: an iterable's `__iter__` may block (a query) or open what
    # its steps use (a sqlite3 cursor, bound to the thread that made it). If it fails, that is
    # the first step's error, and nothing was opened to close.
    try:
        iterator = iter(content)
    except BaseException as error:
        return None, _Raised(error)
    return iterator, _next_in_thread(iterator)


def _close_in_thread(iterator: object) -> Any:
    try:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
    except BaseException as error:
        return _Raised(error)
    return None


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _serve_stream(
    content: Iterable[BaseEvent[Any]],
    requests: queue.SimpleQueue[tuple[asyncio.Future[Any] | None, bool]],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """The body of a sync stream's own thread: `iter()` and each step on request, then the close, then exit."""
    # Until `iter()` has run, only an iterator object (a cursor) has anything to close.
    iterator: Iterator[BaseEvent[Any]] | None = content if isinstance(content, Iterator) else None
    started = False
    while True:
        future, closing = requests.get()
        if closing:
            result = _close_in_thread(iterator)
        elif started and iterator is not None:
            result = _next_in_thread(iterator)
        else:
            started = True
            iterator, result = _start_in_thread(content)
        if future is not None:  # `None`: a close nobody waits for (see `_StreamThread.close`)
            try:
                loop.call_soon_threadsafe(_settle, future, result)
            except RuntimeError:
                # The loop closed while this step ran (a server's shutdown): nobody will ask for
                # the close. Close here, on the generator's own thread, rather than leave it to
                # the garbage collector on whatever thread that runs.
                if not closing:
                    _close_in_thread(iterator)
                return
        del future, result  # this frame lives on: it must not keep the last item (or error)
        if closing:
            return


class _StreamThread:
    """The one thread a sync stream runs on, its `iter()`, every step and its close, taken with the first step.

    Thread-bound resources (a sqlite3 connection, a `threading.local` session, a lock) work in
    a sync generator, or an iterable's `__iter__`, because no other thread ever touches them.
    The thread is one of anyio's worker threads, held by a runner task for the stream's life
    (so `anyio.from_thread` works in the generator, as in any `def` FastAPI runs), and handed
    back to anyio's pool at the close. It only runs steps the response asks for, one at a time,
    each holding a token of anyio's default thread limiter (the bound FastAPI's `def` endpoints
    share); it waits on a queue in between.
    """

    __slots__ = ("close_asked", "content", "limiter", "loop", "pending", "requests", "runner", "started")

    def __init__(self, content: Iterable[BaseEvent[Any]]) -> None:
        self.content = content
        self.loop = asyncio.get_running_loop()
        self.limiter = anyio.to_thread.current_default_thread_limiter()
        self.requests: queue.SimpleQueue[tuple[asyncio.Future[Any] | None, bool]] = queue.SimpleQueue()
        self.started = False
        self.close_asked = False  # the thread has been asked to close the generator
        self.runner: asyncio.Task[None] | None = None
        self.pending: asyncio.Future[Any] | None = None

    async def step(self, *, closing: bool = False) -> Any:
        """Run one step (`next`, or the close) in the thread; return its result or a `_Raised`."""
        limiter = self.limiter
        # Borrowed for this stream, not for the task: anyio's wait for a token holds its
        # borrower in a local, and a task cancelled there (its client left) would hold that
        # frame in its cancellation's traceback, a reference cycle with the connection in it.
        try:
            limiter.acquire_on_behalf_of_nowait(self)
        except anyio.WouldBlock:
            await limiter.acquire_on_behalf_of(self)
        try:
            if not self.started:
                self.started = True
                # Its own limiter: the thread is held for the stream's life, while the default
                # limiter bounds the steps actually running.
                runner = self.runner = self.loop.create_task(
                    anyio.to_thread.run_sync(
                        _serve_stream, self.content, self.requests, self.loop, limiter=anyio.CapacityLimiter(1)
                    )
                )
                runner.add_done_callback(self._runner_ended)
            elif self.runner is None:  # the thread could not start, or is gone: nothing runs
                return None if closing else _Raised(RuntimeError("the stream's thread is gone"))
            future = self.pending = self.loop.create_future()
            self.close_asked = self.close_asked or closing
            self.requests.put((future, closing))
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                # A thread cannot be interrupted, and a generator a thread is running cannot be
                # closed: let the current step finish, then go. If the step raised (a client
                # left while it ran, and a `finally` failed), that error is the stream's end,
                # as it is for an async generator: dropped, nobody would ever hear of it.
                await asyncio.wait([future])
                result = future.result()
                if isinstance(result, _Raised) and not isinstance(result.error, asyncio.CancelledError):
                    result.reraise()
                raise
            finally:
                self.pending = None
        finally:
            limiter.release_on_behalf_of(self)

    def _runner_ended(self, runner: asyncio.Task[None]) -> None:
        # Normally after the close; earlier only if the thread could not start (a process out
        # of threads): the step waiting for it gets the error instead of waiting for ever.
        self.runner = None
        error = runner.exception() if not runner.cancelled() else asyncio.CancelledError()
        pending = self.pending
        if pending is not None and not pending.done():
            pending.set_result(_Raised(error or RuntimeError("the stream's thread ended")))

    async def close(self) -> None:
        content = self.content
        if (not self.started or self.runner is None) and (
            not isinstance(content, Iterator)
            or not hasattr(content, "close")
            or (inspect.isgenerator(content) and inspect.getgeneratorstate(content) == inspect.GEN_CREATED)
        ):
            # Nothing ran: an iterable that is not an iterator has opened nothing (its `iter()`
            # runs with the first step), and closing an unstarted generator runs none of its
            # code. No thread.
            _close_unstarted_iterator(content)
            return
        try:
            result = await self.step(closing=True)
        finally:
            if self.started and not self.close_asked:
                # Cancelled before the close was asked for (again, while it waited for a limiter
                # token: a server's shutdown cancels every task once more as it closes the
                # loop). The thread would wait for it for ever, and a process does not exit
                # while that thread lives: ask for it anyway, without a token and a reply.
                self.close_asked = True
                self.requests.put((None, True))
        if isinstance(result, _Raised):
            result.reraise()


def _close_unstarted_iterator(content: Iterable[BaseEvent[Any]]) -> None:
    if inspect.isgenerator(content):
        content.close()


async def _iterate_in_thread(content: Iterable[BaseEvent[Any]]) -> AsyncGenerator[BaseEvent[Any]]:
    """Iterate a sync iterable on its own thread (`iter()` too), one item per request, and close it there."""
    worker = _StreamThread(content)
    try:
        while True:
            item = await worker.step()
            if item is _EXHAUSTED:
                return
            if isinstance(item, _Raised):
                item.reraise()
            yield item
    finally:
        await worker.close()


async def _close_unstarted(content: EventSource) -> None:
    """Close a stream that never ran (a `HEAD`, a status without a body), running none of its code.

    An iterator object with a `close` (a database result, say) is closed too, on a thread as a
    running sync stream would be: its close may block.
    """
    if inspect.isasyncgen(content):
        await content.aclose()
    elif inspect.isgenerator(content):
        content.close()
    elif isinstance(content, Iterator) and callable(getattr(content, "close", None)):
        await _StreamThread(content).close()
    elif isinstance(content, AsyncIterator) and callable(getattr(content, "aclose", None)):
        await cast(Any, content).aclose()
