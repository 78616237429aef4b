from __future__ import annotations

import pytest

from bonepick.data.fasttext_format import AutoBins, clean_label, clean_text, format_line, parse_line
from bonepick.data.labels import multi_labels, sort_labels
from bonepick.errors import DataError, UsageError


def test_clean_text_leaves_no_label_marker_and_one_line() -> None:
    for text in [
        "a __label__b",
        "____label__",
        "__label____label__",
        "x__label___label__y",
        "a\n\nb\u2028c\x00d",
    ]:
        cleaned = clean_text(text)
        assert "__label__" not in cleaned
        assert len(cleaned.splitlines()) <= 1
    assert clean_text("  a\n\n b\t") == "a b"


def test_format_and_parse_are_inverse() -> None:
    line = format_line(["pos", "long"], "some text here")
    assert line == "__label__pos __label__long some text here"
    assert parse_line(line + "\n") == (["pos", "long"], "some text here")


def test_clean_label() -> None:
    assert clean_label(1.0) == "1"
    assert clean_label("very good") == "very_good"
    with pytest.raises(DataError):
        clean_label("  ", "f.jsonl", 3)


def test_auto_bins_equal_count_and_single_value_bins() -> None:
    bins = AutoBins.fit({float(v): 10 for v in range(10)}, 5)
    assert [(b["min"], b["max"], b["count"]) for b in bins.bins] == [
        (0, 1, 20),
        (2, 3, 20),
        (4, 5, 20),
        (6, 7, 20),
        (8, 9, 20),
    ]
    skewed = AutoBins.fit({0.0: 70, 1.0: 10, 2.0: 10, 3.0: 10}, 4)
    assert skewed.bins[0]["min"] == skewed.bins[0]["max"] == 0.0
    assert skewed.bins[0]["count"] == 70
    assert len(skewed.bins) < 4  # empty bins are dropped
    assert skewed.labels == [str(i) for i in range(len(skewed.bins))]
    assert bins.assign(-5) == "0" and bins.assign(100) == "4" and bins.assign(2.5) == "1"
    with pytest.raises(UsageError):
        AutoBins.fit({}, 3)


def test_sort_labels_and_multi_labels() -> None:
    assert sort_labels(["10", "2", "1.5"]) == ["1.5", "2", "10"]
    assert sort_labels(["b", "a", "10"]) == ["10", "a", "b"]
    assert multi_labels({"a": True, "b": 0, "c": 0.3, "d": None}) == ["a", "c"]
    assert multi_labels(["x", "y", "x"]) == ["x", "y"]
    assert multi_labels("solo") == ["solo"]
    with pytest.raises(DataError):
        multi_labels({"a": "yes"})
