"""The floor: Starlette's `StreamingResponse` of hand-formatted bytes, one write per event.

The frames are the same bytes typedsse writes, made with the same Rust serializer, with no
validation of the event and no keep-alive or fairness machinery. A client leaving is noticed as
Starlette does it for uvicorn (which speaks ASGI 2.3): a task of the response's own watches
`receive()` and cancels the generator.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.responses import StreamingResponse

from bench.servers.common import (
    EVENT,
    IDLE,
    TICK,
    Reading,
    add_stats,
    forever,
    grid_start,
    merged_readings,
    reading,
    stamped,
    until,
)

FRAME = b"event: " + EVENT.encode() + b"\nid: %d\ndata: %s\n\n"
to_json = Reading.__pydantic_serializer__.to_json
_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}

app = FastAPI()
add_stats(app)


def _response(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(frames, media_type="text/event-stream", headers=_HEADERS)


@app.get("/stream")
async def stream(n: int = 1000) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        for i in range(n):
            yield FRAME % (i, to_json(reading(i)))

    return _response(frames())


@app.get("/idle")
async def idle() -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        with IDLE.track():
            await forever()
            yield b""  # never reached; makes this a generator

    return _response(frames())


@app.get("/tick")
async def tick(interval: float = 0.01, n: int | None = None, phase: float = 0.0) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        with TICK.track():
            start, i = grid_start(interval, phase), 0
            while n is None or i < n:
                due = start + (i + 1) * interval
                await until(due)
                yield FRAME % (i, to_json(stamped(i, due)))
                i += 1

    return _response(frames())


@app.get("/pipeline")
async def pipeline(n: int = 1000, interval: float = 0.005) -> StreamingResponse:
    async def frames() -> AsyncIterator[bytes]:
        async for payload in merged_readings(n, interval):
            yield FRAME % (payload.seq, to_json(payload))

    return _response(frames())
