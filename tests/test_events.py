from __future__ import annotations

import json
import re
import typing
from typing import Annotated, Any, ClassVar, Generic, NewType, TypeVar

import pytest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    PydanticUserError,
    StrictStr,
    ValidationError,
    computed_field,
    constr,
    field_serializer,
    field_validator,
    model_serializer,
)
from pydantic.alias_generators import to_pascal
from typing_extensions import TypeAliasType, TypedDict

from typedsse import BaseEvent, EventDefinitionError, EventTypeError, StreamError, WireFormatError, encode
from typedsse.events import MAX_RETRY, EventEncoding, event_name_for

from conftest import installed_before

T = TypeVar("T")


class Payload(BaseModel):
    message: str
    created: int = Field(serialization_alias="createdAt")


class Echo(BaseEvent[Payload]): ...


class ReverseEcho(BaseEvent[Payload]): ...


class Progress(BaseEvent[float], name="job.progress"): ...


class Done(BaseEvent[None]): ...


class Token(BaseEvent[str], encoding="text"): ...


class Tagged(BaseEvent[T], Generic[T]): ...


class TaggedInt(Tagged[int]): ...


@pytest.mark.parametrize(
    ("class_name", "event_name"),
    [
        ("Echo", "echo"),
        ("ReverseEcho", "reverse_echo"),
        ("HTTPError", "http_error"),
        ("JSONPatchApplied", "json_patch_applied"),
        ("Echo2Reply", "echo2_reply"),
        ("already_snake", "already_snake"),
        ("CaféOpened", "café_opened"),
        ("ÉchoÉvent", "écho_évent"),
        ("ΔLog", "δ_log"),
        # A plural `s` stays with its acronym.
        ("IDs", "ids"),
        ("UserIDs", "user_ids"),
        ("PDFsReady", "pdfs_ready"),
        ("HTTPSession", "http_session"),
    ],
)
def test_event_name_for_splits_words_into_snake_case(class_name: str, event_name: str) -> None:
    assert event_name_for(class_name) == event_name


def test_base_event_infers_names_and_takes_overrides() -> None:
    assert Echo.event_name == "echo"
    assert ReverseEcho.event_name == "reverse_echo"
    assert Progress.event_name == "job.progress"
    assert TaggedInt.event_name == "tagged_int"


def test_base_event_gives_generic_classes_no_name() -> None:
    assert not BaseEvent[str].is_concrete()
    assert not Tagged.is_concrete()
    assert not Tagged[int].is_concrete()
    assert Echo.is_concrete()
    assert "event_name" not in BaseEvent[str].__dict__


def test_the_standard_library_reads_an_event_class_type_hints() -> None:
    # `typing.get_type_hints` (what introspecting tools call) raised NameError for every event
    # class: a class annotation named a type imported for type checkers only.
    for cls in (Echo, StreamError, Tagged[int]):
        hints = typing.get_type_hints(cls)
        assert hints["id"] == str | None  # `Annotated` stripped, as by default
        assert hints["event_name"] == ClassVar[str]
        assert {"data", "id", "retry", "encoding"} <= hints.keys()


def test_base_event_caches_the_wire_header_per_class() -> None:
    assert Echo.__typedsse_header__ == b"event: echo\n"
    assert Progress.__typedsse_header__ == b"event: job.progress\n"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "it is empty"),
        ("a\nb", "it contains a line break"),
        ("a\rb", "it contains a line break"),
        (" lead", "it has leading or trailing whitespace"),
        ("trail ", "it has leading or trailing whitespace"),
        ("a\0b", "it contains NUL"),
        ("error", "browsers' EventSource fires its own 'error' event"),
        ("open", "browsers' EventSource fires its own 'open' event on every connection"),
        ("\ud800", "it is not valid Unicode"),
    ],
    ids=["empty", "lf", "cr", "leading-space", "trailing-space", "nul", "reserved-error", "reserved-open", "surrogate"],
)
def test_base_event_refuses_invalid_names_at_class_definition(name: str, problem: str) -> None:
    with pytest.raises(EventDefinitionError, match=r"^.*Bad: invalid event name .*" + problem) as info:

        class Bad(BaseEvent[int], name=name): ...

    assert "pass a valid one as a class keyword" in str(info.value)
    assert isinstance(info.value, TypeError)


class ForgedName(str):
    """A str whose own methods would pass any check and write another header."""

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return b"tick\nid: forged"

    def __contains__(self, key: str, /) -> bool:
        return False


