"""Wire out: typed events to `text/event-stream` bytes (WHATWG HTML, "Server-sent events").

Every function here is pure and returns complete frames, each ending with the blank line that
makes a client dispatch it (or, for comments, that a client skips).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from pydantic_core import PydanticSerializationError

from typedsse.events import (
    CONSTANTS_PROBLEM,
    ID_PATTERN,
    MAX_RETRY,
    BaseEvent,
    chooses_serializer_when_written,
    named_subclass_hint,
    unwritable_payload,
    writes_own_json,
)
from typedsse.exceptions import EventDefinitionError, EventTypeError, WireFormatError

__all__ = ["comment", "encode", "encode_message", "frame_encoder", "retry_frame"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # SSE's only line ends; str.splitlines() splits on more
_FIELD_BREAKERS = re.compile(r"[\r\n\0]")
_ID = re.compile(ID_PATTERN)

KEEPALIVE = b":\n\n"
"""The keep-alive frame: an empty comment, ignored by every client."""


def encode(event: BaseEvent[Any]) -> bytes:
    r"""Render one typed event as `text/event-stream` bytes, ending with a blank line.

    The `event:` line comes from the class (computed once, when the class was defined), then
    `id:` and `retry:` when set, then the payload: one `data:` line of compact JSON, or for
    `encoding="text"` classes one `data:` line per line of the text.

    Example:
        >>> class Tick(BaseEvent[int]): ...
        >>> encode(Tick(data=1, id="7"))
        b'event: tick\nid: 7\ndata: 1\n\n'

    Raises:
        EventTypeError: `event` is not an instance of a concrete event class.
        WireFormatError: The event cannot be written (its payload is not serialisable as JSON,
            or holds what the wire cannot carry).
    """
    return frame_encoder(type(event))(event)


def frame_encoder(cls: type[BaseEvent[Any]]) -> Callable[[BaseEvent[Any]], bytes]:
    """Return the function that renders instances of `cls`, with its header and serializer bound.

    `encode(event)` is `frame_encoder(type(event))(event)`. A stream sending many events of a
    few classes keeps one encoder per class and skips per-event class lookups: attribute reads
    on a Pydantic model class go through its metaclass and cost more than the framing itself.
    The encoder is built once per class and kept on it.

    Raises:
        EventTypeError: `cls` is not an event class, or has no event name (`BaseEvent[int]`, a
            generic intermediate class).
        EventDefinitionError: A model the payload holds writes what JSON cannot carry (`NaN`),
            found only now because the payload was named before it was defined.
    """
    try:
        cached: Callable[[BaseEvent[Any]], bytes] | None = cls.__dict__.get("__typedsse_encoder__")
    except AttributeError:  # not a class at all (`5`, `None`): refused below
        cached = None
    if cached is not None:
        return cached
    if not (isinstance(cls, type) and issubclass(cls, BaseEvent)):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise EventTypeError(f"only events can be encoded: {_type_name(cls)} is not a BaseEvent subclass")
    if not cls.is_concrete():
        raise EventTypeError(
            f"{cls.__qualname__} has no event name: it is a generic event class; "
            f"send instances of a concrete subclass, e.g. {named_subclass_hint(cls)}"
        )
    problem = unwritable_payload(cls)
    if problem is not None:
        raise EventDefinitionError(f"{cls.__qualname__}: {problem}")
    header = cls.__typedsse_header__
    if cls.encoding == "json" and writes_own_json(cls):
        own = cls.__typedsse_encoder__ = _model_json_encoder(cls, header)
        return own
    if cls.encoding == "json":
        to_json = cls.data_serializer().to_json
        if chooses_serializer_when_written(cls):
            to_json = _refusing_constants(to_json, cls)

        def encoder(event: BaseEvent[Any]) -> bytes:
            fields = event.__dict__
            try:
                data = to_json(fields["data"], by_alias=True)
            except PydanticSerializationError as exc:
                raise WireFormatError(f"{cls.__qualname__}: cannot serialise the payload as JSON: {exc}") from exc
            except KeyError:
                raise _no_data(cls) from None
            event_id = fields["id"]
            if fields["retry"] is None:
                # The two common shapes in one formatting step each; anything else (a retry, an
                # id to re-check or refuse) takes the general path.
                if event_id is None:
                    return b"%sdata: %s\n\n" % (header, data)
                # Printable ASCII without a space at either end: what validation let through. An id
                # set by `model_copy(update=...)` or `model_construct` takes the checked path (so
                # does any id here if `strip` ever returned a copy of an unchanged str), and so
                # does a str subclass, whose own methods could answer anything.
                if (
                    type(event_id) is str
                    and event_id.isascii()
                    and event_id.isprintable()
                    and event_id.strip(" ") is event_id
                ):
                    return b"%sid: %s\ndata: %s\n\n" % (header, event_id.encode(), data)
            return b"%sdata: %s\n\n" % (_head(header, event_id, fields["retry"], cls), data)

    else:

        def encoder(event: BaseEvent[Any]) -> bytes:
            fields = event.__dict__
            event_id, retry = fields["id"], fields["retry"]
            head = header if event_id is None and retry is None else _head(header, event_id, retry, cls)
            text: object = fields.get("data", _MISSING)
            if text is _MISSING:
                raise _no_data(cls)
            if not isinstance(text, str):  # `model_construct` and `model_copy(update=...)` skip validation
                raise WireFormatError(
                    f"{cls.__qualname__}: a text event's data must be a str, got {type(text).__name__}"
                )
            return head + b"".join(b"data: " + _utf8(line, cls) + b"\n" for line in _LINE_BREAK.split(text)) + b"\n"

    cls.__typedsse_encoder__ = encoder
    return encoder


_MISSING = object()


def _type_name(cls: object) -> str:
    return cls.__qualname__ if isinstance(cls, type) else repr(cls)


def _no_data(cls: type[BaseEvent[Any]]) -> WireFormatError:
    # `model_construct()` without `data` makes an event with no payload at all.
    return WireFormatError(f"{cls.__qualname__}: the event has no data (made by `model_construct` without it)")


def _model_json_encoder(cls: type[BaseEvent[Any]], header: bytes) -> Callable[[BaseEvent[Any]], bytes]:
    # The class configures its own JSON (`ser_json_timedelta`, a `data` field serializer, ...):
    # write `data` exactly as the event model writes that field, which is also what its OpenAPI
    # schema describes. The model writes `{"data":...}`; the frame takes what follows the key.
    field = cls.model_fields["data"]
    key = field.serialization_alias or field.alias or "data"
    opening = b"{%s:" % json.dumps(key, ensure_ascii=False).encode()
    to_json = cls.__pydantic_serializer__.to_json
    if chooses_serializer_when_written(cls):
        to_json = _refusing_constants(to_json, cls)
    include = {"data"}

    def encoder(event: BaseEvent[Any]) -> bytes:
        try:
            written = to_json(event, include=include, by_alias=True)
        except PydanticSerializationError as exc:
            raise WireFormatError(f"{cls.__qualname__}: cannot serialise the payload as JSON: {exc}") from exc
        if not written.startswith(opening):
            if "data" not in event.__dict__:
                raise _no_data(cls)
            raise WireFormatError(  # pragma: no cover - the model writes its fields as given
                f"{cls.__qualname__}: the model did not write its data field: {written[:80]!r}"
            )
        fields = event.__dict__
        return b"%sdata: %s\n\n" % (_head(header, fields["id"], fields["retry"], cls), written[len(opening) : -1])

    return encoder


def _refusing_constants(to_json: Callable[..., bytes], cls: type[BaseEvent[Any]]) -> Callable[..., bytes]:
    """`to_json`, refusing output with `NaN` or `Infinity` outside strings, which is not JSON.

    For classes whose payload picks its serializer when written (`chooses_serializer_when_written`):
    a model met only then may write non-finite floats as constants. Other classes were checked
    when defined, and their events skip this.
    """

    def checked(value: Any, **options: Any) -> bytes:
        written = to_json(value, **options)
        if b"NaN" in written or b"Infinity" in written:  # most often inside a string: look outside them
            constant = _constant_outside_strings(written)
            if constant is not None:
                raise WireFormatError(f"{cls.__qualname__}: the payload wrote {constant}: {CONSTANTS_PROBLEM}")
        return written

    return checked


def _constant_outside_strings(written: bytes) -> str | None:
    """The first of `NaN`, `-Infinity` and `Infinity` that `written` holds outside its strings.

    Not `json.loads`, which converts every number (an integer past 4,300 digits raises) and
    recurses into every array: Pydantic wrote JSON but for these constants, so dropping the
    strings leaves one only where it was written. Escapes go first, an escaped backslash before
    an escaped quote (a run of backslashes pairs from its start); what stays between quotes is
    a string. UTF-8 puts no quote or backslash inside a multi-byte character.
    """
    unescaped = written.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b" ".join(unescaped.split(b'"')[::2])
    for constant in (b"NaN", b"-Infinity", b"Infinity"):
        if constant in outside:
            return constant.decode()
    return None


def _head(header: bytes, event_id: str | None, retry: int | None, cls: type[BaseEvent[Any]]) -> bytes:
    if event_id is not None:
        # Validated at construction, but `model_copy(update=...)` and `model_construct` skip
        # validation: a line break here would let one event inject another.
        if not isinstance(event_id, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise WireFormatError(f"{cls.__qualname__}: an SSE id must be a str, got {type(event_id).__name__}")
        if not _ID.fullmatch(event_id):
            raise WireFormatError(
                f"{cls.__qualname__}: an SSE id cannot contain ASCII control characters (but an inner tab) "
                f"or start or end with a space or tab, which the Last-Event-ID header cannot carry back: {event_id!r}"
            )
        header = b"%sid: %s\n" % (header, _utf8(event_id, cls))
    if retry is not None:
        # Validated at construction too; `model_construct` and `model_copy` skip that.
        header = b"%sretry: %d\n" % (header, checked_retry(retry, f"{cls.__qualname__}: "))
    return header


def encode_message(*, data: str, event: str | None = None, id: str | None = None, retry: int | None = None) -> bytes:
    """Render one untyped message; `data` is split into one `data:` line per line.

    This is the low-level writer for callers that hold plain strings (tests, proxies, tools).
    Typed code uses `encode`.

    Raises:
        WireFormatError: `event` or `id` cannot be carried by the line syntax (an empty
            `event` arrives as `message`), `retry` is not an integer from 0 to `MAX_RETRY`, or
            a text is not valid Unicode (a lone surrogate).
        TypeError: `data`, `event` or `id` is not a `str`.
    """
    if not isinstance(data, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"SSE data must be a str, got {type(data).__name__}")
    lines: list[str] = []
    if event is not None:
        event = _checked_field("event", event)
        if not event:
            raise WireFormatError("an SSE event name cannot be empty: a client reads `event: ` as `message`")
        lines.append(f"event: {event}")
    if id is not None:
        lines.append(f"id: {_checked_field('id', id)}")
    if retry is not None:
        lines.append(f"retry: {checked_retry(retry)}")
    lines.extend(f"data: {line}" for line in _LINE_BREAK.split(data))
    return _utf8("\n".join(lines) + "\n\n")


def comment(text: str = "") -> bytes:
    """Render a comment frame (`: text`), which clients ignore; used for keep-alives.

    Raises:
        WireFormatError: `text` contains CR, LF or NUL, or is not valid Unicode.
        TypeError: `text` is not a `str`.
    """
    text = _checked_field("comment", text)
    return _utf8(f": {text}\n\n") if text else KEEPALIVE


def retry_frame(milliseconds: int) -> bytes:
    """Render a frame that only sets the client's reconnection delay.

    Raises:
        WireFormatError: `milliseconds` is not an integer from 0 to `MAX_RETRY`.
    """
    return b"retry: %d\n\n" % checked_retry(milliseconds)


def checked_retry(milliseconds: object, where: str = "") -> int:
    """Return `milliseconds` if it can be written as an SSE `retry` field.

    A client applies `retry` only when it is all digits, so `True` or `1.5` would be dropped
    and a fraction cut silently; an integer past `MAX_RETRY` overflows JavaScript timers.

    Raises:
        WireFormatError: `milliseconds` is not an `int` (a `bool` is not one here), is
            negative, or is larger than `MAX_RETRY`.
    """
    if isinstance(milliseconds, int) and not isinstance(milliseconds, bool):
        if 0 <= milliseconds <= MAX_RETRY:
            return milliseconds
        # Not `repr`: past 4,300 digits converting an int to text raises a ValueError of its own.
        bits = milliseconds.bit_length()
        shown = str(milliseconds) if bits <= 64 else f"an integer of {bits} bits"
    else:
        shown = f"{milliseconds!r} ({type(milliseconds).__name__})"
    raise WireFormatError(f"{where}retry must be an integer number of milliseconds from 0 to {MAX_RETRY}, got {shown}")


def _utf8(text: str, cls: type[BaseEvent[Any]] | None = None) -> bytes:
    try:
        return str.encode(text)  # not `text.encode()`: a str subclass's own could write anything
    except UnicodeEncodeError as exc:  # a lone surrogate: valid in a Python str, not in UTF-8
        where = f"{cls.__qualname__}: " if cls is not None else ""
        raise WireFormatError(f"{where}the text is not valid Unicode: {exc}") from exc


def _checked_field(field: str, value: str) -> str:
    """`value` as a plain str, if the line syntax can carry it.

    A plain str: a subclass's own `__format__` (what an f-string calls) could write anything.
    """
    if not isinstance(value, str):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"an SSE {field} must be a str, got {type(value).__name__}")
    if _FIELD_BREAKERS.search(value):
        raise WireFormatError(f"an SSE {field} cannot contain CR, LF or NUL: {value!r}")
    return str.__str__(value)
