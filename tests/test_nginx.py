"""Streams behind a real nginx: the configuration docs/endpoints.md shows, over HTTP/1.1 and HTTP/2.

nginx runs in the foreground from a temporary folder (its config, logs, temp files and pid), on
free ports of 127.0.0.1, in front of one uvicorn server. Its `location` block is read from the
"Behind nginx" section of the docs, so the tests prove what the docs say, with only the upstream
port and, where a test needs a short one, `proxy_read_timeout` changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import trustme
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from typedsse import BaseEvent, Decoder, LastEventId, sse
from typedsse.decoding import ServerSentMessage

from conftest import IN_CI, LiveServer

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent.parent
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
HOP_BY_HOP = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer")
SERVERS = ("plain", "short", "h2", "http10")
SHORT_READ_TIMEOUT = 2  # seconds: nginx's proxy_read_timeout on the "short" server
SILENCE = 3.5  # seconds a quiet stream sends no event: longer than SHORT_READ_TIMEOUT


class Note(BaseEvent[str]): ...


class Numbered(BaseEvent[int]): ...


class Gate:
    """A switch a stream waits for on the server's loop, and the test opens from its own thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.opened = False
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def open(self) -> None:
        with self.lock:
            self.opened = True
            waiters, self.waiters = self.waiters, []
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # the server has stopped: nobody waits any more
                loop.call_soon_threadsafe(event.set)

    async def wait(self) -> None:
        event = asyncio.Event()
        with self.lock:
            if self.opened:
                return
            self.waiters.append((asyncio.get_running_loop(), event))
        await event.wait()


# Per-test switches, keyed by a name unique to each test: `gates` hold a stream until the test
# opens them, one after the other; `closed` tells the test that a stream's `finally` ran.
gates: dict[str, tuple[Gate, Gate]] = {}
closed: dict[str, threading.Event] = {}
resumed_from: list[str | None] = []
# The headers each stream of a room handed the server, by request path.
started_with: dict[str, list[tuple[bytes, bytes]]] = {}


class RecordStarts:
    """ASGI middleware: keeps the headers of every `http.response.start` in `started_with`."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                started_with[scope["path"]] = list(message["headers"])
            await send(message)

        await self.app(scope, receive, recording)


async def held_notes(key: str) -> AsyncIterator[Note]:
    """Three notes, the second and third each held until the test opens the key's next gate."""
    first, second = gates[key]
    yield Note(data="first")
    await first.wait()
    yield Note(data="second")
    await second.wait()
    yield Note(data="third")


