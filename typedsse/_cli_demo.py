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


EXAMPLES = ("__init__.py", "echo.py", "chat.py", "progress.py")
"""The files of `examples/` the demo serves."""


def _checkout() -> Path | None:
    """The source checkout whose examples the demo serves, or None.

    The one the package was imported from (an editable install, `python -m` in a clone), or
    else the working directory, for a package installed from a clone (`pip install .`) and run
    there.
    """
    for folder in (Path(__file__).resolve().parent.parent, Path.cwd()):
        if all((folder / "examples" / name).is_file() for name in EXAMPLES):
            return folder
    return None


def run(args: argparse.Namespace) -> int:
    """Serve the demo at `args.host`:`args.port` until interrupted; return the exit status."""
    try:
        import uvicorn
    except ImportError:
        print("error: the demo needs uvicorn: pip install uvicorn", file=sys.stderr)
        return 1
    checkout = _checkout()
    if checkout is None:
        print(
            "error: the demo serves the examples of the typedsse repository; run it in a clone of it "
            "(the folder holding examples/)",
            file=sys.stderr,
        )
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
