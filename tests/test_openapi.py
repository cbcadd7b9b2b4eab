"""The OpenAPI plugin: every event documented, FastAPI's naming kept, valid 3.1 and 3.2 documents."""

from __future__ import annotations

import datetime
import errno
import functools
import gc
import importlib
import inspect
import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import types
import warnings
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Header, Request
from fastapi import routing as fastapi_routing
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.testclient import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator, OpenAPIV32SpecValidator
from openapi_spec_validator import validate as validate_spec
from pydantic import (
    AliasChoices,
    AliasGenerator,
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    create_model,
    field_serializer,
)
from pydantic.alias_generators import to_pascal
from pydantic.dataclasses import dataclass as pydantic_dataclass
from pydantic.json_schema import PydanticJsonSchemaWarning

from typedsse import (
    BaseEvent,
    EndpointDefinitionError,
    ErrorPayload,
    LastEventId,
    StreamError,
    __version__,
    encode,
    sse,
    stream_endpoint,
)
from typedsse.cli import main, write_output
from typedsse.decoding import parse
from typedsse.openapi import EXTENSION, document, install

from conftest import installed_before

try:
    from fastapi.sse import EventSourceResponse
except ImportError:  # FastAPI before 0.135
    EventSourceResponse = None

needs_native_streams = pytest.mark.skipif(
    EventSourceResponse is None, reason="FastAPI streams events and JSON Lines itself from 0.135 (fastapi.sse)"
)

# With `@sse` above the route decorator, FastAPI 0.134+ registers the bare generator (as JSON Lines)
# and the document says what went wrong; an older FastAPI refuses the route itself.
needs_fastapi_generator_routes = pytest.mark.skipif(
    installed_before("fastapi", "0.134"),
    reason="FastAPI before 0.134 refuses a generator endpoint itself, when the route is added",
)

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py") if not path.name.startswith("_"))
JSON_DATA = {"type": "string", "contentMediaType": "application/json"}
ID_AND_RETRY = {"id": {"type": "string"}, "retry": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}}


def validate(openapi: dict[str, Any]) -> None:
    """Validate a document with the validator of its own version (3.1 or 3.2), never a fallback."""
    validators = {"3.1.0": OpenAPIV31SpecValidator, "3.2.0": OpenAPIV32SpecValidator}
    validate_spec(openapi, cls=validators[openapi["openapi"]])


class Reading(BaseModel):
    celsius: float
    sensor_id: str = Field(alias="sensorId")


class Measured(BaseEvent[Reading]):
    """A sensor reported a value."""


class Note(BaseEvent[str]): ...


class Line(BaseEvent[str], encoding="text"): ...


class Finished(BaseEvent[None]): ...


class Batch(BaseEvent[list[Annotated[int, Field(ge=0)]]]): ...


class Broken(BaseEvent[str], name="app.broken"):
    """The stream broke."""


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def event_component(cls: type[BaseEvent[Any]], data: dict[str, Any], *, title: str | None = None) -> dict[str, Any]:
    """The documented component of an event class, descriptions taken from its docstring as Pydantic does."""
    component: dict[str, Any] = {"title": title or cls.__name__}
    if cls.__doc__:
        component["description"] = inspect.cleandoc(cls.__doc__)
    component["type"] = "object"
    component["properties"] = {"event": {"type": "string", "const": cls.event_name}, "data": data, **ID_AND_RETRY}
    component["required"] = ["event", "data"]
    return component


def importable_app(monkeypatch: pytest.MonkeyPatch, module_name: str, app: FastAPI) -> FastAPI:
    """Make `app` importable as `module_name:app` for the command line, for this test only."""
    module = types.ModuleType(module_name)
    module.app = app  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module_name, module)
    return app


def stream_content(document_: dict[str, Any], path: str, method: str = "get", status: str = "200") -> dict[str, Any]:
    content: dict[str, Any] = document_["paths"][path][method]["responses"][status]["content"]
    assert list(content) == ["text/event-stream"]
    media: dict[str, Any] = content["text/event-stream"]
    return media


def item_schema(media: dict[str, Any]) -> dict[str, Any]:
    (key,) = (key for key in media if key in {"schema", "itemSchema"})
    schema: dict[str, Any] = media[key]
    return schema


def union(*names: tuple[str, str]) -> dict[str, Any]:
    """The item schema of a stream whose events are `(event name, component name)` pairs.

    An event's component is named after its class with `-Event` added: FastAPI's own component
    of the class describes it as a model, for routes that take or return it as JSON.
    """
    return {
        "oneOf": [ref(component) for _, component in names],
        "discriminator": {
            "propertyName": "event",
            "mapping": {event: f"#/components/schemas/{component}" for event, component in names},
        },
    }


def extension(
    *events: tuple[str, str, str],
    errors: tuple[str, ...] = ("typedsse.error",),
    resumable: bool = False,
    retry: int | None = None,
    ping: float | None = 15.0,
) -> dict[str, Any]:
    """The `x-typedsse` object for `(event name, component name, encoding)` triples."""
    return {
        "events": {
            name: {"schema": f"#/components/schemas/{component}", "encoding": enc} for name, component, enc in events
        },
        "errorEvents": list(errors),
        "resumable": resumable,
        "retry": retry,
        "ping": ping,
    }


def new_app(*, openapi_version: str = "3.1.0", **kwargs: Any) -> FastAPI:
    app = FastAPI(**kwargs)
    app.openapi_version = openapi_version  # FastAPI's constructor has no such argument
    return app


def sensor_app(**kwargs: Any) -> FastAPI:
    app = new_app(**kwargs)

    @app.get("/readings")
    @sse()
    async def readings() -> AsyncIterator[Measured | Note | Line | Finished | Batch]:
        yield Finished(data=None)

    return app


def example_app(name: str) -> FastAPI:
    app = importlib.import_module(f"examples.{name}").app
    assert isinstance(app, FastAPI)
    return app


def example_apps() -> list[Any]:
    """Every `examples/*.py` module that defines an `app`, so new examples are covered automatically."""
    return [
        pytest.param(name, id=name)
        for name in EXAMPLES
        if isinstance(getattr(importlib.import_module(f"examples.{name}"), "app", None), FastAPI)
    ]


# --- what a stream's documentation says --------------------------------------------------------


def test_document_describes_each_event_under_schema_in_3_1() -> None:
    result = document(sensor_app())

    assert result["openapi"] == "3.1.0"
    media = stream_content(result, "/readings")
    assert media == {
        "schema": union(
            ("measured", "Measured-Event"),
            ("note", "Note-Event"),
            ("line", "Line-Event"),
            ("finished", "Finished-Event"),
            ("batch", "Batch-Event"),
            ("typedsse.error", "StreamError-Event"),
        ),
        EXTENSION: extension(
            ("measured", "Measured-Event", "json"),
            ("note", "Note-Event", "json"),
            ("line", "Line-Event", "text"),
            ("finished", "Finished-Event", "json"),
            ("batch", "Batch-Event", "json"),
            ("typedsse.error", "StreamError-Event", "json"),
        ),
    }


def test_document_describes_each_event_under_item_schema_in_3_2() -> None:
    in_3_1 = document(sensor_app())
    in_3_2 = document(sensor_app(openapi_version="3.2.0"))

    assert in_3_2["openapi"] == "3.2.0"
    assert stream_content(in_3_2, "/readings") == {
        "itemSchema": stream_content(in_3_1, "/readings")["schema"],
        EXTENSION: stream_content(in_3_1, "/readings")[EXTENSION],
    }
    assert in_3_2["components"] == in_3_1["components"]


def test_document_event_components_describe_the_wire_form_of_each_payload() -> None:
    schemas = document(sensor_app())["components"]["schemas"]

    # FastAPI's components of the event classes describe them as models; nothing refers to them.
    assert not {"Measured", "Note", "Line", "Finished", "Batch", "StreamError"} & set(schemas)

    assert schemas["Measured-Event"] == event_component(Measured, {**JSON_DATA, "contentSchema": ref("Reading")})
    assert schemas["Note-Event"] == event_component(Note, {**JSON_DATA, "contentSchema": {"type": "string"}})
    assert schemas["Line-Event"] == event_component(Line, {"type": "string"})
    assert schemas["Finished-Event"] == event_component(
        Finished, {"type": "string", "const": "null", **JSON_DATA, "contentSchema": {"type": "null"}}
    )
    assert schemas["Batch-Event"] == event_component(
        Batch, {**JSON_DATA, "contentSchema": {"type": "array", "items": {"type": "integer", "minimum": 0}}}
    )
    assert schemas["StreamError-Event"] == event_component(
        StreamError, {**JSON_DATA, "contentSchema": ref("ErrorPayload")}
    )


class Aliased(BaseEvent[Reading]):
    model_config = ConfigDict(alias_generator=to_pascal)  # for the payload: the SSE fields keep their names


class Renamed(BaseEvent[list[int]]):
    data: list[int] = Field(alias="payload")


def test_document_describes_the_data_of_an_event_class_whose_fields_have_aliases() -> None:
    # On the wire the payload is the `data:` field whatever the model calls it.
    app = new_app()

    @app.get("/aliased")
    @sse()
    async def aliased() -> AsyncIterator[Aliased | Renamed]:
        yield Renamed(payload=[1])

    assert encode(Aliased(data=Reading(celsius=1, sensorId="a"))) == (
        b'event: aliased\ndata: {"celsius":1.0,"sensorId":"a"}\n\n'
    )
    assert encode(Renamed(payload=[1])) == b"event: renamed\ndata: [1]\n\n"
    result = document(app)
    validate(result)
    schemas = result["components"]["schemas"]
    assert schemas["Aliased-Event"] == event_component(Aliased, {**JSON_DATA, "contentSchema": ref("Reading")})
    assert schemas["Renamed-Event"] == event_component(
        Renamed, {**JSON_DATA, "contentSchema": {"type": "array", "items": {"type": "integer"}}}
    )


def test_document_payload_schemas_are_fastapi_response_schemas() -> None:
    # A payload is documented exactly as FastAPI documents the same model as a response (by alias).
    plain = FastAPI()

    @plain.get("/reading")
    def reading() -> Reading:
        return Reading(celsius=1, sensorId="a")

    @plain.get("/error")
    def error() -> ErrorPayload:
        return ErrorPayload(message="m", code="c")

    expected = plain.openapi()["components"]["schemas"]
    schemas = document(sensor_app())["components"]["schemas"]

    assert schemas["Reading"] == expected["Reading"]
    assert schemas["Reading"]["required"] == ["celsius", "sensorId"]
    assert schemas["ErrorPayload"] == expected["ErrorPayload"]


def test_document_names_same_named_models_of_different_modules_as_fastapi_does() -> None:
    first = create_model("Item", __module__="shop.first", x=(int, ...))
    second = create_model("Item", __module__="shop.second", y=(str, ...))

    class FirstItem(BaseEvent[first]): ...

    class SecondItem(BaseEvent[second]): ...

    plain = FastAPI()

    @plain.get("/first", response_model=first)
    def get_first() -> Any: ...

    @plain.get("/second", response_model=second)
    def get_second() -> Any: ...

    app = FastAPI()

    @app.get("/items")
    @sse()
    async def items() -> AsyncIterator[FirstItem | SecondItem]:
        yield FirstItem(data=first(x=1))

    fastapi_names = set(plain.openapi()["components"]["schemas"])
    schemas = document(app)["components"]["schemas"]

    assert fastapi_names == {"shop__first__Item", "shop__second__Item"}
    assert fastapi_names <= set(schemas)
    assert schemas["FirstItem-Event"]["properties"]["data"]["contentSchema"] == ref("shop__first__Item")
    assert schemas["SecondItem-Event"]["properties"]["data"]["contentSchema"] == ref("shop__second__Item")


