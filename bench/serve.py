"""Run one server variant under uvicorn: `python -m bench.serve VARIANT [options]`.

The process binds a free port on 127.0.0.1, prints `PORT <number> CORES <list>` on stdout once
it listens (`<list>`: the cores it may run on, comma separated, which tells whether `--core`
took), and serves until it receives SIGTERM (or SIGINT). With `--profile`, the whole run is
profiled with cProfile and the stats are written when the server stops.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import signal
import socket
import sys
import threading
import time

import uvicorn

from bench.servers import MODULES
from bench.system import available_cores, pin_to_core, raise_open_files_limit


def _exit_with_parent() -> None:
    """Stop serving if the harness that started this server dies (no orphan servers left behind)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__)
    parser.add_argument("variant", choices=sorted(MODULES))
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--http", choices=["h11", "httptools"], default="h11")
    parser.add_argument("--core", type=int, default=None, help="pin the process to this CPU core")
    parser.add_argument("--profile", default=None, help="write cProfile stats to this file on exit")
    args = parser.parse_args(argv)

    if args.core is not None and not pin_to_core(args.core):
        # Not fatal: the harness records the affinity from the PORT line and reports it.
        cores = ",".join(map(str, available_cores()))
        print(f"could not pin the server to core {args.core}: it runs on cores {cores}", file=sys.stderr, flush=True)
    raise_open_files_limit()
    _exit_with_parent()
    app = importlib.import_module(MODULES[args.variant]).app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    config = uvicorn.Config(
        app,
        loop=args.loop,
        http=args.http,
        lifespan="off",
        log_level="warning",
        access_log=False,
        backlog=4096,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    print(f"PORT {sock.getsockname()[1]} CORES {','.join(map(str, available_cores()))}", flush=True)

    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        server.run(sockets=[sock])
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
