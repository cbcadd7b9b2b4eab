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

The paths are relative to the document's first server. Where that is a path (`/api`, as FastAPI
writes an app's `root_path` and a mounted app's prefix), it is where the streams are: a client's
URLs start with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

from typedsse.exceptions import TypedSSEError

__all__ = [
    "COMPONENT_PREFIX",
    "MAX_DEPTH",
    "Body",
    "DocumentError",
    "Event",
    "Parameter",
    "Stream",
    "as_list",
    "as_object",
    "component_name",
    "deref",
    "deref_schema",
    "escape",
    "expect_list",
    "expect_object",
    "expect_schema",
    "expect_string",
    "flag_field",
    "list_field",
    "object_field",
    "pointer",
    "resolve",
    "schema_keywords",
    "server_path",
    "streams",
    "string_field",
    "wrong_type",
]

COMPONENT_PREFIX = "#/components/schemas/"
EXTENSION = "x-typedsse"
EVENT_STREAM = "text/event-stream"
METHODS = ("get", "post", "put", "patch", "delete", "options", "head", "query")
"""Operation keys of a path item, in the order routes are listed (`query` is OpenAPI 3.2's)."""
_NO_BODY = frozenset(["204", "205"])
"""Successful statuses whose response has no body, and so no event stream."""
MAX_DEPTH = 50
"""How deep schemas may nest in place (a reference to a component, which the module names, starts over).

The generator translates a schema recursively, with up to ten Python frames a level: refusing
deeper schemas, which no model makes, by name keeps it well within Python's default recursion
limit (1000) whatever the caller's own stack, where it would otherwise fail with a RecursionError.
"""

Encoding = Literal["json", "text"]
Location = Literal["path", "query", "header"]
_LOCATIONS: dict[str | None, Location] = {"path": "path", "query": "query", "header": "header"}
"""The places of the parameters a client sends (not `cookie`: the browser's business)."""


class DocumentError(TypedSSEError, ValueError):
    """The OpenAPI document cannot be turned into TypeScript.

    It has no event stream, a broken reference, or a value of the wrong JSON type where the
    generator reads one (the message gives its JSON Pointer).
    """


@dataclass(frozen=True, slots=True)
class Parameter:
    """A path, query or header parameter of a stream's operation."""

    name: str
    location: Location
    required: bool
    schema: Any
    schema_at: str
    description: str | None
    deprecated: bool


@dataclass(frozen=True, slots=True)
class Body:
    """A stream operation's request body: its schema, and whether it is sent as JSON."""

    schema: Any
    schema_at: str
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
        data_at: Where `data` is in the document (a JSON Pointer), for the errors that name it.
        description: The event schema's description.
        deprecated: Whether the event schema is marked `deprecated`.
    """

    name: str
    schema_name: str | None
    encoding: Encoding
    data: Any
    data_at: str
    description: str | None
    deprecated: bool


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
    """Return `value` if it is a JSON object, else an empty one (for values that may hold anything)."""
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """Return `value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []  # pyright: ignore[reportUnknownVariableType]


# Typed reading. A document may come from anywhere (`typedsse typescript --from` reads any JSON
# file): every value the generator reads is checked where it is read, and one of the wrong JSON
# type is a `DocumentError` giving its JSON Pointer, as a `$ref` would write it. Python's own
# errors (a `TypeError` from iterating a number, say) would not say where the document is wrong.


def escape(key: str) -> str:
    """Return `key` as a JSON Pointer token (`/` as `~1`, `~` as `~0`)."""
    return key.replace("~", "~0").replace("/", "~1")


def pointer(where: str, *keys: str | int) -> str:
    """Return the JSON Pointer of the value at `keys` under the one at `where` (`#/paths`)."""
    return where + "".join(f"/{escape(str(key))}" for key in keys)


def expect_object(value: object, where: str) -> Mapping[str, Any]:
    """Return `value`, a JSON object.

    Raises:
        DocumentError: It is another JSON value.
    """
    if not isinstance(value, Mapping):
        raise wrong_type(value, where, "an object")
    return cast(Mapping[str, Any], value)


def expect_list(value: object, where: str) -> list[Any]:
    """Return `value`, a JSON array.

    Raises:
        DocumentError: It is another JSON value.
    """
    if not isinstance(value, list):
        raise wrong_type(value, where, "an array")
    return value  # pyright: ignore[reportUnknownVariableType]