def test_document_names_an_event_class_named_like_its_payload_as_it_names_each_alone() -> None:
    # The event class's own component took part in FastAPI's naming, and clashed with its
    # payload's: both were qualified with their modules (`shop__events__Message-Event`,
    # `shop__models__Message`), though the class's component is not in the document.
    message = create_model("Message", __module__="shop.models", text=(str, ...))
    namespace = {"__module__": "shop.events", "__doc__": "A chat message."}
    event = type("Message", (BaseEvent[message],), namespace)  # type: ignore[valid-type]
    app = FastAPI()

    @app.get("/messages")
    @sse()
    async def messages() -> AsyncIterator[event]:  # type: ignore[valid-type]
        yield event(data=message(text="hi"))

    result = document(app)
    schemas = result["components"]["schemas"]

    assert sorted(schemas) == ["ErrorPayload", "Message", "Message-Event", "StreamError-Event"]
    assert schemas["Message-Event"] == event_component(event, {**JSON_DATA, "contentSchema": ref("Message")})
    assert schemas["Message"] == {
        "properties": {"text": {"title": "Text", "type": "string"}},
        "required": ["text"],
        "title": "Message",
        "type": "object",
    }
    assert item_schema(stream_content(result, "/messages")) == union(
        ("message", "Message-Event"), ("typedsse.error", "StreamError-Event")
    )
    validate(result)


class Priced(BaseModel):
    amount: Decimal  # read as a number or a string, written as a string: two schemas


class PriceChanged(BaseEvent[Priced]): ...


def priced_app(*, separate: bool) -> FastAPI:
    app = FastAPI(separate_input_output_schemas=separate)

    @app.post("/prices")
    def set_price(price: Priced) -> None: ...

    @app.get("/prices")
    @sse()
    async def prices() -> AsyncIterator[PriceChanged]:
        yield PriceChanged(data=Priced(amount=Decimal(1)))

    @app.get("/price")
    def get_price() -> Priced:
        return Priced(amount=Decimal(1))

    return app


