"""A server variant in its own process: start it, find its port, read its CPU time, stop it."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from bench.client import BenchError
from bench.system import process_cpu_seconds

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Stack:
    """How a server runs: uvicorn's event loop and HTTP parser, and CPython's memory allocator.

    `allocator` is `PYTHONMALLOC` for the server process: `pymalloc` (CPython's default, small
    objects in 1 MiB arenas) or `malloc` (every object from the C library's allocator). On the
    `malloc` stacks the scenarios that read memory also ask the server to hand free pages back
    to the system (`malloc_trim`) after its garbage collection, as a deployment would do
    periodically; see the performance page.
    """

    name: str
    loop: str
    http: str
    allocator: str = "pymalloc"

    @property
    def trims(self) -> bool:
        """Whether memory readings on this stack first return free heap pages to the system."""
        return self.allocator == "malloc"


STACKS: dict[str, Stack] = {
    "asyncio": Stack("asyncio", loop="asyncio", http="h11"),
    "uvloop": Stack("uvloop", loop="uvloop", http="httptools"),
    "asyncio+malloc": Stack("asyncio+malloc", loop="asyncio", http="h11", allocator="malloc"),
    "uvloop+malloc": Stack("uvloop+malloc", loop="uvloop", http="httptools", allocator="malloc"),
}
"""Every stack the suite can measure, by name."""

DEFAULT_STACKS: tuple[str, ...] = ("asyncio", "uvloop")
"""The stacks a full run measures: pure Python (asyncio + h11), and uvloop + httptools."""


class ServerProcess:
    """`python -m bench.serve VARIANT` as a context manager; `port` is known once entered.

    `cores` is then the CPU cores the server process may run on, as it reported them after
    pinning itself: `[core]` when the pinning took, more (or others) when it did not.
    """

    def __init__(self, variant: str, stack: Stack, *, core: int | None = None, profile: Path | None = None) -> None:
        self.variant = variant
        self.stack = stack
        self.core = core
        self.profile = profile
        self.port = 0
        self.cores: list[int] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (the server writes to it until __exit__)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """Return the CPU seconds (user + system) the server has used so far."""
        return process_cpu_seconds(self.pid)

    def __enter__(self) -> ServerProcess:
        command = [
            sys.executable,
            "-m",
            "bench.serve",
            self.variant,
            "--loop",
            self.stack.loop,
            "--http",
            self.stack.http,
        ]
        if self.core is not None:
            command += ["--core", str(self.core)]
        if self.profile is not None:
            command += ["--profile", str(self.profile)]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONMALLOC": self.stack.allocator,
        }
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._log, cwd=ROOT, env=env)
        try:
            self.port, self.cores = self._read_port(timeout=30.0)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _read_port(self, timeout: float) -> tuple[int, list[int]]:
        assert self.process is not None
        assert self.process.stdout is not None
        stdout = self.process.stdout
        deadline = time.monotonic() + timeout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise BenchError(f"the {self.variant} server did not start:\n{self.log()}")
            ready, _, _ = select.select([stdout], [], [], remaining)
            if ready:
                chunk = os.read(stdout.fileno(), 256)
                if not chunk:
                    raise BenchError(f"the {self.variant} server exited:\n{self.log()}")
                line += chunk
        match line.split():
            case [b"PORT", port, b"CORES", cores]:
                return int(port), [int(core) for core in cores.split(b",")]
            case _:
                raise BenchError(f"the {self.variant} server said {line!r}")

    def log(self) -> str:
        """Return what the server wrote on stderr so far (its last 4 KB)."""
        self._log.seek(0)
        return self._log.read()[-4096:].decode(errors="replace")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            if self.profile is not None:
                # A graceful stop, so the profiler's stats get written.
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
            else:
                process.kill()
            process.wait()
        if process is not None and process.stdout is not None:
            process.stdout.close()
        self._log.close()
