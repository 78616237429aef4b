"""Threshold arithmetic against numpy, and parsing --keep."""

from __future__ import annotations

import numpy as np
import pytest

from bonepick.errors import UsageError
from bonepick.infer.thresholds import doc_thresholds, parse_keeps, summarize, token_thresholds


def test_doc_thresholds_are_numpy_percentiles() -> None:
    rng = np.random.default_rng(3)
    scores = rng.beta(2, 5, size=10_001)
    keeps = [0.01, 0.1, 0.333, 0.5, 1.0]
    assert doc_thresholds(scores, keeps) == [np.percentile(scores, 100 * (1 - k)) for k in keeps]
    rows, summary = summarize(scores, None, keeps, "docs")
    for row in rows:
        assert row.docs_kept == int((scores >= row.threshold).sum())
        assert abs(row.docs_fraction - row.keep) < 1e-3
    assert rows[-1].threshold == scores.min() and rows[-1].docs_kept == len(scores)
    assert summary["p50"] == np.percentile(scores, 50)


def test_token_thresholds_walk_down_from_the_best_documents() -> None:
    scores = np.array([0.9, 0.1, 0.5, 0.7, 0.3])
    tokens = np.array([10, 50, 20, 10, 10])  # 100 tokens
    # best first: 0.9 (10), 0.7 (20 running), 0.5 (40), 0.3 (50), 0.1 (100)
    assert token_thresholds(scores, tokens, [0.1, 0.2, 0.25, 0.4, 0.5, 0.51, 1.0]) == [
        0.9,
        0.7,
        0.5,
        0.5,
        0.3,
        0.1,
        0.1,
    ]
    rows, _ = summarize(scores, tokens, [0.25], "tokens")
    assert (rows[0].threshold, rows[0].docs_kept, rows[0].tokens_kept, rows[0].tokens_fraction) == (
        0.5,
        3,
        40,
        0.4,
    )


def test_parse_keeps() -> None:
    assert parse_keeps("0.5, 10%,0.1") == [0.1, 0.5]
    for bad in ("0", "1.5", "abc", ",", "-0.1"):
        with pytest.raises(UsageError):
            parse_keeps(bad)
