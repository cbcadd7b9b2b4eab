"""Machine instructions per event in a broadcast burst, and per item through an operator,
counted by valgrind's callgrind.

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

The operator cases pull `OPERATOR_SHORT` or `OPERATOR_LONG` items (one prebuilt `Tick`,
yielded by an async generator that never waits: the fast source that operators exist to tame)
through one operator, and report instructions per item. Windows and deadlines are `FAR` in the
future, so none ends during a run and the count does not depend on the machine's speed: what
is counted is the path every item takes while a window is open (the throttles keep or drop
it, `debounce` replaces the waiting item, `chunk` batches it). Where aiostream has the same
operator, it is measured beside ours.

`python -m bench.instructions --run CASE COUNT` is one run (what callgrind measures); the
test suite runs every case briefly so this file cannot rot.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import shutil
import subprocess
import sys
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "instructions.md"
STREAMS = 50
SHORT, LONG = 20, 120
CASES = ("raw", "typedsse", "typedsse-prebuilt")

OPERATOR_SHORT, OPERATOR_LONG = 2_000, 12_000
FAR = 1e6
"""Seconds: the operators' windows and deadlines, which no run lives to see end."""
OPERATOR_CASES: dict[str, str | None] = {
    # case: the case it is compared with (aiostream's operator doing the same), if any
    "source alone": None,
    "aiostream merge": None,
    "ops.merge": "aiostream merge",
    "aiostream chunks(100)": None,
    "ops.chunk(size=100)": "aiostream chunks(100)",
    "ops.chunk(size=100, interval=FAR)": "aiostream chunks(100)",
    "ops.throttle(FAR)": None,
    "ops.throttle(FAR, mode='latest')": None,
    "ops.debounce(FAR)": None,
}


async def _burst(case: str, bursts: int) -> None:
    from starlette.responses import Response, StreamingResponse
    from starlette.types import Message, Scope

    from bench.servers.common import stamped
    from bench.servers.raw import FRAME, to_json
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
            yield FRAME % (i, to_json(stamped(i, 0.0)))

    makers: dict[str, Callable[[], Response]] = {
        "raw": lambda: StreamingResponse(raw_frames(), media_type="text/event-stream"),
        "typedsse": lambda: EventStreamResponse(typed_events()),
        "typedsse-prebuilt": lambda: EventStreamResponse(prebuilt_events()),
    }

    async def receive() -> Message:
        await loop.create_future()  # the client never leaves
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        pass

    # The ASGI version uvicorn announces: Starlette's `StreamingResponse` then watches for the
    # disconnect in a task of its own, as in the benchmark's servers.
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "asgi": {"spec_version": "2.3"}}
    streams = [loop.create_task(makers[case]()(scope, receive, send)) for _ in range(STREAMS)]
    for burst in due:
        for _ in range(5):
            await asyncio.sleep(0)  # every stream is parked on the next due time
        burst.set_result(None)
    await asyncio.gather(*streams)


def _pipeline(case: str, items: int, ended: Callable[[], None]) -> AsyncIterable[Any]:
    from aiostream import stream

    from bench.servers.common import stamped
    from bench.servers.typed import Tick
    from typedsse import operators as ops

    event = Tick(data=stamped(0, 0.0), id="0")
    sources_left = [2 if "merge" in case else 1]

    async def events(count: int) -> AsyncIterator[Tick]:
        for _ in range(count):
            yield event
        sources_left[0] -= 1
        if not sources_left[0]:
            ended()

    def aiostream_chunks() -> AsyncIterable[Any]:
        # aiostream's operators lose the item type through their decorator (mypy reads Never).
        source: AsyncIterable[Any] = events(items)
        return stream.chunks(source, 100)

    half = items // 2
    pipelines: dict[str, Callable[[], AsyncIterable[Any]]] = {
        "source alone": lambda: events(items),
        "aiostream merge": lambda: stream.merge(events(half), events(items - half)),
        "ops.merge": lambda: ops.merge(events(half), events(items - half)),
        "aiostream chunks(100)": aiostream_chunks,
        "ops.chunk(size=100)": lambda: ops.source(events(items)) | ops.chunk(size=100),
        "ops.chunk(size=100, interval=FAR)": lambda: ops.source(events(items)) | ops.chunk(size=100, interval=FAR),
        "ops.throttle(FAR)": lambda: ops.source(events(items)) | ops.throttle(FAR),
        "ops.throttle(FAR, mode='latest')": lambda: ops.source(events(items)) | ops.throttle(FAR, mode="latest"),
        "ops.debounce(FAR)": lambda: ops.source(events(items)) | ops.debounce(FAR),
    }
    return pipelines[case]()


