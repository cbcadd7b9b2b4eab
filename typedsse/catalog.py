"""An endpoint's event union: the return annotation read as `{event name: event class}`."""

from __future__ import annotations

import collections.abc
import sys
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import pydantic
import pydantic_core
from aiostream.core import Stream

from typedsse.events import NOT_AN_ALIAS, BaseEvent, StreamError, alias_value, named_subclass_hint, unreadable_json
from typedsse.exceptions import EndpointDefinitionError, EventDefinitionError, UnknownEventError

if typing.TYPE_CHECKING:
    from typedsse.decoding import ServerSentMessage

__all__ = ["EventCatalog", "StreamKind", "stream_annotation"]

StreamKind = Literal["async", "sync"]
"""Whether a stream annotation declares an async or a sync iteration."""

# `Stream` is what an operator pipeline is (`ops.Stream`): a function returning one may say so,
# as type checkers infer it, rather than widen it to `AsyncIterable`.
_ASYNC_ORIGINS: frozenset[Any] = frozenset(
    {collections.abc.AsyncIterator, collections.abc.AsyncIterable, collections.abc.AsyncGenerator, Stream}
)
_SYNC_ORIGINS: frozenset[Any] = frozenset(
    {collections.abc.Iterator, collections.abc.Iterable, collections.abc.Generator}
)
_EXPECTED = (
    "`AsyncIterator[A | B]`, `AsyncIterable[...]`, `AsyncGenerator[..., None]` "
    "(or `Iterator[...]`/`Generator[...]` for a sync generator)"
)


def _unwrap(annotation: Any, *, where: str, expanding: tuple[Any, ...] = ()) -> tuple[Any, tuple[Any, ...]]:
    """Strip `Annotated[...]` and type aliases (`type Events = A | B`) down to what they stand for.

    A generic alias given its arguments (`WithA[B]` of `type WithA[T] = A | T`) stands for its
    value with the arguments in place of its type parameters (`A | B`); a parameter given no
    argument stays, a type variable the catalog then refuses by name.

    Args:
        annotation: The annotation.
        where: The endpoint's name, for error messages.
        expanding: The aliases whose values `annotation` is part of.

    Returns:
        What `annotation` stands for, and `expanding` with the aliases expanded to reach it.

    Raises:
        EndpointDefinitionError: An alias stands for itself (`type Events = Events`, or
            `type Events = Echo | Events`): expanding it would never end.
    """
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        value = alias_value(annotation)
        if value is NOT_AN_ALIAS:
            return annotation, expanding
        if any(annotation is alias or annotation == alias for alias in expanding):
            chain = " -> ".join(repr(alias) for alias in (*expanding, annotation))
            raise EndpointDefinitionError(
                f"{where}: the type alias {annotation!r} stands for itself ({chain}), so it names no event "
                "class; name the classes, e.g. `type Events = Echo | ReverseEcho`"
            )
        expanding = (*expanding, annotation)
        annotation = value


def stream_annotation(annotation: Any, *, where: str) -> tuple[StreamKind, Any]:
    """Split a stream return annotation into its kind and its item type.

    Args:
        annotation: A resolved return annotation, such as `AsyncIterator[Echo | ReverseEcho]`.
        where: The endpoint's name, for error messages.

    Raises:
        EndpointDefinitionError: The annotation is missing or is not an iterator of events.
    """
    if annotation is None or annotation is typing.Any:
        raise EndpointDefinitionError(f"{where}: annotate the return type with {_EXPECTED}")
    annotation, _ = _unwrap(annotation, where=where)
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in _ASYNC_ORIGINS and args:
        return "async", args[0]
    if origin in _SYNC_ORIGINS and args:
        return "sync", args[0]
    raise EndpointDefinitionError(f"{where}: the return annotation {annotation!r} is not a stream; use {_EXPECTED}")


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _copies(first: type, second: type) -> bool:
    """Whether two classes are one definition run twice (a module imported under two names, a reload)."""
    if first.__qualname__ != second.__qualname__:
        return False
    if first.__module__ == second.__module__:
        return True
    files = {getattr(sys.modules.get(cls.__module__), "__file__", None) for cls in (first, second)}
    return len(files) == 1 and None not in files


def _members(item: Any, *, where: str, expanding: tuple[Any, ...] = ()) -> Iterator[Any]:
    item, expanding = _unwrap(item, where=where, expanding=expanding)
    if get_origin(item) in (Union, types.UnionType):
        for arg in get_args(item):
            yield from _members(arg, where=where, expanding=expanding)
    else:
        yield item


