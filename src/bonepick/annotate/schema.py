"""Output schemas: a prompt's JSON Schema turned into a pydantic model, and LLM replies parsed and
validated against it.

Only the part of JSON Schema that structured-output APIs accept is supported: objects with
properties, strings (enum, length), integers and numbers (enum, minimum/maximum, exclusive bounds),
booleans, arrays (items, min/max items), ``null`` and type lists such as ``["integer", "null"]``.
"""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from bonepick.errors import UsageError

_SCALARS: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,
    "boolean": bool,
    "null": type(None),
}
_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)


class InvalidReply(Exception):
    """The model's reply is not JSON, or not JSON that matches the prompt's schema."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


def check_schema(schema: Any, where: str) -> None:
    """Raise :class:`UsageError` when ``schema`` is not an object schema this module supports."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise UsageError(f"{where}: the output schema must be a JSON Schema of type 'object'")
    if not isinstance(schema.get("properties"), dict) or not schema["properties"]:
        raise UsageError(f"{where}: the output schema needs at least one property")
    build_model(schema, where)


def build_model(schema: dict[str, Any], where: str = "schema", name: str = "Annotation") -> type[BaseModel]:
    """A pydantic model equivalent to ``schema`` (extra keys in replies are dropped)."""
    return _model(schema, where, name)


def _model(schema: dict[str, Any], where: str, name: str) -> type[BaseModel]:
    required = set(schema.get("required", list(schema.get("properties", {}))))
    fields: dict[str, Any] = {}
    for prop, sub in schema.get("properties", {}).items():
        if not isinstance(sub, dict):
            raise UsageError(f"{where}: property '{prop}' must be a JSON Schema object")
        annotation = _annotation(sub, f"{where}: property '{prop}'", f"{name}_{prop}")
        if prop in required:
            fields[prop] = (annotation, ...)
        else:
            fields[prop] = (annotation | None, None)
    return create_model(name, __base__=_Lenient, **fields)


def _annotation(schema: dict[str, Any], where: str, name: str) -> Any:
    for unsupported in ("$ref", "oneOf", "allOf", "not", "if"):
        if unsupported in schema:
            raise UsageError(f"{where}: '{unsupported}' is not supported in output schemas")
    if "anyOf" in schema:
        options = [_annotation(option, where, f"{name}_{i}") for i, option in enumerate(schema["anyOf"])]
        union = options[0]
        for option in options[1:]:
            union = union | option
        return union
    if "enum" in schema:
        values = tuple(schema["enum"])
        if not values:
            raise UsageError(f"{where}: 'enum' must not be empty")
        return Literal[values]  # type: ignore[valid-type]
    kind = schema.get("type")
    if kind is None:
        return Any
    if isinstance(kind, list):
        options = [_annotation({**schema, "type": k}, where, name) for k in kind]
        union = options[0]
        for option in options[1:]:
            union = union | option
        return union
    if kind == "object":
        return _model(schema, where, name)
    if kind == "array":
        items = schema.get("items", {})
        inner = _annotation(items, where, name) if items else Any
        constraints = {}
        if "minItems" in schema:
            constraints["min_length"] = schema["minItems"]
        if "maxItems" in schema:
            constraints["max_length"] = schema["maxItems"]
        return Annotated[list[inner], Field(**constraints)] if constraints else list[inner]  # type: ignore[valid-type]
    if kind not in _SCALARS:
        raise UsageError(f"{where}: unknown type '{kind}'")
    base = _SCALARS[kind]
    constraints: dict[str, Any] = {}
    if kind in ("integer", "number"):
        for key, arg in (
            ("minimum", "ge"),
            ("maximum", "le"),
            ("exclusiveMinimum", "gt"),
            ("exclusiveMaximum", "lt"),
        ):
            if key in schema:
                constraints[arg] = schema[key]
    if kind == "string":
        if "minLength" in schema:
            constraints["min_length"] = schema["minLength"]
        if "maxLength" in schema:
            constraints["max_length"] = schema["maxLength"]
    return Annotated[base, Field(**constraints)] if constraints else base


def strict_schema(schema: dict[str, Any]) -> dict[str, Any] | None:
    """The schema in the form OpenAI's strict structured outputs require (every property required,
    no additional properties, no unsupported keywords), or None when it cannot be made strict
    (an optional property would change meaning)."""
    result = copy.deepcopy(schema)

    def visit(node: dict[str, Any]) -> bool:
        if node.get("type") == "object" or "properties" in node:
            props = node.get("properties", {})
            if set(node.get("required", list(props))) != set(props):
                return False
            node["required"] = list(props)
            node["additionalProperties"] = False
            return all(visit(sub) for sub in props.values())
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            return visit(node["items"])
        return all(visit(option) for option in node.get("anyOf", []))

    return result if visit(result) else None


def extract_json(content: str) -> Any:
    """The JSON value in a reply: the whole text, else a fenced block, else the outermost braces.

    Reasoning traces in ``<think>`` tags are ignored.
    """
    text = _THINK.sub("", content or "").strip()
    if not text:
        raise InvalidReply("the reply is empty")
    candidates = [text, *_FENCE.findall(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return orjson.loads(candidate.strip())
        except orjson.JSONDecodeError:
            continue
    preview = " ".join(text.split())[:80]
    raise InvalidReply(f"the reply is not JSON: {preview!r}")


class ReplyValidator:
    """Parses and validates replies against one schema; the pydantic model is built once."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.model = build_model(schema)

    def __call__(self, content: str) -> dict[str, Any]:
        value = extract_json(content)
        if not isinstance(value, dict):
            raise InvalidReply(f"the reply is JSON but not an object ({type(value).__name__})")
        try:
            return self.model.model_validate(value).model_dump(mode="json")
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'reply'}: {e['msg']}" for e in error.errors()[:3]
            )
            raise InvalidReply(f"the reply does not match the schema ({problems})") from None

    def __getstate__(self) -> dict[str, Any]:
        return {"schema": self.schema}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["schema"])  # type: ignore[misc]
