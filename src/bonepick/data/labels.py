"""Label helpers shared by the data stages: ordering, numeric parsing, multi-label values."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bonepick.data.expressions import label_to_str
from bonepick.errors import DataError


def _as_float(label: str) -> float | None:
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def sort_labels(labels: Iterable[str]) -> list[str]:
    """Labels in a stable, human order: numerically when every label is a number
    (``"2" < "10"``), otherwise as strings."""
    unique = sorted(set(labels))
    numbers = [_as_float(label) for label in unique]
    if unique and all(n is not None for n in numbers):
        return [label for _, label in sorted(zip(numbers, unique, strict=True))]  # type: ignore[type-var]
    return unique


def numeric_label(value: Any, path: str | Path | None = None, line: int | None = None) -> float:
    """A label value as a number; numeric strings are accepted, anything else is a DataError."""
    if isinstance(value, bool) or value is None:
        raise DataError(f"expected a numeric label, got {value!r}", path, line)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number_or_none = _as_float(value.strip())
        if number_or_none is None:
            raise DataError(f"expected a numeric label, got {value!r}", path, line)
        number = number_or_none
    else:
        raise DataError(f"expected a numeric label, got {type(value).__name__}", path, line)
    if not math.isfinite(number):
        raise DataError(f"label is not a finite number: {value!r}", path, line)
    return number


def multi_labels(value: Any, path: str | Path | None = None, line: int | None = None) -> list[str]:
    """The labels of a multi-label value, in first-seen order without duplicates.

    A list gives its elements; a dict gives the keys whose value is true or a number above 0
    (``{"spam": 1, "promo": 0}`` -> ``["spam"]``); a single scalar is one label.
    """
    if isinstance(value, list):
        items = [label_to_str(v) for v in value if v is not None]
    elif isinstance(value, dict):
        items = []
        for key, flag in value.items():
            if isinstance(flag, bool):
                keep = flag
            elif isinstance(flag, int | float):
                keep = flag > 0
            elif flag is None:
                keep = False
            else:
                raise DataError(
                    f"multi-label dict value for '{key}' must be a boolean or a number, got {flag!r}",
                    path,
                    line,
                )
            if keep:
                items.append(str(key))
    elif value is None:
        items = []
    else:
        items = [label_to_str(value)]
    return list(dict.fromkeys(items))
