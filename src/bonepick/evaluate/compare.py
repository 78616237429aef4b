"""Several results files side by side: one row per metric, one column per result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonepick.errors import UsageError
from bonepick.evaluate.results import find_results, load_results
from bonepick.evaluate.tables import MISSING, headline, lookup

#: metrics where lower is better (matched on the last part of the key)
LOWER_IS_BETTER = {"mse", "rmse", "mae", "mae_expected", "ece", "hamming_loss"}


@dataclass
class Comparison:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    sources: list[str]
    warnings: list[str] = field(default_factory=list)


def _column_names(records: Sequence[dict[str, Any]], paths: Sequence[Path]) -> list[str]:
    names = [
        str(r.get("model", {}).get("name") or p.parent.name) for r, p in zip(records, paths, strict=True)
    ]
    signatures = [str(r.get("signature", "?")) for r in records]
    out = []
    for name, sig in zip(names, signatures, strict=True):
        out.append(name if names.count(name) == 1 else f"{name} @{sig}")
    seen: dict[str, int] = {}
    unique = []
    for name in out:  # the same model and data given twice
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return unique


def _mark_best(key: tuple[str, ...], values: list[Any]) -> list[Any]:
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < 2 or len(set(numbers)) == 1:
        return [MISSING if v is None else v for v in values]
    best = min(numbers) if key[-1] in LOWER_IS_BETTER else max(numbers)
    return [MISSING if v is None else (f"{v:.4f}*" if v == best else v) for v in values]


def compare_results(paths: Sequence[str | Path], signature: str | None = None) -> Comparison:
    """Load every results file (or every one in each model folder) and line them up."""
    if not paths:
        raise UsageError("no results given", hint="pass -r RESULTS.yaml (repeat for several)")
    files = [f for p in paths for f in find_results(p)]
    records = [load_results(f) for f in files]
    if signature:
        kept = [(f, r) for f, r in zip(files, records, strict=True) if str(r.get("signature")) == signature]
        if not kept:
            raise UsageError(f"no results with signature {signature}", hint="drop --signature to see all")
        files, records = [f for f, _ in kept], [r for _, r in kept]
    warnings = []
    signatures = {str(r.get("signature")) for r in records}
    if len(signatures) > 1:
        warnings.append(
            f"the results are on different test data (signatures {', '.join(sorted(signatures))}); "
            "their numbers are not directly comparable"
        )
    tasks = {r["metrics"].get("task", "classification") for r in records}
    if len(tasks) > 1:
        warnings.append(f"the results mix tasks ({', '.join(sorted(tasks))}); only shared metrics line up")
    paths_by_name: dict[str, list[tuple[str, ...]]] = {}  # display name -> key paths, in first-seen order
    for record in records:
        for key, name in headline(record["metrics"]):
            if key not in paths_by_name.setdefault(name, []):
                paths_by_name[name].append(key)
    rows: list[list[Any]] = [
        ["model kind / task", *[f"{r['model'].get('kind')} / {r['model'].get('task')}" for r in records]],
        ["test signature", *[str(r.get("signature")) for r in records]],
        ["test rows", *[r.get("data", {}).get("rows", MISSING) for r in records]],
    ]
    for name, keys in paths_by_name.items():
        values = [
            next((v for v in (lookup(r["metrics"], k) for k in keys) if v is not None), None) for r in records
        ]
        if all(v is None for v in values):
            continue
        rows.append([name, *_mark_best(keys[0], values)])
    rows.append(["docs/s (scoring)", *[_rate(r) for r in records]])
    title = f"{len(records)} results compared (* best)"
    return Comparison(
        title, ["metric", *_column_names(records, files)], rows, [str(f) for f in files], warnings
    )


def _rate(record: dict[str, Any]) -> Any:
    rate = record.get("timing", {}).get("docs_per_second")
    return round(rate) if isinstance(rate, int | float) else MISSING
