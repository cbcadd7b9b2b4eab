"""The TypeScript generator: snapshots, strict compilation, compile errors, Node and Chromium end to end."""

from __future__ import annotations

import asyncio
import base64
import copy
import errno
import importlib
import io
import itertools
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import types
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import httpx
import pytest
from fastapi import FastAPI, Header, Query
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, RootModel, computed_field, create_model
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import typedsse.openapi
from examples import chat, echo, merged_echo, progress, ticker
from typedsse import BaseEvent, LastEventId, sse
from typedsse.cli import main
from typedsse.decoding import Decoder
from typedsse.typescript import DocumentError, generate
from typedsse.typescript._render import _DECLARATION, _GLOBALS, runtime_source

ROOT = Path(__file__).parent.parent
TS = ROOT / "tests" / "ts"
SNAPSHOTS = ROOT / "tests" / "snapshots" / "typescript"
TSC = TS / "node_modules" / "typescript" / "bin" / "tsc"
TSC7 = TS / "node_modules" / "typescript7" / "bin" / "tsc"
NODE = shutil.which("node")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
UPDATE = os.environ.get("TYPEDSSE_UPDATE_SNAPSHOTS") == "1"
TIMEOUT = 50  # seconds for one compiler or Node run, within the 60 s per test

EXAMPLES: dict[str, FastAPI] = {
    "chat": chat.app,
    "echo": echo.app,
    "merged_echo": merged_echo.app,
    "progress": progress.app,
    "ticker": ticker.app,
}


# The features app: every kind of schema the generator translates, and the runtime's edge cases.


class Node(BaseModel):
    """A tree: each node holds its children (a recursive model)."""

    name: str
    children: list[Node] = []


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=0, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Color(StrEnum):
    RED = "red"
    GREEN = "green"


class Error(BaseModel):
    """A model named like a global the client itself uses."""

    reason: str


class Pet(BaseModel):
    """Every kind of field: unions, tuples, dicts, enums, dates, aliases, extra keys."""

    model_config = ConfigDict(extra="allow")

    pet: Annotated[Cat | Dog, Field(discriminator="kind")]
    either: int | str
    pair: tuple[int, str]
    many: list[float]
    scores: dict[str, int] = {}
    color: Color = Color.RED
    when: datetime | None = None
    nickname: str | None = Field(default=None, description="What the owner calls it; */ ends no comment.")
    class_: str = Field(alias="class")
    with_dash: str = Field(default="-", alias="with-dash")
    problem: Error | None = None
    tree: Node | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def legs(self) -> int:
        """Four, whatever the pet: makes the output schema differ from the input one."""
        return 4


class Grown(BaseEvent[Node]):
    """The tree grew."""


class Petted(BaseEvent[Pet], name="pet.petted"): ...


class Line(BaseEvent[str], encoding="text"): ...


class Ratio(BaseEvent[float]): ...


class Nothing(BaseEvent[None]): ...


features = FastAPI(title="typedsse TypeScript features")
typedsse.openapi.install(features)


@features.get("/rooms/{room}")
@sse(retry=100)
async def room_events(
    room: int,
    x_token: Annotated[str, Header()],
    authorization: Annotated[str | None, Header()] = None,
    tags: Annotated[list[str] | None, Query()] = None,
    last_event_id: LastEventId = None,
) -> AsyncIterator[Grown | Line | Ratio | Nothing]:
    """The first response sends two events and ends; the resumed one sends two more, then fails."""
    if last_event_id is None:
        yield Grown(data=Node(name=f"room {room}", children=[Node(name=tag) for tag in tags or []]), id="ü-1")
        yield Line(data=f"token {x_token}\r\n{authorization}", id="ü-2")
        return
    # The client sent the id's UTF-8 bytes, as EventSource does; `LastEventId` decodes them.
    yield Ratio(data=0.5, id=f"after {last_event_id}")
    yield Nothing(data=None)
    raise RuntimeError("the room burned down")  # after the first event: the typed error event


@features.post("/rooms/{room}")
@sse()
async def pet_room(room: int, body: Pet) -> AsyncIterator[Petted | Nothing]:
    """Send the pet back, then nothing."""
    yield Petted(data=body, id=str(room))
    yield Nothing(data=None)


@features.post("/notes")
@sse(status_code=201)
async def create_note() -> AsyncIterator[Line | Nothing]:
    """Create a note: the stream is sent with 201 Created."""
    yield Line(data="created", id="n-1")
    yield Nothing(data=None)


# Helpers.


def require_toolchain() -> None:
    """Skip loudly without Node or the npm packages (`npm ci` in tests/ts); fail under CI."""
    missing = []
    if NODE is None:
        missing.append("node is not installed")
    if not TSC.is_file() or not TSC7.is_file():
        missing.append(f"the npm packages are not installed: run `npm ci` in {TS.relative_to(ROOT)}")
    if not missing:
        return
    reason = "; ".join(missing)
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the TypeScript tests must run)")
    pytest.skip(f"SKIPPED LOUDLY: {reason}")


def json_data(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "string", "contentMediaType": "application/json", "contentSchema": schema}


def event_schema(name: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"event": {"const": name}, "data": data}, "required": ["event", "data"]}


HANDWRITTEN: dict[str, Any] = {
    # An OpenAPI 3.2 document written by hand: no x-typedsse, inline events, schemas FastAPI never makes.
    "openapi": "3.2.0",
    "info": {"title": "hand-written", "version": "2"},
    "paths": {
        "/inline": {
            "parameters": [{"name": "since", "in": "query", "schema": {"type": ["integer", "null"]}}],
            "get": {
                "responses": {
                    "200": {
                        "content": {
                            "text/event-stream": {
                                "itemSchema": {
                                    "oneOf": [
                                        event_schema("clock.tick", json_data({"type": "integer"})),
                                        event_schema("note", {"type": "string"}),
                                    ]
                                }
                            }
                        }
                    }
                }
            },
        },
        "/shapes": {
            "get": {
                "deprecated": True,
                "responses": {
                    "default": {"$ref": "#/components/responses/Shapes"},
                },
            }
        },
        "/untyped": {
            "get": {"responses": {"200": {"content": {"text/event-stream": {"itemSchema": {"type": "object"}}}}}}
        },
    },
    "components": {
        "responses": {
            "Shapes": {
                "description": "shapes",
                "content": {"text/event-stream": {"itemSchema": {"$ref": "#/components/schemas/ShapeEvent"}}},
            }
        },
        "schemas": {
            "ShapeEvent": event_schema("clock.tick", json_data({"$ref": "#/components/schemas/Shape"})),
            "Shape": {
                "description": "Every other schema form.",
                "allOf": [{"$ref": "#/components/schemas/Base"}, {"type": "object", "properties": {"z": {}}}],
            },
            "Base": {
                "type": "object",
                "required": ["kind", "size"],
                "properties": {
                    "kind": {"const": 3},
                    "size": {"type": "number", "nullable": True, "deprecated": True},
                    "point": {
                        "type": "array",
                        "prefixItems": [{"type": "number"}, {"type": "string"}],
                        "items": {"type": "boolean"},
                    },
                    "flags": {
                        "type": "object",
                        "properties": {"on": {"type": "boolean"}},
                        "additionalProperties": {"type": "string"},
                    },
                    "copy": {"$ref": "#/components/schemas/Base/properties/kind"},
                    "never": False,
                    "either": {"enum": ["a", 1, None, True]},
                    "tag": {"$ref": "#/components/schemas/0day"},
                },
            },
            "0day": {"type": "string"},
        },
    },
}


def document_of(app: FastAPI) -> dict[str, Any]:
    typedsse.openapi.install(app)
    return app.openapi()


def generated(name: str) -> str:
    if name == "handwritten":
        return generate(HANDWRITTEN, source="a hand-written document")
    if name == "features":
        return generate(document_of(features), source="tests/test_typescript.py:features")
    return generate(document_of(EXAMPLES[name]), source=f"examples.{name}:app")


