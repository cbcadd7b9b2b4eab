"""The OpenAPI plugin: every `@sse` route's events in `app.openapi()`, valid for its version.

FastAPI documents an `@sse` route as an untyped JSON response. `install(app)` makes the
document describe what the stream really sends: one item per event, a `oneOf` with a branch
per event class (the `event` name as a `const`, the payload as a JSON string whose
`contentSchema` is the payload's schema), selected by a `discriminator` on `event`.

Where the description goes depends on the document's version. OpenAPI 3.2 describes each
item of a sequential media type such as `text/event-stream` with `itemSchema` ("Special
Considerations for Server-Sent Events"); 3.1 has no such keyword, so there the item
description goes under `schema`, which every 3.1 tool reads. FastAPI's own streaming routes
(`EventSourceResponse`, JSON Lines) get the same treatment, so a 3.1 document stays valid.

Payload models land in `components/schemas` under the names FastAPI gives them, generated in
the same pass as every other model of the app. Each event's item description is a component
of its own, the event class's name followed by `-Event` (qualified with its module where two
event classes share a name, as FastAPI qualifies models). The component FastAPI makes for the
class itself describes it as a model (`data`, `id`, `retry`), which is what a route taking or
returning the class as JSON uses: it is there where something refers to it, and otherwise
neither in the document nor in the naming of the others.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import inspect
import threading
import typing
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

from fastapi import FastAPI
from fastapi import routing as fastapi_routing
from fastapi.openapi.constants import REF_PREFIX
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.utils import create_model_field
from pydantic import AliasChoices, AliasPath
from starlette.routing import BaseRoute

from typedsse.catalog import EventCatalog, stream_annotation
from typedsse.endpoints import StreamEndpoint, reads_last_event_id, sse_applied_to, stream_endpoint
from typedsse.events import MAX_RETRY, BaseEvent, chooses_serializer_when_written, data_metadata, writes_own_json
from typedsse.exceptions import EndpointDefinitionError

__all__ = ["EXTENSION", "OpenAPIVersion", "document", "install"]

OpenAPIVersion = Literal["3.1", "3.2"]
"""An OpenAPI version `document` can emit."""

EXTENSION = "x-typedsse"
"""The vendor extension on each stream's media type object, read by generators.

