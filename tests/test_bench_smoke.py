"""The benchmark harness in its smoke mode: every variant, every scenario, tiny loads.

Benchmarks are not tests: nothing here looks at a timing. These tests only keep the harness
from rotting: the servers start, every scenario completes on every variant and stack, on a
fresh server each time as in the full run, and the results are written in the documented
shape, their medians, ratios and tables agreeing with the figures recorded.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import cli, client, report, scenarios, suite
from bench.process import STACKS, ServerProcess

ROOT = Path(__file__).resolve().parent.parent
# The `fastapi` variant is FastAPI's own SSE (`fastapi.sse`, FastAPI 0.135+): on an older FastAPI
# the smoke run leaves it out and measures the others.
NATIVE_SSE = importlib.util.find_spec("fastapi.sse") is not None
VARIANTS = ["raw", "typedsse", "sse-starlette", *(["fastapi"] if NATIVE_SSE else [])]
SCENARIOS = ["throughput_1", "throughput_100", "latency", "pipeline", "disconnect", "idle"]
# The smoke run measures the uvloop stack wherever uvloop and httptools are installed (the
# asyncio one otherwise); the scenarios' own test below runs every variant on asyncio + h11.
UVLOOP = all(importlib.util.find_spec(module) is not None for module in ("uvloop", "httptools"))
SMOKE_STACKS = ["uvloop"] if UVLOOP else ["asyncio"]
CORES = sorted(os.sched_getaffinity(0))
METRICS = {
    "throughput_1": {"events_per_s", "server_cpu_s_per_100k", "server_cpu_share", "client_cpu_share"},
    "throughput_100": {"events_per_s", "server_cpu_s_per_100k", "server_cpu_share", "client_cpu_share"},
    "latency": {
        "p50_ms",
        "p99_ms",
        "max_ms",
        "due_p50_ms",
        "due_p99_ms",
        "steal_ms",
        "server_cpu_share",
        "client_cpu_share",
    },
    "pipeline": {"source_events_per_s", "server_cpu_s_per_100k", "delivered", "server_cpu_share", "client_cpu_share"},
    "disconnect": {
        "finally_all_ms",
        "finally_p50_ms",
        "finally_ran",
        "reset_ms",
        "steal_ms",
        "tasks_left",
        "rss_after_ratio",
        "rss_steady_ratio",
        "heap_after_ratio",
    },
    "idle": {"rss_kib_per_conn", "tasks_per_conn"},
}


# A guard against a hang, not a timing bound: the smoke run takes about 20 s on an idle
# 2-core machine and over 50 s on a busy one.
HANG_GUARD_SECONDS = 300


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    result = _bench("--variants", ",".join(VARIANTS), "--out", str(out))
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "smoke.json").read_text(encoding="utf-8"))
    return document, (out / "smoke.md").read_text(encoding="utf-8")


def test_bench_smoke_measures_every_scenario_on_every_variant_and_stack(smoke_run: tuple[dict[str, Any], str]) -> None:
    document, _ = smoke_run
    plan, records = document["plan"], document["records"]
    assert (plan["stacks"], plan["repetitions"], plan["fresh_servers"]) == (SMOKE_STACKS, 2, True)
    assert sorted((r["stack"], r["repetition"], r["scenario"], r["variant"]) for r in records) == sorted(
        (stack, repetition, scenario, variant)
        for stack in SMOKE_STACKS
        for repetition in (1, 2)
        for scenario in SCENARIOS
        for variant in VARIANTS
    )
    assert [r for r in records if r["error"] is not None] == []
    for record in records:
        assert set(record["metrics"]) == METRICS[record["scenario"]], record
    assert set(document["summary"]) == set(SMOKE_STACKS)
    for stack in SMOKE_STACKS:
        assert set(document["summary"][stack]) == set(SCENARIOS)


def test_bench_smoke_starts_a_fresh_server_per_measurement(smoke_run: tuple[dict[str, Any], str]) -> None:
    document, _ = smoke_run
    pids = [r["server_pid"] for r in document["records"]]
    assert None not in pids
    assert len(set(pids)) == len(pids)


def test_bench_smoke_goes_through_batching_and_the_best_of_latency_runs(smoke_run: tuple[dict[str, Any], str]) -> None:
    sizes = smoke_run[0]["plan"]["sizes"]
    assert sizes["idle_connections"] > inspect.signature(client.connect_many).parameters["batch"].default
    assert sizes["latency_runs"] >= 2


def _median(values: list[float | None], metric: str) -> float | None:
    """A median across repetitions in which a timed-out figure is the worst one."""
    worst = -math.inf if metric in suite.HIGHER_IS_BETTER else math.inf
    median = statistics.median([worst if v is None else v for v in values])
    return median if math.isfinite(median) else None


def test_bench_smoke_summary_agrees_with_the_records(smoke_run: tuple[dict[str, Any], str]) -> None:
    # Medians are those of the repetitions' figures; ratios to raw are taken per repetition,
    # against raw's figure in the same repetition, before their median is.
    document, _ = smoke_run
    figures: dict[tuple[str, str, str, str], dict[int, float | None]] = {}
    for r in document["records"]:
        for metric, value in r["metrics"].items():
            figures.setdefault((r["stack"], r["scenario"], r["variant"], metric), {})[r["repetition"]] = value
    checked = 0
    for (stack, scenario, variant, metric), by_repetition in figures.items():
        entry = document["summary"][stack][scenario][variant][metric]
        values = [by_repetition[repetition] for repetition in sorted(by_repetition)]
        assert entry["values"] == values
        assert entry["median"] == pytest.approx(_median(values, metric))
        raw = figures[(stack, scenario, "raw", metric)]
        ratios = [
            (-math.inf if metric in suite.HIGHER_IS_BETTER else math.inf) if value is None else value / raw[repetition]
            for repetition, value in by_repetition.items()
            if raw.get(repetition)
        ]
        expected = statistics.median(ratios) if ratios else None
        if expected is None or not math.isfinite(expected):
            assert entry["ratio_to_raw"] is None
        else:
            assert entry["ratio_to_raw"] == pytest.approx(expected)
            checked += variant != "raw"
    assert checked > 0
    assert {t["target"] for t in document["targets"]} >= {
        "1 connection: events/s >= 1.0x raw",
        "latency p99 <= 1.2x raw",
        "abrupt disconnect: zero tasks left",
    }


def test_bench_smoke_records_the_machine_and_the_pinning(smoke_run: tuple[dict[str, Any], str]) -> None:
    document, text = smoke_run
    machine, pinning = document["machine"], document["pinning"]
    assert {"cpu", "cores", "kernel", "python", "packages"} <= set(machine)
    assert machine["packages"]["typedsse"] is not None
    assert machine["packages"]["aiostream"] is not None  # the hand-written pipelines run on it
    assert len(document["load_average"]["start"]) == 3
    assert len(document["typedsse_source"]["start"]) == 12
    for record in document["records"]:
        assert len(record["load_average"]) == 3
    # The cores the run could use, read before the client pinned itself to one of them.
    assert machine["cores_available"] == pinning["cores_available"] == CORES
    if len(CORES) >= 2:
        server_core, client_core = document["plan"]["server_core"], document["plan"]["client_core"]
        assert pinning["client"] == {"core": client_core, "cores": [client_core], "pinned": True}
        assert {r["server_cores"] == [server_core] for r in document["records"]} == {True}
        assert pinning["servers"]["pinned"] is True
        assert f"servers pinned to core {server_core}, client to core {client_core}" in text
    else:
        assert "only 1 usable core" in text


def test_bench_smoke_writes_a_markdown_table(smoke_run: tuple[dict[str, Any], str]) -> None:
    _, text = smoke_run
    assert text.startswith("# Benchmark results\n")
    assert f"## {report._STACK_TITLES[SMOKE_STACKS[0]]}\n" in text
    assert "| **typedsse** |" in text
    assert "| raw `StreamingResponse` (floor) |" in text
    assert "Targets for typedsse:" in text


def _tables(text: str) -> Iterator[tuple[str, list[list[str]]]]:
    """Each stack's section title and the rows of its first table (header first, rule dropped)."""
    stack = ""
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("## "):
            stack, rows = line[3:], []
        elif line.startswith("| ") and stack:
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
        elif rows:
            yield stack, [rows[0], *rows[2:]]
            stack, rows = "", []


