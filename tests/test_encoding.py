from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

import pytest
from pydantic import BaseModel, ConfigDict, Discriminator, Field, PlainSerializer, SerializeAsAny, Tag, field_serializer
from pydantic.alias_generators import to_camel, to_pascal
from typing_extensions import TypedDict

from typedsse.encoding import KEEPALIVE, comment, encode, encode_message, frame_encoder, retry_frame
from typedsse.events import MAX_RETRY, BaseEvent
from typedsse.exceptions import EventDefinitionError, EventTypeError, WireFormatError

from conftest import installed_before

T = TypeVar("T")
RETRY_RANGE = r"retry must be an integer number of milliseconds from 0 to 2147483647"


class Point(BaseModel):
    x: int
    y: int


class Created(BaseModel):
    created_at: datetime = Field(alias="createdAt")
    user_name: str = Field(serialization_alias="user")


class CamelPayload(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    item_count: int


class Tick(BaseEvent[int]): ...


class Say(BaseEvent[str]): ...


class MaybeTick(BaseEvent[int | None]): ...


class Moved(BaseEvent[Point]): ...


class UserCreated(BaseEvent[Created]): ...


class Counted(BaseEvent[CamelPayload], name="app.counted"): ...


class Points(BaseEvent[list[Point]]): ...


class Token(BaseEvent[str], encoding="text"): ...


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (Tick(data=1), b"event: tick\ndata: 1\n\n"),
        (Say(data="hi"), b'event: say\ndata: "hi"\n\n'),
        (Say(data=""), b'event: say\ndata: ""\n\n'),
        (Say(data="a\r\nb\rc\nd"), b'event: say\ndata: "a\\r\\nb\\rc\\nd"\n\n'),
        (Say(data=' x: "y"'), b'event: say\ndata: " x: \\"y\\""\n\n'),
        (Say(data="\u00e9\u2028\ufeff"), 'event: say\ndata: "\u00e9\u2028\ufeff"\n\n'.encode()),
        (MaybeTick(data=None), b"event: maybe_tick\ndata: null\n\n"),
        (Moved(data=Point(x=1, y=-2)), b'event: moved\ndata: {"x":1,"y":-2}\n\n'),
        (Points(data=[Point(x=1, y=2), Point(x=3, y=4)]), b'event: points\ndata: [{"x":1,"y":2},{"x":3,"y":4}]\n\n'),
    ],
    ids=[
        "int",
        "str-is-json-string",
        "empty-str",
        "str-line-breaks-escaped",
        "str-leading-space-and-colon",
        "str-unicode-as-utf8",
        "none-is-null",
        "model-compact",
        "list-of-models-compact",
    ],
)
def test_encode_writes_json_payload(event: BaseEvent[object], wire: bytes) -> None:
    assert encode(event) == wire


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (
            UserCreated(data=Created(createdAt=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), user_name="ann")),
            b'event: user_created\ndata: {"createdAt":"2024-01-02T03:04:05Z","user":"ann"}\n\n',
        ),
        (Counted(data=CamelPayload(item_count=3)), b'event: app.counted\ndata: {"itemCount":3}\n\n'),
    ],
    ids=["field-aliases", "alias-generator"],
)
def test_encode_serializes_payload_by_alias(event: BaseEvent[object], wire: bytes) -> None:
    assert encode(event) == wire


class Elapsed(BaseEvent[timedelta]):
    model_config = ConfigDict(ser_json_timedelta="float")


class Blob(BaseEvent[bytes]):
    model_config = ConfigDict(ser_json_bytes="base64")


class Cents(BaseEvent[int]):
    @field_serializer("data")
    def as_amount(self, value: int) -> str:
        return f"{value / 100:.2f}"


class JobEvent(BaseEvent[T], Generic[T]):
    model_config = ConfigDict(ser_json_timedelta="float")