It holds `events` (event name to `{"schema": <ref of the event's component>, "encoding":
"json" | "text"}`, in declaration order), `errorEvents` (the names that end a failed
stream), `resumable` (whether the route takes `Last-Event-ID`), `retry` (the reconnection
delay sent at the start, in milliseconds, or `null`) and `ping` (seconds of silence before
a keep-alive comment, or `null`).
"""

_MEDIA_TYPE = "text/event-stream"
_FULL_VERSIONS: Mapping[str, str] = {"3.1": "3.1.0", "3.2": "3.2.0"}
_PROBE_PREFIX = "/typedsse-event-probe-"
_INSTALLED = "__typedsse_openapi__"
_NOT_BUILT = object()
_DEFAULT_DESCRIPTION = "Successful Response"  # FastAPI's `response_description` default
_HEAD_DESCRIPTION = "The headers a `GET` of this stream starts with (`content-type: text/event-stream`); no events."
# An event's component: the class's name, with a suffix no class name has (FastAPI marks its
# separate schemas of one model the same way, `-Input` and `-Output`).
_EVENT_SUFFIX = "-Event"
# In the name of a probe's component of an event class, and in no model's: see `_probed`.
_PROBE_MARK = "__typedsse_event_probe__"
_NULL_DATA: Mapping[str, Any] = {
    # `BaseEvent[None]` is written as the JSON `null`: the data line a client really receives.
    "type": "string",
    "const": "null",
    "contentMediaType": "application/json",
}


def install(app: FastAPI) -> None:
    """Make `app.openapi()` document the events of every `@sse` route.

    Call it once, before or after the routes are added: the document is built when it is
    first asked for (by `/openapi.json`, `/docs` or `app.openapi()`), and built again when
    routes are added later. Calling it again does nothing. It replaces `app.openapi`; to
    customise the document further, call `document(app)` from your own `app.openapi`.

    Example:
        ```python
        app = FastAPI()
        typedsse.openapi.install(app)
        ```

    Args:
        app: The application; a sub-application later mounted with `app.mount` works too.
    """
    if getattr(app.openapi, _INSTALLED, False):
        return
    built_for: object = _NOT_BUILT

    def openapi() -> dict[str, Any]:
        nonlocal built_for
        routes_version = _routes_version(app)
        if app.openapi_schema is None or built_for != routes_version:
            app.openapi_schema = document(app)
            built_for = routes_version
        return app.openapi_schema

    setattr(openapi, _INSTALLED, True)
    app.openapi_schema = None  # a document built before `install` lacks the events
    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI, *, version: OpenAPIVersion | None = None) -> dict[str, Any]:
    """Build `app`'s OpenAPI document with every `@sse` route's events (uncached).

    `install` serves this document as `app.openapi()`; the command line
    `typedsse openapi MODULE:APP` prints it.

    Args:
        app: The application.
        version: `"3.1"` or `"3.2"`; by default the app's own `openapi_version`.

    Raises:
        EndpointDefinitionError: A route was registered with `@sse` above the route
            decorator, so FastAPI serves the undecorated function; or an `@sse` route has
            `response_class=EventSourceResponse`, so FastAPI streams it itself.
        ValueError: `version` is not one of the supported versions.
    """
    if version is None:
        openapi_version = app.openapi_version
    elif version in _FULL_VERSIONS:
        openapi_version = _FULL_VERSIONS[version]
    else:
        raise ValueError(f"unsupported OpenAPI version {version!r}; use '3.1' or '3.2'")
    streams = list(_streams(app.routes))
    event_classes = list(dict.fromkeys(cls for _, spec in streams for cls in spec.events.events))
    arguments = _openapi_arguments(app, openapi_version, list(app.webhooks.routes))
    probes = [_probe(cls, index) for index, cls in enumerate(event_classes)]
    # FastAPI's own document, every name as FastAPI gives it; the events' schemas come from the
    # same document with the events in it, and join it under names that rename none of the app's.
    # That one warns of all this one would (a duplicate operation id, a default JSON cannot hold)
    # and of what only the events bring (such a default in a payload), so this one is quiet.
    with warnings.catch_warnings() if probes else contextlib.nullcontext():
        if probes:
            warnings.simplefilter("ignore")
        result = get_openapi(**arguments)
    with_events: dict[str, Any] = {}
    if probes:
        with_probes: dict[str, Any] = {**arguments, "webhooks": [*app.webhooks.routes, *probes]}
        if app.separate_input_output_schemas:
            with_events = get_openapi(**with_probes)
        else:
            with _probes_decided_as_payloads():
                with_events = get_openapi(**with_probes)
    refs = _document_events(result, with_events, event_classes, probes)
    item_key = "itemSchema" if _at_least(openapi_version, (3, 2)) else "schema"
    for route, spec in streams:
        _document_stream(result, route, spec, refs, item_key)
    if item_key == "schema":
        _move_item_schemas(result)
    return result


def _routes_version(app: FastAPI) -> object:
    # FastAPI 0.137+ counts route changes (its own cached document follows the count); an older
    # one copies the routes of an included router into the app's list, so the routes themselves
    # tell whether any were added.
    get_version: Callable[[], object] | None = getattr(app.router, "_get_routes_version", None)
    return tuple(app.router.routes) if get_version is None else get_version()


def _at_least(openapi_version: str, minimum: tuple[int, int]) -> bool:
    parts = openapi_version.split(".")
    try:
        return (int(parts[0]), int(parts[1])) >= minimum
    except (IndexError, ValueError):
        return False


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Yield every API route as FastAPI's document sees it (with router prefixes and tags)."""
    iter_route_contexts: Callable[[Sequence[BaseRoute]], Iterable[Any]] | None = getattr(
        fastapi_routing, "iter_route_contexts", None
    )
    if iter_route_contexts is None:  # FastAPI before lazily included routers
        yield from (route for route in routes if isinstance(route, APIRoute))
        return
    for context in iter_route_contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context