def test_base_event_reads_a_name_given_as_a_str_subclass_as_its_text() -> None:
    # The header was `name.encode()`, the subclass's own; its `in` hid a line break.
    class Tick(BaseEvent[int], name=ForgedName("app.tick")): ...

    assert Tick.__typedsse_header__ == b"event: app.tick\n"
    assert type(Tick.event_name) is str
    with pytest.raises(EventDefinitionError, match=r"it contains a line break"):

        class Broken(BaseEvent[int], name=ForgedName("a\nb")): ...


def test_base_event_refuses_an_inferred_reserved_name() -> None:
    with pytest.raises(EventDefinitionError, match=r"\.Error: invalid event name 'error'.*name=\"app.error\""):

        class Error(BaseEvent[int]): ...


def test_base_event_refuses_serializers_the_wire_would_ignore() -> None:
    with pytest.raises(EventDefinitionError, match=r"Shaped: an event class cannot have a model_serializer"):

        class Shaped(BaseEvent[int]):
            @model_serializer
            def everything(self) -> dict[str, Any]:
                return {}

    with pytest.raises(EventDefinitionError, match=r"Renumbered: the SSE id and retry fields are written as they are"):

        class Renumbered(BaseEvent[int]):
            @field_serializer("id")
            def prefixed(self, value: str | None) -> str:
                return f"n-{value}"

    with pytest.raises(EventDefinitionError, match=r"Shouted: encoding='text' writes the str payload as it is"):

        class Shouted(BaseEvent[str], encoding="text"):
            @field_serializer("data")
            def upper(self, value: str) -> str:
                return value.upper()


def test_base_event_refuses_fields_the_wire_would_not_carry() -> None:
    with pytest.raises(
        EventDefinitionError, match=r"Tagged: an event's fields are the SSE fields .* 'tag' would never"
    ):

        class Tagged(BaseEvent[int]):
            tag: str = "x"

    with pytest.raises(EventDefinitionError, match=r"Doubled: .*, so 'double' would never be sent; put it in the"):

        class Doubled(BaseEvent[int]):
            @computed_field
            @property
            def double(self) -> int:
                return self.data * 2

    with pytest.raises(EventDefinitionError, match=r"Labelled: .*, so 'label' would never be sent"):

        class Labelled(BaseEvent[T], Generic[T]):
            label: str = ""

    class Typed(BaseEvent[int]):
        kind: ClassVar[str] = "count"  # not a field
        _seen: int = PrivateAttr(default=0)  # nor this

    assert encode(Typed(data=1)) == b"event: typed\ndata: 1\n\n"


def test_base_event_refuses_a_name_on_a_generic_class() -> None:
    with pytest.raises(EventDefinitionError, match="a generic event class cannot have a name"):

        class Named(BaseEvent[T], Generic[T], name="named"): ...


def test_base_event_refuses_text_encoding_for_non_str_payloads() -> None:
    with pytest.raises(EventDefinitionError, match=r"encoding='text' needs a `str` payload"):

        class Numbers(BaseEvent[int], encoding="text"): ...


def test_base_event_refuses_unknown_encodings() -> None:
    with pytest.raises(EventDefinitionError, match=r"unknown encoding 'xml'"):

        class Xml(BaseEvent[str], encoding="xml"):  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]
            ...


@pytest.mark.parametrize(
    "bad_id",
    ["a\nb", "a\rb", "a\0b", "a\n", "\ud800", " 5", "5\t", " ", "a\x01b", "a\x1fb", "a\x7fb"],
    ids=[
        "lf",
        "cr",
        "nul",
        "final-lf",
        "surrogate",
        # What a `Last-Event-ID` header cannot bring back: HTTP trims the ends of a value, and
        # uvicorn on httptools refuses a request with another control character in a header.
        "leading-space",
        "trailing-tab",
        "only-space",
        "soh",
        "unit-separator",
        "del",
    ],
)
def test_base_event_refuses_ids_the_wire_cannot_carry(bad_id: str) -> None:
    with pytest.raises(ValidationError, match="an event id must be Unicode text without ASCII control characters"):
        Progress(data=0.5, id=bad_id)


