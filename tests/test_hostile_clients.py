"""Streams on a real uvicorn server facing clients that misbehave: resets, stalls, odd headers."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable

import pytest
from fastapi import FastAPI

from typedsse import BaseEvent, sse

from conftest import LiveServer


class Blob(BaseEvent[str], encoding="text"): ...


def reset(sock: socket.socket) -> None:
    """Close `sock` with a TCP reset (RST) rather than an orderly FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_client_resetting_during_a_large_event_stops_its_slices_at_once(
    live_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    # A large event goes out in 64 KiB slices. A client that reset the connection while they went
    # out made the first write after the reset fail; asyncio only tells the server at the next
    # loop turn, and the slices after it, which did not wait, all went to the dead transport in
    # that one turn: a copy of each, and asyncio's "socket.send() raised exception." logged for
    # every one past the fifth (hundreds per client for an 8 MB event).
    app = FastAPI()
    closed = threading.Semaphore(0)

    @app.get("/blob")
    @sse()
    async def blob() -> AsyncIterator[Blob]:
        try:
            yield Blob(data="x" * 8_000_000)
            await asyncio.sleep(3600)
        finally:
            closed.release()

    server = live_server(app)
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        for _ in range(5):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /blob HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = 0
            while received < 1_000_000:  # well into the event, reading as fast as it comes
                chunk = sock.recv(1 << 20)
                assert chunk
                received += len(chunk)
            reset(sock)
            assert closed.acquire(timeout=10)
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
