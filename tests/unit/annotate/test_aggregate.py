"""Combining samples and chunks."""

from __future__ import annotations

import pytest

from bonepick.annotate.aggregate import aggregate_values, combine_chunks, combine_samples


@pytest.mark.parametrize(
    ("values", "how", "expected"),
    [
        ([1, 3, 3], "majority", 3),
        ([2, 4], "majority", 3),
        ([1, 2, 2, 4, 4], "majority", 2.6),
        (["a", "b", "b"], "majority", "b"),
        (["a", "b"], "majority", "a"),
        ([True, False, True], "majority", True),
        ([1, 2, 4], "mean", 2.333333),
        ([1, 2, 4], "min", 1),
        ([1.5, 2, 4], "max", 4),
    ],
)
def test_aggregate_values(values, how, expected):
    assert aggregate_values(values, how) == expected


def test_samples_keep_every_raw_answer():
    samples = [{"score": 1, "reason": "a"}, {"score": 3, "reason": "b"}, {"score": 3, "reason": "c"}]
    combined = combine_samples(samples, "score", "majority")
    assert combined == {"score": 3, "reason": "b", "samples": samples}
    mean = combine_samples(samples, "score", "mean")
    assert mean["score"] == 2.333333 and mean["reason"] == "b"  # closest sample represents it
    assert combine_samples(samples[:1], "score", "mean") == samples[0]


def test_chunks_are_averaged():
    records = [{"score": 1, "depth": 0, "why": "a", "samples": [1]}, {"score": 4, "depth": 3, "why": "b"}]
    combined = combine_chunks(records, "score")
    assert combined["score"] == 2.5 and combined["chunks"] == records and "samples" not in combined
    assert combined["depth"] == 1.5 and combined["why"] == "a"