@pytest.mark.parametrize("not_text", [7, 7.5, ["7"], {"id": "7"}], ids=["int", "float", "list", "dict"])
def test_an_id_that_is_not_text_is_refused_as_not_text(not_text: object) -> None:
    # An id made from a row's integer key is a type mistake: the error says so, in Pydantic's
    # own words and type, not that the id holds a character the wire cannot carry.
    for validate in (
        lambda: Progress(data=0.5, id=not_text),  # type: ignore[arg-type]
        lambda: Progress.model_validate({"data": 0.5, "id": not_text}),
        lambda: Progress.model_validate_json(json.dumps({"data": 0.5, "id": not_text})),
    ):
        with pytest.raises(ValidationError) as info:
            validate()
        assert [(error["loc"], error["type"], error["msg"]) for error in info.value.errors()] == [
            (("id",), "string_type", "Input should be a valid string")
        ]
    event = Progress(data=0.5)
    with pytest.raises(ValidationError, match="Input should be a valid string"):
        event.id = not_text  # type: ignore[assignment]
    # Text passes, from JSON too (where the pydantic-core of Pydantic 2.7 cannot check a type).
    assert Progress.model_validate_json('{"data": 0.5, "id": "7"}').id == "7"


def test_base_event_refuses_a_retry_out_of_range() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Progress(data=0.5, retry=-1)
    # Past `MAX_RETRY` a client's JavaScript timer would overflow; 10**5000 used to be accepted
    # and to fail only when the event was sent, with a plain ValueError.
    for too_long in (MAX_RETRY + 1, 10**5000):
        with pytest.raises(ValidationError, match="less than or equal to 2147483647"):
            Progress(data=0.5, retry=too_long)
    assert Progress(data=0.5, retry=MAX_RETRY).retry == 2**31 - 1


def test_base_event_validates_the_payload_type() -> None:
    with pytest.raises(ValidationError, match="data"):
        Echo(data="not a payload")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="extra"):
        Progress(data=0.5, ide="1")  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("event", "wire"),
    [
        (
            Echo(data=Payload(message="hi", created=1), id="1"),
            b'event: echo\nid: 1\ndata: {"message":"hi","createdAt":1}\n\n',
        ),
        (Progress(data=0.5, retry=3000), b"event: job.progress\nretry: 3000\ndata: 0.5\n\n"),
        (Done(data=None), b"event: done\ndata: null\n\n"),
        (Token(data="a\r\nb\rc\nd"), b"event: token\ndata: a\ndata: b\ndata: c\ndata: d\n\n"),
        (Token(data=""), b"event: token\ndata: \n\n"),
        (TaggedInt(data=3), b"event: tagged_int\ndata: 3\n\n"),
    ],
    ids=["model-by-alias", "retry", "none", "text-lines", "text-empty", "generic-subclass"],
)
def test_encode_writes_exact_frames(event: BaseEvent[Any], wire: bytes) -> None:
    assert encode(event) == wire


def test_stream_error_is_namespaced() -> None:
    assert StreamError.event_name == "typedsse.error"


def test_base_event_validates_assignments() -> None:
    event = Progress(data=0.5)
    with pytest.raises(ValidationError, match="an event id must be Unicode text without ASCII control characters"):
        event.id = "1\n\nevent: injected"
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        event.retry = -5


@pytest.mark.parametrize(
    "update",
    [
        {"id": "1\n\nevent: injected\ndata: 2"},
        {"id": "a\0"},
        {"retry": -5},
        {"retry": 10**5000},
        {"retry": True},
        {"retry": 1.5},
        # What validation refuses beyond the line syntax: the ends Last-Event-ID trims, the
        # control characters it cannot carry, and an id that is not text at all.
        {"id": " 7 "},
        {"id": "7\x01"},
        {"id": "\x7f"},
        {"id": 7},
    ],
    ids=[
        "lf-id",
        "nul-id",
        "negative-retry",
        "huge-retry",
        "bool-retry",
        "float-retry",
        "spaced-id",
        "soh-id",
        "del-id",
        "int-id",
    ],
)
def test_encode_refuses_fields_that_skipped_validation(update: dict[str, Any]) -> None:
    event = Progress(data=0.5).model_copy(update=update)
    with pytest.raises(WireFormatError, match=r"^Progress: "):
        encode(event)


def test_encode_refuses_text_that_is_not_unicode() -> None:
    with pytest.raises(WireFormatError, match=r"^Token: the text is not valid Unicode"):
        encode(Token(data="\ud800"))
    with pytest.raises(WireFormatError, match=r"^Plain: cannot serialise the payload as JSON"):
        encode(Plain(data="\ud800"))
    with pytest.raises(ValidationError, match="an event id must be Unicode text"):
        Plain(data="ok", id="\ud800")  # refused when the event is made, not when it is sent
    with pytest.raises(WireFormatError, match=r"^Plain: the text is not valid Unicode"):
        encode(Plain(data="ok").model_copy(update={"id": "\ud800"}))


