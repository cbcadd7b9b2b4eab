"""The machine: core pinning, file descriptor limits, process CPU time, and what to record about it."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = (
    "typedsse",
    "fastapi",
    "starlette",
    "sse-starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "h11",
    "pydantic",
    "pydantic-core",
    "anyio",
    "aiostream",
)
"""The packages whose versions a result depends on."""

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def steal_seconds() -> float:
    """Return the CPU time the hypervisor has taken from this machine since boot (all cores).

    On a virtual machine, a burst of steal stalls both server and client for milliseconds:
    the latency and disconnect scenarios record it next to their figures.
    """
    with open("/proc/stat", encoding="ascii") as stat:
        fields = stat.readline().split()
    return int(fields[8]) / _CLOCK_TICKS if len(fields) > 8 else 0.0


def available_cores() -> list[int]:
    """Return the CPU cores this process may run on."""
    return sorted(os.sched_getaffinity(0))


def pin_to_core(core: int) -> bool:
    """Pin this process to `core`; return whether it now runs on that core alone.

    False when the core does not exist or is outside this process's cpuset (nothing changes
    then): callers report it, since figures from an unpinned server and client compete for
    the same cores and are not comparable with pinned ones.
    """
    try:
        os.sched_setaffinity(0, {core})
    except (OSError, ValueError):
        return False
    return available_cores() == [core]


def raise_open_files_limit(wanted: int = 65536) -> int:
    """Raise the soft limit on open files towards `wanted` (at most the hard limit); return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def process_cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds process `pid` has used, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as stat:
        raw = stat.read()
    # The command name (field 2) may contain spaces; the fields after it are space separated.
    fields = raw[raw.rindex(b")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / _CLOCK_TICKS


def load_average() -> list[float]:
    """Return the 1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_total() -> int | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def source_digest(package: str = "typedsse") -> str:
    """Return a short digest of `package`'s Python sources, to tell which code a run measured."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return "unknown"
    digest = hashlib.sha256()
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).rglob("*.py")):
            digest.update(path.relative_to(folder).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def machine_info(cores_available: list[int] | None = None) -> dict[str, Any]:
    """Describe the machine and software a run measured.

    `cores_available` is the cores the run could use, read before the client pinned itself
    (after pinning, this process sees only its own core); by default, the current affinity.
    """
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": available_cores() if cores_available is None else list(cores_available),
        "memory_bytes": _memory_total(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "executable": sys.executable,
        "packages": {name: _version(name) for name in PACKAGES},
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }
