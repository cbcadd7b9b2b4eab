"""`BaseEvent[T]`: one typed server-sent event, validated when its class is defined."""

from __future__ import annotations

import inspect
import itertools
import re
import sys
import types
import typing
from collections.abc import Callable, Iterator  # `Callable` for `typing.get_type_hints(BaseEvent)`
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Generic,
    Literal,
    NewType,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
)

import typing_extensions
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapSerializer,
    field_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import (
    CoreConfig,
    CoreSchema,
    InitErrorDetails,
    PydanticCustomError,
    PydanticKnownError,
    SchemaSerializer,
    SchemaValidator,
    core_schema,
)

from typedsse.exceptions import EventDefinitionError

if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["MAX_RETRY", "BaseEvent", "ErrorPayload", "EventEncoding", "StreamError", "event_name_for"]

DataT = TypeVar("DataT")

EventEncoding = Literal["json", "text"]
"""How an event's `data` is written: compact JSON (the default) or raw text lines."""

# `EventSource` fires its own `open` and `error` events (on every connection, and on a connection
# failure); a server event of either name would reach the same listener, indistinguishable from
# them (WHATWG HTML, "Server-sent events": "announce the connection", "fail the connection").
_RESERVED_NAMES = {
    "error": "browsers' EventSource fires its own 'error' event for connection failures",
    "open": "browsers' EventSource fires its own 'open' event on every connection",
}
# Model configuration that changes how Pydantic writes JSON; a class that sets any of it (or a
# serializer for `data`) is written through its own model serializer, not the shared fast path.
_SERIALIZATION_CONFIG = ("json_encoders",)
_SERIALIZATION_CONFIG_PREFIX = "ser_json_"
_ENCODINGS: frozenset[str] = frozenset({"json", "text"})


def event_name_for(class_name: str) -> str:
    """Return the event name inferred from a class name.

    Example:
        >>> event_name_for("ReverseEcho")
        'reverse_echo'
        >>> event_name_for("HTTPError")
        'http_error'
    """
    # A word starts at a capital after a lower-case letter or a digit (`ReverseEcho`,
    # `Echo2Reply`), or at the last capital of a run followed by a lower-case letter (`HTTPError`),
    # unless that letter is a plural `s` ending the word (`UserIDs`, `PDFsReady`).
    # `str.isupper`/`islower` know every script's cases: `CaféOpened` is `café_opened`.
    chars = list(class_name)
    size = len(chars)
    for i in range(size - 1, 0, -1):
        char, before = chars[i], chars[i - 1]
        if char.isupper() and (before.islower() or before.isdigit() or (before.isupper() and _starts_word(chars, i))):
            chars.insert(i, "_")
    return "".join(chars).lower()


def _starts_word(chars: list[str], i: int) -> bool:
    """Whether the capital at `i`, inside a run of capitals, starts a word (`HTTPError`'s `E`)."""
    if i + 1 >= len(chars) or not chars[i + 1].islower():
        return False
    plural = chars[i + 1] == "s" and (i + 2 == len(chars) or not chars[i + 2].islower())
    return not plural


def _name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if "\r" in name or "\n" in name:
        return "it contains a line break (CR or LF)"
    if "\0" in name:
        return "it contains NUL"
    if name != name.strip():
        return "it has leading or trailing whitespace (a parser strips one leading space)"
    if not is_utf8(name):
        return "it is not valid Unicode (a lone surrogate cannot be written as UTF-8)"
    return _RESERVED_NAMES.get(name)


def is_utf8(text: str) -> bool:
    """Whether `text` can be written as UTF-8 (percent-encoding writes it too): no lone surrogate."""
    try:
        str.encode(text)
    except UnicodeEncodeError:
        return False
    return True


_SSE_FIELDS = frozenset({"data", "id", "retry"})


def _field_problem(cls: type[BaseEvent[Any]]) -> str | None:
    extra = [name for name in (*cls.model_fields, *cls.model_computed_fields) if name not in _SSE_FIELDS]
    if not extra:
        return None
    if "encoding" in cls.model_fields:  # `encoding: str = "text"`: an annotation makes it a field
        return (
            "encoding belongs to the class, not to its events: set it as a class keyword, "
            f'`class {cls.__name__}(..., encoding="text")`, or as an attribute without an annotation'
        )
    names = ", ".join(repr(name) for name in extra)
    return (
        f"an event's fields are the SSE fields (data, id, retry), so {names} would never be sent; "
        "put it in the payload type instead (`BaseEvent[YourModel]`)"
    )


def _serializer_problem(cls: type[BaseEvent[Any]]) -> str | None:
    data = cls.model_fields["data"]
    if data.exclude or getattr(data, "exclude_if", None) is not None:  # `exclude_if`: Pydantic 2.11+
        return "data cannot be excluded from serialization: it is the payload every event sends"
    if cls.encoding == "json" and _writes_constants(cls):
        return CONSTANTS_PROBLEM
    decorators = cls.__pydantic_decorators__
    if decorators.model_serializers:
        return (
            "an event class cannot have a model_serializer: its fields are the SSE fields "
            "(data, id, retry); serialise the payload with @field_serializer('data') or in the payload type"
        )
    for decorator in decorators.field_serializers.values():
        fields = decorator.info.fields
        if "id" in fields or "retry" in fields or "*" in fields:
            return (
                "the SSE id and retry fields are written as they are; a serializer for them (or for '*') "
                "would be ignored; serialise the payload with @field_serializer('data')"
            )
        if cls.encoding == "text" and "data" in fields:
            return _TEXT_SERIALIZER
    serializers = (item for item in data_metadata(cls) if isinstance(item, PlainSerializer | WrapSerializer))
    if cls.encoding == "text" and next(serializers, None) is not None:
        return _TEXT_SERIALIZER  # `BaseEvent[Annotated[str, PlainSerializer(...)]]`
    return None