def _streams(routes: Sequence[BaseRoute]) -> Iterator[tuple[Any, StreamEndpoint]]:
    for route in _api_routes(routes):
        spec = stream_endpoint(route.endpoint)
        if spec is None:
            _check_decorator_order(route)
            continue
        _check_response_class(route)
        if route.include_in_schema:
            yield route, spec


def _check_response_class(route: Any) -> None:
    """Fail on an `@sse` route that FastAPI streams itself (`response_class=EventSourceResponse`).

    FastAPI iterates such a route's endpoint as its own generator, whatever the endpoint is: the
    endpoint `@sse` built returns a coroutine, and every request fails with a `TypeError`. The
    class may be the route's own or the `default_response_class` of its router or app, which
    the route cannot tell apart: the message says what to do in either case.
    """
    response_class = getattr(route, "response_class", None)
    response_class = getattr(response_class, "value", response_class)  # FastAPI's `Default(...)`
    try:
        from fastapi.sse import EventSourceResponse
    except ImportError:  # FastAPI before 0.135 streams no events itself
        return
    if isinstance(response_class, type) and issubclass(response_class, EventSourceResponse):
        method = sorted(route.methods or {"GET"})[0]
        raise EndpointDefinitionError(
            f"{method} {route.path_format}: response_class={response_class.__name__} makes FastAPI stream the "
            "@sse endpoint as a generator of its own, and every request fails; leave response_class unset "
            "(@sse answers with its own EventStreamResponse), and where it is the default_response_class of "
            "the route's router or app, give the route another (response_class=JSONResponse)"
        )


def _check_decorator_order(route: Any) -> None:
    """Fail on a route whose endpoint is an undecorated event stream (`@sse` above `@app.get`).

    `@sse` marks the function it decorates, so FastAPI serving that function is told from the
    mark, whatever its annotations name (a class local to an app factory, under postponed
    annotations, is not in the function's module). Without the mark, its annotation tells: a
    generator of events, which FastAPI iterates its own way, or a function returning an async
    iterable of them, which it cannot send at all. A plain function returning a list of events
    (`-> Iterable[Tick]`) without `@sse` is an ordinary JSON route.
    """
    endpoint = route.endpoint
    if not sse_applied_to(endpoint) and not _undecorated_stream(endpoint):
        return
    name = getattr(endpoint, "__qualname__", repr(endpoint))
    method = sorted(route.methods or {"GET"})[0]
    define = "async def" if inspect.isasyncgenfunction(endpoint) or inspect.iscoroutinefunction(endpoint) else "def"
    raise EndpointDefinitionError(
        f"{method} {route.path_format}: FastAPI serves {name!r} without @sse, so its events are neither "
        f"typed nor documented; @sse must be below the route decorator:\n\n"
        f'    @app.{method.lower()}("{route.path_format}")\n    @sse()\n'
        f"    {define} {getattr(endpoint, '__name__', 'endpoint')}(...) -> ...: ..."
    )


def _undecorated_stream(endpoint: Any) -> bool:
    """Whether an endpoint `@sse` did not mark is annotated as a stream of events FastAPI cannot send as one."""
    try:
        returns = typing.get_type_hints(endpoint).get("return")
        kind, item = stream_annotation(returns, where="")
    except (EndpointDefinitionError, AttributeError, NameError, TypeError, SyntaxError):  # not a typed stream
        return False
    unwrapped = inspect.unwrap(endpoint)
    generator = inspect.isasyncgenfunction(unwrapped) or inspect.isgeneratorfunction(unwrapped)
    if kind == "sync" and not generator:
        return False
    return any(isinstance(m, type) and issubclass(m, BaseEvent) for m in EventCatalog.members(item))


def _probe_endpoint() -> None:
    """Stand-in endpoint of a probe operation; never served."""


def _probe(event_cls: type[BaseEvent[Any]], index: int) -> APIRoute:
    # A webhook whose response is the event class: FastAPI then generates the event's and its
    # payload's schemas with every other model and names them all in one pass (so same-named
    # models of different modules and separate input/output schemas are handled as FastAPI
    # does). The events may change the names of the app's own models there (a model of the same
    # name elsewhere makes FastAPI qualify both): `_document_events` takes only what the events
    # add, under names that leave the app's as FastAPI gives them without the events.
    return APIRoute(
        f"{_PROBE_PREFIX}{index}",
        _probe_endpoint,
        methods=["POST"],
        response_model=_probed(event_cls),
        operation_id=f"typedsse_event_probe_{index}",
    )