def make_app() -> RecordStarts:
    app = FastAPI()

    @app.get("/api/hold/{key}")
    @sse()
    async def hold(key: str) -> AsyncIterator[Note]:
        async for note in held_notes(key):
            yield note

    @app.get("/api/hold-buffered/{key}")
    @sse(headers={"X-Accel-Buffering": "yes"})
    async def hold_buffered(key: str) -> AsyncIterator[Note]:
        async for note in held_notes(key):
            yield note

    @app.get("/api/hold-plain/{key}")
    async def hold_plain(key: str) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            first, second = gates[key]
            yield b'event: note\ndata: "first"\n\n'
            await first.wait()
            yield b'event: note\ndata: "second"\n\n'
            await second.wait()
            yield b'event: note\ndata: "third"\n\n'

        return StreamingResponse(body(), media_type="text/event-stream", headers={"cache-control": "no-cache"})

    @app.get("/api/idle/{key}")
    @sse()
    async def idle(key: str) -> AsyncIterator[Note]:
        try:
            yield Note(data="first")
            await asyncio.sleep(3600)
        finally:
            closed[key].set()

    @app.get("/api/quiet-ping")
    @sse(ping=0.5)
    async def quiet_ping() -> AsyncIterator[Note]:
        yield Note(data="first")
        await asyncio.sleep(SILENCE)
        yield Note(data="second")

    @app.get("/api/quiet")
    @sse(ping=None)
    async def quiet() -> AsyncIterator[Note]:
        yield Note(data="first")
        await asyncio.sleep(SILENCE)
        yield Note(data="second")

    @app.get("/api/feed")
    @sse(retry=100)
    async def feed(last_event_id: LastEventId = None) -> AsyncIterator[Numbered]:
        resumed_from.append(last_event_id)
        n = int(last_event_id) if last_event_id else 0
        while True:
            n += 1
            yield Numbered(data=n, id=str(n))
            await asyncio.sleep(0.02)

    # A short ping: httpx's HTTP/2 client (httpcore) reads the connection for one stream at a
    # time, and a stream whose event another stream's read took in may wait for the connection's
    # next frame. Pings keep frames coming, so such a wait lasts a fraction of a second.
    @app.get("/api/room/{key}/{member}")
    @sse(ping=0.25)
    async def room(key: str, member: int) -> AsyncIterator[Note]:
        yield Note(data=f"hello {member}")
        await gates[key][0].wait()
        yield Note(data=f"bye {member}")

    @app.get("/api/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<!doctype html><title>streams</title>"

    return RecordStarts(app)


def docs_location(upstream_port: int, read_timeout: str) -> str:
    """The `location` block of docs/endpoints.md ("Behind nginx"), pointed at `upstream_port`."""
    text = (ROOT / "docs" / "endpoints.md").read_text()
    section = text.split("## Behind nginx", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```nginx\n(.*?)```", section, re.DOTALL)
    assert match, "docs/endpoints.md: no nginx block under 'Behind nginx'"
    block = match.group(1)
    for old, new in [
        ("proxy_pass http://127.0.0.1:8000;", f"proxy_pass http://127.0.0.1:{upstream_port};"),
        ("proxy_read_timeout 1h;", f"proxy_read_timeout {read_timeout};"),
    ]:
        assert block.count(old) == 1, f"docs/endpoints.md's nginx block no longer has `{old}`"
        block = block.replace(old, new)
    return block


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Nginx:
    """nginx in the foreground, one process, everything it writes under `folder`.

    Four servers in front of the same upstream, each with the docs' `location` block: `plain`
    (as the docs show it), `short` (a read timeout of `SHORT_READ_TIMEOUT` seconds), `http10`
    (without the two lines that make nginx talk HTTP/1.1 to the upstream, so at nginx's default,
    HTTP/1.0) and `h2` (HTTP/2 over TLS, with a certificate of `ca`).
    """

    def __init__(self, executable: str, folder: Path, upstream_port: int, ca: trustme.CA) -> None:
        self.executable = executable
        self.folder = folder
        self.upstream_port = upstream_port
        self.error_log = folder / "error.log"
        self.stderr = folder / "stderr.log"
        self.access_log = folder / "access.log"
        cert = ca.issue_cert("127.0.0.1")
        cert.cert_chain_pems[0].write_to_path(str(folder / "server.pem"))
        for blob in cert.cert_chain_pems[1:]:
            blob.write_to_path(str(folder / "server.pem"), append=True)
        cert.private_key_pem.write_to_path(str(folder / "server.key"))
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}

    def url(self, server: str) -> str:
        scheme = "https" if server == "h2" else "http"
        return f"{scheme}://127.0.0.1:{self.ports[server]}"

    def config(self) -> str:
        folder = self.folder
        temp_paths = "\n".join(
            f"    {kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        plain, short, h2, http10 = (self.ports[name] for name in SERVERS)
        docs = docs_location(self.upstream_port, "1h")
        brief = docs_location(self.upstream_port, f"{SHORT_READ_TIMEOUT}s")
        # nginx's defaults for the upstream: HTTP/1.0, `Connection: close`.
        default_version = docs.replace("    proxy_http_version 1.1;\n", "").replace(
            '    proxy_set_header Connection "";\n', ""
        )
        assert default_version.count("proxy_") == docs.count("proxy_") - 2
        return f"""
daemon off;
master_process off;
worker_processes 1;
pid {folder / "nginx.pid"};
error_log {self.error_log} info;
events {{
    worker_connections 256;
}}
http {{
{temp_paths}
    log_format streams '$server_port $connection $server_protocol $status $request_uri';
    access_log {self.access_log} streams;
    server {{
        listen 127.0.0.1:{plain};
{docs}
    }}
    server {{
        listen 127.0.0.1:{short};
{brief}
    }}
    server {{
        listen 127.0.0.1:{http10};
{default_version}
    }}
    server {{
        listen 127.0.0.1:{h2} ssl http2;
        ssl_certificate {folder / "server.pem"};
        ssl_certificate_key {folder / "server.key"};
{docs}
    }}
}}
"""

    def __enter__(self) -> Nginx:
        for _ in range(3):  # a free port may be taken between finding it and nginx binding it
            self.ports = dict(zip(SERVERS, free_ports(len(SERVERS)), strict=True))
            conf = self.folder / "nginx.conf"
            conf.write_text(self.config())
            command = [self.executable, "-p", str(self.folder), "-c", str(conf), "-e", str(self.error_log)]
            with self.stderr.open("wb") as stderr:  # what nginx says before it opens its error log
                self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            if self._wait_until_listening():
                return self
            self.__exit__()
            if "Address already in use" not in self.startup_messages():
                break
        raise RuntimeError(f"nginx did not start:\n{self.startup_messages()}")

    def startup_messages(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in (self.stderr, self.error_log) if path.exists())

    def _wait_until_listening(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + 10
        pending = set(self.ports.values())
        while pending and time.monotonic() < deadline and self.process.poll() is None:
            for port in list(pending):
                with socket.socket() as sock:
                    if sock.connect_ex(("127.0.0.1", port)) == 0:
                        pending.discard(port)
            time.sleep(0.02)
        return not pending and self.process.poll() is None

    def __exit__(self, *exc_info: object) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # SIGTERM: a fast shutdown, open streams included
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def access_lines(self, fragment: str, count: int) -> list[list[str]]:
        """The access log lines of requests whose URI contains `fragment`, once there are `count`."""
        deadline = time.monotonic() + 10
        while True:
            lines = [line.split() for line in self.access_log.read_text().splitlines() if fragment in line]
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)


def _require_nginx() -> str:
    if NGINX is not None:
        return NGINX
    reason = "Debian's nginx is not installed"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the nginx tests must run; `make test` installs nginx)")
    pytest.skip(f"SKIPPED LOUDLY: {reason}; run `make test` as root to install it")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory, ca: trustme.CA) -> Iterator[Nginx]:
    executable = _require_nginx()
    with (
        LiveServer(make_app()) as upstream,
        Nginx(executable, tmp_path_factory.mktemp("nginx"), upstream.port, ca) as proxy,
    ):
        yield proxy


