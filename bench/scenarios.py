"""The scenarios: each drives one running server variant and returns its figures.

Every scenario first waits for the server, warms up the endpoint it measures with a short
request to that same path (the first request to an endpoint pays for lazy imports and first
calls: typedsse's `/pipeline` imports its operators then), then measures. Every connection a
scenario opens is closed or reset before it returns, on error paths too. Figures are plain
numbers (or `None` when a wait timed out); the suite takes medians across repetitions and
ratios to the raw variant.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from bench.client import (
    BenchError,
    FrameCounter,
    Sink,
    StampReader,
    connect,
    connect_many,
    get_json,
    request_bytes,
    reset_all,
    wait_all,
)
from bench.process import ServerProcess
from bench.system import steal_seconds

Metrics = dict[str, float | int | None]


@dataclass(frozen=True)
class Sizes:
    """How much load each scenario puts on a server; the defaults are the full run's."""

    stream_events: int = 100_000
    many_connections: int = 100
    many_events: int = 1_000
    idle_connections: int = 2_000
    latency_connections: int = 50
    latency_events: int = 500
    latency_interval: float = 0.01
    latency_skip: int = 10
    latency_runs: int = 2
    disconnect_connections: int = 500
    disconnect_interval: float = 0.1
    disconnect_timeout: float = 5.0
    pipeline_events: int = 50_000
    pipeline_interval: float = 0.005
    settle: float = 0.5
    timeout: float = 120.0


QUICK = Sizes(
    stream_events=20_000,
    many_events=200,
    idle_connections=500,
    latency_events=100,
    disconnect_connections=200,
    disconnect_timeout=3.0,
    pipeline_events=10_000,
)
SMOKE = Sizes(
    stream_events=300,
    many_connections=10,
    many_events=30,
    idle_connections=150,  # more than `connect_many` opens at once: the batching runs
    latency_connections=5,
    latency_events=8,
    latency_interval=0.005,
    latency_skip=2,
    latency_runs=2,
    disconnect_connections=10,
    disconnect_interval=0.02,
    disconnect_timeout=1.0,
    pipeline_events=200,
    settle=0.02,
    timeout=30.0,
)
"""The smoke run's loads: the full run's code paths (batched connections, the better of two
latency runs), in seconds rather than minutes; most of its time is starting servers."""


class _Usage:
    """Wall time, server CPU and client CPU over one measured interval."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.started = self.wall = self.server_cpu = self.client_cpu = 0.0

    def __enter__(self) -> _Usage:
        self._server0 = self.server.cpu_seconds()
        self._client0 = time.process_time()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall = time.perf_counter() - self.started
        self.server_cpu = self.server.cpu_seconds() - self._server0
        self.client_cpu = time.process_time() - self._client0

    def shares(self) -> Metrics:
        """The fraction of a core each side used: a client share well below 1 shows it kept up."""
        return {"server_cpu_share": self.server_cpu / self.wall, "client_cpu_share": self.client_cpu / self.wall}


async def _ready(server: ServerProcess, within: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        try:
            stats: dict[str, Any] = await get_json(server.port, "/stats", within=2.0)
        except (OSError, BenchError, TimeoutError):
            if time.monotonic() > deadline:
                raise BenchError(f"the {server.variant} server never answered:\n{server.log()}") from None
            await asyncio.sleep(0.05)
        else:
            return stats


async def _stats(server: ServerProcess, since: float | None = None, *, collect: bool = False) -> dict[str, Any]:
    """Read the server's `/stats`; `collect` first collects garbage (and trims, on a trimming stack)."""
    query = [f"since={since!r}"] if since is not None else []
    if collect:
        query.append("collect=true")
        if server.stack.trims:
            query.append("trim=true")
    path = "/stats" + ("?" + "&".join(query) if query else "")
    stats: dict[str, Any] = await get_json(server.port, path)
    return stats


