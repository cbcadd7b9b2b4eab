from __future__ import annotations

import copy
import importlib.util
import pickle
import sys
import uuid
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar, Union

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.alias_generators import to_pascal
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType, TypedDict

from typedsse import (
    BaseEvent,
    EndpointDefinitionError,
    ErrorPayload,
    EventCatalog,
    EventDefinitionError,
    StreamError,
    UnknownEventError,
    encode,
)
from typedsse import operators as ops
from typedsse.catalog import stream_annotation
from typedsse.decoding import ServerSentMessage, parse

T = TypeVar("T")
U = TypeVar("U")


class Echo(BaseEvent[str]): ...


class ReverseEcho(BaseEvent[str]): ...


WithEcho = TypeAliasType("WithEcho", Echo | T, type_params=(T,))  # `type WithEcho[T] = Echo | T`


class Impostor(BaseEvent[int], name="echo"): ...


class Generic1(BaseEvent[T], Generic[T]): ...


@pytest.mark.parametrize(
    ("annotation", "kind"),
    [
        (AsyncIterator[Echo], "async"),
        (AsyncIterable[Echo], "async"),
        (AsyncGenerator[Echo, None], "async"),
        (ops.Stream[Echo], "async"),
        (Iterator[Echo], "sync"),
        (Generator[Echo, None, None], "sync"),
        (Annotated[AsyncIterator[Echo], "meta"], "async"),
        (TypeAliasType("EchoStream", AsyncIterator[Echo]), "async"),
        (TypeAliasType("Stream", AsyncIterator[T], type_params=(T,))[Echo], "async"),
        (TypeAliasType("SyncStream", Annotated[Iterator[T], "meta"], type_params=(T,))[Echo], "sync"),
    ],
)
def test_stream_annotation_reads_kind_and_item(annotation: Any, kind: str) -> None:
    assert stream_annotation(annotation, where="f") == (kind, Echo)


@pytest.mark.parametrize("annotation", [None, Any, list[Echo], Echo, AsyncIterator])
def test_stream_annotation_refuses_non_streams(annotation: Any) -> None:
    with pytest.raises(EndpointDefinitionError, match=r"^f: "):
        stream_annotation(annotation, where="f")


@pytest.mark.parametrize(
    "union",
    [
        Echo | ReverseEcho,
        Union[Echo, ReverseEcho],  # noqa: UP007
        Annotated[Echo | ReverseEcho, "x"],
        TypeAliasType("Echoes", Echo | ReverseEcho),  # `type Echoes = Echo | ReverseEcho`
        Union[TypeAliasType("JustEcho", Echo), ReverseEcho],  # noqa: UP007
        WithEcho[ReverseEcho],  # `type WithEcho[T] = Echo | T`
        # The arguments go to the parameters in the alias's order, not in their order in its value.
        TypeAliasType("Either", Annotated[U | T, "meta"], type_params=(T, U))[ReverseEcho, Echo],
        TypeAliasType("Outer", Annotated[WithEcho[T], "meta"], type_params=(T,))[ReverseEcho],
        WithEcho[TypeAliasType("JustReverseEcho", ReverseEcho)],
    ],
    ids=[
        "pipe",
        "typing-union",
        "annotated",
        "type-alias",
        "alias-in-union",
        "generic-alias",
        "generic-alias-parameter-order",
        "generic-alias-of-a-generic-alias",
        "generic-alias-of-an-alias",
    ],
)
def test_event_catalog_maps_names_to_classes(union: Any) -> None:
    catalog = EventCatalog.of(union)
    assert dict(catalog.by_name) == {"echo": Echo, "reverse_echo": ReverseEcho}
    assert catalog.names == ("echo", "reverse_echo")
    assert Echo(data="x") in catalog
    assert Impostor(data=1) not in catalog
    assert "echo" not in catalog


def test_event_catalog_refuses_name_collisions() -> None:
    with pytest.raises(EndpointDefinitionError, match=r"Echo and Impostor share the event name 'echo'"):
        EventCatalog.of(Echo | Impostor, where="f")


@pytest.mark.parametrize(
    ("union", "message"),
    [
        (int, "int'> is not an event class"),
        (Echo | str, "str'> is not an event class"),
        (BaseEvent[str], "is a generic event class with no name"),
        (Generic1[int], "is a generic event class with no name"),
    ],
)
def test_event_catalog_refuses_non_events(union: Any, message: str) -> None:
    with pytest.raises(EndpointDefinitionError, match=message):
        EventCatalog.of(union, where="f")


