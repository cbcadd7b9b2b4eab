"""Shared fixtures: a real uvicorn server on 127.0.0.1, and real Chromium driven by Playwright."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import importlib.metadata
import os
import shutil
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import uvicorn
from aiostream.test_utils import TimeTrackingTestLoop
from packaging.version import Version

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def installed_before(distribution: str, version: str) -> bool:
    """Whether the installed `distribution` is older than `version` (the suite also runs on the lower bounds)."""
    return Version(importlib.metadata.version(distribution)) < Version(version)


class GarbageWatch:
    """Lists the types of what a block leaves for the garbage collector (reference cycles).

    Collects first, runs the block with the collector off, then collects with every freed object
    saved. Only objects made inside the block count: a cache another library keeps (Pydantic's
    of parametrised generic classes, say) may drop an older entry meanwhile, which a collection
    would then free, and that is nothing the block left behind. So every object the collector
    tracks is held while the block runs: none of them can become garbage, and none can be freed
    and have its address taken by a new one (which a set of ids would then mistake for old).
    """

    def __init__(self) -> None:
        self.garbage: list[str] = []
        self._held: list[object] = []
        self._enabled = True

    def __enter__(self) -> GarbageWatch:
        gc.collect()
        self._enabled = gc.isenabled()
        gc.disable()
        self._held = gc.get_objects()
        return self

    def __exit__(self, *exc_info: object) -> None:
        flags = gc.get_debug()
        gc.set_debug(flags | gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            self.garbage = sorted({type(o).__qualname__ for o in gc.garbage})
        finally:
            gc.garbage.clear()
            gc.set_debug(flags)
            self._held = []
            if self._enabled:
                gc.enable()


class EarlyTimersLoop(TimeTrackingTestLoop):
    """A virtual clock whose timers fire as uvloop's do: their delay rounded to the millisecond.

    So a timer may fire up to half a millisecond before the time it was set for, and one set
    for less than that runs at the next turn, as `call_soon` would run it. The clock moves on a
    microsecond with each such timer, as a real one does while the loop spins. `timers` counts
    the timers set.
    """

    def __init__(self) -> None:
        super().__init__()
        self.timers = 0

    def call_at(self, when: float, callback: Callable[..., None], *args: Any, **kwargs: Any) -> asyncio.TimerHandle:  # type: ignore[override]
        self.timers += 1
        delay = round((when - self.time()) * 1000) / 1000
        if delay > 0:
            return super().call_at(self.time() + delay, callback, *args, **kwargs)
        self.advance_time(1e-6)
        return cast(asyncio.TimerHandle, self.call_soon(callback, *args, **kwargs))


def eager_task_factory(
    loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any], **options: Any
) -> asyncio.Task[Any]:
    """A task factory whose tasks run their first step as they are created: Python 3.12's own.

    Before 3.12 (no `asyncio.eager_task_factory`), a stand-in: the first step runs in the
    task's context at creation, and the task goes on from what that step waits for.
    """
    if sys.version_info >= (3, 12):
        return asyncio.eager_task_factory(loop, coro, **options)
    context = options.pop("context", None)
    if context is None:
        context = contextvars.copy_context()
    try:
        waiting = context.run(coro.send, None)
    except BaseException as ended:  # a `StopIteration` too: done in one step
        return asyncio.Task(_ended(ended), loop=loop, context=context, **options)
    return asyncio.Task(_resumed(coro, waiting), loop=loop, context=context, **options)


async def _ended(outcome: BaseException) -> Any:
    if isinstance(outcome, StopIteration):
        return outcome.value
    raise outcome


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, Any], waiting: Any) -> Generator[Any, Any, Any]:
    # Hands the task what the coroutine waits for, and the coroutine what the task got back.
    while True:
        try:
            outcome = yield waiting
        except BaseException as error:
            step = functools.partial(coro.throw, error)
        else:
            step = functools.partial(coro.send, outcome)
        try:
            waiting = step()
        except StopIteration as stop:
            return stop.value


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class LiveServer:
    """A uvicorn server in a background thread, bound to a free port on 127.0.0.1."""

    def __init__(self, app: Any, **config: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # The asyncio loop and h11, named: left to uvicorn, the choice would follow what happens to be
        # installed (uvloop and httptools come with the dev extra; tests/test_servers.py runs them).
        options: dict[str, Any] = {
            "log_level": "warning",
            "timeout_graceful_shutdown": 1,
            "lifespan": "off",
            "loop": "asyncio",
            "http": "h11",
        }
        options.update(config)
        self.server = uvicorn.Server(uvicorn.Config(app, **options))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture
def live_server() -> Iterator[Callable[..., LiveServer]]:
    """Start apps on real uvicorn servers; every server started is stopped after the test."""
    with contextlib.ExitStack() as stack:

        def start(app: Any, **config: Any) -> LiveServer:
            return stack.enter_context(LiveServer(app, **config))

        yield start


Serve = Callable[[Any], httpx.Client]
"""Start an app on a real server and return an HTTP client bound to it."""


@pytest.fixture
def serve(live_server: Callable[..., LiveServer]) -> Iterator[Serve]:
    """Serve apps on uvicorn and return an HTTP client for each; all are closed after the test."""
    with contextlib.ExitStack() as stack:

        def start(app: Any) -> httpx.Client:
            return stack.enter_context(httpx.Client(base_url=live_server(app).url, timeout=10))

        yield start


def _require(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: browser tests must run; `make test` installs chromium)")
    pytest.skip(f"SKIPPED LOUDLY: {reason}; run `make test` as root to install Debian's chromium")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless Debian Chromium, launched through Playwright (never a downloaded browser).

    Module-scoped: Playwright's sync API keeps an event loop running in the main thread while
    it is open, which would break the async tests of later modules.
    """
    if CHROMIUM is None:
        _require("Debian's chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _require("the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """A folder for a test's output (screenshots), under test-results/."""
    folder = Path(__file__).parent.parent / "test-results" / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
