"""The demo app, and the `typedsse demo` command that serves it."""

from __future__ import annotations

import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from typedsse import Decoder, ServerSentMessage
from typedsse.cli import main
from typedsse.demo.app import EXAMPLES, app

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(live_server: Callable[..., Any]) -> Iterator[httpx.Client]:
    # Older FastAPI (0.118, the lowest supported, among them) adds the mount's prefix to a
    # mounted app's own `servers` when it serves that app's /openapi.json, and keeps the document
    # it built then: the example apps, shared with the other tests, would carry `/echo` as their
    # server (and their generated clients that path) for the rest of the run. Each is put back.
    saved = [(example, list(example.servers), example.openapi_schema) for example in EXAMPLES.values()]
    try:
        with httpx.Client(base_url=live_server(app).url, timeout=10) as client:
            yield client
    finally:
        for example, servers, schema in saved:
            example.servers[:] = servers
            example.openapi_schema = schema


def read_stream(
    client: httpx.Client, method: str, url: str, **kwargs: Any
) -> tuple[httpx.Response, list[ServerSentMessage]]:
    decoder = Decoder()
    with client.stream(method, url, **kwargs) as response:
        messages = [message for chunk in response.iter_bytes() for message in decoder.feed(chunk)]
    return response, [*messages, *decoder.close()]


