"""The load generator: raw asyncio protocols that send one HTTP request and watch the bytes come back.

Nothing here parses SSE. `FrameCounter` counts blank lines (`\\n\\n`, the end of every frame)
across reads, which costs one `bytes.count` per read, so the client stays far below the
server's CPU use (every scenario reports both). Only `StampReader`, for the latency scenario,
looks inside frames, and only for the payload's `seq`, `value` (the server's send time) and
`at` (the time the event was due).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import socket
import struct
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

HOST = "127.0.0.1"

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
_STAMP = re.compile(rb'"seq":(\d+),"value":([-+0-9.eE]+),"label":"[^"]*","at":"([^"]+)"')

P = TypeVar("P", bound="Connection")


class BenchError(RuntimeError):
    """A measurement could not be made (the server misbehaved, or a wait timed out)."""


def request_bytes(path: str, port: int) -> bytes:
    """Return an HTTP/1.1 GET for `path` that asks the server to close the connection when done."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
    ).encode()


class Connection(asyncio.Protocol):
    """One streaming request: write it on connect, split off the response head, hand on the body."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.status = 0
        self.body_bytes = 0
        self._head = b""
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.status:
            head = self._head + data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self._head = head
                return
            self._head = b""
            self.status = int(head[9:12])
            data = head[end + 4 :]
            if not data:
                return
        self.body_bytes += len(data)
        self.received(data)

    def received(self, data: bytes) -> None:
        """Handle body bytes (chunked transfer framing included); subclasses count or parse."""

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def reset(self) -> None:
        """Vanish abruptly: close with SO_LINGER 0, so the server gets a TCP RST and no FIN."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        transport.abort()


class Sink(Connection):
    """Holds a connection open and ignores whatever arrives."""


class FrameCounter(Connection):
    """Counts frames (blank lines) and resolves `reached` once `target` frames have arrived."""

    def __init__(self, request: bytes, target: int = 1) -> None:
        super().__init__(request)
        self.frames = 0
        self.target = target
        self.reached_at = 0.0
        self._last_lf = False
        self.reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def received(self, data: bytes) -> None:
        frames = data.count(b"\n\n")
        if self._last_lf and data[:1] == b"\n":
            frames += 1  # a blank line split across two reads
        self._last_lf = data[-1:] == b"\n"
        self.frames += frames
        if self.frames >= self.target and not self.reached.done():
            self.reached_at = time.perf_counter()
            self.reached.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.reached.done():
            self.reached.set_result(None)


class StampReader(Connection):
    """Collects `(seq, receive - send stamp, receive - due time)` for every complete frame.

    All three times are `time.time()` on the same host: the receive time is taken when the read
    returns, the send stamp when the server's generator built the event, the due time is when
    the event was scheduled (so the second delay also counts the server's lateness in waking up).
    """

    def __init__(self, request: bytes) -> None:
        super().__init__(request)
        self.samples: list[tuple[int, float, float]] = []
        self._pending = b""

    def received(self, data: bytes) -> None:
        now = time.time()
        pending = self._pending + data
        end = pending.rfind(b"\n\n")
        if end < 0:
            self._pending = pending
            return
        self.samples.extend(
            (int(seq), now - float(sent), now - datetime.fromisoformat(due.decode()).timestamp())
            for seq, sent, due in _STAMP.findall(pending, 0, end)
        )
        self._pending = pending[end + 2 :]


async def connect(factory: Callable[[], P], port: int) -> P:
    """Open one connection to 127.0.0.1:`port` with protocol `factory()`."""
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(factory, HOST, port)
    return protocol


async def connect_many(factory: Callable[[int], P], port: int, count: int, *, batch: int = 100) -> list[P]:
    """Open `count` connections, `batch` at a time (so the listen backlog never overflows).

    `factory(k)` makes the protocol of the `k`-th connection. If any connection fails (or the
    wait is cancelled), every connection already open is reset before the error propagates:
    left open, they would keep streams alive in a server that later measurements read.
    """
    protocols: list[P] = []
    try:
        for start in range(0, count, batch):
            tasks = [
                asyncio.ensure_future(connect(functools.partial(factory, k), port))
                for k in range(start, min(start + batch, count))
            ]
            try:
                await asyncio.gather(*tasks)
            finally:
                # On failure the rest of the batch is still connecting: stop it, and keep every
                # connection that did open so that it is reset below.
                pending = [task for task in tasks if not task.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    await asyncio.wait(pending)
                protocols.extend(task.result() for task in tasks if not task.cancelled() and task.exception() is None)
    except BaseException:
        reset_all(protocols)
        raise
    return protocols


def reset_all(connections: Sequence[Connection]) -> None:
    """Reset every connection (see `Connection.reset`)."""
    for connection in connections:
        connection.reset()


async def wait_all(futures: Sequence[asyncio.Future[None]], within: float, what: str) -> None:
    """Wait for every future, or raise `BenchError` naming `what` after `within` seconds."""
    try:
        async with asyncio.timeout(within):
            await asyncio.gather(*futures)
    except TimeoutError:
        # The timeout cancelled the futures still pending: only those that completed count.
        done = sum(f.done() and not f.cancelled() for f in futures)
        raise BenchError(f"{what}: only {done} of {len(futures)} within {within:g} s") from None


async def get_json(port: int, path: str, *, within: float = 10.0) -> Any:
    """GET `path` from 127.0.0.1:`port` and decode its JSON body (a small, non-streaming response)."""
    async with asyncio.timeout(within):
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(request_bytes(path, port).replace(b"text/event-stream", b"application/json"))
            raw = await reader.read(-1)
        finally:
            writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        status_line = head.partition(b"\r\n")[0].decode(errors="replace")
        raise BenchError(f"GET {path}: {status_line or 'no response'}")
    return json.loads(body)
