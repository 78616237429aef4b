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


def test_batched_jq_matches_row_by_row() -> None:
    rows = [{**ROW, "score": s, "label": lab} for s, lab in [(1, "a"), (3, "b"), (0, None), (5, "pos")]]
    for source in ("{score: (if .score < 2 then 0 else 1 end)}", ".label", "{n: length}", ".tags[]"):
        expression = ProjectedExpression(source)
        assert expression.all_batch(rows) == [Expression(source).all(row) for row in rows]
    # a failing row makes the batch give up, so the caller can name the row
    assert ProjectedExpression(".score + .label").all_batch(rows) is None
