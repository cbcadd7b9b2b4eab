"""`typedsse typescript MODULE:APP | --from openapi.json [-o FILE]`: generate the TypeScript client."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from pydantic.errors import PydanticUserError

from typedsse.cli import app_output_to_stderr, load_fastapi_app, process_descriptor, served_document, write_output
from typedsse.exceptions import TypedSSEError

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.routing import BaseRoute

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Write the TypeScript event types and subscribe client of an app, or of a saved document.

    Args:
        args: `app` (`MODULE:APP`, or `None`), `factory` (`APP` makes the app), `app_dir` (the
            directory to import `MODULE` from, or `None` for the current one), `source` (the
            path of a saved OpenAPI JSON document, `-` for standard input, or `None`; exactly
            one of the two), `output` (a file path, or `None` or `-` for standard
            output).

    Returns:
        The exit status: 0, or 1 when the document is not JSON or has no typed stream or the
        file cannot be written.

    Raises:
        argparse.ArgumentError: A wrong combination of arguments (both or neither of
            `MODULE:APP` and `--from`; `--factory` or `--app-dir` without `MODULE:APP`), or a
            `--from` that names no file that can be read (missing, a directory, not readable),
            or standard input closed: a usage error, which `main` reports as argparse reports
            its own (the usage line, status 2).
    """
    from typedsse.typescript import DocumentError, generate
    from typedsse.typescript._document import streams

    # Usage errors, with the usage line, as argparse reports its own.
    if (args.app is None) == (args.source is None):
        raise argparse.ArgumentError(None, "give either MODULE:APP or --from openapi.json")
    if args.factory and args.app is None:
        raise argparse.ArgumentError(None, "--factory goes with MODULE:APP")
    if args.app_dir is not None and args.app is None:
        raise argparse.ArgumentError(None, "--app-dir goes with MODULE:APP")
    # Standard output is the module's: what the app prints or logs there while it is imported
    # and documented, or later from a thread it started, goes to standard error.
    with app_output_to_stderr() if args.app is not None else contextlib.nullcontext():
        try:
            if args.app is not None:
                app = load_fastapi_app(args.app, factory=args.factory, app_dir=args.app_dir)
                document, origin = served_document(app), args.app
                problem = None if streams(document) else _no_stream(args.app, app)
                if problem is not None:
                    raise DocumentError(problem)
            else:
                document, origin = _from_file(args.source)
            text = generate(document, source=origin)
        except (TypedSSEError, PydanticUserError, OSError, ValueError) as exc:  # a model without a JSON schema too
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except RecursionError:  # thousands of nested arrays: valid JSON, which `json` cannot read
            print("error: the OpenAPI document is nested too deep to read", file=sys.stderr)
            return 1
        return write_output(args.output, text)


def _no_stream(target: str, app: FastAPI) -> str | None:
    """Why the document of `app`, which `target` names, has no stream; `None` for the generator's own advice.

    That advice, to call `typedsse.openapi.install(app)`, would send the user after a call
    already made, or not needed: from `MODULE:APP` the command documents the streams of an app
    that serves FastAPI's plain document, as of one with `install`.
    """
    from fastapi import FastAPI

    from typedsse.openapi import _INSTALLED  # pyright: ignore[reportPrivateUsage]

    mounted = _mounted_streams(app)
    if mounted:
        # FastAPI documents a mounted application apart, at its own `/openapi.json`.
        where = ", ".join(mounted[:-1]) + " and " + mounted[-1] if len(mounted) > 1 else mounted[0]
        apps = "applications" if len(mounted) > 1 else "application"
        return (
            f"{target} has no typed event stream of its own; its streams are in the {apps} mounted "
            f"at {where}, documented apart (at its own /openapi.json): name one as MODULE:APP"
        )
    if getattr(app.openapi, "__func__", None) is FastAPI.openapi or getattr(app.openapi, _INSTALLED, False):
        return f"{target} has no @sse route in its OpenAPI document (a route with include_in_schema=False is left out)"
    return None  # the app's own `openapi`, which may not be built on `typedsse.openapi.document`


def _mounted_streams(app: FastAPI, prefix: str = "") -> list[str]:
    """The paths at which `app` mounts FastAPI applications with `@sse` routes, at any depth."""
    from fastapi import FastAPI
    from fastapi.routing import APIRoute
    from starlette.routing import Mount

    from typedsse.endpoints import stream_endpoint

    found: list[str] = []
    for path, route in _routes(app.routes):
        if isinstance(route, Mount) and isinstance(route.app, FastAPI):
            where = prefix + path
            sub_routes = [sub for _, sub in _routes(route.app.routes) if isinstance(sub, APIRoute)]
            if any(stream_endpoint(sub.endpoint) is not None for sub in sub_routes):
                found.append(where or "/")  # `app.mount("/", ...)` has the path ""
            found += _mounted_streams(route.app, where)
    return found


def _routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, BaseRoute]]:
    """Yield every route with its full path, those of included routers too (FastAPI includes them lazily from 0.165)."""
    from fastapi import routing

    contexts: Any = getattr(routing, "iter_route_contexts", None)
    if contexts is None:
        yield from ((getattr(route, "path", ""), route) for route in routes)
        return
    for context in contexts(routes):
        yield context.path, context.original_route


def _from_file(path: str) -> tuple[dict[str, Any], str | None]:
    # `-` is standard input (`curl -s .../openapi.json | typedsse typescript --from -`).
    # Read as bytes, which `json` decodes as RFC 8259 readers may: UTF-8 after a byte order mark
    # (Notepad before 2019, PowerShell's `Out-File -Encoding utf8`), and UTF-16 or UTF-32
    # (Windows PowerShell 5's `>` writes UTF-16 with a mark).
    name = "standard input" if path == "-" else path
    try:
        if path == "-":
            stream = sys.stdin
            if stream is None:  # started with its descriptor closed (`<&-`): Python sets no stream
                raise OSError(errno.EBADF, "it is closed")
            # A text stream without bytes under it (`io.StringIO`, a notebook's or an embedding
            # application's `sys.stdin`) is read as text.
            buffer = getattr(stream, "buffer", None)
            data = buffer.read() if buffer is not None else stream.read()
        else:
            data = Path(path).read_bytes()
    except OSError as exc:  # missing, a directory, no permission: the argument names nothing to read
        what = name if path == "-" else repr(path)
        raise argparse.ArgumentError(None, f"argument --from: cannot read {what}: {exc.strerror or exc}") from exc
    try:
        document: Any = json.loads(data)
    except UnicodeDecodeError as exc:  # Latin-1 or cp1252 bytes: Python's codec message names no file
        why = f"it is not {exc.encoding.upper()} text ({exc.reason} at byte {exc.start})"
        raise ValueError(f"{name} is not a JSON document: {why}") from exc
    except ValueError as exc:  # not JSON
        raise ValueError(f"{name} is not a JSON document: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{name} does not hold an OpenAPI document (a JSON object)")
    # A descriptor of the process names no file (`--from <(curl ...)` is `/dev/fd/63`): the header
    # said "read from 63", a number that changed with the shell, and with it the file generated.
    named = path != "-" and process_descriptor(path) is None
    return cast(dict[str, Any], document), Path(path).name if named else None
