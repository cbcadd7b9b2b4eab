"""What every server variant shares: the payload, the lifecycle counters and the `/stats` endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import math
import os
import sys
import time
from collections.abc import AsyncIterator, Generator
from datetime import UTC, datetime

from aiostream import stream
from fastapi import FastAPI
from pydantic import BaseModel

EVENT = "tick"
"""The SSE event name of every benchmark event."""

AT = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Reading(BaseModel):
    """The benchmark payload: four fields of the everyday kinds."""

    seq: int
    value: float
    label: str
    at: datetime


def reading(seq: int) -> Reading:
    """Build the payload of event `seq`; every variant builds (and so validates) one per event."""
    return Reading(seq=seq, value=0.5, label="sensor-7", at=AT)


def grid_start(interval: float, phase: float = 0.0) -> float:
    """Return when a tick stream's schedule starts: the last multiple of `interval` (wall-clock
    seconds) before now, plus `phase`.

    The schedule is the same whatever the variant: counted from each stream's own start, it
    would depend on how the variant handles requests (a stack that writes the headers before
    starting the generator spreads the streams' phases by one header write each), and would
    measure that rather than the cost of an event. With `phase` 0 every stream's events fall
    due at the same instants (a broadcast, the latency scenario); the disconnect scenario gives
    its streams phases spread over the interval.
    """
    return math.floor(time.time() / interval) * interval + phase


async def until(due: float) -> None:
    """Sleep until the wall-clock time `due`: ticks follow a schedule and do not drift."""
    await asyncio.sleep(due - time.time())


def stamped(seq: int, due: float) -> Reading:
    """The payload of tick `seq`: `value` is its send stamp (now), `at` the time it was due."""
    return Reading(seq=seq, value=time.time(), label="tick", at=datetime.fromtimestamp(due, UTC))


PIPELINE_SOURCES = ("prices", "trades")
"""The pipeline scenario merges one source of each label and throttles per label."""


async def readings(label: str, count: int) -> AsyncIterator[Reading]:
    """A pipeline source: `count` payloads labelled `label`, as fast as they are pulled."""
    for i in range(count):
        yield Reading(seq=i, value=0.5, label=label, at=AT)


async def merged_readings(count: int, interval: float) -> AsyncIterator[Reading]:
    """The pipeline the variants without operators write by hand: aiostream's `merge`, then a
    leading-edge throttle per label (the first payload of each `interval` window goes out).
    """
    loop = asyncio.get_running_loop()
    window_start: dict[str, float] = {}
    merged = stream.merge(*(readings(label, count) for label in PIPELINE_SOURCES))
    async with merged.stream() as payloads:
        async for payload in payloads:
            now = loop.time()
            if now < window_start.get(payload.label, -math.inf) + interval:
                continue
            window_start[payload.label] = now
            yield payload


class Lifecycle:
    """Counts the streams a kind of endpoint started and finished, and when each began and ran its `finally`.

    A stream's start time tells which round of the disconnect scenario it belongs to: a stream
    of an earlier round whose `finally` runs late would otherwise count as one of the next.
    """

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0
        self.lifetimes: list[tuple[float, float]] = []
        """`(start, finally)` wall-clock times of every finished stream."""

    @contextlib.contextmanager
    def track(self) -> Generator[None]:
        """Count one stream for the duration of the block; its exit is the generator's `finally`."""
        self.started += 1
        began = time.time()
        try:
            yield
        finally:
            self.finished += 1
            self.lifetimes.append((began, time.time()))


IDLE = Lifecycle()
TICK = Lifecycle()


async def forever() -> None:
    """Wait until cancelled: an idle stream's whole life."""
    await asyncio.get_running_loop().create_future()


def resident_bytes() -> int:
    """Return this process's resident set size, from /proc/self/statm."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


def trim_free_memory() -> bool:
    """Ask glibc to return the free pages of its heap to the system (`malloc_trim(0)`).

    What a long-running server can run now and then, after a garbage collection, to give back
    the memory a burst of connections left free. The pages go back only where the objects came
    from glibc's allocator: under `PYTHONMALLOC=malloc`. CPython's own small-object allocator
    (the default) returns a 1 MiB arena only once all of it is free. Returns whether
    `malloc_trim` was there (glibc) to call.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the symbols already loaded: glibc's, if it is glibc
    except (OSError, AttributeError):
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim(0)
    return True


def add_stats(app: FastAPI) -> None:
    """Add `GET /stats` to `app`: tasks, memory, CPU affinity and the stream lifecycles.

    With `since`, `tick_lifetimes` lists the `[start, finally]` times of the tick streams whose
    `finally` ran at or after `since`. `cpu_affinity` is the cores the process may run on: one
    when the server's pinning took.

    `heap_blocks` counts the blocks CPython's small-object allocator has handed out and not got
    back: the live Python objects, whatever the allocator keeps resident around them (`rss`).
    `collect=true` runs a full garbage collection first, so that unreachable cycles not yet
    collected do not count as live; `trim=true` then returns the free heap pages to the system
    (`trim_free_memory`), and `trimmed` says whether it could; `release_cpu_ms` is the CPU time
    the collection and the trim took, a pause for every stream of the process.
    """

    @app.get("/stats")
    async def stats(since: float | None = None, collect: bool = False, trim: bool = False) -> dict[str, object]:
        started = time.thread_time()
        if collect:
            gc.collect()
        trimmed = trim_free_memory() if trim else False
        release_cpu_ms = (time.thread_time() - started) * 1000
        body: dict[str, object] = {
            "pid": os.getpid(),
            "cpu_affinity": sorted(os.sched_getaffinity(0)),
            "tasks": len(asyncio.all_tasks()),
            "rss": resident_bytes(),
            "heap_blocks": sys.getallocatedblocks(),
            "trimmed": trimmed,
            "release_cpu_ms": release_cpu_ms,
            "idle": {"started": IDLE.started, "finished": IDLE.finished},
            "tick": {"started": TICK.started, "finished": TICK.finished},
        }
        if since is not None:
            body["tick_lifetimes"] = [[began, ended] for began, ended in TICK.lifetimes if ended >= since]
        return body
