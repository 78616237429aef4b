"""Keep the documents whose score passes a threshold, written back byte for byte."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bonepick.errors import UsageError
from bonepick.infer.layout import find_mirror, iter_shards, plan_tasks
from bonepick.infer.scores import ScorePairs, ScoreReader
from bonepick.infer.thresholds import ThresholdReport, compute_thresholds
from bonepick.pipeline import FilterStep, LocalExecutor, ProgressSink, RunSummary, ShardStats, ShardTask
from bonepick.pipeline.settings import check_same_settings, read_settings

BELOW = "score below threshold"


class ScoreFilterStep(FilterStep):
    """Keeps the documents whose score is at least ``threshold`` (their original bytes) and
    counts the rest. Scores come from the task's ``scores`` file, row for row, or from the
    documents themselves when that is absent."""

    name = "filter"

    def __init__(
        self,
        name: str,
        threshold: float,
        *,
        label: str | None = None,
        id_expression: str | None = ".id",
        compression_level: int | None = None,
    ) -> None:
        self.reader = ScoreReader(name, label)
        self.threshold = threshold
        self.id_expression = id_expression
        self.compression_level = compression_level
        self._pairs: ScorePairs | None = None
        self._where: Path | None = None

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        score_path: Path | None = task.params.get("scores")
        self._where = score_path or task.input
        self._pairs = ScorePairs(task.input, score_path, self.id_expression) if score_path else None
        try:
            super().run(task, stats)
            if self._pairs is not None:
                try:
                    self._pairs.finish()
                except Exception:
                    assert task.output is not None
                    task.output.unlink(missing_ok=True)  # never leave an output for mismatched scores
                    raise
        finally:
            self._pairs = None
        return None

    def keep(self, path: Path, line: int, row: dict[str, Any], stats: ShardStats, task: ShardTask) -> bool:
        score_row = self._pairs.match(row, line) if self._pairs is not None else row
        assert self._where is not None
        if self.reader(score_row, self._where, line) >= self.threshold:
            return True
        stats.skip(BELOW)
        return False


@dataclass
class FilterResult:
    summary: RunSummary
    threshold: float
    report: ThresholdReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.summary.to_dict()


def filter_documents(
    inputs: Sequence[Path],
    output_dir: Path,
    name: str,
    *,
    attributes_dir: Path | None = None,
    label: str | None = None,
    threshold: float | None = None,
    keep: float | None = None,
    by: str = "docs",
    tokenizer: str | Path | None = None,
    compression: str = "zstd",
    compression_level: int | None = None,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> FilterResult:
    """Write the documents under ``inputs`` whose score (from ``attributes_dir``, or from the
    documents themselves when they were scored inline) is at least the threshold.

    With ``keep`` instead of ``threshold``, the threshold is first computed over all scores so
    that about that fraction of documents (or tokens) passes.
    """
    if (threshold is None) == (keep is None):
        raise UsageError("pass exactly one of --threshold and --keep")
    output_dir = Path(output_dir)
    datasets, tasks = plan_tasks(inputs, output_dir, compression)
    settings = read_settings(attributes_dir, "infer") if attributes_dir else None
    id_expression = (settings or {}).get("id_expression", ".id")
    if attributes_dir is not None:
        shards = list(iter_shards(datasets))
        tasks = [
            ShardTask(t.index, t.key, t.input, t.output, t.split, {"scores": find_mirror(attributes_dir, s)})
            for t, s in zip(tasks, shards, strict=True)
        ]
    report = None
    if keep is not None:
        report = compute_thresholds(
            [attributes_dir] if attributes_dir else list(inputs),
            name,
            label=label,
            keeps=[keep],
            by=by,
            docs_dirs=list(inputs) if attributes_dir and by == "tokens" else None,
            tokenizer=tokenizer,
            num_proc=num_proc,
            progress=progress,
        )
        threshold = report.rows[0].threshold
    assert threshold is not None
    check_same_settings(
        output_dir,
        "filter",
        {
            "name": name,
            "label": label,
            "threshold": threshold,
            "scores": str(Path(attributes_dir).resolve()) if attributes_dir else "inline",
        },
        overwrite,
    )
    step = ScoreFilterStep(
        name, threshold, label=label, id_expression=id_expression, compression_level=compression_level
    )
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    summary = executor.run(step, tasks, output_dir, f"filter {name}")
    return FilterResult(summary=summary, threshold=threshold, report=report)