def run(command: list[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def tsc(folder: Path, *, compiler: Path = TSC) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return run([NODE, str(compiler), "-p", str(folder / "tsconfig.json"), "--pretty", "false"], cwd=folder)


def project(
    folder: Path, sources: Mapping[str, str | Path], *, config: str, out_dir: str | None = None, **options: Any
) -> Path:
    """Write a TypeScript project: the sources, and a tsconfig extending tests/ts's `config`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in sources.items():
        text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
        (folder / name).write_text(text, encoding="utf-8")
    compiler_options: dict[str, Any] = {"rootDir": "."}
    compiler_options.update({"outDir": out_dir} if out_dir else {"noEmit": True})
    compiler_options.update(options)
    tsconfig = {"extends": str(TS / config), "compilerOptions": compiler_options, "files": sorted(sources)}
    (folder / "tsconfig.json").write_text(json.dumps(tsconfig, indent=2), encoding="utf-8")
    return folder


def all_generated() -> dict[str, str]:
    return {f"{name}.ts": generated(name) for name in [*EXAMPLES, "features", "handwritten"]}


class LastEventIdRecorder:
    """ASGI middleware noting the raw `Last-Event-ID` header (or `None`) of every GET request to `path`.

    Another header instead, when `header` names it (in lower case).
    """

    def __init__(self, app: ASGIApp, path: str, header: bytes = b"last-event-id") -> None:
        self.app = app
        self.path = path
        self.header = header
        self.seen: list[bytes | None] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "GET":
            self.seen.append(dict(scope["headers"]).get(self.header))
        await self.app(scope, receive, send)


@pytest.fixture
def fast_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples without their pauses (the servers' `retry:` delays stay)."""
    monkeypatch.setattr(echo, "INTERVAL", 0.01)
    monkeypatch.setattr(merged_echo, "INTERVAL", 0.01)
    monkeypatch.setattr(progress, "STAGE_SECONDS", 0.01)
    monkeypatch.setitem(chat.app.dependency_overrides, chat.get_model, lambda: chat.FakeModel(delay=0))


# Generation.


@pytest.mark.parametrize("name", [*EXAMPLES, "features", "handwritten"])
def test_typescript_matches_snapshot(name: str) -> None:
    # Every file ends with the same runtime, verbatim: check that here and snapshot what varies.
    runtime = runtime_source().rstrip("\n")
    text, found, tail = generated(name).rpartition(runtime)
    assert found, "the generated file does not end with the runtime"
    assert tail == "\n"
    snapshot = SNAPSHOTS / f"{name}.ts"
    if UPDATE:
        snapshot.parent.mkdir(parents=True, exist_ok=True)
        snapshot.write_text(text, encoding="utf-8", newline="\n")
    assert snapshot.is_file(), f"no snapshot {snapshot.name}: run with TYPEDSSE_UPDATE_SNAPSHOTS=1"
    assert text == snapshot.read_text(encoding="utf-8"), "generated output changed: review, then update snapshots"


@pytest.mark.parametrize("name", EXAMPLES)
def test_typescript_output_is_the_same_for_openapi_3_1_and_3_2(name: str) -> None:
    app = EXAMPLES[name]
    first = generate(typedsse.openapi.document(app, version="3.1"))
    second = generate(typedsse.openapi.document(app, version="3.2"))
    assert first.replace("(OpenAPI 3.1.0)", "(OpenAPI 3.2.0)") == second
    assert '"itemSchema"' in json.dumps(typedsse.openapi.document(app, version="3.2"))


def test_typescript_output_is_deterministic() -> None:
    document = document_of(features)
    first = generate(document)
    assert generate(copy.deepcopy(document)) == first
    assert generate(json.loads(json.dumps(document))) == first


def test_typescript_output_keeps_the_declared_order_and_sorts_the_rest() -> None:
    def reversed_keys(value: Any, parent: str = "") -> Any:
        if isinstance(value, list):
            return [reversed_keys(item) for item in value]
        if not isinstance(value, dict):
            return value
        keys = list(value) if parent in ("properties", "events") else list(reversed(value))
        return {key: reversed_keys(value[key], key) for key in keys}

    document = document_of(features)
    # Paths, methods, components and the rest: sorted, so their order changes nothing.
    assert generate(reversed_keys(document)) == generate(document)
    # A model's properties and a route's events: in the order they are declared.
    text = generate(json.loads(json.dumps(document, sort_keys=True)))
    assert "export interface Error2 {\n  reason: string;\n}" in text
    assert "export interface ErrorPayload {\n  code: string;\n  message: string;\n}" in text
    assert "      event: Grown | Line | Nothing | Ratio | StreamError;\n" in text


def test_typescript_echo_declares_the_documented_types() -> None:
    text = generated("echo")
    assert text.startswith(
        "// Generated by typedsse: event types and a typed subscribe client for the event streams of\n"
        '// "typedsse echo example" 0.1.0 (OpenAPI 3.1.0), read from examples.echo:app.\n'
        "// Do not edit: regenerate with `typedsse typescript`.\n"
    )
    assert (
        "/** What both events carry. */\n"
        "export interface EchoPayload {\n"
        "  message: string;\n"
        "  /** Format: `date-time` (an ISO 8601 date and time). */\n"
        "  created_at: string;\n"
        "}\n"
    ) in text
    assert (
        'export interface ReverseEcho {\n  event: "reverse_echo";\n  id?: string;\n  data: EchoPayload;\n}\n'
    ) in text
    assert "      event: Echo | ReverseEcho | StreamError;\n" in text


def test_typescript_header_comment_stays_comment_whatever_the_title_version_and_source() -> None:
    document = copy.deepcopy(document_of(echo.app))
    # A version read from a file or a command's output may hold a line break; TypeScript also ends
    # a `//` comment at U+2028 and U+2029, which JSON (and so the quoted title) leaves as they are.
    document["info"] = {"title": "Echo\u2028x = 1", "version": "1.0\nexport const y = 2;\r\u2029z"}
    text = generate(document, source="app\n:app")
    header, _, _ = text.partition("/* eslint-disable */")
    lines = re.split(r"\r\n|[\n\r\u2028\u2029]", header.rstrip("\n"))
    assert lines == [
        "// Generated by typedsse: event types and a typed subscribe client for the event streams of",
        '// "Echo\\u2028x = 1" 1.0\\nexport const y = 2;\\r\\u2029z (OpenAPI 3.1.0), read from app\\n:app.',
        "// Do not edit: regenerate with `typedsse typescript`.",
    ]


def test_typescript_escapes_names_and_translates_every_schema_kind() -> None:
    text = generated("features")
    # `Error` is a global the runtime uses; `Pet-Output` is not an identifier. (The body keeps
    # the name FastAPI gives it without the events, `Pet`; the events bring `Pet-Output`.)
    assert "export interface Error2 {\n  reason: string;\n}" in text
    assert "export interface Pet {" in text
    assert "export interface Pet_Output {" in text
    assert 'export type Color = "red" | "green";' in text
    for line in [
        "  pet: Cat | Dog;",
        "  either: number | string;",
        "  pair: [number, string];",
        "  many: number[];",
        "  scores?: { [key: string]: number };",
        "  color?: Color;",
        "  when?: string | null;",
        "  /** What the owner calls it; *\\/ ends no comment. */",
        "  class: string;",
        '  "with-dash"?: string;',
        "  problem?: Error2 | null;",
        "  tree?: Node | null;",
        "  [key: string]: unknown;",
        "  legs: number;",
        "  children?: Node_Output[];",
        '  kind: "cat";',
    ]:
        assert f"\n{line}\n" in text, line
    assert 'export interface Nothing {\n  event: "nothing";\n  id?: string;\n  data: null;\n}' in text
    assert '      events: {\n        grown: "json",\n        line: "text",\n        ratio: "json",\n' in text


def test_typescript_translates_a_hand_written_document() -> None:
    text = generated("handwritten")
    for declaration in [
        # Inline events are named after the event; one name may have several types on different routes.
        'export interface ClockTickEvent {\n  event: "clock.tick";\n  id?: string;\n  data: number;\n}',
        'export interface ShapeEvent {\n  event: "clock.tick";\n  id?: string;\n  data: Shape;\n}',
        'export interface NoteEvent {\n  event: "note";\n  id?: string;\n  data: string;\n}',
        "/** Every other schema form. */\nexport type Shape = Base & { z?: unknown };",
        "export type _0day = string;",
        "  point?: [number, string, ...boolean[]];",
        "  flags?: { on?: boolean; [key: string]: string | boolean | undefined };",
        "  /** @deprecated */\n  size: number | null;",
        '  either?: "a" | 1 | null | true;',
        "  copy?: 3;",
        "  never?: never;",
        "      query: { since?: number | null | undefined };",
        "      event: ClockTickEvent | NoteEvent;",
        '      events: { "clock.tick": "json", note: "text" },',
    ]:
        assert declaration in text, declaration
    assert "/untyped" not in text  # an event stream without typed events


class Code(RootModel[Annotated[str, Field(pattern="^[A-Z]+$", max_length=12)]]):
    """A product code."""


class Purchase(BaseModel):
    """A purchase: every validation keyword Pydantic writes."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "AB", "quantity": 2}]})

    code: Code = Field(description="What is ordered.")  # a `$ref` with a description beside it
    note: str = Field(min_length=1, max_length=280, examples=["Leave it at the door", "*/"])
    initials: str = Field(min_length=2, max_length=2)
    path: str = Field(pattern="^/.*/$")  # `*/` would end the comment
    quantity: int = Field(ge=1, le=100)
    discount: float = Field(ge=0, lt=1, multiple_of=0.25)
    price: float = Field(gt=0, le=1e20)  # Python writes 1e+20
    tip: int | None = Field(default=None, ge=0)  # an optional field: the limit is on the `anyOf` branch
    tags: set[str] = Field(min_length=1, max_length=5)
    pair: tuple[int, int]  # the tuple type says its length
    extras: dict[str, str] = Field(default={}, max_length=3)


class Purchased(BaseEvent[Purchase]): ...


class Stock(BaseEvent[Annotated[int, Field(ge=0, description="Items left.")]]): ...


shop = FastAPI()


@shop.get("/orders")
@sse()
async def order_events(limit: Annotated[int, Query(ge=1, le=50)] = 10) -> AsyncIterator[Purchased | Stock]:
    yield Stock(data=limit)


def test_typescript_doc_comments_state_the_limits_the_server_validates(tmp_path: Path) -> None:
    # A field's limits (a length, a range, a pattern) are checked by the server but no type says
    # them: the doc comment does, where an editor shows it, after the description and format.
    text = generate(document_of(shop))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "/**\n * A product code.\n * At most 12 characters.\n * Pattern: `^[A-Z]+$`.\n */\n"
            "export type Code = string;",
            "/**\n"
            " * A purchase: every validation keyword Pydantic writes.\n"
            ' * @example {"code": "AB", "quantity": 2}\n'
            " */\n"
            "export interface Purchase {\n"
            "  /**\n"
            "   * What is ordered.\n"
            "   * At most 12 characters.\n"
            "   * Pattern: `^[A-Z]+$`.\n"
            "   */\n"
            "  code: Code;\n"
            "  /**\n"
            "   * From 1 to 280 characters.\n"
            '   * @example "Leave it at the door"\n'
            '   * @example "*\\/"\n'
            "   */\n"
            "  note: string;\n"
            "  /** Exactly 2 characters. */\n"
            "  initials: string;\n"
            "  /** Pattern: `^/.*\\/$`. */\n"
            "  path: string;\n"
            "  /** From 1 to 100. */\n"
            "  quantity: number;\n"
            "  /**\n"
            "   * At least 0 and less than 1.\n"
            "   * A multiple of 0.25.\n"
            "   */\n"
            "  discount: number;\n"
            "  /** Greater than 0 and at most 100000000000000000000. */\n"
            "  price: number;\n"
            "  /** At least 0. */\n"
            "  tip?: number | null;\n"
            "  /**\n"
            "   * From 1 to 5 items.\n"
            "   * Items are unique.\n"
            "   */\n"
            "  tags: string[];\n"
            "  pair: [number, number];\n"
            "  /**\n"
            "   * At most 3 properties.\n"
            "   * @default {}\n"
            "   */\n"
            "  extras?: { [key: string]: string };\n"
            "}",
            "  /**\n   * Items left.\n   * At least 0.\n   */\n  data: number;\n",
            "        /**\n         * From 1 to 50.\n         * @default 10\n         */\n"
            "        limit?: number | undefined;\n",
        ],
    )


def limited_document(properties: dict[str, Any], **schemas: Any) -> dict[str, Any]:
    """A document whose one stream sends an event with the object of `properties` as its data."""
    data = {"type": "object", "properties": properties}
    stream = {"text/event-stream": {"itemSchema": event_schema("e", json_data(component("Data")))}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "limits", "version": "1"},
        "paths": {"/e": {"get": {"responses": {"200": {"content": stream}}}}},
        "components": {"schemas": {"Data": data, **schemas}},
    }


def test_typescript_doc_comments_keep_what_limits_and_examples_say_and_stay_comments(tmp_path: Path) -> None:
    # A pattern is written as it is, in a code span: a line break as its escape, `*/` as `*\/`
    # (which match the same), backticks in a longer span. Numbers are JavaScript's, as the
    # client reads them: `100`, not `100.0`; `1.5e-7`, not `1.5e-07`.
    text = generate(
        limited_document(
            {
                "code": {"type": "string", "pattern": "^a`b\n*/$", "examples": ["*/", "x\u2028y", 100.0, 1e21]},
                "low": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMinimum": 0,
                    "maximum": 100.0,
                    "exclusiveMaximum": 1e3,
                },
                "old": {"type": "number", "minimum": 5, "exclusiveMinimum": True},  # OpenAPI 3.0's spelling
                "step": {"allOf": [{"type": "integer", "multipleOf": 1.5e-7}], "description": "In an allOf."},
                "same": {"$ref": "#/components/schemas/Data/properties/step"},
                "pair": {"oneOf": [{"type": "null"}, {"type": "array", "minItems": 2.0, "maxItems": 2}]},
                "either": {"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer", "maximum": 3}]},
                "self": {"$ref": "#/components/schemas/Data/properties/self"},
                "alias": component("Alias"),
            },
            Alias={"$ref": "#/components/schemas/Named"},
            Named={"type": "string", "minLength": 1},
        )
    )
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "export interface Data {\n"
            "  /**\n"
            "   * Pattern: ``^a`b\\n*\\/$``.\n"
            '   * @example "*\\/"\n'
            '   * @example "x\\u2028y"\n'
            "   * @example 100\n"
            "   * @example 1e+21\n"
            "   */\n"
            "  code?: string;\n"
            "  /** Greater than 0 and at most 100. */\n"
            "  low?: number;\n"
            "  /** Greater than 5. */\n"
            "  old?: number;\n"
            "  /**\n   * In an allOf.\n   * A multiple of 1.5e-7.\n   */\n"
            "  step?: number;\n"
            "  /** A multiple of 1.5e-7. */\n"
            "  same?: number;\n"
            "  /** Exactly 2 items. */\n"
            "  pair?: null | unknown[];\n"
            "  either?: string | number;\n"
            "  self?: unknown;\n"
            "  /** At least 1 character. */\n"
            "  alias?: Alias;\n"
            "}",
            "/** At least 1 character. */\nexport type Alias = Named;",
            "/** At least 1 character. */\nexport type Named = string;",
        ],
    )


def test_typescript_doc_comments_write_a_default_as_the_limits_and_examples_beside_it(tmp_path: Path) -> None:
    # `@default` was Python's JSON: `100.0` and `1e+20` beside `At most 100.`, and a U+2028 that
    # breaks the tag's line in an editor.
    properties = {
        "ratio": {"type": "number", "maximum": 100.0, "default": 100.0, "examples": [50.0]},
        "big": {"type": "number", "default": 1e20},
        "sizes": {"type": "array", "items": {"type": "number"}, "default": [0.5, 2.0, 1.5e-7]},
        "text": {"type": "string", "default": "a\u2028b"},
    }
    text = generate(limited_document(properties))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "  /**\n   * At most 100.\n   * @default 100\n   * @example 50\n   */\n  ratio?: number;\n"
            "  /** @default 100000000000000000000 */\n  big?: number;\n"
            "  /** @default [0.5, 2, 1.5e-7] */\n  sizes?: number[];\n"
            '  /** @default "a\\u2028b" */\n  text?: string;\n'
        ],
    )


def test_typescript_doc_comments_give_the_format_of_an_optional_value(tmp_path: Path) -> None:
    # Pydantic writes a `datetime | None` field's format on the branch of its `anyOf` that is not
    # `null`, as it writes its limits: the limits were shown, the format only of a required field.
    properties = {
        "at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}], "default": None},
        "day": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}], "description": "Delivery."},
        "id": {"allOf": [component("Id")], "description": "Its own."},
        "seen": {"type": "string", "format": "date-time"},
    }
    text = generate(limited_document(properties, Id={"type": "string", "format": "uuid"}))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "  /**\n   * Format: `date-time` (an ISO 8601 date and time).\n   * @default null\n   */\n"
            "  at?: string | null;\n"
            "  /**\n   * Delivery.\n   * Format: `date` (an ISO 8601 date).\n   */\n  day?: null | string;\n"
            "  /**\n   * Its own.\n   * Format: `uuid` (a UUID).\n   */\n  id?: Id;\n"
            "  /** Format: `date-time` (an ISO 8601 date and time). */\n  seen?: string;\n"
        ],
    )


def test_typescript_doc_comments_say_an_exact_or_empty_bound_plainly(tmp_path: Path) -> None:
    # Equal inclusive bounds read `From 5 to 5.` and a maximum length of 0 `At most 0 characters.`.
    properties = {
        "five": {"type": "integer", "minimum": 5, "maximum": 5.0},
        "none": {"type": "string", "maxLength": 0},
        "nothing": {"type": "array", "minItems": 0, "maxItems": 0},
        "bare": {"type": "object", "maxProperties": 0},
        "half": {"type": "number", "minimum": 0.5, "maximum": 0.5, "exclusiveMaximum": 1},
    }
    text = generate(limited_document(properties))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "  /** Exactly 5. */\n  five?: number;\n"
            "  /** Empty. */\n  none?: string;\n"
            "  /** Empty. */\n  nothing?: unknown[];\n"
            "  /** Empty. */\n  bare?: { [key: string]: unknown };\n"
            "  /** Exactly 0.5. */\n  half?: number;\n"
        ],
    )


def test_typescript_doc_comments_give_the_singular_example_too(tmp_path: Path) -> None:
    # OpenAPI 3.0's `example` (FastAPI's `Body(example=...)`, `json_schema_extra={"example": ...}`)
    # was in no doc comment: it is an `@example` after those of `examples`, once.
    properties = {
        "one": {"type": "string", "example": "x*/"},
        "both": {"type": "number", "examples": [1, 2.0], "example": 3},
        "again": {"type": "number", "examples": [1.5], "example": 1.5},
        "none": {"type": "string", "example": None},
    }
    text = generate(limited_document(properties))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            '  /** @example "x*\\/" */\n  one?: string;\n'
            "  /**\n   * @example 1\n   * @example 2\n   * @example 3\n   */\n  both?: number;\n"
            "  /** @example 1.5 */\n  again?: number;\n"
            "  /** @example null */\n  none?: string;\n"
        ],
    )


class Stamp(RootModel[datetime]):
    """When it happened."""


def test_typescript_doc_comments_of_a_named_type_say_what_a_field_s_would(tmp_path: Path) -> None:
    # A named type's declaration had its limits and examples but not its format or default.
    text = generate(
        limited_document(
            {"at": component("Stamp"), "size": component("Size")},
            Stamp=Stamp.model_json_schema(),
            Size={"type": "integer", "maximum": 9, "default": 1, "example": 2},
        )
    )
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "/**\n * When it happened.\n * Format: `date-time` (an ISO 8601 date and time).\n */\n"
            "export type Stamp = string;",
            "/**\n * At most 9.\n * @default 1\n * @example 2\n */\nexport type Size = number;",
        ],
    )


def test_typescript_doc_comments_give_the_description_of_an_optional_value(tmp_path: Path) -> None:
    # Pydantic writes `Annotated[str, Field(description=...)] | None`'s description on the
    # branch of its `anyOf` that is not `null`: it was in no comment. One reached through a `$ref`
    # is the named type's, which its declaration gives.
    Inner = create_model(
        "Inner",
        note=(Annotated[str, Field(description="A note.", max_length=9)] | None, None),
        size=(Annotated[int, Field(description="Its own.")] | None, Field(default=None, description="The field's.")),
    )
    properties = {
        **Inner.model_json_schema()["properties"],
        "named": {"anyOf": [component("Named"), {"type": "null"}]},
    }
    text = generate(limited_document(properties, Named={"type": "string", "description": "A named type."}))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "  /**\n   * A note.\n   * At most 9 characters.\n   * @default null\n   */\n"
            "  note?: string | null;\n"
            "  /**\n   * The field's.\n   * @default null\n   */\n  size?: number | null;\n"
            "  named?: Named | null;\n",
            "/** A named type. */\nexport type Named = string;",
        ],
    )


def test_typescript_doc_comments_give_a_parameter_s_description_in_place_of_its_schema_s(tmp_path: Path) -> None:
    # The parameter's description takes the place of its schema's, also of one on the branch
    # that is not `null`: both were given, the parameter's first.
    document = limited_document({})
    inner = {"anyOf": [{"type": "string", "description": "Its schema's."}, {"type": "null"}]}
    document["paths"]["/e"]["get"]["parameters"] = [
        {"name": "q", "in": "query", "description": "The parameter's.", "schema": inner},
        {"name": "r", "in": "query", "schema": inner},
    ]
    text = generate(document)
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "        /** The parameter's. */\n        q?: string | null | undefined;\n"
            "        /** Its schema's. */\n        r?: string | null | undefined;\n"
        ],
    )


def test_typescript_doc_comments_give_the_limits_a_union_s_branches_share(tmp_path: Path) -> None:
    # Pydantic writes a `Decimal`'s limits on the number of `anyOf: [number, string]` (and checks
    # them on a string's value too): they were lost. Branches that say the same say it of any
    # value; branches that differ say nothing of the field as a whole.
    Prices = create_model("Prices", price=(Decimal, Field(ge=0, le=10)))
    number = {"type": "number", "maximum": 5}
    properties = {
        **Prices.model_json_schema(mode="validation")["properties"],
        # `Decimal | None` with `gt=1`, as recent Pydantic versions write it (2.7 drops the limit).
        "cut": {"anyOf": [{"type": "number", "exclusiveMinimum": 1}, {"type": "string"}, {"type": "null"}]},
        "digits": {"anyOf": [number, {"type": "string", "pattern": "^[0-9]+$"}]},
        "apart": {"oneOf": [{"type": "string", "maxLength": 3}, {"type": "null"}, {"type": "array", "maxItems": 3}]},
        "alike": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "number", "minimum": 1}]},
        "unlike": {"anyOf": [number, {"type": "integer", "maximum": 6}]},
        "coded": {"anyOf": [number, {"type": "string", "format": "uuid"}]},
    }
    text = generate(limited_document(properties))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "  /** From 0 to 10. */\n  price?: number | string;\n"
            "  /** Greater than 1. */\n  cut?: number | string | null;\n"
            "  /**\n   * At most 5.\n   * Pattern: `^[0-9]+$`.\n   */\n  digits?: number | string;\n"
            "  apart?: string | null | unknown[];\n"
            "  /** At least 1. */\n  alike?: number;\n"
            "  unlike?: number;\n"
            "  coded?: number | string;\n"
        ],
    )


def test_typescript_doc_comments_break_lines_where_javascript_does(tmp_path: Path) -> None:
    # A description's CR, U+2028 and U+2029 end a line in the comment as LF does, but were left
    # inside one of its lines: the next line started without its ` * `, at column 0.
    description = "First.\rSecond.\u2028Third.\u2029Fourth.\r\nFifth.\r"
    text = generate(limited_document({"x": {"type": "string", "description": description}}))
    assert_declares_and_compiles(
        tmp_path,
        text,
        ["  /**\n   * First.\n   * Second.\n   * Third.\n   * Fourth.\n   * Fifth.\n   */\n  x?: string;\n"],
    )
    assert not re.search("[\r\u2028\u2029]", text)


def test_typescript_types_inline_events_of_one_name_by_their_own_data(tmp_path: Path) -> None:
    # `tick` is a number on one route and text on the other: one type for both would be wrong for either.
    def stream(branch: dict[str, Any]) -> dict[str, Any]:
        return {"get": {"responses": {"200": {"content": {"text/event-stream": {"schema": branch}}}}}}

    document = {
        "openapi": "3.1.0",
        "info": {"title": "same names", "version": "1"},
        "paths": {
            "/counts": stream(event_schema("tick", json_data({"type": "integer"}))),
            "/labels": stream(event_schema("tick", json_data({"type": "string"}))),
            "/more-counts": stream(event_schema("tick", json_data({"type": "integer"}))),
        },
    }
    text = generate(document)
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            'export interface TickEvent {\n  event: "tick";\n  id?: string;\n  data: number;\n}',
            'export interface TickEvent2 {\n  event: "tick";\n  id?: string;\n  data: string;\n}',
        ],
    )
    routes = text.split("export interface Streams {")[1].split("\n}\n")[0]
    assert re.findall(r"event: (\w+);", routes) == ["TickEvent", "TickEvent2", "TickEvent"]


def component(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def union_document(item: object, **schemas: Any) -> dict[str, Any]:
    """A document whose one stream has the item schema `item`, with a component per event (and `schemas`)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "unions", "version": "1"},
        "paths": {"/p": {"get": {"responses": {"200": {"content": {"text/event-stream": {"schema": item}}}}}}},
        "components": {
            "schemas": {
                "Tick": event_schema("tick", json_data({"type": "integer"})),
                "Note": event_schema("note", {"type": "string"}),
                "Done": event_schema("done", json_data({"type": "null"})),
                **schemas,
            }
        },
    }


