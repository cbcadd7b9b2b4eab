"""`typedsse openapi MODULE:APP [--version 3.1|3.2] [-o FILE]`: print or write an app's document."""

from __future__ import annotations

import argparse
import json
import sys

from fastapi import FastAPI
from pydantic.errors import PydanticUserError

from typedsse.cli import load_app, write_output
from typedsse.exceptions import TypedSSEError
from typedsse.openapi import document

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Write the OpenAPI document of `args.app`, with its event streams, as JSON.

    Args:
        args: `app` (`MODULE:APP`), `version` (`"3.1"`, `"3.2"` or `None` for the app's own),
            `output` (a file path, or `None` for standard output).

    Returns:
        The exit status: 0, or 1 when the app cannot be documented or the file cannot be written.
    """
    app = load_app(args.app)
    if not isinstance(app, FastAPI):
        print(f"error: {args.app} is a {type(app).__qualname__}, not a FastAPI application", file=sys.stderr)
        return 1
    try:
        if args.version is None and getattr(app.openapi, "__func__", None) is not FastAPI.openapi:
            # `install`'s document, or the app's own built on `document` (as the OpenAPI page
            # shows): the one it serves.
            result = app.openapi()
        else:
            result = document(app, version=args.version)
    except (TypedSSEError, PydanticUserError) as exc:  # ours, or a model without a JSON schema
        print(f"error: {exc}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2, ensure_ascii=False) + "\n"
    if args.output is None:
        sys.stdout.write(text)
        return 0
    return write_output(args.output, text)
