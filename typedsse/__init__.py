"""Typed Server-Sent Events for FastAPI.

Declare events as Pydantic models, stream them from a decorated generator, and let every
client know exactly which events can arrive.

Example:
    ```python
    class Echo(BaseEvent[str]): ...

    @app.get("/echo")
    @sse()
    async def echo(message: str) -> AsyncIterator[Echo]:
        yield Echo(data=message)
    ```
"""

from typedsse.catalog import EventCatalog
from typedsse.decoding import Decoder, ServerSentMessage
from typedsse.encoding import encode
from typedsse.endpoints import LastEventId, StreamEndpoint, sse, stream_endpoint
from typedsse.events import MAX_RETRY, BaseEvent, ErrorPayload, StreamError
from typedsse.exceptions import (
    EndpointDefinitionError,
    EventDefinitionError,
    EventTypeError,
    MessageTooLargeError,
    TypedSSEError,
    UnknownEventError,
    WireFormatError,
)
from typedsse.responses import EventStreamResponse, wait_for_streams

__all__ = [
    "MAX_RETRY",
    "BaseEvent",
    "Decoder",
    "EndpointDefinitionError",
    "ErrorPayload",
    "EventCatalog",
    "EventDefinitionError",
    "EventStreamResponse",
    "EventTypeError",
    "LastEventId",
    "MessageTooLargeError",
    "ServerSentMessage",
    "StreamEndpoint",
    "StreamError",
    "TypedSSEError",
    "UnknownEventError",
    "WireFormatError",
    "encode",
    "sse",
    "stream_endpoint",
    "wait_for_streams",
]

__version__ = "0.1.0"
