"""JSON Schema (OpenAPI 3.1's dialect) to TypeScript types, and TypeScript's lexical rules.

Types are built as a small tree (`Type`) and printed by `render`, which keeps a construct on one
line when it fits and breaks unions and object types over several lines when it does not.
Named component schemas become references to their declarations; everything else is inlined.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from typedsse.typescript._comments import describe
from typedsse.typescript._document import (
    MAX_DEPTH,
    DocumentError,
    as_list,
    component_name,
    expect_schema,
    expect_string,
    flag_field,
    list_field,
    object_field,
    pointer,
    resolve,
    schema_keywords,
    wrong_type,
)

__all__ = [
    "Member",
    "Namer",
    "ObjectType",
    "Type",
    "TypeBuilder",
    "block",
    "doc_comment",
    "join",
    "property_key",
    "render",
    "string_literal",
]

WIDTH = 100
"""The line length the output keeps to where it can."""

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_NOT_IDENTIFIER_PART = re.compile(r"[^A-Za-z0-9_$]+")
# Words that cannot name a type or a value, or that read as something else in a type position.
_RESERVED = frozenset(
    [
        "abstract",
        "any",
        "as",
        "asserts",
        "async",
        "await",
        "bigint",
        "boolean",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "constructor",
        "continue",
        "debugger",
        "declare",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "from",
        "function",
        "get",
        "global",
        "if",
        "implements",
        "import",
        "in",
        "infer",
        "instanceof",
        "interface",
        "is",
        "keyof",
        "let",
        "module",
        "namespace",
        "never",
        "new",
        "null",
        "number",
        "object",
        "of",
        "out",
        "override",
        "package",
        "private",
        "protected",
        "public",
        "readonly",
        "require",
        "return",
        "satisfies",
        "set",
        "static",
        "string",
        "super",
        "switch",
        "symbol",
        "this",
        "throw",
        "true",
        "try",
        "type",
        "typeof",
        "undefined",
        "unique",
        "unknown",
        "var",
        "void",
        "while",
        "with",
        "yield",
    ]
)


def string_literal(text: str) -> str:
    """Return `text` as a TypeScript string literal (JSON's escapes are TypeScript's)."""
    return json.dumps(text, ensure_ascii=False)


def property_key(name: str) -> str:
    """Return `name` as an object type's key: bare when it is an identifier, else quoted."""
    return name if _IDENTIFIER.match(name) else string_literal(name)


# What ends a line in JavaScript, in a comment too; a description may hold any of them.
_LINE_BREAK = re.compile(r"\r\n|[\n\r\u2028\u2029]")


