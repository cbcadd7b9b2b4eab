"""`typedsse openapi MODULE:APP [--version 3.1|3.2] [-o FILE]`: print or write an app's document."""

from __future__ import annotations

import argparse
import json
import sys

from pydantic.errors import PydanticUserError

from typedsse.cli import app_output_to_stderr, load_fastapi_app, served_document, write_output
from typedsse.exceptions import TypedSSEError

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Write the OpenAPI document of `args.app`, with its event streams, as JSON.

    Args:
        args: `app` (`MODULE:APP`), `factory` (`APP` makes the app), `app_dir` (the directory
            to import `MODULE` from, or `None` for the current one), `version` (`"3.1"`, `"3.2"`
            or `None` for the app's own), `output` (a file path, or `None` for standard output).

    Returns:
        The exit status: 0, or 1 when the app cannot be documented or the file cannot be written.

    Raises:
        SystemExit: The app cannot be loaded (`load_fastapi_app`).
    """
    # Standard output is the document's: what the app prints or logs there while it is imported
    # and documented (`print`, `logging.basicConfig(stream=sys.stdout)`), or later from a thread
    # it started, goes to standard error.
    with app_output_to_stderr():
        app = load_fastapi_app(args.app, factory=args.factory, app_dir=args.app_dir)
        try:
            result = served_document(app, args.version)
        except (TypedSSEError, PydanticUserError) as exc:  # ours, or a model without a JSON schema
            print(f"error: {exc}", file=sys.stderr)
            return 1
        try:
            # Not `NaN` or `Infinity` either: they are not JSON, and FastAPI refuses to serve them.
            text = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:  # an app's own `openapi` put a date or a float('inf') in it
            print(f"error: the document is not JSON: {exc}", file=sys.stderr)
            return 1
        return write_output(args.output, text)