class Plain(BaseEvent[str]): ...


def test_id_check_holds_whatever_regex_engine_a_subclass_picks() -> None:
    class Strict(BaseEvent[int]):
        model_config = ConfigDict(regex_engine="python-re")

    with pytest.raises(ValidationError, match="an event id must be Unicode text"):
        Strict(data=1, id="a\n")  # Python's `$` would match before that final LF


@pytest.mark.parametrize("setting", ["str_strip_whitespace", "str_to_lower", "str_to_upper"])
def test_string_settings_of_a_class_leave_its_ids_as_given(setting: str) -> None:
    class Cased(BaseEvent[str]):
        model_config = ConfigDict(**{setting: True})  # type: ignore[typeddict-item]

    # The payload's strings follow the class's settings; the id is written as the code gave it,
    # and one the wire cannot carry is refused rather than stripped into another.
    assert encode(Cased(data=" Hi ", id="Cursor-7")).startswith(b"event: cased\nid: Cursor-7\n")
    for bad_id in ("a\n", " a", "a\t"):
        with pytest.raises(ValidationError, match="an event id must be Unicode text"):
            Cased(data="x", id=bad_id)


@pytest.mark.parametrize("setting", ["str_min_length", "str_max_length"])
def test_string_length_settings_of_a_class_leave_its_ids_alone(setting: str) -> None:
    class Bounded(BaseEvent[str]):
        model_config = ConfigDict(**{setting: 3})  # type: ignore[typeddict-item]

    # The bound is the payload's; an id of any length the wire carries is accepted.
    for good_id in ("a", "abcdef"):
        assert encode(Bounded(data="abc", id=good_id)).startswith(b"event: bounded\nid: " + good_id.encode())
    with pytest.raises(ValidationError, match="string_too_long" if setting == "str_max_length" else "string_too_short"):
        Bounded(data="abcd" if setting == "str_max_length" else "ab")
    with pytest.raises(ValidationError, match="an event id must be Unicode text"):
        Bounded(data="abc", id="ab\n")
    # The bounds that pin the id's schema are not part of what it documents.
    id_schema = Bounded.model_json_schema()["properties"]["id"]["anyOf"][0]
    assert "minLength" not in id_schema
    assert "maxLength" not in id_schema


@pytest.mark.parametrize("mode", ["after", "wrap", "plain"])
def test_what_a_validator_returns_for_id_or_retry_is_checked_when_the_event_is_made(mode: str) -> None:
    def rewritten(value: Any) -> Any:
        return "a\nb" if value == "swap" else -1 if value == 5 else value

    class Rewritten(BaseEvent[int]):
        if mode == "wrap":

            @field_validator("id", "retry", mode="wrap")
            @classmethod
            def rewrite_wrapped(cls, value: Any, handler: Any) -> Any:
                return rewritten(handler(value))

        else:

            @field_validator("id", "retry", mode=mode)  # type: ignore[call-overload]
            @classmethod
            def rewrite(cls, value: Any) -> Any:
                return rewritten(value)

    # What BaseEvent's declaration checked is handed to the validator; what it returns is checked
    # again, so the wire's limits hold when the event is made (or assigned), not when it is sent.
    with pytest.raises(ValidationError, match=r"a validator of the class returned 'a\\nb' \(str\): an event id must"):
        Rewritten(data=1, id="swap")
    with pytest.raises(ValidationError, match=r"returned -1 \(int\): retry must be an integer number of milliseconds"):
        Rewritten(data=1, retry=5)
    event = Rewritten(data=1, id="ok", retry=10)
    with pytest.raises(ValidationError, match="an event id must"):
        event.id = "swap"
    assert encode(event) == b"event: rewritten\nid: ok\nretry: 10\ndata: 1\n\n"


def test_a_subclass_validator_of_id_is_checked_after_its_parents() -> None:
    class Upper(BaseEvent[int]):
        @field_validator("id")
        @classmethod
        def upper(cls, value: str | None) -> str | None:
            return value.upper() if value else value

    class Padded(Upper):
        @field_validator("id")
        @classmethod
        def pad(cls, value: str | None) -> str | None:
            return f"{value} " if value else value

    assert encode(Upper(data=1, id="a")) == b"event: upper\nid: A\ndata: 1\n\n"
    with pytest.raises(ValidationError, match=r"returned 'A ' \(str\): an event id must"):
        Padded(data=1, id="a")