def test_typescript_reads_a_stream_whose_items_refer_to_a_union(tmp_path: Path) -> None:
    # A stream's items as a union component, or a union with a union among its branches: the
    # route was left out without a word, as if its stream were untyped.
    events = [component("Tick"), component("Note"), component("Done")]
    unions = {
        "Events": {"oneOf": events},
        "Updates": {"anyOf": [component("Note"), component("Done")]},
        "Nested": {"oneOf": [component("Tick"), component("Updates")]},
        "Again": component("Nested"),
    }
    inline = generate(union_document({"oneOf": events}, **unions))
    assert "      event: Tick | Note | Done;\n" in inline
    assert '      events: { tick: "json", note: "text", done: "json" },\n' in inline
    for item in [
        component("Events"),
        component("Nested"),
        component("Again"),
        {"oneOf": [component("Tick"), component("Updates")]},
        {"anyOf": [component("Tick"), {"oneOf": [component("Note"), component("Done")]}]},
        # Unions sharing an event give it once (it was listed twice, and the file did not compile).
        {"oneOf": [component("Tick"), component("Updates"), component("Note")]},
        {"oneOf": [component("Nested"), component("Updates"), component("Events")]},
    ]:
        assert generate(union_document(item, **unions)) == inline, item
    assert_declares_and_compiles(tmp_path, inline, ['export interface Tick {\n  event: "tick";\n'])


@pytest.mark.parametrize(
    ("item", "schemas", "message"),
    [
        (
            component("Events"),
            {"Events": {"oneOf": [component("Tick"), component("Events")]}},
            "GET /p: the union '#/components/schemas/Events' contains itself",
        ),
        (
            component("Events"),
            {"Events": {"oneOf": [component("Tick"), component("More")]}, "More": {"anyOf": [component("Events")]}},
            "GET /p: the union '#/components/schemas/Events' contains itself",
        ),
        (
            component("Events"),
            {"Events": {"oneOf": component("Tick")}},
            "GET /p: the event stream's oneOf #/components/schemas/Events/oneOf is an object, not a list of schemas",
        ),
        (
            {"anyOf": []},
            {},
            "GET /p: the event stream's anyOf "
            "#/paths/~1p/get/responses/200/content/text~1event-stream/schema/anyOf is an empty array, "
            "not a list of schemas",
        ),
        (
            {"oneOf": [component("Tick"), "note"]},
            {},
            "GET /p: #/paths/~1p/get/responses/200/content/text~1event-stream/schema/oneOf/1 "
            'in the event stream\'s item schema is "note", not a schema',
        ),
        (
            component("Events"),
            {},
            "#/paths/~1p/get/responses/200/content/text~1event-stream/schema/$ref: "
            "the reference '#/components/schemas/Events' points to nothing in the document",
        ),
        (
            {"oneOf": [component("Note"), component("Other")]},
            {"Other": event_schema("note", json_data({"type": "integer"}))},
            "GET /p: the event stream has two events named 'note', with different schemas",
        ),
    ],
    ids=[
        "contains-itself",
        "contains-itself-through-another",
        "not-a-list",
        "empty",
        "not-a-schema",
        "broken",
        "one-name-two-schemas",
    ],
)
def test_typescript_rejects_a_stream_union_it_cannot_read(item: object, schemas: dict[str, Any], message: str) -> None:
    # Each dropped the route, as if its stream were untyped.
    with pytest.raises(DocumentError, match=rf"^{re.escape(message)}$"):
        generate(union_document(item, **schemas))


class Beat(BaseEvent[int]): ...


heads = FastAPI(title="a stream that answers HEAD too")


@heads.api_route("/beats", methods=["GET", "HEAD"], operation_id="beats")
@sse()
async def beats() -> AsyncIterator[Beat]:
    yield Beat(data=1)


def test_typescript_leaves_out_head_which_sends_no_events(tmp_path: Path) -> None:
    # A response to HEAD has no body: listing it as a second method made `method` required, and
    # `subscribe` with it would get headers and never an event.
    with pytest.warns(UserWarning, match=r"^Duplicate Operation ID beats"):  # FastAPI's, for any such route
        text = generate(document_of(heads))
    assert '  "/beats": {\n    /** Beats */\n    GET: {\n' in text
    assert "HEAD:" not in text
    require_toolchain()
    usage = 'import { subscribe } from "./events";\n\nsubscribe("/beats", {}, { beat: (e) => e.data.toFixed() });\n'
    result = tsc(project(tmp_path, {"events.ts": text, "usage.ts": usage}, config="tsconfig.json"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def stream_response() -> dict[str, Any]:
    return {"content": {"text/event-stream": {"itemSchema": event_schema("tick", json_data({"type": "integer"}))}}}


@pytest.mark.parametrize(
    ("responses", "status"),
    [
        ({"200": stream_response()}, None),
        ({"201": stream_response()}, 201),
        ({"200": {"content": {"application/json": {}}}, "201": stream_response(), "422": {}}, 201),
        ({"201": stream_response(), "202": stream_response()}, 201),  # the first, as for the events
        ({"2XX": stream_response()}, None),  # a range or `default` names no one status: 200, as EventSource
        ({"default": stream_response()}, None),
        ({"204": stream_response(), "206": stream_response()}, 206),  # a 204 has no body: no stream
    ],
    ids=["200", "201", "201-after-json", "first-of-two", "range", "default", "not-204"],
)
def test_typescript_route_table_gives_the_documented_status_of_a_stream_other_than_200(
    responses: dict[str, Any], status: int | None
) -> None:
    document = {"openapi": "3.2.0", "info": {}, "paths": {"/ticks": {"post": {"responses": responses}}}}
    text = generate(document)
    start = text.index("const ROUTES: RouteTable = {")
    table = text[start : text.index("\n};\n", start)]
    # Only a route whose stream is not sent with 200 says so: the table of every other stays as it was.
    line = "" if status is None else f"      status: {status},\n"
    assert f"      body: null,\n{line}    }},\n" in table
    assert table.count("status:") == (0 if status is None else 1)


def test_typescript_ignores_an_event_stream_documented_as_a_204() -> None:
    document = {"openapi": "3.2.0", "info": {}, "paths": {"/ticks": {"get": {"responses": {"204": stream_response()}}}}}
    with pytest.raises(DocumentError, match=r"^the OpenAPI document describes no typed event stream"):
        generate(document)


created = FastAPI(title="a GET stream sent with 201")


@created.get("/beats")
@sse(status_code=201)
async def created_beats() -> AsyncIterator[Beat]:
    """Beats."""
    yield Beat(data=1)


def test_typescript_says_a_get_stream_sent_with_another_status_than_200_is_not_for_eventsource() -> None:
    text = generate(document_of(created))
    assert (
        "    /**\n"
        "     * Beats.\n"
        "     * Streams with HTTP 201: `subscribe` reads it, a browser's `EventSource` fails on any status but 200.\n"
        "     */\n"
        "    GET: {\n"
    ) in text
    assert "      body: null,\n      status: 201,\n    },\n" in text


def form_document(*, resumable: bool = False) -> dict[str, Any]:
    """A document whose `POST /login` stream takes a form body."""
    login = {
        "type": "object",
        "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
        "required": ["username", "password"],
    }
    form = {"content": {"application/x-www-form-urlencoded": {"schema": login}}, "required": True}
    media: dict[str, Any] = {"schema": event_schema("hello", {"type": "string"})}
    if resumable:
        media["x-typedsse"] = {"resumable": True}
    return {
        "openapi": "3.1.0",
        "info": {"title": "a form body", "version": "1"},
        "paths": {
            "/login": {"post": {"requestBody": form, "responses": {"200": {"content": {"text/event-stream": media}}}}}
        },
    }


def test_typescript_types_a_body_that_is_not_json_as_what_fetch_sends(tmp_path: Path) -> None:
    # A form is sent as it is given: typed `unknown`, an object compiled and went out as "[object Object]".
    text = generate(form_document())
    assert "      body: RawBody;\n" in text
    assert '      body: "raw",\n' in text
    require_toolchain()
    usage = (
        'import { subscribe } from "./events";\n\n'
        'subscribe("/login", { body: new URLSearchParams({ username: "u", password: "p" }) }, {});\n'
        'subscribe("/login", { body: new Blob(["username=u&password=p"]) }, {});\n'
        "// @ts-expect-error: an object is not a form\n"
        'subscribe("/login", { body: { username: "u", password: "p" } }, {});\n'
        "// @ts-expect-error: a stream could not be sent again on a reconnection\n"
        'subscribe("/login", { body: new ReadableStream<Uint8Array>() }, {});\n'
    )
    result = tsc(project(tmp_path, {"events.ts": text, "usage.ts": usage}, config="tsconfig.json"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


STREAM_BODY_CLIENT = """\
import { subscribe } from "./events.js";

// Node's `fetch` takes an async iterable as a stream too: neither type-checks, nor is sent.
export function refused(): void {
  // @ts-expect-error: a stream could not be sent again on a reconnection
  subscribe("/login", { body: new ReadableStream<Uint8Array>() }, {});
  // @ts-expect-error: nor could an async iterable
  subscribe("/login", { body: (async function* () {})() }, {});
}

const sent: unknown[] = [];
const fetch = (async (_url: string | URL | Request, init?: RequestInit) => {
  sent.push(String(init?.body));
  return new Response(null, { status: 204 });
}) as typeof globalThis.fetch;
const results: string[] = [];
const streams: unknown[] = [
  new ReadableStream<Uint8Array>(),
  (async function* () {
    yield new TextEncoder().encode("username=u&password=p");
  })(),
];
for (const body of streams) {
  try {
    subscribe("/login", { baseUrl: "http://127.0.0.1:9", fetch, body: body as never }, {});
    results.push("accepted");
  } catch (error) {
    results.push(error instanceof TypeError ? error.message : String(error));
  }
}
const form = new URLSearchParams({ username: "u", password: "p" });
const end = await subscribe("/login", { baseUrl: "http://127.0.0.1:9", fetch, body: form }, {}).done;
console.log(JSON.stringify({ results, sent, end }));
"""


def test_typescript_client_refuses_a_stream_body_at_once(tmp_path: Path) -> None:
    # `fetch` sends a stream only with `duplex: "half"`, which the client does not set, and a
    # reconnection could not send it again: each attempt failed as a network failure, and a route
    # that resumes retried for ever.
    require_toolchain()
    assert NODE is not None
    out = tmp_path / "out"
    sources = {"events.ts": generate(form_document(resumable=True)), "client.ts": STREAM_BODY_CLIENT}
    result = tsc(project(tmp_path / "src", sources, config="tsconfig.node.json", out_dir=str(out)))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    (out / "package.json").write_text('{"type": "module"}\n', encoding="utf-8")

    result = run([NODE, "client.js"], cwd=out)

    assert (result.returncode, result.stderr) == (0, "")
    refusal = (
        'the body of POST /login is a stream, which fetch sends only with `duplex: "half"`, and which a '
        "reconnection could not send again: give `body` as a Blob, text or bytes"
    )
    assert json.loads(result.stdout) == {
        "results": [refusal, refusal],
        "sent": ["username=u&password=p"],
        "end": {"reason": "no-content"},
    }


def test_typescript_reads_a_document_without_the_extension() -> None:
    document = document_of(echo.app)
    bare = json.loads(json.dumps(document).replace('"x-typedsse"', '"x-other"'))
    text = generate(bare)
    assert "      event: Echo | ReverseEcho | StreamError;\n" in text
    assert "      terminal: [],\n      resumable: false,\n" in text  # facts only the extension gives


def test_typescript_reconnects_a_route_the_extension_marks_resumable_not_one_declaring_the_header() -> None:
    # The `reconnect` option's comment said a route that takes `Last-Event-ID` reconnects, but a
    # hand-written document declaring that header did not: resuming is a promise of no duplicates
    # or gaps, which only the extension makes. The comment and the page say where it is read.
    def generated_with(media: dict[str, Any]) -> str:
        header = {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}
        document = copy.deepcopy(HANDWRITTEN)
        inline = document["paths"]["/inline"]
        inline["get"]["parameters"] = [header]
        inline["get"]["responses"]["200"]["content"]["text/event-stream"].update(media)
        return generate(document)

    route = '  "/inline": {\n    GET: {\n      events: { "clock.tick": "json", note: "text" },\n      terminal: [],\n'
    declared = generated_with({})
    assert f"{route}      resumable: false,\n" in declared
    # The client sends `Last-Event-ID` itself, from `lastEventId`: it is no header of the route's type.
    assert "      query: { since?: number | null | undefined };\n      headers: {};\n" in declared
    assert f"{route}      resumable: true,\n" in generated_with({"x-typedsse": {"resumable": True}})
    comment = re.search(r"/\*\*\n((?:   \*.*\n)*?)   \*/\n  reconnect\?:", runtime_source())
    assert comment is not None
    assert "`x-typedsse`" in comment[1]
    assert "header parameter alone" in comment[1]
    docs = (ROOT / "docs" / "typescript.md").read_text(encoding="utf-8")
    assert 'add `"x-typedsse": {"resumable": true}`' in docs


class Settings(BaseModel):
    x: int


class Choice(BaseModel):
    y: str


class Constant(BaseModel):
    z: bool


class Sample(BaseModel):
    w: float


class Samples(BaseModel):
    v: list[int]


class Config(BaseModel):
    """Fields named like JSON Schema keywords whose values are literals, each a model used nowhere else."""

    default: Settings
    enum: Choice
    const: Constant | None = None
    example: Sample
    examples: list[Samples] = []


class Changed(BaseEvent[Config]): ...


keyword_fields = FastAPI(title="fields named like keywords")


@keyword_fields.get("/settings")
@sse()
async def settings_changes() -> AsyncIterator[Changed]:
    yield Changed(data=Config(default=Settings(x=1), enum=Choice(y="a"), example=Sample(w=0.5)))


def assert_declares_and_compiles(tmp_path: Path, text: str, declarations: list[str]) -> None:
    """`text` holds every declaration, and compiles under the strict configuration."""
    for declaration in declarations:
        assert declaration in text, declaration
    require_toolchain()
    result = tsc(project(tmp_path, {"events.ts": text}, config="tsconfig.json"))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_typescript_types_a_number_that_is_not_finite_as_number(tmp_path: Path) -> None:
    # `1e400` (valid JSON, too large for a double), `NaN` and `-Infinity`, which Python's `json`
    # reads, or a float enum's `float("inf")`: the type was the value, `x?: Infinity`, which does
    # not compile (error TS2749: 'Infinity' refers to a value, but is being used as a type here).
    payload = {
        "type": "object",
        "properties": {"x": {"enum": [1.5, "INF"]}, "y": {"const": "NAN"}, "z": {"const": "-INF"}},
        "required": ["x", "y", "z"],
    }
    document = {
        "openapi": "3.1.0",
        "info": {"title": "not finite", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "responses": {
                        "200": {"content": {"text/event-stream": {"itemSchema": event_schema("e", json_data(payload))}}}
                    }
                }
            }
        },
    }
    text = json.dumps(document).replace('"INF"', "1e400").replace('"NAN"', "NaN").replace('"-INF"', "-Infinity")
    assert_declares_and_compiles(
        tmp_path, generate(json.loads(text)), ["  data: { x: 1.5 | number; y: number; z: number };\n"]
    )


def test_typescript_declares_models_of_fields_named_like_literal_keywords(tmp_path: Path) -> None:
    text = generate(document_of(keyword_fields))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            "export interface Config {\n  default: Settings;\n  enum: Choice;\n  const?: Constant | null;\n"
            "  example: Sample;\n  /** @default [] */\n  examples?: Samples[];\n}",
            "export interface Settings {\n  x: number;\n}",
            "export interface Choice {\n  y: string;\n}",
            "export interface Constant {\n  z: boolean;\n}",
            "export interface Sample {\n  w: number;\n}",
            "export interface Samples {\n  v: number[];\n}",
        ],
    )


