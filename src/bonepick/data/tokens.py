"""Counting tokens: documents, tokens and UTF-8 bytes of the text, per dataset and split."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bonepick.data.expressions import Expression
from bonepick.errors import UsageError
from bonepick.io.dataset import SPLIT_NAMES, discover_datasets
from bonepick.io.jsonl import iter_rows_sized
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary, ShardStats, ShardTask, Step

BATCH_ROWS = 256


@dataclass
class TokenCount:
    files: int = 0
    documents: int = 0
    tokens: int = 0
    bytes: int = 0

    def add(self, other: TokenCount) -> None:
        self.files += other.files
        self.documents += other.documents
        self.tokens += other.tokens
        self.bytes += other.bytes

    @property
    def tokens_per_document(self) -> float:
        return self.tokens / self.documents if self.documents else 0.0

    @property
    def tokens_per_byte(self) -> float:
        return self.tokens / self.bytes if self.bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "documents": self.documents,
            "tokens": self.tokens,
            "bytes": self.bytes,
            "tokens_per_document": round(self.tokens_per_document, 3),
            "tokens_per_byte": round(self.tokens_per_byte, 5),
        }


class CountTokensStep(Step):
    name = "count tokens"
    resumable = False

    def __init__(self, tokenizer: str, text_expression: str) -> None:
        self.tokenizer_name = tokenizer
        self.text_expression = Expression(text_expression)
        self._tokenizer: Any = None

    def setup(self) -> None:
        from bonepick.data.tokenizers import load_tokenizer

        self._tokenizer = load_tokenizer(self.tokenizer_name)

    def _count(self, texts: list[str]) -> int:
        encode = getattr(self._tokenizer, "encode_batch_fast", None) or self._tokenizer.encode_batch
        return sum(len(encoding.ids) for encoding in encode(texts, add_special_tokens=False))

    def run(self, task: ShardTask, stats: ShardStats) -> TokenCount:
        if self._tokenizer is None:
            self.setup()
        count = TokenCount(files=1)
        batch: list[str] = []
        for line, row, size in iter_rows_sized(task.input):
            stats.read(1, size)
            text = self.text_expression.text(row, task.input, line)
            batch.append(text)
            count.documents += 1
            count.bytes += len(text.encode("utf-8"))
            if len(batch) >= BATCH_ROWS:
                count.tokens += self._count(batch)
                batch = []
        if batch:
            count.tokens += self._count(batch)
        return count


@dataclass
class TokenReport:
    summary: RunSummary
    tokenizer: str
    #: (dataset folder, split) -> counts
    counts: dict[tuple[str, str], TokenCount]

    @property
    def total(self) -> TokenCount:
        total = TokenCount()
        for count in self.counts.values():
            total.add(count)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokenizer": self.tokenizer,
            "datasets": [
                {"dataset": dataset, "split": split, **count.to_dict()}
                for (dataset, split), count in self.counts.items()
            ],
            "total": self.total.to_dict(),
        }


def count_tokens(
    dataset_dirs: Sequence[Path],
    *,
    tokenizer: str = "dolma2",
    text_expression: str = ".text",
    num_proc: int | None = None,
    progress: ProgressSink | None = None,
) -> TokenReport:
    """Tokens in the text of every row of ``dataset_dirs`` (the tokenizer is checked up front,
    so a bad name fails before any worker starts)."""
    from bonepick.data.tokenizers import load_tokenizer

    load_tokenizer(tokenizer)
    datasets = discover_datasets(dataset_dirs)
    tasks: list[ShardTask] = []
    owners: dict[int, tuple[str, str]] = {}
    for dataset, root in zip(datasets, dataset_dirs, strict=True):
        for split in SPLIT_NAMES:
            for shard in dataset.shards(split):
                owners[len(tasks)] = (str(root), split)
                tasks.append(ShardTask(index=len(tasks), key=str(shard), input=shard, split=split))
    if not tasks:
        raise UsageError("no shards found in " + ", ".join(map(str, dataset_dirs)))
    executor = LocalExecutor(num_proc, progress=progress)
    summary = executor.run(CountTokensStep(tokenizer, text_expression), tasks, None, "count tokens")
    counts: dict[tuple[str, str], TokenCount] = {}
    for result in summary.results:
        counts.setdefault(owners[result.task.index], TokenCount()).add(result.result)
    return TokenReport(summary=summary, tokenizer=tokenizer, counts=counts)
