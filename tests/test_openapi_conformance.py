"""What the example apps really send matches what their documents say, event by event.

Each app is served by uvicorn on 127.0.0.1 and read with a spec-conforming parser. Every
message must be named in the documented union and validate against the documented item
schema; its `data`, JSON-decoded, must validate against the documented `contentSchema`
(JSON Schema validators treat `contentSchema` as an annotation, so it is checked here).
"""

from __future__ import annotations

import importlib
import json
import time
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from typing_extensions import TypeAliasType, deprecated

from typedsse import BaseEvent, Decoder, EventCatalog, ServerSentMessage, sse
from typedsse.openapi import EXTENSION, document
from typedsse.typescript import generate

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent.parent
EXAMPLES = sorted(path.stem for path in (ROOT / "examples").glob("*.py") if not path.name.startswith("_"))
DOCUMENT_URI = "urn:typedsse:openapi"
MAX_MESSAGES = 50
MAX_SECONDS = 5.0  # endless streams (tickers) are read this long
ItemT = TypeVar("ItemT")


@dataclass(frozen=True)
class StreamRequest:
    """One request to a documented stream operation."""

    method: str
    path: str  # as documented, e.g. `/jobs/{job_id}`
    url: str
    options: dict[str, Any] = field(default_factory=dict)


# Requests that exercise the examples' interesting branches. A stream operation of any example
# not listed here gets one request made from its documented parameters (see `sample`).
EXPLICIT: dict[str, list[StreamRequest]] = {
    "echo": [StreamRequest("GET", "/echo", "/echo", {"params": {"message": "héllo 👋", "count": 4}})],
    "chat": [
        StreamRequest(
            "POST", "/chat", "/chat", {"json": {"messages": [{"role": "user", "content": "typed events, please"}]}}
        )
    ],
    "progress": [
        StreamRequest("GET", "/jobs/{job_id}", "/jobs/7"),
        StreamRequest("GET", "/jobs/{job_id}", "/jobs/7", {"params": {"fail_at": "parse"}}),
        StreamRequest("GET", "/jobs/{job_id}/blocking", "/jobs/7/blocking", {"params": {"fail_at": "store"}}),
    ],
    "ticker": [StreamRequest("GET", "/prices", "/prices", {"params": {"ticks": 20, "symbol": ["ACME", "GLOBEX"]}})],
}


def example_names() -> list[str]:
    return [
        name
        for name in EXAMPLES
        if isinstance(getattr(importlib.import_module(f"examples.{name}"), "app", None), FastAPI)
    ]


def pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901) into the document."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


class Conformance:
    """Checks messages against one OpenAPI document, resolving its `$ref`s as the document does."""

    def __init__(self, openapi: dict[str, Any]) -> None:
        self.openapi = openapi
        resource: Resource[Any] = Resource.from_contents(openapi, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)

    def resolve(self, location: str) -> Any:
        return self.registry.resolver().lookup(f"{DOCUMENT_URI}#{location}").contents

    def validate(self, instance: Any, location: str) -> None:
        schema = {"$ref": f"{DOCUMENT_URI}#{location}"}
        jsonschema.Draft202012Validator(schema, registry=self.registry).validate(instance)

    def media(self, method: str, path: str) -> str:
        """The location of a stream operation's `text/event-stream` media type object."""
        responses = self.openapi["paths"][path][method.lower()]["responses"]
        (status,) = [code for code, response in responses.items() if "text/event-stream" in response.get("content", {})]
        return pointer("paths", path, method.lower(), "responses", status, "content", "text/event-stream")

    def check(self, message: ServerSentMessage, media: str) -> None:
        extension = self.resolve(media)[EXTENSION]
        assert message.event in extension["events"], f"{message.event!r} is not a documented event"
        item = "itemSchema" if "itemSchema" in self.resolve(media) else "schema"
        parsed: dict[str, Any] = {"event": message.event, "data": message.data}
        if message.id:
            parsed["id"] = message.id
        if message.retry is not None:
            parsed["retry"] = message.retry
        self.validate(parsed, f"{media}/{item}")
        branch = extension["events"][message.event]["schema"].removeprefix("#")
        data = self.resolve(f"{branch}/properties/data")
        if data.get("contentMediaType") == "application/json":
            self.validate(json.loads(message.data), f"{branch}/properties/data/contentSchema")


