"""Score thresholds that keep a chosen fraction of the documents (or of their tokens).

For ``by="docs"`` the threshold keeping a fraction ``k`` is ``numpy.percentile(scores, 100 * (1 - k))``
(linear interpolation), so about ``k`` of the documents score at or above it. For ``by="tokens"``
documents are sorted by score, highest first, and the threshold is the score of the document at
which the running token count first reaches ``k`` of all tokens.

Every score is held in memory (8 bytes per document, plus 8 per document for token counts).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.data.expressions import Expression
from bonepick.errors import DataError, InputNotFoundError, UsageError
from bonepick.infer.layout import find_mirror, iter_shards
from bonepick.infer.scores import ScoreReader, iter_paired
from bonepick.io.dataset import discover_datasets
from bonepick.io.jsonl import iter_rows_sized
from bonepick.io.shards import find_shards
from bonepick.pipeline import LocalExecutor, ProgressSink, ShardStats, ShardTask, Step
from bonepick.pipeline.settings import read_settings

BY = ("docs", "tokens")
DEFAULT_KEEPS = (0.05, 0.1, 0.2, 0.3, 0.5)
SUMMARY_PERCENTILES = (1, 5, 10, 25, 50, 75, 90, 95, 99)


def parse_keeps(text: str) -> list[float]:
    """``"0.1,0.2,50%"`` -> ``[0.1, 0.2, 0.5]``; every fraction must be in (0, 1]."""
    keeps = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            value = float(part[:-1]) / 100 if part.endswith("%") else float(part)
        except ValueError:
            raise UsageError(
                f"--keep: '{part}' is not a fraction", hint="write e.g. 0.1,0.2,0.5 or 10%"
            ) from None
        if not 0 < value <= 1:
            raise UsageError(f"--keep: {part} is not a fraction in (0, 1]", hint="write e.g. 0.1 for 10%")
        keeps.append(value)
    if not keeps:
        raise UsageError("--keep needs at least one fraction", hint="write e.g. 0.1,0.2,0.5")
    return sorted(set(keeps))


def doc_thresholds(scores: np.ndarray, keeps: Sequence[float]) -> list[float]:
    return [float(np.percentile(scores, 100 * (1 - k))) for k in keeps]


def token_thresholds(scores: np.ndarray, weights: np.ndarray, keeps: Sequence[float]) -> list[float]:
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    running = np.cumsum(weights[order])
    total = running[-1]
    if total <= 0:
        raise DataError("the documents have no tokens at all; thresholds by tokens are undefined")
    out = []
    for keep in keeps:
        index = min(int(np.searchsorted(running, keep * total, side="left")), len(ranked) - 1)
        out.append(float(ranked[index]))
    return out


@dataclass
class ThresholdRow:
    keep: float
    threshold: float
    docs_kept: int
    docs_fraction: float
    tokens_kept: int | None = None
    tokens_fraction: float | None = None


@dataclass
class ThresholdReport:
    name: str
    label: str | None
    by: str
    documents: int
    tokens: int | None
    token_unit: str | None
    rows: list[ThresholdRow]
    summary: dict[str, float] = field(default_factory=dict)
    scores: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "by": self.by,
            "rule": "keep documents whose score is >= threshold",
            "documents": self.documents,
        }
        if self.tokens is not None:
            data["tokens"] = self.tokens
            data["token_unit"] = self.token_unit
        data["score_summary"] = self.summary
        data["thresholds"] = [{k: v for k, v in vars(row).items() if v is not None} for row in self.rows]
        return data


def summarize(
    scores: np.ndarray, weights: np.ndarray | None, keeps: Sequence[float], by: str
) -> tuple[list[ThresholdRow], dict[str, float]]:
    if by == "tokens":
        assert weights is not None
        cuts = token_thresholds(scores, weights, keeps)
    else:
        cuts = doc_thresholds(scores, keeps)
    n = len(scores)
    total_tokens = int(weights.sum()) if weights is not None else None
    rows = []
    for keep, cut in zip(keeps, cuts, strict=True):
        passed = scores >= cut
        row = ThresholdRow(keep=keep, threshold=cut, docs_kept=int(passed.sum()), docs_fraction=0.0)
        row.docs_fraction = round(row.docs_kept / n, 6)
        if weights is not None and total_tokens:
            row.tokens_kept = int(weights[passed].sum())
            row.tokens_fraction = round(row.tokens_kept / total_tokens, 6)
        rows.append(row)
    summary = {"min": float(scores.min()), "max": float(scores.max()), "mean": float(scores.mean())}
    for q, value in zip(SUMMARY_PERCENTILES, np.percentile(scores, SUMMARY_PERCENTILES), strict=True):
        summary[f"p{q}"] = float(value)
    return rows, summary


class TokenCounter:
    """Tokens per text with a ``tokenizers`` tokenizer file, or whitespace-separated words."""

    def __init__(self, tokenizer: str | Path | None = None) -> None:
        self.tokenizer_path = str(tokenizer) if tokenizer else None
        self._tokenizer: Any = None

    @property
    def unit(self) -> str:
        return f"tokens of {Path(self.tokenizer_path).name}" if self.tokenizer_path else "whitespace words"

    def setup(self) -> None:
        if self.tokenizer_path and self._tokenizer is None:
            from tokenizers import Tokenizer

            path = Path(self.tokenizer_path)
            if not path.is_file():
                raise InputNotFoundError(
                    f"no such tokenizer file: {path}", hint="pass a tokenizer.json (Hugging Face tokenizers)"
                )
            self._tokenizer = Tokenizer.from_file(str(path))

    def count(self, texts: list[str]) -> list[int]:
        if self._tokenizer is None:
            return [len(t.split()) for t in texts]
        return [len(e.ids) for e in self._tokenizer.encode_batch(texts, add_special_tokens=False)]

    def __getstate__(self) -> dict[str, Any]:
        return {"tokenizer_path": self.tokenizer_path, "_tokenizer": None}


class CollectScores(Step):
    """Reads one score file (and its documents when tokens are counted) into arrays."""

    name = "collect scores"
    resumable = False

    def __init__(
        self,
        reader: ScoreReader,
        counter: TokenCounter | None,
        text_expression: str,
        id_expression: str | None,
    ) -> None:
        self.reader = reader
        self.counter = counter
        self.text_expression = text_expression
        self.id_expression = id_expression

    def setup(self) -> None:
        if self.counter is not None:
            self.counter.setup()
        self._text = Expression(self.text_expression)

    def run(self, task: ShardTask, stats: ShardStats) -> tuple[np.ndarray, np.ndarray | None]:
        score_path: Path = task.params["scores"]
        docs: Path | None = task.params.get("docs")
        scores: list[float] = []
        tokens: list[int] = []
        texts: list[str] = []
        if docs is None and self.counter is None:
            for line, row, size in iter_rows_sized(score_path):
                stats.read(1, size)
                scores.append(self.reader(row, score_path, line))
        else:
            source = docs or score_path
            pairs = iter_paired(source, score_path if docs else None, self.id_expression)
            for line, doc, score_row, size in pairs:
                stats.read(1, size)
                scores.append(self.reader(score_row, score_path, line))
                if self.counter is not None:
                    texts.append(self._text.text(doc, source, line))
                    if len(texts) >= 1024:
                        tokens.extend(self.counter.count(texts))
                        texts.clear()
            if self.counter is not None and texts:
                tokens.extend(self.counter.count(texts))
        weights = np.asarray(tokens, dtype=np.int64) if self.counter is not None else None
        return np.asarray(scores, dtype=np.float64), weights


def plan_collect(score_dirs: Sequence[Path], docs_dirs: Sequence[Path] | None) -> list[ShardTask]:
    tasks: list[ShardTask] = []
    if docs_dirs:
        if len(score_dirs) != 1:
            raise UsageError("with documents (-i), pass exactly one scored folder (-d)")
        for shard in iter_shards(discover_datasets(docs_dirs)):
            scores = find_mirror(score_dirs[0], shard)
            tasks.append(
                ShardTask(
                    index=len(tasks),
                    key=shard.relative.as_posix(),
                    input=scores,
                    params={"scores": scores, "docs": shard.path},
                )
            )
    else:
        for root in score_dirs:
            for path in find_shards(root):
                tasks.append(ShardTask(index=len(tasks), key=str(path), input=path, params={"scores": path}))
    if not tasks:
        raise InputNotFoundError(
            f"no score files under {', '.join(map(str, score_dirs))}",
            hint="pass the output folder of `bonepick infer`",
        )
    return tasks


def compute_thresholds(
    score_dirs: Sequence[Path],
    name: str,
    *,
    label: str | None = None,
    keeps: Sequence[float] = DEFAULT_KEEPS,
    by: str = "docs",
    docs_dirs: Sequence[Path] | None = None,
    text_expression: str | None = None,
    tokenizer: str | Path | None = None,
    num_proc: int | None = None,
    progress: ProgressSink | None = None,
) -> ThresholdReport:
    """Read every score under ``score_dirs`` and find the thresholds keeping each fraction."""
    if by not in BY:
        raise UsageError(f"unknown --by '{by}'", hint="use docs or tokens")
    score_dirs = [Path(d) for d in score_dirs]
    for folder in score_dirs:
        if not folder.exists():
            raise InputNotFoundError(f"no such folder: {folder}", hint="pass the output folder of infer")
    settings = read_settings(score_dirs[0], "infer") or {}
    counter = TokenCounter(tokenizer) if by == "tokens" else None
    if counter is not None and not docs_dirs and settings.get("output") == "attributes":
        raise UsageError(
            "counting tokens needs the documents, and these score files hold only scores",
            hint="pass the scored documents with -i DOCS_DIR",
        )
    text_expression = text_expression or settings.get("text_expression") or ".text"
    id_expression = settings.get("id_expression", ".id")
    tasks = plan_collect(score_dirs, docs_dirs)
    step = CollectScores(ScoreReader(name, label), counter, text_expression, id_expression)
    summary = LocalExecutor(num_proc, progress=progress).run(step, tasks, None, "read scores")
    parts = summary.values()
    scores = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0)
    if len(scores) == 0:
        raise DataError(f"no documents under {', '.join(map(str, score_dirs))}")
    weights = np.concatenate([p[1] for p in parts]) if counter is not None else None
    rows, stats = summarize(scores, weights, list(keeps), by)
    return ThresholdReport(
        name=name,
        label=label,
        by=by,
        documents=len(scores),
        tokens=int(weights.sum()) if weights is not None else None,
        token_unit=counter.unit if counter is not None else None,
        rows=rows,
        summary=stats,
        scores=scores,
    )


def plot_histogram(report: ThresholdReport, path: Path) -> Path:
    """A histogram of the scores with the thresholds marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from bonepick.io.atomic import atomic_path

    assert report.scores is not None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.hist(report.scores, bins=100, color="#4a7ab0", log=True)  # scores pile up at the ends
    for row in report.rows:
        ax.axvline(row.threshold, color="#c0392b", linestyle="--", linewidth=1)
        ax.text(
            row.threshold,
            ax.get_ylim()[1] * 0.95,
            f" keep {row.keep:g}",
            rotation=90,
            va="top",
            fontsize=8,
            color="#c0392b",
        )
    title = report.name + (f" / {report.label}" if report.label else "")
    ax.set_title(f"{title}: {report.documents:,} documents")
    ax.set_xlabel("score")
    ax.set_ylabel("documents (log scale)")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return path