def expect_string(value: object, where: str) -> str:
    """Return `value`, a JSON string.

    Raises:
        DocumentError: It is another JSON value.
    """
    if not isinstance(value, str):
        raise wrong_type(value, where, "a string")
    return value


def expect_schema(value: object, where: str) -> Mapping[str, Any] | bool:
    """Return `value`, a JSON Schema: an object, or `true` or `false`.

    Raises:
        DocumentError: It is another JSON value.
    """
    if isinstance(value, bool):
        return value
    if not isinstance(value, Mapping):
        raise wrong_type(value, where, "a schema (an object, true or false)")
    return cast(Mapping[str, Any], value)


def schema_keywords(value: object, where: str) -> Mapping[str, Any]:
    """Return the keywords of the schema `value`: itself, or none for `true` and `false`.

    Raises:
        DocumentError: It is not a schema.
    """
    schema = expect_schema(value, where)
    return {} if isinstance(schema, bool) else schema


def object_field(node: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """Return the object `node[key]` (`node` being at `where`), or an empty one if there is none."""
    return expect_object(node[key], pointer(where, key)) if key in node else {}


def list_field(node: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """Return the array `node[key]` (`node` being at `where`), or an empty one if there is none."""
    return expect_list(node[key], pointer(where, key)) if key in node else []


def string_field(node: Mapping[str, Any], key: str, where: str) -> str | None:
    """Return the string `node[key]` (`node` being at `where`), or `None` if there is none."""
    return expect_string(node[key], pointer(where, key)) if key in node else None


def flag_field(node: Mapping[str, Any], key: str, where: str, *, default: bool = False) -> bool:
    """Return the boolean `node[key]` (`node` being at `where`), or `default` if there is none."""
    if key not in node:
        return default
    value = node[key]
    if not isinstance(value, bool):
        raise wrong_type(value, pointer(where, key), "true or false")
    return value


def wrong_type(value: object, where: str, expected: str) -> DocumentError:
    """Return the error for `value`, at `where`, that is not the `expected` JSON value."""
    return DocumentError(f"{where} is {_shown(value)}, not {expected}")


def _shown(value: object) -> str:
    """A JSON value as a message shows it: scalars as JSON writes them (cut short), containers by kind."""
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    if value is None or isinstance(value, bool | int | float | str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}, not a JSON value"


def component_name(ref: str) -> str | None:
    """Return `Name` for `#/components/schemas/Name`, else `None`."""
    name = ref.removeprefix(COMPONENT_PREFIX)
    if name == ref or not name or "/" in name:  # not a component, or a place inside one
        return None
    return _unescape(name)


def resolve(document: Mapping[str, Any], ref: str, where: str) -> Any:
    """Return the value a local reference (`#/a/b`, a JSON Pointer) written at `where` points to.

    Raises:
        DocumentError: The reference is not local, or points nowhere.
    """
    if not ref.startswith("#"):
        raise DocumentError(f"{where}: cannot follow {ref!r}: only references inside the document are supported")
    node: Any = document
    for token in ref[1:].split("/")[1:]:
        key = _unescape(token)
        mapping, items = as_object(node), as_list(node)
        if key in mapping:
            node = mapping[key]
        elif key.isdigit() and int(key) < len(items):
            node = items[int(key)]
        else:
            raise DocumentError(f"{where}: the reference {ref!r} points to nothing in the document")
    return node


def server_path(document: Mapping[str, Any]) -> str:
    """Return the path of the document's first server (`/api`, without a final `/`), or `""`.

    FastAPI's `/openapi.json` puts an app's `root_path` first in `servers` (a mounted app's
    prefix, or the prefix a proxy strips): the document's paths are relative to it. A server
    that is a full URL (`https://api.example.com`, one of several deployments), or one with
    variables, names no path of its own: a client is given its address instead.

    Raises:
        DocumentError: `servers`, its first entry or that entry's `url` has the wrong JSON type.
    """
    servers = list_field(document, "servers", "#")
    if not servers:
        return ""
    first = expect_object(servers[0], "#/servers/0")
    url = string_field(first, "url", "#/servers/0") or ""
    if not url.startswith("/") or url.startswith("//") or "{" in url:
        return ""
    return url.rstrip("/")


def streams(document: Mapping[str, Any]) -> list[Stream]:
    """Return every typed event stream of the document, sorted by path, then method.

    Raises:
        DocumentError: The document is not OpenAPI 3.1 or later, a reference is broken, a value
            the generator reads has the wrong JSON type, or a stream's union of events cannot be
            read (not a list of schemas, or containing itself).
    """
    version = str(expect_object(document, "#").get("openapi", ""))  # `generate` may be given any value
    if not version.startswith("3.") or version.split(".")[1:2] in (["0"], [""]):
        raise DocumentError(
            f"expected an OpenAPI 3.1 or 3.2 document, got openapi={version!r} "
            "(typedsse documents streams with JSON Schema 2020-12 keywords)"
        )
    paths = object_field(document, "paths", "#")
    found: list[Stream] = []
    for path in sorted(paths):
        item, item_at = deref(document, paths[path], pointer("#/paths", path))
        shared = [
            (value, pointer(item_at, "parameters", index))
            for index, value in enumerate(list_field(item, "parameters", item_at))
        ]
        operations = [(method, item[method], pointer(item_at, method)) for method in METHODS if method in item]
        extra_at = pointer(item_at, "additionalOperations")
        extra = object_field(item, "additionalOperations", item_at)  # OpenAPI 3.2: methods without a field of their own
        operations += [(method.lower(), extra[method], pointer(extra_at, method)) for method in sorted(extra)]
        for method, operation, operation_at in operations:
            if method == "head":
                continue  # a response to HEAD has no body: the route's GET sends the events
            stream = _stream(document, path, method, expect_object(operation, operation_at), operation_at, shared)
            if stream is not None:
                found.append(stream)
    return found


def deref(document: Mapping[str, Any], value: object, where: str) -> tuple[Mapping[str, Any], str]:
    """Follow `$ref`s from the object at `where` to one that is not a reference; return it and where it is.

    Components may refer to components: the place returned is the last reference's.

    Raises:
        DocumentError: A value on the way is not an object, a `$ref` not a string, or a
            reference is broken or leads back to itself.
    """
    seen: set[str] = set()
    node = expect_object(value, where)
    while "$ref" in node:
        ref_at = pointer(where, "$ref")
        ref = expect_string(node["$ref"], ref_at)
        if ref in seen:
            raise DocumentError(f"{ref_at}: the reference {ref!r} refers to itself")
        seen.add(ref)
        node, where = expect_object(resolve(document, ref, ref_at), ref), ref
    return node, where


def deref_schema(document: Mapping[str, Any], value: object, where: str) -> tuple[Mapping[str, Any], str]:
    """`deref` for a schema, which may be `true` or `false`: either reads as one without keywords."""
    if isinstance(expect_schema(value, where), bool):
        return {}, where
    return deref(document, value, where)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _stream(
    document: Mapping[str, Any],
    path: str,
    method: str,
    operation: Mapping[str, Any],
    operation_at: str,
    shared: list[tuple[Any, str]],
) -> Stream | None:
    found = _event_stream_media(document, operation, operation_at)
    if found is None:
        return None
    status, media, media_at = found
    extension_at = pointer(media_at, EXTENSION)
    extension = object_field(media, EXTENSION, media_at)
    declared = object_field(extension, "events", extension_at)
    if declared:
        events = _events_from_extension(document, declared, pointer(extension_at, "events"))
    else:
        events = _events_from_schema(document, media, media_at, f"{method.upper()} {path}")
    if not events:
        return None  # an untyped event stream (FastAPI's own EventSourceResponse): nothing to generate
    names = {event.name for event in events}
    error_events_at = pointer(extension_at, "errorEvents")
    error_events = [
        expect_string(name, pointer(error_events_at, index))
        for index, name in enumerate(list_field(extension, "errorEvents", extension_at))
    ]
    own = [
        (value, pointer(operation_at, "parameters", index))
        for index, value in enumerate(list_field(operation, "parameters", operation_at))
    ]
    body = (
        _body(document, operation["requestBody"], pointer(operation_at, "requestBody"))
        if "requestBody" in operation
        else None
    )
    return Stream(
        path=path,
        method=method.upper(),
        summary=string_field(operation, "summary", operation_at) or None,
        description=string_field(operation, "description", operation_at) or None,
        deprecated=flag_field(operation, "deprecated", operation_at),
        parameters=tuple(_parameters(document, [*shared, *own])),
        body=body,
        events=tuple(events),
        error_events=tuple(name for name in error_events if name in names),
        resumable=flag_field(extension, "resumable", extension_at),
        status=status,
    )


def _event_stream_media(
    document: Mapping[str, Any], operation: Mapping[str, Any], operation_at: str
) -> tuple[int, Mapping[str, Any], str] | None:
    """Return the status, `text/event-stream` media type and its place of the operation's first successful response.

    The status is the response's own (`201`), or 200 for a range (`2XX`) or `default`, which name
    none. A 204 or a 205 has no body, so no stream: its media type is not looked at.
    """
    responses_at = pointer(operation_at, "responses")
    responses = object_field(operation, "responses", operation_at)
    for status in sorted(responses):
        if not (status.startswith("2") or status == "default") or status in _NO_BODY:
            continue
        response, response_at = deref(document, responses[status], pointer(responses_at, status))
        content_at = pointer(response_at, "content")
        for media_type, media in object_field(response, "content", response_at).items():
            if media_type.split(";")[0].strip().lower() == EVENT_STREAM:
                code = int(status) if re.fullmatch(r"2[0-9][0-9]", status) else 200
                media_at = pointer(content_at, media_type)
                return code, expect_object(media, media_at), media_at
    return None


def _events_from_extension(document: Mapping[str, Any], declared: Mapping[str, Any], where: str) -> list[Event]:
    events: list[Event] = []
    for name, value in declared.items():
        at = pointer(where, name)
        info = expect_object(value, at)
        if "schema" not in info:
            raise DocumentError(f"{at}: the {EXTENSION} event {name!r} has no schema reference")
        ref = expect_string(info["schema"], pointer(at, "schema"))
        encoding = info.get("encoding", "json")
        if encoding not in ("json", "text"):
            raise wrong_type(encoding, pointer(at, "encoding"), '"json" or "text"')
        schema, schema_at = deref(document, {"$ref": ref}, pointer(at, "schema"))
        events.append(_event(document, name, component_name(ref), schema, schema_at, encoding))
    return events


def _events_from_schema(
    document: Mapping[str, Any], media: Mapping[str, Any], media_at: str, where: str
) -> list[Event]:
    key = "itemSchema" if "itemSchema" in media else "schema" if "schema" in media else None
    if key is None:
        return []  # an event stream whose items the document does not describe
    events: list[Event] = []
    seen: dict[str, Mapping[str, Any]] = {}  # the events read so far, by name
    for branch, branch_at in _branches(document, media[key], pointer(media_at, key), where, (), set()):
        ref = branch.get("$ref")
        schema, schema_at = deref(document, branch, branch_at)
        name = _event_name(document, schema, schema_at)
        if name is None:
            return []  # one untyped branch makes the whole stream untyped
        if name in seen:
            if seen[name] == schema:
                continue  # two unions sharing an event: one event
            raise DocumentError(f"{where}: the event stream has two events named {name!r}, with different schemas")
        seen[name] = schema
        data, data_at = _property(document, schema, schema_at, "data")
        encoding: Encoding = "json" if _is_json(string_field(data, "contentMediaType", data_at)) else "text"
        schema_name = component_name(ref) if isinstance(ref, str) else None
        events.append(_event(document, name, schema_name, schema, schema_at, encoding))
    return events


def _branches(
    document: Mapping[str, Any],
    schema: object,
    at: str,
    where: str,
    outer: tuple[str, ...],
    expanded: set[str],
    depth: int = 0,
) -> list[tuple[Mapping[str, Any], str]]:
    """Return the schemas a stream's item schema is a union of, each as written (a reference keeps its name).

    Each comes with its place in the document (`at` is the item schema's). The union may be
    written inline, or be a component that the item schema refers to, and a branch may itself be
    (a reference to) a union: all of them give the same events. A reference met again (two unions
    sharing a branch) gives its branches once.

    Raises:
        DocumentError: A union that is not a list of schemas, or contains itself, or unions
            nested more than `MAX_DEPTH` deep.
    """
    if isinstance(schema, bool):
        return [({}, at)]  # `true` or `false`: a schema, but no event
    if not isinstance(schema, Mapping):
        raise DocumentError(f"{where}: {at} in the event stream's item schema is {_shown(schema)}, not a schema")
    if depth > MAX_DEPTH:
        raise DocumentError(f"{where}: the event stream's unions nest more than {MAX_DEPTH} deep")
    node = cast(Mapping[str, Any], schema)
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref in outer:
            raise DocumentError(f"{where}: the union {ref!r} contains itself")
        if ref in expanded:
            return []
        expanded.add(ref)
        outer = (*outer, ref)
    target, target_at = deref(document, node, at)
    keyword = "oneOf" if "oneOf" in target else "anyOf" if "anyOf" in target else None
    if keyword is None or _event_name(document, target, target_at) is not None:
        return [(node, at)]  # an event (its own `oneOf` constrains it), or a schema that is no union
    members = target[keyword]
    if not isinstance(members, list) or not members:
        shown = "an empty array" if isinstance(members, list) else _shown(members)
        raise DocumentError(
            f"{where}: the event stream's {keyword} {pointer(target_at, keyword)} is {shown}, not a list of schemas"
        )
    branches: list[tuple[Mapping[str, Any], str]] = []
    for index, member in enumerate(as_list(members)):
        branches += _branches(document, member, pointer(target_at, keyword, index), where, outer, expanded, depth + 1)
    return branches


def _property(
    document: Mapping[str, Any], schema: Mapping[str, Any], schema_at: str, name: str
) -> tuple[Mapping[str, Any], str]:
    """Return the schema of an event schema's property `event` or `data` (followed), and where it is."""
    properties_at = pointer(schema_at, "properties")
    properties = object_field(schema, "properties", schema_at)
    return deref_schema(document, properties.get(name, True), pointer(properties_at, name))


def _event_name(document: Mapping[str, Any], schema: Mapping[str, Any], schema_at: str) -> str | None:
    """Return the event name an event schema gives as its `event` property's only value, if it does."""
    event, event_at = _property(document, schema, schema_at, "event")
    if isinstance(event.get("const"), str):
        return cast(str, event["const"])
    values = list_field(event, "enum", event_at)
    if len(values) == 1 and isinstance(values[0], str):
        return values[0]
    return None


def _event(
    document: Mapping[str, Any],
    name: str,
    schema_name: str | None,
    schema: Mapping[str, Any],
    schema_at: str,
    encoding: Encoding,
) -> Event:
    data, data_at = _property(document, schema, schema_at, "data")
    payload: object
    if encoding == "text":
        payload = {"type": "string"}
    elif "contentSchema" in data:
        payload, data_at = data["contentSchema"], pointer(data_at, "contentSchema")
    elif data.get("type") == "string" and "contentMediaType" in data:
        payload = {}  # JSON whose shape the document does not say
    else:
        payload = data  # a document describing the decoded data directly
    return Event(
        name=name,
        schema_name=schema_name,
        encoding=encoding,
        data=payload,
        data_at=data_at,
        description=string_field(schema, "description", schema_at) or None,
        deprecated=flag_field(schema, "deprecated", schema_at),
    )


def _is_json(media_type: str | None) -> bool:
    if media_type is None:
        return False
    essence = media_type.split(";")[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


def _parameters(document: Mapping[str, Any], raw: list[tuple[Any, str]]) -> Iterator[Parameter]:
    chosen: dict[tuple[str, str], Parameter] = {}
    for value, value_at in raw:  # an operation's parameter overrides the path item's of the same name and place
        parameter, at = deref(document, value, value_at)
        location = _LOCATIONS.get(string_field(parameter, "in", at))
        name = string_field(parameter, "name", at)
        if location is None or name is None:
            continue  # cookies are the browser's business: a client cannot set them
        schema: object
        if "schema" in parameter:
            schema, schema_at = parameter["schema"], pointer(at, "schema")
        else:  # `content` instead of `schema`: the first media type's schema
            content = object_field(parameter, "content", at)
            media_type = next(iter(content), None)
            media: Mapping[str, Any] = {}
            media_at = pointer(at, "content")
            if media_type is not None:
                media_at = pointer(media_at, media_type)
                media = expect_object(content[media_type], media_at)
            schema, schema_at = media.get("schema", {}), pointer(media_at, "schema")
        chosen[(location, name)] = Parameter(
            name=name,
            location=location,
            required=flag_field(parameter, "required", at, default=location == "path"),
            schema=schema,
            schema_at=schema_at,
            description=string_field(parameter, "description", at) or None,
            deprecated=flag_field(parameter, "deprecated", at),
        )
    yield from chosen.values()


def _body(document: Mapping[str, Any], raw: object, raw_at: str) -> Body | None:
    body, at = deref(document, raw, raw_at)
    content = object_field(body, "content", at)
    if not content:
        return None
    json_type = next((name for name in content if _is_json(name)), None)
    schema: object = {}
    schema_at = pointer(at, "content")
    if json_type is not None:
        media_at = pointer(at, "content", json_type)
        schema, schema_at = expect_object(content[json_type], media_at).get("schema", {}), pointer(media_at, "schema")
    return Body(
        schema=schema,
        schema_at=schema_at,
        required=flag_field(body, "required", at),
        json=json_type is not None,
        description=string_field(body, "description", at) or None,
    )
