"""`typedsse`: the command line (`typedsse demo | openapi APP | typescript APP`)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["load_app", "main"]


def load_app(target: str) -> Any:
    """Import `module:attribute` (as uvicorn does) and return the attribute.

    Raises:
        SystemExit: The target is malformed or cannot be imported.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"error: expected MODULE:APP (for example examples.echo:app), got {target!r}")
    if "" not in sys.path:
        sys.path.insert(0, "")  # like uvicorn: apps in the current directory are importable
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise SystemExit(f"error: cannot import {module_name!r}: {exc}") from exc
    try:
        value: Any = module
        for part in attribute.split("."):
            value = getattr(value, part)
    except AttributeError as exc:
        raise SystemExit(f"error: {module_name!r} has no attribute {attribute!r}") from exc
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog="typedsse", description="Typed Server-Sent Events for FastAPI.")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="serve the demo app and its page")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)

    openapi = commands.add_parser("openapi", help="print or write an app's OpenAPI document")
    openapi.add_argument("app", metavar="MODULE:APP")
    openapi.add_argument("--version", choices=["3.1", "3.2"], default=None, help="OpenAPI version to emit")
    openapi.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")

    typescript = commands.add_parser("typescript", help="generate TypeScript event types and a subscribe client")
    typescript.add_argument("app", metavar="MODULE:APP", nargs="?")
    typescript.add_argument("--from", dest="source", default=None, help="read a saved openapi.json instead")
    typescript.add_argument("-o", "--output", default=None, help="write to this file instead of stdout")

    args = parser.parse_args(argv)
    command: Any = importlib.import_module(f"typedsse._cli_{args.command}")
    status: int = command.run(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
