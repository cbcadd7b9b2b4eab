"""FastAPI's native SSE: `response_class=EventSourceResponse` and `ServerSentEvent` items."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent

from bench.servers.common import (
    EVENT,
    IDLE,
    TICK,
    add_stats,
    forever,
    grid_start,
    merged_readings,
    reading,
    stamped,
    until,
)

app = FastAPI()
add_stats(app)


@app.get("/stream", response_class=EventSourceResponse)
async def stream(n: int = 1000) -> AsyncIterator[ServerSentEvent]:
    for i in range(n):
        yield ServerSentEvent(data=reading(i), event=EVENT, id=str(i))


@app.get("/idle", response_class=EventSourceResponse)
async def idle() -> AsyncIterator[ServerSentEvent]:
    with IDLE.track():
        await forever()
        yield ServerSentEvent(comment="never reached")  # makes this a generator


@app.get("/tick", response_class=EventSourceResponse)
async def tick(interval: float = 0.01, n: int | None = None, phase: float = 0.0) -> AsyncIterator[ServerSentEvent]:
    with TICK.track():
        start, i = grid_start(interval, phase), 0
        while n is None or i < n:
            due = start + (i + 1) * interval
            await until(due)
            yield ServerSentEvent(data=stamped(i, due), event=EVENT, id=str(i))
            i += 1


@app.get("/pipeline", response_class=EventSourceResponse)
async def pipeline(n: int = 1000, interval: float = 0.005) -> AsyncIterator[ServerSentEvent]:
    async for payload in merged_readings(n, interval):
        yield ServerSentEvent(data=payload, event=EVENT, id=str(payload.seq))