def test_bench_smoke_table_shows_the_json_figures(smoke_run: tuple[dict[str, Any], str]) -> None:
    # Every cell is the JSON's median, with its ratio to raw wherever the JSON has one.
    document, text = smoke_run
    columns = {title: (scenario, metric, digits) for scenario, metric, title, digits in report._COLUMNS}
    stacks = {report._STACK_TITLES.get(stack, stack): stack for stack in document["summary"]}
    variants = {report._VARIANT_TITLES.get(variant, variant): variant for variant in VARIANTS}
    tables = dict(_tables(text))
    assert set(tables) == set(stacks)
    ratios_shown = 0
    for title, rows in tables.items():
        summary = document["summary"][stacks[title]]
        header, *body = rows
        assert [variants[row[0]] for row in body] == VARIANTS
        assert header[0] == "variant"
        assert {columns[column][1] for column in header[1:]} >= {"finally_all_ms", "tasks_per_conn"}
        for row in body:
            for column, cell in zip(header[1:], row[1:], strict=True):
                scenario, metric, digits = columns[column]
                entry = summary[scenario][variants[row[0]]][metric]
                median = "timed out" if entry["median"] is None else f"{entry['median']:,.{digits}f}"
                assert cell.startswith(median), (column, cell, entry)
                if entry["ratio_to_raw"] is None:
                    assert not cell.endswith("x)"), (column, cell)
                else:
                    assert cell.endswith(f"({entry['ratio_to_raw']:.2f}x)"), (column, cell, entry)
                    ratios_shown += scenario == "disconnect" or metric == "tasks_per_conn"
    assert ratios_shown > 0