def test_encode_refuses_an_event_made_without_data() -> None:
    class Priced(BaseEvent[int]):
        @field_serializer("data")
        def cents(self, value: int) -> str:
            return str(value)

    for cls in (Progress, Token, Priced):
        with pytest.raises(WireFormatError, match=r": the event has no data \(made by `model_construct` without it\)"):
            encode(cls.model_construct())


@pytest.mark.parametrize(
    "payload",
    [
        StrictStr,
        constr(max_length=10),
        Annotated[str, Field(max_length=10)],
        NewType("Text", str),
        TypeAliasType("Line", str),
        TypeAliasType("Same", T, type_params=(T,))[str],  # `type Same[T] = T`
        TypeAliasType("Short", Annotated[T, Field(max_length=10)], type_params=(T,))[str],
    ],
    ids=["strict", "constr", "annotated", "newtype", "alias", "generic-alias", "generic-annotated-alias"],
)
def test_text_encoding_takes_every_spelling_of_str(payload: Any) -> None:
    class Said(BaseEvent[payload], encoding="text"): ...  # type: ignore[valid-type]

    assert encode(Said(data="a\nb")) == b"event: said\ndata: a\ndata: b\n\n"


def test_text_encoding_reads_a_generic_alias_with_its_arguments() -> None:
    # `Short[str]` was refused as "not a str payload": the alias given arguments was not followed.
    # Followed, its metadata counts too: a serializer in it is refused as one written directly is.
    Short = TypeAliasType("Short", Annotated[T, Field(max_length=3)], type_params=(T,))

    class Code(BaseEvent[Short[str]], encoding="text"): ...  # type: ignore[valid-type]

    assert encode(Code(data="ab")) == b"event: code\ndata: ab\n\n"
    with pytest.raises(ValidationError, match="at most 3 characters"):
        Code(data="abcd")
    Loud = TypeAliasType("Loud", Annotated[T, PlainSerializer(str.upper)], type_params=(T,))
    with pytest.raises(EventDefinitionError, match=r"Shouted: encoding='text' writes the str payload as it is"):

        class Shouted(BaseEvent[Loud[str]], encoding="text"): ...  # type: ignore[valid-type]


def test_data_type_is_the_payload_type_without_its_constraints() -> None:
    class Count(BaseEvent[Annotated[int, Field(ge=0)]]): ...

    assert Count.data_type() is int  # Pydantic 2.7 keeps the `Annotated` in the annotation
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Count(data=-1)


@pytest.mark.parametrize("field", ["id", "retry"])
def test_base_event_refuses_a_redeclared_sse_field(field: str) -> None:
    # A redeclaration replaces BaseEvent's validation: `id: str | None` let through ids the
    # Last-Event-ID header cannot bring back, `retry: int | None` negative delays.
    with pytest.raises(EventDefinitionError, match=rf"Redeclared: {field} cannot be redeclared"):
        type(
            "Redeclared",
            (BaseEvent[int],),
            {"__annotations__": {field: "str | None" if field == "id" else "int | None"}, field: None},
        )


class Tracked(BaseModel):
    """A mixin shared with models that are not events, declaring fields of the same names."""

    id: str | None = None
    retry: float | None = None


class HasId:
    id: str | None = None


def test_base_event_refuses_sse_fields_a_mixin_declares() -> None:
    # The mixin's declarations won, without a word: `id="7\nevent: admin"` and `retry=2.5`
    # were made, and refused only when sent, in the middle of a stream.
    with pytest.raises(EventDefinitionError, match=r"\.Tick: id and retry cannot be redeclared \(by Tracked\): "):

        class Tick(Tracked, BaseEvent[int]): ...

    with pytest.raises(EventDefinitionError, match=r"\.Tock: id cannot be redeclared \(by HasId\): "):

        class Tock(HasId, BaseEvent[int]): ...

    class Tracked2(BaseEvent[int], Tracked): ...  # BaseEvent first: its declarations win

    with pytest.raises(ValidationError, match="id"):
        Tracked2(data=1, id="7\nevent: admin")


class RetryPolicy:
    """A plain helper class with a setting of its own, no annotation."""

    retry = 3


