"""Combining several answers for one row: repeated samples (``--samples N --aggregate``) and chunks
of a long document (``--chunking chunks``, averaged). Every raw answer is kept beside the result."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

AGGREGATIONS = ("majority", "mean", "min", "max")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _tidy(value: float) -> float | int:
    rounded = round(float(value), 6)
    return int(rounded) if rounded.is_integer() else rounded


def aggregate_values(values: Sequence[Any], how: str) -> Any:
    """``majority`` (a tie goes to the mean of all values, or to the first tied value for text),
    ``mean``, ``min`` or ``max``. Booleans count as 0/1 for the numeric aggregations."""
    if not values:
        raise ValueError("nothing to aggregate")
    if how == "majority":
        counts = Counter(values)
        top = max(counts.values())
        tied = [v for v in dict.fromkeys(values) if counts[v] == top]
        if len(tied) == 1:
            return tied[0]
        if all(_is_number(v) or isinstance(v, bool) for v in values):
            return _tidy(statistics.fmean(float(v) for v in values))
        return tied[0]
    numbers = [float(v) for v in values]
    if how == "mean":
        return _tidy(statistics.fmean(numbers))
    if how == "min":
        return _tidy(min(numbers))
    if how == "max":
        return _tidy(max(numbers))
    raise ValueError(f"unknown aggregation '{how}'")


def _representative(outputs: Sequence[dict[str, Any]], score: str, target: Any) -> dict[str, Any]:
    """The answer whose score equals ``target``, else the closest one, else the first."""
    for output in outputs:
        if output.get(score) == target:
            return output
    if _is_number(target):
        numeric = [o for o in outputs if _is_number(o.get(score)) or isinstance(o.get(score), bool)]
        if numeric:
            return min(numeric, key=lambda o: abs(float(o[score]) - float(target)))
    return outputs[0]


def combine_samples(outputs: Sequence[dict[str, Any]], score: str | None, how: str) -> dict[str, Any]:
    """One record for several samples: the representative answer with the aggregated score, and
    every raw sample under ``samples``."""
    if len(outputs) == 1:
        return dict(outputs[0])
    if score is None:
        raise ValueError("aggregating samples needs a score field")
    value = aggregate_values([o.get(score) for o in outputs], how)
    return {**_representative(outputs, score, value), score: value, "samples": list(outputs)}


def combine_chunks(records: Sequence[dict[str, Any]], score: str | None) -> dict[str, Any]:
    """One record for several chunks: the mean of the score and of every other numeric field, the
    text fields of the chunk closest to the mean, and each chunk's record under ``chunks``."""
    if len(records) == 1:
        return dict(records[0])
    if score is None:
        raise ValueError("averaging chunks needs a score field")
    value = aggregate_values([r.get(score) for r in records], "mean")
    representative = {k: v for k, v in _representative(records, score, value).items() if k != "samples"}
    for key in representative:  # every numeric field is averaged over the chunks, like the score
        values = [r.get(key) for r in records]
        if key != score and all(_is_number(v) for v in values):
            representative[key] = aggregate_values(values, "mean")
    return {**representative, score: value, "chunks": list(records)}