class _ProbeResponse:
    """The type a probe responds with (see `_probed`): its event class's schema."""

    event_class: typing.ClassVar[type[BaseEvent[Any]]]


# Held while FastAPI's check of computed fields answers for the probes: see `_probes_decided_as_payloads`.
_DECIDING = threading.RLock()


@contextlib.contextmanager
def _probes_decided_as_payloads() -> Generator[None]:
    """Have FastAPI describe each probe in the mode it would use for the event's payload as a response.

    With `separate_input_output_schemas=False`, FastAPI describes a response as it is read,
    unless it has computed fields, which a description as read leaves out. From FastAPI 0.123.10
    it tells that field by field, from the response's own type and schema (a model or a
    dataclass with computed fields of its own; from 0.163.1 also a type holding such a model,
    however deep). A probe's type is a stand-in, so every payload was described as read, without
    the computed fields its events are written with, and a payload model the app also returns as
    JSON got a second component. While the document with the probes is built, FastAPI's check
    answers for a probe what it answers for the event's payload type as a response (`->
    Payload`), and for anything else what it always does.
    """
    module: Any
    try:
        module = importlib.import_module("fastapi._compat.v2")
    except ImportError:  # FastAPI before 0.119
        module = None
    decide: Callable[..., bool] | None = getattr(module, "_has_computed_fields", None)
    if module is None or decide is None:  # no check of one field: the probes are described as everything else
        yield
        return
    decided: dict[type[BaseEvent[Any]], bool] = {}

    def has_computed_fields(field: Any, *args: Any, **kwargs: Any) -> bool:
        annotation = getattr(getattr(field, "field_info", None), "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, _ProbeResponse)):
            return decide(field, *args, **kwargs)
        event_cls = annotation.event_class
        if event_cls not in decided:
            payload = _payload_field(event_cls)
            decided[event_cls] = payload is not None and decide(payload, *args, **kwargs)
        return decided[event_cls]

    with _DECIDING:  # one document at a time: each restores the check it found
        module._has_computed_fields = has_computed_fields
        try:
            yield
        finally:
            module._has_computed_fields = decide


def _payload_field(event_cls: type[BaseEvent[Any]]) -> Any:
    """The field FastAPI makes of the event's payload type as a route's response, or `None` if it makes none."""
    try:
        return create_model_field(
            name="data", type_=event_cls.model_fields["data"].rebuild_annotation(), mode="serialization"
        )
    except Exception:  # a type only the event class's configuration allows (`arbitrary_types_allowed`)
        return None


def _probed(event_cls: type[BaseEvent[Any]]) -> type[_ProbeResponse]:
    """The event class as a probe's response: its own schema, under a component of the probe's.

    The class's component as a model belongs in the document only where something else refers
    to it, so it must not take part in naming the others: an event class named like its payload
    (`class Message(BaseEvent[models.Message])`) made FastAPI qualify both with their modules
    (`shop__models__Message`). Pydantic names a component after the reference in its core
    schema (module, qualified name, and an id after a colon); the class's schema under a
    reference marked with `_PROBE_MARK` is a component of the probe's own, which clashes with
    no model's name, and is qualified with its module only where two event classes share a name.
    """
    schema: dict[str, Any] = dict(event_cls.__pydantic_core_schema__)
    definitions: list[Any] = []
    if schema["type"] == "definitions":  # the models the class holds
        definitions = schema["definitions"]
        schema = dict(schema["schema"])
        if schema["type"] == "definition-ref":  # a class that holds itself is one of them, and stays for that
            ref = schema["schema_ref"]
            schema = next((dict(item) for item in definitions if item.get("ref") == ref), schema)
    ref = schema.get("ref")
    if not isinstance(ref, str):  # not a schema Pydantic makes today: a reference made as Pydantic makes them
        ref = f"{event_cls.__module__}.{event_cls.__qualname__}:{id(event_cls)}"
    name, colon, number = ref.rpartition(":")
    schema["ref"] = f"{name}{_PROBE_MARK}:{number}" if colon else f"{ref}{_PROBE_MARK}"
    probed = {"type": "definitions", "schema": schema, "definitions": definitions}

    class Probed(_ProbeResponse):
        # A type, not `Annotated` metadata: Pydantic takes the definitions of a type's own schema.
        event_class = event_cls

        @classmethod
        def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
            return probed

    return Probed


def _openapi_arguments(app: FastAPI, openapi_version: str, webhooks: list[BaseRoute]) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "title": app.title,
        "version": app.version,
        "openapi_version": openapi_version,
        "summary": app.summary,
        "description": app.description,
        "terms_of_service": app.terms_of_service,
        "contact": app.contact,
        "license_info": app.license_info,
        "routes": app.routes,
        "webhooks": webhooks,
        "tags": app.openapi_tags,
        "servers": app.servers,
        "separate_input_output_schemas": app.separate_input_output_schemas,
        "external_docs": getattr(app, "openapi_external_docs", None),
    }
    accepted = inspect.signature(get_openapi).parameters  # the same call `FastAPI.openapi` makes
    return {name: value for name, value in arguments.items() if name in accepted}