@pytest.fixture
def key() -> Iterator[str]:
    """A name unique to the test, with its gates and closed flag; the gates are opened at the end."""
    name = uuid.uuid4().hex
    gates[name] = (Gate(), Gate())
    closed[name] = threading.Event()
    try:
        yield name
    finally:
        for gate in gates.pop(name):
            gate.open()  # a stream the test left waiting ends
        closed.pop(name)


class Listener(threading.Thread):
    """Reads one stream in a thread and hands over each message as soon as it is decoded."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.headers = headers or {}
        self.messages: queue.Queue[ServerSentMessage] = queue.Queue()
        self.ended = threading.Event()
        self.error: Exception | None = None
        self.response_headers: httpx.Headers | None = None
        self.start()

    def run(self) -> None:
        decoder = Decoder()
        try:
            with httpx.stream("GET", self.url, headers=self.headers, timeout=30) as response:
                self.response_headers = response.headers
                for chunk in response.iter_raw():
                    for message in decoder.feed(chunk):
                        self.messages.put(message)
        except Exception as exc:
            self.error = exc
        finally:
            self.ended.set()

    def next(self, timeout: float = 10) -> Any:
        """The next message's data, decoded from JSON."""
        return self.messages.get(timeout=timeout).json()

    def drain(self, quiet: float) -> list[Any]:
        """The data of the messages that arrive until none has for `quiet` seconds."""
        received: list[Any] = []
        with contextlib.suppress(queue.Empty):
            while True:
                received.append(self.next(timeout=quiet))
        return received

    def finish(self, timeout: float = 10) -> None:
        assert self.ended.wait(timeout), f"{self.url}: the stream did not end"
        self.join(timeout)