def test_bench_report_says_when_pinning_did_not_take(smoke_run: tuple[dict[str, Any], str]) -> None:
    document = copy.deepcopy(smoke_run[0])
    document["plan"].update(server_core=0, client_core=1)
    document["pinning"]["client"] = {"core": 1, "cores": [0, 1], "pinned": False}
    document["pinning"]["servers"].update(core=0, cores=[[0, 1]], pinned=False, unpinned=3)
    text = report.markdown(document)
    assert "servers **not pinned** to core 0 in 3 of" in text
    assert "client **not pinned** to core 1 (cores 0, 1)" in text
    assert "servers pinned to core" not in text


def test_bench_report_renders_results_from_before_pinning_was_recorded() -> None:
    # Results written before the harness recorded its pinning, per-measurement load or server.
    document = json.loads((ROOT / "bench" / "results" / "latest.json").read_text(encoding="utf-8"))
    text = report.markdown(document)
    assert text.startswith("# Benchmark results\n")
    if "pinning" not in document and document["plan"]["server_core"] is not None:
        assert "do not record whether the pinning took" in text


def test_bench_smoke_on_one_core_says_it_did_not_pin(tmp_path: Path) -> None:
    # The harness, and the servers it starts, confined to one core from the start.
    core = CORES[-1]
    args = ["--smoke", "--stacks", "asyncio", "--repetitions", "1", "--scenarios", "throughput_1", "--variants", "raw"]
    code = (
        f"import os, runpy, sys; os.sched_setaffinity(0, {{{core}}}); "
        f"sys.argv = ['bench', *{args!r}, '--out', {str(tmp_path)!r}]; runpy.run_module('bench', run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS, check=False
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "smoke.json").read_text(encoding="utf-8"))
    assert document["pinning"]["cores_available"] == [core]
    assert document["pinning"]["client"]["pinned"] is False
    assert [r["server_cores"] for r in document["records"]] == [[core]]
    text = (tmp_path / "smoke.md").read_text(encoding="utf-8")
    assert f"only 1 usable core ({core}): server and client shared it, no pinning" in text
    assert "pinned to core" not in text


