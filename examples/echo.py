"""Echo: the smallest typed stream, and how a client resumes it.

`GET /echo?message=hello` streams `count` events, alternating `Echo` and `ReverseEcho`, with ids
"0", "1", ... When a connection drops, the browser's `EventSource` reconnects by itself after the
`retry` delay and sends the last id it received as `Last-Event-ID`; the endpoint starts right
after it, so the client sees every event exactly once. Once everything has been sent, a
reconnection is answered with 204 No Content, which tells `EventSource` to stop.

`per_connection` ends each response after that many events, as a proxy's read timeout would, so
you can watch the browser reconnect and resume.

Run it and open the stream in a browser, or read it with `curl -N`:

    uvicorn examples.echo:app
    curl -N 'http://127.0.0.1:8000/echo?message=hello'
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, status
from pydantic import BaseModel

import typedsse.openapi
from typedsse import BaseEvent, LastEventId, sse

INTERVAL = 0.2
"""Seconds between two events, slow enough to watch them arrive."""


class EchoPayload(BaseModel):
    """What both events carry."""

    message: str
    created_at: datetime


class Echo(BaseEvent[EchoPayload]):
    """The message as it was sent (event name `echo`)."""


class ReverseEcho(BaseEvent[EchoPayload]):
    """The message spelled backwards (event name `reverse_echo`)."""


app = FastAPI(title="typedsse echo example")
typedsse.openapi.install(app)  # document every event of every stream


@app.get("/echo")
@sse(ping=15, retry=500)  # a keep-alive comment after 15 s of silence; reconnect after 0.5 s
async def echo(
    message: Annotated[str, Query(max_length=1000)],
    count: Annotated[int, Query(ge=1, le=1000, description="How many events the stream sends in all.")] = 6,
    per_connection: Annotated[
        int | None, Query(ge=1, description="End each response after this many events; the client resumes.")
    ] = None,
    last_event_id: LastEventId = None,
) -> AsyncIterator[Echo | ReverseEcho]:
    """Stream `message`, alternately as sent and reversed, resuming after the client's last event."""
    # Raised before the first event, these are ordinary HTTP responses, not stream events.
    start = _resume_index(last_event_id)
    if start >= count:
        raise HTTPException(status.HTTP_204_NO_CONTENT)  # nothing left: tells EventSource to stop
    stop = count if per_connection is None else min(count, start + per_connection)
    for index in range(start, stop):
        if index > start:
            await asyncio.sleep(INTERVAL)
        if index % 2 == 0:
            yield Echo(data=EchoPayload(message=message, created_at=datetime.now(UTC)), id=str(index))
        else:
            yield ReverseEcho(data=EchoPayload(message=message[::-1], created_at=datetime.now(UTC)), id=str(index))


def _resume_index(last_event_id: str | None) -> int:
    """Return the index of the first event to send: 0, or the one after the client's last id."""
    if last_event_id is None:
        return 0
    # Digits only, and no more than an index of this stream has (`count` is at most 1000):
    # `int()` refuses a number of over 4300 digits with a ValueError, which would be a 500.
    if not (last_event_id.isascii() and last_event_id.isdigit()) or len(last_event_id) > 4:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Last-Event-ID is not an id this stream sent")
    return int(last_event_id) + 1