_TEXT_SERIALIZER = "encoding='text' writes the str payload as it is; a serializer for data would be ignored"

# `type Text = str` (Python 3.12) and `typing_extensions.TypeAliasType`, which may differ.
_ALIAS_TYPES: tuple[type, ...] = tuple(
    {typing_extensions.TypeAliasType, getattr(typing, "TypeAliasType", typing_extensions.TypeAliasType)}
)
NOT_AN_ALIAS: Any = object()


def alias_value(annotation: Any) -> Any:
    """What a type alias stands for, or `NOT_AN_ALIAS` when `annotation` is not one.

    A generic alias given its arguments (`WithA[B]` of `type WithA[T] = A | T`) stands for its
    value with the arguments in place of its type parameters (`A | B`). A parameter given no
    argument stays as it is.
    """
    if isinstance(annotation, _ALIAS_TYPES):
        return cast("typing_extensions.TypeAliasType", annotation).__value__
    alias = get_origin(annotation)
    if isinstance(alias, _ALIAS_TYPES):
        alias = cast("typing_extensions.TypeAliasType", alias)
        values = dict(zip(alias.__type_params__, get_args(annotation), strict=False))
        return _substituted(alias.__value__, values)
    return NOT_AN_ALIAS


def _substituted(annotation: Any, values: Mapping[Any, Any]) -> Any:
    """`annotation` with each type parameter in `values` replaced by its value, however deep.

    Rebuilt from `get_origin` and `get_args` rather than subscripted: the value of an alias may
    be a bare type variable (`type Same[T] = T`), and a union subscribed by its own parameters
    takes them in the order they appear in it, not the alias's.
    """
    for parameter, value in values.items():
        if annotation is parameter:
            return value
    args = get_args(annotation)
    if not args:
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:  # the metadata is not a type: kept as it is
        inner = _substituted(args[0], values)
        return annotation if inner is args[0] else Annotated[(inner, *args[1:])]
    replaced = tuple(_substituted(arg, values) for arg in args)
    if all(new is old for new, old in zip(replaced, args, strict=True)):
        return annotation
    if origin in (Union, types.UnionType):
        return Union[replaced]  # noqa: UP007 - `X | Y` cannot be built from a tuple
    return origin[replaced]


def _unwrapped(annotation: Any) -> tuple[Any, list[Any]]:
    """Strip `Annotated`, `NewType` and type aliases from a payload type; return it with the metadata met."""
    metadata: list[Any] = []
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            metadata.extend(extra)
        elif isinstance(annotation, NewType):
            annotation = annotation.__supertype__
        elif (value := alias_value(annotation)) is not NOT_AN_ALIAS:
            annotation = value
        else:
            return annotation, metadata


def data_metadata(cls: type[BaseEvent[Any]]) -> list[Any]:
    """The `data` field's metadata (constraints, serializers, a `FieldInfo`), on every Pydantic version."""
    field = cls.model_fields["data"]
    # Pydantic 2.7 keeps `Annotated[str, ...]` whole in the annotation; later versions move its
    # metadata to the field.
    return [*field.metadata, *_unwrapped(field.annotation)[1]]


def named_subclass_hint(cls: type[BaseEvent[Any]]) -> str:
    """How to get a named event out of a generic event class, e.g. `class MyEvent(Tagged[YourType]): ...`."""
    parameters = cls.__pydantic_generic_metadata__["parameters"]
    name = cls.__name__
    if parameters:
        name += "[" + ", ".join("YourType" for _ in parameters) + "]"
    return f"`class MyEvent({name}): ...`"


def _refuse_extra(cls: type[BaseEvent[Any]]) -> None:
    """Let a class with `extra="allow"` lend it to its payload, but refuse extra fields on the event."""
    own = cls.model_post_init

    def model_post_init(self: BaseEvent[Any], context: Any, /) -> None:
        extra = self.__pydantic_extra__
        if extra:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [InitErrorDetails(type="extra_forbidden", loc=(key,), input=value) for key, value in extra.items()],
            )
        own(self, context)
        try:
            object.__getattribute__(self, "__pydantic_private__")
        except AttributeError:  # Pydantic 2.7's `model_construct` sets it only without a post-init
            object.__setattr__(self, "__pydantic_private__", None)

    own_setattr = cls.__setattr__

    def __setattr__(self: BaseEvent[Any], name: str, value: Any, /) -> None:
        # Assigned, a misspelt field (`event.retyr = 5000`) would go to the extras as well; what
        # the class defines (a property with a setter, a `cached_property`) is its own business.
        cls = type(self)
        if name not in cls.model_fields and not name.startswith("_") and not hasattr(cls, name):
            raise ValidationError.from_exception_data(
                cls.__name__,
                [InitErrorDetails(type="no_such_attribute", loc=(name,), input=value, ctx={"attribute": name})],
            )
        own_setattr(self, name, value)

    model_post_init.__typedsse_refuses_extra__ = True  # type: ignore[attr-defined]
    cls.model_post_init = model_post_init  # type: ignore[method-assign,assignment]
    cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]


CONSTANTS_PROBLEM = (
    "ser_json_inf_nan='constants' writes NaN and Infinity, which are not JSON (a client's JSON.parse "
    "fails); keep the default 'null', or use 'strings', or refuse them with Field(allow_inf_nan=False)"
)