def _document_events(
    result: dict[str, Any],
    with_events: Mapping[str, Any],
    event_classes: Sequence[type[BaseEvent[Any]]],
    probes: Sequence[APIRoute],
) -> dict[type[BaseEvent[Any]], str]:
    """Add what the events bring to the app's document: their models, and each one's wire description.

    `with_events` is the app's document with the probes. Its components that stand for one of
    the app's (found by walking the two documents side by side) take the app's name; the others,
    the events' own, are added, numbered where a name is the app's already. The probes'
    components of the event classes (see `_probed`) are not: each becomes an event's description.

    Returns each class's reference to its wire description.
    """
    if not probes:
        return {}
    probe_paths = {probe.path_format for probe in probes}
    webhooks = {key: value for key, value in with_events.get("webhooks", {}).items() if key not in probe_paths}
    probed = {
        event_cls: _response_ref(with_events["webhooks"][probe.path_format]["post"]).removeprefix(REF_PREFIX)
        for event_cls, probe in zip(event_classes, probes, strict=True)
    }
    generated: dict[str, Any] = with_events["components"]["schemas"]
    added = {name: schema for name, schema in generated.items() if name not in probed.values()}
    components: dict[str, Any] = result.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    names = _matching_names(
        {**_without_components(with_events), "webhooks": webhooks}, _without_components(result), added, schemas
    )
    # A component of the app's that nothing refers to is not met on the walk: FastAPI before
    # 0.163.1 describes a model a JSON response holds in a mode of its own too, unused beside
    # the one the response uses (`Pet-Output` beside `Pet-Input`). It is the one of the same
    # name, if that describes it alike.
    for name, schema in added.items():
        if name not in names and name not in names.values() and schemas.get(name) == _with_names(schema, names):
            names[name] = name
    taken = set(schemas)
    for name in added:
        if name not in names:
            names[name] = _free_name(dict.fromkeys(taken), name)
            taken.add(names[name])
    for name, schema in added.items():
        schemas.setdefault(names[name], _with_names(schema, names))
    refs: dict[type[BaseEvent[Any]], str] = {}
    for event_cls, model in probed.items():
        name = _free_name(schemas, model.replace(_PROBE_MARK, "", 1) + _EVENT_SUFFIX)
        schemas[name] = _event_schema(event_cls, _with_names(generated[model], names))
        refs[event_cls] = REF_PREFIX + name
    components["schemas"] = dict(sorted(schemas.items()))  # sorted by name, as FastAPI writes them
    return refs


def _response_ref(operation: Mapping[str, Any]) -> str:
    """The reference of a probe operation's response: the probe's component of its event class."""
    ref: str = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return ref


def _without_components(document: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "components"}