def doc_comment(lines: Sequence[str], indent: str) -> list[str]:
    """Return a JSDoc comment of `lines` (which may contain line breaks), or nothing if all are blank."""
    text = _LINE_BREAK.sub("\n", "\n".join(line.rstrip() for line in lines)).strip("\n")
    if not text.strip():
        return []
    body = [line.rstrip().replace("*/", "*\\/") for line in text.split("\n")]
    if len(body) == 1 and len(indent) + len(body[0]) + 7 <= WIDTH:
        return [f"{indent}/** {body[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in body), f"{indent} */"]


class Namer:
    """Give each schema a distinct TypeScript identifier, stable for the same set of names.

    Args:
        taken: Identifiers the file declares itself (its runtime), never given to a schema.
    """

    def __init__(self, taken: Iterable[str]) -> None:
        self._taken = set(taken)
        self._names: dict[str, str] = {}

    def assign(self, names: Mapping[str, str]) -> None:
        """Name the schemas of `names` (key to preferred name), in sorted order so that the result is stable."""
        for name in sorted(names.keys() - self._names.keys()):
            base = _NOT_IDENTIFIER_PART.sub("_", names[name]).strip("_") or "Schema"
            if base[0].isdigit():
                base = "_" + base
            if base in _RESERVED:
                base += "_"
            candidate, number = base, 2
            while candidate in self._taken:
                candidate, number = f"{base}{number}", number + 1
            self._taken.add(candidate)
            self._names[name] = candidate

    def __getitem__(self, name: str) -> str:
        return self._names[name]

    def __contains__(self, name: object) -> bool:
        return name in self._names


@dataclass(frozen=True, slots=True)
class Type:
    """A type expression; `text` for atoms (keywords, names, literals), `kind` and `items` otherwise."""

    text: str = ""
    kind: str = "atom"  # atom | union | intersection | array | tuple | object
    items: tuple[Type, ...] = ()


@dataclass(frozen=True, slots=True)
class Member:
    """A property of an object type."""

    key: str
    type: Type
    optional: bool
    doc: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ObjectType(Type):
    """An object type: members, and an index signature for further keys."""

    members: tuple[Member, ...] = ()
    index: Type | None = None
    kind: str = "object"


UNKNOWN = Type("unknown")
NEVER = Type("never")
NULL = Type("null")


def atom(text: str) -> Type:
    """Return a type written as it is, such as `string` or a name."""
    return Type(text)


def union(types: Iterable[Type]) -> Type:
    """Return the union of `types`: flattened, deduplicated, `unknown` absorbing, `never` vanishing."""
    flat: list[Type] = []
    for item in types:
        flat.extend(item.items if item.kind == "union" else (item,))
    unique: dict[str, Type] = {}
    for item in flat:
        unique.setdefault(_flat(item), item)
    if "unknown" in unique:
        return UNKNOWN
    unique.pop("never", None)
    if not unique:
        return NEVER
    if len(unique) == 1:
        return next(iter(unique.values()))
    return Type(kind="union", items=tuple(unique.values()))


def intersection(types: Iterable[Type]) -> Type:
    """Return the intersection of `types`, `unknown` vanishing."""
    kept = [item for item in types if item.text != "unknown"]
    if not kept:
        return UNKNOWN
    if len(kept) == 1:
        return kept[0]
    return Type(kind="intersection", items=tuple(kept))


def render(type_: Type, indent: str, *, width: int = WIDTH, start: int = 0) -> str:
    """Print `type_`; `start` is the column it begins at, `indent` the indentation of its line."""
    flat = _flat(type_)
    if start + len(flat) <= width and not _has_docs(type_):
        return flat
    if type_.kind == "union":
        inner = indent + "  "
        return "".join(f"\n{inner}| {render(item, inner, width=width, start=len(inner) + 2)}" for item in type_.items)
    if type_.kind == "object":
        return _object(cast(ObjectType, type_), indent, width)
    if type_.kind == "intersection":
        parts = [render(item, indent, width=width, start=start) for item in type_.items]
        return " & ".join(
            f"({part})" if item.kind == "union" else part for item, part in zip(type_.items, parts, strict=True)
        )
    return flat


def block(type_: ObjectType, indent: str = "") -> str:
    """Print an object type over several lines, as the body of an interface."""
    return _object(type_, indent, WIDTH)


def join(head: str, text: str) -> str:
    """Return `head` (such as `key: `) followed by a rendered type that may start on the next line."""
    return head.rstrip() + text if text.startswith("\n") else head + text


def _has_docs(type_: Type) -> bool:
    if isinstance(type_, ObjectType) and any(member.doc for member in type_.members):
        return True
    return any(_has_docs(item) for item in type_.items) or (
        isinstance(type_, ObjectType) and type_.index is not None and _has_docs(type_.index)
    )


def _flat(type_: Type) -> str:
    if type_.kind == "atom":
        return type_.text
    if type_.kind == "union":
        return " | ".join(_flat(item) for item in type_.items)
    if type_.kind == "intersection":
        return " & ".join(_wrap(item, ("union",)) for item in type_.items)
    if type_.kind == "array":
        return _wrap(type_.items[0], ("union", "intersection")) + "[]"
    if type_.kind == "tuple":
        return "[" + ", ".join(_flat(item) for item in type_.items) + "]"
    object_type = cast(ObjectType, type_)
    parts = [f"{m.key}{'?' if m.optional else ''}: {_flat(m.type)}" for m in object_type.members]
    if object_type.index is not None:
        parts.append(f"[key: string]: {_flat(object_type.index)}")
    return "{ " + "; ".join(parts) + " }" if parts else "{}"


def _wrap(type_: Type, kinds: tuple[str, ...]) -> str:
    text = _flat(type_)
    return f"({text})" if type_.kind in kinds else text


def _object(type_: ObjectType, indent: str, width: int) -> str:
    if not type_.members and type_.index is None:
        return "{}"
    inner = indent + "  "
    lines = ["{"]
    for member in type_.members:
        lines.extend(doc_comment(member.doc, inner))
        head = f"{inner}{member.key}{'?' if member.optional else ''}: "
        lines.append(join(head, render(member.type, inner, width=width, start=len(head) + 1)) + ";")
    if type_.index is not None:
        head = f"{inner}[key: string]: "
        lines.append(join(head, render(type_.index, inner, width=width, start=len(head) + 1)) + ";")
    lines.append(f"{indent}}}")
    return "\n".join(lines)


@dataclass
class TypeBuilder:
    """Translate schemas of one document to TypeScript types.

    Every method takes, besides a schema, where it is in the document (a JSON Pointer): a value
    of the wrong JSON type is a `DocumentError` that names its place.

    Args:
        document: The OpenAPI document, for references outside `#/components/schemas`.
        name_of: The TypeScript name of a component schema.
    """

    document: Mapping[str, Any]
    name_of: Callable[[str], str]
    _following: set[str] = field(default_factory=lambda: set[str]())
    # Where the schemas being translated are, outermost first: its length is their depth.
    _outermost: list[str] = field(default_factory=lambda: list[str]())

    def type(self, schema: Any, where: str) -> Type:
        """Return the TypeScript type of the values `schema` (at `where`) accepts.

        Raises:
            DocumentError: The schema, or one in it, has a keyword of the wrong JSON type, a
                broken reference, or schemas nested in place more than `MAX_DEPTH` deep.
        """
        if len(self._outermost) > MAX_DEPTH:
            raise DocumentError(f"{self._outermost[0]}: the schema holds schemas nested more than {MAX_DEPTH} deep")
        self._outermost.append(where)
        try:
            return self._type(schema, where)
        finally:
            self._outermost.pop()

    def _type(self, schema: Any, where: str) -> Type:
        node = expect_schema(schema, where)
        if isinstance(node, bool):
            return UNKNOWN if node else NEVER
        if not node:
            return UNKNOWN
        parts: list[Type] = []
        if "$ref" in node:
            ref_at = pointer(where, "$ref")
            parts.append(self._ref(expect_string(node["$ref"], ref_at), ref_at))
        if "allOf" in node:
            parts.append(intersection(self._each(node, "allOf", where)))
        for keyword in ("anyOf", "oneOf"):
            if keyword in node:
                parts.append(union(self._each(node, keyword, where)))
        own = self._own(node, where)
        if own is not None:
            parts.append(own)
        result = intersection(parts) if parts else UNKNOWN
        if flag_field(node, "nullable", where):  # OpenAPI 3.0's spelling, still found in hand-written documents
            result = union([result, NULL])
        return result

    def _each(self, schema: Mapping[str, Any], keyword: str, where: str) -> list[Type]:
        """Return the types of the schemas a keyword such as `allOf` lists."""
        items = list_field(schema, keyword, where)
        return [self.type(item, pointer(where, keyword, index)) for index, item in enumerate(items)]

    def object_type(self, schema: Mapping[str, Any], where: str) -> ObjectType:
        """Return the object type of a schema with `properties` or `additionalProperties`."""
        required_at = pointer(where, "required")
        required = {
            expect_string(name, pointer(required_at, index))
            for index, name in enumerate(list_field(schema, "required", where))
        }
        members: list[Member] = []
        properties_at = pointer(where, "properties")
        for name, value in object_field(schema, "properties", where).items():
            at = pointer(properties_at, name)
            members.append(
                Member(
                    key=property_key(name),
                    type=self.type(value, at),
                    optional=name not in required,
                    doc=describe(schema_keywords(value, at), at, self.document),
                )
            )
        extra = schema.get("additionalProperties")
        index: Type | None = None
        if "additionalProperties" in schema and extra is not False:
            values = self.type(extra, pointer(where, "additionalProperties"))
            if members:
                # An index signature must admit every property's type too.
                kinds = [member.type for member in members]
                if any(member.optional for member in members):
                    kinds.append(atom("undefined"))
                values = union([values, *kinds])
            index = values
        elif not members and "additionalProperties" not in schema and schema.get("type") == "object":
            index = UNKNOWN  # any object: JSON Schema allows every property unless told otherwise
        return ObjectType(members=tuple(members), index=index)

    def _ref(self, ref: str, where: str) -> Type:
        name = component_name(ref)
        if name is not None:
            return atom(self.name_of(name))
        if ref in self._following:
            return UNKNOWN  # a recursive reference outside the components: TypeScript needs a name for it
        self._following.add(ref)
        try:
            return self.type(resolve(self.document, ref, where), ref)
        finally:
            self._following.discard(ref)

    def _own(self, schema: Mapping[str, Any], where: str) -> Type | None:
        """Return the type the schema's own keywords (besides combinators and `$ref`) describe."""
        if "const" in schema:
            return _literal(schema["const"])
        if "enum" in schema:
            return union(_literal(value) for value in list_field(schema, "enum", where))
        types: list[str]
        if "type" in schema:
            types = _types_of(schema["type"], pointer(where, "type"))
        elif "properties" in schema or "additionalProperties" in schema:
            types = ["object"]
        elif "items" in schema or "prefixItems" in schema:
            types = ["array"]
        else:
            return None
        return union(self._of_type(kind, schema, where) for kind in types)

    def _of_type(self, kind: str, schema: Mapping[str, Any], where: str) -> Type:
        if kind == "string":
            return atom("string")
        if kind in ("integer", "number"):
            return atom("number")
        if kind == "boolean":
            return atom("boolean")
        if kind == "null":
            return NULL
        if kind == "array":
            return self._array(schema, where)
        if kind == "object":
            return self.object_type(schema, where)
        return UNKNOWN

    def _array(self, schema: Mapping[str, Any], where: str) -> Type:
        if "prefixItems" in schema:
            items = self._each(schema, "prefixItems", where)
            rest = expect_schema(schema["items"], pointer(where, "items")) if "items" in schema else None
            if rest is False or (rest is None and schema.get("maxItems") == len(items)):
                return Type(kind="tuple", items=tuple(items))
            tail = Type(
                kind="array", items=(self.type(rest, pointer(where, "items")) if rest is not None else UNKNOWN,)
            )
            return Type(kind="tuple", items=(*items, atom("..." + _flat(tail))))
        return Type(kind="array", items=(self.type(schema.get("items", True), pointer(where, "items")),))


def _types_of(value: object, where: str) -> list[str]:
    """Return the names a schema's `type` (at `where`) gives: one string, or an array of them."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise wrong_type(value, where, "a string or an array of strings")
    return [expect_string(name, pointer(where, index)) for index, name in enumerate(as_list(value))]


def _literal(value: Any) -> Type:
    if isinstance(value, str):
        return atom(string_literal(value))
    if isinstance(value, bool) or value is None:
        return atom(json.dumps(value))
    if isinstance(value, float) and not math.isfinite(value):
        # Infinity and NaN (`1e400` in a saved document, a float enum's `float("inf")`) name
        # values, not types: `x: Infinity` does not compile.
        return atom("number")
    if isinstance(value, int | float):
        return atom(json.dumps(value))
    return UNKNOWN  # TypeScript has no literal types for objects and arrays
