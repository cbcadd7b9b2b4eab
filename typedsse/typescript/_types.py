"""JSON Schema (OpenAPI 3.1's dialect) to TypeScript types, and TypeScript's lexical rules.

Types are built as a small tree (`Type`) and printed by `render`, which keeps a construct on one
line when it fits and breaks unions and object types over several lines when it does not.
Named component schemas become references to their declarations; everything else is inlined.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

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
    string_field,
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


_FORMATS = {
    "date-time": "an ISO 8601 date and time",
    "date": "an ISO 8601 date",
    "time": "an ISO 8601 time",
    "duration": "an ISO 8601 duration",
    "uuid": "a UUID",
    "uri": "a URI",
    "email": "an email address",
    "binary": "raw bytes as a string",
}


def describe(schema: Mapping[str, Any], where: str, document: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the doc comment lines of a schema (at `where`, in `document`).

    In this order: its description, its format, its limits (`limits`), its default, its
    examples and its deprecation. The tags come last: a JSDoc tag runs to the next one.
    """
    lines: list[str] = []
    description = string_field(schema, "description", where)
    if description is not None:
        lines.append(description)
    format_ = string_field(schema, "format", where)
    if format_ is not None:
        meaning = _FORMATS.get(format_)
        lines.append(f"Format: `{format_}`" + (f" ({meaning})." if meaning else "."))
    lines += limits(schema, where, document)
    if "default" in schema:
        lines.append(f"@default {_json(schema['default'])}")
    lines += examples(schema, where)
    if flag_field(schema, "deprecated", where):
        lines.append("@deprecated")
    return tuple(lines)


def limits(schema: Mapping[str, Any], where: str, document: Mapping[str, Any]) -> list[str]:
    """Return what the validation keywords of a schema (at `where`) say of its values, a sentence each.

    Types cannot say them (`At most 12 characters.`, `From 1 to 100.`), but the server checks
    them. The keywords of the schema a wrapper stands for hold too: Pydantic writes an optional
    field's limits on its one branch that is not `null` (`anyOf: [{"maxLength": 12, ...},
    {"type": "null"}]`), and a field of a named type with a description as a `$ref` beside it
    (or an `allOf` of the one `$ref`).

    Raises:
        DocumentError: A keyword has the wrong JSON type, or a reference is broken.
    """
    lines: list[str] = []
    for node, at in _wrapped(schema, where, document):
        lines += (line for line in _limits(node, at) if line not in lines)
    return lines


def examples(schema: Mapping[str, Any], where: str) -> list[str]:
    """Return an `@example` tag for each of a schema's `examples`, written as JSON on one line."""
    return [f"@example {_json(example)}" for example in list_field(schema, "examples", where)]


def _wrapped(
    schema: Mapping[str, Any], where: str, document: Mapping[str, Any]
) -> Iterator[tuple[Mapping[str, Any], str]]:
    """Yield a schema, then the schema it wraps, and so on (each with where it is)."""
    followed: set[str] = set()
    node: Mapping[str, Any] | None = schema
    for _ in range(MAX_DEPTH):
        if node is None:
            return
        yield node, where
        inner: tuple[object, str] | None = None
        if "$ref" in node:
            ref_at = pointer(where, "$ref")
            ref = expect_string(node["$ref"], ref_at)
            if ref in followed:
                return
            followed.add(ref)
            inner = resolve(document, ref, ref_at), ref
        elif len(branches := list_field(node, "allOf", where)) == 1:
            inner = branches[0], pointer(where, "allOf", 0)
        else:
            for keyword in ("anyOf", "oneOf"):
                branches = list_field(node, keyword, where)
                kept = [(branch, index) for index, branch in enumerate(branches) if not _is_null(branch)]
                if len(branches) == 2 and len(kept) == 1:  # `T | None`
                    inner = kept[0][0], pointer(where, keyword, kept[0][1])
                    break
        node = None
        if inner is not None:
            node, where = schema_keywords(inner[0], inner[1]), inner[1]


def _is_null(schema: object) -> bool:
    return isinstance(schema, Mapping) and cast(Mapping[str, Any], schema).get("type") == "null"


def _limits(schema: Mapping[str, Any], where: str) -> list[str]:
    """The sentences of one schema's own validation keywords, in a fixed order."""
    lines: list[str] = []
    lowest, highest = _count(schema, "minLength", where), _count(schema, "maxLength", where)
    lines += _counted(lowest, highest, "character", "characters")
    pattern = string_field(schema, "pattern", where)
    if pattern:  # the empty pattern matches every string
        lines.append(f"Pattern: {_code(pattern.translate(_REGEX_LINE_TERMINATORS))}.")
    lines += _range(schema, where)
    step = _number_field(schema, "multipleOf", where)
    if step is not None:
        if step <= 0:
            raise wrong_type(step, pointer(where, "multipleOf"), "a number greater than 0")
        lines.append(f"A multiple of {_number(step)}.")
    lowest, highest = _count(schema, "minItems", where), _count(schema, "maxItems", where)
    if "prefixItems" in schema:  # a tuple type says its own length
        size = len(as_list(schema["prefixItems"]))
        lowest, highest = (None if lowest == size else lowest), (None if highest == size else highest)
    lines += _counted(lowest, highest, "item", "items")
    if flag_field(schema, "uniqueItems", where):
        lines.append("Items are unique.")
    lowest, highest = _count(schema, "minProperties", where), _count(schema, "maxProperties", where)
    lines += _counted(lowest, highest, "property", "properties")
    return lines


