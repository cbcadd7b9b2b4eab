"""The benchmark harness in its smoke mode: every variant, every scenario, tiny loads.

Benchmarks are not tests: nothing here looks at a timing. These tests only keep the harness
from rotting: the servers start, every scenario completes on every variant, and the results
are written in the documented shape.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import cli

ROOT = Path(__file__).resolve().parent.parent
# The `fastapi` variant is FastAPI's own SSE (`fastapi.sse`, FastAPI 0.135+): on an older FastAPI
# the smoke run leaves it out and measures the others.
NATIVE_SSE = importlib.util.find_spec("fastapi.sse") is not None
VARIANTS = ["raw", "typedsse", "sse-starlette", *(["fastapi"] if NATIVE_SSE else [])]
SCENARIOS = ["throughput_1", "throughput_100", "latency", "pipeline", "disconnect", "idle"]
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


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=55,
        check=False,
    )


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench")
    result = _bench("--variants", ",".join(VARIANTS), "--out", str(out))
    assert result.returncode == 0, result.stderr
    document = json.loads((out / "smoke.json").read_text(encoding="utf-8"))
    return document, (out / "smoke.md").read_text(encoding="utf-8")


def test_bench_smoke_measures_every_scenario_on_every_variant(smoke_run: tuple[dict[str, Any], str]) -> None:
    document, _ = smoke_run
    records = document["records"]
    assert sorted((r["scenario"], r["variant"]) for r in records) == sorted(
        (scenario, variant) for scenario in SCENARIOS for variant in VARIANTS
    )
    assert [r for r in records if r["error"] is not None] == []
    for record in records:
        assert set(record["metrics"]) == METRICS[record["scenario"]], record


def test_bench_smoke_summarises_with_ratios_to_raw(smoke_run: tuple[dict[str, Any], str]) -> None:
    document, _ = smoke_run
    summary = document["summary"]["asyncio"]
    assert set(summary) == set(SCENARIOS)
    events = summary["throughput_1"]["raw"]["events_per_s"]
    assert events["ratio_to_raw"] == 1.0
    assert events["median"] == events["values"][0]
    assert {t["target"] for t in document["targets"]} >= {
        "1 connection: events/s >= 1.0x raw",
        "latency p99 <= 1.2x raw",
        "abrupt disconnect: zero tasks left",
    }


def test_bench_smoke_records_the_machine(smoke_run: tuple[dict[str, Any], str]) -> None:
    document, _ = smoke_run
    machine = document["machine"]
    assert {"cpu", "cores", "kernel", "python", "packages"} <= set(machine)
    assert machine["packages"]["typedsse"] is not None
    assert len(document["load_average"]["start"]) == 3
    assert len(document["typedsse_source"]["start"]) == 12


def test_bench_smoke_writes_a_markdown_table(smoke_run: tuple[dict[str, Any], str]) -> None:
    _, text = smoke_run
    assert text.startswith("# Benchmark results\n")
    assert "## asyncio loop + h11" in text
    assert "| **typedsse** |" in text
    assert "| raw `StreamingResponse` (floor) |" in text
    assert "Targets for typedsse:" in text


def test_bench_malloc_stack_trims_and_names_its_results(tmp_path: Path) -> None:
    # On a `+malloc` stack the servers run with PYTHONMALLOC=malloc and the memory readings
    # trim first; the heap-block figure, which only CPython's own allocator keeps, is left out
    # and its target reads as not measured rather than missed.
    result = _bench(
        "--stacks", "asyncio+malloc", "--scenarios", "disconnect", "--variants", "raw,typedsse", "--out", str(tmp_path)
    )
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
        timeout=55,
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
        timeout=55,
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