@pytest.mark.parametrize("collection", [[Echo, ReverseEcho], (Echo, ReverseEcho), {Echo}])
def test_event_catalog_of_a_collection_points_to_a_union_or_from_classes(collection: Any) -> None:
    # The classes were told to "wrap plain values in an event", advice for a payload type.
    expected = r"is a (list|tuple|set), not an event class; .*from_classes"
    with pytest.raises(EndpointDefinitionError, match=expected) as info:
        EventCatalog.of(collection, where="f")
    assert "wrap plain values" not in str(info.value)
    names = EventCatalog.from_classes(collection).names
    assert names == tuple(cls.event_name for cls in (Echo, ReverseEcho) if cls in collection)


def self_referring_aliases() -> dict[str, Any]:
    """`type Loop = Loop`, `type Echoes = Echo | Echoes`, `type Ping = Pong` with `type Pong = Ping`."""
    if sys.version_info >= (3, 12):  # the `type` statement evaluates its value lazily, so it may name itself
        scope: dict[str, Any] = {"Echo": Echo}
        exec("type Loop = Loop\ntype Echoes = Echo | Echoes\ntype Ping = Pong\ntype Pong = Ping", scope)
        return {name: scope[name] for name in ("Loop", "Echoes", "Ping")}
    # typing_extensions' alias takes its value at once: set it afterwards to what `type` would give.
    loop, echoes, ping, pong = (TypeAliasType(name, int) for name in ("Loop", "Echoes", "Ping", "Pong"))
    for alias, value in ((loop, loop), (echoes, Echo | echoes), (ping, pong), (pong, ping)):
        object.__setattr__(alias, "__value__", value)
    return {"Loop": loop, "Echoes": echoes, "Ping": ping}


@pytest.mark.parametrize(
    ("name", "chain"),
    [("Loop", "Loop -> Loop"), ("Echoes", "Echoes -> Echoes"), ("Ping", "Ping -> Pong -> Ping")],
)
def test_event_catalog_refuses_an_alias_that_stands_for_itself(name: str, chain: str) -> None:
    # `type Loop = Loop` made `EventCatalog.of` (and so `@sse`) loop forever, and `type Echoes =
    # Echo | Echoes` raised a RecursionError.
    alias = self_referring_aliases()[name]
    message = rf"^f: the type alias {name} stands for itself \({chain}\), so it names no event class"
    with pytest.raises(EndpointDefinitionError, match=message):
        EventCatalog.of(alias, where="f")
    with pytest.raises(EndpointDefinitionError, match=r"^f: "):  # as a return annotation, it did the same
        stream_annotation(alias, where="f")
    with pytest.raises(EndpointDefinitionError, match=r"^f: the type alias"):
        EventCatalog.of(Echo | alias, where="f")


def test_event_catalog_with_events_adds_and_checks() -> None:
    catalog = EventCatalog.of(Echo).with_events(ReverseEcho)
    assert catalog.names == ("echo", "reverse_echo")
    with pytest.raises(EndpointDefinitionError, match="share the event name"):
        catalog.with_events(Impostor)


def test_event_catalog_tells_copies_of_one_class_from_a_true_collision(tmp_path: Path) -> None:
    # The same file imported under two module names (or a module reloaded) defines the class twice.
    source = tmp_path / "shared_events.py"
    source.write_text("from typedsse import BaseEvent\n\nclass Boom(BaseEvent[int], name='app.boom'): ...\n")
    names = ("pkg_a.shared_events", "shared_events")
    copies = []
    try:
        for module_name in names:
            spec = importlib.util.spec_from_file_location(module_name, source)
            assert spec is not None
            assert spec.loader is not None
            module = sys.modules[module_name] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            copies.append(module.Boom)
        with pytest.raises(EndpointDefinitionError, match=r"share the event name 'app.boom': two copies of one class"):
            EventCatalog.of(copies[0] | copies[1])
    finally:
        for module_name in names:
            sys.modules.pop(module_name, None)

    other = type("Echo", (BaseEvent[bytes],), {"__module__": "elsewhere"})
    with pytest.raises(EndpointDefinitionError, match=r"test_catalog\.Echo and elsewhere\.Echo share .*rename one"):
        EventCatalog.of(Echo | other)


class Stamp(BaseModel):
    model_config = ConfigDict(strict=True)
    at: datetime
    key: uuid.UUID


class Stamped(BaseEvent[Stamp]): ...


class Token(BaseEvent[str], encoding="text"): ...


class Row(TypedDict):
    a: int