def _counted(lowest: int | None, highest: int | None, one: str, many: str) -> list[str]:
    """The sentence of a length's bounds: `At most 12 characters.`, `From 1 to 5 items.`."""
    lowest = lowest or None  # at least none says nothing
    if lowest is None and highest is None:
        return []
    if lowest == highest or lowest is None or highest is None:
        count = cast(int, highest if lowest is None else lowest)
        start = "Exactly" if lowest == highest else "At most" if lowest is None else "At least"
        return [f"{start} {count} {one if count == 1 else many}."]
    return [f"From {lowest} to {highest} {many}."]


def _range(schema: Mapping[str, Any], where: str) -> list[str]:
    """The sentence of a number's bounds: `At least 0.`, `From 1 to 100.`, `Greater than 0 and at most 1.`."""
    low = _bound(schema, "minimum", "exclusiveMinimum", where, max)
    high = _bound(schema, "maximum", "exclusiveMaximum", where, min)
    if low is None and high is None:
        return []
    if low is not None and high is not None and not low[1] and not high[1]:
        return [f"From {_number(low[0])} to {_number(high[0])}."]
    parts: list[str] = []
    if low is not None:
        parts.append(f"{'greater than' if low[1] else 'at least'} {_number(low[0])}")
    if high is not None:
        parts.append(f"{'less than' if high[1] else 'at most'} {_number(high[0])}")
    sentence = " and ".join(parts)
    return [sentence[0].upper() + sentence[1:] + "."]


def _bound(
    schema: Mapping[str, Any], inclusive: str, exclusive: str, where: str, stricter: Callable[[float, float], float]
) -> tuple[float, bool] | None:
    """A bound and whether it is exclusive: the stricter of the keywords' when a schema gives both."""
    value = _number_field(schema, inclusive, where)
    other = schema.get(exclusive)
    if isinstance(other, bool):  # OpenAPI 3.0's spelling: a flag making `minimum` (or `maximum`) exclusive
        return None if value is None else (value, other)
    limit = _number_field(schema, exclusive, where)
    if limit is None or (value is not None and stricter(value, limit) == value and value != limit):
        return None if value is None else (value, False)
    return limit, True


def _number_field(schema: Mapping[str, Any], key: str, where: str) -> float | None:
    """Return the number `schema[key]`, or `None` if there is none."""
    if key not in schema:
        return None
    value = schema[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise wrong_type(value, pointer(where, key), "a number")
    return value


def _count(schema: Mapping[str, Any], key: str, where: str) -> int | None:
    """Return the non-negative integer `schema[key]` (JSON Schema counts `2.0` as one), or `None`."""
    if key not in schema:
        return None
    value = schema[key]
    whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())  # not NaN, not Infinity
    if isinstance(value, bool) or not whole or value < 0:
        raise wrong_type(value, pointer(where, key), "a non-negative integer")
    return int(value)


# A regular expression's escapes for the characters that end a line (in a comment, in JavaScript):
# they keep the pattern's meaning and its line.
_REGEX_LINE_TERMINATORS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})
_FLOAT = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?[eE][+-]?\d+|-?\d+\.\d+')


def _code(text: str) -> str:
    """Return `text` as a Markdown code span, whatever backticks it holds."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    padding = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _number(value: float) -> str:
    """Write a number as JavaScript (and `JSON.stringify`) does: `100` for `100.0`, no `1e+20`, but `1e+21`."""
    if isinstance(value, int):
        return str(value)  # the server checks this very integer, even beyond 2**53
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if not value:  # and -0, which JavaScript writes as 0
        return "0"
    sign, digits_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple))
    point = len(digits) + cast(int, exponent)  # where the decimal point is, counted from the first digit
    if len(digits) <= point <= 21:
        text = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = f"0.{'0' * -point}{digits}"
    else:
        mantissa = digits if len(digits) == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"
    return ("-" if sign else "") + text


def _json(value: object) -> str:
    """Write a JSON value on one line, its numbers as JavaScript does (`_number`)."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    text = _FLOAT.sub(lambda match: match[0] if match[0].startswith('"') else _number(float(match[0])), text)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


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