def test_bench_server_reports_the_cores_it_got_when_pinning_fails() -> None:
    missing = max(CORES) + 1000  # no such core: the server cannot pin itself to it
    with ServerProcess("raw", STACKS["asyncio"], core=missing) as server:
        stats = asyncio.run(client.get_json(server.port, "/stats"))
        log = server.log()
    assert server.cores == CORES
    assert stats["cpu_affinity"] == CORES
    assert f"could not pin the server to core {missing}" in log


def test_bench_summary_counts_a_timed_out_figure_as_the_worst() -> None:
    # Dropping timed-out repetitions would favour the variant that timed out.
    def record(variant: str, repetition: int, **metrics: float | None) -> suite.Record:
        return suite.Record("asyncio", repetition, "disconnect", variant, dict(metrics))

    records = [
        *(record("raw", k, finally_all_ms=10.0, finally_ran=100) for k in (1, 2, 3)),
        record("typedsse", 1, finally_all_ms=20.0, finally_ran=100),
        record("typedsse", 2, finally_all_ms=30.0, finally_ran=None),
        record("typedsse", 3, finally_all_ms=None, finally_ran=300),
        record("fastapi", 1, finally_all_ms=10.0),
        *(record("fastapi", k, finally_all_ms=None) for k in (2, 3)),
    ]
    summary = suite.summarise(records)["asyncio"]["disconnect"]
    slow = summary["typedsse"]["finally_all_ms"]
    assert slow["values"] == [20.0, 30.0, None]
    assert slow["median"] == 30.0  # of 20, 30 and the worst, not of 20 and 30
    assert slow["ratio_to_raw"] == 3.0
    ran = summary["typedsse"]["finally_ran"]  # more is better: a timed-out figure is the lowest
    assert ran["median"] == 100.0
    assert ran["ratio_to_raw"] == 1.0
    mostly_timed_out = summary["fastapi"]["finally_all_ms"]
    assert (mostly_timed_out["median"], mostly_timed_out["ratio_to_raw"]) == (None, None)
    cell = report._cell(summary["typedsse"], "finally_all_ms", 0)
    assert cell == "30 (1 timed out) (3.00x)"
    assert report._cell(summary["fastapi"], "finally_all_ms", 0) == "timed out"


def test_bench_disconnect_counts_each_round_its_own_finallies() -> None:
    # Round 2 opened its streams at 10.0 and reset them at 10.5: a round-1 stream whose
    # `finally` ran only at 10.6 started before 10.0, and neither counts nor is timed from 10.5.
    lifetimes = [[9.1, 10.6], [10.1, 10.52], [10.2, 10.51], [9.2, 10.7]]
    assert scenarios.finally_delays(lifetimes, 10.0, 10.5) == pytest.approx([0.02, 0.01])


def test_bench_servers_report_each_stream_start_and_finally() -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from bench.servers.common import TICK, add_stats

    app = FastAPI()
    add_stats(app)
    with TICK.track():
        pass
    with TestClient(app) as http:
        began, ended = http.get("/stats", params={"since": 0}).json()["tick_lifetimes"][-1]
        assert began <= ended
        assert http.get("/stats", params={"since": ended + 1}).json()["tick_lifetimes"] == []


