"""What a stream promises, checked over real connections on each ASGI server users deploy with.

uvicorn, Hypercorn and Granian each serve tests/servers_app.py on 127.0.0.1, over HTTP/1.1 and,
where the server speaks it on a plain-text port, HTTP/2 with prior knowledge (h2c). One server
of each kind serves the whole module; the shutdown tests start their own. docs/endpoints.md
("Servers") says what differs between them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx
import pytest

from typedsse.encoding import KEEPALIVE, encode, retry_frame

from asgi_servers import (
    GRACEFUL,
    STOP_TIMEOUT,
    GranianServer,
    HypercornServer,
    Server,
    UvicornCommand,
    UvicornServer,
)
from conftest import installed_before
from servers_app import MARKS_ENV, STREAMS_WAIT, Seen, Tick, create_app, create_slow_dependency_app

pytestmark = pytest.mark.e2e

BOUND = 5.0
"""Seconds anything a test waits for may take: generous, so that a slow machine does not fail a test."""

FIRST = retry_frame(1500) + encode(Tick(data=0, id="0"))
"""What /blocked sends before it waits: its `retry:` line and its first event."""

HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "upgrade")
"""Headers HTTP/2 forbids; `transfer-encoding` is the HTTP/1.1 server's own framing."""


def start(kind: str, marks: Path) -> Server:
    """A server of `kind` serving the test app, its streams recording their cleanup under `marks`."""
    if kind == "uvicorn":
        return UvicornServer(create_app(marks))
    if kind == "uvicorn-standard":
        return UvicornServer(create_app(marks), standard=True)
    if kind == "hypercorn":
        return HypercornServer(create_app(marks))
    return GranianServer("servers_app:from_environment", env={MARKS_ENV: str(marks)})


@dataclass
class Target:
    """One server, and the protocol a test speaks to it."""

    server: Server
    protocol: str  # "h1" or "h2c"
    marks: Path

    @property
    def h2c(self) -> bool:
        return self.protocol == "h2c"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, timeout=BOUND, http1=not self.h2c, http2=self.h2c)

    def key(self, name: str) -> str:
        """A stream's key, unique among the tests that share this server."""
        return f"{name}-{self.protocol}"

    def record(self, key: str) -> list[str]:
        path = self.marks / key
        return path.read_text().split() if path.exists() else []

    def wait_for_record(self, key: str, expected: list[str], timeout: float = BOUND) -> list[str]:
        """The record of `key` once it is `expected`, or once it never can be (or `timeout` has passed)."""
        deadline = time.monotonic() + timeout
        while (record := self.record(key)) == expected[: len(record)] != expected and time.monotonic() < deadline:
            time.sleep(0.01)
        return record


TARGETS = [
    pytest.param(("uvicorn", "h1"), id="uvicorn"),
    pytest.param(("uvicorn-standard", "h1"), id="uvicorn-standard"),
    pytest.param(("hypercorn", "h1"), id="hypercorn"),
    pytest.param(("hypercorn", "h2c"), id="hypercorn-h2c"),
    pytest.param(("granian", "h1"), id="granian"),
    pytest.param(("granian", "h2c"), id="granian-h2c"),
]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], tuple[Server, Path]]]:
    """One running server of each kind for the module, started when a test first asks for it."""
    running: dict[str, tuple[Server, Path]] = {}
    with contextlib.ExitStack() as stack:

        def get(kind: str) -> tuple[Server, Path]:
            if kind not in running:
                marks = tmp_path_factory.mktemp(f"marks-{kind}")
                running[kind] = (stack.enter_context(start(kind, marks)), marks)
            return running[kind]

        yield get


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest, servers: Callable[[str], tuple[Server, Path]]) -> Target:
    kind, protocol = request.param
    server, marks = servers(kind)
    return Target(server, protocol, marks)


def raw_stream(port: int, request: str, *, until: bytes = b"data: 0\n\n") -> socket.socket:
    """A connection over a plain socket that has sent `request` (whole, or `GET path`) and read `until`.

    The caller owns the socket (a `with` closes it): kept open, the stream stays open.
    """
    if not request.endswith("\r\n\r\n"):
        request = f"{request} HTTP/1.1\r\nHost: x\r\n\r\n"
    sock = socket.create_connection(("127.0.0.1", port), timeout=BOUND)
    try:
        sock.sendall(request.encode())
        received = b""
        while until not in received:
            chunk = sock.recv(65536)
            assert chunk, f"the connection closed before {until!r} came: {received!r}"
            received += chunk
    except BaseException:
        sock.close()
        raise
    return sock


