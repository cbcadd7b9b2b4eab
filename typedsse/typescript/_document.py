"""Read the event streams out of an OpenAPI 3.1 or 3.2 document (and nothing else).

A stream is a response whose `text/event-stream` media type describes its items (`itemSchema`
in 3.2, `schema` in 3.1) as a union of event schemas, each with its name as a `const` `event`
property (the union written in place or referred to, its branches possibly unions themselves).
typedsse's `x-typedsse` extension, when present, adds what a schema cannot say: how each event's
data is encoded, which events end a failed stream, and whether the route resumes from
`Last-Event-ID`. Without it, an event's data is JSON where its schema says so
(`contentMediaType: application/json`, as OpenAPI 3.2's SSE section writes it) and text
otherwise; no event ends a stream and no route resumes.

A stream's status is the 2xx status the document lists its media type under, such as 201 for
`@sse(status_code=201)`; under a range (`2XX`) or `default`, which name no one status, it is 200,
the status `EventSource` reads a stream from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from typedsse.exceptions import TypedSSEError

__all__ = [
    "COMPONENT_PREFIX",
    "Body",
    "DocumentError",
    "Event",
    "Parameter",
    "Stream",
    "as_list",
    "as_object",
    "component_name",
    "deref",
    "resolve",
    "streams",
]

COMPONENT_PREFIX = "#/components/schemas/"
EXTENSION = "x-typedsse"
EVENT_STREAM = "text/event-stream"
METHODS = ("get", "post", "put", "patch", "delete", "options", "head", "query")
"""Operation keys of a path item, in the order routes are listed (`query` is OpenAPI 3.2's)."""
_NO_BODY = frozenset(["204", "205"])
"""Successful statuses whose response has no body, and so no event stream."""

Encoding = Literal["json", "text"]


class DocumentError(TypedSSEError, ValueError):
    """The OpenAPI document cannot be turned into TypeScript: it has no event stream, or a broken reference."""


@dataclass(frozen=True, slots=True)
class Parameter:
    """A path, query or header parameter of a stream's operation."""

    name: str
    location: Literal["path", "query", "header"]
    required: bool
    schema: Any
    description: str | None
    deprecated: bool


@dataclass(frozen=True, slots=True)
class Body:
    """A stream operation's request body: its schema, and whether it is sent as JSON."""

    schema: Any
    required: bool
    json: bool
    description: str | None


@dataclass(frozen=True, slots=True)
class Event:
    """One event a stream can send.

    Attributes:
        name: The SSE event name (`event:` field).
        schema_name: The component describing the event, such as `Echo`, or `None` if inline.
        encoding: `"json"` (data is JSON) or `"text"` (data is raw text).
        data: The schema of the decoded data.
        description: The event schema's description.
    """

    name: str
    schema_name: str | None
    encoding: Encoding
    data: Any
    description: str | None


@dataclass(frozen=True, slots=True)
class Stream:
    """One streaming operation: `method path`, its request, and its events in declaration order.

    `status` is the status a successful response has (200 unless the document says another).
    """

    path: str
    method: str
    summary: str | None
    description: str | None
    deprecated: bool
    parameters: tuple[Parameter, ...]
    body: Body | None
    events: tuple[Event, ...]
    error_events: tuple[str, ...]
    resumable: bool
    status: int


def as_object(value: Any) -> Mapping[str, Any]:
    """Return `value` if it is a JSON object, else an empty one (a document may be hand-written)."""
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """Return `value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


def component_name(ref: str) -> str | None:
    """Return `Name` for `#/components/schemas/Name`, else `None`."""
    name = ref.removeprefix(COMPONENT_PREFIX)
    if name == ref or not name or "/" in name:  # not a component, or a place inside one
        return None
    return _unescape(name)


def resolve(document: Mapping[str, Any], ref: str) -> Any:
    """Return the value a local reference (`#/a/b`, a JSON Pointer) points to.

    Raises:
        DocumentError: The reference is not local, or points nowhere.
    """
    if not ref.startswith("#"):
        raise DocumentError(f"cannot follow {ref!r}: only references inside the document are supported")
    node: Any = document
    for token in ref[1:].split("/")[1:]:
        key = _unescape(token)
        mapping, items = as_object(node), as_list(node)
        if key in mapping:
            node = mapping[key]
        elif key.isdigit() and int(key) < len(items):
            node = items[int(key)]
        else:
            raise DocumentError(f"the reference {ref!r} points to nothing in the document")
    return node


def streams(document: Mapping[str, Any]) -> list[Stream]:
    """Return every typed event stream of the document, sorted by path, then method.

    Raises:
        DocumentError: The document is not OpenAPI 3.1 or later, a reference is broken, or a
            stream's union of events cannot be read (not a list of schemas, or containing itself).
    """
    version = str(document.get("openapi", ""))
    if not version.startswith("3.") or version.split(".")[1:2] in (["0"], [""]):
        raise DocumentError(
            f"expected an OpenAPI 3.1 or 3.2 document, got openapi={version!r} "
            "(typedsse documents streams with JSON Schema 2020-12 keywords)"
        )
    paths = as_object(document.get("paths"))
    found: list[Stream] = []
    for path in sorted(paths):
        item = deref(document, paths[path])
        shared = as_list(item.get("parameters"))
        operations = [(method, item.get(method)) for method in METHODS]
        extra = as_object(item.get("additionalOperations"))  # OpenAPI 3.2: methods without a field of their own
        operations += [(method.lower(), extra[method]) for method in sorted(extra)]
        for method, operation in operations:
            if method == "head":
                continue  # a response to HEAD has no body: the route's GET sends the events
            stream = _stream(document, path, method, as_object(operation), shared) if operation else None
            if stream is not None:
                found.append(stream)
    return found


def deref(document: Mapping[str, Any], value: object) -> Mapping[str, Any]:
    """Follow `$ref`s to an object that is not a reference (components may refer to components)."""
    seen: set[str] = set()
    node = as_object(value)
    while isinstance(node.get("$ref"), str):
        ref: str = node["$ref"]
        if ref in seen:
            raise DocumentError(f"the reference {ref!r} refers to itself")
        seen.add(ref)
        node = as_object(resolve(document, ref))
    return node


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _stream(
    document: Mapping[str, Any], path: str, method: str, operation: Mapping[str, Any], shared: list[Any]
) -> Stream | None:
    found = _event_stream_media(document, operation)
    if found is None:
        return None
    status, media = found
    extension = as_object(media.get(EXTENSION))
    if extension.get("events"):
        events = _events_from_extension(document, as_object(extension["events"]))
    else:
        events = _events_from_schema(document, media, f"{method.upper()} {path}")
    if not events:
        return None  # an untyped event stream (FastAPI's own EventSourceResponse): nothing to generate
    names = {event.name for event in events}
    return Stream(
        path=path,
        method=method.upper(),
        summary=_text(operation.get("summary")),
        description=_text(operation.get("description")),
        deprecated=operation.get("deprecated") is True,
        parameters=tuple(_parameters(document, [*shared, *as_list(operation.get("parameters"))])),
        body=_body(document, operation.get("requestBody")),
        events=tuple(events),
        error_events=tuple(name for name in as_list(extension.get("errorEvents")) if name in names),
        resumable=extension.get("resumable") is True,
        status=status,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _event_stream_media(
    document: Mapping[str, Any], operation: Mapping[str, Any]
) -> tuple[int, Mapping[str, Any]] | None:
    """Return the status and `text/event-stream` media type of the operation's first successful response.

    The status is the response's own (`201`), or 200 for a range (`2XX`) or `default`, which name
    none. A 204 or a 205 has no body, so no stream: its media type is not looked at.
    """
    responses = as_object(operation.get("responses"))
    for status in sorted(responses):
        if not (status.startswith("2") or status == "default") or status in _NO_BODY:
            continue
        content = as_object(deref(document, responses[status]).get("content"))
        for media_type, media in content.items():
            if media_type.split(";")[0].strip().lower() == EVENT_STREAM:
                code = int(status) if re.fullmatch(r"2[0-9][0-9]", status) else 200
                return code, as_object(media)
    return None


def _events_from_extension(document: Mapping[str, Any], declared: Mapping[str, Any]) -> list[Event]:
    events: list[Event] = []
    for name, value in declared.items():
        info = as_object(value)
        ref = info.get("schema")
        if not isinstance(ref, str):
            raise DocumentError(f"{EXTENSION}: event {name!r} has no schema reference")
        encoding: Encoding = "text" if info.get("encoding") == "text" else "json"
        events.append(_event(name, component_name(ref), deref(document, {"$ref": ref}), encoding, document))
    return events


def _events_from_schema(document: Mapping[str, Any], media: Mapping[str, Any], where: str) -> list[Event]:
    item = media.get("itemSchema", media.get("schema"))
    if item is None:
        return []  # an event stream whose items the document does not describe
    events: list[Event] = []
    seen: dict[str, Mapping[str, Any]] = {}  # the events read so far, by name
    for branch in _branches(document, item, where, (), set()):
        ref = branch.get("$ref")
        schema = deref(document, branch)
        properties = as_object(schema.get("properties"))
        name = _event_name(deref(document, properties.get("event")))
        if name is None:
            return []  # one untyped branch makes the whole stream untyped
        if name in seen:
            if seen[name] == schema:
                continue  # two unions sharing an event: one event
            raise DocumentError(f"{where}: the event stream has two events named {name!r}, with different schemas")
        seen[name] = schema
        data = deref(document, properties.get("data"))
        encoding: Encoding = "json" if _is_json(data.get("contentMediaType")) else "text"
        events.append(_event(name, component_name(ref) if isinstance(ref, str) else None, schema, encoding, document))
    return events


def _branches(
    document: Mapping[str, Any], schema: object, where: str, outer: tuple[str, ...], expanded: set[str]
) -> list[Mapping[str, Any]]:
    """Return the schemas a stream's item schema is a union of, each as written (a reference keeps its name).

    The union may be written inline, or be a component that the item schema refers to, and a
    branch may itself be (a reference to) a union: all of them give the same events. A
    reference met again (two unions sharing a branch) gives its branches once.

    Raises:
        DocumentError: A union that is not a list of schemas, or contains itself.
    """
    if isinstance(schema, bool):
        return [{}]  # `true` or `false`: a schema, but no event
    if not isinstance(schema, Mapping):
        raise DocumentError(f"{where}: {schema!r} in the event stream's item schema is not a schema")
    node = cast(Mapping[str, Any], schema)
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in outer:
            raise DocumentError(f"{where}: the union {ref!r} contains itself")
        if ref in expanded:
            return []
        expanded.add(ref)
        outer = (*outer, ref)
    target = deref(document, node)
    keyword = "oneOf" if "oneOf" in target else "anyOf" if "anyOf" in target else None
    if keyword is None or _names_an_event(document, target):
        return [node]  # an event (its own `oneOf` constrains it), or a schema that is no union
    members = target[keyword]
    if not isinstance(members, list) or not members:
        raise DocumentError(f"{where}: the event stream's {keyword} is {members!r}, not a list of schemas")
    branches: list[Mapping[str, Any]] = []
    for member in as_list(members):
        branches += _branches(document, member, where, outer, expanded)
    return branches


def _names_an_event(document: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    return _event_name(deref(document, as_object(schema.get("properties")).get("event"))) is not None


def _event_name(schema: Mapping[str, Any]) -> str | None:
    if isinstance(schema.get("const"), str):
        return cast(str, schema["const"])
    values = as_list(schema.get("enum"))
    if len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return None


def _event(
    name: str, schema_name: str | None, schema: Mapping[str, Any], encoding: Encoding, document: Mapping[str, Any]
) -> Event:
    data = deref(document, as_object(schema.get("properties")).get("data"))
    payload: object
    if encoding == "text":
        payload = {"type": "string"}
    elif "contentSchema" in data:
        payload = data["contentSchema"]
    elif data.get("type") == "string" and "contentMediaType" in data:
        payload = {}  # JSON whose shape the document does not say
    else:
        payload = data  # a document describing the decoded data directly
    return Event(
        name=name,
        schema_name=schema_name,
        encoding=encoding,
        data=payload,
        description=_text(schema.get("description")),
    )


def _is_json(media_type: object) -> bool:
    if not isinstance(media_type, str):
        return False
    essence = media_type.split(";")[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


def _parameters(document: Mapping[str, Any], raw: list[Any]) -> Iterator[Parameter]:
    chosen: dict[tuple[str, str], Parameter] = {}
    for value in raw:  # an operation's parameter overrides the path item's of the same name and place
        parameter = deref(document, value)
        location, name = parameter.get("in"), parameter.get("name")
        if location not in ("path", "query", "header") or not isinstance(name, str):
            continue  # cookies are the browser's business: a client cannot set them
        schema = parameter.get("schema")
        if schema is None:  # `content` instead of `schema`: the first media type's schema
            media = next(iter(as_object(parameter.get("content")).values()), None)
            schema = as_object(media).get("schema", {})
        chosen[(location, name)] = Parameter(
            name=name,
            location=location,
            required=parameter.get("required", location == "path") is True,
            schema=schema,
            description=_text(parameter.get("description")),
            deprecated=parameter.get("deprecated") is True,
        )
    yield from chosen.values()


def _body(document: Mapping[str, Any], raw: object) -> Body | None:
    if raw is None:
        return None
    body = deref(document, raw)
    content = as_object(body.get("content"))
    if not content:
        return None
    json_type = next((name for name in content if _is_json(name)), None)
    return Body(
        schema=as_object(content[json_type]).get("schema", {}) if json_type is not None else {},
        required=body.get("required") is True,
        json=json_type is not None,
        description=_text(body.get("description")),
    )