def unwritable_payload(cls: type[BaseEvent[Any]]) -> str | None:
    """Why events of `cls` cannot be written as JSON, its payload's forward references resolved; `None` if they can.

    Checked when the class is defined; a payload named before it was defined is known only
    later, so the encoder checks again when it is built for the class (once).
    """
    if cls.encoding != "json":
        return None
    return CONSTANTS_PROBLEM if _writes_constants(_completed(cls)) else None


def _writes_constants(cls: type[BaseEvent[Any]]) -> bool:
    """Whether the class, or a model its payload holds, writes a float that is not finite as `NaN` or `Infinity`."""
    if cls.model_config.get("ser_json_inf_nan") == "constants":
        return True
    if not cls.__pydantic_complete__:  # a payload named before it is defined: its models are not known yet
        return False
    found = _data_field_schema(cls.__pydantic_core_schema__)
    return found is not None and _has_constants(found[0])


def _has_constants(schema: object) -> bool:
    """Whether a core schema holds a model (a dataclass, a TypedDict) set to `ser_json_inf_nan="constants"`."""
    return any(_entry(node.get("config"), "ser_json_inf_nan") == "constants" for node in _schema_nodes(schema))


def _schema_nodes(schema: object) -> Iterator[dict[str, object]]:
    """Every schema in a core schema (the plain dicts and lists it is made of), once per configuration."""
    return (node for node, _ in _configured_nodes(schema, None))


def _configured_nodes(schema: object, config: object) -> Iterator[tuple[dict[str, object], object]]:
    """Every schema in a core schema, with the configuration it is built under (once for each).

    That is `config` (the event class's) until a model, dataclass or TypedDict schema brings
    its own, which holds for what it contains. A schema kept among the definitions (a
    recursive type alias, `type Blobs = bytes | list[Blobs]`) is built where it is used, under
    the configuration there: it is walked from each reference to it, not from the list.

    A schema is a mapping whose `type` is text. The mappings of fields by name are walked
    through but not yielded: a payload's field named `type` or `config` is a field there, not
    the mapping's kind or configuration. What a schema holds of the application's own values
    is not walked either: its `metadata` (what was given for its JSON Schema,
    `json_schema_extra={"type": "any"}`), a field's `default` (`{"type": "time"}`, a value
    like any other) and a custom error's context.
    """
    pending: list[tuple[object, object]] = [(schema, config)]
    seen: set[tuple[int, int]] = set()
    definitions: dict[object, object] = {}
    while pending:
        node, scope = pending.pop()
        if (id(node), id(scope)) in seen:
            continue
        seen.add((id(node), id(scope)))
        if isinstance(node, dict):
            items = cast("dict[str, object]", node)
            kind = items.get("type")
            if not isinstance(kind, str):  # fields by name
                pending.extend((value, scope) for value in items.values())
                continue
            if kind == "definitions":
                listed = cast("list[object]", items.get("definitions") or [])
                definitions.update((_entry(item, "ref"), item) for item in listed)
                pending.append((items.get("schema"), scope))
                continue
            if kind == "definition-ref":
                pending.append((definitions.get(items.get("schema_ref")), scope))
            own = items.get("config")
            if isinstance(own, dict) and kind in _CONFIGURED:
                scope = cast("dict[str, object]", own)
            yield items, scope
            pending.extend((value, scope) for key, value in items.items() if key not in _VALUES)
        elif isinstance(node, list | tuple):
            pending.extend((value, scope) for value in cast("list[object]", node))


_CONFIGURED = frozenset({"model", "dataclass", "typed-dict"})
# The keys of a schema whose values are the application's, not schemas.
_VALUES = frozenset({"metadata", "default", "custom_error_context"})


def _entry(mapping: object, key: str) -> object:
    """`mapping[key]` if `mapping` is a dict that has it, else `None`."""
    return cast("dict[str, object]", mapping).get(key) if isinstance(mapping, dict) else None


def unreadable_json(cls: type[BaseEvent[Any]]) -> str | None:
    """Why Pydantic would read a JSON payload of `cls` back as another value than was written; `None` if it would not.

    Pydantic's JSON settings come in pairs it does not match for the user: bytes written as
    base64 (`ser_json_bytes`) are read back as their UTF-8 text unless `val_json_bytes` says
    base64 too, and a timedelta written in milliseconds (`ser_json_temporal`) is read back in
    seconds. `EventCatalog.decode` refuses such a class rather than give back a wrong value.
    So it does a class that writes dates, times or timedeltas as numbers and reads them
    strictly: strict validation takes them from JSON as ISO 8601 text only, and every event
    would fail as if its data were wrong. Each model in the payload is judged by its own
    configuration.
    """
    if cls.encoding != "json":
        return None
    schema, config = _data_schema(_completed(cls))
    problems = (_unreadable(node, scope) for node, scope in _configured_nodes(schema, config or {}))
    return next((problem for problem in problems if problem is not None), None)


_TEMPORAL = frozenset({"datetime", "date", "time", "timedelta"})


