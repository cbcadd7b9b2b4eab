"""Errors raised by typedsse.

Every error typedsse raises about an event, an endpoint, the wire or a document derives from one
root, so applications can catch them together::

    TypedSSEError
    ├── EventDefinitionError   (TypeError)   an event class is defined wrongly
    ├── EndpointDefinitionError (TypeError)  an `@sse` endpoint is declared wrongly
    ├── EventTypeError          (TypeError)  a stream yielded something outside its event union
    ├── WireFormatError         (ValueError) a value cannot be written as a `text/event-stream` field
    ├── UnknownEventError       (LookupError) a received message names no event of the catalog
    ├── MessageTooLargeError    (ValueError) a received line or message outgrew `Decoder(max_size=...)`
    └── typescript.DocumentError (ValueError) an OpenAPI document cannot be turned into TypeScript

The subclasses also derive from the built-in exception a caller would expect (`TypeError` for
definitions, `ValueError` for values), so generic handlers keep working. An invalid argument to a
function or constructor (an operator's, `EventStreamResponse`'s, `openapi.document`'s) raises a
plain `TypeError` or `ValueError`, as in the standard library, except a value that cannot be
written on the wire (a negative `retry`), which raises `WireFormatError`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typedsse.decoding import ServerSentMessage

__all__ = [
    "EndpointDefinitionError",
    "EventDefinitionError",
    "EventTypeError",
    "MessageTooLargeError",
    "TypedSSEError",
    "UnknownEventError",
    "WireFormatError",
]


class TypedSSEError(Exception):
    """Root of typedsse's own errors (invalid arguments raise plain `TypeError` or `ValueError`)."""


class EventDefinitionError(TypedSSEError, TypeError):
    """An event class is invalid: raised when the class statement runs."""


class EndpointDefinitionError(TypedSSEError, TypeError):
    """An `@sse` endpoint is invalid: raised when the decorator runs."""


class EventTypeError(TypedSSEError, TypeError):
    """A stream yielded an object that is not one of the endpoint's declared events."""


class WireFormatError(TypedSSEError, ValueError):
    """A value cannot be written as a `text/event-stream` field (for example a name with a line break)."""


class UnknownEventError(TypedSSEError, LookupError):
    """A received message's event name is not one of the events `EventCatalog.decode` knows.

    Attributes:
        event: The message's event name (`"message"` for a message without an `event:` line).
    """

    def __init__(self, message: str, *, event: str) -> None:
        super().__init__(message)
        self.event = event

    def __reduce__(self) -> tuple[Any, ...]:
        # The default rebuilds an exception from its positional arguments alone; `event` is a
        # keyword. Pickled (a process pool re-raising it), copied or deep-copied, it is kept.
        return functools.partial(type(self), event=self.event), self.args


class MessageTooLargeError(TypedSSEError, ValueError):
    """A received line or message grew past the `max_size` a `Decoder` was given.

    Attributes:
        messages: The messages the same chunk completed before the limit was passed, in order:
            the decoder's `last_event_id` already counts them, so handle them before resuming.
    """

    def __init__(self, message: str, *, messages: Sequence[ServerSentMessage] = ()) -> None:
        super().__init__(message)
        self.messages: list[ServerSentMessage] = list(messages)