def test_typescript_types_a_list_header_as_the_one_value_fetch_can_send(tmp_path: Path) -> None:
    # FastAPI reads `list[str] = Header()` from repeated header lines, which `fetch` cannot send:
    # typed `string[]`, the header accepted no value at all (error TS2322), so the route could
    # not be called.
    app = FastAPI()

    class Tag(BaseEvent[str]): ...

    @app.get("/tags")
    @sse()
    async def tags(
        x_tag: Annotated[list[str], Header()], x_trace: Annotated[list[int] | None, Header()] = None
    ) -> AsyncIterator[Tag]:
        yield Tag(data=",".join(x_tag))

    text = generate(document_of(app))
    note = "Sent once: `fetch` joins repeated headers into one, so the server reads a list of one value."
    doc = f"        /**\n         * {note}\n         */\n"
    assert_declares_and_compiles(
        tmp_path,
        text + 'subscribe("/tags", { baseUrl: "http://127.0.0.1:9", headers: { "x-tag": "a", "x-trace": 7 } }, {});\n',
        [f'{doc}        "x-tag": string;\n{doc}        "x-trace"?: number | null | undefined;\n'],
    )


@pytest.mark.parametrize("name", ["NonNullable", "Date", "NaN", "globalThis"])
def test_typescript_renames_a_schema_named_like_a_global_type_the_runtime_uses(name: str, tmp_path: Path) -> None:
    # The runtime casts a request body with the global `NonNullable<T>`: a schema of that name
    # declared in the module would shadow it (error TS2315: Type 'NonNullable' is not generic).
    # `Date` and `NaN`, which it reads a `Retry-After` date with, were left to a schema named so,
    # and so was `globalThis`, which it reads the page's location from.
    payload = {"type": "object", "properties": {"size": {"type": "integer"}}, "required": ["size"]}
    document = {
        "openapi": "3.1.0",
        "info": {"title": "globals", "version": "1"},
        "paths": {
            "/sizes": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "text/event-stream": {
                                    "schema": event_schema("size", json_data({"$ref": f"#/components/schemas/{name}"}))
                                }
                            }
                        }
                    }
                }
            }
        },
        "components": {"schemas": {name: payload}},
    }
    assert_declares_and_compiles(
        tmp_path,
        generate(document),
        [f"export interface {name}2 {{\n  size: number;\n}}", f"  data: {name}2;\n"],
    )


def test_typescript_names_an_event_class_named_like_its_payload_without_their_modules(tmp_path: Path) -> None:
    # The document qualified both with their modules, and the types were `shop__events__Message`
    # and `shop__models__Message`. The event keeps its name, as where any schema would like it.
    message = create_model("Message", __module__="shop.models", text=(str, ...))
    event = type("Message", (BaseEvent[message],), {"__module__": "shop.events"})  # type: ignore[valid-type]
    app = FastAPI()

    @app.get("/messages")
    @sse()
    async def messages() -> AsyncIterator[event]:  # type: ignore[valid-type]
        yield event(data=message(text="hi"))

    assert_declares_and_compiles(
        tmp_path,
        generate(typedsse.openapi.document(app)),
        [
            "export interface Message2 {\n  text: string;\n}",
            'export interface Message {\n  event: "message";\n  id?: string;\n  data: Message2;\n}',
        ],
    )


# A `/` after these words begins a regular expression, not a division.
_BEFORE_A_REGEX = frozenset(
    ["await", "case", "delete", "do", "else", "in", "instanceof", "new", "of", "return", "throw", "typeof", "void"]
)
_QUOTED = re.compile(r"'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"")
_WORD = re.compile(r"[\w$]+")


def typescript_code(source: str) -> str:
    """`source` without its comments, its strings, template texts and regular expressions each `""`.

    Read token by token: a quote or a backtick in a regular expression (`/^[!#$%&'*+.^_`|~]+$/`)
    begins no string, and the code in a template's `${...}` is kept.
    """
    code: list[str] = []
    assert _read_code(source, 0, code, in_template=False) == len(source)
    return "".join(code)


def _read_code(source: str, at: int, code: list[str], *, in_template: bool) -> int:
    """Read code from `at` into `code`, to the end or past the `}` closing a `${`; return where it stopped."""
    depth = 0
    regex = True  # a `/` here begins a regular expression
    while at < len(source):
        char = source[at]
        if source.startswith("//", at):
            end = source.find("\n", at)
            at = len(source) if end < 0 else end
        elif source.startswith("/*", at):
            at = source.index("*/", at) + 2
            code.append(" ")
        elif quoted := _QUOTED.match(source, at):
            at = quoted.end()
            code.append('""')
            regex = False
        elif char == "`":
            code.append('""')
            at += 1
            while source[at] != "`":
                if source.startswith("${", at):
                    code.append(" ")
                    at = _read_code(source, at + 2, code, in_template=True)
                    code.append(" ")
                else:
                    at += 2 if source[at] == "\\" else 1
            at += 1
            regex = False
        elif char == "/" and regex:
            end, in_class = at + 1, False
            while in_class or source[end] != "/":
                assert source[end] != "\n", f"not a regular expression: {source[at:end]}"
                in_class = (in_class or source[end] == "[") and source[end] != "]"
                end += 2 if source[end] == "\\" else 1
            flags = _WORD.match(source, end + 1)
            at = flags.end() if flags else end + 1
            code.append('""')
            regex = False
        elif word := _WORD.match(source, at):
            at = word.end()
            code.append(word[0])
            regex = word[0] in _BEFORE_A_REGEX
        else:
            if in_template and char in "{}":
                if char == "}" and depth == 0:
                    return at + 1
                depth += 1 if char == "{" else -1
            at += 1
            code.append(char)
            if not char.isspace():
                regex = char not in ")]}"
    assert not in_template, "a template's ${ is not closed"
    return at


def test_typescript_reserves_every_global_type_the_runtime_names() -> None:
    # A schema named like a global the runtime uses shadows it (a model called
    # `ReadableStreamDefaultReader` broke compilation). Read the runtime's code, comments and
    # strings left out, for capitalised names it uses but does not declare. Read with a regex,
    # the quote in the regular expression of `setHeaders` began a string, which hid the rest
    # of the runtime (its `Date` and `NaN`, not reserved) from the check.
    code = typescript_code(runtime_source())
    used = set(re.findall(r"(?<![\w$.])([A-Z][\w$]+)", code))  # one letter: a type parameter
    declared = set(_DECLARATION.findall(runtime_source())) | {"Streams", "ROUTES", "SERVER_PATH"}
    assert used - declared - _GLOBALS == set()
    assert {"ReadableStreamDefaultReader", "TextEncoder", "Date", "NaN"} <= used
    assert (
        typescript_code(
            "const a = /'`[/]\\//g.test(`${JSON.stringify('x')} // ${`${Url}`}`); // Note\nb = a / Two / 2;"
        )
        == 'const a = "".test("" JSON.stringify("")  "" Url  ); \nb = a / Two / 2;'
    )


def test_typescript_reserves_every_global_value_the_runtime_names() -> None:
    # The check above reads capitalised names alone: `globalThis`, which the runtime reads the
    # page's location from, was left to a schema named so. Read the runtime's lower-case names
    # that the TypeScript libraries declare as globals, but for those it binds itself (its
    # variables and functions, the keys and parameters before a `:`, the methods it declares).
    require_toolchain()
    code = typescript_code(runtime_source())
    used = set(re.findall(r"(?<![\w$.])([a-z][\w$]*)(?![\w$])(?!\??:)", code))
    bound = set(re.findall(r"\b(?:const|let|var|function)\s+([\w$]+)", code))
    bound |= set(re.findall(r"^\s+([\w$]+)\(.*\): [^=>\n]*;$", code, re.MULTILINE))  # `close(): void;`
    declaration = re.compile(r"^declare (?:var|let|const|function|namespace) ([\w$]+)", re.MULTILINE)
    libraries = [path.read_text(encoding="utf-8") for path in (TS / "node_modules/typescript/lib").glob("lib.*.d.ts")]
    lib_globals = {name for library in libraries for name in declaration.findall(library)}
    lib_globals.add("globalThis")  # TypeScript's own, declared in no library
    assert (used & lib_globals) - bound - _GLOBALS == set()
    assert {"fetch", "setTimeout", "globalThis"} <= used & lib_globals


def test_typescript_runtime_says_it_needs_the_globals_the_docs_list() -> None:
    # The generated file's own comment is what a reader of it has: it listed four of the seven.
    docs = (ROOT / "docs" / "typescript.md").read_text(encoding="utf-8")
    listed = re.search(r"The module needs (.*?): every browser", docs, re.DOTALL)
    header = re.search(r"// Needs (.*?): any browser", runtime_source(), re.DOTALL)
    assert listed is not None
    assert header is not None
    needed = re.findall(r"`(\w+)`", listed[1])
    assert re.findall(r"`(\w+)`", header[1]) == needed
    code = re.sub(r"/\*.*?\*/|//[^\n]*", " ", runtime_source(), flags=re.DOTALL)
    assert [name for name in needed if re.search(rf"(?<![\w.]){name}\b", code) is None] == []


def test_typescript_route_table_holds_events_named_like_members_of_every_object(tmp_path: Path) -> None:
    # In an object literal, `__proto__: "json"` (quoted or not) sets the prototype instead of adding
    # the event; under `toString` or `constructor`, TypeScript widened "json" to string (TS2322).
    document = copy.deepcopy(HANDWRITTEN)
    branches = document["paths"]["/inline"]["get"]["responses"]["200"]["content"]["text/event-stream"]["itemSchema"]
    for name in ["__proto__", "constructor", "toString"]:
        branches["oneOf"].append(event_schema(name, json_data({"type": "integer"})))
    assert_declares_and_compiles(
        tmp_path,
        generate(document),
        [
            '        "clock.tick": "json",\n        note: "text",\n        ["__proto__"]: "json",\n'
            '        constructor: "json" as const,\n        toString: "json" as const,\n',
            '  event: "__proto__";\n',
            '  event: "constructor";\n',
        ],
    )


def test_typescript_follows_references_under_every_keyword_that_maps_names_to_schemas() -> None:
    def component(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    payload = {
        "type": "object",
        "properties": {"default": component("A"), "examples": {"type": "array", "items": component("B")}},
        "patternProperties": {"^enum$": component("C")},
        "dependentSchemas": {"const": {"properties": {"example": component("D")}}},
        "$defs": {"default": {"type": "object", "properties": {"e": component("E")}}},
        "additionalProperties": {"$ref": "#/components/schemas/Payload/$defs/default"},
        "default": {"$ref": "#/components/schemas/NotASchema"},  # a literal value, not a reference
    }
    names = ["A", "B", "C", "D", "E"]
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "paths": {
            "/p": {
                "get": {
                    "responses": {
                        "200": {
                            "content": {
                                "text/event-stream": {"schema": event_schema("p", json_data(component("Payload")))}
                            }
                        }
                    }
                }
            }
        },
        "components": {"schemas": {"Payload": payload, **{name: {"type": "string"} for name in names}}},
    }
    text = generate(document)
    for name in names:
        assert f"export type {name} = string;" in text, name
    # Only as the value of the `@default` of `Payload`'s declaration.
    assert '/** @default {"$ref": "#/components/schemas/NotASchema"} */\nexport type Payload = {' in text
    assert "NotASchema" not in re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)


# The walk for the schemas a module declares went into OpenAPI's extensions, whose values are
# any JSON: a model's `json_schema_extra={"x-links": {"$ref": "https://..."}}` made the whole
# generation fail with "cannot follow ...: only references inside the document are supported".
class Order(BaseModel):
    customer: int = Field(json_schema_extra={"x-links": {"customer": {"$ref": "https://example.com/customer.json"}}})
    note: str = Field(json_schema_extra={"x-see": {"$ref": "#/components/schemas/Unrelated"}})


class OrderPlaced(BaseEvent[Order]): ...


class Unrelated(BaseModel):
    x: int


ordering = FastAPI(title="extensions")


@ordering.get("/orders")
@sse()
async def orders() -> AsyncIterator[OrderPlaced]:
    yield OrderPlaced(data=Order(customer=1, note=""))


@ordering.get("/unrelated")
def unrelated() -> Unrelated:
    return Unrelated(x=1)


def test_typescript_leaves_the_values_of_extensions_as_they_are() -> None:
    text = generate(document_of(ordering))
    assert "export interface Order {\n  customer: number;\n  note: string;\n}" in text
    assert "Unrelated" not in text


class Post(BaseModel):
    title: str


class Posted(BaseEvent[Post]): ...


class Digest(BaseEvent[list[Posted]]): ...


publishing = FastAPI(title="an event class as a model too")


@publishing.get("/posts")
@sse()
async def posts() -> AsyncIterator[Posted | Digest]:
    yield Posted(data=Post(title="t"))


def test_typescript_types_an_event_class_nested_in_a_payload_as_the_model_it_is(tmp_path: Path) -> None:
    text = generate(document_of(publishing))
    assert_declares_and_compiles(
        tmp_path,
        text,
        [
            # The event keeps its class's name; the class as a model (as the payload sends it) gets a number.
            'export interface Posted {\n  event: "posted";\n  id?: string;\n  data: Post;\n}',
            "export interface Posted2 {\n  data: Post;\n"
            "  /** Pattern: `^(?:[^\\x00-\\x1f\\x7f ](?:[^\\x00-\\x08\\x0a-\\x1f\\x7f]*[^\\x00-\\x1f\\x7f ])?)?$`. */\n"
            "  id?: string | null;\n  /** From 0 to 2147483647. */\n  retry?: number | null;\n}",
            'export interface Digest {\n  event: "digest";\n  id?: string;\n  data: Posted2[];\n}',
        ],
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"openapi": "3.0.3", "paths": {}}, "expected an OpenAPI 3.1 or 3.2 document, got openapi='3.0.3'"),
        ({"openapi": "3.1.0", "paths": {}}, "the OpenAPI document describes no typed event stream"),
        (
            {
                "openapi": "3.1.0",
                "paths": {
                    "/x": {
                        "get": {
                            "responses": {
                                "200": {
                                    "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/X"}}}
                                }
                            }
                        }
                    }
                },
            },
            "#/paths/~1x/get/responses/200/content/text~1event-stream/schema/$ref: "
            "the reference '#/components/schemas/X' points to nothing in the document",
        ),
    ],
    ids=["openapi-3.0", "no-stream", "broken-reference"],
)
def test_typescript_rejects_unusable_documents(document: dict[str, Any], message: str) -> None:
    with pytest.raises(DocumentError, match=rf"^{re.escape(message)}"):
        generate(document)


# Malformed documents: `--from` reads any JSON file, so every value the generator reads may have
# the wrong JSON type. Each was a TypeError, AttributeError, KeyError or IndexError (or passed
# unnoticed); each is a DocumentError giving the value's JSON Pointer.

WELL_FORMED: dict[str, Any] = {
    # Every part of a document the generator reads: one stream described by its item schema
    # (`/p`), one by the extension (`/e`).
    "openapi": "3.1.0",
    "info": {"title": "well-formed", "version": "1"},
    "paths": {
        "/p": {
            "parameters": [{"name": "since", "in": "query", "schema": {"type": ["integer", "null"]}}],
            "post": {
                "summary": "A stream",
                "deprecated": False,
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": {"anyOf": [{"type": "string"}, {}]}},
                    {"name": "X-Tags", "in": "header", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "f", "in": "query", "content": {"application/json": {"schema": {"type": "number"}}}},
                ],
                "requestBody": {"required": True, "content": {"application/json": {"schema": component("Payload")}}},
                "responses": {
                    "200": {
                        "content": {
                            "text/event-stream": {"itemSchema": {"oneOf": [component("Tick"), component("Note")]}}
                        }
                    }
                },
            },
        },
        "/e": {
            "get": {
                "responses": {
                    "2XX": {
                        "content": {
                            "text/event-stream": {
                                "x-typedsse": {
                                    "events": {
                                        "tick": {"schema": "#/components/schemas/Tick", "encoding": "json"},
                                        "note": {"schema": "#/components/schemas/Note", "encoding": "text"},
                                    },
                                    "errorEvents": ["note"],
                                    "resumable": True,
                                }
                            }
                        }
                    }
                }
            }
        },
    },
    "components": {
        "schemas": {
            "Tick": {**event_schema("tick", json_data(component("Payload"))), "description": "A tick."},
            "Note": event_schema("note", {"type": "string"}),
            "Payload": {
                "type": "object",
                "description": "What a tick carries.",
                "required": ["n"],
                "properties": {
                    "n": {"type": "integer", "format": "int64", "nullable": True, "deprecated": False},
                    "tags": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "maxItems": 3,
                        "uniqueItems": True,
                    },
                    "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False},
                    "kind": {"enum": ["a", "b"]},
                    "scores": {"type": "object", "additionalProperties": {"type": "number"}, "maxProperties": 5},
                    "label": {"type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[a-z]+$"},
                    "size": {
                        "type": "number",
                        "minimum": 0,
                        "exclusiveMaximum": 10,
                        "multipleOf": 0.5,
                        "examples": [1],
                    },
                    "both": {"allOf": [{"$ref": "#/components/schemas/Payload/properties/kind"}]},
                    "either": {"oneOf": [{"type": "string"}, {"type": "null"}]},
                },
            },
        }
    },
}
_P = "#/paths/~1p/post"
_E = "#/paths/~1e/get/responses/2XX/content/text~1event-stream/x-typedsse"
_S = "#/components/schemas"


