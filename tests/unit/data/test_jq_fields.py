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


def test_memoized_batches_keep_value_types_apart() -> None:
    """Equal projected inputs share one jq run; 1, 1.0, true, -0.0, a missing field, lists and
    dicts must still be told apart, and impure expressions are never remembered."""
    values = [1, 1.0, True, -0.0, 0.0, None, "1", [1, 2], {"a": 1}, [1, 2], 1, "1", True]
    rows = [{"x": v, "other": i} for i, v in enumerate(values)] + [{"other": 99}]
    for source in ("{t: (.x | type), v: .x}", "{s: (.x | tostring)}", "[.x, .x]"):
        expression = ProjectedExpression(source)
        assert expression.memoized
        for _ in range(2):  # the second batch is answered from the memory
            assert expression.all_batch(rows) == [Expression(source).all(row) for row in rows]
    two = ProjectedExpression("{k: (.x | tostring), o: .other}")
    assert two.all_batch(rows) == [Expression(two.source).all(row) for row in rows]
    assert not ProjectedExpression("{t: (.x | now)}").memoized
    assert not ProjectedExpression("{t: input_line_number}").memoized