@dataclass(frozen=True, slots=True)
class EventCatalog:
    """The events one stream may send, by name, with the checks that keep the union honest.

    Build it with `EventCatalog.of(Echo | ReverseEcho)`; membership checks are a dictionary
    lookup on the item's exact class, so they cost nothing on the hot path.

    Attributes:
        events: The event classes, in declaration order.
        by_name: The same classes keyed by event name.
    """

    events: tuple[type[BaseEvent[Any]], ...]
    # Derived from `events`, so equality and hashing read `events` alone (a read-only view of
    # a dict has no hash).
    by_name: Mapping[str, type[BaseEvent[Any]]] = field(compare=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # The read-only view cannot be pickled: a copy, a deep copy or a pickle (the classes by
        # reference, as pickle takes classes) is the catalog of the same classes, checked again.
        return type(self).from_classes, (self.events,)

    @classmethod
    def of(cls, union: Any, *, where: str = "stream") -> EventCatalog:
        """Read an event union (`A | B`, `Union[A, B]`, a type alias of one, or one class) into a catalog.

        Raises:
            EndpointDefinitionError: A member is not a concrete `BaseEvent` subclass, two
                members share an event name, or a type alias stands for itself.
        """
        return cls.from_classes(tuple(_members(union, where=where)), where=where)

    @staticmethod
    def members(union: Any) -> tuple[Any, ...]:
        """Return the members of a union annotation (`A | B` gives `(A, B)`, `A` gives `(A,)`).

        Raises:
            EndpointDefinitionError: A type alias stands for itself (`type Events = Echo | Events`).
        """
        return tuple(_members(union, where="stream"))

    @classmethod
    def from_classes(cls, classes: Iterable[Any], *, where: str = "stream") -> EventCatalog:
        """Build a catalog from event classes (duplicates of one class are kept once).

        Raises:
            EndpointDefinitionError: A member is not a concrete `BaseEvent` subclass, or two
                members share an event name.
        """
        by_name: dict[str, type[BaseEvent[Any]]] = {}
        for member in classes:
            if isinstance(member, list | tuple | set | frozenset):
                # `EventCatalog.of([A, B])`: the classes may be fine, so the advice below (wrap
                # plain values in an event) would mislead.
                collection = type(typing.cast(object, member)).__name__
                raise EndpointDefinitionError(
                    f"{where}: {member!r} is a {collection}, not an event class; name the events "
                    "as a union (`A | B`), or pass a collection of classes to `EventCatalog.from_classes`"
                )
            if not (isinstance(member, type) and issubclass(member, BaseEvent)):
                raise EndpointDefinitionError(
                    f"{where}: {member!r} is not an event class; every member of the stream's union must "
                    "subclass BaseEvent (wrap plain values in an event, e.g. `class Token(BaseEvent[str]): ...`)"
                )
            event_cls: type[BaseEvent[Any]] = member  # pyright: ignore[reportUnknownVariableType]
            if not event_cls.is_concrete():
                raise EndpointDefinitionError(
                    f"{where}: {event_cls.__qualname__} is a generic event class with no name; "
                    f"subclass it, e.g. {named_subclass_hint(event_cls)}"
                )
            other = by_name.get(event_cls.event_name)
            if other is not None and other is not event_cls:
                first, second = other.__qualname__, event_cls.__qualname__
                if first == second:
                    first, second = _path(other), _path(event_cls)
                advice = (
                    ": two copies of one class, as when a module is imported under two names or reloaded; "
                    "import the events from one place"
                    if _copies(other, event_cls)
                    else '; a client could not tell them apart, so rename one (`class X(..., name="...")`)'
                )
                raise EndpointDefinitionError(
                    f"{where}: {first} and {second} share the event name {event_cls.event_name!r}{advice}"
                )
            by_name[event_cls.event_name] = event_cls
        return cls(events=tuple(by_name.values()), by_name=types.MappingProxyType(by_name))

    def __contains__(self, item: object) -> bool:
        cls = type(item)
        return self.by_name.get(getattr(cls, "event_name", ""), None) is cls

    def with_events(self, *extra: type[BaseEvent[Any]], where: str = "stream") -> EventCatalog:
        """Return a catalog that also holds `extra` (for example the stream's error event).

        Raises:
            EndpointDefinitionError: An extra event's name collides with a member's.
        """
        return self.from_classes((*self.events, *extra), where=where)

    @property
    def names(self) -> tuple[str, ...]:
        """The event names, in declaration order."""
        return tuple(self.by_name)

    def decode(self, message: ServerSentMessage) -> BaseEvent[Any]:
        r"""Return the typed event a received message carries: the reading side of `encode`.

        The class is the catalog's event named `message.event`; its `data` is read as that
        class writes it: JSON, validated in JSON mode by the class's own `data` field (so a
        strict model takes its datetimes and UUIDs from their JSON strings), or, for an
        `encoding="text"` class, the text as it is.

        The event's `id` and `retry` stay unset: `message.id` is the stream's *last event id*,
        which persists across messages (a message without an `id:` line repeats the one
        before), so it is the position to resume from, not a field of this event. For the same
        reason the class's model validators, which see a whole event, are not run: the data
        goes through what the `data` field itself validates (its type, the class's
        configuration, its field validators, which see the field's name as in the model). A
        class whose payload names a type defined after it is completed first (as making an
        instance would).

        Example:
            >>> from typedsse import BaseEvent
            >>> from typedsse.decoding import parse
            >>> class Tick(BaseEvent[int]): ...
            >>> EventCatalog.of(Tick).decode(parse(b"event: tick\ndata: 7\n\n")[0])
            Tick(data=7, id=None, retry=None)

        Raises:
            UnknownEventError: No event of the catalog has the message's name.
            EventDefinitionError: The class writes its payload in a way Pydantic reads back as
                another value (bytes as base64 without the matching `val_json_bytes`,
                timedeltas in milliseconds), or not at all (dates, times or timedeltas written
                as numbers where they are strict).
            pydantic.ValidationError: The data is not a valid payload for that event (or, for a
                JSON event, not JSON); each error's `loc` is its place in the payload, as
                `data_validator()` gives it (not under a `data` key).
        """
        cls = self.by_name.get(message.event)
        if cls is None:
            known = ", ".join(repr(name) for name in self.by_name)
            # The stream's error event, what every typedsse stream may end with, is the one a
            # catalog built from the stream's own union most often lacks.
            hint = (
                "; it is the built-in error event a stream ends with when it fails: add StreamError to "
                "the catalog (EventCatalog.of(A | B | StreamError)) to read it"
                if message.event == StreamError.event_name
                else ""
            )
            raise UnknownEventError(
                f"received an event named {message.event!r}, which is none of this stream's events ({known}){hint}",
                event=message.event,
            )
        problem = cls.__dict__.get("__typedsse_unreadable__")
        if problem is None:
            problem = cls.__typedsse_unreadable__ = unreadable_json(cls) or ""
        if problem:
            raise EventDefinitionError(f"{cls.__qualname__} cannot be decoded as it was encoded: {problem}")
        reader = cls._data_reader()  # pyright: ignore[reportPrivateUsage]
        if reader is None:  # no validator asks for its context: the data alone, read once
            validator = cls.data_validator()
            if cls.encoding == "text":
                return cls.model_construct(data=validator.validate_python(message.data))
            return cls.model_construct(data=validator.validate_json(message.data))
        if cls.encoding == "json":
            try:
                # One JSON value, as the class writes it: `1, "data": 2` would read as `2` below.
                pydantic_core.from_json(message.data)
            except ValueError:
                cls.data_validator().validate_json(message.data)  # raises the `ValidationError` a model would
                raise  # pragma: no cover - both parsers read the same JSON
        try:
            if cls.encoding == "text":
                fields = reader.validate_python({"data": message.data})
            else:
                fields = reader.validate_json(f'{{"data":{message.data}}}')
        except pydantic.ValidationError as exc:
            raise _as_data_alone(exc, "python" if cls.encoding == "text" else "json") from None
        return cls.model_construct(data=fields[0]["data"])


_KNOWN_ERRORS = frozenset(get_args(pydantic_core.core_schema.ErrorType))


def _as_data_alone(error: pydantic.ValidationError, input_type: Literal["python", "json"]) -> pydantic.ValidationError:
    """The errors of reading `{"data": ...}`, located as when the data is read alone.

    The reader that gives validators their context keys every error under `data`; the
    same payload read by `data_validator()` has no such key, and where an error is found
    should not depend on whether a validator asks for its context.
    """
    details: list[pydantic_core.InitErrorDetails] = []
    for line in error.errors():
        loc = line["loc"][1:] if line["loc"][:1] == ("data",) else line["loc"]
        kind: str | pydantic_core.PydanticCustomError = line["type"]
        if kind not in _KNOWN_ERRORS:  # a validator's own PydanticCustomError: its message, as written
            # Its parameters are typed `LiteralString` against injection into templates; this
            # text is a message already rendered.
            custom: Any = pydantic_core.PydanticCustomError
            kind = custom(line["type"], line["msg"], line.get("ctx"))
        detail = pydantic_core.InitErrorDetails(type=kind, loc=loc, input=line["input"])
        if "ctx" in line and isinstance(kind, str):
            detail["ctx"] = line["ctx"]
        details.append(detail)
    return pydantic.ValidationError.from_exception_data(error.title, details, input_type=input_type)