def replace(document: dict[str, Any], where: str, value: object) -> None:
    """Replace the value at the JSON Pointer `where` (`#/a/b`) of `document` with `value`."""
    *keys, last = [key.replace("~1", "/").replace("~0", "~") for key in where.split("/")[1:]]
    node: Any = document
    for key in keys:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value


def replaced(document: Mapping[str, Any], where: str, value: object) -> dict[str, Any]:
    """A copy of `document` with the value at `where` replaced."""
    copied = copy.deepcopy(dict(document))
    replace(copied, where, value)
    return copied


def nested_arrays(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


def test_typescript_generates_the_well_formed_document_of_the_malformed_cases() -> None:
    # The cases below each change one value of this document, which is read whole.
    text = generate(WELL_FORMED)
    assert "export interface Payload {\n  /** Format: `int64`. */\n  n: number | null;\n" in text
    assert '"X-Tags"?: string | undefined;' in text
    assert "  /**\n   * From 1 to 8 characters.\n   * Pattern: `^[a-z]+$`.\n   */\n  label?: string;\n" in text
    assert 'events: { tick: "json", note: "text" },\n      terminal: ["note"],\n      resumable: true,' in text


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("#/paths", [], "#/paths is an array, not an object"),
        ("#/paths/~1p", None, "#/paths/~1p is null, not an object"),
        ("#/paths/~1p/post", [], f"{_P} is an array, not an object"),
        ("#/paths/~1p/parameters", {}, "#/paths/~1p/parameters is an object, not an array"),
        ("#/paths/~1p/parameters/0", "since", '#/paths/~1p/parameters/0 is "since", not an object'),
        (f"{_P}/summary", 5, f"{_P}/summary is 5, not a string"),
        (f"{_P}/deprecated", "yes", f'{_P}/deprecated is "yes", not true or false'),
        (f"{_P}/parameters/0/in", 1, f"{_P}/parameters/0/in is 1, not a string"),
        (f"{_P}/parameters/0/name", ["q"], f"{_P}/parameters/0/name is an array, not a string"),
        (f"{_P}/parameters/0/required", "yes", f'{_P}/parameters/0/required is "yes", not true or false'),
        (f"{_P}/parameters/0/schema", 5, f"{_P}/parameters/0/schema is 5, not a schema (an object, true or false)"),
        (f"{_P}/parameters/0/schema/anyOf", True, f"{_P}/parameters/0/schema/anyOf is true, not an array"),
        (f"{_P}/parameters/0/schema/anyOf/1", "x", f'{_P}/parameters/0/schema/anyOf/1 is "x", not a schema'),
        (f"{_P}/parameters/1/schema/description", 1, f"{_P}/parameters/1/schema/description is 1, not a string"),
        (f"{_P}/parameters/1/schema/items/type", 1.5, f"{_P}/parameters/1/schema/items/type is 1.5, not a string"),
        (f"{_P}/parameters/2/content", [], f"{_P}/parameters/2/content is an array, not an object"),
        (
            f"{_P}/parameters/2/content/application~1json",
            1,
            f"{_P}/parameters/2/content/application~1json is 1, not an object",
        ),
        (f"{_P}/requestBody", "x", f'{_P}/requestBody is "x", not an object'),
        (f"{_P}/requestBody/content", [], f"{_P}/requestBody/content is an array, not an object"),
        (f"{_P}/requestBody/required", 1, f"{_P}/requestBody/required is 1, not true or false"),
        (f"{_P}/requestBody/content/application~1json", 1, f"{_P}/requestBody/content/application~1json is 1"),
        (f"{_P}/responses", [], f"{_P}/responses is an array, not an object"),
        (f"{_P}/responses/200", "x", f'{_P}/responses/200 is "x", not an object'),
        (f"{_P}/responses/200/content", 1, f"{_P}/responses/200/content is 1, not an object"),
        (f"{_P}/responses/200/content/text~1event-stream", 1, f"{_P}/responses/200/content/text~1event-stream is 1"),
        (
            f"{_P}/responses/200/content/text~1event-stream/itemSchema/oneOf/0/$ref",
            True,
            f"{_P}/responses/200/content/text~1event-stream/itemSchema/oneOf/0/$ref is true, not a string",
        ),
        (f"{_P}/responses/200/$ref", f"{_P}/responses/200", f"{_P}/responses/200/$ref: the reference"),
        (f"{_E}", 5, f"{_E} is 5, not an object"),
        (f"{_E}/events", [], f"{_E}/events is an array, not an object"),
        (f"{_E}/events/tick", 1, f"{_E}/events/tick is 1, not an object"),
        (f"{_E}/events/tick/schema", 1, f"{_E}/events/tick/schema is 1, not a string"),
        (f"{_E}/events/tick/schema", None, f"{_E}/events/tick/schema is null, not a string"),
        (f"{_E}/events/tick/encoding", "xml", f'{_E}/events/tick/encoding is "xml", not "json" or "text"'),
        (f"{_E}/errorEvents", "note", f'{_E}/errorEvents is "note", not an array'),
        (f"{_E}/errorEvents/0", ["note"], f"{_E}/errorEvents/0 is an array, not a string"),
        (f"{_E}/resumable", "true", f'{_E}/resumable is "true", not true or false'),
        (f"{_S}/Tick/description", 1, f"{_S}/Tick/description is 1, not a string"),
        (f"{_S}/Tick/properties", [], f"{_S}/Tick/properties is an array, not an object"),
        (f"{_S}/Tick/properties/event", "tick", f'{_S}/Tick/properties/event is "tick", not a schema'),
        (f"{_S}/Tick/properties/event", {"enum": "tick"}, f'{_S}/Tick/properties/event/enum is "tick", not an array'),
        (f"{_S}/Tick/properties/data/contentMediaType", 1, f"{_S}/Tick/properties/data/contentMediaType is 1"),
        (
            f"{_S}/Tick/properties/data/contentSchema/$ref",
            True,
            f"{_S}/Tick/properties/data/contentSchema/$ref is true, not a string",
        ),
        (f"{_S}/Payload", 5, f"{_S}/Payload is 5, not a schema (an object, true or false)"),
        (f"{_S}/Payload/type", 1.5, f"{_S}/Payload/type is 1.5, not a string or an array of strings"),
        (f"{_S}/Payload/type", ["object", None], f"{_S}/Payload/type/1 is null, not a string"),
        (f"{_S}/Payload/description", [], f"{_S}/Payload/description is an array, not a string"),
        (f"{_S}/Payload/required", "n", f'{_S}/Payload/required is "n", not an array'),
        (f"{_S}/Payload/required", [{"n": 1}], f"{_S}/Payload/required/0 is an object, not a string"),
        (f"{_S}/Payload/properties", ["n"], f"{_S}/Payload/properties is an array, not an object"),
        (f"{_S}/Payload/properties/n", 1, f"{_S}/Payload/properties/n is 1, not a schema"),
        (f"{_S}/Payload/properties/n/nullable", "yes", f'{_S}/Payload/properties/n/nullable is "yes", not true'),
        (f"{_S}/Payload/properties/n/format", 64, f"{_S}/Payload/properties/n/format is 64, not a string"),
        (f"{_S}/Payload/properties/n/deprecated", 0, f"{_S}/Payload/properties/n/deprecated is 0, not true"),
        (
            f"{_S}/Payload/properties/label/maxLength",
            "8",
            f'{_S}/Payload/properties/label/maxLength is "8", not a non-negative integer',
        ),
        (
            f"{_S}/Payload/properties/label/minLength",
            -1,
            f"{_S}/Payload/properties/label/minLength is -1, not a non-negative integer",
        ),
        (
            f"{_S}/Payload/properties/label/maxLength",
            1.5,
            f"{_S}/Payload/properties/label/maxLength is 1.5, not a non-negative",
        ),
        (f"{_S}/Payload/properties/label/pattern", 5, f"{_S}/Payload/properties/label/pattern is 5, not a string"),
        (f"{_S}/Payload/properties/size/minimum", "0", f'{_S}/Payload/properties/size/minimum is "0", not a number'),
        (
            f"{_S}/Payload/properties/size/exclusiveMaximum",
            None,
            f"{_S}/Payload/properties/size/exclusiveMaximum is null, not a number",
        ),
        (
            f"{_S}/Payload/properties/size/multipleOf",
            0,
            f"{_S}/Payload/properties/size/multipleOf is 0, not a number greater than 0",
        ),
        (
            f"{_S}/Payload/properties/size/examples",
            {},
            f"{_S}/Payload/properties/size/examples is an object, not an array",
        ),
        (
            f"{_S}/Payload/properties/tags/maxItems",
            True,
            f"{_S}/Payload/properties/tags/maxItems is true, not a non-negative integer",
        ),
        (
            f"{_S}/Payload/properties/tags/uniqueItems",
            "yes",
            f'{_S}/Payload/properties/tags/uniqueItems is "yes", not true or false',
        ),
        (
            f"{_S}/Payload/properties/scores/maxProperties",
            [],
            f"{_S}/Payload/properties/scores/maxProperties is an array, not a non-negative integer",
        ),
        (
            f"{_S}/Payload/properties/either/oneOf/0/maxLength",
            "3",
            f'{_S}/Payload/properties/either/oneOf/0/maxLength is "3", not a non-negative integer',
        ),
        (
            f"{_S}/Payload/properties/kind/minLength",
            "1",
            f'{_S}/Payload/properties/kind/minLength is "1", not a non-negative integer',
        ),
        (f"{_S}/Payload/maxProperties", "9", f'{_S}/Payload/maxProperties is "9", not a non-negative integer'),
        (f"{_S}/Payload/examples", "x", f'{_S}/Payload/examples is "x", not an array'),
        (f"{_S}/Payload/properties/tags/items", 1, f"{_S}/Payload/properties/tags/items is 1, not a schema"),
        (f"{_S}/Payload/properties/pair/prefixItems", {}, f"{_S}/Payload/properties/pair/prefixItems is an object"),
        (f"{_S}/Payload/properties/pair/items", None, f"{_S}/Payload/properties/pair/items is null, not a schema"),
        (f"{_S}/Payload/properties/kind/enum", "a", f'{_S}/Payload/properties/kind/enum is "a", not an array'),
        (
            f"{_S}/Payload/properties/scores/additionalProperties",
            "x",
            f'{_S}/Payload/properties/scores/additionalProperties is "x", not a schema',
        ),
        (f"{_S}/Payload/properties/both/allOf", 5, f"{_S}/Payload/properties/both/allOf is 5, not an array"),
        (f"{_S}/Payload/properties/both/allOf/0/$ref", [], f"{_S}/Payload/properties/both/allOf/0/$ref is an array"),
        (f"{_S}/Payload/properties/either/oneOf", {}, f"{_S}/Payload/properties/either/oneOf is an object"),
        (
            f"{_S}/Payload/properties/either",
            {"$ref": "#/nowhere"},
            f"{_S}/Payload/properties/either/$ref: the reference '#/nowhere' points to nothing in the document",
        ),
        (
            f"{_S}/Payload/properties/either",
            {"$ref": "other.json#/X"},
            f"{_S}/Payload/properties/either/$ref: cannot follow 'other.json#/X'",
        ),
        (
            f"{_S}/Payload/properties/either",
            nested_arrays(60),
            f"{_S}/Payload/properties/either: the schema holds schemas nested more than 50 deep",
        ),
    ],
)
def test_typescript_says_where_a_malformed_document_is_wrong(where: str, value: object, message: str) -> None:
    # `"type": 1.5` was a TypeError, `"$ref": true` an AttributeError, a parameter's schema with a
    # description that is not a string an IndexError, and so on.
    with pytest.raises(DocumentError, match=rf"^{re.escape(message)}"):
        generate(replaced(WELL_FORMED, where, value))


def test_typescript_rejects_a_document_that_is_not_an_object() -> None:
    # `generate(json.loads(text))` of a file holding an array: it was an AttributeError.
    with pytest.raises(DocumentError, match=r"^# is an array, not an object$"):
        generate(cast(Any, []))


def json_pointers(value: object, where: str = "#") -> list[str]:
    """The JSON Pointer of every value inside `value` (at `where`), containers before their values."""
    found: list[str] = []
    if isinstance(value, Mapping):
        for key, item in cast(Mapping[str, Any], value).items():
            at = f"{where}/{key.replace('~', '~0').replace('/', '~1')}"
            found += [at, *json_pointers(item, at)]
    elif isinstance(value, list):
        for index, item in enumerate(cast(list[Any], value)):
            found += [f"{where}/{index}", *json_pointers(item, f"{where}/{index}")]
    return found


_WRONG_VALUES = [None, True, False, 0, -1, 1.5, "", "x", "#/nowhere", [], [1], ["x"], {}, {"a": 1}, {"$ref": 1}]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(data=st.data())
def test_typescript_reads_any_malformed_document_into_a_module_or_a_document_error(data: st.DataObject) -> None:
    # A property test: values of well-formed documents replaced by values of other JSON types
    # (one to three at once). It found the errors the cases above name.
    document = copy.deepcopy(data.draw(st.sampled_from([WELL_FORMED, HANDWRITTEN])))
    pointers = json_pointers(document)
    changes = data.draw(st.lists(st.tuples(st.sampled_from(pointers), st.sampled_from(_WRONG_VALUES)), max_size=3))
    for where, value in changes:
        try:
            replace(document, where, copy.deepcopy(value))
        except (KeyError, IndexError, TypeError, ValueError):
            continue  # a value an earlier change replaced is no longer there
    try:
        generate(document)
    except DocumentError as error:
        message = str(error)
    else:
        return
    # The message names the value's place, or the route, or is about the whole document.
    assert re.match(r"#|[A-Z]+ /|expected an OpenAPI|the OpenAPI document describes no", message)


def test_typescript_cli_writes_the_file_from_an_app_and_from_a_saved_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["typescript", "examples.echo:app", "-o", str(tmp_path / "from_app.ts")]) == 0
    assert (tmp_path / "from_app.ts").read_text(encoding="utf-8") == generated("echo")

    saved = tmp_path / "openapi.json"
    saved.write_text(json.dumps(document_of(echo.app)), encoding="utf-8")
    assert main(["typescript", "--from", str(saved)]) == 0
    printed = capsys.readouterr().out
    assert printed == generated("echo").replace("read from examples.echo:app.", "read from openapi.json.")


CUSTOMISED_APP = """
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

import typedsse.openapi
from typedsse import BaseEvent, sse


class Tick(BaseEvent[int]):
    pass


def add_stream(app: FastAPI) -> None:
    @app.get("/ticks")
    @sse()
    async def ticks() -> AsyncIterator[Tick]:
        yield Tick(data=1)


app = FastAPI(title="Ticks, customised")
add_stream(app)


def custom_openapi() -> dict[str, Any]:
    if app.openapi_schema is None:
        openapi = typedsse.openapi.document(app)
        openapi["info"]["version"] = "2.0.0-custom"
        app.openapi_schema = openapi
    return app.openapi_schema


app.openapi = custom_openapi  # type: ignore[method-assign]
plain = FastAPI(title="Ticks, plain")
add_stream(plain)
"""