def test_document_payloads_use_fastapi_output_schemas() -> None:
    app = priced_app(separate=True)
    fastapi_document = FastAPI.openapi(app)
    result = document(app)
    schemas = result["components"]["schemas"]

    assert result["paths"]["/prices"]["post"]["requestBody"]["content"]["application/json"]["schema"] == ref(
        "Priced-Input"
    )
    assert fastapi_document["paths"]["/price"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == (
        ref("Priced-Output")
    )
    assert schemas["PriceChanged-Event"]["properties"]["data"]["contentSchema"] == ref("Priced-Output")
    assert schemas["Priced-Output"]["properties"]["amount"]["type"] == "string"


def test_document_payloads_share_one_schema_without_separate_input_output_schemas() -> None:
    app = priced_app(separate=False)
    fastapi_document = FastAPI.openapi(app)
    schemas = document(app)["components"]["schemas"]

    assert fastapi_document["paths"]["/price"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == (
        ref("Priced")
    )
    assert schemas["PriceChanged-Event"]["properties"]["data"]["contentSchema"] == ref("Priced")
    assert schemas["Priced"] == fastapi_document["components"]["schemas"]["Priced"]
    assert not {"Priced-Input", "Priced-Output"} & set(schemas)


class Pet(BaseModel):
    name: str

    @computed_field
    @property
    def label(self) -> str:
        return self.name.title()


class Owner(BaseModel):
    pet: Pet


@pydantic_dataclass
class Tag:
    name: str

    @computed_field
    @property
    def slug(self) -> str:
        return self.name.lower()


class PetSeen(BaseEvent[Pet]): ...


class PetsSeen(BaseEvent[list[Pet]]): ...


class OwnerSeen(BaseEvent[Owner]): ...


class TagSeen(BaseEvent[Tag]): ...


@pytest.mark.parametrize(
    ("event_cls", "component", "computed", "since"),
    [
        pytest.param(PetSeen, "Pet", "label", "0.123.10", id="model"),
        pytest.param(TagSeen, "Tag", "slug", "0.123.10", id="dataclass"),
        pytest.param(PetsSeen, "Pet", "label", "0.163.1", id="list-of-models"),
        pytest.param(OwnerSeen, "Pet", "label", "0.163.1", id="model-holding-one"),
    ],
)
def test_document_describes_a_payload_with_computed_fields_as_fastapi_does_without_separate_schemas(
    event_cls: type[BaseEvent[Any]], component: str, computed: str, since: str
) -> None:
    # FastAPI describes a response as it is read there, but one with computed fields as it is
    # written (telling which from the type, in a way that depends on its version): the payload
    # is described as FastAPI describes the same type returned as JSON, in one component per
    # model. (Before 0.163.1, FastAPI also describes the models a list holds as written, in a
    # component of their own that nothing refers to, and names the one it uses `Pet-Input`.)
    app = FastAPI(separate_input_output_schemas=False)

    @app.get("/seen")
    @sse()
    async def seen() -> AsyncIterator[event_cls]:  # type: ignore[valid-type]
        yield event_cls.model_construct()

    as_json = FastAPI(separate_input_output_schemas=False)
    as_json.add_api_route("/payload", lambda: None, response_model=event_cls.data_type())

    schemas = document(app)["components"]["schemas"]
    fastapi_document = as_json.openapi()
    response = fastapi_document["paths"]["/payload"]["get"]["responses"]["200"]["content"]["application/json"]
    data = schemas[f"{event_cls.__name__}-Event"]["properties"]["data"]
    described = {key: value for key, value in response["schema"].items() if key != "title"}
    assert inlined(data["contentSchema"], schemas) == inlined(described, fastapi_document["components"]["schemas"])
    assert not [name for name in schemas if name.endswith(("-Input", "-Output"))]
    if not installed_before("fastapi", since):
        assert computed in schemas[component]["properties"]


def inlined(schema: Any, components: dict[str, Any]) -> Any:
    """`schema` with each reference replaced by the component it names (models that hold no cycle)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return inlined(components[schema["$ref"].removeprefix("#/components/schemas/")], components)
        return {key: inlined(value, components) for key, value in schema.items()}
    if isinstance(schema, list):
        return [inlined(item, components) for item in schema]
    return schema


def test_document_shares_a_payload_with_computed_fields_with_a_json_route_without_separate_schemas() -> None:
    # Before 0.163.1 FastAPI describes the event class returned as JSON as read (`Pet-Input`),
    # and its payload model as written too, in a component nothing refers to (`Pet-Output`):
    # the stream's payload is that one, and the events add no component of the payload.
    app = FastAPI(separate_input_output_schemas=False)

    @app.get("/pets")
    @sse()
    async def pets() -> AsyncIterator[PetSeen]:
        yield PetSeen(data=Pet(name="rex"))

    @app.get("/pet")
    def pet() -> PetSeen:
        return PetSeen(data=Pet(name="rex"))

    fastapi_schemas = FastAPI.openapi(app)["components"]["schemas"]
    schemas = document(app)["components"]["schemas"]

    assert set(schemas) == {*fastapi_schemas, "PetSeen-Event", "StreamError-Event", "ErrorPayload"}
    payload = schemas["PetSeen-Event"]["properties"]["data"]["contentSchema"]["$ref"].rpartition("/")[2]
    assert schemas[payload] == fastapi_schemas[payload]
    if not installed_before("fastapi", "0.123.10"):
        assert "label" in schemas[payload]["properties"]


def test_document_lists_the_on_error_event_and_the_built_in_one_it_falls_back_to() -> None:
    def broken(exc: Exception) -> Broken:
        return Broken(data="sorry")

    app = FastAPI()

    @app.get("/notes")
    @sse(on_error=broken, retry=2000, ping=None)
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    result = document(app)
    media = stream_content(result, "/notes")

    # When `on_error` fails (raises, or returns an event it does not declare), the stream ends
    # with the built-in event: a client must know that one ends it too.
    assert media["schema"] == union(
        ("note", "Note-Event"), ("app.broken", "Broken-Event"), ("typedsse.error", "StreamError-Event")
    )
    assert media[EXTENSION] == extension(
        ("note", "Note-Event", "json"),
        ("app.broken", "Broken-Event", "json"),
        ("typedsse.error", "StreamError-Event", "json"),
        errors=("app.broken", "typedsse.error"),
        retry=2000,
        ping=None,
    )
    assert result["paths"]["/notes"]["get"]["responses"]["200"]["description"] == (
        "A stream of server-sent events: `note`. A stream that fails after it started ends with `app.broken` "
        "or `typedsse.error`. The stream starts by setting the client's reconnection delay to 2000 ms."
    )


def test_document_describes_resumable_streams_and_their_last_event_id_header() -> None:
    app = FastAPI()

    @app.get("/notes")
    @sse()
    async def notes(last_event_id: LastEventId = None) -> AsyncIterator[Note]:
        yield Note(data="hi")

    operation = document(app)["paths"]["/notes"]["get"]

    assert [(p["in"], p["name"], p["required"]) for p in operation["parameters"]] == [
        ("query", "lastEventId", False),
        ("header", "Last-Event-ID", False),
    ]
    assert operation["responses"]["200"]["content"]["text/event-stream"][EXTENSION]["resumable"] is True
    assert operation["responses"]["200"]["description"] == (
        "A stream of server-sent events: `note`. A stream that fails after it started ends with `typedsse.error`. "
        "A reconnecting client sends the last id it received as `Last-Event-ID`; the stream resumes after it."
    )


def test_document_counts_a_last_event_id_in_the_route_or_router_dependencies_as_resumable() -> None:
    # `@sse` sees only the function's parameters; these dependencies are the route's.
    async def resume_point(request: Request, last_event_id: LastEventId = None) -> None:
        request.state.resume_after = last_event_id

    async def stream(request: Request) -> AsyncIterator[Note]:
        yield Note(data=f"after {request.state.resume_after}")

    app = FastAPI()
    app.get("/route-level", dependencies=[Depends(resume_point)])(sse()(stream))
    router = APIRouter(dependencies=[Depends(resume_point)])
    router.get("/router-level")(sse()(stream))
    app.include_router(router)
    app.get("/neither")(sse()(stream))

    result = document(app)
    for path in ("/route-level", "/router-level"):
        response = result["paths"][path]["get"]["responses"]["200"]
        assert response["content"]["text/event-stream"][EXTENSION]["resumable"] is True, path
        assert response["description"].endswith("the stream resumes after it."), path
    assert stream_content(result, "/neither")[EXTENSION]["resumable"] is False
    with TestClient(app) as client:
        assert client.get("/router-level", headers={"Last-Event-ID": "7"}).text == 'event: note\ndata: "after 7"\n\n'


def test_document_keeps_a_custom_response_description() -> None:
    app = FastAPI()

    @app.get("/notes", response_description="Notes, as they are written.")
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    assert document(app)["paths"]["/notes"]["get"]["responses"]["200"]["description"] == "Notes, as they are written."


@pytest.mark.parametrize("version", ["3.1", "3.2"])
def test_document_keeps_the_routes_own_example_of_the_stream(version: Any) -> None:
    example = 'event: note\ndata: "hi"\n\n'
    app = FastAPI()

    @app.get("/notes", responses={200: {"content": {"text/event-stream": {"example": example}}}})
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    result = document(app, version=version)
    media = stream_content(result, "/notes")

    assert media["example"] == example
    assert item_schema(media)["discriminator"]["mapping"] == {
        "note": "#/components/schemas/Note-Event",
        "typedsse.error": "#/components/schemas/StreamError-Event",
    }
    validate(result)


# --- living with the rest of the app -----------------------------------------------------------


class Order(BaseModel):
    item: str
    quantity: int = 1


def shop_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/v1", tags=["streams"])

    def tenant(x_tenant: Annotated[str, Header()]) -> str:
        return x_tenant

    @app.get("/orders/{order_id}")
    def get_order(order_id: int) -> Order:
        return Order(item="tea")

    @router.post("/orders/{order_id}/watch")
    @sse()
    async def watch(order_id: int, order: Order, who: Annotated[str, Depends(tenant)]) -> AsyncIterator[Note]:
        yield Note(data=who)

    @router.get("/hidden", include_in_schema=False)
    @sse()
    async def hidden() -> AsyncIterator[Measured]:
        yield Measured(data=Reading(celsius=1, sensorId="a"))

    app.include_router(router)
    return app


def test_document_leaves_other_routes_as_fastapi_documents_them() -> None:
    app = shop_app()
    fastapi_document = FastAPI.openapi(app)

    result = document(app)

    assert result["paths"]["/orders/{order_id}"] == fastapi_document["paths"]["/orders/{order_id}"]
    assert result["components"]["schemas"]["Order"] == fastapi_document["components"]["schemas"]["Order"]
    assert "webhooks" not in result


class Post(BaseModel):
    title: str


class Posted(BaseEvent[Post]): ...


class Digest(BaseEvent[list[Posted]]): ...


def publishing_app(*, separate: bool = True) -> FastAPI:
    app = FastAPI(separate_input_output_schemas=separate)

    @app.post("/publish")
    def publish(event: Posted) -> None: ...

    @app.get("/last")
    def last() -> Posted:
        return Posted(data=Post(title="t"))

    @app.get("/posts")
    @sse()
    async def posts() -> AsyncIterator[Posted | Digest]:
        yield Posted(data=Post(title="t"))

    return app


@pytest.mark.parametrize("separate", [True, False], ids=["separate-schemas", "shared-schemas"])
def test_document_keeps_fastapis_component_of_an_event_class_used_as_json(separate: bool) -> None:
    app = publishing_app(separate=separate)
    fastapi_document = FastAPI.openapi(app)
    result = document(app)
    schemas = result["components"]["schemas"]

    for path in ("/publish", "/last"):
        assert result["paths"][path] == fastapi_document["paths"][path]
    for name, schema in fastapi_document["components"]["schemas"].items():
        if name.startswith("Posted"):
            assert schemas[name] == schema
            assert set(schema["properties"]) == {"data", "id", "retry"}
    assert item_schema(stream_content(result, "/posts")) == union(
        ("posted", "Posted-Event"), ("digest", "Digest-Event"), ("typedsse.error", "StreamError-Event")
    )
    assert schemas["Posted-Event"] == event_component(Posted, {**JSON_DATA, "contentSchema": ref("Post")})
    # An event class inside a payload is sent as the model it is, as FastAPI documents it.
    output = "Posted-Output" if "Posted-Output" in schemas else "Posted"
    assert schemas["Digest-Event"] == event_component(
        Digest, {**JSON_DATA, "contentSchema": {"type": "array", "items": ref(output)}}
    )
    assert "Digest" not in schemas  # FastAPI's component of a class nothing else refers to
    validate(result)


def test_document_leaves_the_apps_own_component_names_as_fastapi_gives_them() -> None:
    # The events joined FastAPI's pass over the app's models, and names clashed there: the app's
    # own `ErrorPayload` (a common name, also typedsse's) became `__main____ErrorPayload`, a body
    # model named like an event class `Note-Input`, a model named like a payload module-
    # qualified. Adding a stream must not rename what other clients of the document know.
    error = create_model("ErrorPayload", __module__="shop.errors", error=(str, ...))
    body = create_model("Note", __module__="shop.models", text=(str, ...))
    shown = create_model("Payload", __module__="shop.models", b=(str, ...))
    carried = create_model("Payload", __module__="shop.events", a=(int, ...))
    note = type("Note", (BaseEvent[carried],), {"__module__": "shop.events"})  # type: ignore[valid-type]

    app = FastAPI()

    @app.get("/items/{item}", responses={404: {"model": error}})
    def get_item(item: int) -> None: ...

    def create_note(note: Any) -> None: ...

    create_note.__annotations__["note"] = body  # a model made here: not a name the module can resolve
    app.post("/notes")(create_note)

    @app.get("/payload", response_model=shown)
    def get_payload() -> Any: ...

    @app.get("/ticks")
    @sse()
    async def ticks() -> AsyncIterator[Line | note]:  # type: ignore[valid-type]
        yield Line(data="1")

    plain = FastAPI.openapi(app)
    app.openapi_schema = None
    result = document(app)
    schemas = result["components"]["schemas"]

    for path in ("/items/{item}", "/notes", "/payload"):
        assert result["paths"][path] == plain["paths"][path]
    assert {name: schemas[name] for name in plain["components"]["schemas"]} == plain["components"]["schemas"]
    assert set(plain["components"]["schemas"]) >= {"ErrorPayload", "Note", "Payload"}
    events = item_schema(stream_content(result, "/ticks"))["discriminator"]["mapping"]
    assert events == {
        "line": ref("Line-Event")["$ref"],
        "note": ref("Note-Event")["$ref"],
        "typedsse.error": ref("StreamError-Event")["$ref"],
    }
    carried_ref = schemas["Note-Event"]["properties"]["data"]["contentSchema"]["$ref"]
    assert schemas[carried_ref.removeprefix("#/components/schemas/")]["properties"] == {
        "a": {"title": "A", "type": "integer"}
    }
    error_ref = schemas["StreamError-Event"]["properties"]["data"]["contentSchema"]["$ref"]
    assert error_ref != ref("ErrorPayload")["$ref"]  # typedsse's own, under a name of its own
    validate(result)


def test_document_names_an_event_component_apart_from_a_schema_of_the_same_name() -> None:
    taken = create_model("Note-Event", x=(int, ...))
    app = FastAPI()

    @app.get("/taken", response_model=taken)
    def get_taken() -> Any: ...

    @app.get("/notes")
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    result = document(app)
    schemas = result["components"]["schemas"]

    assert schemas["Note-Event"] == FastAPI.openapi(app)["components"]["schemas"]["Note-Event"]
    assert schemas["Note-Event2"] == event_component(Note, {**JSON_DATA, "contentSchema": {"type": "string"}})
    assert item_schema(stream_content(result, "/notes")) == union(
        ("note", "Note-Event2"), ("typedsse.error", "StreamError-Event")
    )
    assert list(schemas) == sorted(schemas)


def test_document_keeps_prefixes_tags_parameters_and_bodies() -> None:
    fastapi_document = FastAPI.openapi(shop_app())
    operation = document(shop_app())["paths"]["/v1/orders/{order_id}/watch"]["post"]
    fastapi_operation = fastapi_document["paths"]["/v1/orders/{order_id}/watch"]["post"]

    assert operation["tags"] == ["streams"]
    assert operation["parameters"] == fastapi_operation["parameters"]
    assert [(p["in"], p["name"]) for p in operation["parameters"]] == [("path", "order_id"), ("header", "x-tenant")]
    assert (
        operation["requestBody"]
        == fastapi_operation["requestBody"]
        == {
            "content": {"application/json": {"schema": ref("Order")}},
            "required": True,
        }
    )
    assert list(operation["responses"]) == ["200", "422"]
    assert operation["responses"]["422"] == fastapi_operation["responses"]["422"]
    assert item_schema(stream_content({"paths": {"p": {"post": operation}}}, "p", "post")) == union(
        ("note", "Note-Event"), ("typedsse.error", "StreamError-Event")
    )


class Subscription(BaseModel):
    url: str


def test_document_keeps_the_apps_webhooks() -> None:
    app = sensor_app()

    @app.webhooks.post("new-subscription")
    def new_subscription(body: Subscription) -> None: ...

    result = document(app)

    assert result["webhooks"] == FastAPI.openapi(app)["webhooks"]
    assert list(result["webhooks"]) == ["new-subscription"]


def test_document_shows_the_status_the_stream_is_sent_with() -> None:
    # A route's `status_code` does not apply to the response `@sse` returns: the stream is a 200.
    app = FastAPI()

    @app.get("/notes", status_code=201, responses={201: {"description": "Notes."}})
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    with TestClient(app) as client:
        assert client.get("/notes").status_code == 200
    responses = document(app)["paths"]["/notes"]["get"]["responses"]

    assert list(responses) == ["200"]
    assert responses["200"]["description"] == "Notes."
    assert "text/event-stream" in responses["200"]["content"]


@pytest.mark.parametrize("version", ["3.1", "3.2"])
def test_document_replaces_the_success_fastapi_reads_from_the_response_class(version: Any) -> None:
    # Without a `status_code`, FastAPI documents the success under the default status of the
    # `response_class`'s constructor (307 for `RedirectResponse`); the stream is sent as a 200.
    app = FastAPI()

    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    app.get("/notes", response_class=RedirectResponse)(notes)
    app.head("/notes", response_class=RedirectResponse)(notes)
    with TestClient(app) as client:
        assert client.get("/notes").status_code == 200
    result = document(app, version=version)
    get, head = (result["paths"]["/notes"][method]["responses"] for method in ("get", "head"))
    assert list(get) == list(head) == ["200"]
    assert get["200"]["description"].startswith("A stream of server-sent events: `note`.")
    assert "text/event-stream" in get["200"]["content"]


def test_document_keeps_the_streams_description_when_responses_describes_its_status_without_one() -> None:
    # FastAPI writes the status phrase ("Created") where a `responses=` entry has no description:
    # copied over the stream's response, it hid `response_description` and the events' description.
    app = FastAPI()
    rate = {"headers": {"X-Rate": {"schema": {"type": "integer"}}}}

    @app.get("/described", response_description="My stream", responses={201: rate})
    @sse(status_code=201)
    async def described() -> AsyncIterator[Note]:
        yield Note(data="hi")

    @app.get("/plain", responses={"201": rate})
    @sse(status_code=201)
    async def plain() -> AsyncIterator[Note]:
        yield Note(data="hi")

    @app.get("/explicit", responses={201: {**rate, "description": "Notes, one by one."}})
    @sse(status_code=201)
    async def explicit() -> AsyncIterator[Note]:
        yield Note(data="hi")

    result = document(app)
    described_response = result["paths"]["/described"]["get"]["responses"]["201"]
    assert described_response["description"] == "My stream"
    assert described_response["headers"] == rate["headers"]  # the rest of the entry stays
    assert result["paths"]["/plain"]["get"]["responses"]["201"]["description"].startswith(
        "A stream of server-sent events: `note`."
    )
    assert result["paths"]["/explicit"]["get"]["responses"]["201"]["description"] == "Notes, one by one."
    validate(result)


def test_document_keeps_the_description_openapi_extra_gives_the_streams_status() -> None:
    # FastAPI merges `openapi_extra` into the operation as it is: a description it gives the
    # stream's status is the route's own, as one in `responses=` is, not a status phrase.
    app = FastAPI()
    described = {"responses": {"201": {"description": "Notes, as they come."}}}

    @app.get("/notes", openapi_extra=described)
    @sse(status_code=201)
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    result = document(app)
    responses = result["paths"]["/notes"]["get"]["responses"]
    assert list(responses) == ["201"]
    assert responses["201"]["description"] == "Notes, as they come."
    assert "text/event-stream" in responses["201"]["content"]
    validate(result)


def test_document_covers_every_method_of_a_multi_method_route() -> None:
    app = FastAPI()

    @app.api_route("/both", methods=["GET", "POST"])
    @sse()
    async def both() -> AsyncIterator[Note]:
        yield Note(data="hi")

    with pytest.warns(UserWarning, match=r"^Duplicate Operation ID both_both_"):  # FastAPI's, for any such route
        path_item = document(app)["paths"]["/both"]

    assert sorted(path_item) == ["get", "post"]
    for method in ("get", "post"):
        assert item_schema(stream_content({"paths": {"/": path_item}}, "/", method)) == union(
            ("note", "Note-Event"), ("typedsse.error", "StreamError-Event")
        )


@pytest.mark.parametrize("version", ["3.1", "3.2"])
def test_document_describes_head_as_the_streams_headers_without_events(version: Any) -> None:
    # A HEAD gets the stream's status and headers, and no body: no events to describe.
    app = FastAPI()

    @app.api_route("/notes", methods=["GET", "HEAD"], responses={200: {"description": "Notes."}})
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    with pytest.warns(UserWarning, match=r"^Duplicate Operation ID notes_notes_"):  # FastAPI's, for any such route
        result = document(app, version=version)

    head = result["paths"]["/notes"]["head"]["responses"]["200"]
    assert "content" not in head
    assert head["description"] == "Notes."
    assert "text/event-stream" in result["paths"]["/notes"]["get"]["responses"]["200"]["content"]

    # As two routes (what the docs suggest), each method has an id of its own: a valid document.
    plain = FastAPI()
    plain.get("/notes")(notes)
    plain.head("/notes")(notes)
    plain_document = document(plain, version=version)
    validate(plain_document)
    head = plain_document["paths"]["/notes"]["head"]["responses"]["200"]
    assert head == {
        "description": "The headers a `GET` of this stream starts with (`content-type: text/event-stream`); no events."
    }
    with TestClient(plain) as client:
        response = client.head("/notes")
    assert (response.status_code, response.content) == (200, b"")


def test_document_leaves_out_routes_excluded_from_the_schema() -> None:
    result = document(shop_app())

    assert "/v1/hidden" not in result["paths"]
    assert not {"Measured", "Measured-Event", "Reading"} & set(result["components"]["schemas"])


def native_app(**kwargs: Any) -> FastAPI:
    app = new_app(**kwargs)

    @app.get("/native", response_class=EventSourceResponse)
    async def native() -> AsyncIterator[Order]:
        yield Order(item="tea")

    @app.get("/lines")
    async def lines() -> AsyncIterator[Order]:
        yield Order(item="tea")

    @app.get("/typed")
    @sse()
    async def typed() -> AsyncIterator[Note]:
        yield Note(data="hi")

    return app


@needs_native_streams
def test_fastapi_native_streams_make_an_invalid_3_1_document_on_their_own() -> None:
    fastapi_document = FastAPI.openapi(native_app())

    assert (
        "itemSchema" in fastapi_document["paths"]["/native"]["get"]["responses"]["200"]["content"]["text/event-stream"]
    )
    with pytest.raises(Exception, match="'itemSchema' was unexpected"):
        validate(fastapi_document)


@needs_native_streams
def test_document_moves_fastapi_native_item_schemas_to_schema_in_3_1() -> None:
    fastapi_document = FastAPI.openapi(native_app())
    result = document(native_app())

    for path, media_type in (("/native", "text/event-stream"), ("/lines", "application/jsonl")):
        fastapi_media = fastapi_document["paths"][path]["get"]["responses"]["200"]["content"][media_type]
        assert result["paths"][path]["get"]["responses"]["200"]["content"][media_type] == {
            "schema": fastapi_media["itemSchema"]
        }
    validate(result)


@needs_native_streams
def test_document_moves_native_item_schemas_of_callbacks_and_beside_a_given_schema_in_3_1() -> None:
    # 3.1 has no `itemSchema` anywhere: one left in an operation's callbacks, or beside a
    # `schema` the route's `responses=` gave, made the whole document invalid.
    callbacks = APIRouter()

    @callbacks.get("{$request.body#/url}", response_class=EventSourceResponse)
    async def orders_callback() -> AsyncIterator[Order]:
        yield Order(item="tea")

    app = new_app()

    @app.post("/subscribe", callbacks=callbacks.routes)
    def subscribe(url: str) -> None: ...

    given = {"type": "string", "description": "what the route says"}

    @app.get(
        "/native",
        response_class=EventSourceResponse,
        responses={200: {"content": {"text/event-stream": {"schema": given}}}},
    )
    async def native() -> AsyncIterator[Order]:
        yield Order(item="tea")

    result = document(app)
    callback = result["paths"]["/subscribe"]["post"]["callbacks"]["orders_callback"]["{$request.body#/url}"]
    callback_media = callback["get"]["responses"]["200"]["content"]["text/event-stream"]
    assert list(callback_media) == ["schema"]
    assert result["paths"]["/native"]["get"]["responses"]["200"]["content"]["text/event-stream"] == {"schema": given}
    validate(result)


@needs_native_streams
def test_document_rejects_an_sse_route_fastapi_streams_itself() -> None:
    # With `response_class=EventSourceResponse`, FastAPI iterates the endpoint `@sse` built as a
    # generator of its own: every request fails with a TypeError. The document says why.
    app = FastAPI()

    @app.get("/notes", response_class=EventSourceResponse)
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    with pytest.raises(EndpointDefinitionError, match=f"^{re.escape(native_streaming_message('/notes'))}$"):
        document(app)


def native_streaming_message(path: str) -> str:
    return (
        f"GET {path}: response_class=EventSourceResponse makes FastAPI stream the @sse endpoint as a generator "
        "of its own, and every request fails; leave response_class unset (@sse answers with its own "
        "EventStreamResponse), and where it is the default_response_class of the route's router or app, give "
        "the route another (response_class=JSONResponse)"
    )


@needs_native_streams
@pytest.mark.parametrize("where", ["router", "app"])
def test_document_says_what_to_do_for_an_sse_route_under_a_default_fastapi_streams_itself(where: str) -> None:
    # Under a router's or app's `default_response_class=EventSourceResponse`, FastAPI streams an
    # `@sse` route without a `response_class` itself: the message said to leave it unset, as it was.
    def app_with(**route_options: Any) -> FastAPI:
        native = {"default_response_class": EventSourceResponse}
        app = FastAPI(**(native if where == "app" else {}))
        router = APIRouter(**(native if where == "router" else {}))

        @router.get("/notes", **route_options)
        @sse()
        async def notes() -> AsyncIterator[Note]:
            yield Note(data="hi")

        app.include_router(router)
        return app

    with pytest.raises(EndpointDefinitionError, match=f"^{re.escape(native_streaming_message('/notes'))}$"):
        document(app_with())

    # As it now says, another class on the route has `@sse` serve the stream, and the document describe it.
    app = app_with(response_class=JSONResponse)
    assert TestClient(app).get("/notes").text == 'event: note\ndata: "hi"\n\n'
    assert EXTENSION in stream_content(document(app), "/notes")


@needs_native_streams
def test_document_keeps_fastapi_native_item_schemas_in_3_2() -> None:
    fastapi_document = FastAPI.openapi(native_app(openapi_version="3.2.0"))
    result = document(native_app(openapi_version="3.2.0"))

    assert result["paths"]["/native"] == fastapi_document["paths"]["/native"]
    assert result["paths"]["/lines"] == fastapi_document["paths"]["/lines"]
    validate(result)


@needs_fastapi_generator_routes
def test_document_rejects_sse_above_the_route_decorator() -> None:
    app = FastAPI()

    @sse()
    @app.get("/notes")
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    message = (
        "GET /notes: FastAPI serves "
        "'test_document_rejects_sse_above_the_route_decorator.<locals>.notes' without @sse, so its events "
        "are neither typed nor documented; @sse must be below the route decorator:\n\n"
        '    @app.get("/notes")\n    @sse()\n    async def notes(...) -> ...: ...'
    )
    with pytest.raises(EndpointDefinitionError, match=f"^{re.escape(message)}$"):
        document(app)


@needs_fastapi_generator_routes
def test_document_rejects_sse_above_the_route_decorator_whatever_the_annotation_names() -> None:
    # Under postponed annotations, the stream's annotation names a class of the app factory,
    # which the function's module does not have: read there, it tells nothing (and FastAPI's
    # own document fails on it, with an error about the annotation).
    def create_app() -> FastAPI:
        class Local(BaseEvent[int]): ...

        app = FastAPI()

        @sse()
        @app.get("/local")
        async def local() -> AsyncIterator[Local]:
            yield Local(data=1)

        return app

    with pytest.raises(
        EndpointDefinitionError,
        match=r"(?s)^GET /local: FastAPI serves '.*create_app\.<locals>\.local' without @sse, .*"
        r"    async def local\(\.\.\.\) -> \.\.\.: \.\.\.$",
    ):
        document(create_app())


def test_document_rejects_sse_above_the_route_decorator_of_a_function_returning_events() -> None:
    # FastAPI sends the list as JSON; the function was meant to be a stream, as `@sse` on it says.
    app = FastAPI()

    @sse()
    @app.get("/recent")
    def recent() -> Iterable[Note]:
        return [Note(data="a")]

    with pytest.raises(
        EndpointDefinitionError, match=r"(?s)^GET /recent: FastAPI serves .*    def recent\(\.\.\.\) -> \.\.\.: \.\.\.$"
    ):
        document(app)


@needs_native_streams
def test_document_accepts_plain_generators_of_models() -> None:
    # A FastAPI JSON Lines route of ordinary models is not mistaken for a misplaced @sse.
    result = document(native_app())

    assert "/lines" in result["paths"]


@pytest.mark.parametrize("version", ["3.0", "3.3", "4"])
def test_document_rejects_an_unknown_version(version: Any) -> None:
    with pytest.raises(ValueError, match=rf"^unsupported OpenAPI version '{version}'; use '3.1' or '3.2'$"):
        document(sensor_app(), version=version)


@pytest.mark.parametrize(("version", "openapi", "key"), [("3.1", "3.1.0", "schema"), ("3.2", "3.2.0", "itemSchema")])
def test_document_version_overrides_the_apps_own(version: Any, openapi: str, key: str) -> None:
    for app_version in ("3.1.0", "3.2.0"):
        result = document(sensor_app(openapi_version=app_version), version=version)
        assert result["openapi"] == openapi
        assert key in stream_content(result, "/readings")


# --- install -----------------------------------------------------------------------------------


def test_install_makes_app_openapi_document_the_events() -> None:
    app = sensor_app()
    install(app)

    assert app.openapi() == document(app)
    assert app.openapi() is app.openapi()  # built once, then cached like FastAPI's own


def test_install_is_idempotent() -> None:
    app = sensor_app()
    install(app)
    openapi = app.openapi
    built = app.openapi()

    install(app)

    assert app.openapi is openapi
    assert app.openapi() is built


def test_install_before_the_routes_documents_routes_added_later() -> None:
    app = FastAPI()
    install(app)
    assert app.openapi()["paths"] == {}

    @app.get("/notes")
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    assert item_schema(stream_content(app.openapi(), "/notes")) == union(
        ("note", "Note-Event"), ("typedsse.error", "StreamError-Event")
    )


def test_install_documents_routers_included_after_the_first_document() -> None:
    app = FastAPI()
    install(app)
    assert app.openapi()["paths"] == {}
    router = APIRouter(prefix="/v1")

    @router.get("/notes")
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    app.include_router(router)

    assert item_schema(stream_content(app.openapi(), "/v1/notes")) == union(
        ("note", "Note-Event"), ("typedsse.error", "StreamError-Event")
    )


def test_install_replaces_a_document_built_before_it() -> None:
    app = sensor_app()
    before = app.openapi()
    assert "text/event-stream" not in before["paths"]["/readings"]["get"]["responses"]["200"]["content"]

    install(app)

    assert "text/event-stream" in app.openapi()["paths"]["/readings"]["get"]["responses"]["200"]["content"]


def test_install_rebuilds_when_the_cached_document_is_cleared() -> None:
    app = sensor_app()
    install(app)
    first = app.openapi()

    app.openapi_schema = None

    assert app.openapi() is not first
    assert app.openapi() == first


def test_install_serves_the_document_at_openapi_json() -> None:
    app = sensor_app()
    install(app)

    with TestClient(app) as client:
        served = client.get("/openapi.json").json()

    assert served == json.loads(json.dumps(document(app)))


def test_install_works_on_a_mounted_sub_application() -> None:
    parent = FastAPI()
    child = sensor_app()
    install(child)
    parent.mount("/sensors", child)

    with TestClient(parent) as client:
        served = client.get("/sensors/openapi.json").json()

    assert served["servers"] == [{"url": "/sensors"}]
    assert stream_content(served, "/readings")[EXTENSION]["events"]["measured"] == {
        "schema": "#/components/schemas/Measured-Event",
        "encoding": "json",
    }


@needs_fastapi_generator_routes
def test_install_raises_for_a_misplaced_sse_when_the_document_is_built() -> None:
    app = FastAPI()
    install(app)  # nothing to check yet: the route does not exist

    @sse()
    @app.get("/notes")
    def notes() -> Iterator[Note]:
        yield Note(data="hi")

    with pytest.raises(
        EndpointDefinitionError, match=r"(?s)^GET /notes: FastAPI serves .* def notes\(\.\.\.\) -> \.\.\.: \.\.\.$"
    ):
        app.openapi()


# --- validity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.1", "3.2"])
@pytest.mark.parametrize(
    "make_app",
    [
        pytest.param(sensor_app, id="payload-kinds"),
        pytest.param(shop_app, id="routers"),
        pytest.param(native_app, id="native-streams", marks=needs_native_streams),
        pytest.param(lambda: priced_app(separate=True), id="input-output"),
    ],
)
def test_document_is_valid_openapi(make_app: Any, version: Any) -> None:
    validate(document(make_app(), version=version))


@pytest.mark.parametrize("version", ["3.1", "3.2"])
@pytest.mark.parametrize("name", example_apps())
def test_example_document_is_valid_openapi(name: str, version: Any) -> None:
    result = document(example_app(name), version=version)

    assert result["openapi"] == f"{version}.0"
    validate(result)


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every route as the document sees it: with its router's prefix and tags."""
    iter_route_contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_route_contexts is None:  # FastAPI before 0.138 copies included routes into the app
        yield from (route for route in app.routes if isinstance(route, fastapi_routing.APIRoute))
    else:
        yield from iter_route_contexts(app.routes)


@pytest.mark.parametrize("name", example_apps())
def test_example_document_describes_every_event_of_every_stream(name: str) -> None:
    app = example_app(name)
    install(app)
    result = app.openapi()
    schemas = result["components"]["schemas"]

    streams = 0
    for route in api_routes(app):
        spec = stream_endpoint(route.endpoint) if route.endpoint is not None else None
        if spec is None or not route.include_in_schema:
            continue
        for method in route.methods or ():
            streams += 1
            media = stream_content(result, str(route.path_format), method.lower())
            assert list(media[EXTENSION]["events"]) == list(spec.events.names)
            assert media[EXTENSION]["errorEvents"] == [cls.event_name for cls in spec.error_events]
            for branch, cls in zip(media["schema"]["oneOf"], spec.events.events, strict=True):
                component = schemas[branch["$ref"].removeprefix("#/components/schemas/")]
                assert component["properties"]["event"] == {"type": "string", "const": cls.event_name}
    assert streams > 0


def test_echo_example_documents_its_event_union() -> None:
    echo = importlib.import_module("examples.echo")
    result = document(echo.app)
    schemas = result["components"]["schemas"]

    assert stream_content(result, "/echo") == {
        "schema": union(
            ("echo", "Echo-Event"), ("reverse_echo", "ReverseEcho-Event"), ("typedsse.error", "StreamError-Event")
        ),
        EXTENSION: extension(
            ("echo", "Echo-Event", "json"),
            ("reverse_echo", "ReverseEcho-Event", "json"),
            ("typedsse.error", "StreamError-Event", "json"),
            resumable=True,
            retry=500,
        ),
    }
    payload = {**JSON_DATA, "contentSchema": ref("EchoPayload")}
    assert schemas["Echo-Event"] == event_component(echo.Echo, payload)
    assert schemas["ReverseEcho-Event"] == event_component(echo.ReverseEcho, payload)
    assert schemas["EchoPayload"]["required"] == ["message", "created_at"]


def test_chat_example_documents_its_event_union() -> None:
    chat = importlib.import_module("examples.chat")
    result = document(chat.app)
    schemas = result["components"]["schemas"]

    assert stream_content(result, "/chat", "post") == {
        "schema": union(
            ("token", "Token-Event"),
            ("message", "Message-Event"),
            ("done", "Done-Event"),
            ("typedsse.error", "StreamError-Event"),
        ),
        EXTENSION: extension(
            ("token", "Token-Event", "json"),
            ("message", "Message-Event", "json"),
            ("done", "Done-Event", "json"),
            ("typedsse.error", "StreamError-Event", "json"),
        ),
    }
    assert schemas["Token-Event"] == event_component(chat.Token, {**JSON_DATA, "contentSchema": {"type": "string"}})
    assert schemas["Message-Event"] == event_component(chat.Message, {**JSON_DATA, "contentSchema": ref("ChatMessage")})
    assert schemas["Done-Event"] == event_component(
        chat.Done, {"type": "string", "const": "null", **JSON_DATA, "contentSchema": {"type": "null"}}
    )
    # One model as request body (inside ChatRequest) and as payload: one schema, as FastAPI would.
    assert result["components"]["schemas"]["ChatRequest"]["properties"]["messages"]["items"] == ref("ChatMessage")


@pytest.mark.parametrize("path", ["/jobs/{job_id}", "/jobs/{job_id}/blocking"])
def test_progress_example_documents_its_event_union(path: str) -> None:
    progress = importlib.import_module("examples.progress")
    result = document(progress.app)
    schemas = result["components"]["schemas"]

    assert stream_content(result, path) == {
        "schema": union(
            ("job.progress", "Progress-Event"),
            ("job.result", "Result-Event"),
            ("job.failed", "Failed-Event"),
            ("typedsse.error", "StreamError-Event"),
        ),
        EXTENSION: extension(
            ("job.progress", "Progress-Event", "json"),
            ("job.result", "Result-Event", "json"),
            ("job.failed", "Failed-Event", "json"),
            ("typedsse.error", "StreamError-Event", "json"),
        ),
    }
    assert schemas["Progress-Event"] == event_component(
        progress.Progress, {**JSON_DATA, "contentSchema": ref("JobStatus")}
    )
    assert schemas["Result-Event"] == event_component(progress.Result, {**JSON_DATA, "contentSchema": ref("JobResult")})
    assert schemas["Failed-Event"] == event_component(
        progress.Failed, {**JSON_DATA, "contentSchema": ref("JobFailure")}
    )


# --- the docs page ------------------------------------------------------------------------------


def docs_json_block(title: str) -> Any:
    text = (DOCS / "openapi.md").read_text(encoding="utf-8")
    match = re.search(rf'^```json title="{re.escape(title)}"\n(?P<body>.*?)^```$', text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"docs/openapi.md has no json block titled {title!r}"
    return json.loads(match["body"])


def test_docs_show_the_echo_examples_generated_fragment() -> None:
    result = document(importlib.import_module("examples.echo").app)

    assert (
        docs_json_block("GET /echo: responses.200.content")
        == result["paths"]["/echo"]["get"]["responses"]["200"]["content"]
    )
    assert docs_json_block("components.schemas.Echo-Event") == result["components"]["schemas"]["Echo-Event"]


# --- the command line ---------------------------------------------------------------------------


def test_cli_openapi_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi", "examples.echo:app"]) == 0

    assert json.loads(capsys.readouterr().out) == document(example_app("echo"))


def test_cli_openapi_writes_the_requested_version_to_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "openapi.json"

    assert main(["openapi", "examples.chat:app", "--version", "3.2", "-o", str(output)]) == 0

    assert capsys.readouterr().out == ""
    assert json.loads(output.read_text(encoding="utf-8")) == document(example_app("chat"), version="3.2")


def test_cli_openapi_refuses_what_is_not_a_fastapi_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["openapi", "typedsse.openapi:document"]) == 1

    assert capsys.readouterr().err == (
        "error: typedsse.openapi:document is a function, not a FastAPI application (an app factory? pass --factory)\n"
    )


@needs_fastapi_generator_routes
def test_cli_openapi_reports_a_misplaced_sse(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    app = importable_app(monkeypatch, "misplaced_app", FastAPI())

    @sse()
    @app.get("/notes")
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    assert main(["openapi", "misplaced_app:app"]) == 1

    assert capsys.readouterr().err.startswith("error: GET /notes: FastAPI serves ")


@pytest.mark.parametrize(
    ("source", "target", "error"),
    [
        (
            'raise RuntimeError("no database")\n',
            "failing_app:app",
            "error: importing 'failing_app' failed at failing_app.py, line 1: RuntimeError: no database\n",
        ),
        (
            'import os\n\nTOKEN = os.environ["TYPEDSSE_UNSET_TOKEN"]\n',
            "failing_app:app",
            # The line of the app, not the one in the standard library that raised.
            "error: importing 'failing_app' failed at failing_app.py, line 3: KeyError: 'TYPEDSSE_UNSET_TOKEN'\n",
        ),
        (
            "def broken(:\n",
            "failing_app:app",
            "error: cannot import 'failing_app': invalid syntax (failing_app.py, line 1)\n",
        ),
        ("", ".failing_app:app", "error: expected MODULE:APP with an absolute module name, got '.failing_app:app'\n"),
        (
            # A script's exit, status 0 included: the command ended with that status, printing nothing.
            "import sys\n\nsys.exit(0)\n",
            "failing_app:app",
            "error: importing 'failing_app' ended the program at failing_app.py, line 3: sys.exit(0)\n",
        ),
        (
            "import sys\n\nsys.exit()\n",
            "failing_app:app",
            "error: importing 'failing_app' ended the program at failing_app.py, line 3: sys.exit()\n",
        ),
        (
            # A module the app imports is missing: the line importing it, not importlib's.
            "import os\n\nimport typedsse_not_installed_anywhere\n",
            "failing_app:app",
            "error: cannot import 'failing_app' at failing_app.py, line 3: "
            "No module named 'typedsse_not_installed_anywhere'\n",
        ),
        (
            "",
            "typedsse_no_such_app:app",
            "error: cannot import 'typedsse_no_such_app': No module named 'typedsse_no_such_app'\n",
        ),
        (
            # A settings class refusing the environment: Pydantic's message spans several lines.
            "from pydantic import BaseModel\n\nclass Settings(BaseModel):\n    url: str\n\nSettings()\n",
            "failing_app:app",
            "error: importing 'failing_app' failed at failing_app.py, line 6: ValidationError: 1 validation error "
            "for Settings url Field required [type=missing, input_value={}, input_type=dict] ...\n",
        ),
    ],
    ids=[
        "raises",
        "raises-in-the-standard-library",
        "syntax-error",
        "relative",
        "exits",
        "exits-without-status",
        "imports-a-missing-module",
        "missing",
        "multi-line-message",
    ],
)
def test_cli_openapi_reports_a_module_that_cannot_be_imported_in_one_line(
    source: str,
    target: str,
    error: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "failing_app.py").write_text(source, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "failing_app", raising=False)

    assert main(["openapi", target]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    if error.endswith(" ...\n"):  # the rest is Pydantic's, which varies with its version
        assert err.startswith(error.removesuffix(" ...\n"))
        assert err.count("\n") == 1
    else:
        assert err == error


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_reports_a_payload_without_a_json_schema_without_a_traceback(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Pydantic cannot describe a callable field: FastAPI's document fails with Pydantic's error,
    # which went out as a traceback.
    class Hooked(BaseModel):
        model_config = ConfigDict(arbitrary_types_allowed=True)

        hook: Callable[[], int]

    class HookSet(BaseEvent[Hooked]): ...

    app = importable_app(monkeypatch, "schemaless_app", FastAPI())

    @app.get("/hooks")
    @sse()
    async def hooks() -> AsyncIterator[HookSet]:
        yield HookSet(data=Hooked(hook=lambda: 1))

    assert main([command, "schemaless_app:app"]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: Cannot generate a JsonSchema for core_schema.CallableSchema")


@pytest.mark.parametrize("output", ["/dev/null/openapi.json", "."], ids=["under-a-file", "a-directory"])
def test_cli_openapi_reports_an_output_file_it_cannot_write_in_one_line(
    output: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["openapi", "examples.echo:app", "-o", output]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert re.fullmatch(rf"error: cannot write {re.escape(output)}: [^\n]+\n", err)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["openapi", "examples.echo:app", "-o", ""], "-o/--output"),
        (["typescript", "examples.echo:app", "--output", ""], "-o/--output"),
        (["typescript", "--from", ""], "--from"),
    ],
    ids=["openapi-output", "typescript-output", "typescript-from"],
)
def test_cli_refuses_an_empty_file_name_as_a_usage_error(
    argv: list[str], option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An unset variable (`-o "$OUT"`) was taken for the current directory: "error: cannot write
    # : Is a directory", and "[Errno 21] Is a directory: '.'" for `--from`, after the import.
    monkeypatch.chdir(tmp_path)

    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.endswith(f"typedsse {argv[0]}: error: argument {option}: the file name is empty\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("separate", [True, False])
def test_document_finds_the_data_field_under_the_alias_of_either_mode(separate: bool) -> None:
    # With `separate_input_output_schemas=False` FastAPI writes the model as it is read: the
    # property is keyed by the validation alias, and the document failed with KeyError.
    class Counted(BaseEvent[int]):
        data: Annotated[int, Field(validation_alias="value")]

    app = FastAPI(separate_input_output_schemas=separate)

    @app.get("/counts")
    @sse()
    async def counts() -> AsyncIterator[Counted]:
        yield Counted.model_validate({"value": 1})

    result = document(app)
    validate(result)
    assert result["components"]["schemas"]["Counted-Event"]["properties"]["data"] == {
        **JSON_DATA,
        "contentSchema": {"type": "integer"},
    }


class ReadFromChoices(BaseEvent[int]):
    data: Annotated[int, Field(validation_alias=AliasChoices("value", "data"))]


class ReadFromPathChoices(BaseEvent[int]):
    data: Annotated[int, Field(validation_alias=AliasChoices(AliasPath("value", 0), "count", "data"))]


class ReadFromPath(BaseEvent[int]):
    data: Annotated[int, Field(validation_alias=AliasPath("value", 0))]


class ReadUnderPrefixes(BaseEvent[int]):
    model_config = ConfigDict(
        alias_generator=AliasGenerator(validation_alias=lambda name: AliasChoices(f"x_{name}", name))
    )


@pytest.mark.parametrize("separate", [True, False])
@pytest.mark.parametrize("event_cls", [ReadFromChoices, ReadFromPathChoices, ReadFromPath, ReadUnderPrefixes])
def test_document_finds_the_data_field_under_validation_alias_choices_and_paths(
    event_cls: type[BaseEvent[int]], separate: bool
) -> None:
    # FastAPI keys the property read through `AliasChoices` or `AliasPath` by the first choice
    # that is a single name (or by the field's name): the document failed with a bare
    # StopIteration, and `/openapi.json` answered 500.
    app = FastAPI(separate_input_output_schemas=separate)
    install(app)

    @app.get("/counts")
    @sse()
    async def counts() -> AsyncIterator[event_cls]:  # type: ignore[valid-type]
        yield event_cls.model_construct(data=1)

    response = TestClient(app).get("/openapi.json")
    assert response.status_code == 200
    result = response.json()
    validate(result)
    assert result["components"]["schemas"][f"{event_cls.__name__}-Event"] == event_component(
        event_cls, {**JSON_DATA, "contentSchema": {"type": "integer"}}
    )


def test_document_keeps_a_plain_json_route_returning_a_list_of_events() -> None:
    # A plain function returning events as a JSON array is not a misplaced @sse: FastAPI serves
    # it as JSON, and the whole document used to fail.
    app = FastAPI()

    @app.get("/recent")
    def recent() -> Iterable[Note]:
        return [Note(data="a"), Note(data="b")]

    assert TestClient(app).get("/recent").json()[1]["data"] == "b"
    assert "/recent" in document(app)["paths"]


def test_document_skips_a_route_whose_annotation_cannot_be_read() -> None:
    app = FastAPI()

    @app.get("/counts")
    def counts() -> dict[str, int]:
        return {}

    counts.__annotations__["return"] = "dict[str, int"  # a typo FastAPI 0.118 lets through to here
    assert "/counts" in document(app)["paths"]


def test_document_describes_a_none_payload_written_by_a_serializer_as_written() -> None:
    class Finished(BaseEvent[None]):
        @field_serializer("data")
        def label(self, value: None) -> str:
            return "done"

    app = FastAPI()

    @app.get("/jobs")
    @sse()
    async def jobs() -> AsyncIterator[Finished]:
        yield Finished(data=None)

    assert encode(Finished(data=None)) == b'event: finished\ndata: "done"\n\n'
    data = document(app)["components"]["schemas"]["Finished-Event"]["properties"]["data"]
    assert data == {**JSON_DATA, "contentSchema": {"type": "string"}}


def test_document_keeps_a_payload_title_given_in_the_type_parameter() -> None:
    class Counted(BaseEvent[Annotated[int, Field(title="Count of things", ge=0)]]): ...

    app = FastAPI()

    @app.get("/counts")
    @sse()
    async def counts() -> AsyncIterator[Counted]:
        yield Counted(data=1)

    data = document(app)["components"]["schemas"]["Counted-Event"]["properties"]["data"]
    assert data["contentSchema"]["title"] == "Count of things"  # Pydantic 2.7 keeps it in the `Annotated`


class Unwritable:
    """A default value JSON cannot hold, with a name to tell Pydantic's warnings apart."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Unwritable({self.name!r})"


class Search(BaseModel):
    marker: object = Unwritable("search")


class Snapshot(BaseModel):
    marker: object = Unwritable("snapshot")


class Snapshotted(BaseEvent[Snapshot]): ...


def test_document_warns_once_of_each_default_json_cannot_hold() -> None:
    # Pydantic leaves such a default out of a schema, and says so: of a payload's as of a request
    # body's, once each.
    app = FastAPI()

    @app.post("/search")
    def search(search: Search) -> None: ...

    @app.get("/snapshots")
    @sse()
    async def snapshots() -> AsyncIterator[Snapshotted]:
        yield Snapshotted(data=Snapshot())

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = document(app)

    defaults = [
        re.match(r"Default value (\S+) is not JSON serializable", str(warning.message))
        for warning in caught
        if issubclass(warning.category, PydanticJsonSchemaWarning)
    ]
    assert sorted(match.group(1) for match in defaults if match) == ["Unwritable('search')", "Unwritable('snapshot')"]
    assert len(defaults) == 2
    assert "default" not in result["components"]["schemas"]["Snapshot"]["properties"]["marker"]


def test_cli_openapi_prints_the_document_the_app_serves(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An app that builds its own document on `document` (as the OpenAPI page shows) serves that
    # one; the command printed `document(app)` without its additions.
    app = importable_app(monkeypatch, "custom_doc_app", FastAPI())

    @app.get("/notes")
    @sse()
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
            app.openapi_schema["info"]["x-logo"] = {"url": "/logo.png"}
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]

    assert main(["openapi", "custom_doc_app:app"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == TestClient(app).get("/openapi.json").json()
    assert printed["info"]["x-logo"] == {"url": "/logo.png"}
    assert main(["openapi", "custom_doc_app:app", "--version", "3.2"]) == 0  # another version: built anew
    assert "x-logo" not in json.loads(capsys.readouterr().out)["info"]


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_reports_an_apps_own_openapi_that_fails_in_one_line(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The app's own `openapi` is the app's code, as its import is: it failed with a traceback.
    app = importable_app(monkeypatch, "failing_doc_app", FastAPI())

    def failing_openapi() -> dict[str, Any]:
        raise KeyError("servers")

    def no_document() -> None:
        return None

    app.openapi = failing_openapi  # type: ignore[method-assign]
    line = failing_openapi.__code__.co_firstlineno + 1
    assert main([command, "failing_doc_app:app"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: the app's openapi() failed at ")
    assert err.endswith(f"test_openapi.py, line {line}: KeyError: 'servers'\n")

    app.openapi = no_document  # type: ignore[method-assign]
    assert main([command, "failing_doc_app:app"]) == 1
    assert capsys.readouterr() == (
        "",
        "error: the app's openapi() returned a NoneType, not an OpenAPI document (a dict)\n",
    )


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (datetime.date(2026, 1, 1), "Object of type date is not JSON serializable"),
        (float("inf"), "Out of range float values are not JSON compliant"),
    ],
    ids=["not-json", "infinity"],
)
def test_cli_openapi_refuses_a_document_that_is_not_json(
    value: object, error: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A date in the app's own document was a traceback; an infinity went out as `Infinity`,
    # which is not JSON (FastAPI refuses to serve it).
    app = importable_app(monkeypatch, "unserialisable_doc_app", FastAPI())
    app.openapi = lambda: {**document(app), "x-value": value}  # type: ignore[method-assign]

    assert main(["openapi", "unserialisable_doc_app:app"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: the document is not JSON: {error}")


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_creates_the_directories_of_its_output(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main([command, "examples.echo:app", "-o", "src/generated/out.txt"]) == 0

    assert capsys.readouterr() == ("", "")
    assert (tmp_path / "src" / "generated" / "out.txt").read_text(encoding="utf-8").strip()


def test_document_describes_a_partial_of_an_sse_endpoint() -> None:
    # FastAPI routes a `functools.partial`; the route streamed, but was documented as JSON.
    async def notes(prefix: str, count: int = 2) -> AsyncIterator[Note]:
        for i in range(count):
            yield Note(data=f"{prefix}{i}")

    app = FastAPI()
    app.get("/notes")(functools.partial(sse()(notes), "n"))

    assert [m.data for m in parse(TestClient(app).get("/notes").content)] == ['"n0"', '"n1"']
    media = document(app)["paths"]["/notes"]["get"]["responses"]["200"]["content"]
    assert list(media) == ["text/event-stream"]
    assert list(media["text/event-stream"][EXTENSION]["events"]) == ["note", "typedsse.error"]


FACTORY_MODULE = """\
from fastapi import FastAPI

from examples import echo


def create_app() -> FastAPI:
    return echo.app


def failing() -> FastAPI:
    raise RuntimeError("no settings")


def not_an_app() -> int:
    return 3


def configured(settings: dict[str, str]) -> FastAPI:
    return echo.app


def exiting() -> FastAPI:
    raise SystemExit(0)


async def made_later() -> FastAPI:
    return echo.app


count = 3
"""


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_calls_an_app_factory_with_factory(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # uvicorn's `--factory`: an app made by a function, as many projects do (`create_app()`).
    (tmp_path / "factory_app.py").write_text(FACTORY_MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, "factory_app", raising=False)

    assert main([command, "examples.echo:app"]) == 0
    direct = capsys.readouterr().out
    assert main([command, "factory_app:create_app", "--factory"]) == 0
    made = capsys.readouterr().out
    if command == "typescript":  # the header names where the document came from
        direct = direct.replace("examples.echo:app", "factory_app:create_app")
    assert made == direct

    assert main([command, "factory_app:create_app"]) == 1
    assert capsys.readouterr().err == (
        "error: factory_app:create_app is a function, not a FastAPI application (an app factory? pass --factory)\n"
    )
    assert main([command, "factory_app:failing", "--factory"]) == 1
    assert capsys.readouterr() == (
        "",
        "error: calling factory_app:failing failed at factory_app.py, line 11: RuntimeError: no settings\n",
    )
    assert main([command, "factory_app:not_an_app", "--factory"]) == 1
    assert capsys.readouterr().err == "error: factory_app:not_an_app returned an int, not a FastAPI application\n"
    assert main([command, "factory_app:count", "--factory"]) == 1
    assert capsys.readouterr().err == "error: factory_app:count is an int, not an app factory\n"
    assert main([command, "factory_app:exiting", "--factory"]) == 1  # it returned 0, printing nothing
    assert capsys.readouterr() == (
        "",
        "error: calling factory_app:exiting ended the program at factory_app.py, line 23: sys.exit(0)\n",
    )
    # An `async def` factory: its coroutine, never awaited, made Python warn on standard error.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([command, "factory_app:made_later", "--factory"]) == 1
        gc.collect()
    assert capsys.readouterr().err == (
        "error: factory_app:made_later returned a coroutine, not a FastAPI application "
        "(an async factory? make it a plain function, as uvicorn's --factory needs)\n"
    )
    assert [str(warning.message) for warning in caught] == []
    # An app is callable (ASGI): called as a factory, it failed on its missing arguments.
    assert main([command, "examples.echo:app", "--factory"]) == 1
    assert capsys.readouterr().err == (
        "error: examples.echo:app is a FastAPI application, not an app factory (drop --factory)\n"
    )
    # Called with the wrong arguments, a factory fails where typedsse calls it, which is not
    # where the mistake is: the message named a line of typedsse's own command line.
    assert main([command, "factory_app:configured", "--factory"]) == 1
    assert capsys.readouterr().err == (
        "error: calling factory_app:configured failed: "
        "TypeError: configured() missing 1 required positional argument: 'settings'\n"
    )


CHATTY_MODULE = """\
from fastapi import FastAPI

from examples import echo

print("loading settings")


def create_app() -> FastAPI:
    print("creating the app")
    return echo.app
"""


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_prints_what_the_app_prints_on_standard_error_not_in_its_output(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `typedsse openapi app > openapi.json` of an app that prints (or logs to standard output)
    # as it is imported wrote that text before the JSON, with status 0: a file no tool could read.
    (tmp_path / "chatty_app.py").write_text(CHATTY_MODULE, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, "chatty_app", raising=False)

    assert main([command, "examples.echo:app"]) == 0
    expected = capsys.readouterr().out
    assert main([command, "chatty_app:create_app", "--factory"]) == 0
    out, err = capsys.readouterr()
    if command == "typescript":  # the header names where the document came from
        expected = expected.replace("examples.echo:app", "chatty_app:create_app")
    assert out == expected
    assert err == "loading settings\ncreating the app\n"


DESCRIPTOR_MODULE = """\
import os
import subprocess
import sys

from examples.echo import app

os.write(1, b"native banner\\n")  # as a C library's printf writes, past sys.stdout
subprocess.run([sys.executable, "-c", "print('built from 1234')"], check=True)  # a child inherits the descriptor
"""


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run `python -m typedsse ARGS` in `cwd` with this checkout importable, as a shell would: its bytes out."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "typedsse", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": path, **(env or {})},
        capture_output=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_sends_what_the_app_writes_to_the_standard_output_descriptor_to_standard_error(
    command: str, tmp_path: Path
) -> None:
    # Only `sys.stdout` was redirected: what a child process the app starts when imported (a
    # `git describe`), or a C library, wrote to the descriptor came before the JSON in
    # `typedsse openapi app > openapi.json`, with status 0.
    (tmp_path / "descriptor_app.py").write_text(DESCRIPTOR_MODULE, encoding="utf-8")
    done = run_cli(command, "descriptor_app:app", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, b"native banner\nbuilt from 1234\n")
    if command == "openapi":
        assert json.loads(done.stdout)["paths"] == document(example_app("echo"))["paths"]
    else:
        assert done.stdout.startswith(b"// Generated by typedsse")


SRC_LAYOUT_EVENTS = """\
from typedsse import BaseEvent


class Tick(BaseEvent[int]): ...
"""

SRC_LAYOUT_MAIN = """\
from collections.abc import AsyncIterator

from fastapi import FastAPI

from typedsse import sse

from myapp.events import Tick

app = FastAPI(title="My app")


@app.get("/ticks")
@sse()
async def ticks() -> AsyncIterator[Tick]:
    yield Tick(data=1)
"""


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_imports_the_app_from_the_app_dir(command: str, tmp_path: Path) -> None:
    # A project laid out as `src/myapp/` (the layout packaging guides recommend) could not be
    # named without setting PYTHONPATH: uvicorn's `--app-dir src` was refused.
    package = tmp_path / "src" / "myapp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "events.py").write_text(SRC_LAYOUT_EVENTS, encoding="utf-8")
    (package / "main.py").write_text(SRC_LAYOUT_MAIN, encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = run_cli(command, "myapp.main:app", *args, cwd=tmp_path)
        return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())

    not_found = run()
    assert (not_found.returncode, not_found.stderr) == (
        1,
        "error: cannot import 'myapp.main': No module named 'myapp'\n",
    )
    assert run("--app-dir", "").stderr == not_found.stderr  # uvicorn's default: the current directory
    for app_dir in ("src", str(tmp_path / "src")):
        done = run("--app-dir", app_dir)
        assert (done.returncode, done.stderr) == (0, "")
        if command == "openapi":
            assert list(json.loads(done.stdout)["paths"]) == ["/ticks"]
        else:
            assert "Tick" in done.stdout
    mistyped = run("--app-dir", "scr")
    assert mistyped.returncode == 2
    assert mistyped.stderr.endswith(f"typedsse {command}: error: argument --app-dir: 'scr' is not a directory\n")


UNICODE_MODULE = """\
from collections.abc import AsyncIterator

from fastapi import FastAPI
from pydantic import BaseModel

from typedsse import BaseEvent, sse


class Price(BaseModel):
    \"\"\"Prix en € — une flèche → et un graphique 📈\"\"\"

    value: float


class Quote(BaseEvent[Price]): ...


app = FastAPI(title="Bourse")


@app.get("/quotes")
@sse()
async def quotes() -> AsyncIterator[Quote]:
    yield Quote(data=Price(value=1))
"""


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_writes_utf8_to_standard_output_whatever_the_locale(command: str, encoding: str, tmp_path: Path) -> None:
    # Standard output was written in the locale's encoding (cp1252 on a Windows console or
    # redirect): an arrow in a docstring failed the command with UnicodeEncodeError, and a euro
    # sign became a cp1252 byte that `typedsse typescript --from` refused as not UTF-8.
    (tmp_path / "unicode_app.py").write_text(UNICODE_MODULE, encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return run_cli(command, "unicode_app:app", *args, cwd=tmp_path, env={"PYTHONIOENCODING": encoding})

    printed = run()
    assert (printed.returncode, printed.stderr) == (0, b"")
    assert "Prix en € — une flèche → et un graphique 📈" in printed.stdout.decode("utf-8")
    written = run("-o", "written")
    assert written.returncode == 0
    assert printed.stdout == (tmp_path / "written").read_bytes()  # as `-o` writes it
    if command == "openapi":
        (tmp_path / "openapi.json").write_bytes(printed.stdout)
        assert main(["typescript", "--from", str(tmp_path / "openapi.json"), "-o", str(tmp_path / "events.ts")]) == 0


def test_cli_writes_text_to_a_standard_output_without_bytes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Standard output replaced by a stream of text alone (a `StringIO`) takes the text.
    stdout = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)

    assert write_output(None, "Prix en € →\n") == 0
    assert stdout.getvalue() == "Prix en € →\n"
    assert write_output(None, "bad \ud800 text") == 1
    assert (
        capsys.readouterr().err
        == "error: cannot write standard output: the text is not UTF-8 (surrogates not allowed)\n"
    )
    assert stdout.getvalue() == "Prix en € →\n"


class _FailingBytes(io.RawIOBase):
    def __init__(self, error: OSError) -> None:
        self.error = error

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        raise self.error


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), ""),
        (
            OSError(errno.ENOSPC, "No space left on device"),
            "error: cannot write standard output: No space left on device\n",
        ),
    ],
    ids=["reader-stopped", "disk-full"],
)
def test_cli_reports_a_standard_output_it_cannot_write_without_a_traceback(
    error: OSError, message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A full disk (`> /dev/full`) or a reader that stopped (`| head`) ended the command with a
    # traceback. The reader stopping is no error to report: as in a pipeline, only the status says it.
    stdout = io.TextIOWrapper(io.BufferedWriter(_FailingBytes(error)), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", stdout)

    assert write_output(None, "{}\n") == 1
    assert capsys.readouterr().err == message


def test_cli_reports_a_closed_standard_output_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Started with standard output closed (`typedsse openapi APP >&-`), Python sets `sys.stdout`
    # to None: the write failed with an AttributeError traceback.
    monkeypatch.setattr(sys, "stdout", None)

    assert write_output(None, "{}\n") == 1
    assert capsys.readouterr().err == "error: cannot write standard output: it is closed\n"


@pytest.mark.skipif(sys.platform == "win32", reason="a descriptor closed across exec")
@pytest.mark.parametrize(
    "args", [["typescript", "--from", "index.html"], ["openapi", "examples.echo:INTERVAL"]], ids=["from", "app"]
)
def test_cli_writes_no_error_to_standard_output_when_standard_error_is_closed(args: list[str], tmp_path: Path) -> None:
    # Started with standard error closed (`typedsse typescript --from index.html 2>&- > events.ts`),
    # Python sets `sys.stderr` to None, and `print(..., file=None)` writes to standard output: the
    # error became the content of `events.ts`.
    (tmp_path / "index.html").write_text("<!doctype html>", encoding="utf-8")
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "typedsse", *args]
    closing = f"import os, sys; os.close(2); os.execv(sys.executable, {command!r})"
    done = subprocess.run(
        [sys.executable, "-c", closing],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (1, b"")


def test_cli_ends_quietly_when_the_reader_of_its_output_stops() -> None:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "typedsse", "openapi", "examples.echo:app"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.close()  # before the command writes: its write finds no reader
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (1, b"")


THREADED_MODULE = """
import threading

from examples.echo import app

# A background loop the app starts when imported (a scheduler, a metrics pusher), not a daemon.
threading.Thread(target=threading.Event().wait, name="app-scheduler").start()
"""


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_ends_without_waiting_for_threads_the_app_left(command: str, tmp_path: Path) -> None:
    # Python waits at exit for every thread that is not a daemon: the command wrote its output
    # and then never ended, nor did the CI job that ran it.
    (tmp_path / "threaded_app.py").write_text(THREADED_MODULE, encoding="utf-8")
    done = run_cli(command, "threaded_app:app", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stderr == (
        b"warning: the app left 1 thread running ('app-scheduler'); ending without waiting for them\n"
    )
    if command == "openapi":
        assert json.loads(done.stdout)["paths"] == document(example_app("echo"))["paths"]
    else:
        assert done.stdout.startswith(b"// Generated by typedsse")


INTERRUPTED_MODULE = """
import signal
import threading
import time

threading.Thread(target=threading.Event().wait, name="app-scheduler").start()
signal.raise_signal(signal.SIGINT)  # Ctrl-C while the app is imported (slow to connect, say)
time.sleep(60)
"""


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_interrupted_ends_in_one_line_without_waiting_for_the_app_s_threads(command: str, tmp_path: Path) -> None:
    # Ctrl-C printed a KeyboardInterrupt traceback, then Python waited for the app's thread: a
    # second Ctrl-C was needed (here: the run's 60 s bound would expire).
    (tmp_path / "interrupted_app.py").write_text(INTERRUPTED_MODULE, encoding="utf-8")
    done = run_cli(command, "interrupted_app:app", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (130, b"")
    assert done.stderr == (
        b"interrupted\nwarning: the app left 1 thread running ('app-scheduler'); ending without waiting for them\n"
    )


LATE_MODULE = """
import atexit
import sys
import threading
import time

from examples.echo import app


def say(line: str) -> None:
    sys.stdout.write(line + "\\n")  # one write a line: the two writers' lines do not interleave
    sys.stdout.flush()


def push_metrics() -> None:  # a daemon loop the app starts when imported, printing as it goes
    while True:
        say("metrics pushed")
        time.sleep(0.001)


threading.Thread(target=push_metrics, daemon=True).start()
atexit.register(say, "goodbye")  # runs after the output is written
"""


@pytest.mark.parametrize("output", [[], ["-o", "-"], ["-o", "/dev/stdout"]], ids=["stdout", "dash", "dev-stdout"])
@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_sends_what_the_apps_threads_print_after_the_output_to_standard_error(
    command: str, output: list[str], tmp_path: Path
) -> None:
    # Descriptor 1 was moved back to standard output once the app was documented: what a thread
    # of the app, or an `atexit` handler, printed after that was appended to the output
    # (`typedsse openapi app > openapi.json`), or printed into it while it was written.
    if output[1:] == ["/dev/stdout"] and not os.path.exists("/dev/stdout"):
        pytest.skip("no /dev/stdout here")
    (tmp_path / "late_app.py").write_text(LATE_MODULE, encoding="utf-8")

    def run(target: str) -> subprocess.CompletedProcess[bytes]:
        return run_cli(command, target, *output, cwd=tmp_path)

    expected = run("examples.echo:app").stdout
    if command == "typescript":  # the header names where the document came from
        expected = expected.replace(b"examples.echo:app", b"late_app:app")
    done = run("late_app:app")
    assert done.returncode == 0
    assert done.stdout == expected
    # The thread goes on printing while the `atexit` handlers run: "goodbye" need not be last.
    assert set(done.stderr.splitlines()) == {b"metrics pushed", b"goodbye"}


def test_cli_writes_standard_output_for_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `-o -` wrote a file named `-` in the current directory.
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))

    assert main(["openapi", "examples.echo:app", "-o", "-"]) == 0
    assert json.loads(capsys.readouterr().out) == document(example_app("echo"))
    assert list(tmp_path.iterdir()) == []


def test_cli_output_replaces_a_file_whole_or_leaves_it_as_it_was(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A failed write emptied the file that was there (a committed `events.ts`): it is now
    # written beside it and moved over it once complete.
    output = tmp_path / "events.ts"
    output.write_text("// the committed file\n", encoding="utf-8")
    output.chmod(0o640)

    assert write_output(str(output), "bad \ud800 text") == 1
    assert capsys.readouterr().err == f"error: cannot write {output}: the text is not UTF-8 (surrogates not allowed)\n"
    assert output.read_text(encoding="utf-8") == "// the committed file\n"

    assert write_output(str(output), "// new\n") == 0
    assert output.read_text(encoding="utf-8") == "// new\n"
    assert output.stat().st_mode & 0o777 == 0o640
    linked = tmp_path / "linked.ts"
    linked.symlink_to(output)
    assert write_output(str(linked), "// through the link\n") == 0
    assert linked.is_symlink()
    assert output.read_text(encoding="utf-8") == "// through the link\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["events.ts", "linked.ts"]


def test_cli_output_interrupted_leaves_no_file_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Ctrl-C as the file was moved into place left `.events.ts.1f2e3d4c.partial` in the
    # project, half written or whole: only errors removed it.
    output = tmp_path / "events.ts"
    output.write_text("// the committed file\n", encoding="utf-8")

    def interrupted(source: object, target: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_output(str(output), "// new\n")
    assert [path.name for path in tmp_path.iterdir()] == ["events.ts"]
    assert output.read_text(encoding="utf-8") == "// the committed file\n"


def test_cli_output_refuses_a_directorys_name_as_a_shell_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `-o gen/` wrote a file named `gen`, and `-o events.ts/` replaced the file `events.ts`:
    # the slash, which names a directory, was dropped.
    monkeypatch.chdir(tmp_path)
    Path("events.ts").write_text("// the committed file\n", encoding="utf-8")

    assert write_output("gen/", "// new\n") == 1
    assert write_output("events.ts/", "// new\n") == 1
    assert capsys.readouterr().err == (
        "error: cannot write gen/: Is a directory\nerror: cannot write events.ts/: Not a directory\n"
    )
    assert [path.name for path in tmp_path.iterdir()] == ["events.ts"]
    assert Path("events.ts").read_text(encoding="utf-8") == "// the committed file\n"


CHDIR_APP = """\
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI

from typedsse import BaseEvent, sse

os.chdir(os.path.join(os.path.dirname(__file__), "templates"))  # so that its relative paths work


class Tick(BaseEvent[int]): ...


app = FastAPI()


@app.get("/ticks")
@sse()
async def ticks() -> AsyncIterator[Tick]:
    yield Tick(data=1)
"""


@pytest.mark.parametrize("command", ["openapi", "typescript"])
def test_cli_writes_a_relative_output_where_it_was_started_when_the_app_changes_directory(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The output was written relative to the directory the app changed to as it was imported.
    (tmp_path / "templates").mkdir()
    (tmp_path / f"chdir_{command}_app.py").write_text(CHDIR_APP, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))

    assert main([command, f"chdir_{command}_app:app", "-o", "out/generated"]) == 0
    assert "/ticks" in (tmp_path / "out" / "generated").read_text(encoding="utf-8")
    assert list((tmp_path / "templates").iterdir()) == []


def test_cli_output_written_by_two_writers_at_once_is_one_of_them_whole(tmp_path: Path) -> None:
    # Two writes of the same file at once (two jobs of a parallel `make`) shared the file
    # written beside it, `.events.ts.partial`: one moved the other's text, or part of it, into
    # place, and the other failed with "No such file or directory".
    def write(start: threading.Barrier, output: Path, text: str, statuses: list[int]) -> None:
        start.wait()
        statuses.append(write_output(str(output), text))

    output = tmp_path / "events.ts"
    texts = ["// one\n" * 300_000, "// two\n" * 400_000]
    umask = os.umask(0o022)
    try:
        for _ in range(20):
            output.unlink(missing_ok=True)
            statuses: list[int] = []
            start = threading.Barrier(len(texts))
            writers = [threading.Thread(target=write, args=(start, output, text, statuses)) for text in texts]
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join()
            assert statuses == [0, 0]
            assert output.read_text(encoding="utf-8") in texts
            assert [path.name for path in tmp_path.iterdir()] == ["events.ts"]
            assert output.stat().st_mode & 0o777 == 0o644  # as `open` makes a file, not only its owner's
    finally:
        os.umask(umask)


@pytest.mark.parametrize("name", ["a" * 255, "\u00e9" * 127 + "s", "\u20ac" * 85], ids=["ascii", "2-byte", "3-byte"])
def test_cli_writes_a_file_of_the_longest_name_the_file_system_takes(name: str, tmp_path: Path) -> None:
    # The file written beside it, `.NAME.RANDOM.partial`, was 18 bytes longer than the name: a
    # name of 238 bytes or more, which the file system takes, failed with "File name too long".
    assert len(name.encode("utf-8")) == 255
    output = tmp_path / name
    for text in ["// one\n", "// two\n"]:  # made, then replaced
        assert write_output(str(output), text) == 0
        assert output.read_text(encoding="utf-8") == text
        assert [path.name for path in tmp_path.iterdir()] == [name]


def test_document_lists_the_headers_sse_sends_with_every_stream() -> None:
    # `@sse(headers=...)` is fixed when the route is decorated, and sent with every stream
    # (and every HEAD); the document said nothing of it.
    app = FastAPI()

    @sse(headers={"X-Stream-Version": "2", "Cache-Control": "no-store"})
    async def notes() -> AsyncIterator[Note]:
        yield Note(data="hi")

    declared: dict[int | str, dict[str, Any]] = {
        200: {"headers": {"x-stream-version": {"description": "The stream's format.", "schema": {"type": "string"}}}}
    }
    app.get("/notes", responses=declared)(notes)
    app.head("/notes", responses=declared)(notes)

    result = document(app)
    for method in ("get", "head"):
        headers = result["paths"]["/notes"][method]["responses"]["200"]["headers"]
        assert headers == {
            "Cache-Control": {"schema": {"type": "string"}, "example": "no-store"},
            "x-stream-version": {"description": "The stream's format.", "schema": {"type": "string"}},  # kept
        }
    with TestClient(app) as client:
        assert client.head("/notes").headers["cache-control"] == "no-store"
    validate(result)


@pytest.mark.parametrize("installed", [False, True])
def test_cli_openapi_adds_the_apps_root_path_to_servers_as_fastapi_serves_it(
    installed: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # FastAPI adds `root_path` to `servers` in its `/openapi.json` handler, not in `openapi()`:
    # the command's document lacked it, and a client generated from it missed the prefix.
    def rooted() -> FastAPI:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecated in recent FastAPI for the server's --root-path
            app = FastAPI(root_path="/api", servers=[{"url": "https://example.com"}])

        @app.get("/notes")
        @sse()
        async def notes() -> AsyncIterator[Note]:
            yield Note(data="hi")

        return app

    served_app = rooted()
    install(served_app)
    served = TestClient(served_app).get("/openapi.json").json()
    app = importable_app(monkeypatch, "rooted_app", rooted())
    if installed:
        install(app)

    assert main(["openapi", "rooted_app:app"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == served
    assert list(printed)[:3] == ["openapi", "info", "servers"]
    assert printed["servers"] == [{"url": "/api"}, {"url": "https://example.com"}]


def test_cli_output_writes_into_a_special_file_and_reports_a_symlink_loop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A named pipe (or `/dev/stdout` into a pipe) is written to, not replaced by a regular file.
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    assert write_output(str(fifo), "// through the pipe\n") == 0
    reader.join(timeout=10)
    assert received == [b"// through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)

    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert write_output(str(loop), "x") == 1  # a traceback, before
    assert capsys.readouterr().err.startswith(f"error: cannot write {loop}: ")


@pytest.mark.skipif(not os.path.exists("/dev/stdout"), reason="no /dev/stdout here")
def test_cli_output_writes_to_the_descriptor_dev_stdout_names(tmp_path: Path) -> None:
    # `/dev/stdout` was taken for a file: resolved, its link into a pipe (`pipe:[4242]`) named
    # none, and `-o /dev/stdout | ...` failed with "No such file or directory"; into a file,
    # the file was replaced, losing what the shell had written before (`{ echo x; typedsse
    # ... -o /dev/stdout; } > out`), and what it wrote after went to the file replaced.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    (tmp_path / "openapi.json").write_text(json.dumps(document(example_app("echo"))), encoding="utf-8")

    def run(*output: str, stdout: Any = subprocess.PIPE) -> tuple[int, bytes, bytes]:
        done = subprocess.run(
            [sys.executable, "-m", "typedsse", "typescript", "--from", "openapi.json", *output],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": path},
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
        return done.returncode, done.stdout, done.stderr

    expected = run()[1]
    assert expected.startswith(b"// Generated by typedsse")
    assert run("-o", "/dev/stdout") == (0, expected, b"")
    assert run("-o", "/dev/fd/1") == (0, expected, b"")
    assert run("-o", "/dev/stderr") == (0, b"", expected)

    out = tmp_path / "out.ts"
    with out.open("wb", buffering=0) as file:
        os.write(file.fileno(), b"// before\n")
        assert run("-o", "/dev/stdout", stdout=file) == (0, None, b"")
        os.write(file.fileno(), b"// after\n")
    assert out.read_bytes() == b"// before\n" + expected + b"// after\n"


def test_cli_version_before_a_command_is_typedsse_s_own_and_after_openapi_the_document_s(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A bug report asks for the installed version; `openapi --version` stays the OpenAPI version.
    done = run_cli("--version", cwd=tmp_path)
    assert (done.returncode, done.stdout.decode(), done.stderr) == (0, f"typedsse {__version__}\n", b"")
    assert main(["openapi", "examples.echo:app", "--version", "3.2"]) == 0
    assert json.loads(capsys.readouterr().out)["openapi"].startswith("3.2")