def test_base_event_says_how_to_fix_a_plain_class_attribute_named_like_an_sse_field() -> None:
    # Pydantic takes a plain class's attribute as the field's default wherever the class is
    # listed; the advice was to put BaseEvent first, which it already was.
    with pytest.raises(EventDefinitionError, match=r"a class attribute named retry \(in RetryPolicy\) becomes") as info:

        class Tick(BaseEvent[int], RetryPolicy): ...

    assert "put BaseEvent first" not in str(info.value)


def test_base_event_names_its_own_attribute_named_like_an_sse_field() -> None:
    # An id computed from the payload, as a property, became the `id` field's default (the
    # property object itself) and was refused with advice about a mixin the class did not have;
    # a `data` property made the class accept `Order()` and fail only when the event was sent.
    with pytest.raises(
        EventDefinitionError, match=r"Order: the class attribute id would be taken as the default"
    ) as info:

        class Order(BaseEvent[int]):
            @property
            def id(self) -> str:  # type: ignore[override]
                return f"order-{self.data}"

    assert "mixin" not in str(info.value)
    assert str(info.value).endswith("set the field when the event is made (`Order(id=...)`)")
    for body in ({"retry": lambda self: 3000}, {"data": property(lambda self: 1)}, {"id": None}):
        (field,) = body
        with pytest.raises((EventDefinitionError, PydanticUserError)) as caught:
            type("Shadow", (BaseEvent[int],), dict(body))
        if isinstance(caught.value, PydanticUserError):
            # Pydantic 2.7 refuses a plain value over a field itself, before the class exists.
            assert field == "id"
            assert "Field 'id' defined on a base class was overridden" in str(caught.value)
        else:
            assert f"Shadow: the class attribute {field} would be taken" in str(caught.value)


def test_an_encoding_declared_as_a_field_is_refused_with_the_way_to_set_it() -> None:
    # Annotated, `encoding` became a field, refused as an extra field to move into the payload.
    with (
        pytest.warns(UserWarning, match="shadows an attribute"),
        pytest.raises(EventDefinitionError, match=r"Lines: encoding belongs to the class, not to its events") as info,
    ):

        class Lines(BaseEvent[str]):
            encoding: EventEncoding = "text"  # type: ignore[misc]

    assert 'class Lines(..., encoding="text")' in str(info.value)
    assert "payload" not in str(info.value)

    class Lined(BaseEvent[str]):
        encoding = "text"

    assert encode(Lined(data="a\nb")) == b"event: lined\ndata: a\ndata: b\n\n"


def test_base_event_refuses_a_json_encoding_that_is_not_json() -> None:
    # `ser_json_inf_nan="constants"` wrote `data: NaN`, which a client's JSON.parse refuses.
    with pytest.raises(EventDefinitionError, match=r"\.Reading: ser_json_inf_nan='constants' writes NaN and Infinity"):

        class Reading(BaseEvent[float]):
            model_config = ConfigDict(ser_json_inf_nan="constants")

    class Sample(BaseModel):
        model_config = ConfigDict(ser_json_inf_nan="constants")
        value: float

    with pytest.raises(EventDefinitionError, match=r"\.Sampled: ser_json_inf_nan='constants'"):

        class Sampled(BaseEvent[Sample]): ...

    class Batch(BaseModel):
        samples: list[Sample]

    for payload in (Sample | None, list[Sample], dict[str, Sample], Batch):  # wherever the payload holds it
        with pytest.raises(EventDefinitionError, match=r"\.Held: ser_json_inf_nan='constants'"):

            class Held(BaseEvent[payload]): ...  # type: ignore[valid-type]

    class Said(BaseEvent[str], encoding="text"):  # text is written as it is
        model_config = ConfigDict(ser_json_inf_nan="constants")

    assert encode(Said(data="NaN")) == b"event: said\ndata: NaN\n\n"


class Later(BaseEvent["LaterSample"]): ...  # its payload is defined below: unknown when the class is


class LaterSample(BaseModel):
    model_config = ConfigDict(ser_json_inf_nan="constants")
    value: float


def test_a_json_encoding_that_is_not_json_is_refused_once_a_forward_payload_is_known() -> None:
    with pytest.raises(EventDefinitionError, match=r"^Later: ser_json_inf_nan='constants' writes NaN"):
        encode(Later(data=LaterSample(value=float("nan"))))