class JobEta(JobEvent[timedelta]): ...


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (Elapsed(data=timedelta(seconds=1.5), id="7"), b"event: elapsed\nid: 7\ndata: 1.5\n\n"),
        (Blob(data=b"\xff\x00", retry=10), b'event: blob\nretry: 10\ndata: "_wA="\n\n'),
        (Cents(data=150), b'event: cents\ndata: "1.50"\n\n'),
        (JobEta(data=timedelta(minutes=2)), b"event: job_eta\ndata: 120.0\n\n"),
    ],
    ids=["ser-json-timedelta", "ser-json-bytes", "field-serializer", "inherited-config"],
)
def test_encode_honours_the_event_class_json_settings(event: BaseEvent[Any], wire: bytes) -> None:
    # The wire carries what the event model itself writes for `data` (and what its OpenAPI
    # schema describes), not the payload type's default form.
    assert encode(event) == wire
    payload = wire.rpartition(b"data: ")[2]
    assert json.loads(payload) == json.loads(event.model_dump_json())["data"]


@pytest.mark.skipif(installed_before("pydantic", "2.8"), reason="ser_json_inf_nan='strings' arrived in Pydantic 2.8")
def test_encode_honours_inherited_inf_nan_strings() -> None:
    class ScoreEvent(BaseEvent[T], Generic[T]):
        model_config = ConfigDict(ser_json_inf_nan="strings")

    class JobScore(ScoreEvent[float]): ...

    event = JobScore(data=float("inf"))
    assert encode(event) == b'event: job_score\ndata: "Infinity"\n\n'
    assert json.loads(event.model_dump_json())["data"] == "Infinity"


class Unnamed(BaseEvent): ...  # type: ignore[type-arg]  # forgot the payload type: still generic


@pytest.mark.parametrize("event", [Unnamed(data=[1]), BaseEvent[int](data=1)], ids=["unparametrised", "parametrised"])
def test_encode_refuses_events_of_classes_without_a_name(event: BaseEvent[Any]) -> None:
    with pytest.raises(EventTypeError, match=r"has no event name: it is a generic event class"):
        encode(event)


@pytest.mark.parametrize("thing", [object(), {"data": 1}, "tick"], ids=["object", "dict", "str"])
def test_encode_refuses_what_is_not_an_event(thing: Any) -> None:
    # A bare `AttributeError: is_concrete` came out, which no handler of ours would catch.
    with pytest.raises(EventTypeError, match=r"only events can be encoded: (object|dict|str) is not a BaseEvent"):
        encode(thing)


@pytest.mark.parametrize(
    ("thing", "shown"),
    [
        (5, "5"),
        (None, "None"),
        ("tick", "'tick'"),
        (int, "int"),
        (Tick(data=1), r"Tick\(data=1, id=None, retry=None\)"),
    ],
    ids=["int", "none", "str", "class", "event"],
)
def test_frame_encoder_refuses_what_is_not_an_event_class(thing: Any, shown: str) -> None:
    # What has no `__dict__` (`5`, `None`) raised a bare AttributeError while the cache was read.
    with pytest.raises(EventTypeError, match=rf"^only events can be encoded: {shown} is not a BaseEvent subclass$"):
        frame_encoder(thing)


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (Tick(data=1, id="7"), b"event: tick\nid: 7\ndata: 1\n\n"),
        (Tick(data=1, id=""), b"event: tick\nid: \ndata: 1\n\n"),
        (Tick(data=1, id="a b\tc"), b"event: tick\nid: a b\tc\ndata: 1\n\n"),
        (Tick(data=1, retry=0), b"event: tick\nretry: 0\ndata: 1\n\n"),
        (Tick(data=1, id="x", retry=3000), b"event: tick\nid: x\nretry: 3000\ndata: 1\n\n"),
        (Token(data="a", id="1", retry=5), b"event: token\nid: 1\nretry: 5\ndata: a\n\n"),
        (Tick(data=1, id="\u00e9t\u00e9-7"), "event: tick\nid: \u00e9t\u00e9-7\ndata: 1\n\n".encode()),
    ],
    ids=["id", "empty-id", "id-spaces", "retry-zero", "id-and-retry", "text-id-and-retry", "unicode-id"],
)
def test_encode_writes_id_and_retry_before_data(event: BaseEvent[object], wire: bytes) -> None:
    assert encode(event) == wire


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("hello", b"event: token\ndata: hello\n\n"),
        ("", b"event: token\ndata: \n\n"),
        ("a\nb", b"event: token\ndata: a\ndata: b\n\n"),
        ("a\r\nb", b"event: token\ndata: a\ndata: b\n\n"),
        ("a\rb", b"event: token\ndata: a\ndata: b\n\n"),
        ("a\n\rb", b"event: token\ndata: a\ndata: \ndata: b\n\n"),
        ("a\n", b"event: token\ndata: a\ndata: \n\n"),
        ("\r\n", b"event: token\ndata: \ndata: \n\n"),
        (" x", b"event: token\ndata:  x\n\n"),
        ("a\x0bb\x85c\u2028d", "event: token\ndata: a\x0bb\x85c\u2028d\n\n".encode()),
    ],
    ids=[
        "one-line",
        "empty",
        "lf",
        "crlf",
        "cr",
        "lf-then-cr",
        "trailing-lf",
        "crlf-only",
        "leading-space",
        "not-sse-breaks",
    ],
)
def test_encode_splits_text_payload_on_sse_line_breaks(text: str, wire: bytes) -> None:
    assert encode(Token(data=text)) == wire