def test_typescript_cli_reads_the_document_the_app_serves_and_leaves_the_app_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "customised_ticks.py").write_text(CUSTOMISED_APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module("customised_ticks")
    custom, plain_openapi = module.app.openapi, module.plain.openapi

    assert main(["typescript", "customised_ticks:app"]) == 0
    printed = capsys.readouterr().out
    assert '"Ticks, customised" 2.0.0-custom (OpenAPI 3.1.0), read from customised_ticks:app.' in printed
    assert module.app.openapi is custom  # not replaced by `install`'s

    assert main(["typescript", "customised_ticks:plain"]) == 0
    printed = capsys.readouterr().out
    assert '"Ticks, plain" 0.1.0 (OpenAPI 3.1.0), read from customised_ticks:plain.' in printed
    assert "export interface Tick {" in printed  # the events, without `install` on the app
    assert module.plain.openapi == plain_openapi  # FastAPI's own, still
    assert module.plain.openapi_schema is None


@pytest.mark.parametrize(
    ("argv", "status", "error"),
    [
        (
            ["typescript", "examples.echo:INTERVAL"],
            1,
            "error: examples.echo:INTERVAL is a float, not a FastAPI application\n",
        ),
        (
            ["typescript", "examples.echo:app", "-o", "/dev/null/events.ts"],
            1,
            "error: cannot write /dev/null/events.ts: Not a directory\n",
        ),
        (
            ["typescript", "--from", "index.html"],
            1,
            "error: index.html is not a JSON document: Expecting value: line 1 column 1 (char 0)\n",
        ),
        (
            ["typescript", "--from", "latin-1.json"],
            1,
            "error: latin-1.json is not a JSON document: it is not UTF-8 text (invalid continuation byte at byte 23)\n",
        ),
    ],
    ids=[
        "not-an-app",
        "output-under-a-file",
        "not-json",
        "not-utf-8",
    ],
)
def test_typescript_cli_reports_wrong_input(
    argv: list[str],
    status: int,
    error: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    (tmp_path / "index.html").write_text("<!doctype html>", encoding="utf-8")  # a docs page saved by mistake
    # Saved by an editor in Latin-1: Python's codec message ("'utf-8' codec can't decode byte
    # 0xe9 in position 23") was all the error said.
    (tmp_path / "latin-1.json").write_bytes('{"info": {"title": "Caf\u00e9"}}'.encode("latin-1"))
    assert main(argv) == status
    assert capsys.readouterr() == ("", error)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["typescript"], "give either MODULE:APP or --from openapi.json"),
        (["typescript", "examples.echo:app", "--from", "x.json"], "give either MODULE:APP or --from openapi.json"),
        (["typescript", "--from", "openapi.json", "--factory"], "--factory goes with MODULE:APP"),
        (["typescript", "--from", "openapi.json", "--app-dir", "."], "--app-dir goes with MODULE:APP"),
    ],
    ids=["nothing", "both", "factory-without-app", "app-dir-without-app"],
)
def test_typescript_cli_reports_a_wrong_combination_of_arguments_as_a_usage_error(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # They said only "error: ...", with status 2 but without the usage line argparse prints for
    # its own mistakes, nor the command's name.
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: typedsse typescript ")
    assert err.endswith(f"\ntypedsse typescript: error: {error}\n")


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("missing.json", "cannot read 'missing.json': No such file or directory"),
        ("docs", "cannot read 'docs': Is a directory"),
        ("secret.json", "cannot read 'secret.json': Permission denied"),
        ("-", "cannot read standard input: it is closed"),
    ],
    ids=["missing", "directory", "no-permission", "closed-standard-input"],
)
def test_typescript_cli_refuses_a_source_it_cannot_read_as_a_usage_error(
    source: str,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Python's own words were printed, naming neither the option nor the problem as a user's:
    # "error: [Errno 2] No such file or directory: 'missing.json'", and an AttributeError's
    # traceback for `--from - <&-`. They are usage errors now, as a mistyped `--app-dir` is.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "secret.json").write_text("{}", encoding="utf-8")
    (tmp_path / "secret.json").chmod(0)
    read_bytes = Path.read_bytes

    def unreadable(path: Path) -> bytes:  # as for a user who is not root, who reads any file
        if path.name == "secret.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", unreadable)
    monkeypatch.setattr(sys, "stdin", None)

    with pytest.raises(SystemExit) as exited:
        main(["typescript", "--from", source, "-o", "events.ts"])
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: typedsse typescript ")
    assert err.endswith(f"\ntypedsse typescript: error: argument --from: {reason}\n")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["docs", "secret.json"]


MOUNTING_APP = """\
from collections.abc import AsyncIterator

from fastapi import APIRouter, FastAPI

import typedsse.openapi
from typedsse import BaseEvent, sse


class Beat(BaseEvent[int]): ...


api = FastAPI()
typedsse.openapi.install(api)


@api.get("/beats")
@sse()
async def beats() -> AsyncIterator[Beat]:
    yield Beat(data=1)


app = FastAPI()
typedsse.openapi.install(app)
app.mount("/v1", api)
versions = APIRouter()
versions.mount("/v2", api)
gateway = FastAPI()
gateway.include_router(versions, prefix="/api")
gateway.mount("/static", FastAPI())  # no stream there: not named
hidden = FastAPI()
hidden.get("/beats", include_in_schema=False)(beats)
plain = FastAPI()
"""


@pytest.mark.parametrize(
    ("target", "error"),
    [
        (
            "mounting:app",
            "error: mounting:app has no typed event stream of its own; its streams are in the application "
            "mounted at /v1, documented apart (at its own /openapi.json): name one as MODULE:APP\n",
        ),
        (
            "mounting:gateway",
            "error: mounting:gateway has no typed event stream of its own; its streams are in the application "
            "mounted at /api/v2, documented apart (at its own /openapi.json): name one as MODULE:APP\n",
        ),
        (
            "mounting:hidden",
            "error: mounting:hidden has no @sse route in its OpenAPI document "
            "(a route with include_in_schema=False is left out)\n",
        ),
        (
            "mounting:plain",
            "error: mounting:plain has no @sse route in its OpenAPI document "
            "(a route with include_in_schema=False is left out)\n",
        ),
    ],
    ids=["mounted", "mounted-in-an-included-router", "hidden", "no-stream"],
)
def test_typescript_cli_says_why_an_app_has_no_stream(
    target: str, error: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # FastAPI documents a mounted application apart. An app whose streams are all in one was
    # told to call `install(app)`, which it had called: the advice led nowhere; as it did for
    # an app with no @sse route in its document, which the command documents without it.
    (tmp_path / "mounting.py").write_text(MOUNTING_APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "mounting", raising=False)
    assert main(["typescript", target]) == 1
    gateway = TestClient(sys.modules["mounting"].gateway)
    if target == "mounting:gateway" and gateway.get("/api/v2/beats").status_code == 404:
        pytest.skip("this FastAPI's include_router does not carry a router's mounts: the app serves none")
    assert capsys.readouterr() == ("", error)
    assert main(["typescript", "mounting:api"]) == 0
    assert "export interface Beat {" in capsys.readouterr().out


def test_typescript_cli_gives_a_mounted_application_given_its_server_the_file_of_its_served_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Imported alone, a sub-application does not know where it is mounted: FastAPI's
    # /v1/openapi.json lists /v1 as the server, the document of MODULE:APP none, and the
    # client's default path to the streams is that server's. With the server given to it (as
    # docs/typescript.md says), the two documents, and so the two files, are the same.
    given = MOUNTING_APP.replace("api = FastAPI()", 'api = FastAPI(servers=[{"url": "/v1"}])')
    (tmp_path / "mounting_served.py").write_text(given, encoding="utf-8")
    (tmp_path / "mounting_alone.py").write_text(MOUNTING_APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("mounting_served")
    with TestClient(module.app) as client:
        served = client.get("/v1/openapi.json").json()
    assert served["servers"] == [{"url": "/v1"}]

    assert main(["typescript", "mounting_served:api"]) == 0
    assert capsys.readouterr().out == generate(served, source="mounting_served:api")
    assert main(["typescript", "mounting_alone:api"]) == 0
    assert 'const SERVER_PATH = "";' in capsys.readouterr().out


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32", "utf-32-be"])
def test_typescript_cli_reads_a_saved_document_in_any_unicode_encoding(
    encoding: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Saved by a Windows editor with a byte order mark, the UTF-8 document was refused
    # ("Unexpected UTF-8 BOM"); saved by Windows PowerShell 5's `>`, which writes UTF-16 with a
    # mark, it was refused as not UTF-8. JSON readers may take any Unicode encoding (RFC 8259).
    saved = tmp_path / "openapi.json"
    text = json.dumps(document_of(echo.app), ensure_ascii=False)
    saved.write_bytes(text.encode("utf-8"))
    assert main(["typescript", "--from", str(saved)]) == 0
    expected = capsys.readouterr().out
    saved.write_bytes(text.encode(encoding))
    assert main(["typescript", "--from", str(saved)]) == 0
    assert capsys.readouterr() == (expected, "")


def test_typescript_cli_reads_the_document_from_standard_input_for_a_dash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `curl -s .../openapi.json | typedsse typescript --from -` looked for a file named `-`.
    saved = tmp_path / "openapi.json"
    data = json.dumps(document_of(echo.app)).encode("utf-8")
    saved.write_bytes(data)
    assert main(["typescript", "--from", str(saved)]) == 0
    from_file = capsys.readouterr().out

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    assert main(["typescript", "--from", "-"]) == 0
    from_stdin = capsys.readouterr().out
    # The same client; the header names no file it was read from.
    assert from_stdin == from_file.replace(", read from openapi.json", "")
    assert from_stdin != from_file

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"[1]"), encoding="utf-8"))
    assert main(["typescript", "--from", "-"]) == 1
    assert capsys.readouterr().err == "error: standard input does not hold an OpenAPI document (a JSON object)\n"


