"""The run: interleaved repetitions of every scenario on every variant, then medians, ratios and targets."""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from bench.client import BenchError
from bench.process import STACKS, ServerProcess
from bench.scenarios import SCENARIOS, Metrics, Sizes
from bench.servers import VARIANTS
from bench.system import available_cores, load_average, machine_info, pin_to_core, source_digest

BASELINE = "raw"

HIGHER_IS_BETTER = frozenset({"events_per_s", "source_events_per_s", "finally_ran"})
"""The figures where more is better; for every other one, less is (or the figure is neutral).

A timed-out figure (`None`) counts as worse than any measured one when medians are taken, so
which way is worse matters: a variant does not gain from the measurements it could not finish.
"""


@dataclass(frozen=True)
class Plan:
    """What a run measures and how.

    Attributes:
        mode: `full`, `quick` or `smoke`; names the result files.
        sizes: The load of each scenario.
        stacks: The uvicorn stacks (keys of `STACKS`), each measured separately.
        variants: The server variants, measured in this order within each repetition.
        scenarios: The scenarios (keys of `SCENARIOS`).
        repetitions: How many times the whole interleaved round is repeated.
        fresh_servers: A new server process per measurement (else one per variant and round).
        server_core: The core the servers are to be pinned to, or `None`.
        client_core: The core this process (the client) is to be pinned to, or `None`. The
            results' `pinning` says whether either pinning took.
    """

    mode: str
    sizes: Sizes
    stacks: tuple[str, ...] = tuple(STACKS)
    variants: tuple[str, ...] = VARIANTS
    scenarios: tuple[str, ...] = tuple(SCENARIOS)
    repetitions: int = 3
    fresh_servers: bool = True
    server_core: int | None = 0
    client_core: int | None = 1


@dataclass
class Record:
    """One measurement: a scenario on a variant, in one repetition on one stack.

    `server_pid` and `server_cores` identify the server process and the cores it could run on
    (`None` when it did not start); `load_average` is the 1, 5 and 15 minute load average just
    before the measurement, to tell which figures other work on the machine may have disturbed.
    """

    stack: str
    repetition: int
    scenario: str
    variant: str
    metrics: Metrics
    error: str | None = None
    server_pid: int | None = None
    server_cores: list[int] | None = None
    load_average: list[float] | None = None


