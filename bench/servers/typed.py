"""typedsse: typed events from `@sse` endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from fastapi import FastAPI

from bench.servers.common import (
    AT,
    IDLE,
    PIPELINE_SOURCES,
    TICK,
    Reading,
    add_stats,
    forever,
    grid_start,
    reading,
    stamped,
    until,
)
from typedsse.endpoints import sse
from typedsse.events import BaseEvent


class Tick(BaseEvent[Reading]): ...  # event name "tick"


app = FastAPI()
add_stats(app)


@app.get("/stream")
@sse()
async def stream(n: int = 1000) -> AsyncIterator[Tick]:
    for i in range(n):
        yield Tick(data=reading(i), id=str(i))


@app.get("/idle")
@sse()
async def idle() -> AsyncIterator[Tick]:
    with IDLE.track():
        await forever()
        yield Tick(data=reading(0))  # never reached; makes this a generator


@app.get("/tick")
@sse()
async def tick(interval: float = 0.01, n: int | None = None, phase: float = 0.0) -> AsyncIterator[Tick]:
    with TICK.track():
        start, i = grid_start(interval, phase), 0
        while n is None or i < n:
            due = start + (i + 1) * interval
            await until(due)
            yield Tick(data=stamped(i, due), id=str(i))
            i += 1


async def ticks(label: str, count: int) -> AsyncIterator[Tick]:
    for i in range(count):
        yield Tick(data=Reading(seq=i, value=0.5, label=label, at=AT), id=str(i))


def _label(event: Tick) -> str:
    return event.data.label


@app.get("/pipeline")
@sse()
def pipeline(n: int = 1000, interval: float = 0.005) -> AsyncIterable[Tick]:
    from typedsse import operators as ops  # imported here: the other endpoints do not need it

    return ops.merge(*(ticks(label, n) for label in PIPELINE_SOURCES)) | ops.throttle(interval, key=_label)