async def _stream(port: int, path: str, frames: int, within: float) -> FrameCounter:
    """Read one finite stream to the end (or to `frames` frames) and return its counter."""
    counter = await connect(lambda: FrameCounter(request_bytes(path, port), frames), port)
    try:
        await wait_all([counter.reached], within, f"GET {path}")
        if counter.status != 200:
            raise BenchError(f"GET {path} answered {counter.status}")
        if counter.frames != frames:
            raise BenchError(f"GET {path} sent {counter.frames} frames, not {frames}")
        # The server ends the response and closes (`Connection: close`); reset only a straggler.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await counter.closed
    finally:
        counter.reset()
    return counter


async def _warm_up(server: ServerProcess, path: str, sizes: Sizes) -> None:
    """Read the finite stream at `path` to its end: the request that warms the measured endpoint up."""
    port = server.port
    counter = await connect(lambda: FrameCounter(request_bytes(path, port)), port)
    try:
        await wait_all([counter.closed], sizes.timeout, f"warm-up GET {path}")
    finally:
        counter.reset()
    if counter.status != 200 or counter.frames < 1:
        raise BenchError(f"warm-up GET {path} answered {counter.status} with {counter.frames} frames")


async def throughput_one(server: ServerProcess, sizes: Sizes) -> Metrics:
    """One connection, `stream_events` events as fast as the stack sends them."""
    await _ready(server)
    await _warm_up(server, "/stream?n=500", sizes)
    n = sizes.stream_events
    with _Usage(server) as usage:
        counter = await _stream(server.port, f"/stream?n={n}", n, sizes.timeout)
    return {
        "events_per_s": n / (counter.reached_at - usage.started),
        "server_cpu_s_per_100k": usage.server_cpu / n * 100_000,
        **usage.shares(),
    }


async def throughput_many(server: ServerProcess, sizes: Sizes) -> Metrics:
    """`many_connections` connections at once, `many_events` events each, as fast as possible."""
    await _ready(server)
    await _warm_up(server, "/stream?n=500", sizes)
    n, c = sizes.many_events, sizes.many_connections
    path = f"/stream?n={n}"
    with _Usage(server) as usage:
        counters = await asyncio.gather(*(_stream(server.port, path, n, sizes.timeout) for _ in range(c)))
    return {
        "events_per_s": n * c / (max(counter.reached_at for counter in counters) - usage.started),
        "server_cpu_s_per_100k": usage.server_cpu / (n * c) * 100_000,
        **usage.shares(),
    }


async def latency(server: ServerProcess, sizes: Sizes) -> Metrics:
    """`latency_connections` streams of one event per `latency_interval`: send stamp (and due time) to receipt.

    The measurement runs `latency_runs` times and keeps the run with the lower p99 from the due
    time: on a virtual machine, a burst of hypervisor steal (recorded as `steal_ms`) stalls
    server and client together for tens of milliseconds, and one such burst makes the p99 of
    whichever variant it lands on. Every variant gets the same number of tries.
    """
    await _ready(server)
    await _warm_up(server, f"/tick?interval={sizes.latency_interval}&n=3", sizes)
    runs = [await _latency_once(server, sizes) for _ in range(sizes.latency_runs)]
    return min(runs, key=lambda metrics: metrics["due_p99_ms"] or 0.0)


async def _latency_once(server: ServerProcess, sizes: Sizes) -> Metrics:
    port, n, c = server.port, sizes.latency_events, sizes.latency_connections
    path = f"/tick?interval={sizes.latency_interval}&n={n}"
    steal = steal_seconds()
    readers: list[StampReader] = []
    gc.disable()  # the client's own collections would count as latency
    try:
        with _Usage(server) as usage:
            # All at once (one batch), as independent subscribers to a broadcast would connect.
            readers = await connect_many(lambda _: StampReader(request_bytes(path, port)), port, c, batch=c)
            await wait_all([r.closed for r in readers], sizes.timeout, f"GET {path}")
    finally:
        gc.enable()
        reset_all(readers)  # the servers closed them all, unless the wait failed
    steal = steal_seconds() - steal
    kept = [(sent, due) for r in readers for seq, sent, due in r.samples if seq >= sizes.latency_skip]
    expected = (n - sizes.latency_skip) * sizes.latency_connections
    if len(kept) != expected:
        raise BenchError(f"GET {path}: {len(kept)} stamped events, not {expected}")
    from_sent = sorted(sent for sent, _ in kept)
    from_due = sorted(due for _, due in kept)
    return {
        "p50_ms": _percentile(from_sent, 50) * 1000,
        "p99_ms": _percentile(from_sent, 99) * 1000,
        "max_ms": from_sent[-1] * 1000,
        "due_p50_ms": _percentile(from_due, 50) * 1000,
        "due_p99_ms": _percentile(from_due, 99) * 1000,
        "steal_ms": steal * 1000,
        **usage.shares(),
    }