def read_until(chunks: Iterator[bytes], size: int) -> bytes:
    """Read from a stream until `size` bytes have come."""
    received = b""
    for chunk in chunks:
        received += chunk
        if len(received) >= size:
            break
    return received


class H2Client:
    """One HTTP/2 stream over a plain socket (h2c with prior knowledge), driven frame by frame.

    httpx cannot do what this test needs: end one stream with RST_STREAM while the connection
    stays open (what a browser does when a page closes an `EventSource`), or stop reading so
    that flow control stalls the server.
    """

    def __init__(self, port: int, path: str, *, read_buffer: int | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if read_buffer is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, read_buffer)
        self.sock.settimeout(BOUND)
        self.sock.connect(("127.0.0.1", port))
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.stream_id = self.conn.get_next_available_stream_id()
        headers = [(":method", "GET"), (":scheme", "http"), (":authority", f"127.0.0.1:{port}"), (":path", path)]
        self.conn.send_headers(self.stream_id, headers, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        self.status: str | None = None
        self.body = b""

    def read(self, size: int, *, acknowledge: bool = True) -> bytes:
        """Read until `size` bytes of body came; without `acknowledge`, give no flow-control credit back."""
        while len(self.body) < size:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            for event in self.conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    self.status = dict(event.headers)[b":status"].decode()
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == self.stream_id:
                    self.body += event.data
                    if acknowledge:
                        self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self.sock.sendall(self.conn.data_to_send())
        return self.body

    def cancel(self) -> None:
        """End the stream as a browser does when a page closes its `EventSource`; the connection stays."""
        self.conn.reset_stream(self.stream_id, h2.errors.ErrorCodes.CANCEL)
        self.sock.sendall(self.conn.data_to_send())

    def close(self) -> None:
        self.sock.close()


def test_events_arrive_as_they_are_yielded_with_the_promised_headers(target: Target) -> None:
    with target.client() as client, client.stream("GET", "/blocked", params={"key": target.key("prompt")}) as response:
        assert response.http_version == ("HTTP/2" if target.h2c else "HTTP/1.1")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert "content-length" not in response.headers
        assert not [name for name in HOP_BY_HOP if name in response.headers]
        if target.h2c:
            assert "transfer-encoding" not in response.headers
        # Kept while the test runs: an iterator that is let go of closes the response, and the connection.
        chunks = response.iter_raw()
        # The generator is blocked in its wait after the first event: the event is out all the same.
        assert read_until(chunks, len(FIRST)) == FIRST
        time.sleep(0.2)  # and a server that took the open connection for a gone client would have said so by now
        assert target.record(target.key("prompt")) == []


def test_a_keepalive_comment_follows_ping_seconds_of_silence(target: Target) -> None:
    with target.client() as client, client.stream("GET", "/quiet") as response:
        chunks = response.iter_raw()
        first = encode(Tick(data=0))
        assert read_until(chunks, len(first)) == first
        started = time.monotonic()
        assert read_until(chunks, len(KEEPALIVE)) == KEEPALIVE
        assert 0.25 <= time.monotonic() - started <= BOUND  # ping=0.5


def test_last_event_id_resumes_after_the_last_event_seen(target: Target) -> None:
    with target.client() as client:
        response = client.get("/resume", headers={"Last-Event-ID": "5"})
        head = client.head("/resume")
    assert response.status_code == 200
    assert response.content == b"".join(encode(Tick(data=n, id=str(n))) for n in (6, 7, 8))
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert head.content == b""


@pytest.mark.parametrize(
    "event_id",
    ["a\tb", "caf\u00e9 \u20ac\u00b73", "\u00a0edge\u00a0", "ns:42", "\U0001f600"],
    ids=["inner-tab", "non-ascii", "nbsp-at-the-ends", "colon", "astral"],
)
def test_every_id_an_event_takes_comes_back_in_last_event_id(target: Target, event_id: str) -> None:
    # A browser sends the id back UTF-8 encoded; it must reach the endpoint as it was sent, or the
    # stream resumes from an id it never sent (ids that cannot are refused when the event is made).
    with target.client() as client:
        response = client.get("/seen", headers={"Last-Event-ID": event_id.encode()})
    assert response.status_code == 200
    assert response.content == encode(Seen(data=event_id, id=event_id))


@pytest.mark.parametrize("kind", ["uvicorn", "uvicorn-standard", "hypercorn", "granian"])
def test_a_client_leaving_with_a_pipelined_request_waiting_ends_the_stream_quietly(
    servers: Callable[[str], tuple[Server, Path]], kind: str
) -> None:
    # uvicorn on httptools, Hypercorn and Granian tell only the waiting request that the client
    # left, so the stream learns it at a write (here a keep-alive every 0.3 s). On uvloop that
    # write raised uvloop's RuntimeError (the transport had closed; uvicorn had not heard yet):
    # a stream failure, logged as an error.
    server, marks = servers(kind)
    target = Target(server, "h1", marks)
    key = target.key(f"pipelined-{kind}")
    pipelined = f"GET /pinging?key={key} HTTP/1.1\r\nHost: x\r\n\r\nGET /quiet HTTP/1.1\r\nHost: x\r\n\r\n"
    raw_stream(server.port, pipelined).close()  # the client leaves once the first event has come
    assert target.wait_for_record(key, ["finally", "returned"]) == ["finally", "returned"]


@pytest.mark.parametrize("kind", ["uvicorn", "uvicorn-standard"])
def test_shutdown_during_a_sync_step_closes_the_generator_on_its_own_thread(kind: str, tmp_path: Path) -> None:
    # The step outlasts uvicorn's deadline and the lifespan's wait: the loop closes while it runs.
    # Once it is done, the generator is closed on its own thread (a sqlite3 connection in its
    # `finally` works); it was left to the garbage collector, on another thread.
    key = "sync-busy"
    with start(kind, tmp_path) as server:
        target = Target(server, "h1", tmp_path)
        with raw_stream(server.port, f"GET /sync-busy?key={key}"):
            assert server.stop(), f"{kind} did not stop within {STOP_TIMEOUT} s"
        deadline = time.monotonic() + 10
        while not [step for step in target.record(key) if step.startswith("finally")] and time.monotonic() < deadline:
            time.sleep(0.05)
        # The request itself ended cancelled, at the shutdown (recorded as `raised:CancelledError`).
        assert [step for step in target.record(key) if step.startswith("finally")] == ["finally:own-thread"]


LEFT = ["finally", "dependency", "returned"]
"""A stream whose client left: its `finally`, then its dependency's cleanup, then the response returns."""

DROPPED = ["finally", "returned"]
"""A stream dropped by `send_timeout` before its end."""


def test_a_client_leaving_ends_the_generator_then_its_dependency(target: Target) -> None:
    key = target.key("leaving")
    if target.h2c:
        client = H2Client(target.server.port, f"/blocked?key={key}")
        try:
            assert client.read(len(FIRST)) == FIRST
            assert client.status == "200"
            client.cancel()  # the connection stays open: only the stream ends
            assert target.wait_for_record(key, LEFT) == LEFT
        finally:
            client.close()
        return
    with target.client() as http, http.stream("GET", "/blocked", params={"key": key}) as response:
        assert read_until(response.iter_raw(), len(FIRST)) == FIRST
    assert target.wait_for_record(key, LEFT) == LEFT


def test_a_client_leaving_before_the_first_event_is_no_application_error(target: Target) -> None:
    key = target.key("early")
    if target.h2c:
        client = H2Client(target.server.port, f"/late?key={key}")
        try:
            assert target.wait_for_record(key, ["started"]) == ["started"]
            client.cancel()
        finally:
            client.close()
    else:
        with socket.create_connection(("127.0.0.1", target.server.port), timeout=BOUND) as sock:
            sock.sendall(f"GET /late?key={key} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            assert target.wait_for_record(key, ["started"]) == ["started"]
    # The generator is cancelled in its wait, and the response still returns normally.
    expected = ["started", "finally", "returned"]
    assert target.wait_for_record(key, expected) == expected


HYPERCORN_H2_BUFFERS = (
    "Hypercorn's HTTP/2 send never waits for the client's flow-control window: with no credit "
    "left, StreamBuffer.pop(0) returns nothing and un-pauses the writer, so the stream's buffer "
    "grows without bound and no write is ever slow"
)


def test_send_timeout_drops_a_client_that_stopped_reading(target: Target, request: pytest.FixtureRequest) -> None:
    key = target.key("stalled")
    if target.h2c:
        if isinstance(target.server, HypercornServer):
            request.applymarker(pytest.mark.xfail(strict=True, reason=HYPERCORN_H2_BUFFERS))
        # Flow control: once the client stops giving credit, the server may send nothing more.
        client = H2Client(target.server.port, f"/big?key={key}")
        try:
            client.read(1, acknowledge=False)
            assert client.status == "200"
            # Dropped after a write waited 0.5 s, long before the 32 MiB the stream would send.
            assert target.wait_for_record(key, DROPPED, timeout=20) == DROPPED
        finally:
            client.close()
        return
    with socket.create_connection(("127.0.0.1", target.server.port), timeout=BOUND) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /big?key={key} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
        # Read nothing more: the buffers fill, a write stalls, and `send_timeout` (0.5 s) ends the stream.
        assert target.wait_for_record(key, DROPPED, timeout=20) == DROPPED


GRANIAN_SHUTDOWN = (
    "Granian never ends an open request at shutdown: the app gets no http.disconnect and no "
    "cancellation, and the worker waits for the stream to end by itself; --workers-kill-timeout "
    "then kills the worker process, so no finally runs"
)


@pytest.mark.parametrize("kind", ["uvicorn", "uvicorn-standard"])
def test_shutdown_with_a_cleanup_that_never_ends_stops_once_the_lifespans_wait_is_over(
    kind: str, tmp_path: Path
) -> None:
    # The lifespan waits for the streams (`wait_for_streams`) for STREAMS_WAIT seconds at most;
    # then uvicorn returns, and the loop's closing cancels the cleanup that would never end.
    key = "stuck"
    with start(kind, tmp_path) as server:
        target = Target(server, "h1", tmp_path)
        with target.client() as client, client.stream("GET", "/stuck", params={"key": key}) as response:
            first = encode(Tick(data=0, id="0"))
            chunks = response.iter_raw()  # kept: a reader dropped here would close the connection
            assert read_until(chunks, len(first)) == first
            began = time.monotonic()
            assert server.stop(), f"{kind} did not stop within {STOP_TIMEOUT} s"
            took = time.monotonic() - began
        assert GRACEFUL + STREAMS_WAIT - 0.5 < took < GRACEFUL + STREAMS_WAIT + 3
        assert target.wait_for_record(key, ["interrupted", "raised:CancelledError"]) == [
            "interrupted",
            "raised:CancelledError",
        ]


@pytest.mark.parametrize(
    "kind",
    [
        "uvicorn",
        "uvicorn-standard",
        "hypercorn",
        pytest.param("granian", marks=pytest.mark.xfail(strict=True, reason=GRANIAN_SHUTDOWN)),
    ],
)
def test_shutdown_with_a_stream_open_runs_its_finally_and_stops_in_time(kind: str, tmp_path: Path) -> None:
    key = "shutdown"
    with start(kind, tmp_path) as server:
        target = Target(server, "h1", tmp_path)
        with target.client() as client, client.stream("GET", "/blocked", params={"key": key}) as response:
            chunks = response.iter_raw()
            assert read_until(chunks, len(FIRST)) == FIRST
            began = time.monotonic()
            assert server.stop(), f"{kind} did not stop within {STOP_TIMEOUT} s"
            assert time.monotonic() - began < GRACEFUL + 3
            with pytest.raises(httpx.RemoteProtocolError):  # the stream is cut, not ended
                b"".join(chunks)
        # The request ends cancelled, as the server asked, once the stream's cleanup (which
        # awaits) is done; a dependency's code after `yield` runs in its `finally`, after the
        # stream's. The app's lifespan waits for both (`wait_for_streams`): uvicorn returns
        # right after it, and the loop's closing would cancel a cleanup still awaiting.
        # (FastAPI before 0.163 leaves a sync dependency to be closed when it is collected,
        # which may come after the request has ended.)
        expected = ["finally", "dependency", "raised:CancelledError"]
        deadline = time.monotonic() + 1
        while len(record := target.record(key)) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert record[:1] == ["finally"]
        assert sorted(record) == sorted(expected)
        if not installed_before("fastapi", "0.163"):
            assert record == expected


@pytest.mark.parametrize("standard", [False, True], ids=["asyncio", "uvloop"])
def test_the_lifespans_wait_covers_a_dependency_cleanup_that_runs_after_the_response(
    standard: bool, tmp_path: Path
) -> None:
    # uvicorn cancels the open request at its deadline and runs the lifespan's shutdown, which
    # closes something else before it waits for the streams: by then the response has returned,
    # and the dependency's cleanup runs after it in the request's task. The wait returned at
    # once, since the request counted as ended with its response, and the loop's closing then
    # interrupted the cleanup.
    key = "slow-dependency"
    with UvicornServer(create_slow_dependency_app(tmp_path), standard=standard) as server:
        target = Target(server, "h1", tmp_path)
        with raw_stream(server.port, f"GET /feed?key={key}"):
            assert server.stop(), f"uvicorn did not stop within {STOP_TIMEOUT} s"
    assert target.record(key) == ["cleanup", "cleaned-up"]


@pytest.mark.parametrize("kind", ["uvicorn", "uvicorn-standard", "hypercorn"])
def test_a_cleanup_failing_at_shutdown_is_logged(kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # The server cancels the open request at its deadline and the stream's `finally` fails: no
    # event can carry the failure, and the request ends cancelled, not with the error. It was
    # logged when the client had left first, and lost without a word at a shutdown.
    key = "cleanup-fails"
    with caplog.at_level(logging.ERROR, logger="typedsse"), start(kind, tmp_path) as server:
        target = Target(server, "h1", tmp_path)
        with target.client() as client, client.stream("GET", "/cleanup-fails", params={"key": key}) as response:
            chunks = response.iter_raw()  # held: the client stays connected
            first = encode(Tick(data=0, id="0"))
            assert read_until(chunks, len(first)) == first
            assert server.stop(), f"{kind} did not stop within {STOP_TIMEOUT} s"
            with pytest.raises(httpx.RemoteProtocolError):  # the stream is cut, not ended
                b"".join(chunks)
    assert target.record(key) == ["finally", "raised:CancelledError"]
    [record] = [record for record in caplog.records if record.name == "typedsse"]
    assert record.getMessage().endswith(
        "cleanup_fails: the stream failed after its response ended; no error event was sent"
    )
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == f"{key}: the cleanup failed"


@pytest.mark.parametrize("standard", [False, True], ids=["asyncio", "uvloop"])
def test_sigterm_runs_every_open_streams_cleanup_through_the_lifespans_wait(standard: bool, tmp_path: Path) -> None:
    # What `docker stop` and Kubernetes do: SIGTERM to uvicorn run as a command. uvicorn shuts
    # down, cancels the open requests after its graceful timeout, runs the lifespan's shutdown
    # (which waits for the streams), then raises the signal again: the process ends by SIGTERM,
    # before the loop's closing. An async stream's cleanup and its dependency's have run by
    # then; a sync stream whose step was running is closed on its own thread once the step is
    # done (the request's cancellation waits for it), within the lifespan's wait.
    with UvicornCommand("servers_app:from_environment", env={MARKS_ENV: str(tmp_path)}, standard=standard) as server:
        target = Target(server, "h1", tmp_path)
        with contextlib.ExitStack() as streams:
            for path, key in (("/blocked", "async"), ("/sync-step", "sync")):
                streams.enter_context(raw_stream(server.port, f"GET {path}?key={key}"))
            assert server.stop(), f"uvicorn did not stop within {STOP_TIMEOUT} s"
        assert server.returncode == -signal.SIGTERM
    assert sorted(target.record("async")) == sorted(["finally", "dependency", "raised:CancelledError"])
    assert target.record("async")[0] == "finally"
    assert target.record("sync") == ["stepped", "finally:own-thread", "raised:CancelledError"]
