"""``infer`` as one library call: plan the shards, pick the engine, run the scoring step."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonepick.errors import ModelError, UsageError
from bonepick.infer.layout import plan_tasks
from bonepick.infer.step import DEFAULT_BATCH_SIZE, OUTPUT_MODES, InferStep
from bonepick.models.card import ModelCard
from bonepick.pipeline import ProgressSink, RunSummary, make_executor
from bonepick.pipeline.settings import check_same_settings

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


@dataclass
class InferResult:
    summary: RunSummary
    card: ModelCard
    name: str
    throughput: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.summary.to_dict()

    def provenance(self) -> dict[str, Any]:
        card = self.card
        return {
            "model": {
                "kind": card.kind,
                "task": card.task,
                "labels": list(card.labels),
                "normalizer": card.normalizer,
                "max_length": card.max_length,
                "text_expression": card.text_expression,
            },
            "score_name": self.name,
            "throughput": self.throughput,
        }


def default_name(model_dir: Path) -> str:
    """The score's field name when --name is not given: the model folder's name."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "_", Path(model_dir).resolve().name).strip("_")
    return name or "score"


def infer(
    inputs: Sequence[Path],
    output_dir: Path,
    model_dir: Path,
    *,
    name: str | None = None,
    text_expression: str | None = None,
    id_expression: str = ".id",
    output: str = "attributes",
    batch_size: int = DEFAULT_BATCH_SIZE,
    compression: str = "zstd",
    compression_level: int | None = None,
    num_proc: int | None = None,
    engine: str = "local",
    ray_address: str | None = None,
    num_cpus_per_task: float = 1.0,
    num_gpus_per_task: float = 0.0,
    rank: int = 0,
    world_size: int = 1,
    normalizer: str | None = None,
    max_length: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> InferResult:
    """Score every document under ``inputs`` with the model in ``model_dir``.

    ``normalizer`` (``"none"`` for none) and ``max_length`` (0 for all text) override the card's;
    a folder holding only a fastText file trained elsewhere needs ``normalizer``.
    """
    if output not in OUTPUT_MODES:
        raise UsageError(f"unknown --output '{output}'", hint=f"use one of: {', '.join(OUTPUT_MODES)}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    card = resolve_card(Path(model_dir), normalizer, max_length)  # fails here, before any worker starts
    name = name or default_name(model_dir)
    if not _NAME.match(name):
        raise UsageError(f"--name '{name}' is not a plain field name", hint="use letters, digits, _ . -")
    if name == "id" and output == "attributes":
        raise UsageError("--name 'id' would clash with the id field of the attribute rows")
    output_dir = Path(output_dir)
    _, tasks = plan_tasks(inputs, output_dir, compression)
    check_same_settings(
        output_dir,
        "infer",
        {
            "model_dir": str(Path(model_dir).resolve()),
            "name": name,
            "output": output,
            "text_expression": text_expression or card.text_expression,
            "id_expression": id_expression,
            "normalizer": card.normalizer,
            "max_length": card.max_length,
        },
        overwrite,
    )

    if engine == "ray":
        threads = max(1, math.ceil(num_cpus_per_task))
        executor = make_executor(
            "ray",
            num_proc=num_proc,
            overwrite=overwrite,
            rank=rank,
            world_size=world_size,
            progress=progress,
            ray_address=ray_address,
            num_cpus_per_task=num_cpus_per_task,
            num_gpus_per_task=num_gpus_per_task,
        )
    else:
        if ray_address is not None:
            raise UsageError("--ray-address needs --engine ray")
        executor = make_executor(
            engine,
            num_proc=num_proc,
            overwrite=overwrite,
            rank=rank,
            world_size=world_size,
            progress=progress,
        )
        workers = min(executor.num_proc, len(tasks))
        # one worker keeps the libraries' own threading; several share the cores between them
        threads = max(1, (os.cpu_count() or 1) // workers) if workers > 1 else None
    step = InferStep(
        model_dir,
        name,
        card=card,
        text_expression=text_expression,
        id_expression=id_expression,
        output=output,
        batch_size=batch_size,
        compression_level=compression_level,
        threads=threads,
    )
    summary = executor.run(step, tasks, output_dir, f"infer {name}")
    return InferResult(summary=summary, card=card, name=name, throughput=throughput(summary))


def resolve_card(model_dir: Path, normalizer: str | None, max_length: int | None) -> ModelCard:
    """The model folder's card with the user's overrides, or a card for a fastText file trained
    elsewhere (which needs the normalizer it was trained with)."""
    if ModelCard.exists(model_dir) or not model_dir.is_dir():
        card = ModelCard.load(model_dir)
    elif normalizer is None:
        raise ModelError(
            f"{model_dir} has no model card, so the preprocessing the model expects is unknown",
            hint="for a fastText .bin trained elsewhere pass --normalizer NAME (the one it was trained "
            "with, or 'none'); otherwise pass a folder written by a bonepick train command",
        )
    else:
        from bonepick.models.fasttext import card_for_foreign_model

        card = card_for_foreign_model(model_dir, None, None)
    changes: dict[str, Any] = {}
    if normalizer is not None:
        name = normalizer.strip()
        if name.lower() in ("", "none"):
            changes["normalizer"] = None
        else:
            from bonepick.data.normalizers import canonical_name

            changes["normalizer"] = canonical_name(name)
    if max_length is not None:
        if max_length < 0:
            raise UsageError(f"--max-length must be positive (0 keeps all text), got {max_length}")
        changes["max_length"] = max_length or None
    return dataclasses.replace(card, **changes) if changes else card


def throughput(summary: RunSummary) -> dict[str, float]:
    """Documents and (uncompressed) megabytes per second over the shards this run scored."""
    fresh = [r for r in summary.results if not r.resumed]
    docs = sum(r.stats.rows_in for r in fresh)
    nbytes = sum(r.stats.bytes_in for r in fresh)
    model_seconds = sum(r.stats.extra.get("model_seconds", 0.0) for r in fresh)
    shard_seconds = sum(r.stats.seconds for r in fresh)  # worker time on shards, without start-up
    cpu_seconds = sum(r.stats.extra.get("cpu_seconds", 0.0) for r in fresh)
    seconds = summary.seconds
    return {
        "documents": docs,
        "megabytes": round(nbytes / 1e6, 3),
        "seconds": round(seconds, 3),
        "docs_per_second": round(docs / seconds, 1) if seconds > 0 else 0.0,
        "mb_per_second": round(nbytes / 1e6 / seconds, 3) if seconds > 0 else 0.0,
        "model_seconds": round(model_seconds, 3),
        "shard_seconds": round(shard_seconds, 3),
        "docs_per_worker_second": round(docs / shard_seconds, 1) if shard_seconds > 0 else 0.0,
        "cpu_seconds": round(cpu_seconds, 3),
        "docs_per_cpu_second": round(docs / cpu_seconds, 1) if cpu_seconds > 0 else 0.0,
    }
