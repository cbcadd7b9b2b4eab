"""Wire in: `text/event-stream` bytes to messages (WHATWG HTML, "Server-sent events").

`Decoder` implements the spec's "Parsing an event stream" and "Interpreting an event stream"
incrementally: feed it bytes as they arrive, in chunks of any size, and it returns every message
the chunk completes, exactly as a browser's `EventSource` would dispatch them. Tests and clients
use it; the server side never parses.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import AsyncGenerator, AsyncIterable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast

from typedsse._closing import closed
from typedsse.exceptions import MessageTooLargeError

__all__ = ["Decoder", "ServerSentMessage", "aiter_messages", "parse"]

_BOM = "\ufeff"
_DEFAULT_EVENT_TYPE = "message"


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite_float(number: str) -> float:
    # `1e400` is a JSON number no float holds: `float` reads it as infinity, which is not JSON.
    value = float(number)
    if math.isinf(value):
        raise ValueError(f"{number} is out of the range of a float")
    return value


@dataclass(frozen=True, slots=True)
class ServerSentMessage:
    r"""One dispatched server-sent event, as a browser's `EventSource` would see it.

    Example:
        >>> parse(b'event: tick\nid: 7\ndata: {"n": 1}\n\n')[0].json()
        {'n': 1}

    Attributes:
        event: The event type: the last `event` field of the message, or `"message"` without one.
        data: The `data` fields' values joined with LF (`"\n"`).
        id: The last event ID when the message was dispatched. It persists across messages, as
            in the spec: a message without an `id` field carries the previous one (`""` if none).
        retry: The reconnection time, in milliseconds, set by a valid `retry` field in this
            message's block of lines, else `None`.
    """

    event: str
    data: str
    id: str = ""
    retry: int | None = None

    def json(self) -> Any:
        """Return `data` parsed as JSON (strict JSON: `NaN` and `Infinity` are not JSON).

        Every float it returns is finite: a number out of the range of a float (`1e400`), which
        Python's `json` reads as infinity, is refused too.

        Raises:
            json.JSONDecodeError: `data` is not JSON, or is JSON Python cannot read (nested too
                deep, an integer of more digits than `sys.get_int_max_str_digits()`, a number
                out of the range of a float): whatever a server sends, one exception type to catch.
        """
        try:
            return json.loads(self.data, parse_constant=_not_json, parse_float=_finite_float)
        except json.JSONDecodeError:
            raise
        except (ValueError, RecursionError) as exc:
            raise json.JSONDecodeError(f"unreadable JSON ({exc})", self.data, 0) from None


class Decoder:
    r"""Incremental `text/event-stream` parser: bytes in, dispatched messages out.

    Follows WHATWG HTML to the letter: the stream is decoded as UTF-8 (invalid bytes become
    U+FFFD, a multi-byte character may be split across chunks), one leading byte order mark is
    skipped, and lines end at CRLF, LF or CR, a CR at the end of one chunk and an LF at the
    start of the next counting as one line end. A blank line dispatches the message being built,
    unless it has no `data` field.

    Example:
        >>> decoder = Decoder()
        >>> decoder.feed(b"event: tick\ndata: 1\n")
        []
        >>> decoder.feed(b"\n")
        [ServerSentMessage(event='tick', data='1', id='', retry=None)]
        >>> decoder.close()
        []

    Like a browser, it holds whatever a line or a message grows to until it ends: a server
    that never ends a line makes it hold everything it sends. A client of a server it does not
    trust sets `max_size`.

    Args:
        max_size: The most characters the line being read and the data of the message being
            built may hold together; past it, `feed` raises `MessageTooLargeError`, whose
            `messages` are those the chunk completed before (handle them: `last_event_id`
            counts them), and the decoder starts afresh, as after `close`: end that
            connection and feed it the next one's bytes (the old connection's next bytes are
            the middle of the line too long). `None` (the default) sets no bound.

    Attributes:
        last_event_id: The event source's last event ID string: the last event ID buffer's value
            at the latest blank line. A client sends it back as `Last-Event-ID` on reconnection.
            Set it (a client resuming from an ID it stored) and the ID buffer takes it too: a
            message without an `id` field carries it, as after a reconnection, instead of the
            first blank line resetting it to `""`.
        retry: The reconnection time, in milliseconds, set by the latest valid `retry` field
            (applied at once, as the spec says, even when its message is never dispatched), or
            `None` if there was none. The spec sets no bound on it: clamp it before waiting on
            it (a huge delay never ends; one past the range of a float raises `OverflowError`).
    """

    __slots__ = (
        "_at_start",
        "_block_retry",
        "_data",
        "_data_size",
        "_event_type",
        "_id_buffer",
        "_last_event_id",
        "_pending",
        "_pending_size",
        "_skip_lf",
        "_utf8",
        "max_size",
        "retry",
    )

    def __init__(self, *, max_size: int | None = None) -> None:
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1  # pyright: ignore[reportUnnecessaryIsInstance]
        ):
            raise ValueError(f"max_size must be a positive int or None, got {max_size!r}")
        self.max_size = max_size
        self._last_event_id = ""
        self.retry: int | None = None
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = True  # the byte order mark is skipped once, at the start of the stream
        self._skip_lf = False  # the last chunk ended with CR: an LF starting this one ends no line
        self._pending: list[str] = []  # pieces of the line not ended yet
        self._pending_size = 0  # their characters, counted only with a `max_size`
        self._data: list[str] = []  # the data buffer, one item per `data` field
        self._data_size = 0  # its characters (and joining LFs), counted only with a `max_size`
        self._event_type = ""
        self._id_buffer = ""
        self._block_retry: int | None = None

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[ServerSentMessage]:
        """Parse the next bytes of the stream.

        Args:
            chunk: Any number of bytes (`bytes`, `bytearray` or `memoryview`); lines and UTF-8
                characters may be split anywhere.

        Returns:
            The messages dispatched by the lines this chunk completes, in order.

        Raises:
            TypeError: `chunk` is not bytes-like (`str` included: the decoder decodes the UTF-8
                itself, as the spec says, so it takes the body's bytes, not text).
        """
        try:
            text = self._utf8.decode(chunk)
        except TypeError:
            # The codec's own message ("can't concat str to bytes") names neither the decoder
            # nor the fix; text arrives from a client's text iterator (httpx's `aiter_text()`).
            raise TypeError(
                f"Decoder takes the stream's bytes (bytes, bytearray, memoryview), got {type(chunk).__name__}; "
                "read the body as bytes (httpx's `aiter_bytes()`, not `aiter_text()`): the stream is "
                "decoded as UTF-8 by the decoder itself"
            ) from None
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text[0] == _BOM:
                text = text[1:]
                if not text:
                    return []
        if self._skip_lf:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
                if not text:
                    return []
        if "\r" in text:
            # A final CR ends a line now; remember it so a following LF does not end another.
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")  # not str.splitlines(): SSE lines end at CR and LF only
        pending = self._pending
        limit = self.max_size
        if len(lines) == 1:
            pending.append(text)
            if limit is not None:
                self._pending_size += len(text)
                self._check(self._pending_size + self._data_size, [])
            return []
        if pending:
            pending.append(lines[0])
            lines[0] = "".join(pending)
            pending.clear()
        rest = lines.pop()
        if rest:
            pending.append(rest)
        messages = self._interpret(lines)
        if limit is not None:
            self._pending_size = len(rest)
            self._check(self._pending_size + self._data_size, messages)
        return messages

    def _check(self, size: int, completed: list[ServerSentMessage]) -> None:
        limit = self.max_size
        if limit is not None and size > limit:
            self.close()
            raise MessageTooLargeError(
                f"the stream sent a line or message of more than {limit} characters (max_size); "
                "the decoder starts afresh",
                messages=completed,
            )

    @property
    def last_event_id(self) -> str:  # noqa: D102 - documented with the class's attributes
        return self._last_event_id

    @last_event_id.setter
    def last_event_id(self, value: str) -> None:
        if not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"last_event_id must be a str, got {type(value).__name__}")
        # The buffer too: it is what the next blank line makes the last event ID (a message with
        # no `id` of its own keeps the one the client resumed from).
        self._last_event_id = self._id_buffer = value

    def close(self) -> list[ServerSentMessage]:
        """Signal the end of the stream.

        Pending data is discarded, as the spec says: an unterminated last line and a message
        without its blank line are never dispatched. The decoder is then ready for the next
        stream (a reconnection) and keeps `last_event_id` and `retry`, as `EventSource` does.

        Returns:
            The messages the end of the stream dispatches: always none under the spec; returned so
            that callers can treat the end like any other chunk.
        """
        self._utf8.reset()
        self._at_start = True
        self._skip_lf = False
        self._pending.clear()
        self._pending_size = 0
        self._data = []
        self._data_size = 0
        self._event_type = ""
        self._id_buffer = self._last_event_id
        self._block_retry = None
        return []

    def _interpret(self, lines: list[str]) -> list[ServerSentMessage]:
        """Process complete lines (WHATWG HTML, "Interpreting an event stream")."""
        messages: list[ServerSentMessage] = []
        data = self._data
        event_type = self._event_type
        id_buffer = self._id_buffer
        block_retry = self._block_retry
        limit = self.max_size
        for line in lines:
            if not line:  # a blank line: dispatch the event
                self._last_event_id = id_buffer
                if data:
                    messages.append(
                        ServerSentMessage(event_type or _DEFAULT_EVENT_TYPE, "\n".join(data), id_buffer, block_retry)
                    )
                    data = []
                    self._data_size = 0
                event_type = ""
                block_retry = None
                continue
            if limit is not None:
                self._check(len(line) + self._data_size, messages)
            if line[0] == ":":  # a comment
                continue
            # A line without a colon is a field name with an empty value.
            field, _, value = line.partition(":")
            if value[:1] == " ":
                value = value[1:]
            if field == "data":
                data.append(value)
                if limit is not None:
                    self._data_size += len(value) + 1
            elif field == "event":
                event_type = value
            elif field == "id":
                if "\0" not in value:
                    id_buffer = value
            elif field == "retry" and value.isascii() and value.isdigit():
                # More digits than Python converts (sys.get_int_max_str_digits()) cannot be a delay anyone meant.
                with suppress(ValueError):
                    block_retry = self.retry = int(value)
            # Any other field is ignored.
        self._data = data
        self._event_type = event_type
        self._id_buffer = id_buffer
        self._block_retry = block_retry
        return messages


def aiter_messages(
    chunks: AsyncIterable[bytes | bytearray | memoryview],
    *,
    max_size: int | None = None,
    last_event_id: str = "",
) -> AsyncGenerator[ServerSentMessage, None]:
    """Parse a stream of byte chunks, yielding each message as soon as it is complete.

    `max_size` bounds a line and a message as `Decoder`'s does (`MessageTooLargeError` past it).

    `last_event_id` is the ID a reconnection resumes from (the one it sends as `Last-Event-ID`),
    as `Decoder.last_event_id` takes it: a message without an `id` field of its own carries it,
    as `EventSource`'s does after a reconnection, rather than `""` (which a client keeping
    `message.id` as its position would send back, resuming from the start of the stream).

    However it ends (the chunks end or fail, a line is too large, the consumer closes it or is
    cancelled), it closes the iterator it read the chunks from if that has an `aclose` (an
    async generator such as httpx's `aiter_bytes()`), before its own close returns. It is an async
    generator, typed as one: leaving an `async for` early (a `break`) does not close it, so
    close it with `aclose()`, or read it in `contextlib.aclosing(...)`, rather than leave it to
    the garbage collector.

    Example:
        ```python
        async with client.stream("GET", "/events") as response:
            async for message in aiter_messages(response.aiter_bytes()):
                print(message.event, message.json())
        ```

    Raises:
        TypeError: `chunks` is not an async iterable (a sync body, `TestClient`'s or httpx's
            `iter_bytes()`, a list, the whole body's bytes, is read with `Decoder` or `parse`),
            or `last_event_id` is not a str.
        ValueError: `max_size` is not a positive int or None.
    """
    # Checked here, where it is called: inside the generator, a sync iterable failed only at the
    # first read, with Python's "not an async iterable", naming neither this nor what to use.
    if not isinstance(cast("object", chunks), AsyncIterable):  # what callers pass, not what they annotate
        raise TypeError(
            f"aiter_messages takes an async iterable of bytes (httpx's `response.aiter_bytes()`), "
            f"got {type(chunks).__qualname__}; for a sync body (`response.iter_bytes()`, a list of chunks) "
            "feed each chunk to a `Decoder`, or `parse` the whole body"
        )
    # Made here for the same reason: a `max_size` or `last_event_id` it refuses fails at this call.
    decoder = Decoder(max_size=max_size)
    decoder.last_event_id = last_event_id
    return _messages(chunks, decoder)


async def _messages(
    chunks: AsyncIterable[bytes | bytearray | memoryview], decoder: Decoder
) -> AsyncGenerator[ServerSentMessage]:
    """The body of `aiter_messages`: an async generator, so that its `aclose` closes the chunks' iterator."""
    iterator = aiter(chunks)
    try:
        async for chunk in iterator:
            for message in decoder.feed(chunk):
                yield message
        for message in decoder.close():
            yield message
    finally:
        # Left suspended, a source generator would run its `finally` (a connection given back,
        # a lock released) only when the collector or the loop's shutdown got to it, in
        # another task; closed here, it runs in the consumer's, as `aclose` returns. One held at
        # a `yield` inside a task group hands the close back in a group: that is no failure.
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await closed(aclose)


def parse(data: bytes | bytearray | memoryview) -> list[ServerSentMessage]:
    r"""Parse a whole stream, returning every message it dispatches.

    Example:
        >>> parse(b"data: a\ndata: b\n\ndata: unterminated\n")
        [ServerSentMessage(event='message', data='a\nb', id='', retry=None)]
    """
    decoder = Decoder()
    return [*decoder.feed(data), *decoder.close()]
