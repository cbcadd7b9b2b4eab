"""The demo app: the three examples mounted side by side, and a page that streams from them.

Each example keeps its own app (and its own API docs) under a prefix: `/echo`, `/chat` and
`/progress`. The page at `/` asks `/api/streams` which streams there are and which events each
can send (read from the `@sse` endpoints themselves), then opens them with the browser's
`EventSource`, or with `fetch` for the POST chat stream.

The examples live at the top of a source checkout, next to the `typedsse` package; the demo runs
in one (`make demo`, or `typedsse demo` in the clone, whether installed from it or editable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from examples import chat, echo, progress
from typedsse.endpoints import stream_endpoint

__all__ = ["DemoStream", "app"]

STATIC = Path(__file__).parent / "static"

EXAMPLES: dict[str, FastAPI] = {"echo": echo.app, "chat": chat.app, "progress": progress.app}
"""The mounted examples, by prefix."""


class DemoStream(BaseModel):
    """One stream the page offers."""

    key: str = Field(description="A stable identifier, used by the page and its tests.")
    title: str
    description: str
    method: Literal["GET", "POST"]
    url: str = Field(description="The stream's URL, with example query parameters.")
    body: str | None = Field(default=None, description="An example JSON body, for POST streams.")
    events: list[str] = Field(description="Every event name the stream can send, its error event included.")
    final: list[str] = Field(description="Events after which the page closes the connection.")
    view: Literal["log", "chat", "progress"] = Field(description="How the page shows the stream, besides its log.")
    docs: str = Field(description="The example's API docs.")


app = FastAPI(title="typedsse demo", description="The typedsse examples, and a page showing their streams live.")
for prefix, example in EXAMPLES.items():
    app.mount(f"/{prefix}", example, name=prefix)
app.mount("/static", StaticFiles(directory=STATIC), name="static")


@app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
async def index() -> FileResponse:
    """Serve the demo page."""
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


@app.get("/api/streams")
async def streams() -> list[DemoStream]:
    """List the streams the page offers, each with the event names its endpoint declares."""
    chat_body = chat.ChatRequest(messages=[chat.ChatMessage(role="user", content="Tell me about server-sent events")])
    return [
        DemoStream(
            key="echo",
            title="Echo",
            description=(
                "Echo and ReverseEcho events with ids. Each response ends after two events; "
                "EventSource reconnects by itself, sends Last-Event-ID, and the stream resumes "
                "right after it. When all are sent, a 204 tells it to stop."
            ),
            method="GET",
            url="/echo/echo?message=hello&count=6&per_connection=2",
            events=_event_names("echo", "/echo", "GET"),
            final=["typedsse.error"],
            view="log",
            docs="/echo/docs",
        ),
        DemoStream(
            key="chat",
            title="Chat",
            description=(
                "An LLM-style reply streamed token by token, then the whole Message, then Done. "
                "A POST with a JSON body, so the page reads it with fetch. Break the body to get a 422."
            ),
            method="POST",
            url="/chat/chat",
            body=chat_body.model_dump_json(indent=2, exclude_defaults=True),
            events=_event_names("chat", "/chat", "POST"),
            final=["done", "typedsse.error"],
            view="chat",
            docs="/chat/docs",
        ),
        DemoStream(
            key="progress",
            title="Job progress",
            description="A long-running job: job.progress as each stage starts, then job.result.",
            method="GET",
            url="/progress/jobs/42",
            events=_event_names("progress", "/jobs/{job_id}", "GET"),
            final=["job.result", "job.failed", "typedsse.error"],
            view="progress",
            docs="/progress/docs",
        ),
        DemoStream(
            key="progress-failure",
            title="Job failure, blocking code",
            description=(
                "The same job written as a plain generator with blocking calls, run in a worker "
                "thread. It fails at the validate stage and reports it with a typed job.failed event."
            ),
            method="GET",
            url="/progress/jobs/43/blocking?fail_at=validate",
            events=_event_names("progress", "/jobs/{job_id}/blocking", "GET"),
            final=["job.result", "job.failed", "typedsse.error"],
            view="progress",
            docs="/progress/docs",
        ),
    ]


def _event_names(example: str, path: str, method: str) -> list[str]:
    """Return the event names an example's `@sse` endpoint declares, its error event included."""
    for route in EXAMPLES[example].routes:
        if isinstance(route, APIRoute) and route.path == path and method in (route.methods or ()):
            endpoint = stream_endpoint(route.endpoint)
            if endpoint is not None:
                return list(endpoint.events.names)
    raise LookupError(f"the {example} example has no {method} {path} stream")