async def _operate(case: str, items: int) -> None:
    from aiostream.core import Stream

    loop = asyncio.get_running_loop()
    ended = loop.create_future()
    pipeline = _pipeline(case, items, lambda: ended.set_result(None))
    received = 0

    async def consume() -> None:
        nonlocal received
        if isinstance(pipeline, Stream):
            async with pipeline.stream() as streamer:
                async for _ in streamer:
                    received += 1
        else:
            async for _ in pipeline:
                received += 1

    consumer = loop.create_task(consume())
    await asyncio.wait([consumer, ended], return_when=asyncio.FIRST_COMPLETED)
    for _ in range(10):  # what the source's end lets out goes out within a few loop turns
        if consumer.done():
            break
        await asyncio.sleep(0)
    # A latest-mode throttle holds the last item until its window ends, FAR from now.
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    if not ended.done() or received == 0:
        raise RuntimeError(f"{case}: the source did not run to its end ({received} items out)")


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
    """Return the instructions per event of every response case."""
    extra_events = (LONG - SHORT) * STREAMS
    return {case: (_count(case, LONG, valgrind) - _count(case, SHORT, valgrind)) // extra_events for case in CASES}


def measure_operators(valgrind: str) -> dict[str, int]:
    """Return the instructions per item of every operator case."""
    extra = OPERATOR_LONG - OPERATOR_SHORT
    return {
        case: (_count(case, OPERATOR_LONG, valgrind) - _count(case, OPERATOR_SHORT, valgrind)) // extra
        for case in OPERATOR_CASES
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--run",
        nargs=2,
        metavar=("CASE", "COUNT"),
        help="one run of CASE (what callgrind counts): COUNT bursts, or items through an operator",
    )
    args = parser.parse_args(argv)
    if args.run:
        case, count = args.run
        if case in CASES:
            asyncio.run(_burst(case, int(count)))
        elif case in OPERATOR_CASES:
            asyncio.run(_operate(case, int(count)))
        else:
            parser.error(f"CASE must be one of {', '.join((*CASES, *OPERATOR_CASES))}")
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind is needed: apt-get install valgrind", file=sys.stderr)
        return 2
    counts, operator_counts = measure(valgrind), measure_operators(valgrind)
    version = subprocess.run([valgrind, "--version"], capture_output=True, text=True).stdout.strip()
    text = report(counts, operator_counts, version)
    RESULTS.write_text(text, encoding="utf-8")
    print(text, end="")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


def report(counts: dict[str, int], operator_counts: dict[str, int], valgrind_version: str) -> str:
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
        "## Instructions per item through an operator",
        "",
        f"{OPERATOR_LONG - OPERATOR_SHORT:,} more items from a source that never waits; windows and deadlines "
        f"{FAR:g} s away, so none ends during a run.",
        "",
        "| case | instructions / item | over the source alone | x aiostream |",
        "| --- | ---: | ---: | ---: |",
    ]
    bare = operator_counts["source alone"]
    for case, count in operator_counts.items():
        peer = OPERATOR_CASES[case]
        versus = f"{count / operator_counts[peer]:.2f}x" if peer is not None else ""
        over = f"{count - bare:,}" if case != "source alone" else ""
        lines.append(f"| `{case}` | {count:,} | {over} | {versus} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