class RowAdded(BaseEvent[Row]):
    model_config = ConfigDict(extra="allow", alias_generator=to_pascal, populate_by_name=True)


class Shouted(BaseEvent[str]):
    @field_validator("data")
    @classmethod
    def upper(cls, value: str) -> str:
        return value.upper()


RECEIVED = EventCatalog.of(Echo | Stamped | Token | RowAdded | Shouted)


@pytest.mark.parametrize(
    "event",
    [
        Echo(data="hi"),
        Stamped(data=Stamp(at=datetime(2025, 1, 2, tzinfo=UTC), key=uuid.UUID(int=7))),
        # Text that is also JSON, or not JSON at all: a text event's data is never parsed.
        Token(data='"quoted"'),
        Token(data="42"),
        Token(data="two words\nand a line"),
        Token(data=""),
        RowAdded(data={"a": 1, "zz": 2}),  # type: ignore[typeddict-unknown-key]
        Shouted(data="LOUD"),
    ],
    ids=["json", "strict-json", "text-json-string", "text-number", "text-lines", "text-empty", "extra", "validator"],
)
def test_decode_reads_back_what_encode_wrote(event: BaseEvent[Any]) -> None:
    (message,) = parse(encode(event))
    decoded = RECEIVED.decode(message)
    assert type(decoded) is type(event)
    assert decoded == event


def test_decode_leaves_the_stream_fields_on_the_message() -> None:
    first, second = parse(encode(Echo(data="a", id="1", retry=500)) + encode(Echo(data="b")))
    assert (second.id, second.retry) == ("1", None)  # the last event id persists; the event had none
    for message in (first, second):
        decoded = RECEIVED.decode(message)
        assert (decoded.id, decoded.retry) == (None, None)


def test_catalog_and_its_errors_survive_copy_and_pickle() -> None:
    # A process pool re-raising `UnknownEventError` pickles it; its `event` keyword was lost
    # (a TypeError on unpickling). A catalog held a read-only dict view: no hash, no pickle.
    for clone in (copy.copy, copy.deepcopy, lambda value: pickle.loads(pickle.dumps(value))):
        catalog = clone(RECEIVED)
        assert catalog == RECEIVED
        assert catalog.by_name == RECEIVED.by_name
        error = clone(UnknownEventError("unknown", event="nope"))
        assert (str(error), error.event) == ("unknown", "nope")
    assert hash(EventCatalog.of(Echo)) == hash(EventCatalog.of(Echo))
    assert {EventCatalog.of(Echo): 1}[EventCatalog.from_classes([Echo])] == 1


def test_decode_refuses_unknown_names_and_invalid_data() -> None:
    with pytest.raises(
        UnknownEventError, match=r"named 'nope', which is none of this stream's events \('echo', "
    ) as info:
        RECEIVED.decode(ServerSentMessage(event="nope", data="1"))
    assert info.value.event == "nope"
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnknownEventError, match="named 'message'"):
        RECEIVED.decode(parse(b"data: 1\n\n")[0])  # no `event:` line
    # A catalog of the stream's own union lacks the error event a failed stream ends with.
    with pytest.raises(UnknownEventError, match=r"named 'typedsse.error', .*\); it is the built-in error event"):
        RECEIVED.decode(parse(encode(StreamError(data=ErrorPayload(code="internal_error", message="x"))))[0])
    with pytest.raises(ValidationError, match=r"Invalid JSON"):
        RECEIVED.decode(ServerSentMessage(event="echo", data="hi"))
    with pytest.raises(ValidationError, match=r"Input should be a valid string"):
        RECEIVED.decode(ServerSentMessage(event="echo", data="1"))
    # A data line that is more than one JSON value cannot smuggle in another field.
    with pytest.raises(ValidationError):
        RECEIVED.decode(ServerSentMessage(event="echo", data='"a", "id": "injected"'))


class Checked(BaseEvent[Row]):
    model_config = ConfigDict(alias_generator=to_pascal, populate_by_name=True, extra="allow")

    @field_validator("data")
    @classmethod
    def positive(cls, value: Row) -> Row:
        if value["a"] < 0:
            raise ValueError("a must not be negative")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def around(cls, value: Any, handler: Any) -> Any:
        return handler(value)

    @model_validator(mode="after")
    def after(self) -> Checked:
        return self


