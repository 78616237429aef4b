"""Output schemas: JSON Schema -> pydantic, reply parsing, strict form."""

from __future__ import annotations

import pytest

from bonepick.annotate.schema import InvalidReply, ReplyValidator, check_schema, extract_json, strict_schema
from bonepick.errors import UsageError

SCHEMA = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "maxLength": 50},
        "score": {"type": "integer", "minimum": 0, "maximum": 5},
        "label": {"enum": ["keep", "drop"]},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
        "confidence": {"type": ["number", "null"]},
    },
}


def test_valid_replies_are_cleaned_and_coerced():
    validate = ReplyValidator(SCHEMA)
    reply = '{"reason": "ok", "score": 3, "label": "keep", "tags": ["a"], "confidence": null, "extra": 1}'
    assert validate(reply) == {"reason": "ok", "score": 3, "label": "keep", "tags": ["a"], "confidence": None}
    fenced = (
        'Sure!\n```json\n{"reason": "x", "score": 4.0, "label": "drop", "tags": [], "confidence": 0.5}\n```'
    )
    assert validate(fenced)["score"] == 4
    thinking = '<think>maybe {"score": 9}</think>{"reason": "", "score": 0, "label": "drop", "tags": [], "confidence": 1}'
    assert validate(thinking)["score"] == 0


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("", "empty"),
        ("I'd say three", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"reason": "x", "score": 7, "label": "keep", "tags": [], "confidence": 1}', "score"),
        ('{"reason": "x", "score": 1, "label": "maybe", "tags": [], "confidence": 1}', "label"),
        ('{"reason": "x", "score": 1, "label": "keep", "tags": ["a", "b", "c"], "confidence": 1}', "tags"),
        ('{"score": 1, "label": "keep", "tags": [], "confidence": 1}', "reason"),
    ],
)
def test_bad_replies_are_rejected_with_a_reason(reply, message):
    with pytest.raises(InvalidReply, match=message):
        ReplyValidator(SCHEMA)(reply)


def test_strict_schema_requires_every_property():
    strict = strict_schema(SCHEMA)
    assert strict is not None and strict["additionalProperties"] is False
    assert strict["required"] == list(SCHEMA["properties"])
    assert "additionalProperties" not in SCHEMA  # the original is untouched
    optional = {**SCHEMA, "required": ["score"]}
    assert strict_schema(optional) is None
    assert ReplyValidator(optional)('{"score": 2}') == {
        "reason": None, "score": 2, "label": None, "tags": None, "confidence": None
    }  # fmt: skip


def test_unsupported_schemas_are_usage_errors():
    with pytest.raises(UsageError, match="type 'object'"):
        check_schema({"type": "string"}, "p.yaml")
    with pytest.raises(UsageError, match=r"'\$ref' is not supported"):
        check_schema({"type": "object", "properties": {"a": {"$ref": "#/x"}}}, "p.yaml")
    with pytest.raises(UsageError, match="unknown type 'int'"):
        check_schema({"type": "object", "properties": {"a": {"type": "int"}}}, "p.yaml")


def test_extract_json_prefers_the_whole_reply():
    assert extract_json('{"a": {"b": 1}}') == {"a": {"b": 1}}
    assert extract_json('noise {"a": 1} noise') == {"a": 1}