@pytest.mark.parametrize(
    ("data", "event", "event_id", "retry", "wire"),
    [
        ("1", None, None, None, b"data: 1\n\n"),
        ("", None, None, None, b"data: \n\n"),
        ("1", "tick", None, None, b"event: tick\ndata: 1\n\n"),
        ("a\r\nb\rc\nd", "tick", None, None, b"event: tick\ndata: a\ndata: b\ndata: c\ndata: d\n\n"),
        ("a\n", None, None, None, b"data: a\ndata: \n\n"),
        ("1", None, "7", None, b"id: 7\ndata: 1\n\n"),
        ("1", None, "", None, b"id: \ndata: 1\n\n"),
        ("1", None, None, 0, b"retry: 0\ndata: 1\n\n"),
        ("x", "e", "7", 1500, b"event: e\nid: 7\nretry: 1500\ndata: x\n\n"),
        ("\u00e9", "\u00fc:b", None, None, "event: \u00fc:b\ndata: \u00e9\n\n".encode()),
    ],
    ids=[
        "data-only",
        "empty-data",
        "event",
        "line-breaks",
        "trailing-line-break",
        "id",
        "empty-id",
        "retry",
        "all-fields",
        "unicode",
    ],
)
def test_encode_message_writes_fields_in_order(
    data: str, event: str | None, event_id: str | None, retry: int | None, wire: bytes
) -> None:
    assert encode_message(data=data, event=event, id=event_id, retry=retry) == wire


@pytest.mark.parametrize(
    ("event", "event_id", "retry", "error"),
    [
        ("a\nb", None, None, r"^an SSE event cannot contain CR, LF or NUL: 'a\\nb'$"),
        ("a\rb", None, None, r"^an SSE event cannot contain CR, LF or NUL: 'a\\rb'$"),
        ("a\x00b", None, None, r"^an SSE event cannot contain CR, LF or NUL: 'a\\x00b'$"),
        (None, "1\n", None, r"^an SSE id cannot contain CR, LF or NUL: '1\\n'$"),
        (None, "\r", None, r"^an SSE id cannot contain CR, LF or NUL: '\\r'$"),
        (None, "1\x002", None, r"^an SSE id cannot contain CR, LF or NUL: '1\\x002'$"),
        # An empty name is written as `event: `, which a client reads as `message`.
        ("", None, None, r"^an SSE event name cannot be empty: a client reads `event: ` as `message`$"),
        (None, None, -1, rf"^{RETRY_RANGE}, got -1$"),
        # A client applies `retry` only when it is all digits: these were written and then dropped.
        (None, None, True, rf"^{RETRY_RANGE}, got True \(bool\)$"),
        (None, None, 1.5, rf"^{RETRY_RANGE}, got 1.5 \(float\)$"),
        (None, None, 2**31, rf"^{RETRY_RANGE}, got 2147483648$"),
        # Past 4,300 digits even the error message cannot print the number.
        (None, None, 10**5000, rf"^{RETRY_RANGE}, got an integer of 16610 bits$"),
    ],
    ids=[
        "event-lf",
        "event-cr",
        "event-nul",
        "id-lf",
        "id-cr",
        "id-nul",
        "empty-event",
        "negative-retry",
        "bool-retry",
        "float-retry",
        "retry-past-max",
        "retry-past-int-str-limit",
    ],
)
def test_encode_message_rejects_unwritable_fields(
    event: str | None, event_id: str | None, retry: Any, error: str
) -> None:
    with pytest.raises(WireFormatError, match=error):
        encode_message(data="", event=event, id=event_id, retry=retry)


