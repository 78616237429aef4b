"""Uniform random sampling with an exact budget, in two streaming passes.

Every row of every input (all splits together) gets a seeded key; the sample is the shortest
key-ordered prefix that meets the budget:

* ``rate`` R: exactly ``round(R * rows)`` rows;
* ``target_rows`` N: exactly N rows (all rows if there are fewer);
* ``target_bytes`` B: the longest key-ordered prefix whose uncompressed JSON lines (newline
  included) add up to at most B bytes, so the sample is within one row of the budget.

Rows keep their split, their shard and their order; the choice is the same for any number of
processes, and any part of every file is as likely to be picked as any other.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bonepick.data.scan import BYTES_OUT, KeepPlan, KeepStep, ScanResult, ScanStep, spill_paths, sweep_chunks
from bonepick.data.selection import find_thresholds, read_spill
from bonepick.errors import UsageError
from bonepick.io.dataset import discover_datasets
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary
from bonepick.pipeline.executor import STATE_DIR
from bonepick.pipeline.tasks import plan_mirrored_tasks


@dataclass
class SampleResult:
    summary: RunSummary
    rows_in: int
    bytes_in: int
    rows_out: int
    bytes_out: int
    budget: str

    def to_dict(self) -> dict:
        return {
            "budget": self.budget,
            "rows_in": self.rows_in,
            "bytes_in": self.bytes_in,
            "rows_out": self.rows_out,
            "bytes_out": self.bytes_out,
        }


def sample_dataset(
    inputs: Sequence[Path],
    output_dir: Path,
    *,
    rate: float | None = None,
    target_rows: int | None = None,
    target_bytes: int | None = None,
    seed: int = 42,
    compression_level: int | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> SampleResult:
    """Write a uniform sample of ``inputs`` to ``output_dir`` (same layout, fewer rows)."""
    given = [
        name for name, v in (("rate", rate), ("rows", target_rows), ("bytes", target_bytes)) if v is not None
    ]
    if len(given) != 1:
        raise UsageError(
            "give exactly one of --sampling-rate, --target-size, --target-rows",
            hint="for example --sampling-rate 0.1 or --target-size 500MB",
        )
    if rate is not None and not 0 < rate <= 1:
        raise UsageError(f"--sampling-rate must be in (0, 1], got {rate}")
    if target_rows is not None and target_rows < 0:
        raise UsageError(f"--target-rows must be at least 0, got {target_rows}")
    if target_bytes is not None and target_bytes < 0:
        raise UsageError(f"--target-size must be at least 0, got {target_bytes}")
    output_dir = Path(output_dir)
    tasks = plan_mirrored_tasks(discover_datasets(inputs), output_dir)
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    spill_root = output_dir / STATE_DIR / "sample-scan"
    shutil.rmtree(spill_root, ignore_errors=True)
    with executor:  # workers started once for both passes
        try:
            scan = executor.run(ScanStep(spill_root), tasks, None, "measure")
            scans: dict[int, ScanResult] = {r.task.index: r.result for r in scan.results}
            rows = {index: s.rows for index, s in scans.items()}
            total_rows = sum(rows.values())
            total_bytes = sum(s.bytes for s in scans.values())
            weights_of = None
            if rate is not None:
                budget, description = (
                    round(rate * total_rows),
                    f"rate {rate} = {round(rate * total_rows)} rows",
                )
            elif target_rows is not None:
                budget, description = target_rows, f"{target_rows} rows"
            else:
                assert target_bytes is not None
                budget, description = target_bytes, f"{target_bytes} bytes"

                def weights_of(task):
                    return read_spill(spill_paths(spill_root, task)[0])

            [threshold] = find_thresholds(
                lambda: sweep_chunks(seed, tasks, rows, None, weights_of), [budget], 1
            )
            plans = {
                t.key: KeepPlan(
                    thresholds=[threshold],
                    expected_rows=rows[t.index],
                    sizes_spill=spill_paths(spill_root, t)[0] if scans[t.index].clean else None,
                )
                for t in tasks
            }
            keep = KeepStep(seed, plans, "not sampled")
            keep.compression_level = compression_level
            settings = {
                "inputs": list(inputs),
                "rate": rate,
                "target_rows": target_rows,
                "target_bytes": target_bytes,
                "seed": seed,
                "compression_level": compression_level,
            }
            summary = executor.run(keep, tasks, output_dir, "sample", settings=settings)
        finally:
            shutil.rmtree(spill_root, ignore_errors=True)
    totals = summary.totals()
    bytes_out = int(totals.extra.get(BYTES_OUT, 0))
    return SampleResult(
        summary=summary,
        rows_in=total_rows,
        bytes_in=total_bytes,
        rows_out=totals.rows_out,
        bytes_out=bytes_out,
        budget=description,
    )