class _HeldStreams:
    """A local server that answers every request with a 200 head and `body`, then holds it open.

    `closed` counts the connections the client has closed or reset, `opened` those it opened.
    """

    def __init__(self, body: bytes = b"") -> None:
        self.body = body
        self.opened = self.closed = 0
        self.changed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" + self.body)
            await reader.read()  # until the client closes or resets
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed += 1
            self.changed.set()
            writer.close()

    async def all_closed(self, count: int) -> None:
        async with asyncio.timeout(10):
            while self.closed < count:
                self.changed.clear()
                await self.changed.wait()


def _with_held_streams(body: bytes, check: Callable[[_HeldStreams, int], Any]) -> None:
    async def main() -> None:
        held = _HeldStreams(body)
        server = await asyncio.start_server(held.handle, client.HOST, 0)
        try:
            await check(held, server.sockets[0].getsockname()[1])
        finally:
            server.close()
            await server.wait_closed()

    asyncio.run(main())


def test_bench_connect_many_resets_what_it_opened_when_a_connection_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # The 151st connection fails (in the second batch): the 150 others, open or opening, are reset.
    made: list[client.Sink] = []
    real = client.connect

    async def connect(factory: Callable[[], client.Sink], port: int) -> client.Sink:
        if factory() is None:
            raise OSError("no more connections")
        return await real(factory, port)

    def sink(k: int) -> client.Sink | None:
        if k == 150:
            return None
        made.append(client.Sink(b"GET / HTTP/1.1\r\n\r\n"))
        return made[-1]

    monkeypatch.setattr(client, "connect", connect)

    async def check(held: _HeldStreams, port: int) -> None:
        with pytest.raises(OSError, match="no more connections"):
            await client.connect_many(sink, port, 200)  # type: ignore[arg-type]
        opened = [s for s in made if s.transport is not None]
        assert len(opened) >= 100  # the first batch, at least, had opened
        assert all(s.transport is not None and s.transport.is_closing() for s in opened)
        await held.all_closed(len(opened))

    _with_held_streams(b"", check)


def test_bench_failed_stream_is_reset() -> None:
    async def check(held: _HeldStreams, port: int) -> None:
        with pytest.raises(client.BenchError, match="only 0 of 1"):
            await scenarios._stream(port, "/stream?n=5", 5, within=0.2)
        await held.all_closed(1)

    _with_held_streams(b"data: 1\n\n", check)


def test_bench_latency_readers_are_reset_when_the_wait_times_out() -> None:
    sizes = scenarios.Sizes(latency_connections=3, latency_events=4, latency_skip=0, timeout=0.2)

    async def check(held: _HeldStreams, port: int) -> None:
        server: Any = SimpleNamespace(port=port, cpu_seconds=lambda: 0.0)
        with pytest.raises(client.BenchError, match="only 0 of 3"):
            await scenarios._latency_once(server, sizes)
        await held.all_closed(3)

    _with_held_streams(b"", check)