def _unreadable(node: Mapping[str, object], config: object) -> str | None:
    kind = node.get("type")
    written_bytes = _entry(config, "ser_json_bytes") or "utf8"
    if kind == "bytes" and written_bytes != (_entry(config, "val_json_bytes") or "utf8"):
        return (
            f"its bytes are written as {written_bytes} (ser_json_bytes={written_bytes!r}) but read as "
            f"{_entry(config, 'val_json_bytes') or 'utf8'}; set val_json_bytes={written_bytes!r} beside it"
        )
    if kind in ("timedelta", "time") and _entry(config, "ser_json_temporal") == "milliseconds":
        return (
            f"its {kind}s are written in milliseconds (ser_json_temporal='milliseconds'), which Pydantic "
            "reads back as seconds; write them as 'iso8601' or 'seconds'"
        )
    # A field's own `strict` wins over its model's; a serializer function writes what it returns.
    if kind in _TEMPORAL and node.get("strict", _entry(config, "strict")) is True and "serialization" not in node:
        setting = _written_as_number(kind, config)
        if setting is not None:
            return (
                f"its {kind}s are written as numbers ({setting}), which strict validation reads from JSON "
                "only as ISO 8601 text; write them as 'iso8601', or read them laxly (Field(strict=False))"
            )
    return None


def _written_as_number(kind: object, config: object) -> str | None:
    """The setting that has a date, time or timedelta of `kind` written as a JSON number, if one does."""
    temporal = _entry(config, "ser_json_temporal")  # Pydantic 2.12+; where it is set, it decides
    if temporal is not None:
        return f"ser_json_temporal={temporal!r}" if temporal in ("seconds", "milliseconds") else None
    if kind == "timedelta" and _entry(config, "ser_json_timedelta") == "float":
        return "ser_json_timedelta='float'"
    return None


def chooses_serializer_when_written(cls: type[BaseEvent[Any]]) -> bool:
    """Whether what writes a JSON payload of `cls` is known only when an event is written.

    True when the payload holds an `Any` (also `SerializeAsAny`), goes through a serializer
    function (`PlainSerializer`, `WrapSerializer`, a `@field_serializer`, a model's
    `@model_serializer`), or holds a model or dataclass set to `polymorphic_serialization`
    (Pydantic 2.13+), which writes each subclass instance as its own class: the value written
    may be a model the class statement never named, whose configuration
    (`ser_json_inf_nan="constants"`) the checks at class definition could not see.
    """
    if cls.encoding != "json":
        return False
    found = _data_field_schema(_completed(cls).__pydantic_core_schema__)
    return found is not None and any(
        node.get("type") == "any"
        or _entry(node.get("serialization"), "type") in _RUN_TIME_SERIALIZERS
        or (node.get("type") in _CONFIGURED and bool(_entry(scope, "polymorphic_serialization")))
        for node, scope in _configured_nodes(found[0], found[1])
    )


_RUN_TIME_SERIALIZERS = frozenset({"function-plain", "function-wrap", "any"})


def writes_own_json(cls: type[BaseEvent[Any]]) -> bool:
    """Return whether `cls` changes how its payload is written as JSON.

    True when the class sets JSON serialization configuration (`ser_json_timedelta`,
    `ser_json_bytes`, ...) or has a field serializer for `data`: such classes are written through
    their own model serializer, so the wire matches `model_dump_json` and (but for the
    deprecated `json_encoders`, which Pydantic's JSON Schema ignores) the OpenAPI schema.
    """
    if any(key in _SERIALIZATION_CONFIG or key.startswith(_SERIALIZATION_CONFIG_PREFIX) for key in cls.model_config):
        return True
    fields = (decorator.info.fields for decorator in cls.__pydantic_decorators__.field_serializers.values())
    return any("data" in names or "*" in names for names in fields)


# Any character but a control character, a tab inside allowed: the text of an HTTP field value.
# CR, LF and NUL break the SSE line syntax; the rest of C0 and DEL break the `Last-Event-ID`
# header the id comes back in (httptools answers 400), and HTTP strips spaces and tabs at either
# end of a header value (the stream would resume from an id it never sent).
ID_PATTERN = r"^(?:[^\x00-\x1f\x7f ](?:[^\x00-\x08\x0a-\x1f\x7f]*[^\x00-\x1f\x7f ])?)?$"


_ID_PROBLEM = (
    "an event id must be Unicode text without ASCII control characters (tab aside) or spaces at either "
    "end: the SSE line syntax cannot carry CR, LF or NUL, and the Last-Event-ID header a client "
    "sends it back in cannot carry the others"
)


class _SseIdText:
    r"""The `id` field's schema: text a client can send back unchanged, checked by pydantic-core.

    A pattern in pydantic-core's Rust regex engine costs a tenth of a Python validator call,
    and every event with an id pays it. The id is kept as given: a class's `str_strip_whitespace`,
    `str_to_lower` or `str_to_upper` is for its payload's strings; on the id it would accept
    `"a\n"` (which the wire cannot carry) as `a`, or write `"Abc"` as `ABC`, an id the
    application never made and cannot resume from. Its `str_min_length` and `str_max_length`
    bound the payload's strings too: on the id they would refuse `"abcdef"` with this schema's
    message, which names a fault the id does not have.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.chain_schema(
            [
                # Text first, with Pydantic's own error for what is not (`id=7`): the message
                # below would blame a character the value does not have. A str passes as it is
                # (a lone surrogate included, which the pattern refuses with its message);
                # anything else, and JSON, is read as Pydantic reads text (bytes; a number
                # under `coerce_numbers_to_str`). JSON has its own step: the
                # pydantic-core of Pydantic 2.7 raises `NotImplementedError` for an instance
                # check of JSON input.
                core_schema.json_or_python_schema(
                    json_schema=_as_given(),
                    python_schema=core_schema.union_schema(
                        [core_schema.is_instance_schema(str), _as_given()],
                        mode="left_to_right",
                        custom_error_type="string_type",
                    ),
                ),
                core_schema.custom_error_schema(
                    # Rust's `$` is the end of the text (Python's also matches before a final
                    # LF), so the engine is pinned whatever a subclass's `regex_engine` says.
                    _as_given(pattern=ID_PATTERN, regex_engine="rust-regex"),
                    custom_error_type="sse_id",
                    custom_error_message=_ID_PROBLEM,
                ),
            ]
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        # What the id is: the pattern's step (a chain is documented by its first step, in
        # validation mode). The length bounds are there to override a class's configuration,
        # not to describe the id.
        steps = cast("core_schema.ChainSchema", schema)["steps"]
        json_schema = handler(steps[-1])
        json_schema.pop("minLength", None)
        json_schema.pop("maxLength", None)
        return json_schema


def _as_given(pattern: str | None = None, regex_engine: Literal["rust-regex"] | None = None) -> CoreSchema:
    """A str schema that keeps the text as given, whatever the class's string settings (its own win)."""
    return core_schema.str_schema(
        pattern=pattern,
        regex_engine=regex_engine,
        strip_whitespace=False,
        to_lower=False,
        to_upper=False,
        min_length=0,
        max_length=sys.maxsize,
    )