def test_demo_serves_the_page_and_its_assets(client: httpx.Client) -> None:
    page = client.get("/")
    script = client.get("/static/demo.js")
    parser = client.get("/static/sse.js")
    style = client.get("/static/demo.css")

    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>typedsse demo</title>" in page.text
    assert '<script type="module" src="/static/demo.js"></script>' in page.text
    assert (script.status_code, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert 'import { readEventStream } from "./sse.js";' in script.text
    assert "new EventSource(url)" in script.text
    assert (parser.status_code, style.status_code) == (200, 200)
    assert style.headers["content-type"] == "text/css; charset=utf-8"


def test_demo_page_uses_no_external_resources(client: httpx.Client) -> None:
    texts = [client.get(path).text for path in ["/", "/static/demo.js", "/static/sse.js", "/static/demo.css"]]

    for text in texts:
        assert "http://" not in text
        assert "https://" not in text
        assert "//cdn" not in text


def test_demo_lists_its_streams_with_the_events_their_endpoints_declare(client: httpx.Client) -> None:
    streams = client.get("/api/streams").json()

    assert [(s["key"], s["method"], s["url"], s["events"], s["final"]) for s in streams] == [
        (
            "echo",
            "GET",
            "/echo/echo?message=hello&count=6&per_connection=2",
            ["echo", "reverse_echo", "typedsse.error"],
            ["typedsse.error"],
        ),
        ("chat", "POST", "/chat/chat", ["token", "message", "done", "typedsse.error"], ["done", "typedsse.error"]),
        (
            "progress",
            "GET",
            "/progress/jobs/42",
            ["job.progress", "job.result", "job.failed", "typedsse.error"],
            ["job.result", "job.failed", "typedsse.error"],
        ),
        (
            "progress-failure",
            "GET",
            "/progress/jobs/43/blocking?fail_at=validate",
            ["job.progress", "job.result", "job.failed", "typedsse.error"],
            ["job.result", "job.failed", "typedsse.error"],
        ),
    ]
    assert json.loads(streams[1]["body"]) == {
        "messages": [{"role": "user", "content": "Tell me about server-sent events"}]
    }


EXPECTED = {
    "echo": [("echo", "0"), ("reverse_echo", "1")],  # the first response; the client resumes for the rest
    "chat": [("token", "")] * 26 + [("message", ""), ("done", "")],
    "progress": [("job.progress", "")] * 4 + [("job.result", "")],
    "progress-failure": [("job.progress", "")] * 3 + [("job.failed", "")],
}


def test_demo_serves_every_stream_it_lists(client: httpx.Client) -> None:
    streams = client.get("/api/streams").json()
    assert [stream["key"] for stream in streams] == list(EXPECTED)

    for stream in streams:
        body = stream["body"].encode() if stream["body"] is not None else None
        headers = {"content-type": "application/json"} if body is not None else {}
        response, messages = read_stream(client, stream["method"], stream["url"], content=body, headers=headers)

        assert response.status_code == 200, stream["key"]
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert [(message.event, message.id) for message in messages] == EXPECTED[stream["key"]], stream["key"]
        assert {message.event for message in messages} <= set(stream["events"])
        if stream["final"] != ["typedsse.error"]:
            assert messages[-1].event in stream["final"]


@pytest.mark.parametrize(
    ("prefix", "path"), [("echo", "/echo"), ("chat", "/chat"), ("progress", "/jobs/{job_id}/blocking")]
)
def test_demo_mounts_each_example_with_its_own_api_docs(client: httpx.Client, prefix: str, path: str) -> None:
    schema = client.get(f"/{prefix}/openapi.json")
    docs = client.get(f"/{prefix}/docs")

    assert schema.status_code == 200
    assert path in schema.json()["paths"]
    assert docs.status_code == 200


# --- the `typedsse demo` command --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def read_line(process: subprocess.Popen[str], timeout: float) -> str:
    """Return the next line the process prints, failing after `timeout` seconds."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            pytest.fail(f"the demo printed nothing in {timeout}s")
    return process.stdout.readline()


@pytest.fixture
def demo_command(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start `python -m typedsse demo ...` away from the checkout; kill what is still running after the test."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "typedsse", "demo", *args],
            cwd=tmp_path,  # the command finds the examples next to the package, not in the working directory
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_demo_command_serves_the_page_and_stops_on_sigint(
    demo_command: Callable[..., subprocess.Popen[str]],
) -> None:
    port = free_port()
    process = demo_command("--port", str(port))

    line = read_line(process, timeout=20)

    url = f"http://127.0.0.1:{port}"
    assert line == f"typedsse demo: {url}  (Ctrl-C to stop)\n"
    with httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "<title>typedsse demo</title>" in page.text
        # An open stream must not hold the shutdown for longer than its grace period.
        with client.stream("GET", "/echo/echo", params={"message": "hi", "count": 1000}) as response:
            decoder = Decoder()
            first: list[ServerSentMessage] = []
            chunks = response.iter_bytes()
            while not first:
                first = decoder.feed(next(chunks))
            assert (first[0].event, first[0].id) == ("echo", "0")

            process.send_signal(signal.SIGINT)
            started = time.monotonic()
            process.wait(timeout=15)
            elapsed = time.monotonic() - started

    assert process.returncode == 0
    assert elapsed < 8  # a 2 s grace period for open streams, then a prompt exit
    assert process.stderr is not None
    assert "Finished server process" in process.stderr.read()


def test_demo_command_fails_cleanly_when_the_port_is_taken(
    demo_command: Callable[..., subprocess.Popen[str]],
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = demo_command("--port", str(taken.getsockname()[1]))
        stdout, stderr = process.communicate(timeout=30)

    assert process.returncode != 0
    assert stdout == ""
    assert "address already in use" in stderr.lower()
    assert "Traceback" not in stderr


@pytest.fixture
def installed(tmp_path: Path) -> dict[str, str]:
    """The environment of a package installed from the clone (`pip install .`): a copy, away from the examples."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "typedsse", site / "typedsse", ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(site), "PYTHONUNBUFFERED": "1"}


def test_demo_command_of_a_package_installed_from_the_clone_serves_in_the_clone(
    installed: dict[str, str], tmp_path: Path
) -> None:
    # `pip install .` then `typedsse demo` in the clone, as the install docs lead to: the
    # package's folder holds no examples, the working directory does. It was refused with
    # "run it from a source checkout", from one. (`-P`: the clone is not on the path, as for
    # the installed `typedsse` command.)
    command = [sys.executable, "-P", "-m", "typedsse", "demo"]
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env=installed,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert read_line(process, timeout=20) == f"typedsse demo: http://127.0.0.1:{port}  (Ctrl-C to stop)\n"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert "<title>typedsse demo</title>" in client.get("/").text
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)

    elsewhere = subprocess.run(command, cwd=tmp_path, env=installed, capture_output=True, text=True, timeout=30)
    assert (elsewhere.returncode, elsewhere.stdout, elsewhere.stderr) == (
        1,
        "",
        "error: the demo serves the examples of the typedsse repository; run it in a clone of it "
        "(the folder holding examples/)\n",
    )


@pytest.mark.parametrize(
    ("port", "error"), [("70000", "70000 is not a port number (0 to 65535)"), ("x", "'x' is not a port number")]
)
def test_demo_command_refuses_a_port_that_is_not_one(port: str, error: str, capsys: pytest.CaptureFixture[str]) -> None:
    # `--port 70000` went as far as binding, and failed with a traceback.
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--port", port])
    assert exited.value.code == 2
    assert capsys.readouterr().err.endswith(f"typedsse demo: error: argument --port: {error}\n")