@pytest.mark.skipif(installed_before("pydantic", "2.11"), reason="Field(exclude_if=...) is new in Pydantic 2.11")
def test_base_event_refuses_data_excluded_by_a_condition() -> None:
    # Accepted, it was written as `data: null` by one path and left out by the other.
    with pytest.raises(EventDefinitionError, match=r"\.Maybe: data cannot be excluded from serialization"):

        class Maybe(BaseEvent[int | None]):
            data: int | None = Field(exclude_if=lambda value: value is None)  # pyright: ignore[reportCallIssue]


@pytest.mark.parametrize("retry", [True, False, 2500.0, "5000"], ids=["true", "false", "float", "str"])
def test_retry_takes_only_integers(retry: Any) -> None:
    # `retry=False` would be written as `retry: 0`: reconnect at once.
    with pytest.raises(ValidationError, match="retry"):
        Progress(data=0.5, retry=retry)
    assert Progress.model_validate_json('{"data": 0.5, "retry": 5000}').retry == 5000


@pytest.mark.parametrize("retry", [True, False, 2500.0, "5000"], ids=["true", "false", "float", "str"])
def test_retry_takes_only_integers_when_the_caller_validates_leniently(retry: Any) -> None:
    # `strict=False` turned the field's own strictness off: `False` was written as `retry: 0`.
    fields = {"data": 0.5, "retry": retry}
    for validate in (
        lambda: Progress.model_validate(fields, strict=False),
        lambda: Progress.model_validate_json(json.dumps(fields), strict=False),
    ):
        with pytest.raises(ValidationError, match=r"retry\n  Input should be a valid integer") as info:
            validate()
        assert [error["type"] for error in info.value.errors()] == ["int_type"]
    assert Progress.model_validate({"data": 0.5, "retry": 5000}, strict=False).retry == 5000
    assert Progress.model_validate_json('{"data": 0.5, "retry": 5000}', strict=False).retry == 5000
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Progress.model_validate({"data": 0.5, "retry": -1}, strict=False)


def test_base_event_refuses_an_event_name_set_in_the_class_body() -> None:
    with pytest.raises(
        EventDefinitionError,
        match=r'Clock: set the event name with the class keyword, `class Clock\(\.\.\., name="\.\.\."\)`',
    ):

        class Clock(BaseEvent[int]):
            event_name: ClassVar[str] = "clock.tick"


def test_base_event_checks_an_encoding_set_in_the_class_body() -> None:
    class Said(BaseEvent[str]):
        encoding: ClassVar[EventEncoding] = "text"

    assert encode(Said(data="a")) == b"event: said\ndata: a\n\n"
    with pytest.raises(EventDefinitionError, match=r"Xml: unknown encoding 'xml'"):

        class Xml(BaseEvent[str]):
            encoding: ClassVar[EventEncoding] = "xml"  # type: ignore[assignment]  # pyright: ignore[reportAssignmentType]


def test_base_event_names_an_unknown_class_keyword() -> None:
    with pytest.raises(EventDefinitionError, match=r"Tick: unknown class keyword nmae=; an event class takes name="):

        class Tick(BaseEvent[int], nmae="tick"): ...  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]

    with pytest.raises(EventDefinitionError, match=r"Said: unknown encoding \['text'\]"):

        class Said(BaseEvent[str], encoding=["text"]): ...  # type: ignore[arg-type]  # pyright: ignore[reportArgumentType]

    class Frozen(BaseEvent[int], frozen=True): ...  # Pydantic's own keywords still work

    with pytest.raises(ValidationError, match="frozen"):
        Frozen(data=1).id = "2"


def test_base_event_refuses_a_serializer_for_every_field() -> None:
    with pytest.raises(EventDefinitionError, match=r"Starred: the SSE id and retry fields are written as they are"):

        class Starred(BaseEvent[int]):
            @field_serializer("*")
            def bracketed(self, value: Any) -> str:
                return f"<{value}>"


class Row(TypedDict):
    a: int