def _matching_names(
    walked: Any, app: Any, walked_schemas: Mapping[str, Any], app_schemas: Mapping[str, Any]
) -> dict[str, str]:
    """Map the component names of one document to the other's, where both refer to one model.

    The two documents describe the same routes, so walking them side by side meets their
    references to one model at the same places, and then the models' own references.
    """
    names: dict[str, str] = {}
    pending: list[tuple[Any, Any]] = [(walked, app)]
    while pending:
        left, right = pending.pop()
        if isinstance(left, dict) and isinstance(right, dict):
            left_items = typing.cast(dict[str, Any], left)
            right_items = typing.cast(dict[str, Any], right)
            pending.extend((value, right_items[key]) for key, value in left_items.items() if key in right_items)
        elif isinstance(left, list) and isinstance(right, list):
            pending.extend(zip(typing.cast(Sequence[Any], left), typing.cast(Sequence[Any], right), strict=False))
        elif isinstance(left, str) and isinstance(right, str) and left.startswith(REF_PREFIX):
            left_name = left.removeprefix(REF_PREFIX).split("/")[0]
            right_name = right.removeprefix(REF_PREFIX).split("/")[0]
            if left_name not in names and left_name in walked_schemas and right_name in app_schemas:
                names[left_name] = right_name
                pending.append((walked_schemas[left_name], app_schemas[right_name]))
    return names


def _with_names(value: Any, names: Mapping[str, str]) -> Any:
    """A copy of `value` whose component references use `names`."""
    if isinstance(value, dict):
        return {key: _with_names(item, names) for key, item in typing.cast(dict[str, Any], value).items()}
    if isinstance(value, list):
        return [_with_names(item, names) for item in typing.cast(Sequence[Any], value)]
    if isinstance(value, str) and value.startswith(REF_PREFIX):
        name, _, rest = value.removeprefix(REF_PREFIX).partition("/")
        return REF_PREFIX + names.get(name, name) + (f"/{rest}" if rest else "")
    return value


def _free_name(schemas: Mapping[str, Any], name: str) -> str:
    """Return `name`, or `name` with the first number that makes it a new component name."""
    candidate, number = name, 2
    while candidate in schemas:
        candidate, number = f"{name}{number}", number + 1
    return candidate


def _event_schema(event_cls: type[BaseEvent[Any]], model_schema: Mapping[str, Any]) -> dict[str, Any]:
    """Describe one event as a parsed server-sent event: `event`, `data`, `id`, `retry`."""
    schema: dict[str, Any] = {"title": model_schema.get("title", event_cls.__name__)}
    if "description" in model_schema:
        schema["description"] = model_schema["description"]
    if model_schema.get("deprecated") is True:  # the class decorated with `@deprecated`
        schema["deprecated"] = True
    schema["type"] = "object"
    payload = model_schema["properties"][_data_key(event_cls, model_schema["properties"])]
    schema["properties"] = {
        "event": {"type": "string", "const": event_cls.event_name},
        "data": _data_schema(event_cls, payload),
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0, "maximum": MAX_RETRY},
    }
    schema["required"] = ["event", "data"]
    return schema


def _data_key(event_cls: type[BaseEvent[Any]], properties: Mapping[str, Any]) -> str:
    """Find the `data` field among the properties of the event class's model schema.

    The model names the field by its alias (an `alias_generator` may make it `Data`), the one
    for writing or, with `separate_input_output_schemas=False`, for reading; on the wire it is
    the SSE `data` field whatever the alias.
    """
    field = event_cls.model_fields["data"]
    alias = field.validation_alias
    # Pydantic names the property by the first path of an `AliasChoices` or `AliasPath` that is
    # a single name (`"value"` of `AliasChoices("value", "data")`), or by the field's name.
    paths: list[list[Any]] = [[alias]]
    if isinstance(alias, AliasChoices):
        paths = [*alias.convert_to_aliases()]
    elif isinstance(alias, AliasPath):
        paths = [alias.convert_to_aliases()]
    validation_keys = [path[0] for path in paths if len(path) == 1]
    for key in (field.serialization_alias, *validation_keys, field.alias, "data"):
        if isinstance(key, str) and key in properties:
            return key
    # A naming Pydantic does not have today: its properties follow the fields' order, and `data`
    # is BaseEvent's first field (a subclass that declares it again keeps its place).
    return next(iter(properties))