def sample(conformance: Conformance, schema: Any) -> Any:
    """A simple value valid for a parameter or body schema (enough for example apps' inputs)."""
    while "$ref" in schema:
        schema = conformance.resolve(schema["$ref"].removeprefix("#"))
    for keyword in ("const", "default"):
        if keyword in schema:
            return schema[keyword]
    if "enum" in schema:
        return schema["enum"][0]
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            branches = [branch for branch in schema[keyword] if branch.get("type") != "null"]
            return sample(conformance, branches[0])
    kind = schema.get("type")
    if kind in ("integer", "number"):
        value = max(1, schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
        return min(value, schema.get("maximum", value))
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(conformance, schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: sample(conformance, properties.get(name, {})) for name in schema.get("required", [])}
    if schema.get("format") == "date-time":
        return "2025-01-02T09:30:00Z"
    return "hello"[: schema.get("maxLength", 5)].ljust(schema.get("minLength", 0), "o")


def generated_request(conformance: Conformance, method: str, path: str) -> StreamRequest:
    operation = conformance.openapi["paths"][path][method.lower()]
    url, params, headers = path, {}, {}
    for parameter in operation.get("parameters", []):
        if not (parameter["in"] == "path" or parameter.get("required")):
            continue
        value = sample(conformance, parameter["schema"])
        if parameter["in"] == "path":
            url = url.replace("{" + parameter["name"] + "}", str(value))
        elif parameter["in"] == "query":
            params[parameter["name"]] = value
        elif parameter["in"] == "header":
            headers[parameter["name"]] = str(value)
    options: dict[str, Any] = {"params": params, "headers": headers}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        options["json"] = sample(conformance, body["schema"])
    return StreamRequest(method, path, url, options)


def stream_operations(openapi: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for path, path_item in openapi["paths"].items():
        for method, operation in path_item.items():
            for response in operation.get("responses", {}).values():
                if EXTENSION in response.get("content", {}).get("text/event-stream", {}):
                    yield method.upper(), path


def stream_requests(name: str, conformance: Conformance) -> list[StreamRequest]:
    explicit = EXPLICIT.get(name, [])
    requests = list(explicit)
    for method, path in stream_operations(conformance.openapi):
        if not any((request.method, request.path) == (method, path) for request in explicit):
            requests.append(generated_request(conformance, method, path))
    return requests


def read_messages(client: httpx.Client, request: StreamRequest) -> list[ServerSentMessage]:
    """Read a stream to its end, or `MAX_MESSAGES` messages, or `MAX_SECONDS` for endless streams."""
    decoder = Decoder()
    messages: list[ServerSentMessage] = []
    deadline = time.monotonic() + MAX_SECONDS
    with client.stream(request.method, request.url, **request.options) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        for chunk in response.iter_bytes():
            messages.extend(decoder.feed(chunk))
            if len(messages) >= MAX_MESSAGES or time.monotonic() > deadline:
                return messages
    return [*messages, *decoder.close()]


@pytest.mark.parametrize("name", example_names())
def test_example_streams_send_only_documented_events(name: str, serve: Callable[[FastAPI], httpx.Client]) -> None:
    app = importlib.import_module(f"examples.{name}").app
    documents = [Conformance(document(app, version="3.1")), Conformance(document(app, version="3.2"))]
    client = serve(app)

    requests = stream_requests(name, documents[0])
    assert requests, f"examples/{name}.py documents no stream"
    seen: set[str] = set()
    for request in requests:
        messages = read_messages(client, request)
        assert messages, f"{request.method} {request.url} sent no event"
        for conformance in documents:
            media = conformance.media(request.method, request.path)
            for message in messages:
                conformance.check(message, media)
        seen.update(message.event for message in messages)
    if name in EXPLICIT:  # the listed requests are chosen to make every event but the error event happen
        documented: set[str] = set()
        for method, path in stream_operations(documents[0].openapi):
            extension = documents[0].resolve(documents[0].media(method, path))[EXTENSION]
            documented |= set(extension["events"]) - set(extension["errorEvents"])
        assert seen == documented


def test_explicit_requests_name_documented_operations() -> None:
    for name, requests in EXPLICIT.items():
        operations = set(stream_operations(document(importlib.import_module(f"examples.{name}").app)))
        assert {(request.method, request.path) for request in requests} <= operations


# --- every kind of payload, and the error event ---------------------------------------------------


class Reading(BaseModel):
    celsius: float
    sensor_id: str = Field(alias="sensorId")


class Measured(BaseEvent[Reading]): ...


class Note(BaseEvent[str]): ...


class Line(BaseEvent[str], encoding="text"): ...


class Finished(BaseEvent[None]): ...


class Batch(BaseEvent[list[Annotated[int, Field(ge=0)]]]): ...


def payload_app() -> FastAPI:
    app = FastAPI()

    @app.get("/payloads")
    @sse()
    async def payloads() -> AsyncIterator[Measured | Note | Line | Finished | Batch]:
        yield Measured(data=Reading(celsius=21.5, sensorId="kitchen"), id="m1", retry=1500)
        yield Note(data=" leading space, lone \r and \u2028")
        yield Line(data="first line\r\nsecond line")
        yield Batch(data=[0, 1, 2])
        yield Finished(data=None)
        raise RuntimeError("the sensor bus went away")  # ends the stream with the built-in error event

    return app


def test_every_payload_kind_and_the_error_event_conform(serve: Callable[[FastAPI], httpx.Client]) -> None:
    app = payload_app()
    documents = [Conformance(document(app, version="3.1")), Conformance(document(app, version="3.2"))]

    messages = read_messages(serve(app), StreamRequest("GET", "/payloads", "/payloads"))

    assert [message.event for message in messages] == [
        "measured",
        "note",
        "line",
        "batch",
        "finished",
        "typedsse.error",
    ]
    assert json.loads(messages[0].data) == {"celsius": 21.5, "sensorId": "kitchen"}
    assert (messages[0].id, messages[0].retry) == ("m1", 1500)
    for conformance in documents:
        for message in messages:
            conformance.check(message, conformance.media("GET", "/payloads"))


def test_conformance_rejects_what_the_document_does_not_allow() -> None:
    conformance = Conformance(document(payload_app()))
    media = conformance.media("GET", "/payloads")

    with pytest.raises(AssertionError, match=r"^'tick' is not a documented event"):
        conformance.check(ServerSentMessage(event="tick", data="1"), media)
    rejected = [
        ServerSentMessage(event="measured", data='{"celsius": 1, "sensor_id": "x"}'),
        ServerSentMessage(event="batch", data="[1, -1]"),
        ServerSentMessage(event="finished", data="nothing"),
    ]
    errors = []
    for message in rejected:
        with pytest.raises(jsonschema.ValidationError) as error:
            conformance.check(message, media)
        errors.append(error.value.message)

    assert errors == [
        "'sensorId' is a required property",
        "-1 is less than the minimum of 0.0",  # FastAPI writes numeric bounds as floats
        "{'event': 'finished', 'data': 'nothing'} is not valid under any of the given schemas",
    ]


# --- payload models as applications write them ---------------------------------------------------
# Fields and aliases named like the keys of Pydantic's core schemas and of JSON Schema, unions
# tagged by `type`, recursive and generic models, defaults and extensions that look like schemas:
# each event is written, read back by the catalog, and documented as it is sent.


class Circle(BaseModel):
    type: Literal["circle"] = "circle"
    radius: float


class Square(BaseModel):
    type: Literal["square"] = "square"
    side: float


class Shape(BaseModel):
    model_config = ConfigDict(ser_json_bytes="base64")  # it holds no bytes: `fields` has a default
    type: str
    config: dict[str, int]
    schema_: Annotated[Circle | Square, Field(discriminator="type", alias="schema")]
    ref: str = Field(alias="$ref", json_schema_extra={"x-links": {"$ref": "https://example.com/ref.json"}})
    definitions: list[Circle | Square] = Field(alias="$defs", default_factory=list)
    fields: list[dict[str, str]] = [{"name": "avatar", "type": "bytes"}]  # a default, not a schema
    metadata: dict[str, Any] = {"type": "any", "ser_json_inf_nan": "constants"}


class Node(BaseModel):
    type: str = "node"
    items: list[Node] = []
    default: Node | None = None


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next: str | None = None


Blobs = TypeAliasType("Blobs", "bytes | list[Blobs]")


class Archive(BaseModel):
    files: Blobs


class ShapeDrawn(BaseEvent[Shape]): ...


class TreeGrown(BaseEvent[Node]): ...


class PageServed(BaseEvent[Page[Node]]): ...


class Archived(BaseEvent[Archive]): ...


ZOO = [
    ShapeDrawn(
        data=Shape.model_validate(
            {
                "type": "t",
                "config": {"a": 1},
                "schema": {"type": "square", "side": 2},
                "$ref": "#/x",
                "$defs": [{"radius": 1}],
            }
        )
    ),
    TreeGrown(data=Node(items=[Node(type="leaf")], default=Node())),
    PageServed(data=Page[Node](items=[Node()], next="2")),
    Archived(data=Archive(files=[b"hi", [b"there"]])),
]


def test_payloads_as_applications_write_them_are_read_back_and_conform(
    serve: Callable[[FastAPI], httpx.Client],
) -> None:
    app = FastAPI()

    @app.get("/zoo")
    @sse()
    async def zoo() -> AsyncIterator[ShapeDrawn | TreeGrown | PageServed | Archived]:
        for event in ZOO:
            yield event

    conformance = Conformance(document(app))
    messages = read_messages(serve(app), StreamRequest("GET", "/zoo", "/zoo"))

    catalog = EventCatalog.of(ShapeDrawn | TreeGrown | PageServed | Archived)
    assert [catalog.decode(message) for message in messages] == ZOO
    for message in messages:
        conformance.check(message, conformance.media("GET", "/zoo"))
    assert generate(conformance.openapi)


# --- an event class that is also a request body, a response model and part of a payload ----------


class Post(BaseModel):
    title: str


class Posted(BaseEvent[Post]): ...


class Digest(BaseEvent[list[Posted]]): ...


def publishing_app() -> FastAPI:
    app = FastAPI()
    published: list[Posted] = []

    @app.post("/publish")
    def publish(event: Posted) -> None:
        published.append(event)

    @app.get("/last")
    def last() -> Posted:
        return published[-1]

    @app.get("/posts")
    @sse()
    async def posts() -> AsyncIterator[Posted | Digest]:
        yield published[-1]
        yield Digest(data=published)

    return app


def test_an_event_class_used_as_json_elsewhere_is_documented_as_fastapi_sends_it(
    serve: Callable[[FastAPI], httpx.Client],
) -> None:
    app = publishing_app()
    documents = [Conformance(document(app, version="3.1")), Conformance(document(app, version="3.2"))]
    client = serve(app)

    for conformance in documents:
        operations = conformance.openapi["paths"]
        body = sample(
            conformance, operations["/publish"]["post"]["requestBody"]["content"]["application/json"]["schema"]
        )
        assert body == {"data": {"title": "hello"}}
        assert client.post("/publish", json=body).status_code == 200
        answer = client.get("/last")
        assert answer.status_code == 200
        conformance.validate(
            answer.json(), pointer("paths", "/last", "get", "responses", "200", "content", "application/json", "schema")
        )

        messages = read_messages(client, StreamRequest("GET", "/posts", "/posts"))
        assert [message.event for message in messages] == ["posted", "digest"]
        assert json.loads(messages[1].data)[0] == {"data": {"title": "hello"}, "id": None, "retry": None}
        for message in messages:
            conformance.check(message, conformance.media("GET", "/posts"))


# --- events without a payload ---------------------------------------------------------------------


class Cleared(BaseEvent[Annotated[None, Field(description="Nothing is left in the vault.")]]): ...


class Sealed(BaseEvent[Annotated[None, PlainSerializer(lambda _: "sealed", return_type=str)]]): ...


def test_a_none_payload_is_documented_as_it_is_sent(serve: Callable[[FastAPI], httpx.Client]) -> None:
    # `null` is sent unless a serializer writes something else; the type parameter's description stays.
    app = FastAPI()

    @app.get("/vault")
    @sse()
    async def vault() -> AsyncIterator[Cleared | Sealed]:
        yield Cleared(data=None)
        yield Sealed(data=None)

    conformance = Conformance(document(app))
    messages = read_messages(serve(app), StreamRequest("GET", "/vault", "/vault"))

    assert [(message.event, message.data) for message in messages] == [("cleared", "null"), ("sealed", '"sealed"')]
    for message in messages:
        conformance.check(message, conformance.media("GET", "/vault"))
    schemas = conformance.openapi["components"]["schemas"]
    assert schemas["Cleared-Event"]["properties"]["data"] == {
        "type": "string",
        "const": "null",
        "contentMediaType": "application/json",
        "contentSchema": {"type": "null", "description": "Nothing is left in the vault."},
    }
    assert EventCatalog.of(Cleared).decode(messages[0]) == Cleared(data=None)
    assert 'export interface Sealed {\n  event: "sealed";\n  id?: string;\n  data: string;\n}' in generate(
        conformance.openapi
    )


# --- a deprecated event class ---------------------------------------------------------------------

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)

    @deprecated("send Measured instead")
    class Sampled(BaseEvent[Reading]):
        """A reading, under its old name."""

    class Resampled(Sampled, name="resampled"): ...  # only the class decorated is deprecated


@pytest.mark.skipif(
    "deprecated" not in Sampled.model_json_schema(),
    reason="this Pydantic does not mark a model decorated with @deprecated in its JSON Schema",
)
def test_a_deprecated_event_class_is_documented_and_typed_as_deprecated(
    serve: Callable[[FastAPI], httpx.Client],
) -> None:
    app = FastAPI()

    @app.get("/samples")
    @sse()
    async def samples() -> AsyncIterator[Sampled | Resampled]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield Sampled(data=Reading(celsius=3.5, sensorId="cellar"))
        yield Resampled(data=Reading(celsius=4, sensorId="cellar"))

    conformance = Conformance(document(app))
    messages = read_messages(serve(app), StreamRequest("GET", "/samples", "/samples"))

    assert [message.event for message in messages] == ["sampled", "resampled"]
    for message in messages:
        conformance.check(message, conformance.media("GET", "/samples"))
    schemas = conformance.openapi["components"]["schemas"]
    assert schemas["Sampled-Event"]["deprecated"] is Sampled.model_json_schema()["deprecated"] is True
    assert "deprecated" not in schemas["Resampled-Event"]
    typescript = generate(conformance.openapi)
    assert "/**\n * A reading, under its old name.\n * @deprecated\n */\nexport interface Sampled {" in typescript
    assert "\n\nexport interface Resampled {" in typescript


# --- what the type parameter says of the payload --------------------------------------------------


class Queued(BaseEvent[Annotated[int, Field(ge=0, description="Jobs waiting in the queue.")]]): ...


def test_a_payload_description_reaches_the_typescript_type_of_the_data(
    serve: Callable[[FastAPI], httpx.Client],
) -> None:
    app = FastAPI()

    @app.get("/queue")
    @sse()
    async def queue() -> AsyncIterator[Queued]:
        yield Queued(data=3)

    conformance = Conformance(document(app))
    (message,) = read_messages(serve(app), StreamRequest("GET", "/queue", "/queue"))

    conformance.check(message, conformance.media("GET", "/queue"))
    assert EventCatalog.of(Queued).decode(message) == Queued(data=3)
    data = conformance.openapi["components"]["schemas"]["Queued-Event"]["properties"]["data"]
    assert data["contentSchema"]["description"] == "Jobs waiting in the queue."
    comment = "  /**\n   * Jobs waiting in the queue.\n   * At least 0.\n   */\n"  # with the limit the server checks
    assert f"  id?: string;\n{comment}  data: number;\n}}" in generate(conformance.openapi)
