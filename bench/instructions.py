"""Machine instructions per event in a broadcast burst, counted by valgrind's callgrind.

`python -m bench.instructions` runs each case below in a fresh interpreter under callgrind,
twice (with `SHORT` and `LONG` bursts), and reports the difference divided by the extra
events: start-up and imports cancel out, and what is left is the cost of one event through
the whole path, from the generator's wake-up to the ASGI `send`. Instructions, not seconds:
the count is the same on a busy machine and a quiet one, so a change of a few percent shows.

Every case serves `STREAMS` streams on one asyncio loop; all their events fall due at the same
moment (one future per burst, set by the driver), as in the latency scenario's broadcast. The
ASGI `send` does nothing: the HTTP server and the socket are out of the picture.

- `raw`: Starlette's `StreamingResponse` of hand-formatted frames (the payload built, then
  serialised by its Rust serializer);
- `typedsse`: `EventStreamResponse` over `Tick(data=Reading(...), id=...)`, built per event;
- `typedsse-prebuilt`: the same response yielding one prebuilt event (the payload is still
  built per event, as in `raw`): the response's own cost, without the event's validation.

`python -m bench.instructions --run CASE BURSTS` is one run (what callgrind measures); the
test suite runs it briefly so this file cannot rot.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "instructions.md"
STREAMS = 50
SHORT, LONG = 20, 120
CASES = ("raw", "typedsse", "typedsse-prebuilt")


async def _burst(case: str, bursts: int) -> None:
    from starlette.responses import Response, StreamingResponse

    from bench.servers.common import stamped
    from bench.servers.raw import _HEAD, _to_json
    from bench.servers.typed import Tick
    from typedsse.responses import EventStreamResponse

    loop = asyncio.get_running_loop()
    due = [loop.create_future() for _ in range(bursts)]
    prebuilt = Tick(data=stamped(0, 0.0), id="0")

    async def typed_events() -> AsyncIterator[Tick]:
        for i in range(bursts):
            await due[i]
            yield Tick(data=stamped(i, 0.0), id=str(i))

    async def prebuilt_events() -> AsyncIterator[Tick]:
        for i in range(bursts):
            await due[i]
            stamped(i, 0.0)
            yield prebuilt

    async def raw_frames() -> AsyncIterator[bytes]:
        for i in range(bursts):
            await due[i]
            yield _HEAD % (i, _to_json(stamped(i, 0.0)))

    makers: dict[str, Callable[[], Response]] = {
        "raw": lambda: StreamingResponse(raw_frames(), media_type="text/event-stream"),
        "typedsse": lambda: EventStreamResponse(typed_events()),
        "typedsse-prebuilt": lambda: EventStreamResponse(prebuilt_events()),
    }

    async def receive() -> dict[str, Any]:
        await loop.create_future()  # the client never leaves
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "asgi": {"spec_version": "2.4"}}
    streams = [loop.create_task(makers[case]()(scope, receive, send)) for _ in range(STREAMS)]
    for burst in due:
        for _ in range(5):
            await asyncio.sleep(0)  # every stream is parked on the next due time
        burst.set_result(None)
    await asyncio.gather(*streams)


def _count(case: str, bursts: int, valgrind: str) -> int:
    command = [
        valgrind,
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-m",
        "bench.instructions",
        "--run",
        case,
        str(bursts),
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    for line in result.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1])
    raise RuntimeError(f"callgrind reported no count:\n{result.stderr[-2000:]}")


def measure(valgrind: str) -> dict[str, int]:
    """Return the instructions per event of every case."""
    extra_events = (LONG - SHORT) * STREAMS
    return {case: (_count(case, LONG, valgrind) - _count(case, SHORT, valgrind)) // extra_events for case in CASES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", nargs=2, metavar=("CASE", "BURSTS"), help="one run of CASE (what callgrind counts)")
    args = parser.parse_args(argv)
    if args.run:
        case, bursts = args.run
        if case not in CASES:
            parser.error(f"CASE must be one of {', '.join(CASES)}")
        asyncio.run(_burst(case, int(bursts)))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is needed: apt-get install valgrind", file=sys.stderr)
        return 2
    counts = measure(valgrind)
    text = report(counts, subprocess.run([valgrind, "--version"], capture_output=True, text=True).stdout.strip())
    RESULTS.write_text(text, encoding="utf-8")
    print(text, end="")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


def report(counts: dict[str, int], valgrind_version: str) -> str:
    """Return the markdown report of one measurement."""
    from bench.system import machine_info, source_digest

    machine = machine_info()
    versions = ", ".join(f"{name} {version}" for name, version in machine["packages"].items() if version)
    lines = [
        "# Instructions per event in a broadcast burst",
        "",
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%dT%H:%M:%S%z}: `python -m bench.instructions`, "
        f"{STREAMS} streams with every event due at once, callgrind ({valgrind_version}), "
        f"{machine['python']} on {machine['cpu']} ({machine['kernel']}).",
        "",
        f"typedsse sources: digest `{source_digest()}`. Packages: {versions}.",
        "",
        "| case | instructions / event | x raw |",
        "| --- | ---: | ---: |",
        *(f"| {case} | {count:,} | {count / counts['raw']:.2f}x |" for case, count in counts.items()),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