def _data_schema(event_cls: type[BaseEvent[Any]], payload: Mapping[str, Any]) -> dict[str, Any]:
    if event_cls.encoding == "text":
        # Raw text lines; a client joins several `data:` lines with LF.
        return {"type": "string"}
    # The title Pydantic makes of the field's name (`Data`, or of its alias) names no payload.
    # Pydantic 2.7 keeps a `Field(title=...)` of the type parameter in its `Annotated`.
    field = event_cls.model_fields["data"]
    generated_title = field.title is None and not any(getattr(item, "title", None) for item in data_metadata(event_cls))
    content = {key: value for key, value in payload.items() if not (key == "title" and generated_title)}
    if event_cls.data_type() is type(None) and not (
        writes_own_json(event_cls) or chooses_serializer_when_written(event_cls)
    ):
        # Nothing but `null` is written: a serializer (`@field_serializer("data")`, or
        # `Annotated[None, PlainSerializer(...)]`) would write what it returns instead. What the
        # type parameter says of the payload (a description) stays in its schema.
        return {**_NULL_DATA, "contentSchema": content}
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": content}


def _document_stream(
    result: dict[str, Any], route: Any, spec: StreamEndpoint, refs: Mapping[type[BaseEvent[Any]], str], item_key: str
) -> None:
    events = spec.events.events
    # The route's own dependencies (`dependencies=[...]` on the route or its router) count too:
    # `@sse` sees only the function's.
    resumable = spec.resumable or reads_last_event_id(getattr(route, "dependant", None))
    item = {
        "oneOf": [{"$ref": refs[cls]} for cls in events],
        "discriminator": {"propertyName": "event", "mapping": {cls.event_name: refs[cls] for cls in events}},
    }
    extension = {
        "events": {cls.event_name: {"schema": refs[cls], "encoding": cls.encoding} for cls in events},
        "errorEvents": [cls.event_name for cls in spec.error_events],
        "resumable": resumable,
        "retry": spec.retry,
        "ping": spec.ping,
    }
    # The stream's status is the one `@sse` sends (200 unless the endpoint records another):
    # FastAPI applies a route's `status_code` to values it serialises, not to a returned
    # response, yet documents the success under it.
    status = str(spec.status_code)
    fastapi_status = _fastapi_status(route)
    path_item: dict[str, Any] = result["paths"][route.path_format]
    for method in sorted(route.methods or ()):
        operation = path_item.get(method.lower())
        if operation is None:
            continue
        responses: dict[str, Any] = operation.get("responses", {})
        response: dict[str, Any] = responses.pop(fastapi_status, {})
        if status != fastapi_status:
            # What the route's `responses=` says of it; but not the status phrase FastAPI writes
            # where that entry has no description ("Created"), which would hide the route's
            # `response_description` and the description of the events.
            declared = responses.pop(status, {})
            if "description" not in _declared_response(route, spec.status_code):
                declared.pop("description", None)
            response.update(declared)
        _document_headers(response, spec)
        if method == "HEAD":
            # A `HEAD` gets the stream's status and headers, and no events: no body to describe.
            if response.get("description", _DEFAULT_DESCRIPTION) == _DEFAULT_DESCRIPTION:
                response["description"] = _HEAD_DESCRIPTION
            response.pop("content", None)
            operation["responses"] = {status: response, **responses}
            continue
        if response.get("description", _DEFAULT_DESCRIPTION) == _DEFAULT_DESCRIPTION:
            response["description"] = _describe(spec, resumable=resumable)
        # What the route's `responses=` says of the stream's media type (an `example`) stays.
        given: dict[str, Any] = response.get("content", {}).get(_MEDIA_TYPE, {})
        kept = {key: value for key, value in given.items() if key not in ("schema", "itemSchema", EXTENSION)}
        media = {item_key: copy.deepcopy(item), EXTENSION: copy.deepcopy(extension), **kept}
        response["content"] = {_MEDIA_TYPE: media}
        operation["responses"] = {status: response, **responses}  # the stream first, then the errors