def run(plan: Plan, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run `plan` and return the results document (machine, pinning, plan, records, summary, targets).

    This process, the client, pins itself to `plan.client_core` first. `pinning` in the document
    records the cores the run could use (read before that), and whether the client and every
    server really ran on the core meant for it.
    """
    started = time.monotonic()
    cores_available = available_cores()
    machine = machine_info(cores_available)
    client_cores = _pin_client(plan.client_core, log)
    load_start = load_average()
    source = source_digest()
    records = list(_measure(plan, log))
    summary = summarise(records)
    return {
        "machine": machine,
        "pinning": pinning(plan, cores_available, client_cores, records),
        "typedsse_source": {"start": source, "end": source_digest()},
        "load_average": {"start": load_start, "end": load_average()},
        "duration_s": round(time.monotonic() - started, 1),
        "plan": {**asdict(plan), "sizes": asdict(plan.sizes)},
        "records": [asdict(r) for r in records],
        "summary": summary,
        "targets": targets(records, summary),
    }


def _pin_client(core: int | None, log: Callable[[str], None]) -> list[int]:
    """Pin this process to `core` (if not `None`); return the cores it may run on afterwards."""
    if core is not None and not pin_to_core(core):
        log(f"could not pin the client to core {core}: it runs on cores {_cores(available_cores())}")
    return available_cores()


def pinning(plan: Plan, cores_available: list[int], client_cores: list[int], records: list[Record]) -> dict[str, Any]:
    """What the pinning achieved: the cores meant for the client and the servers, and those they got.

    `servers.cores` lists each distinct set of cores the servers reported; `servers.unpinned`
    counts the measurements whose server was not on `servers.core` alone.
    """
    server_cores = [r.server_cores for r in records if r.server_cores is not None]
    unpinned = sum(cores != [plan.server_core] for cores in server_cores) if plan.server_core is not None else 0
    return {
        "cores_available": cores_available,
        "client": {
            "core": plan.client_core,
            "cores": client_cores,
            "pinned": plan.client_core is not None and client_cores == [plan.client_core],
        },
        "servers": {
            "core": plan.server_core,
            "cores": sorted(map(list, {tuple(cores) for cores in server_cores})),
            "pinned": plan.server_core is not None and bool(server_cores) and not unpinned,
            "unpinned": unpinned,
            "measurements": len(server_cores),
        },
    }


def _measure(plan: Plan, log: Callable[[str], None]) -> Iterator[Record]:
    for stack in plan.stacks:
        for repetition in range(1, plan.repetitions + 1):
            where = f"[{stack} {repetition}/{plan.repetitions}]"
            if plan.fresh_servers:
                # A B C D A B C D: every variant once per scenario before the next scenario.
                for scenario in plan.scenarios:
                    for variant in plan.variants:
                        with ServerProcess(variant, STACKS[stack], core=plan.server_core) as server:
                            record = _one(server, stack, repetition, scenario, plan.sizes)
                        log(f"{where} {_line(record, plan.server_core)}")
                        yield record
            else:
                for variant in plan.variants:
                    with ServerProcess(variant, STACKS[stack], core=plan.server_core) as server:
                        for scenario in plan.scenarios:
                            record = _one(server, stack, repetition, scenario, plan.sizes)
                            log(f"{where} {_line(record, plan.server_core)}")
                            yield record


def _one(server: ServerProcess, stack: str, repetition: int, scenario: str, sizes: Sizes) -> Record:
    record = Record(
        stack,
        repetition,
        scenario,
        server.variant,
        {},
        server_pid=server.pid,
        server_cores=server.cores,
        load_average=load_average(),
    )

    async def measure() -> Metrics:
        async with asyncio.timeout(sizes.timeout * 3):
            return await SCENARIOS[scenario](server, sizes)

    try:
        record.metrics = asyncio.run(measure())
    except (BenchError, OSError, TimeoutError) as exc:
        record.error = f"{type(exc).__name__}: {exc}".strip()
        print(f"{scenario} on {server.variant} failed: {record.error}\n{server.log()}", file=sys.stderr)
    return record


def _line(record: Record, server_core: int | None) -> str:
    unpinned = (
        f"  (server not pinned to core {server_core}: on cores {_cores(record.server_cores or [])})"
        if server_core is not None and record.server_cores != [server_core]
        else ""
    )
    if record.error is not None:
        return f"{record.scenario:<15} {record.variant:<14} ERROR {record.error}{unpinned}"
    figures = "  ".join(f"{k}={_short(v)}" for k, v in record.metrics.items())
    return f"{record.scenario:<15} {record.variant:<14} {figures}{unpinned}"


def _cores(cores: list[int]) -> str:
    return ",".join(map(str, cores)) or "unknown"


def _short(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _worst(metric: str) -> float:
    """The value a timed-out `metric` counts as: worse than any measured one."""
    return -math.inf if metric in HIGHER_IS_BETTER else math.inf


def _finite_median(values: list[float]) -> float | None:
    """The median, or `None` when there are no values or the median is a timed-out (infinite) one."""
    median = _median(values)
    return median if median is not None and math.isfinite(median) else None


def median_of_runs(values: list[float | int | None], metric: str) -> float | None:
    """The median of one figure across repetitions, a timed-out one (`None`) counting as the worst.

    `None` if there are no values, or if the median falls on a timed-out repetition.
    """
    return _finite_median([_worst(metric) if v is None else float(v) for v in values])


def _paired_ratios(records: list[Record], variant: str, reference: str, scenario: str, metric: str) -> dict[str, float]:
    """`variant / reference` for `metric`, per repetition on each stack: keys are `stack/repetition`.

    A repetition where `variant` timed out (and `reference` did not) gets an infinitely bad
    ratio; one where `reference` timed out, failed or measured zero gets none.
    """
    values: dict[tuple[str, str, int], float | None] = {}
    for r in records:
        if r.scenario == scenario and r.error is None and metric in r.metrics:
            value = r.metrics[metric]
            values[(r.variant, r.stack, r.repetition)] = None if value is None else float(value)
    ratios: dict[str, float] = {}
    for (name, stack, repetition), value in values.items():
        base = values.get((reference, stack, repetition))
        if name == variant and base:
            ratios[f"{stack}/{repetition}"] = _worst(metric) if value is None else value / base
    return ratios


def summarise(records: list[Record]) -> dict[str, Any]:
    """Medians across repetitions, and medians of the per-repetition ratios to the raw variant.

    Returns `{stack: {scenario: {variant: {metric: {"median", "ratio_to_raw", "values"}}}}}`;
    `values` keeps every repetition's figure (`None` where a wait timed out) and `errors`
    lists failed measurements. A timed-out figure counts as worse than any measured one in the
    medians (see `HIGHER_IS_BETTER`); a median that falls on one is `None`.
    """
    summary: dict[str, Any] = {}
    for r in records:
        cell = summary.setdefault(r.stack, {}).setdefault(r.scenario, {}).setdefault(r.variant, {})
        if r.error is not None:
            cell.setdefault("errors", []).append(r.error)
        for metric, value in r.metrics.items():
            cell.setdefault(metric, {"values": []})["values"].append(value)
    for stack, scenarios in summary.items():
        for scenario, variants in scenarios.items():
            for variant, metrics in variants.items():
                for metric, entry in metrics.items():
                    if metric == "errors":
                        continue
                    entry["median"] = median_of_runs(entry["values"], metric)
                    stack_records = [r for r in records if r.stack == stack]
                    ratios = _paired_ratios(stack_records, variant, BASELINE, scenario, metric)
                    entry["ratio_to_raw"] = _finite_median(list(ratios.values()))
    return summary


@dataclass(frozen=True)
class _Target:
    text: str
    scenario: str
    metric: str
    check: Callable[[list[Record], dict[str, Any], str], tuple[float | None, bool | None]]
    unit: str


def _ratio_target(
    scenario: str, metric: str, reference: str, limit: float, at_least: bool
) -> Callable[[list[Record], dict[str, Any], str], tuple[float | None, bool | None]]:
    def check(records: list[Record], summary: dict[str, Any], stack: str) -> tuple[float | None, bool | None]:
        stack_records = [r for r in records if r.stack == stack]
        ratio = _median(list(_paired_ratios(stack_records, "typedsse", reference, scenario, metric).values()))
        if ratio is None:
            return None, None
        if not math.isfinite(ratio):  # typedsse timed out in most repetitions
            return None, False
        return ratio, ratio >= limit if at_least else ratio <= limit

    return check


def _every_run(
    scenario: str, metric: str, limit: float
) -> Callable[[list[Record], dict[str, Any], str], tuple[float | None, bool | None]]:
    """The worst repetition must be within `limit` (a `None` figure means the wait timed out).

    A metric no run reports (the stack cannot measure it) leaves the target unmeasured.
    """

    def check(records: list[Record], summary: dict[str, Any], stack: str) -> tuple[float | None, bool | None]:
        runs = [r for r in records if (r.stack, r.scenario, r.variant) == (stack, scenario, "typedsse")]
        if not runs or any(r.error is not None for r in runs) or all(metric not in r.metrics for r in runs):
            return None, None
        values = [r.metrics.get(metric) for r in runs]
        if any(v is None for v in values):
            return None, False
        worst = max(float(v) for v in values if v is not None)
        return worst, worst <= limit

    return check


TARGETS: tuple[_Target, ...] = (
    _Target("1 connection: events/s >= 1.0x raw", "throughput_1", "events_per_s",
            _ratio_target("throughput_1", "events_per_s", "raw", 1.0, at_least=True), "x raw"),
    _Target("1 connection: events/s >= 4x FastAPI native", "throughput_1", "events_per_s",
            _ratio_target("throughput_1", "events_per_s", "fastapi", 4.0, at_least=True), "x fastapi"),
    _Target("100 connections: events/s >= 1.0x raw", "throughput_100", "events_per_s",
            _ratio_target("throughput_100", "events_per_s", "raw", 1.0, at_least=True), "x raw"),
    _Target("100 connections: events/s >= 4x FastAPI native", "throughput_100", "events_per_s",
            _ratio_target("throughput_100", "events_per_s", "fastapi", 4.0, at_least=True), "x fastapi"),
    _Target("merged+throttled pipeline: source events/s >= 1.0x raw", "pipeline", "source_events_per_s",
            _ratio_target("pipeline", "source_events_per_s", "raw", 1.0, at_least=True), "x raw"),
    _Target("idle memory per connection <= 1.2x raw", "idle", "rss_kib_per_conn",
            _ratio_target("idle", "rss_kib_per_conn", "raw", 1.2, at_least=False), "x raw"),
    _Target("latency p99 <= 1.2x raw", "latency", "p99_ms",
            _ratio_target("latency", "p99_ms", "raw", 1.2, at_least=False), "x raw"),
    _Target("latency p99 from the due time <= 1.2x raw", "latency", "due_p99_ms",
            _ratio_target("latency", "due_p99_ms", "raw", 1.2, at_least=False), "x raw"),
    _Target("abrupt disconnect: every finally within 100 ms", "disconnect", "finally_all_ms",
            _every_run("disconnect", "finally_all_ms", 100.0), "ms (worst run)"),
    _Target("abrupt disconnect: zero tasks left", "disconnect", "tasks_left",
            _every_run("disconnect", "tasks_left", 0.0), "tasks (worst run)"),
    _Target("abrupt disconnect: RSS back within 5% of the fresh process", "disconnect", "rss_after_ratio",
            _every_run("disconnect", "rss_after_ratio", 1.05), "x before (worst run)"),
    _Target("abrupt disconnect: RSS back within 5% in steady state (2nd round)", "disconnect", "rss_steady_ratio",
            _every_run("disconnect", "rss_steady_ratio", 1.05), "x 1st round (worst run)"),
    _Target("abrupt disconnect: live Python heap back within 5% of the fresh process", "disconnect",
            "heap_after_ratio", _every_run("disconnect", "heap_after_ratio", 1.05), "x before (worst run)"),
)  # fmt: skip


def targets(records: list[Record], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Evaluate the issue's targets for typedsse on every stack measured (`holds` is None if unmeasured)."""
    results: list[dict[str, Any]] = []
    for stack in summary:
        for target in TARGETS:
            if target.scenario not in summary[stack]:
                continue
            measured, holds = target.check(records, summary, stack)
            results.append(
                {"stack": stack, "target": target.text, "measured": measured, "unit": target.unit, "holds": holds}
            )
    return results