@pytest.mark.parametrize(
    ("text", "wire"),
    [("", b":\n\n"), ("keep-alive", b": keep-alive\n\n"), (" x: y", b":  x: y\n\n")],
    ids=["empty", "text", "leading-space-and-colon"],
)
def test_comment_writes_comment_frame(text: str, wire: bytes) -> None:
    assert comment(text) == wire


@pytest.mark.parametrize(
    ("write", "error"),
    [
        (lambda: encode_message(data=5), r"^SSE data must be a str, got int$"),  # type: ignore[arg-type]
        (lambda: encode_message(data=b"x"), r"^SSE data must be a str, got bytes$"),  # type: ignore[arg-type]
        (lambda: encode_message(data="x", event=0), r"^an SSE event must be a str, got int$"),  # type: ignore[arg-type]
        (lambda: encode_message(data="x", id=7), r"^an SSE id must be a str, got int$"),  # type: ignore[arg-type]
        (lambda: comment(None), r"^an SSE comment must be a str, got NoneType$"),  # type: ignore[arg-type]
    ],
    ids=["int-data", "bytes-data", "int-event", "int-id", "none-comment"],
)
def test_writers_say_which_argument_is_not_text(write: Callable[[], bytes], error: str) -> None:
    # A bare "expected string or bytes-like object" came out of a regular expression; `event=0`
    # was refused as an empty event name.
    with pytest.raises(TypeError, match=error):
        write()


def test_writers_refuse_text_that_is_not_unicode() -> None:
    for write in (
        lambda: encode_message(data="\ud800"),
        lambda: encode_message(data="x", event="\ud800"),
        lambda: comment("\ud800"),
    ):
        with pytest.raises(WireFormatError, match=r"^the text is not valid Unicode"):
            write()


