"""The doc comment lines of a schema: what it says of its values that their TypeScript type cannot.

A description and a format, then the limits the server validates (lengths, a pattern, a
range), then the JSDoc tags: a default, examples, a deprecation. Values are written so that
they neither end the comment nor its lines, and numbers as JavaScript writes them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any, cast

from typedsse.typescript._document import (
    MAX_DEPTH,
    as_list,
    expect_string,
    flag_field,
    list_field,
    pointer,
    resolve,
    schema_keywords,
    string_field,
    wrong_type,
)

__all__ = ["describe", "description", "examples", "limits"]

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

# A regular expression's escapes for the characters that end a line (in a comment, in JavaScript):
# they keep the pattern's meaning and its line.
_REGEX_LINE_TERMINATORS = str.maketrans({"\n": "\\n", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"})
# A JSON string (left as it is), or a number Python writes as a float.
_FLOAT = re.compile(r'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?[eE][+-]?\d+|-?\d+\.\d+')


def describe(schema: Mapping[str, Any], where: str, document: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the doc comment lines of a schema (at `where`, in `document`).

    In this order: its description (or that of the schema it wraps in place), its format (or
    that of the schema it wraps, as for its limits), its limits (`limits`), its default, its
    examples and its deprecation. The tags come last: a JSDoc tag runs to the next one.
    """
    lines: list[str] = []
    text = description(schema, where, document)
    if text is not None:
        lines.append(text)
    format_ = _format(schema, where, document)
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
    (or an `allOf` of the one `$ref`). So do those of a union's branches when they hold
    whichever branch the value is (`_union_limits`), as those of a `Decimal`.

    Raises:
        DocumentError: A keyword has the wrong JSON type, or a reference is broken.
    """
    lines: list[str] = []
    for node, at in _wrapped(schema, where, document):
        lines += (line for line in _limits(node, at) + _union_limits(node, at) if line not in lines)
    return lines


def _union_limits(schema: Mapping[str, Any], where: str) -> list[str]:
    """The limits of a union's branches that are not `null`, when they hold whichever the value is.

    That is when every branch says the same, or for the two branches Pydantic writes a `Decimal`
    with (`anyOf: [{"type": "number", "minimum": 0}, {"type": "string"}]`): the number and its
    text, whose only keyword of its own may be a `pattern`, and whose value the server checks the
    number's limits on as well.
    """
    for keyword in ("anyOf", "oneOf"):
        kept = [
            (branch, index) for index, branch in enumerate(list_field(schema, keyword, where)) if not _is_null(branch)
        ]
        branches = [
            (schema_keywords(branch, pointer(where, keyword, index)), pointer(where, keyword, index))
            for branch, index in kept
        ]
        if len(branches) < 2:
            continue
        said = [_limits(branch, at) for branch, at in branches]
        if all(lines == said[0] for lines in said):
            return said[0]
        types = [branch.get("type") for branch, _ in branches]
        if len(branches) == 2 and "string" in types and ("number" in types or "integer" in types):
            text = types.index("string")
            if set(branches[text][0]) <= {"type", "pattern"}:
                return said[1 - text] + said[text]
    return []


def description(schema: Mapping[str, Any], where: str, document: Mapping[str, Any]) -> str | None:
    """Return the `description` of a schema, or of the schema it wraps in place.

    Pydantic writes that of `Optional[Annotated[str, Field(description=...)]]` on the branch of
    its `anyOf` that is not `null`. One reached through a `$ref` is left: it describes a named
    type (a model's docstring), which its own declaration says.
    """
    for node, at in _wrapped(schema, where, document):
        text = string_field(node, "description", at)
        if text is not None or "$ref" in node:
            return text
    return None


def _format(schema: Mapping[str, Any], where: str, document: Mapping[str, Any]) -> str | None:
    """Return the `format` of a schema, or of the schema it wraps, as for its limits (`limits`).

    Pydantic writes an optional `datetime`'s on the branch of its `anyOf` that is not `null`.
    """
    for node, at in _wrapped(schema, where, document):
        format_ = string_field(node, "format", at)
        if format_ is not None:
            return format_
    return None


def examples(schema: Mapping[str, Any], where: str) -> list[str]:
    """Return an `@example` tag for each of a schema's `examples`, written as JSON on one line.

    Then one for the older singular `example` (OpenAPI 3.0's, which FastAPI's `Body(example=...)`
    and a `json_schema_extra={"example": ...}` write), unless it is one of them.
    """
    lines = [f"@example {_json(example)}" for example in list_field(schema, "examples", where)]
    if "example" in schema and (line := f"@example {_json(schema['example'])}") not in lines:
        lines.append(line)
    return lines


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
    """The sentence of a length's bounds: `At most 12 characters.`, `From 1 to 5 items.`, `Empty.`."""
    lowest = lowest or None  # at least none says nothing
    if lowest is None and highest is None:
        return []
    if highest == 0 and lowest is None:  # rather than `At most 0 characters.`
        return ["Empty."]
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
        if low[0] == high[0]:
            return [f"Exactly {_number(low[0])}."]
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