EventId = Annotated[str, _SseIdText]
"""An SSE `id`: text without ASCII control characters (a tab inside aside) or spaces and tabs at either end."""

MAX_RETRY = 2**31 - 1
"""The longest reconnection delay typedsse writes, in milliseconds (about 24.8 days).

The SSE syntax allows any run of digits, but a client that waits with JavaScript's
`setTimeout` (fetch-based clients and polyfills do) cannot wait longer: `setTimeout` takes a
32-bit signed delay, and Node turns a larger one into 1 ms, so the client would reconnect at once.
"""


class _Milliseconds:
    """The `retry` field's schema: an `int` (not a `bool`) from 0 to `MAX_RETRY`, in any mode.

    Strict: `True`, `2500.0` or `"5000"` would be written as a number the code never gave
    (`retry=False` is `retry: 0`, reconnect at once); JSON integers still validate. A caller's
    `model_validate(..., strict=False)` turns a field's own strictness off, so that mode takes
    the lax branch, which checks the type first; the default mode runs pydantic-core alone.
    """

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        bounded = core_schema.int_schema(ge=0, le=MAX_RETRY, strict=True)
        return core_schema.lax_or_strict_schema(
            lax_schema=core_schema.no_info_before_validator_function(_strict_int, bounded),
            strict_schema=bounded,
            strict=True,
        )


def _strict_int(value: object) -> object:
    """`value` if strict validation takes it as an `int`: an `int` or a subclass, but not a `bool`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise PydanticKnownError("int_type")


_CHECKED_LATE = frozenset({"id", "retry", "*"})
_ID = re.compile(ID_PATTERN)
_CHECK_NAMES = itertools.count()


def _validates_after_own_check(cls: type[BaseEvent[Any]]) -> bool:
    """Whether a field validator of `cls` gets the last word on `id` or `retry`.

    A validator in `mode="after"` (the default), `"wrap"` or `"plain"` runs on, or instead of,
    the value BaseEvent's declaration checked, and what it returns is not checked again. Read
    while the class is built, from its body and from the bases that are not events (an event
    base was judged when it was defined, and its check is inherited).
    """
    for klass in cls.__mro__:
        if klass is not cls and issubclass(klass, BaseEvent):
            continue
        built = klass.__dict__.get("__pydantic_decorators__")
        if built is not None:  # a Pydantic model
            infos = [decorator.info for decorator in built.field_validators.values()]
        else:  # `cls` itself, not built yet, or a plain class: the decorators its body holds
            infos = [getattr(value, "decorator_info", None) for value in klass.__dict__.values()]
        if any(_validates_late(info) for info in infos):
            return True
    return False


def _validates_late(info: object) -> bool:
    """Whether a decorator's info is a field validator of `id` or `retry` that runs after the field's own check."""
    # Not the deprecated `@validator`, which Pydantic applies around every `@field_validator`:
    # what one returns is checked when the event is written.
    if getattr(info, "decorator_repr", None) != "@field_validator":
        return False
    return getattr(info, "mode", None) != "before" and not _CHECKED_LATE.isdisjoint(getattr(info, "fields", ()))


def _returned_writable(cls: type[BaseEvent[Any]], value: object, info: ValidationInfo) -> object:
    """`value`, what the class's validators made of an `id` or `retry`, if the wire can carry it."""
    if value is None:
        return value
    if info.field_name == "id":
        if isinstance(value, str) and is_utf8(value) and _ID.fullmatch(value):
            return value
        problem = _ID_PROBLEM
    else:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_RETRY:
            return value
        problem = f"retry must be an integer number of milliseconds from 0 to {MAX_RETRY}"
    shown = repr(value) if not isinstance(value, int) or value.bit_length() <= 64 else "a larger integer"
    raise PydanticCustomError(
        "sse_returned",
        "a validator of the class returned {returned} ({kind}): {problem}",
        {"returned": shown, "kind": type(value).__name__, "problem": problem},
    )


def _keep_data_named(cls: type[BaseEvent[Any]]) -> None:
    """Give a redeclared `data` back its name, which the class's `alias_generator` changed.

    The generator is for the payload's keys (a TypedDict's, a dataclass's); BaseEvent names its
    own fields, but a subclass that redeclares `data` (`data: Member = Field(description=...)`)
    declares a new field, which the generator renamed (`Data`): `Joined(data=...)`, the
    constructor type checkers know, was refused. A field whose aliases the class gives
    (`Field(alias=...)`) is left as it is.
    """
    data = cls.model_fields["data"]
    if data.alias_priority != 1:  # 1: the aliases are the generator's
        return
    data.alias = data.validation_alias = data.serialization_alias = "data"
    data.alias_priority = 2
    if cls.__pydantic_complete__:  # else built with these aliases when its payload is defined
        cls.model_rebuild(force=True)