def test_typescript_cli_reads_a_standard_input_of_text_only(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # `main()` called from Python where `sys.stdin` has no bytes under it (a notebook, an
    # application that embeds the interpreter) raised `AttributeError` for its missing `.buffer`.
    document = json.dumps(document_of(echo.app))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(document.encode("utf-8")), encoding="utf-8"))
    assert main(["typescript", "--from", "-"]) == 0
    expected = capsys.readouterr().out

    monkeypatch.setattr(sys, "stdin", io.StringIO(document))
    assert main(["typescript", "--from", "-"]) == 0
    assert capsys.readouterr() == (expected, "")


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="no /dev/fd")
@pytest.mark.parametrize("folder", ["/dev/fd", "/proc/self/fd"])
def test_typescript_cli_names_no_file_for_a_descriptor_it_reads(
    folder: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `--from <(curl -s .../openapi.json)` reads `/dev/fd/63`: the header said "read from 63", a
    # number that changed with the shell, and the committed file with it. It names none, as `-`.
    saved = tmp_path / "openapi.json"
    saved.write_text(json.dumps(document_of(echo.app)), encoding="utf-8")
    assert main(["typescript", "--from", str(saved)]) == 0
    from_file = capsys.readouterr().out

    descriptor = os.open(saved, os.O_RDONLY)
    try:
        assert main(["typescript", "--from", f"{folder}/{descriptor}"]) == 0
    finally:
        os.close(descriptor)
    assert capsys.readouterr().out == from_file.replace(", read from openapi.json", "")


@pytest.mark.parametrize("where", ["json", "schema"])
def test_typescript_cli_reports_a_document_nested_too_deep_in_one_line(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Valid JSON Python cannot read (arrays nested 100,000 deep), or a payload schema nested
    # hundreds deep, which the generator walked until Python's recursion limit: each ended with a
    # RecursionError traceback. The second is refused at a set depth, naming the schema.
    saved = tmp_path / "openapi.json"
    if where == "json":
        saved.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
        error = "error: the OpenAPI document is nested too deep to read\n"
    else:
        deep = copy.deepcopy(document_of(echo.app))
        nested: dict[str, Any] = {"type": "string"}
        for _ in range(600):  # deep enough for the generator, not too deep for `json` to read
            nested = {"type": "array", "items": nested}
        deep["components"]["schemas"]["EchoPayload"]["properties"]["message"] = nested
        saved.write_text(json.dumps(deep), encoding="utf-8")
        error = (
            "error: #/components/schemas/EchoPayload/properties/message: "
            "the schema holds schemas nested more than 50 deep\n"
        )

    assert main(["typescript", "--from", str(saved)]) == 1
    assert capsys.readouterr() == ("", error)


def test_typescript_reads_a_document_whose_info_is_not_an_object() -> None:
    # A hand-written document may hold anything there; it failed with an AttributeError.
    saved = {**document_of(echo.app), "info": "x"}
    assert generate(saved).startswith(
        '// Generated by typedsse: event types and a typed subscribe client for the event streams of\n// "untitled"'
    )


def test_typescript_says_a_get_stream_with_a_body_cannot_be_subscribed_to_with_fetch() -> None:
    # FastAPI reads and documents a body on GET; `fetch` refuses to send one, so `subscribe`
    # throws a `TypeError` (it was retried as a network failure): the route's comment says so.
    app = FastAPI()

    @app.get("/search")
    @sse()
    async def search(query: Node) -> AsyncIterator[Grown]:
        yield Grown(data=query)

    text = generate(document_of(app))
    assert (
        "     * Takes a request body, which `fetch` cannot send with GET: `subscribe` throws a `TypeError` "
        "when one is given. Serve the stream with POST.\n"
    ) in text


def test_typescript_writes_a_lone_surrogate_as_its_escape() -> None:
    # A hand-written document may hold `"\ud800"` (valid JSON): the text could not be written as
    # UTF-8, and the command failed with a traceback after emptying its output file.
    saved = copy.deepcopy(document_of(echo.app))
    saved["info"]["description"] = "broken \ud800 text"
    payload = saved["components"]["schemas"]["EchoPayload"]["properties"]["message"]
    payload["enum"] = ["ok", "bad \udc00"]
    text = generate(saved)
    text.encode("utf-8")
    assert '"bad \\udc00"' in text  # a string TypeScript reads back as the same code units


# Compilation.


@pytest.mark.parametrize(
    ("config", "compiler"),
    [("tsconfig.json", TSC), ("tsconfig.node.json", TSC), ("tsconfig.json", TSC7)],
    ids=["browser", "node", "typescript-7"],
)
def test_typescript_every_generated_file_compiles_strictly(config: str, compiler: Path, tmp_path: Path) -> None:
    require_toolchain()
    sources: dict[str, str | Path] = {**all_generated(), "usage.ts": TS / "typecheck" / "usage.ts"}
    folder = project(tmp_path, sources, config=config)
    result = tsc(folder, compiler=compiler)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# The oldest target and library docs/typescript.md names, CommonJS, declarations: each also strict as above.
OTHER_SETTINGS: dict[str, tuple[str, dict[str, Any]]] = {
    "es2015-dom-declarations": (
        "tsconfig.json",
        {"target": "es2015", "lib": ["es2015", "dom"], "declaration": True, "isolatedDeclarations": True},
    ),
    # What `tsc --init` sets up in TypeScript 5.0 to 5.8 (its `lib` is the target's, with the DOM).
    "es2016-dom-commonjs": (
        "tsconfig.json",
        {
            "target": "es2016",
            "lib": ["es2016", "dom"],
            "module": "commonjs",
            "moduleResolution": "node10",
            "verbatimModuleSyntax": False,  # CommonJS allows no `export` under it, as the docs say
        },
    ),
    "es2015-node-nodenext": (
        "tsconfig.node.json",
        {"target": "es2015", "lib": ["es2015"], "module": "nodenext", "moduleResolution": "nodenext"},
    ),
}


@pytest.mark.parametrize("settings", OTHER_SETTINGS)
def test_typescript_generated_files_compile_with_other_settings(settings: str, tmp_path: Path) -> None:
    require_toolchain()
    config, options = OTHER_SETTINGS[settings]
    # The two files with every kind of schema, without the libraries' own check (done above): quicker.
    sources: dict[str, str | Path] = {f"{name}.ts": generated(name) for name in ["features", "handwritten"]}
    folder = project(tmp_path, sources, config=config, skipLibCheck=True, **options)
    (folder / "package.json").write_text('{"type": "module"}\n', encoding="utf-8")  # ES modules, for nodenext
    result = tsc(folder)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_typescript_compiles_with_plain_tsc_strict_no_emit(tmp_path: Path) -> None:
    require_toolchain()
    assert NODE is not None
    (tmp_path / "events.ts").write_text(generated("echo"), encoding="utf-8")
    result = run(
        [NODE, str(TSC), "--strict", "--noEmit", "--target", "es2022", "--pretty", "false", "events.ts"], cwd=tmp_path
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


EXPECTED_ERRORS: dict[str, list[str]] = {
    "listener_event.ts": [
        "listener_event.ts(5,35): error TS2345: Argument of type '\"ecco\"' is not assignable to parameter of type "
        '\'"typedsse.error" | "echo" | "reverse_echo"\'.',
    ],
    "missing_query.ts": [
        "missing_query.ts(4,20): error TS2345: Argument of type '{}' is not assignable to parameter of type "
        '\'SubscribeOptions<"/echo", "GET">\'.',
        "  Property 'query' is missing in type '{}' but required in type '{ query: { message: string; "
        "count?: number | undefined; per_connection?: number | null | undefined; "
        "lastEventId?: string | null | undefined; }; }'.",
    ],
    "misspelled_event.ts": [
        "misspelled_event.ts(5,3): error TS2353: Object literal may only specify known properties, "
        "and 'ecco' does not exist in type 'Handlers<Echo | ReverseEcho | StreamError>'.",
    ],
    "unknown_path.ts": [
        "unknown_path.ts(4,11): error TS2345: Argument of type '\"/echos\"' is not assignable to parameter of type "
        "'\"/echo\"'.",
    ],
    "until_event.ts": [
        "until_event.ts(4,54): error TS2322: Type '\"finished\"' is not assignable to type "
        '\'"message" | "done" | "token" | "typedsse.error"\'.',
    ],
    "wrong_body.ts": [
        "wrong_body.ts(4,43): error TS2322: Type '\"robot\"' is not assignable to type "
        '\'"user" | "system" | "assistant"\'.',
    ],
    "wrong_data_type.ts": [
        "wrong_data_type.ts(6,11): error TS2322: Type 'string' is not assignable to type 'number'.",
    ],
    "wrong_field.ts": [
        "wrong_field.ts(5,35): error TS2551: Property 'mesage' does not exist on type 'EchoPayload'. "
        "Did you mean 'message'?",
    ],
}
"""Each file of tests/ts/errors fails to compile with exactly these diagnostics (TypeScript 5.9)."""


def test_typescript_wrong_handlers_fail_to_compile(tmp_path: Path) -> None:
    require_toolchain()
    fixtures = sorted((TS / "errors").glob("*.ts"))
    assert sorted(path.name for path in fixtures) == sorted(EXPECTED_ERRORS)
    sources: dict[str, str | Path] = {"events.ts": generated("echo"), "chat.ts": generated("chat")}
    sources.update({path.name: path for path in fixtures})
    result = tsc(project(tmp_path, sources, config="tsconfig.json"))
    assert result.returncode != 0
    assert result.stdout.splitlines() == [line for name in sorted(EXPECTED_ERRORS) for line in EXPECTED_ERRORS[name]]


def docs_blocks() -> list[tuple[str, str]]:
    """The TypeScript blocks of docs/typescript.md: (title, code)."""
    page = (ROOT / "docs" / "typescript.md").read_text(encoding="utf-8")
    pattern = r'^```ts(?: title="(?P<title>[^"]*)")?\n(?P<code>.*?)^```$'
    return [(match["title"] or "", match["code"]) for match in re.finditer(pattern, page, re.MULTILINE | re.DOTALL)]


def test_typescript_docs_show_the_generated_echo_types() -> None:
    excerpts = [code for title, code in docs_blocks() if title.startswith("events.ts (excerpt")]
    assert len(excerpts) == 2
    text = generated("echo")
    declarations = [part for excerpt in excerpts for part in excerpt.split("\n\n")]
    assert len(declarations) == 4
    for declaration in declarations:  # each as generated, though the excerpts leave some out
        assert declaration.strip("\n") + "\n" in text


def test_typescript_docs_show_the_doc_comments_of_the_app_s_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    page = (ROOT / "docs" / "typescript.md").read_text(encoding="utf-8")
    (source,) = re.findall(r'^```python title="app.py"\n(.*?)^```$', page, re.MULTILINE | re.DOTALL)
    (excerpt,) = [code for title, code in docs_blocks() if title == "events.ts (doc comments)"]
    module = types.ModuleType("limits_app")  # Pydantic looks an event's module up in `sys.modules`
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(source, "docs/typescript.md", "exec"), module.__dict__)
    assert f"\n\n{excerpt}\n" in generate(document_of(module.app))


def test_typescript_docs_options_table_lists_every_option() -> None:
    # The table is where a reader looks an option up: `credentials` was added to the client
    # without a row, so the page's only word of it was in the section on other origins.
    page = (ROOT / "docs" / "typescript.md").read_text(encoding="utf-8")
    table = page.split("The options, all typed by the route:", 1)[1]
    rows = re.findall(r"^\| ((?:`\w+`(?:, )?)+) \|", table, re.MULTILINE)
    documented = [name for row in rows for name in re.findall(r"`(\w+)`", row)]
    declared = ["params", "query", "headers", "body", "method"]  # `RequestParts` and `MethodPart`
    for interface in ["ClientOptions", "StreamOptions"]:
        body = re.search(rf"^export interface {interface}\b.*?^}}", runtime_source(), re.MULTILINE | re.DOTALL)
        assert body is not None
        declared += re.findall(r"^  (\w+)\?:", body[0], re.MULTILINE)
    assert sorted(documented) == sorted(set(declared))


def test_typescript_docs_resubscribing_example_uses_a_route_that_does_not_resume() -> None:
    # The page's subscription that subscribes again after a proxy's 502 must be one that does
    # not reconnect by itself: it was `reconnect: false` on the echo route, which resumes, and
    # so would have ridden through the 502 without it, and started over with it.
    (block,) = [code for title, code in docs_blocks() if not title and "error.retryAfter" in code]
    assert "reconnect:" not in block  # the route's own default, as the page says
    (module,) = re.findall(r'^import .* from "\./(\w+)";$', block, re.MULTILINE)
    (path,) = re.findall(r'subscribe\("([^"]+)"', block)
    routes = generated({"events": "echo"}.get(module, module)).split("const ROUTES: RouteTable = ", 1)[1]
    route = routes.split(f'  "{path}": {{\n', 1)[1].split("\n  },\n", 1)[0]
    assert "resumable: false," in route


def test_typescript_docs_examples_compile(tmp_path: Path) -> None:
    require_toolchain()
    blocks = [code for title, code in docs_blocks() if not title]
    assert len(blocks) == 7
    sources: dict[str, str | Path] = {
        "events.ts": generated("echo"),
        "chat.ts": generated("chat"),
        "ticker.ts": generated("ticker"),
    }
    sources.update({f"block{index}.ts": f"export {{}};\n{block}" for index, block in enumerate(blocks)})
    folder = project(tmp_path, sources, config="tsconfig.node.json", lib=["es2022", "dom"])
    result = tsc(folder)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


# Node and Chromium, against live servers.


def parser_cases() -> list[dict[str, Any]]:
    """Streams exercising the WHATWG parsing rules, with what typedsse.decoding makes of them."""
    streams = {
        "fields and comments": b": a comment\nevent: tick\nid: 1\nretry: 250\ndata: one\ndata:two\n\n",
        "line ends CRLF, CR and LF": b"data: a\r\ndata: b\rdata: c\n\r\n",
        "a byte order mark, then UTF-8": "\ufeffdata: h\u00e9llo \u2603 \U0001f600\n\n".encode(),
        "invalid UTF-8 becomes U+FFFD": b"data: \xff\xfe ok\n\n",
        "one leading space removed, no more": b"data:  two spaces\ndata:\ndata\n\n",
        "retry with a non-digit is ignored": b"retry: 10a\ndata: x\n\nretry: -1\ndata: y\n\nretry:\n\n",
        "an id containing NUL is ignored": b"id: ok\ndata: a\n\nid: b\x00d\ndata: b\n\n",
        "the id persists, an empty id resets it": b"id: 5\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
        "no data, no event": b"event: lonely\n\nid: 9\n\ndata: after\n\n",
        "unknown fields are ignored": b"foo: bar\ndata: x\nevent\n\n",
        "an unfinished message is dropped": b"data: done\n\ndata: never dispatched",
        "a second BOM is data": b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\ndata: y\n\n",
        "JSON with a lone CR in it": b'event: echo\ndata: {"message":"a\\rb"}\n\n',
        "a lone CR ends the last line, which no blank line follows": b"data: a\r\rdata: b\r",
        "invalid sequences of every kind": b"data: \xe2\x82|\xe0\x80\x80|\xed\xa0\x80|\xc0\xaf|\xf0\x9f|\x80\n\n",
        "a field name with a trailing space is another field": b"data : x\nid : 1\nretry : 5\ndata: y\n\n",
        "an empty id after a given one resets it": b"id: 1\ndata: a\n\nid:\n\n",
    }
    cases = []
    for name, stream in streams.items():
        decoder = Decoder()
        messages = [*decoder.feed(stream), *decoder.close()]
        cases.append(
            {
                "name": name,
                "stream": base64.b64encode(stream).decode(),
                "messages": [
                    {"event": m.event, "data": m.data, "id": m.id, **({} if m.retry is None else {"retry": m.retry})}
                    for m in messages
                ],
                "lastEventId": decoder.last_event_id,
                "retry": decoder.retry,
            }
        )
    return cases


@pytest.fixture(scope="module")
def node_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated files and the Node tests, compiled to JavaScript (once for the module)."""
    require_toolchain()
    tmp_path = tmp_path_factory.mktemp("node")
    sources: dict[str, str | Path] = {**all_generated()}
    sources.update({path.name: path for path in sorted((TS / "node").glob("*.test.ts"))})
    folder = project(tmp_path / "src", sources, config="tsconfig.node.json", out_dir=str(tmp_path / "out"))
    result = tsc(folder)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    (tmp_path / "out" / "package.json").write_text('{"type": "module"}\n', encoding="utf-8")
    return tmp_path / "out"


def node_test(out: Path, pattern: str, env: Mapping[str, str]) -> tuple[int, int]:
    """Run Node's test runner on the compiled tests matching `pattern`; return (passed, failed)."""
    assert NODE is not None
    files = sorted(str(path) for path in out.glob(pattern))
    assert files
    result = run([NODE, "--test", "--test-reporter=tap", *files], cwd=out, env=env)
    counts = dict(re.findall(r"^# (pass|fail) (\d+)$", result.stdout, re.MULTILINE))
    passed, failed = int(counts.get("pass", 0)), int(counts.get("fail", -1))
    assert (result.returncode, failed) == (0, 0), result.stdout + result.stderr
    return passed, failed


def test_typescript_parser_in_node_matches_the_python_decoder(node_build: Path, tmp_path: Path) -> None:
    cases = parser_cases()
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases), encoding="utf-8")
    assert node_test(node_build, "parser.test.js", {"TYPEDSSE_PARSER_CASES": str(path)}) == (len(cases) + 2, 0)


# A corpus of random streams in random chunks: bytes and chunk boundaries no list of cases thinks of.
CORPUS_SEED = 20261207
CORPUS_SIZE = 3000

_CORPUS_TEXT = [b"a", b"xyz", b" ", b"  ", b":", b"0", b"42", b"\xc3\xa9", b"\xe2\x98\x83", b"\xf0\x9f\x98\x80"]
_CORPUS_ODD = [
    b"\x00",  # NUL: an `id` containing it is ignored
    b"\xef\xbb\xbf",  # a byte order mark past the first character is data
    b"\xe2\x80\xa8",  # LINE SEPARATOR ends no line
    b"\xff",  # invalid UTF-8, each kind of it: U+FFFD, as many times as WHATWG says
    b"\x80",
    b"\xc0\xaf",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xf0\x9f",
    b"\xf4\x90\x80\x80",
]
_CORPUS_RETRY = [b"0", b"7", b"007", b"1500", b"", b" 5", b"5 ", b"-1", b"1.5", b"10a", b"\xd9\xa3", b"\xef\xbc\x91"]
_CORPUS_FIELDS = [b"data", b"data", b"data", b"event", b"id", b"retry", b"foo", b"Data", b"data ", b" data", b""]


def _corpus_value(rng: random.Random) -> bytes:
    pieces = rng.choices(_CORPUS_TEXT, k=rng.randrange(4))
    if rng.random() < 0.3:
        pieces.insert(rng.randrange(len(pieces) + 1), rng.choice(_CORPUS_ODD))
    return b"".join(pieces)


def _corpus_line(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.2:
        return b""  # a blank line: dispatch
    if roll < 0.25:
        return b":" + _corpus_value(rng)  # a comment
    field = rng.choice(_CORPUS_FIELDS)
    if field == b"retry":
        value = rng.choice([*_CORPUS_RETRY, "".join(rng.choices("0123456789", k=rng.randrange(16, 400))).encode()])
    else:
        value = _corpus_value(rng)
    if rng.random() < 0.1:
        return field  # no colon: a field with an empty value
    return field + rng.choice([b":", b": ", b":  "]) + value


def _corpus_connection(rng: random.Random) -> bytes:
    stream = rng.choice([b"", b"", b"\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbf"])
    for _ in range(rng.randrange(16)):
        stream += _corpus_line(rng) + rng.choice([b"\n", b"\r", b"\r\n"])
    # The end: after a blank line, without one (the message is dropped), or within a line.
    return stream + rng.choice([b"", b"\n", b"\r\n", _corpus_line(rng)])


def _corpus_chunks(rng: random.Random, stream: bytes) -> list[bytes]:
    # One byte at a time, now and then; else cut anywhere, and often where it matters: between CR
    # and LF, within a UTF-8 sequence. A cut at either end or a repeated one feeds an empty chunk.
    if rng.random() < 0.05:
        return [stream[at : at + 1] for at in range(len(stream))]
    anywhere = range(len(stream) + 1)
    tricky = [at for at in range(1, len(stream)) if stream[at - 1] == 0x0D or 0x80 <= stream[at] <= 0xBF]
    cuts = [rng.choice(tricky if tricky and rng.random() < 0.5 else anywhere) for _ in range(rng.randrange(8))]
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[start:end] for start, end in itertools.pairwise(bounds)]


def parser_corpus() -> list[list[list[bytes]]]:
    """Random streams, each of one or two connections, each in random chunks (the same on every run)."""
    rng = random.Random(CORPUS_SEED)
    return [
        [_corpus_chunks(rng, _corpus_connection(rng)) for _ in range(rng.choice([1, 1, 1, 2]))]
        for _ in range(CORPUS_SIZE)
    ]


def _as_number(retry: int | str | None) -> float | None:
    """A `retry` as a JavaScript number holds it: the nearest double (infinity past the largest)."""
    if retry is None:
        return None
    try:
        return float(retry)
    except OverflowError:
        return math.inf


def decoded_corpus(stream: list[list[bytes]]) -> dict[str, Any]:
    """What typedsse.decoding makes of a stream, laid out as tests/ts/node/corpus.test.ts writes it."""
    decoder = Decoder()
    messages = [[*(decoder.feed(chunk) for chunk in chunks), decoder.close()] for chunks in stream]
    return {
        "messages": [
            [
                [{"event": m.event, "data": m.data, "id": m.id, "retry": _as_number(m.retry)} for m in fed]
                for fed in connection
            ]
            for connection in messages
        ],
        "lastEventId": decoder.last_event_id,
        "retry": _as_number(decoder.retry),
    }


def parsed_corpus(result: dict[str, Any]) -> dict[str, Any]:
    """tests/ts/node/corpus.test.ts's result, its numbers read back."""
    for connection in result["messages"]:
        for fed in connection:
            for message in fed:
                message["retry"] = _as_number(message["retry"])
    result["retry"] = _as_number(result["retry"])
    return result


def test_typescript_parser_in_node_reads_a_random_corpus_as_the_python_decoder(
    node_build: Path, tmp_path: Path
) -> None:
    corpus = parser_corpus()
    streams = [[[base64.b64encode(chunk).decode() for chunk in chunks] for chunks in stream] for stream in corpus]
    (tmp_path / "corpus.json").write_text(json.dumps(streams), encoding="utf-8")
    env = {
        "TYPEDSSE_PARSER_CORPUS": str(tmp_path / "corpus.json"),
        "TYPEDSSE_PARSER_RESULTS": str(tmp_path / "results.json"),
    }
    assert node_test(node_build, "corpus.test.js", env) == (1, 0)
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert len(results) == len(corpus)
    differences = [
        (stream, parsed, expected)
        for stream, result in zip(corpus, results, strict=True)
        if (parsed := parsed_corpus(result)) != (expected := decoded_corpus(stream))
    ]
    assert not differences, (
        f"{len(differences)} streams differ; the first, its chunks, Node's and Python's:\n"
        + "\n".join(map(repr, differences[0]))
    )


def test_typescript_node_client_resumes_from_the_given_last_event_id(node_build: Path) -> None:
    # The first response sends only `retry:` and a keep-alive comment: blank lines without an id.
    assert node_test(node_build, "resume.test.js", {}) == (6, 0)


def test_typescript_node_client_ends_as_documented_against_a_scripted_fetch(node_build: Path) -> None:
    assert node_test(node_build, "subscribe.test.js", {}) == (45, 0)


def test_typescript_eventsource_listeners_close_the_source_as_documented(node_build: Path) -> None:
    assert node_test(node_build, "listen.test.js", {}) == (8, 0)