@pytest.mark.parametrize("server", ["plain", "http10"])
def test_events_pass_through_nginx_one_at_a_time(nginx: Nginx, key: str, server: str) -> None:
    # `plain` is the docs' configuration; `http10` leaves nginx's upstream protocol at its
    # default, HTTP/1.0, where only `x-accel-buffering: no` keeps nginx from buffering.
    first, second = gates[key]
    listener = Listener(f"{nginx.url(server)}/api/hold/{key}")
    assert listener.next() == "first"
    # "second" is a write of its own, long after the headers; the stream then waits again, so
    # nothing but nginx passing it on as it comes can deliver it before the stream ends.
    first.open()
    assert listener.next() == "second"
    assert not second.opened
    second.open()
    assert listener.next() == "third"
    listener.finish()
    assert listener.error is None
    # nginx consumes `x-accel-buffering` (it is meant for nginx) and does not pass it on.
    assert listener.response_headers is not None
    assert "x-accel-buffering" not in listener.response_headers


@pytest.mark.parametrize("path", ["hold-buffered", "hold-plain"])
def test_control_nginx_holds_back_a_stream_that_allows_buffering(nginx: Nginx, key: str, path: str) -> None:
    # The same stream with `x-accel-buffering: yes`, or a plain StreamingResponse without the
    # header, over nginx's default HTTP/1.0 to the upstream: nginx keeps the second event in its
    # buffer while the stream waits. (The first one may arrive: nginx reads it with the headers,
    # which it sends at once.) The upstream runs uvicorn on h11, which answers an HTTP/1.0
    # request with a body that ends at the close; on httptools it answers chunked, and nginx
    # passes the chunks on as they come, buffering or not.
    first, second = gates[key]
    listener = Listener(f"{nginx.url('http10')}/api/{path}/{key}")
    time.sleep(0.5)  # the stream has started and sent its first event
    first.open()
    held = listener.drain(quiet=1.5)
    assert held in ([], ["first"])  # no "second", 1.5 s after it was written
    second.open()  # the stream ends, and nginx sends what it held
    received = [*held, *(listener.next() for _ in range(3 - len(held)))]
    assert received == ["first", "second", "third"]
    listener.finish()
    assert listener.error is None


def test_a_client_leaving_through_nginx_ends_the_generator(nginx: Nginx, key: str) -> None:
    with httpx.stream("GET", f"{nginx.url('plain')}/api/idle/{key}", timeout=10) as response:
        decoder = Decoder()
        messages: list[ServerSentMessage] = []
        for chunk in response.iter_raw():
            messages.extend(decoder.feed(chunk))
            if messages:
                break
    assert [message.json() for message in messages] == ["first"]
    assert closed[key].wait(timeout=5), "the generator's finally did not run within 5 s of the client leaving"


def test_ping_keeps_a_silent_stream_open_past_nginx_read_timeout(nginx: Nginx) -> None:
    started = time.monotonic()
    listener = Listener(f"{nginx.url('short')}/api/quiet-ping")
    assert listener.next() == "first"
    assert listener.next(timeout=SILENCE + 10) == "second"
    assert time.monotonic() - started > SHORT_READ_TIMEOUT  # the silence outlasted nginx's timeout
    listener.finish()
    assert listener.error is None
    assert "/api/quiet-ping" not in nginx.error_log.read_text()  # nginx never gave up on it


def test_control_nginx_cuts_off_a_silent_stream_without_ping(nginx: Nginx) -> None:
    started = time.monotonic()
    listener = Listener(f"{nginx.url('short')}/api/quiet")
    assert listener.next() == "first"
    listener.finish(timeout=SHORT_READ_TIMEOUT + 10)
    assert time.monotonic() - started < SILENCE  # cut off before the second event was due
    assert listener.messages.empty()
    timeouts = [line for line in nginx.error_log.read_text().splitlines() if "upstream timed out" in line]
    assert [line for line in timeouts if '"GET /api/quiet HTTP/1.1"' in line], timeouts