class BaseEvent(BaseModel, Generic[DataT]):
    """One typed server-sent event; subclass it once per kind of event.

    The event name (the SSE `event:` field) is inferred from the class name, `ReverseEcho`
    becoming `reverse_echo`; a `name=` class keyword overrides it. Payloads are written as
    compact JSON unless the class says `encoding="text"` (for `str` payloads that should go
    out as plain text lines).

    Example:
        ```python
        class Echo(BaseEvent[EchoPayload]): ...                     # "echo"
        class Progress(BaseEvent[float], name="job.progress"): ...  # explicit name
        class Token(BaseEvent[str], encoding="text"): ...           # raw text payload

        Echo(data=EchoPayload(message="hi", created_at=datetime.now(UTC)), id="1")
        ```

    Attributes:
        data: The payload, validated against the class's type parameter.
        id: The SSE `id` field; a client sends the last one back as `Last-Event-ID`.
        retry: The SSE `retry` field: the client's reconnection delay, in milliseconds, from 0
            to `MAX_RETRY`.
    """

    # Assignments are validated too: an id is checked whenever it changes, not only at creation.
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    event_name: ClassVar[str]
    """The SSE `event:` field of every instance; set on concrete event classes only."""
    encoding: ClassVar[EventEncoding] = "json"
    """How `data` is written on the wire: `"json"` (compact JSON) or `"text"` (raw lines)."""

    __typedsse_header__: ClassVar[bytes]
    __typedsse_serializer__: ClassVar[SchemaSerializer | None] = None
    __typedsse_validator__: ClassVar[SchemaValidator | None] = None
    # `None` until built; `False` where `data_validator()` reads data as the model does.
    __typedsse_reader__: ClassVar[SchemaValidator | Literal[False] | None] = None
    # Why `EventCatalog.decode` cannot read the class back ("" if it can); `None` until judged.
    __typedsse_unreadable__: ClassVar[str | None] = None
    __typedsse_encoder__: ClassVar[Callable[[BaseEvent[Any]], bytes] | None] = None

    # Each field is its own alias: an `alias_generator` the class sets for its payload (a
    # TypedDict's keys) must not rename the SSE fields themselves (`Data=...`, `Id=...`).
    data: DataT = Field(alias="data")
    id: EventId | None = Field(default=None, alias="id")
    # Integers only, whatever `strict=` a caller passes: see `_Milliseconds`.
    retry: Annotated[int, _Milliseconds] | None = Field(default=None, alias="retry")

    def __init_subclass__(cls, *, name: str | None = None, encoding: EventEncoding | None = None, **kwargs: Any):
        # The keywords are read by `__pydantic_init_subclass__`, once the fields exist. This runs
        # while Pydantic builds the class: before the schema, after the configuration.
        try:
            super().__init_subclass__(**kwargs)
        except TypeError as exc:
            if not kwargs:
                raise
            unknown = ", ".join(f"{key}=" for key in kwargs)
            raise EventDefinitionError(
                f"{cls.__qualname__}: unknown class keyword {unknown}; an event class takes name=, encoding= "
                "and Pydantic's configuration keywords"
            ) from exc
        if "event_name" in cls.__dict__:
            raise EventDefinitionError(
                f"{cls.__qualname__}: set the event name with the class keyword, "
                f'`class {cls.__name__}(..., name="...")`, not as a class attribute'
            )
        redeclared = sorted({"id", "retry"} & inspect.get_annotations(cls).keys())
        if redeclared:
            fields = " and ".join(redeclared)
            raise EventDefinitionError(
                f"{cls.__qualname__}: {fields} cannot be redeclared: BaseEvent's own declaration is the "
                "validation that keeps an event writable on the wire (a stream-wide retry goes in `@sse(retry=...)`)"
            )
        # Pydantic takes an attribute of a field's name (a property, a method) as the field's
        # default: an `id` property computed from the payload would be the id of every event.
        shadowing = sorted((_SSE_FIELDS & cls.__dict__.keys()) - inspect.get_annotations(cls).keys())
        if shadowing:
            named = " and ".join(shadowing)
            taken = (
                f"the class attribute {named} would be taken as the default of the SSE {named} field"
                if len(shadowing) == 1
                else f"the class attributes {named} would be taken as the defaults of the SSE {named} fields"
            )
            raise EventDefinitionError(
                f"{cls.__qualname__}: {taken}, the same for every event; rename the attribute, and set the field "
                f"when the event is made (`{cls.__name__}({shadowing[0]}=...)`)"
            )
        extra = cls.model_config.get("extra")
        if extra == "ignore":
            raise EventDefinitionError(
                f"{cls.__qualname__}: extra='ignore' would drop a misspelt field (`retyr=...`) without a word; "
                "an event's fields are data, id and retry"
            )
        if extra == "allow" and not getattr(cls.model_post_init, "__typedsse_refuses_extra__", False):
            # `extra="allow"` is lent to a TypedDict or dataclass payload; the event keeps its three fields.
            _refuse_extra(cls)
        if _validates_after_own_check(cls):
            # What such a validator returns skips BaseEvent's check of the field; this one, added
            # after it (so around it), checks it, and an id or retry the wire cannot carry is refused
            # when the event is made or assigned rather than when it is written. Its own name: a
            # subclass's check, under its parent's name, would take the parent's place, before the
            # subclass's validators. Classes without such a validator pay nothing.
            check = field_validator("id", "retry", mode="after")(_returned_writable)
            setattr(cls, f"_typedsse_checks_returned_{next(_CHECK_NAMES)}", check)

    @classmethod
    def __pydantic_init_subclass__(
        cls, *, name: str | None = None, encoding: EventEncoding | None = None, **kwargs: Any
    ) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _keep_data_named(cls)
        own = BaseEvent.model_fields
        replaced = [field for field in ("id", "retry") if _declared(cls.model_fields[field]) != _declared(own[field])]
        if replaced:
            # Declared by another base (a mixin shared with other models): its declaration won.
            bases: tuple[type, ...] = cls.__mro__[1:]
            owners = sorted(
                {
                    base.__qualname__
                    for base in bases
                    if replaced[0] in inspect.get_annotations(base) and not issubclass(base, BaseEvent)
                }
            )
            plain = sorted(
                {
                    base.__qualname__
                    for base in bases
                    if not issubclass(base, BaseModel) and any(field in base.__dict__ for field in replaced)
                }
            )
            if plain:
                # A plain class's attribute becomes the field's default wherever the class is listed.
                advice = f"a class attribute named {' or '.join(replaced)} (in {', '.join(plain)}) becomes "
                advice += "the field's default wherever that class is listed; rename the attribute"
            else:
                advice = "put BaseEvent first in the bases, or leave these fields out of the mixin"
            by = f" (by {', '.join(owners)})" if owners else ""
            raise EventDefinitionError(
                f"{cls.__qualname__}: {' and '.join(replaced)} cannot be redeclared{by}: BaseEvent's own declaration "
                f"is the validation that keeps an event writable on the wire; {advice}"
            )
        if encoding is not None:
            cls.encoding = encoding
        if not (isinstance(cls.encoding, str) and cls.encoding in _ENCODINGS):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise EventDefinitionError(
                f"{cls.__qualname__}: unknown encoding {cls.encoding!r}; use encoding='json' or encoding='text'"
            )
        problem = _field_problem(cls)
        if problem is not None:
            raise EventDefinitionError(f"{cls.__qualname__}: {problem}")
        metadata = cls.__pydantic_generic_metadata__
        if metadata["origin"] is not None or metadata["parameters"]:
            # `BaseEvent[str]` and `class Tagged(BaseEvent[T], Generic[T])` are classes too,
            # but only their concrete subclasses are events with a name.
            if name is not None:
                raise EventDefinitionError(
                    f"{cls.__qualname__}: a generic event class cannot have a name; "
                    "give the name to its concrete subclasses"
                )
            return
        if name is None:
            name = event_name_for(cls.__name__)
        if isinstance(name, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            # A plain str: a subclass's own methods (`encode`, `strip`) could pass the checks and
            # write anything into the header.
            name = str.__str__(name)
            problem = _name_problem(name)
        else:
            problem = "it is not a string"
        if problem is not None:
            raise EventDefinitionError(
                f"{cls.__qualname__}: invalid event name {name!r}: {problem}; "
                "pass a valid one as a class keyword, "
                f'e.g. `class {cls.__name__}(..., name="app.{cls.__name__.lower()}")`'
            )
        if cls.encoding == "text" and _unwrapped(cls.model_fields["data"].annotation)[0] is not str:
            raise EventDefinitionError(
                f"{cls.__qualname__}: encoding='text' needs a `str` payload, "
                f"got {cls.model_fields['data'].annotation!r}; use the default JSON encoding"
            )
        problem = _serializer_problem(cls)
        if problem is not None:
            raise EventDefinitionError(f"{cls.__qualname__}: {problem}")
        cls.event_name = name
        cls.__typedsse_header__ = b"event: " + name.encode() + b"\n"
        cls.__typedsse_serializer__ = None  # built on first use: the payload type may be a forward reference
        cls.__typedsse_validator__ = None
        cls.__typedsse_reader__ = None
        cls.__typedsse_encoder__ = None

    @classmethod
    def __pydantic_on_complete__(cls) -> None:
        # Pydantic 2.12+: a class whose payload was a forward reference gets its fields, and its
        # generator's aliases, only once the payload is defined.
        super().__pydantic_on_complete__()
        _keep_data_named(cls)

    @classmethod
    def is_concrete(cls) -> bool:
        """Return whether this class is a named event (not `BaseEvent[T]` or a generic intermediate)."""
        return "event_name" in cls.__dict__

    @classmethod
    def data_type(cls) -> Any:
        """Return the payload type: the `data` field's annotation (`NoneType` for `BaseEvent[None]`)."""
        annotation = cls.model_fields["data"].annotation
        # Pydantic before 2.12 keeps a `None` payload type as `None`; later ones give its type.
        # Pydantic 2.7 keeps `Annotated[int, ...]` whole; later ones move the metadata to the field.
        while get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        return type(None) if annotation is None else annotation

    @classmethod
    def data_serializer(cls) -> SchemaSerializer:
        """Return the serializer of the payload type alone (built once per class).

        `encode` writes payloads with it, unless the class sets its own JSON configuration or a
        `data` field serializer (see `writes_own_json`); then the event model writes them.
        """
        serializer = cls.__dict__.get("__typedsse_serializer__")
        if serializer is None:
            schema, config = _data_schema(_completed(cls))
            serializer = cls.__typedsse_serializer__ = SchemaSerializer(schema, config)
        return serializer

    @classmethod
    def data_validator(cls) -> SchemaValidator:
        """Return the validator of the payload type alone, as the event model validates `data` (built once per class).

        It holds the class's configuration and its `data` field validators, so
        `data_validator().validate_json(line)` reads a data line back as the model would read
        the same JSON under its `data` key, but for what a field validator learns of its
        field: validated alone, `data` has no field name and no earlier fields in its
        `ValidationInfo`. `EventCatalog.decode` reads data in the event's field context.
        """
        validator = cls.__dict__.get("__typedsse_validator__")
        if validator is None:
            schema, config = _data_schema(_completed(cls))
            validator = cls.__typedsse_validator__ = SchemaValidator(schema, config)
        return validator

    @classmethod
    def _data_reader(cls) -> SchemaValidator | None:
        """The event's fields with `data` alone, reading `{"data": ...}` as the model does; `None` if not needed.

        Needed when a validator of `data` takes a `ValidationInfo`, whose field name and earlier
        fields only a fields schema gives it; otherwise `data_validator()` reads the same, once.
        """
        reader = cls.__dict__.get("__typedsse_reader__")
        if reader is None:
            schema, config = _data_schema(_completed(cls), alone=False)
            reader = cls.__typedsse_reader__ = SchemaValidator(schema, config) if _takes_info(schema) else False
        return reader or None


def _takes_info(schema: object) -> bool:
    """Whether a core schema holds a validator function that takes a `ValidationInfo`."""
    return any(_entry(node.get("function"), "type") == "with-info" for node in _schema_nodes(schema))


def _declared(field: FieldInfo) -> tuple[Any, ...]:
    """What makes a field's declaration: its type, its constraints and its default."""
    return field.annotation, tuple(field.metadata), field.default


def _completed(cls: type[BaseEvent[Any]]) -> type[BaseEvent[Any]]:
    """`cls`, its schema built: a payload named by a forward reference may be defined only now.

    Pydantic 2.7 leaves an incomplete class with its generic base's schema (`data: Any`) until
    it is rebuilt; a client that only decodes never makes an instance that would rebuild it.

    Raises:
        pydantic.errors.PydanticUndefinedAnnotation: A name the payload type uses is still undefined.
    """
    if not cls.__pydantic_complete__:
        cls.model_rebuild()
    return cls


def _data_schema(cls: type[BaseEvent[Any]], *, alone: bool = True) -> tuple[CoreSchema, CoreConfig | None]:
    # The `data` field's own schema, as the event model built it: with what the class lends it
    # (its `alias_generator` and `extra` for a TypedDict or dataclass payload,
    # `arbitrary_types_allowed`, its field validators), and the field's discriminator, which a
    # fresh `TypeAdapter` of the annotation would miss. Not `alone`: the model's fields schema
    # with `data` as its one field (no other key allowed), which gives field validators their
    # context, as the model does.
    found = _data_field_schema(cls.__pydantic_core_schema__, alone=alone)
    if found is None:  # pragma: no cover - a model schema of a shape Pydantic does not build today
        field = cls.model_fields["data"]
        annotation: Any = field.annotation
        if field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]
        return TypeAdapter(annotation).core_schema, None
    return found