async def idle(server: ServerProcess, sizes: Sizes) -> Metrics:
    """`idle_connections` streams that never send: resident memory and tasks per connection.

    The warm-up is one more idle stream, opened first and held open to the end: it is in both
    memory readings, so it does not count in the figures, and an idle stream never ends by
    itself for a warm-up to wait for.
    """
    stats = await _ready(server)
    n, port = sizes.idle_connections, server.port
    warm = await connect(lambda: Sink(request_bytes("/idle", port)), port)
    sinks: list[Sink] = []
    try:
        first = stats["idle"]["started"]
        await _until(server, lambda s: s["idle"]["started"] > first, sizes.timeout, "warm-up idle stream")
        before = await _stats(server)
        sinks = await connect_many(lambda _: Sink(request_bytes("/idle", port)), port, n)
        await _until(server, lambda s: s["idle"]["started"] - before["idle"]["started"] >= n, sizes.timeout, "idle")
        await asyncio.sleep(sizes.settle)
        during = await _stats(server)
        if warm.closed.done() or any(s.closed.done() for s in sinks):
            raise BenchError("the server closed idle connections")
    finally:
        reset_all(sinks)
        warm.reset()
    return {
        "rss_kib_per_conn": (during["rss"] - before["rss"]) / n / 1024,
        "tasks_per_conn": (during["tasks"] - before["tasks"]) / n,
    }


async def disconnect(server: ServerProcess, sizes: Sizes) -> Metrics:
    """`disconnect_connections` live streams reset at once, twice: when every `finally` ran, what is left.

    The first round grows the heap to what that many streams need; the second shows whether
    anything is left behind per disconnect (`rss_steady_ratio`). `rss_after_ratio` compares the
    end of the first round with the fresh process; `heap_after_ratio` does the same for the live
    Python objects (the small-object allocator's blocks in use, after a full collection), which
    tells what the round left alive from what the allocator kept resident. `steal_ms` is the
    most hypervisor steal seen while a round's streams were reset and awaited: a burst of it
    stalls the client's resets and the server's `finally` blocks alike.
    """
    await _ready(server)
    await _warm_up(server, f"/tick?interval={sizes.disconnect_interval}&n=1&phase=0.0", sizes)
    n = sizes.disconnect_connections
    before = await _stats(server, collect=True)
    delays: list[float] = []
    complete = True
    after: list[dict[str, Any]] = []
    reset_seconds = steal = 0.0
    for _ in range(2):
        steal_before = steal_seconds()
        opened_at, reset_at, reset_took = await _reset_live_streams(server, sizes)
        reset_seconds = max(reset_seconds, reset_took)
        deadline = time.monotonic() + sizes.disconnect_timeout
        while True:
            stats = await _stats(server, since=reset_at)
            round_delays = finally_delays(stats["tick_lifetimes"], opened_at, reset_at)
            if len(round_delays) >= n or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        steal = max(steal, steal_seconds() - steal_before)
        complete = complete and len(round_delays) >= n
        delays.extend(round_delays)
        await asyncio.sleep(sizes.settle)
        after.append(await _stats(server, collect=True))
    delays.sort()
    heap: Metrics = {}
    if before["heap_blocks"]:  # zero when CPython's small-object allocator is not in use
        heap["heap_after_ratio"] = after[0]["heap_blocks"] / before["heap_blocks"]
    return {
        "finally_all_ms": delays[-1] * 1000 if complete and delays else None,
        "finally_p50_ms": _percentile(delays, 50) * 1000 if delays else None,
        "finally_ran": len(delays),
        "reset_ms": reset_seconds * 1000,
        "steal_ms": steal * 1000,
        "tasks_left": after[-1]["tasks"] - before["tasks"],
        "rss_after_ratio": after[0]["rss"] / before["rss"],
        "rss_steady_ratio": after[1]["rss"] / after[0]["rss"],
        **heap,
    }