def _fastapi_status(route: Any) -> str:
    """The status FastAPI documents a route's success under, which the stream's response replaces.

    The route's `status_code`, or else the default `status_code` of its `response_class`'s
    constructor (307 for `RedirectResponse`), as FastAPI reads it: `@sse` answers with a response
    of its own either way, so that entry describes nothing the route sends.
    """
    if route.status_code is not None:
        return str(route.status_code)
    response_class = getattr(route, "response_class", None)
    response_class = getattr(response_class, "value", response_class)  # FastAPI's `Default(...)`
    constructor: Callable[..., Any] | None = getattr(response_class, "__init__", None)
    if constructor is None:
        return "200"
    try:
        parameter = inspect.signature(constructor).parameters.get("status_code")
    except (TypeError, ValueError):  # a constructor without a signature to read
        return "200"
    default = None if parameter is None else parameter.default
    return str(default) if isinstance(default, int) else "200"


def _document_headers(response: dict[str, Any], spec: StreamEndpoint) -> None:
    """Add the headers `@sse(headers=...)` sends with every stream; what `responses=` says of one stays."""
    sent = {name: value for name, value in spec.headers.items() if name.lower() != "content-type"}
    if not sent:
        return
    declared = {name.lower() for name in response.get("headers", {})}
    headers = {name: {"schema": {"type": "string"}, "example": value} for name, value in sent.items()}
    response["headers"] = {
        **{name: value for name, value in headers.items() if name.lower() not in declared},
        **response.get("headers", {}),
    }


def _declared_response(route: Any, status: int) -> Mapping[str, Any]:
    """What the route itself says of `status`: its `responses=` entry, and its `openapi_extra`'s over it.

    FastAPI takes int and str keys in `responses=`, and merges `openapi_extra` into the
    operation as it is, so its `responses` may describe the stream's status too.
    """
    declared: Mapping[Any, Any] = getattr(route, "responses", None) or {}
    extra: Mapping[str, Any] = getattr(route, "openapi_extra", None) or {}
    extra_declared: Mapping[Any, Any] = extra.get("responses") or {}
    found: dict[str, Any] = {}
    for entries in (declared, extra_declared):
        entry = entries.get(status, entries.get(str(status)))
        if isinstance(entry, Mapping):
            found.update(typing.cast(Mapping[str, Any], entry))
    return found


def _describe(spec: StreamEndpoint, *, resumable: bool) -> str:
    """Say in a sentence or two what the stream sends, for the response's description."""
    names = ", ".join(f"`{name}`" for name in spec.catalog.names)
    errors = " or ".join(f"`{cls.event_name}`" for cls in spec.error_events)
    text = f"A stream of server-sent events: {names}."
    if errors:
        text += f" A stream that fails after it started ends with {errors}."
    if spec.retry is not None:
        text += f" The stream starts by setting the client's reconnection delay to {spec.retry} ms."
    if resumable:
        text += " A reconnecting client sends the last id it received as `Last-Event-ID`; the stream resumes after it."
    return text


def _move_item_schemas(result: dict[str, Any]) -> None:
    """Move FastAPI's own `itemSchema`s (native SSE, JSON Lines) to `schema`, for a 3.1 document.

    3.1 has no `itemSchema`: one left anywhere (an operation's callbacks included) makes the
    whole document invalid. Where the route's `responses=` already gave a `schema`, that one stays.
    """
    for section in ("paths", "webhooks"):
        for path_item in result.get(section, {}).values():
            _move_path_item_schemas(path_item)


def _move_path_item_schemas(path_item: Any) -> None:
    if not isinstance(path_item, dict):
        return
    for operation in typing.cast(dict[str, Any], path_item).values():
        if not isinstance(operation, dict):
            continue  # a path item's `summary`, `parameters`, `servers`
        operation = typing.cast(dict[str, Any], operation)
        for response in operation.get("responses", {}).values():
            for media in response.get("content", {}).values():
                if "itemSchema" in media:
                    media.setdefault("schema", media.pop("itemSchema"))
        for callback in operation.get("callbacks", {}).values():
            for callback_path_item in callback.values():
                _move_path_item_schemas(callback_path_item)