_MODEL_VALIDATOR_WRAPPERS = frozenset({"function-after", "function-before", "function-wrap"})


def _data_field_schema(schema: CoreSchema, *, alone: bool = True) -> tuple[CoreSchema, CoreConfig | None] | None:
    """The schema of an event model's `data` field (with the definitions it refers to) and the model's config."""
    node: Mapping[str, Any] = cast("Any", schema)  # walked as the plain dicts it is
    definitions: list[CoreSchema] = []
    config: CoreConfig | None = None
    while True:
        kind = node.get("type")
        if kind == "definitions":
            definitions.extend(node["definitions"])
            node = node["schema"]
        elif kind == "definition-ref":
            target = next((d for d in definitions if d.get("ref") == node["schema_ref"]), None)
            if target is None:
                return None
            node = cast("Any", target)
        elif kind == "model":
            config = node.get("config")
            node = node["schema"]
        elif kind in _MODEL_VALIDATOR_WRAPPERS:
            node = node["schema"]  # a `@model_validator` of the class, around its model
        elif kind == "model-fields" and "data" in node["fields"]:
            if alone:
                data = cast("CoreSchema", node["fields"]["data"]["schema"])
            else:
                field = dict(node["fields"]["data"])
                field.pop("validation_alias", None)  # read under its name, whatever alias the class gives it
                data = core_schema.model_fields_schema(
                    {"data": cast("Any", field)}, model_name=node.get("model_name"), extra_behavior="forbid"
                )
            return (core_schema.definitions_schema(data, definitions) if definitions else data), config
        else:
            return None


class ErrorPayload(BaseModel):
    """What a client learns when a stream fails after it started: safe to show, nothing internal.

    Attributes:
        message: A human-readable, generic description.
        code: A stable machine-readable code: `internal_error` for an exception, `invalid_event`
            for an item that is not one of the stream's events, `request_refused` for a request
            refused once the stream started (an `HTTPException` with a 4xx status).
    """

    message: str
    code: str


class StreamError(BaseEvent[ErrorPayload], name="typedsse.error"):
    """The built-in event that ends a stream which failed after its first event.

    Named `typedsse.error`, not `error`: browsers' `EventSource` fires its own `error` event for
    connection failures. Replace it with an event of your own through `@sse(on_error=...)`.
    """