def test_last_event_id_reaches_the_endpoint_through_nginx_and_resumes(nginx: Nginx) -> None:
    resumed_from.clear()
    url = f"{nginx.url('plain')}/api/feed"

    def read(count: int, headers: dict[str, str]) -> list[ServerSentMessage]:
        decoder = Decoder()
        received: list[ServerSentMessage] = []
        with httpx.stream("GET", url, headers=headers, timeout=10) as response:
            for chunk in response.iter_raw():
                received.extend(decoder.feed(chunk))
                if len(received) >= count:
                    break
        return received[:count]

    first = read(3, {})
    assert [message.id for message in first] == ["1", "2", "3"]
    again = read(2, {"Last-Event-ID": first[-1].id})
    assert [(message.id, message.data) for message in again] == [("4", "4"), ("5", "5")]
    assert resumed_from == [None, "3"]


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.mark.anyio
async def test_http2_carries_many_streams_on_one_connection(nginx: Nginx, ca: trustme.CA, key: str) -> None:
    members = 10  # more than the 6 connections per host browsers allow over HTTP/1.1
    hellos: list[str] = []
    byes: list[str] = []
    responses: list[httpx.Response] = []
    all_in = anyio.Event()

    async def member(client: httpx.AsyncClient, n: int) -> None:
        decoder = Decoder()
        async with client.stream("GET", f"/api/room/{key}/{n}") as response:
            responses.append(response)
            async for chunk in response.aiter_raw():
                for message in decoder.feed(chunk):
                    data = message.json()
                    (hellos if data.startswith("hello") else byes).append(data)
                    if len(hellos) == members:
                        all_in.set()

    # One connection at most: over HTTP/1.1 the second stream would wait for the first to end.
    limits = httpx.Limits(max_connections=1)
    async with httpx.AsyncClient(
        base_url=nginx.url("h2"), http2=True, verify=client_context(ca), limits=limits, timeout=30
    ) as client:
        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                for n in range(members):
                    group.start_soon(member, client, n)
                await all_in.wait()  # every stream is open and has its first event, at once
                gates[key][0].open()
    assert sorted(hellos) == sorted(f"hello {n}" for n in range(members))
    assert sorted(byes) == sorted(f"bye {n}" for n in range(members))
    for response in responses:
        assert response.http_version == "HTTP/2"
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert [name for name in HOP_BY_HOP if name in response.headers] == []
    # What typedsse handed uvicorn, before any server or proxy had a say: no hop-by-hop header.
    for n in range(members):
        names = {name.decode().lower() for name, _ in started_with[f"/api/room/{key}/{n}"]}
        assert "content-type" in names
        assert names.isdisjoint(HOP_BY_HOP), names
    logged = nginx.access_lines(f"/api/room/{key}/", members)
    assert len(logged) == members
    assert {(line[1], line[2]) for line in logged} == {(logged[0][1], "HTTP/2.0")}  # one connection


def test_chromium_opens_more_than_six_event_sources_over_http2(nginx: Nginx, chromium: Any, key: str) -> None:
    # Put last in the module: the Playwright fixture keeps an event loop in the main thread.
    members = 8
    script = """([key, members, patience]) => new Promise((resolve) => {
        const seen = new Set();
        for (let n = 0; n < members; n++) {
            const source = new EventSource(`/api/room/${key}/${n}`);
            source.addEventListener("note", (event) => {
                seen.add(JSON.parse(event.data));
                if (seen.size === members) resolve(seen.size);
            });
        }
        setTimeout(() => resolve(seen.size), patience);
    })"""
    context = chromium.new_context(ignore_https_errors=True)
    gates[f"{key}-h1"] = gates[key]
    try:
        page = context.new_page()
        page.goto(f"{nginx.url('h2')}/api/page")
        assert page.evaluate(script, [key, members, 10_000]) == members
        # Control: the same page over HTTP/1.1 gets no more than six streams from one host.
        page.goto(f"{nginx.url('plain')}/api/page")
        assert page.evaluate(script, [f"{key}-h1", members, 3_000]) == 6
    finally:
        context.close()
        del gates[f"{key}-h1"]
