"""TypeScript for the event streams of an OpenAPI document: event types and a typed subscribe client.

`generate` reads only the document (as `typedsse.openapi` writes it, or a saved
`openapi.json` of a server running elsewhere) and returns one self-contained TypeScript
module. It declares:

- a type for every schema the streams use (payloads, request bodies, parameters), named
  after the schema, with its description as a doc comment;
- a type per event, such as `{ event: "echo"; id?: string; data: EchoPayload }`;
- `Streams`, the route table: for each streaming path and method, its path parameters,
  query, headers, request body and the union of its events;
- a small runtime: `subscribe(path, options, handlers)` over `fetch` (POST bodies and
  headers such as `Authorization` work), a `text/event-stream` parser following the WHATWG
  rules, reconnection with `Last-Event-ID` and the server's `retry:` delay, and typed
  listeners for the browser's `EventSource`.

The command line writes the file: `typedsse typescript MODULE:APP -o events.ts`, or
`typedsse typescript --from openapi.json -o events.ts`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from typedsse.typescript._document import DocumentError, streams
from typedsse.typescript._render import render_file

__all__ = ["DocumentError", "generate"]


def generate(document: Mapping[str, Any], *, source: str | None = None) -> str:
    """Return the TypeScript module for the event streams of an OpenAPI document.

    The output depends on the document alone: the same document always gives the same
    text. A model's properties and a stream's events keep the order the document declares
    them in; schemas, paths and methods come in a fixed order, whatever their order in it.

    Example:
        ```python
        import typedsse.openapi
        from typedsse.typescript import generate

        typedsse.openapi.install(app)
        Path("events.ts").write_text(generate(app.openapi(), source="app:app"))
        ```

    Args:
        document: An OpenAPI 3.1 or 3.2 document (as a parsed JSON object).
        source: Where the document came from, such as `app:app` or `openapi.json`, named
            in the file's header.

    Raises:
        DocumentError: The document is not OpenAPI 3.1 or later, describes no typed event
            stream, holds a broken reference, or a stream's union of events it cannot read.
    """
    found = streams(document)
    if not found:
        raise DocumentError(
            "the OpenAPI document describes no typed event stream; "
            "call typedsse.openapi.install(app) before reading the document of an app with @sse routes"
        )
    text = render_file(document, found, source=source)
    # A lone surrogate (`"\ud800"` in a JSON document) has no UTF-8 form: write it as its escape,
    # which a TypeScript string reads back as the same code unit, and a comment shows as it is.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