@pytest.mark.e2e
@pytest.mark.usefixtures("fast_examples")
def test_typescript_node_clients_receive_the_examples_typed_events(
    node_build: Path, live_server: Callable[..., Any]
) -> None:
    recorder = LastEventIdRecorder(
        Starlette(routes=[Mount(f"/{name}", app) for name, app in EXAMPLES.items()]), "/echo/echo"
    )
    server = live_server(recorder)
    reply = chat.FakeModel().reply([chat.ChatMessage(role="user", content="Hello there")])
    env = {"TYPEDSSE_BASE_URL": server.url, "TYPEDSSE_EXPECTED": json.dumps({"chatReply": reply})}
    assert node_test(node_build, "examples.test.js", env) == (11, 0)
    # The resuming test: a first request, then one per dropped connection, each with the last id received;
    # then the test that starts from lastEventId "1".
    assert recorder.seen == [None, b"1", b"3", b"5", b"1", b"3"]


async def stalled_room(request: Request) -> StreamingResponse:
    """Room 1: a body that is not an event stream; room 2: an HTTP error. Each sends a line, then waits."""

    async def lines() -> AsyncIterator[bytes]:
        yield b'{"status": "warming up"}\n'
        await asyncio.sleep(3600)  # until the client leaves

    if request.path_params["room"] == "1":
        return StreamingResponse(lines(), media_type="application/x-ndjson")
    return StreamingResponse(lines(), status_code=500, media_type="text/plain")


@pytest.mark.e2e
def test_typescript_node_client_handles_headers_bodies_text_null_and_error_events(
    node_build: Path, live_server: Callable[..., Any]
) -> None:
    app = Starlette(routes=[Mount("/features", features), Route("/stalled/rooms/{room}", stalled_room)])
    recorder = LastEventIdRecorder(app, "/features/rooms/7")
    tokens = LastEventIdRecorder(recorder, "/features/rooms/8", header=b"authorization")
    server = live_server(tokens)
    assert node_test(node_build, "features.test.js", {"TYPEDSSE_BASE_URL": server.url}) == (11, 0)
    assert recorder.seen == [None, "ü-2".encode()]  # the id's UTF-8 bytes, as EventSource sends them
    # Headers given by a function: asked for again on the reconnection, which sends the fresh token.
    assert tokens.seen == [b"Bearer token-1", b"Bearer token-2"]


mounted = FastAPI(title="an app mounted under a prefix")
typedsse.openapi.install(mounted)


@mounted.get("/beats")
@sse()
async def mounted_beats() -> AsyncIterator[Beat]:
    yield Beat(data=1, id="b-1")


# A page of the server's origin, in Node: relative URLs are read against its address, as a browser does.
MOUNTED_CLIENT = """\
import { eventSourceUrl, subscribe } from "./events.js";

const origin = process.env["TYPEDSSE_ORIGIN"] ?? "";
(globalThis as { location?: { href: string } }).location = { href: `${origin}/index.html` };
const requested: string[] = [];
const received: unknown[] = [];
const pageFetch = (url: string, init?: RequestInit) => {
  requested.push(url);
  return fetch(new URL(url, origin), init);
};
const subscription = subscribe("/beats", { fetch: pageFetch as typeof fetch }, { beat: (e) => received.push(e) });
const end = await subscription.done.catch((error: unknown) => String(error));
console.log(JSON.stringify({ eventSource: eventSourceUrl("/beats", {}), requested, end, received }));
"""


@pytest.mark.e2e
def test_typescript_client_of_a_mounted_app_reaches_its_streams_under_the_mount(
    tmp_path: Path, live_server: Callable[..., Any]
) -> None:
    # FastAPI's `/openapi.json` of an app mounted at /sub lists the prefix as its server, and its
    # paths below it. The client left the server out: a page of the same origin requested /beats.
    require_toolchain()
    assert NODE is not None
    server = live_server(Starlette(routes=[Mount("/sub", mounted)]))
    document = httpx.get(f"{server.url}/sub/openapi.json", timeout=10).json()
    assert document["servers"] == [{"url": "/sub"}]
    out = tmp_path / "out"
    sources = {"events.ts": generate(document), "client.ts": MOUNTED_CLIENT}
    result = tsc(project(tmp_path / "src", sources, config="tsconfig.node.json", out_dir=str(out)))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    (out / "package.json").write_text('{"type": "module"}\n', encoding="utf-8")

    result = run([NODE, "client.js"], cwd=out, env={"TYPEDSSE_ORIGIN": server.url})

    assert (result.returncode, result.stderr) == (0, "")
    assert json.loads(result.stdout) == {
        "eventSource": "/sub/beats",
        "requested": ["/sub/beats"],
        "end": {"reason": "closed"},
        "received": [{"event": "beat", "id": "b-1", "data": 1}],
    }


def test_typescript_client_starts_its_urls_with_the_path_of_the_documents_server() -> None:
    # A full URL is one deployment of several (FastAPI lists `servers=` after the `root_path`):
    # the client is given its address as `baseUrl`, and the default stays the page's origin.
    def server_path(servers: object) -> str:
        document = copy.deepcopy(HANDWRITTEN)
        document["servers"] = servers
        text = generate(document)
        (line,) = [line for line in text.splitlines() if line.startswith("const SERVER_PATH = ")]
        return line

    assert server_path([{"url": "/api/v1/"}, {"url": "https://api.example.com"}]) == 'const SERVER_PATH = "/api/v1";'
    assert server_path([{"url": "https://api.example.com/v1"}]) == 'const SERVER_PATH = "";'
    assert server_path([{"url": "/{version}"}]) == 'const SERVER_PATH = "";'
    assert server_path([]) == 'const SERVER_PATH = "";'
    with pytest.raises(DocumentError, match=r"^#/servers/0/url is 1, not a string$"):
        server_path([{"url": 1}])


@pytest.fixture
def browser_build(tmp_path: Path) -> Path:
    """The clients of the examples and of the features app, and the test pages, compiled for the browser."""
    require_toolchain()
    sources: dict[str, str | Path] = {
        "echo.ts": generated("echo"),
        "chat.ts": generated("chat"),
        "progress.ts": generated("progress"),
        "features.ts": generated("features"),
        "page.ts": TS / "browser" / "page.ts",
        "cross_origin.ts": TS / "browser" / "cross_origin.ts",
        "bad_gateway.ts": TS / "browser" / "bad_gateway.ts",
    }
    out = tmp_path / "out"
    result = tsc(project(tmp_path / "src", sources, config="tsconfig.json", out_dir=str(out)))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
    for page in ("index.html", "cross_origin.html", "bad_gateway.html"):
        shutil.copy(TS / "browser" / page, out / page)
    return out


@pytest.mark.e2e
def test_typescript_chromium_resumes_with_the_generated_client_and_native_eventsource(
    chromium: Any,
    browser_build: Path,
    live_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    artifacts: Path,
) -> None:
    monkeypatch.setattr(echo, "INTERVAL", 0.01)
    app = Starlette(
        routes=[Mount("/echo", echo.app), Mount("/client", StaticFiles(directory=browser_build, html=True))]
    )
    recorder = LastEventIdRecorder(app, "/echo/echo")
    server = live_server(recorder)
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}/client/index.html")
        page.wait_for_selector("body[data-done=true]", timeout=30_000)
        result = page.evaluate("window.typedsseResult")
        page.screenshot(path=artifacts / "typescript-clients.png", full_page=True)
    finally:
        context.close()
    assert errors == []
    expected = [
        {"event": "echo", "id": "0", "message": "hello"},
        {"event": "reverse_echo", "id": "1", "message": "olleh"},
        {"event": "echo", "id": "2", "message": "hello"},
        {"event": "reverse_echo", "id": "3", "message": "olleh"},
        {"event": "echo", "id": "4", "message": "hello"},
        {"event": "reverse_echo", "id": "5", "message": "olleh"},
    ]
    assert result == {"fetchEnd": {"reason": "no-content"}, "fetch": expected, "eventSource": expected}
    # Each client: a first request, then one per dropped connection with the last id it had, then 204.
    assert recorder.seen == [None, b"1", b"3", b"5"] * 2


class CookieRecorder:
    """ASGI middleware noting the method, path and `Cookie` header (or `None`) of every request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.seen: list[tuple[str, str, bytes | None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append((scope["method"], scope["path"], dict(scope["headers"]).get(b"cookie")))
        await self.app(scope, receive, send)


@pytest.mark.e2e
@pytest.mark.usefixtures("fast_examples")
def test_typescript_chromium_streams_from_another_origin_with_cookies_as_documented(
    chromium: Any, browser_build: Path, live_server: Callable[..., Any]
) -> None:
    # The page and the API on two origins of one site (`localhost`, two ports): the page's cookie is
    # the API's too, and is sent only by a request that includes credentials.
    site = live_server(Starlette(routes=[Mount("/", StaticFiles(directory=browser_build, html=True))]))
    page_origin = f"http://localhost:{site.port}"
    api = CookieRecorder(
        CORSMiddleware(
            Starlette(routes=[Mount("/echo", echo.app), Mount("/chat", chat.app)]),
            allow_origins=[page_origin],
            allow_methods=["GET", "POST"],
            allow_headers=["Last-Event-ID", "Content-Type"],
            allow_credentials=True,
        )
    )
    api_origin = f"http://localhost:{live_server(api).port}"
    context = chromium.new_context()
    context.add_cookies([{"name": "session", "value": "s1", "domain": "localhost", "path": "/"}])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{page_origin}/cross_origin.html?api={api_origin}")
        page.wait_for_selector("body[data-done=true]", timeout=30_000)
        result = page.evaluate("window.typedsseResult")
    finally:
        context.close()
    assert errors == []
    reply = chat.FakeModel().reply([chat.ChatMessage(role="user", content="Hello there")])
    assert result == {
        "chat": {"reason": "event", "reply": reply},
        "fetch": {"reason": "no-content", "ids": ["0", "1", "2", "3"]},
        "eventSource": ["0", "1", "2", "3"],
    }
    # Every stream's request carries the cookie; the preflights (of the JSON body, of `Last-Event-ID`,
    # which the browser may cache) carry none.
    streams = [(method, path, cookie) for method, path, cookie in api.seen if method != "OPTIONS"]
    assert streams == [("POST", "/chat/chat", b"session=s1")] + [("GET", "/echo/echo", b"session=s1")] * 6
    assert {(path, cookie) for method, path, cookie in api.seen if method == "OPTIONS"} == {
        ("/chat/chat", None),
        ("/echo/echo", None),
    }


class BadGateway:
    """ASGI middleware standing for a proxy whose server is restarting: it answers the GET requests to `path`
    whose numbers (from 1) are in `failing` with the status given there (and its `Retry-After`, if one is
    given), and notes every one's status (200 for those it passes on) and `Last-Event-ID`."""

    def __init__(self, app: ASGIApp, path: str, failing: dict[int, tuple[int, str | None]]) -> None:
        self.app = app
        self.path = path
        self.failing = failing
        self.seen: list[tuple[int, bytes | None]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "GET":
            status, retry_after = self.failing.get(len(self.seen) + 1, (200, None))
            self.seen.append((status, dict(scope["headers"]).get(b"last-event-id")))
            if status != 200:
                headers = {} if retry_after is None else {"Retry-After": retry_after}
                await PlainTextResponse(f"HTTP {status}", status_code=status, headers=headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)


@pytest.mark.e2e
@pytest.mark.usefixtures("fast_examples")
def test_typescript_chromium_rides_through_a_proxys_503_and_502_as_documented(
    chromium: Any, browser_build: Path, live_server: Callable[..., Any]
) -> None:
    app = Starlette(
        routes=[Mount("/echo", echo.app), Mount("/client", StaticFiles(directory=browser_build, html=True))]
    )
    # `subscribe`'s first request and its second reconnection, and `EventSource`'s first reconnection, meet the
    # restart.
    proxy = BadGateway(app, "/echo/echo", failing={1: (503, "1"), 3: (502, None), 7: (502, None)})
    server = live_server(proxy)
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}/client/bad_gateway.html")
        page.wait_for_selector("body[data-done=true]", timeout=30_000)
        result = page.evaluate("window.typedsseResult")
    finally:
        context.close()
    assert errors == []
    assert result == {
        # `subscribe` retries the 503 after its `Retry-After` (longer than the delay of `retry: 100`), and
        # the 502 after the server's `retry: 500`; each stream's end is reconnected after that delay too.
        "fetch": {
            "ids": ["0", "1", "2", "3"],
            "retries": [[1, 1000, 503, 1000], [2, 500], [3, 500, 502, None], [4, 500]],
            "end": "no-content",
        },
        # A status it does not retry ends it at once.
        "notFound": {"status": 404, "retries": 0},
        # `EventSource` stops for good on the 502.
        "eventSource": ["0", "1"],
    }
    assert proxy.seen == [
        (503, None),
        (200, None),
        (502, b"1"),
        (200, b"1"),
        (200, b"3"),  # answered with 204: every event was sent
        (200, None),
        (502, b"1"),
    ]


@pytest.mark.e2e
@pytest.mark.usefixtures("fast_examples")
def test_typescript_chromium_eventsource_starts_a_route_that_does_not_resume_over_unless_told_its_end(
    chromium: Any, browser_build: Path, live_server: Callable[..., Any]
) -> None:
    # As docs/typescript.md says: `subscribe` ends when such a route's response ends; `EventSource`
    # reconnects, and the route sends its events again, unless `until` names the event that ends it.
    blank = Route("/blank", lambda request: HTMLResponse("<!doctype html><title>blank</title>"))
    app = Starlette(
        routes=[
            blank,
            Mount("/progress", progress.app),
            Mount("/client", StaticFiles(directory=browser_build, html=True)),
        ]
    )
    server = live_server(app)
    script = """async ([until]) => {
        const { eventSourceUrl, listen, subscribe } = await import("/client/progress.js");
        const request = { baseUrl: "/progress", params: { job_id: "7" } };
        const received = [];
        const handlers = {
            "job.progress": (e) => received.push(e.data.stage),
            "job.result": () => received.push("result"),
        };
        const end = await subscribe("/jobs/{job_id}", request, handlers).done;
        const fetched = received.splice(0);
        const source = new EventSource(eventSourceUrl("/jobs/{job_id}", request));
        listen(source, "/jobs/{job_id}", handlers, { until });
        // Until the source is closed, or the job's first event arrives a second time.
        await new Promise((resolve) => {
            const over = () => source.readyState === EventSource.CLOSED || received.length > 5;
            const check = () => (over() ? resolve() : setTimeout(check, 10));
            check();
        });
        source.close();
        return { end: end.reason, fetched, native: received.slice(0, 6) };
    }"""
    context = chromium.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{server.url}/blank")
        without_until = page.evaluate(script, [[]])
        with_until = page.evaluate(script, [["job.result"]])
    finally:
        context.close()
    assert errors == []
    job = ["fetch", "parse", "validate", "store", "result"]
    assert without_until == {"end": "closed", "fetched": job, "native": [*job, "fetch"]}
    assert with_until == {"end": "closed", "fetched": job, "native": job}


@pytest.mark.e2e
def test_typescript_chromium_eventsource_fails_on_a_route_that_requires_a_header(
    chromium: Any, browser_build: Path, live_server: Callable[..., Any]
) -> None:
    # As docs/typescript.md says: EventSource sends no header of the page's, so a route requiring one
    # answers it with an error and the connection fails, without a word of why; `subscribe` sends it.
    blank = Route("/blank", lambda request: HTMLResponse("<!doctype html><title>blank</title>"))
    app = Starlette(
        routes=[blank, Mount("/features", features), Mount("/client", StaticFiles(directory=browser_build, html=True))]
    )
    statuses: list[int] = []

    async def noting(scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and scope["path"] == "/features/rooms/8":
                statuses.append(message["status"])
            await send(message)

        await app(scope, receive, sending)

    server = live_server(noting)
    script = """async () => {
        const { eventSourceUrl, listen, subscribe } = await import("/client/features.js");
        const request = { baseUrl: "/features", params: { room: 8 } };
        const lines = [];
        await subscribe("/rooms/{room}", { ...request, method: "GET", headers: { "x-token": "t" }, reconnect: false }, {
            line: (e) => lines.push(e.data),
        }).done;
        const source = new EventSource(eventSourceUrl("/rooms/{room}", request));
        listen(source, "/rooms/{room}", { line: (e) => lines.push(e.data) });
        const state = await new Promise((resolve) => {
            source.addEventListener("error", () => resolve(source.readyState));
        });
        return { lines, closed: state === EventSource.CLOSED };
    }"""
    context = chromium.new_context()
    page = context.new_page()
    try:
        page.goto(f"{server.url}/blank")
        result = page.evaluate(script)
    finally:
        context.close()
    assert result == {"lines": ["token t\nNone"], "closed": True}
    assert statuses == [200, 422]
