"""Run an app on a real ASGI server on 127.0.0.1: uvicorn or Hypercorn in a thread, Granian or uvicorn as a command.

Every server has the same surface: enter it to start it (it is ready once its port accepts a
connection), `url` and `port` to reach it, `stop()` to shut it down gracefully, which returns
whether it stopped within its bound. Leaving the `with` block stops it if a test has not, and
kills what did not stop: no server outlives its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config as HypercornConfig

GRACEFUL = 1.0
"""Seconds every server gives open requests at shutdown before it cancels (or drops) them."""

START_TIMEOUT = 20.0
"""Seconds a server may take to accept connections; a command imports Python and the app first."""

STOP_TIMEOUT = GRACEFUL + 5.0
"""Seconds a server may take to stop: its graceful timeout, and then some."""


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _free_port() -> int:
    """A port nothing listens on, for a server that binds it itself."""
    with _listening_socket() as sock:
        port: int = sock.getsockname()[1]
        return port


def _running(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def wait_for_port(port: int, deadline: float, alive: Callable[[], bool] | None = None) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline or (alive is not None and not alive()):
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port}") from None
            time.sleep(0.02)


class Server:
    """What every server offers a test."""

    name = "server"

    def __init__(self) -> None:
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> bool:
        """Shut the server down gracefully; whether it stopped within `STOP_TIMEOUT`."""
        raise NotImplementedError

    def kill(self) -> None:
        """Stop what `stop` did not."""

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.kill()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()


class UvicornServer(Server):
    """uvicorn in a thread of the test process, with `timeout_graceful_shutdown=GRACEFUL`.

    On the asyncio loop with h11 (pure Python), or with `standard` on uvloop with httptools, what
    `pip install 'uvicorn[standard]'` runs: named, not left to uvicorn's choice of what is installed.
    """

    name = "uvicorn"

    def __init__(self, app: Any, *, standard: bool = False) -> None:
        super().__init__()
        self.name = "uvicorn-standard" if standard else "uvicorn"
        self.sock = _listening_socket()
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_level="warning",
            timeout_graceful_shutdown=GRACEFUL,
            loop="uvloop" if standard else "asyncio",
            http="httptools" if standard else "h11",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def start(self) -> None:
        self.thread.start()
        wait_for_port(self.port, time.monotonic() + START_TIMEOUT, self.thread.is_alive)

    def stop(self) -> bool:
        self.server.should_exit = True
        self.thread.join(timeout=STOP_TIMEOUT)
        return not self.thread.is_alive()

    def kill(self) -> None:
        self.server.force_exit = True
        self.thread.join(timeout=STOP_TIMEOUT)
        self.sock.close()


class HypercornServer(Server):
    """Hypercorn's asyncio `serve()` in a thread of the test process, with `graceful_timeout=GRACEFUL`.

    It serves HTTP/1.1 and, on the same plain-text port, HTTP/2 to a client that starts with
    the HTTP/2 preface (h2c with prior knowledge).
    """

    name = "hypercorn"

    def __init__(self, app: Any) -> None:
        super().__init__()
        sock = _listening_socket()
        self.port = sock.getsockname()[1]
        config = HypercornConfig()
        # Hypercorn takes the socket over by its descriptor: no window in which another
        # process could take the port.
        config.bind = [f"fd://{sock.detach()}"]
        config.graceful_timeout = GRACEFUL
        config.accesslog = None
        config.errorlog = logging.getLogger("hypercorn.error")  # to the test's log capture
        self.app, self.config = app, config
        self.loop: asyncio.AbstractEventLoop | None = None
        self.shutdown: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.shutdown = asyncio.Event()
            self.ready.set()
            await hypercorn_serve(self.app, self.config, shutdown_trigger=self.shutdown.wait, mode="asgi")

        asyncio.run(main())

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(START_TIMEOUT):
            raise RuntimeError("hypercorn did not start")
        wait_for_port(self.port, time.monotonic() + START_TIMEOUT, self.thread.is_alive)

    def stop(self) -> bool:
        loop, shutdown = self.loop, self.shutdown
        if loop is not None and shutdown is not None and self.thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop has closed meanwhile
                loop.call_soon_threadsafe(shutdown.set)
        self.thread.join(timeout=STOP_TIMEOUT)
        return not self.thread.is_alive()

    def kill(self) -> None:
        # Hypercorn has no forced exit: once its graceful timeout has passed it returns by
        # itself; a thread still alive here is a daemon and cannot outlive the test process.
        self.thread.join(timeout=STOP_TIMEOUT)


class CommandServer(Server):
    """A server started as a command in a process (and session) of its own, serving a factory from tests/.

    The app comes from a module the command imports, configured through the environment;
    `stop()` sends SIGTERM, as `docker stop` and Kubernetes do.
    """

    def __init__(self, target: str, *, env: dict[str, str]) -> None:
        super().__init__()
        self.target = target
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.ended: int | None = None
        self.log = b""

    def command(self) -> list[str]:
        """The command that serves `target` on 127.0.0.1:`port`."""
        raise NotImplementedError

    @property
    def returncode(self) -> int | None:
        """How the process ended (negative: the signal that ended it), or None while it runs."""
        return self.ended if self.process is None else self.process.poll()

    def start(self) -> None:
        for _ in range(3):  # the port is chosen before the server binds it: retry if it was taken meanwhile
            self.port = _free_port()
            env = {**os.environ, **self.env, "PYTHONPATH": str(Path(__file__).parent)}
            self.process = subprocess.Popen(
                self.command(), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
            )
            try:
                wait_for_port(self.port, time.monotonic() + START_TIMEOUT, functools.partial(_running, self.process))
                return
            except RuntimeError:
                self.kill()
        raise RuntimeError(f"{self.name} did not start: {self.log.decode(errors='replace')}")

    def stop(self) -> bool:
        process = self.process
        if process is None:
            return True
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            # The whole session: a worker process too, should the main process be gone.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            out, _ = process.communicate(timeout=STOP_TIMEOUT)
            self.log += out or b""
        self.ended = process.returncode


class GranianServer(CommandServer):
    """Granian as a command (`granian --interface asgi`), one worker.

    Granian's server is Rust and runs the app in a worker process. `--http auto` serves
    HTTP/1.1 and h2c with prior knowledge on the same port; `--workers-kill-timeout` bounds a
    shutdown.
    """

    name = "granian"

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "granian", "--interface", "asgi", "--factory"),
            *("--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"),
            *("--http", "auto", "--no-ws", "--log-level", "warning"),
            *("--workers-kill-timeout", str(int(GRACEFUL))),
            self.target,
        ]


class UvicornCommand(CommandServer):
    """uvicorn as a command (`python -m uvicorn --factory`), as deployed: it handles the signals itself.

    On a signal, uvicorn shuts down (`--timeout-graceful-shutdown`), runs the lifespan's
    shutdown, then raises the signal again, so that the process ends the way the signal says.
    """

    name = "uvicorn-command"

    def __init__(self, target: str, *, env: dict[str, str], standard: bool = False) -> None:
        super().__init__(target, env=env)
        self.standard = standard

    def command(self) -> list[str]:
        loop, http = ("uvloop", "httptools") if self.standard else ("asyncio", "h11")
        return [
            *(sys.executable, "-m", "uvicorn", "--factory", "--host", "127.0.0.1", "--port", str(self.port)),
            *("--loop", loop, "--http", http, "--log-level", "warning"),
            *("--timeout-graceful-shutdown", str(int(GRACEFUL))),
            self.target,
        ]
