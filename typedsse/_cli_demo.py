"""`typedsse demo`: serve the demo app and its page with uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

__all__ = ["run"]

# Shutting down, the server waits this long for open streams to end, then cancels them: a
# stream may run forever, and Ctrl-C should not wait for every browser tab to close.
GRACEFUL_SHUTDOWN_SECONDS = 2


def run(args: argparse.Namespace) -> int:
    """Serve the demo at `args.host`:`args.port` until interrupted; return the exit status."""
    try:
        import uvicorn
    except ImportError:
        print("error: the demo needs uvicorn: pip install uvicorn", file=sys.stderr)
        return 1
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "examples" / "__init__.py").is_file():
        print("error: the demo serves the examples of a source checkout; run it from one", file=sys.stderr)
        return 1
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))  # the examples live next to the package, not inside it

    from typedsse.demo.app import app

    config = uvicorn.Config(
        app, host=args.host, port=args.port, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, log_level="info"
    )
    sock = config.bind_socket()  # exits with uvicorn's message if the address is taken
    sock.listen()  # connections wait in the backlog from now on, so the URL printed next works at once
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(f"typedsse demo: http://{host}:{sock.getsockname()[1]}  (Ctrl-C to stop)", flush=True)
    # uvicorn shuts down gracefully on Ctrl-C, then raises it again for the caller: done.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    return 0