def test_a_model_validator_leaves_the_data_fields_own_validation_and_serialization_in_place() -> None:
    # A model validator wraps the event's schema: the data field's own schema (its validators, the
    # configuration the class lends a TypedDict) was then missed, and a bare one used instead.
    event = Checked(data={"a": 1, "zz": 2})  # type: ignore[typeddict-unknown-key]
    assert encode(event).endswith(b'data: {"A":1,"zz":2}\n\n')  # as `model_dump_json` writes it
    catalog = EventCatalog.of(Checked)
    assert catalog.decode(parse(encode(event))[0]) == event
    with pytest.raises(ValidationError, match="a must not be negative"):
        catalog.decode(ServerSentMessage(event="checked", data='{"A": -1}'))


class Normalised(BaseEvent[str]):
    """Field validators that read their context: one for several fields, and one reading earlier fields."""

    model_config = ConfigDict(alias_generator=to_pascal)  # the SSE fields keep their names all the same

    @field_validator("*")
    @classmethod
    def lowered(cls, value: Any, info: ValidationInfo) -> Any:
        return value.strip().lower() if info.field_name == "data" else value

    @field_validator("data")
    @classmethod
    def first(cls, value: str, info: ValidationInfo) -> str:
        assert dict(info.data) == {}  # no field comes before `data`
        return value


def test_decode_gives_field_validators_the_context_the_model_gives_them() -> None:
    # Validated alone, `data` had no field name (Pydantic 2.11+: a validator keyed on it
    # skipped) and no earlier fields (`info.data` was None: a bare TypeError).
    made = Normalised.model_validate({"data": " MiXeD "})
    assert parse(encode(made))[0].data == '"mixed"'
    assert EventCatalog.of(Normalised).decode(ServerSentMessage(event="normalised", data='" MiXeD "')) == made
    with pytest.raises(ValidationError, match=r"1 validation error for Normalised\n  Input should be a valid") as info:
        EventCatalog.of(Normalised).decode(ServerSentMessage(event="normalised", data="3"))
    assert info.value.errors()[0]["loc"] == ()  # where `data_validator()` puts it: not under `data`


class Size(BaseModel):
    n: int

    @field_validator("n")
    @classmethod
    def positive(cls, value: int) -> int:
        if value == 0:
            raise PydanticCustomError("zero_size", "a size of {n} is empty", {"n": value})
        if value < 0:
            raise ValueError("negative")
        return value


class Sized(BaseEvent[Size]): ...


class SizedInContext(BaseEvent[Size]):
    @field_validator("data")
    @classmethod
    def seen(cls, value: Size, info: ValidationInfo) -> Size:
        assert info.field_name == "data"
        return value


@pytest.mark.parametrize("data", ['{"n": "x"}', '{"n": 0}', '{"n": -1}', '{"m": 1}', "[]"])
def test_decode_locates_errors_alike_whether_or_not_a_validator_reads_its_context(data: str) -> None:
    # The reader that gives validators their context put every error under `data`.
    catalog = EventCatalog.of(Sized | SizedInContext)
    errors = []
    for name in ("sized", "sized_in_context"):
        with pytest.raises(ValidationError) as info:
            catalog.decode(ServerSentMessage(event=name, data=data))
        errors.append([(line["type"], line["loc"], line["msg"], line["input"]) for line in info.value.errors()])
    assert errors[0] == errors[1]


class Joined(BaseEvent["Member"]): ...  # the payload is defined below: the class is not complete yet


class Member(BaseModel):
    name: str


def test_decode_completes_a_class_whose_payload_was_defined_after_it() -> None:
    # A client only decodes: no instance is made that would complete the class. On Pydantic
    # 2.7 it kept its generic base's schema, and the data came back as a plain dict.
    joined = EventCatalog.of(Joined).decode(ServerSentMessage(event="joined", data='{"name": "ada"}'))
    assert type(joined.data) is Member
    assert joined == Joined(data=Member(name="ada"))


# Pydantic's JSON settings come in pairs: bytes written as base64 were read back as their UTF-8
# text (`b"hi"` came back `b"aGk="`), a timedelta written in milliseconds as seconds, and no
# error said so.


class Attachment(BaseEvent[bytes]):
    model_config = ConfigDict(ser_json_bytes="base64")