def test_extra_allow_reaches_the_payload_but_not_the_event() -> None:
    class RowAdded(BaseEvent[Row]):
        model_config = ConfigDict(extra="allow")

        def model_post_init(self, context: Any, /) -> None:
            seen.append(self.data)

    class RowChanged(RowAdded): ...

    seen: list[Row] = []
    for cls in (RowAdded, RowChanged):
        row = cls(data={"a": 1, "zz": 2})  # type: ignore[typeddict-unknown-key]
        assert encode(row).endswith(b'data: {"a":1,"zz":2}\n\n')
        with pytest.raises(ValidationError, match=r"retyr\n  Extra inputs are not permitted"):
            cls(data={"a": 1}, retyr=5000)  # type: ignore[call-arg]
        with pytest.raises(ValidationError, match=r"ttl\n  Extra inputs are not permitted"):
            cls.model_validate({"data": {"a": 1}, "ttl": 3})
        event = cls(data={"a": 1})
        with pytest.raises(ValidationError, match=r"retyr\n  Object has no attribute 'retyr'"):
            event.retyr = 5000  # assigned, it went to the extras, and the wire had no retry
        event.retry = 5000
        assert encode(event) == f'event: {cls.event_name}\nretry: 5000\ndata: {{"a":1}}\n\n'.encode()
    assert seen == [{"a": 1, "zz": 2}, {"a": 1}] * 2  # the class's own post-init still runs

    class Labelled(BaseEvent[Row]):
        model_config = ConfigDict(extra="allow")

        @property
        def label(self) -> str:
            return str(self.data["a"])

        @label.setter
        def label(self, value: str) -> None:
            self.data["a"] = int(value)

    labelled = Labelled(data={"a": 1})
    labelled.label = "5"  # what the class defines stays its own business
    assert labelled.data == {"a": 5}


class Member(TypedDict):
    user_name: str


class MemberJoined(BaseEvent[Member]):
    model_config = ConfigDict(alias_generator=to_pascal)

    data: Member = Field(description="The member who joined.")


class MemberLeft(BaseEvent["Departure"]):
    model_config = ConfigDict(alias_generator=to_pascal)

    data: Departure = Field(description="Who left, and when.")


class Departure(TypedDict):
    user_name: str


def test_an_alias_generator_leaves_a_redeclared_data_its_name() -> None:
    # The generator is for the TypedDict's keys; the field redeclared for its description was
    # renamed `Data`, so `MemberJoined(data=...)`, the constructor type checkers know, was refused.
    joined = MemberJoined(data={"UserName": "ada"}, id="1")  # type: ignore[typeddict-item,typeddict-unknown-key]
    assert encode(joined) == b'event: member_joined\nid: 1\ndata: {"UserName":"ada"}\n\n'
    assert MemberJoined.model_validate({"data": {"UserName": "ada"}}).data == {"user_name": "ada"}
    assert joined.model_dump(by_alias=True) == {"data": {"UserName": "ada"}, "id": "1", "retry": None}
    schema = MemberJoined.model_json_schema()
    assert list(schema["properties"]) == ["data", "id", "retry"]
    assert schema["properties"]["data"]["description"] == "The member who joined."
    with pytest.raises(ValidationError, match=r"Data\n  Extra inputs are not permitted"):
        MemberJoined(Data={"UserName": "ada"})

    class Renamed(BaseEvent[Member]):  # an alias the class gives is its own
        model_config = ConfigDict(alias_generator=to_pascal)

        data: Member = Field(alias="member")

    assert Renamed.model_validate({"member": {"UserName": "ada"}}).data == {"user_name": "ada"}


@pytest.mark.skipif(installed_before("pydantic", "2.12"), reason="a class is told it is complete from Pydantic 2.12 on")
def test_an_alias_generator_leaves_data_its_name_once_a_later_payload_is_defined() -> None:
    left = MemberLeft(data={"UserName": "ada"})  # type: ignore[typeddict-item,typeddict-unknown-key]
    assert encode(left) == b'event: member_left\ndata: {"UserName":"ada"}\n\n'
    assert MemberLeft.model_fields["data"].alias == "data"


def test_base_event_refuses_extra_ignore() -> None:
    with pytest.raises(EventDefinitionError, match=r"Quiet: extra='ignore' would drop a misspelt field"):

        class Quiet(BaseEvent[int]):
            model_config = ConfigDict(extra="ignore")


def test_generic_event_classes_say_how_to_name_them() -> None:
    class Bare(BaseEvent):  # type: ignore[type-arg]  # pyright: ignore[reportMissingTypeArgument]
        data: int

    for cls, hint in [(Bare, "Bare[YourType]"), (Tagged, "Tagged[YourType]"), (BaseEvent[int], "BaseEvent[int]")]:
        with pytest.raises(EventTypeError, match=rf"e\.g\. `class MyEvent\({re.escape(hint)}\): \.\.\.`"):
            encode(cls.model_construct(data=1))
