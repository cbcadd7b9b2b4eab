"""The run: interleaved repetitions of every scenario on every variant, then medians, ratios and targets."""

from __future__ import annotations

import asyncio
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
from bench.system import load_average, machine_info, source_digest

BASELINE = "raw"


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
        server_core: The core the servers are pinned to, or `None`.
        client_core: The core this process (the client) is pinned to, or `None`.
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
    """One measurement: a scenario on a variant, in one repetition on one stack."""

    stack: str
    repetition: int
    scenario: str
    variant: str
    metrics: Metrics
    error: str | None = None


def run(plan: Plan, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run `plan` and return the results document (machine, plan, records, summary, targets)."""
    started = time.monotonic()
    load_start = load_average()
    source = source_digest()
    records = list(_measure(plan, log))
    summary = summarise(records)
    return {
        "machine": machine_info(),
        "typedsse_source": {"start": source, "end": source_digest()},
        "load_average": {"start": load_start, "end": load_average()},
        "duration_s": round(time.monotonic() - started, 1),
        "plan": {**asdict(plan), "sizes": asdict(plan.sizes)},
        "records": [asdict(r) for r in records],
        "summary": summary,
        "targets": targets(records, summary),
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
                        log(f"{where} {_line(record)}")
                        yield record
            else:
                for variant in plan.variants:
                    with ServerProcess(variant, STACKS[stack], core=plan.server_core) as server:
                        for scenario in plan.scenarios:
                            record = _one(server, stack, repetition, scenario, plan.sizes)
                            log(f"{where} {_line(record)}")
                            yield record


def _one(server: ServerProcess, stack: str, repetition: int, scenario: str, sizes: Sizes) -> Record:
    record = Record(stack, repetition, scenario, server.variant, {})

    async def measure() -> Metrics:
        async with asyncio.timeout(sizes.timeout * 3):
            return await SCENARIOS[scenario](server, sizes)

    try:
        record.metrics = asyncio.run(measure())
    except (BenchError, OSError, TimeoutError) as exc:
        record.error = f"{type(exc).__name__}: {exc}".strip()
        print(f"{scenario} on {server.variant} failed: {record.error}\n{server.log()}", file=sys.stderr)
    return record


def _line(record: Record) -> str:
    if record.error is not None:
        return f"{record.scenario:<15} {record.variant:<14} ERROR {record.error}"
    figures = "  ".join(f"{k}={_short(v)}" for k, v in record.metrics.items())
    return f"{record.scenario:<15} {record.variant:<14} {figures}"


def _short(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _paired_ratios(records: list[Record], variant: str, reference: str, scenario: str, metric: str) -> dict[str, float]:
    """`variant / reference` for `metric`, per repetition on each stack: keys are `stack/repetition`."""
    values: dict[tuple[str, str, int], float] = {}
    for r in records:
        value = r.metrics.get(metric)
        if r.scenario == scenario and r.error is None and value is not None:
            values[(r.variant, r.stack, r.repetition)] = float(value)
    ratios: dict[str, float] = {}
    for (name, stack, repetition), value in values.items():
        base = values.get((reference, stack, repetition))
        if name == variant and base:
            ratios[f"{stack}/{repetition}"] = value / base
    return ratios


def summarise(records: list[Record]) -> dict[str, Any]:
    """Medians across repetitions, and medians of the per-repetition ratios to the raw variant.

    Returns `{stack: {scenario: {variant: {metric: {"median", "ratio_to_raw", "values"}}}}}`;
    `values` keeps every repetition's figure (`None` where a wait timed out) and `errors`
    lists failed measurements.
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
                    present = [float(v) for v in entry["values"] if v is not None]
                    entry["median"] = _median(present)
                    stack_records = [r for r in records if r.stack == stack]
                    ratios = _paired_ratios(stack_records, variant, BASELINE, scenario, metric)
                    entry["ratio_to_raw"] = _median(list(ratios.values()))
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
