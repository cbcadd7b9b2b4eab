"""Merged echo: two streams in one response, with ids that resume both.

`GET /echo?message=hello` merges two sources into one stream: `echoes` sends the message as it
is, `reverse_echoes` sends it backwards, each `count` times and each numbering its own events
"0", "1", ... Those ids would collide on one stream, and no single one of them could resume
both sources, so `ops.merge(..., ids=("echo", "reverse"))` gives every event a cursor holding
both positions, such as `echo:2,reverse:1`. A reconnecting client sends the last one back as
`Last-Event-ID`; `ops.cursors` splits it, and each source resumes right after its own last
event. Once both have sent everything, a reconnection gets 204 No Content, which tells the
browser's `EventSource` to stop.

    uvicorn examples.merged_echo:app
    curl -N 'http://127.0.0.1:8000/echo?message=hello'
    curl -N -H 'Last-Event-ID: echo:1,reverse:0' 'http://127.0.0.1:8000/echo?message=hello'
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, status
from pydantic import BaseModel

import typedsse.openapi
from typedsse import BaseEvent, LastEventId, sse
from typedsse import operators as ops

INTERVAL = 0.2
"""Seconds between two events of one source; the reversed source starts half of it later."""


class EchoPayload(BaseModel):
    """What both events carry."""

    message: str
    created_at: datetime


class Echo(BaseEvent[EchoPayload]):
    """The message as it was sent (event name `echo`)."""


class ReverseEcho(BaseEvent[EchoPayload]):
    """The message spelled backwards (event name `reverse_echo`)."""


async def echoes(message: str, *, start: int, count: int) -> AsyncIterator[Echo]:
    """Send `message` with ids `start` to `count - 1`."""
    for index in range(start, count):
        if index > start:
            await asyncio.sleep(INTERVAL)
        yield Echo(data=EchoPayload(message=message, created_at=datetime.now(UTC)), id=str(index))


async def reverse_echoes(message: str, *, start: int, count: int) -> AsyncIterator[ReverseEcho]:
    """Send `message` backwards with ids `start` to `count - 1`, half an interval behind `echoes`."""
    for index in range(start, count):
        await asyncio.sleep(INTERVAL / 2 if index == start else INTERVAL)
        yield ReverseEcho(data=EchoPayload(message=message[::-1], created_at=datetime.now(UTC)), id=str(index))


app = FastAPI(title="typedsse merged echo example")
typedsse.openapi.install(app)  # document every event of every stream


@app.get("/echo")
@sse(ping=15, retry=500)
def echo(
    message: Annotated[str, Query(max_length=1000)],
    count: Annotated[int, Query(ge=1, le=1000, description="How many events each source sends.")] = 3,
    last_event_id: LastEventId = None,
) -> AsyncIterable[Echo | ReverseEcho]:
    """Stream `message` as sent and reversed, merged, resuming each source after its last event."""
    after = ops.cursors(last_event_id)  # {"echo": "1", "reverse": "0"}; {} on a first connection
    echo_start = _resume_index(after.get("echo"))
    reverse_start = _resume_index(after.get("reverse"))
    if echo_start >= count and reverse_start >= count:
        raise HTTPException(status.HTTP_204_NO_CONTENT)  # nothing left: tells EventSource to stop
    return ops.merge(
        echoes(message, start=echo_start, count=count),
        reverse_echoes(message, start=reverse_start, count=count),
        ids=("echo", "reverse"),
        resume=after,  # a source that has not moved yet keeps its position in the ids
    )


def _resume_index(position: str | None) -> int:
    """Return the index of a source's first event: 0, or the one after its position in the cursor."""
    if position is None:
        return 0
    # Digits only, and no more than an index of this stream has (`count` is at most 1000):
    # `int()` refuses a number of over 4300 digits with a ValueError, which would be a 500.
    if not (position.isascii() and position.isdigit()) or len(position) > 4:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Last-Event-ID is not an id this stream sent")
    return int(position) + 1