class Forged(str):
    """A str whose own methods say what a writer calling them would put on the wire."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"7\nevent: injected"

    def __format__(self, format_spec: str, /) -> str:
        return "7\nevent: injected"

    def isascii(self) -> bool:
        return True

    def isprintable(self) -> bool:
        return True

    def strip(self, chars: str | None = None, /) -> str:
        return self


@pytest.mark.parametrize(
    ("write", "wire"),
    [
        (lambda: encode(Tick(data=1).model_copy(update={"id": Forged("7")})), b"event: tick\nid: 7\ndata: 1\n\n"),
        (lambda: encode(Token(data="a").model_copy(update={"id": Forged("7")})), b"event: token\nid: 7\ndata: a\n\n"),
        (lambda: encode_message(data="a", event=Forged("e"), id=Forged("7")), b"event: e\nid: 7\ndata: a\n\n"),
        (lambda: comment(Forged("c")), b": c\n\n"),
    ],
    ids=["json-event-id", "text-event-id", "message", "comment"],
)
def test_writers_write_a_str_subclass_as_its_text(write: Callable[[], bytes], wire: bytes) -> None:
    # The writers called the value's own `encode()` (or `__format__`, through an f-string): a
    # subclass set by `model_copy(update=...)`, which skips validation, could inject a field.
    assert write() == wire
    assert Forged("7").encode() == b"7\nevent: injected"  # what the writers no longer ask it


def test_comment_default_is_keepalive() -> None:
    assert comment() == KEEPALIVE == b":\n\n"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("a\nb", r"^an SSE comment cannot contain CR, LF or NUL: 'a\\nb'$"),
        ("a\rb", r"^an SSE comment cannot contain CR, LF or NUL: 'a\\rb'$"),
        ("a\r\n", r"^an SSE comment cannot contain CR, LF or NUL: 'a\\r\\n'$"),
    ],
    ids=["lf", "cr", "crlf"],
)
def test_comment_rejects_line_breaks(text: str, error: str) -> None:
    with pytest.raises(WireFormatError, match=error):
        comment(text)


@pytest.mark.parametrize(
    ("milliseconds", "wire"), [(0, b"retry: 0\n\n"), (3000, b"retry: 3000\n\n")], ids=["zero", "positive"]
)
def test_retry_frame_writes_retry_only(milliseconds: int, wire: bytes) -> None:
    assert retry_frame(milliseconds) == wire


@pytest.mark.parametrize(
    "milliseconds", [-1, 2**31, 10**5000, True, 1.5, "10"], ids=["negative", "past-max", "huge", "bool", "float", "str"]
)
def test_retry_frame_rejects_what_a_client_would_not_apply(milliseconds: Any) -> None:
    with pytest.raises(WireFormatError, match=rf"^{RETRY_RANGE}, got "):
        retry_frame(milliseconds)


def test_retry_frame_writes_the_longest_delay() -> None:
    assert retry_frame(MAX_RETRY) == b"retry: 2147483647\n\n"


def test_wire_format_error_is_value_error() -> None:
    assert issubclass(WireFormatError, ValueError)


# The data line is what the event model writes for its `data` field (`model_dump_json`), also
# where the event class lends the payload type something: a TypedDict or dataclass payload takes
# the class's config, a discriminator sits on the field, a generic base allows arbitrary types.
# Each of these went through a serializer of the bare annotation, which knew none of it.


class JoinedMember(TypedDict):
    user_name: str


@dataclass
class LeftMember:
    user_name: str


class MemberJoined(BaseEvent[JoinedMember]):
    model_config = ConfigDict(alias_generator=to_camel)


class MemberLeft(BaseEvent[LeftMember]):
    model_config = ConfigDict(alias_generator=to_camel)


class LooseRow(TypedDict):
    a: int


class RowSeen(BaseEvent[LooseRow]):
    model_config = ConfigDict(extra="allow")


class Cat(TypedDict):
    kind: str
    n: Annotated[int, PlainSerializer(lambda v: f"cat{v}")]


class Dog(TypedDict):
    kind: str
    n: int


def _kind(value: Any) -> str:
    return str(value["kind"] if isinstance(value, dict) else value.kind)


Pet = Annotated[Annotated[Cat, Tag("cat")] | Annotated[Dog, Tag("dog")], Field(discriminator=Discriminator(_kind))]


class PetSeen(BaseEvent[Pet]): ...


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


class AppEvent(BaseEvent[T], Generic[T]):
    model_config = ConfigDict(arbitrary_types_allowed=True)


class Paid(AppEvent[Annotated[Money, PlainSerializer(lambda money: money.cents)]]): ...


@pytest.mark.parametrize(
    ("event", "data"),
    [
        (MemberJoined(data={"userName": "ada"}), b'{"userName":"ada"}'),
        (MemberLeft(data=LeftMember(user_name="ada")), b'{"userName":"ada"}'),
        (RowSeen(data={"a": 1, "zz": 2}), b'{"a":1,"zz":2}'),  # type: ignore[typeddict-unknown-key]
        (PetSeen(data={"kind": "dog", "n": 1}), b'{"kind":"dog","n":1}'),
        (PetSeen(data={"kind": "cat", "n": 1}), b'{"kind":"cat","n":"cat1"}'),
        (Paid(data=Money(5)), b"5"),
    ],
    ids=[
        "typeddict-alias-generator",
        "dataclass-alias-generator",
        "typeddict-extra",
        "discriminator-dog",
        "discriminator-cat",
        "arbitrary-type",
    ],
)
def test_encode_writes_data_as_the_event_model_does(event: BaseEvent[Any], data: bytes) -> None:
    header = type(event).__typedsse_header__
    written = encode(event)
    assert written.startswith(header + b"data: ")
    assert json.loads(written[len(header) + 6 :]) == json.loads(event.model_dump_json(by_alias=True))["data"]
    if json.loads(event.model_dump_json(by_alias=True))["data"] == json.loads(data):
        # Pydantic 2.7 itself writes a dog with the cat's serializer; the wire follows the model.
        assert written == b"%sdata: %s\n\n" % (header, data)


class MemberArrived(BaseEvent[JoinedMember]):
    model_config = ConfigDict(alias_generator=to_pascal)


def test_an_alias_generator_for_the_payload_leaves_the_sse_fields_their_names() -> None:
    # The generator is meant for the TypedDict's keys; it renamed `data`, `id` and `retry` too,
    # so `MemberArrived(data=..., id=...)`, the constructor type checkers know, was refused.
    event = MemberArrived(data={"UserName": "ada"}, id="1", retry=10)  # type: ignore[typeddict-unknown-key]
    assert encode(event) == b'event: member_arrived\nid: 1\nretry: 10\ndata: {"UserName":"ada"}\n\n'
    assert {name: field.alias for name, field in MemberArrived.model_fields.items()} == {
        "data": "data",
        "id": "id",
        "retry": "retry",
    }


def test_a_text_event_refuses_an_annotated_serializer_it_would_ignore() -> None:
    # Pydantic 2.7 keeps the `Annotated` in the field's annotation, later versions move its
    # metadata to the field: the serializer is found either way.
    with pytest.raises(EventDefinitionError, match=r"encoding='text' writes the str payload as it is"):

        class Shout(BaseEvent[Annotated[str, PlainSerializer(str.upper)]], encoding="text"): ...


def test_encode_refuses_a_text_event_whose_data_skipped_validation() -> None:
    event = Token.model_construct(data=42)  # no validation: an int where the class says str
    with pytest.raises(WireFormatError, match=r"^Token: a text event's data must be a str, got int$"):
        encode(event)


def test_an_event_refuses_a_data_field_excluded_from_serialization() -> None:
    with pytest.raises(EventDefinitionError, match="data cannot be excluded from serialization"):

        class Hidden(BaseEvent[int]):
            data: int = Field(exclude=True)


# A model met only when an event is written (through `Any`, `SerializeAsAny` or a serializer
# function) escaped the class-definition check of `ser_json_inf_nan="constants"`: `data: NaN`
# went out, which a client's JSON.parse refuses.


class ConstantReading(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")
    value: float


class PlainReading(BaseModel):
    value: float


class ConstantChild(PlainReading):
    model_config = ConfigDict(ser_json_inf_nan="constants")


class AnyData(BaseEvent[Any]): ...


class ListOfAny(BaseEvent[list[Any]]): ...


class AnyReading(BaseEvent[SerializeAsAny[PlainReading]]): ...


class SerializedReading(BaseEvent[Annotated[float, PlainSerializer(lambda value: ConstantReading(value=value))]]): ...


class FieldSerializedReading(BaseEvent[float]):
    @field_serializer("data")
    def as_reading(self, value: float) -> Any:
        return ConstantReading(value=value)


@pytest.mark.parametrize(
    "event",
    [
        AnyData(data=ConstantReading(value=float("nan"))),
        ListOfAny(data=[ConstantReading(value=float("inf"))]),
        AnyReading(data=ConstantChild(value=float("nan"))),
        SerializedReading(data=float("nan")),
        FieldSerializedReading(data=float("-inf")),
    ],
    ids=["any", "list-of-any", "serialize-as-any", "plain-serializer", "field-serializer"],
)
def test_encode_refuses_constants_written_by_a_model_met_only_at_run_time(event: BaseEvent[Any]) -> None:
    try:
        json.loads(event.model_dump_json(), parse_constant=_not_json)
    except ValueError:  # the model writes constants: so would the data line
        with pytest.raises(WireFormatError, match=r"the payload wrote -?(NaN|Infinity): ser_json_inf_nan='constants'"):
            encode(event)
    else:  # Pydantic 2.7 writes a `SerializeAsAny` subclass with the declared class's configuration
        assert json.loads(encode(event).split(b"data: ", 1)[1]) == json.loads(event.model_dump_json())["data"]


def _not_json(constant: str) -> Any:
    raise ValueError(constant)


# A model set to `polymorphic_serialization` writes a subclass instance as the subclass, with its
# configuration: `data: {"value":NaN}` went out, as through `SerializeAsAny`.
@pytest.mark.skipif(
    "polymorphic_serialization" not in ConfigDict.__annotations__,
    reason="polymorphic_serialization is new in Pydantic 2.13",
)
def test_encode_refuses_constants_written_by_a_subclass_of_a_polymorphic_payload() -> None:
    class Reading(BaseModel):
        model_config = ConfigDict(polymorphic_serialization=True)  # type: ignore[typeddict-unknown-key,unused-ignore]
        value: float

    class ConstantSubReading(Reading):
        model_config = ConfigDict(ser_json_inf_nan="constants")

    class Measured(BaseEvent[list[Reading]]): ...

    assert encode(Measured(data=[ConstantSubReading(value=1.5)])) == b'event: measured\ndata: [{"value":1.5}]\n\n'
    with pytest.raises(WireFormatError, match=r"the payload wrote NaN: ser_json_inf_nan='constants'"):
        encode(Measured(data=[ConstantSubReading(value=float("nan"))]))


# The walk of a payload's schema took its mapping of fields by name for a schema: a field named
# `type` (a discriminated union's tag) made every event of the class fail to encode with
# "TypeError: unhashable type: 'dict'", and fields named both `type` and `config` failed the
# class statement itself.
class Shape(BaseModel):
    type: str
    config: dict[str, float]
    serialization: str
    function: str
    metadata: Any  # an `Any` under a field named like a schema's own key is still found


class ShapeDrawn(BaseEvent[Shape]): ...


class ConstantShape(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")
    type: str
    config: float


def test_encode_writes_payloads_whose_fields_are_named_like_schema_keys() -> None:
    shape = Shape(type="circle", config={"r": 1.5}, serialization="s", function="f", metadata=ConstantReading(value=1))
    assert encode(ShapeDrawn(data=shape)) == (
        b'event: shape_drawn\ndata: {"type":"circle","config":{"r":1.5},"serialization":"s","function":"f",'
        b'"metadata":{"value":1.0}}\n\n'
    )
    assert frame_encoder(ShapeDrawn)(ShapeDrawn(data=shape)) == encode(ShapeDrawn(data=shape))
    with pytest.raises(WireFormatError, match=r"the payload wrote NaN: ser_json_inf_nan='constants'"):
        encode(ShapeDrawn(data=shape.model_copy(update={"metadata": ConstantReading(value=float("nan"))})))
    with pytest.raises(EventDefinitionError, match="ser_json_inf_nan"):

        class ConstantShapeDrawn(BaseEvent[ConstantShape]): ...


def test_encode_lets_the_words_nan_and_infinity_through_in_strings() -> None:
    text = {"note": "NaN or Infinity", "NaN": 1, "value": float("nan")}
    assert encode(AnyData(data=text)) == b'event: any_data\ndata: {"note":"NaN or Infinity","NaN":1,"value":null}\n\n'
    finite = SerializedReading(data=1.5)
    assert encode(finite) == b'event: serialized_reading\ndata: {"value":1.5}\n\n'


class TimedAnyData(BaseEvent[Any]):  # writes its own JSON: the class sets a `ser_json_*` option
    model_config = ConfigDict(ser_json_timedelta="float")


# The words were looked for by reading the data line back with `json.loads`, which converts every
# number: an integer past 4,300 digits raised a bare ValueError, and the stream ended with its
# error event on a valid event.
@pytest.mark.parametrize("cls", [AnyData, TimedAnyData], ids=["shared-serializer", "own-serializer"])
def test_encode_looks_for_constants_without_reading_the_numbers(cls: type[BaseEvent[Any]]) -> None:
    big, big_json = 10**4300, b"1" + b"0" * 4300
    text = {"n": big, "note": "to Infinity", "quoted": 'say "NaN" \\', "NaN": -1.5}
    data = b'{"n":%s,"note":"to Infinity","quoted":"say \\"NaN\\" \\\\","NaN":-1.5}' % big_json
    assert encode(cls(data=text)) == b"event: %s\ndata: %s\n\n" % (cls.event_name.encode(), data)
    with pytest.raises(WireFormatError, match=r"the payload wrote NaN: ser_json_inf_nan='constants'"):
        encode(cls(data=[big, "\\", ConstantReading(value=float("nan"))]))