class Blob(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64")  # the payload's own setting counts too
    content: bytes


class BlobSent(BaseEvent[list[Blob]]): ...


class PlainBlob(BaseModel):
    content: bytes


class ConfiguredElsewhere(BaseEvent[PlainBlob]):
    # The class's setting does not reach a model that has its own configuration.
    model_config = ConfigDict(ser_json_bytes="base64")


# A recursive type alias is kept among the schema's definitions, and was judged by the event
# class's configuration rather than by the model's it is used in: `b"hi"` came back `b"aGk="`.
Blobs = TypeAliasType("Blobs", "bytes | list[Blobs]")


class Archive(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64")
    files: Blobs


class Archived(BaseEvent[Archive]): ...


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        (Attachment(data=b"hi"), r"Attachment cannot be decoded as it was encoded: its bytes are written as base64"),
        (BlobSent(data=[Blob(content=b"hi")]), r"BlobSent cannot be decoded .* set val_json_bytes='base64' beside it"),
        (Archived(data=Archive(files=[b"hi", [b"yo"]])), r"Archived cannot be decoded .* set val_json_bytes='base64'"),
    ],
    ids=["event-class", "payload-model", "recursive-alias-in-a-payload-model"],
)
def test_decode_refuses_a_class_pydantic_would_read_back_wrong(event: BaseEvent[Any], problem: str) -> None:
    with pytest.raises(EventDefinitionError, match=problem):
        EventCatalog.of(type(event)).decode(parse(encode(event))[0])


def test_decode_reads_a_class_whose_settings_read_back_what_they_write() -> None:
    sent = ConfiguredElsewhere(data=PlainBlob(content=b"hi"))
    assert EventCatalog.of(ConfiguredElsewhere).decode(parse(encode(sent))[0]) == sent


# A default value was walked as part of the payload's schema: a default of `{"type": "bytes"}`
# (a form's field, described) made a class that writes bytes as base64 refused, with no bytes in it.
class UploadForm(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64")
    title: str
    fields: list[dict[str, str]] = [{"name": "avatar", "type": "bytes"}]


class FormShown(BaseEvent[UploadForm]): ...


def test_decode_reads_a_class_whose_defaults_look_like_schemas() -> None:
    sent = FormShown(data=UploadForm(title="profile"))
    assert EventCatalog.of(FormShown).decode(parse(encode(sent))[0]) == sent


@pytest.mark.skipif("val_json_bytes" not in ConfigDict.__annotations__, reason="this Pydantic has no val_json_bytes")
def test_decode_reads_bytes_written_and_read_as_base64() -> None:
    class Paired(BaseEvent[bytes]):
        model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")  # type: ignore[typeddict-unknown-key,unused-ignore]

    sent = Paired(data=b"\x00hi")
    assert EventCatalog.of(Paired).decode(parse(encode(sent))[0]) == sent


@pytest.mark.skipif(
    "ser_json_temporal" not in ConfigDict.__annotations__, reason="this Pydantic has no ser_json_temporal"
)
def test_decode_refuses_timedeltas_written_in_milliseconds() -> None:
    class Elapsed(BaseEvent[timedelta]):
        model_config = ConfigDict(ser_json_temporal="milliseconds")  # type: ignore[typeddict-unknown-key,unused-ignore]

    with pytest.raises(EventDefinitionError, match=r"timedeltas are written in milliseconds"):
        EventCatalog.of(Elapsed).decode(parse(encode(Elapsed(data=timedelta(seconds=1.5))))[0])


class StrictElapsed(BaseEvent[timedelta]):
    model_config = ConfigDict(strict=True, ser_json_timedelta="float")


class Lap(BaseModel):
    model_config = ConfigDict(ser_json_timedelta="float")
    split: timedelta = Field(strict=True)
    total: timedelta  # lax: read from the number it is written as


class LapTimed(BaseEvent[Lap]): ...


class LaxLap(BaseModel):
    model_config = ConfigDict(strict=True, ser_json_timedelta="float")
    total: timedelta = Field(strict=False)


class LaxLapTimed(BaseEvent[LaxLap]): ...


@pytest.mark.parametrize(
    "event",
    [StrictElapsed(data=timedelta(seconds=1.5)), LapTimed(data=Lap(split=timedelta(1), total=timedelta(2)))],
    ids=["event-class", "field-of-a-payload-model"],
)
def test_decode_refuses_timedeltas_written_as_numbers_and_read_strictly(event: BaseEvent[Any]) -> None:
    # Strict validation takes a timedelta from JSON as ISO 8601 text only: every event would fail
    # with a ValidationError, as if the server had sent bad data.
    problem = r"its timedeltas are written as numbers \(ser_json_timedelta='float'\), which strict validation"
    with pytest.raises(EventDefinitionError, match=problem):
        EventCatalog.of(type(event)).decode(parse(encode(event))[0])


def test_decode_reads_timedeltas_written_as_numbers_where_they_are_read_laxly() -> None:
    sent = LaxLapTimed(data=LaxLap(total=timedelta(seconds=90)))
    assert EventCatalog.of(LaxLapTimed).decode(parse(encode(sent))[0]) == sent
