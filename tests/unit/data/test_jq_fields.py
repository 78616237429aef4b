"""Projection of rows for jq must never change an expression's result."""

from __future__ import annotations

import pytest

from bonepick.data.expressions import Expression
from bonepick.data.jq_fields import ProjectedExpression, referenced_fields

ROW = {
    "text": "a long text " * 50,
    "score": 3,
    "label": "pos",
    "meta": {"lang": "en", "n": 2},
    "tags": ["x", "y"],
}


@pytest.mark.parametrize(
    ("source", "fields"),
    [
        ("{score: (if .score < 2 then 0 else 1 end)}", {"score"}),
        ('{text: (.label + " " + .text)}', {"label", "text"}),
        (".meta.lang", {"meta", "lang"}),  # a superset is harmless
        ("{score}", {"score"}),
        (".text | length", {"text"}),
        ('.tags | map(. + "!")', None),
        ("{n: length}", None),
        ("[.score, keys]", None),
        ('"\\(.score)"', None),
        (".score as $s | $s + 1", None),
        ('.["score"]', None),
        (". + {x: 1}", None),
        ("reduce .tags[] as $t (0; . + 1)", None),
        (".meta | to_entries", {"meta"}),
        ("try .score catch 0", {"score"}),
    ],
)
def test_referenced_fields(source: str, fields: set[str] | None) -> None:
    result = referenced_fields(source)
    assert (None if result is None else set(result)) == fields


@pytest.mark.parametrize(
    "source",
    [
        "{score: (if .score < 2 then 0 else 1 end)}",
        '{text: (.label + " " + .text)}',
        "{score, label}",
        ".meta | to_entries",
        "{n: length}",
        ".missing // .score",
        "[.tags[] | ascii_upcase]",
    ],
)
def test_projection_gives_the_same_result(source: str) -> None:
    assert ProjectedExpression(source).all(ROW) == Expression(source).all(ROW)