@pytest.mark.parametrize("variant", VARIANTS)
def test_bench_scenarios_warm_up_the_endpoint_they_measure(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each scenario's first request goes to the path it measures, then its measured requests:
    # the first request to an endpoint pays for lazy imports (typedsse's `/pipeline` imports its
    # operators then), which must not be measured. On asyncio + h11, which the smoke run leaves
    # to this test where uvloop is installed.
    paths: list[str] = []
    real = scenarios.request_bytes

    def recorded(path: str, port: int) -> bytes:
        paths.append(path)
        return real(path, port)

    monkeypatch.setattr(scenarios, "request_bytes", recorded)
    sizes = scenarios.SMOKE
    measured = {
        "throughput_1": 1,
        "throughput_100": sizes.many_connections,
        "latency": sizes.latency_runs * sizes.latency_connections,
        "pipeline": 1,
        "disconnect": 2 * sizes.disconnect_connections,
        "idle": sizes.idle_connections,
    }
    endpoints = {
        "throughput_1": "/stream",
        "throughput_100": "/stream",
        "latency": "/tick",
        "pipeline": "/pipeline",
        "disconnect": "/tick",
        "idle": "/idle",
    }
    with ServerProcess(variant, STACKS["asyncio"]) as server:
        for name, scenario in scenarios.SCENARIOS.items():
            paths.clear()
            metrics = asyncio.run(scenario(server, sizes))
            assert set(metrics) <= METRICS[name], (name, metrics)
            assert {path.partition("?")[0] for path in paths} == {endpoints[name]}, (name, paths[:3])
            assert len(paths) == measured[name] + 1, (name, len(paths))


def test_bench_malloc_stack_trims_and_names_its_results(tmp_path: Path) -> None:
    # On a `+malloc` stack the servers run with PYTHONMALLOC=malloc and the memory readings
    # trim first; the heap-block figure, which only CPython's own allocator keeps, is left out
    # and its target reads as not measured rather than missed.
    result = _bench(
        "--stacks", "asyncio+malloc", "--scenarios", "disconnect", "--variants", "raw,typedsse",
        "--repetitions", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "smoke-asyncio-malloc.json").read_text(encoding="utf-8"))
    for record in document["records"]:
        assert record["stack"] == "asyncio+malloc"
        assert set(record["metrics"]) == METRICS["disconnect"] - {"heap_after_ratio"}, record
    heap = [t for t in document["targets"] if "live Python heap" in t["target"]]
    assert [(t["measured"], t["holds"]) for t in heap] == [(None, None)]
    rss = [t for t in document["targets"] if t["target"].startswith("abrupt disconnect: RSS back within 5% of")]
    assert len(rss) == 1
    assert rss[0]["measured"] is not None


def test_bench_servers_release_free_memory_under_glibc_malloc() -> None:
    # What the `+malloc` stacks do before reading memory, in a process of its own.
    code = (
        "from bench.servers.common import add_stats;"
        "from fastapi import FastAPI; from fastapi.testclient import TestClient;"
        "app = FastAPI(); add_stats(app); client = TestClient(app);"
        "stats = client.get('/stats', params={'collect': 'true', 'trim': 'true'}).json();"
        "print(stats['trimmed'], stats['heap_blocks'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONMALLOC": "malloc"},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    trimmed, blocks = result.stdout.split()
    assert trimmed == str(platform.libc_ver()[0] == "glibc")
    assert blocks == "0"  # no small-object allocator: every object came from malloc


def test_bench_profile_writes_the_server_profile(tmp_path: Path) -> None:
    result = _bench("--profile", "typedsse", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    profile = (tmp_path / "profile-typedsse-throughput_1.txt").read_text(encoding="utf-8")
    assert "sorted by own time" in profile
    assert "encoding.py" in profile


@pytest.mark.parametrize(
    ("case", "count"),
    [
        *((case, "3") for case in ("raw", "typedsse", "typedsse-prebuilt")),
        *(
            (case, "300")
            for case in (
                "source alone",
                "aiostream merge",
                "ops.merge",
                "aiostream chunks(100)",
                "ops.chunk(size=100)",
                "ops.chunk(size=100, interval=FAR)",
                "ops.throttle(FAR)",
                "ops.throttle(FAR, mode='latest')",
                "ops.debounce(FAR)",
            )
        ),
    ],
)
def test_bench_instruction_cases_run(case: str, count: str) -> None:
    # What `python -m bench.instructions` runs under callgrind, briefly and without it; an
    # operator case fails unless its source ran to the end and items came out.
    result = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--run", case, count],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_bench_refuses_a_stack_whose_modules_are_missing_before_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("uvloop", "httptools") else real(name, *a)
    )
    with pytest.raises(SystemExit, match=r"need uvloop and httptools: `make bench` installs them"):
        cli.main(["--stacks", "uvloop", "--repetitions", "1", "--no-pin"])
