"""sse-starlette: `EventSourceResponse` over dicts, the library's documented way."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI
from sse_starlette import EventSourceResponse

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


def _response(events: AsyncIterator[dict[str, str]]) -> EventSourceResponse:
    # LF separators, like every other variant (its default is CRLF).
    return EventSourceResponse(events, sep="\n")


@app.get("/stream")
async def stream(n: int = 1000) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        for i in range(n):
            yield {"event": EVENT, "id": str(i), "data": reading(i).model_dump_json()}

    return _response(events())


@app.get("/idle")
async def idle() -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        with IDLE.track():
            await forever()
            yield {}  # never reached; makes this a generator

    return _response(events())


@app.get("/tick")
async def tick(interval: float = 0.01, n: int | None = None, phase: float = 0.0) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        with TICK.track():
            start, i = grid_start(interval, phase), 0
            while n is None or i < n:
                due = start + (i + 1) * interval
                await until(due)
                yield {"event": EVENT, "id": str(i), "data": stamped(i, due).model_dump_json()}
                i += 1

    return _response(events())


@app.get("/pipeline")
async def pipeline(n: int = 1000, interval: float = 0.005) -> EventSourceResponse:
    async def events() -> AsyncIterator[dict[str, str]]:
        async for payload in merged_readings(n, interval):
            yield {"event": EVENT, "id": str(payload.seq), "data": payload.model_dump_json()}

    return _response(events())