def finally_delays(lifetimes: list[list[float]], opened_at: float, reset_at: float) -> list[float]:
    """The delays from `reset_at` to the `finally` of each stream a round opened (from `/stats`).

    A round's streams are the ones that started after it began opening them (`opened_at`) and
    before it reset them: a stream of the previous round whose `finally` runs only now started
    before this round opened any, and is not counted (nor timed from this round's reset).
    """
    return [ended - reset_at for began, ended in lifetimes if opened_at <= began < reset_at]


async def _reset_live_streams(server: ServerProcess, sizes: Sizes) -> tuple[float, float, float]:
    """Open the streams, wait for an event on each, reset them all.

    Returns when it began opening them and when it reset them (wall-clock times, as the server's
    lifecycle records), and how long the resets took.

    The streams' schedules are spread evenly over the interval (stream `k` ticks `k / n` of an
    interval after the grid), as independent subscribers' would be: the resets land while
    events keep falling due, and not just after a burst of them all.
    """
    n, port, interval = sizes.disconnect_connections, server.port, sizes.disconnect_interval

    def counter(k: int) -> FrameCounter:
        return FrameCounter(request_bytes(f"/tick?interval={interval}&phase={k / n * interval!r}", port))

    opened_at = time.time()
    counters = await connect_many(counter, port, n)
    try:
        await wait_all([c.reached for c in counters], sizes.timeout, "first events")
        if any(c.closed.done() for c in counters):
            raise BenchError("the server closed live streams")
    except BaseException:
        reset_all(counters)
        raise
    reset_at = time.time()
    reset_all(counters)
    await asyncio.sleep(0)  # the transports close their sockets (sending the RSTs) in callbacks
    return opened_at, reset_at, time.time() - reset_at


async def pipeline(server: ServerProcess, sizes: Sizes) -> Metrics:
    """Two sources of `pipeline_events` each, merged, throttled per source: the cost per source event."""
    await _ready(server)
    await _warm_up(server, f"/pipeline?n=100&interval={sizes.pipeline_interval}", sizes)
    port, n = server.port, sizes.pipeline_events
    path = f"/pipeline?n={n}&interval={sizes.pipeline_interval}"
    with _Usage(server) as usage:
        counter = await connect(lambda: FrameCounter(request_bytes(path, port), target=2 * n + 1), port)
        try:
            await wait_all([counter.closed], sizes.timeout, f"GET {path}")
        finally:
            counter.reset()  # the server closed it, unless the wait failed
    if counter.status != 200 or counter.frames < 2:
        raise BenchError(f"GET {path} answered {counter.status} with {counter.frames} frames")
    return {
        "source_events_per_s": 2 * n / usage.wall,
        "server_cpu_s_per_100k": usage.server_cpu / (2 * n) * 100_000,
        "delivered": counter.frames,
        **usage.shares(),
    }


async def _until(
    server: ServerProcess, condition: Callable[[dict[str, Any]], bool], within: float, what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        stats = await _stats(server)
        if condition(stats):
            return stats
        if time.monotonic() > deadline:
            raise BenchError(f"{what}: the server did not get there within {within:g} s: {stats}")
        await asyncio.sleep(0.05)


def _percentile(sorted_values: list[float], percent: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(percent) - 1]


Scenario = Callable[[ServerProcess, Sizes], Coroutine[Any, Any, Metrics]]

SCENARIOS: dict[str, Scenario] = {
    "throughput_1": throughput_one,
    "throughput_100": throughput_many,
    "latency": latency,
    "pipeline": pipeline,
    "disconnect": disconnect,
    "idle": idle,
}
"""Every scenario by name, in the order a run goes through them."""
