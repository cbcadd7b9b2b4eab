"""Profile one variant's server under one scenario with cProfile (`python -m bench --profile VARIANT`)."""

from __future__ import annotations

import asyncio
import io
import pstats
import tempfile
from pathlib import Path

from bench.process import STACKS, ServerProcess
from bench.scenarios import SCENARIOS, Metrics, Sizes


def profile(
    variant: str, *, scenario: str, stack: str, sizes: Sizes, core: int | None, top: int = 40
) -> tuple[Metrics, str]:
    """Run `scenario` once against a profiled `variant` server; return its figures and the profile text.

    The figures are slowed down by the profiler; read the profile for where the time goes, not
    for how much there is.
    """
    with tempfile.TemporaryDirectory() as folder:
        stats_path = Path(folder) / "server.prof"
        with ServerProcess(variant, STACKS[stack], core=core, profile=stats_path) as server:
            metrics = asyncio.run(SCENARIOS[scenario](server, sizes))
        text = io.StringIO()
        stats = pstats.Stats(str(stats_path), stream=text)
        stats.strip_dirs()
        text.write(f"# {variant}, {scenario}, {stack}: sorted by own time\n")
        stats.sort_stats("tottime").print_stats(top)
        text.write(f"# {variant}, {scenario}, {stack}: sorted by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(top)
    return metrics, text.getvalue()
