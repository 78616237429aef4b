"""The model card: a small YAML file that makes a model folder self-describing.

``eval``, ``infer`` and ``thresholds`` need only the model folder: the card says which kind of
model it is, how text was preprocessed at training time, and what the outputs mean.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from bonepick import __version__
from bonepick.errors import ModelError
from bonepick.io.atomic import atomic_write_text

CARD_FILE = "bonepick_model.yaml"

#: what a model outputs: class probabilities (one label or several), or one score per text
TASKS = ("classification", "multilabel", "regression", "ranking")


@dataclass
class ModelCard:
    kind: str  # fasttext | model2vec | encoder | ...
    task: str = "classification"
    labels: list[str] = field(default_factory=list)  # output order of predict() columns
    base_model: str | None = None
    normalizer: str | None = None
    max_length: int | None = None  # characters kept after normalizing (None: all)
    text_expression: str = ".text"
    label_expression: str = ".label"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # sizes of train/valid/test, label counts
    training: dict[str, Any] = field(default_factory=dict)  # per-epoch metrics, device, duration
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific details
    bonepick_version: str = __version__
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ModelError(
                f"unknown task '{self.task}' in model card", hint=f"use one of: {', '.join(TASKS)}"
            )

    @property
    def is_scalar(self) -> bool:
        """True when the model gives one score per text (regression, ranking)."""
        return self.task in ("regression", "ranking")

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / CARD_FILE
        atomic_write_text(path, yaml.safe_dump(asdict(self), sort_keys=False, allow_unicode=True))
        return path

    @classmethod
    def load(cls, model_dir: str | Path) -> ModelCard:
        path = Path(model_dir) / CARD_FILE
        if not path.is_file():
            raise ModelError(
                f"{model_dir} has no model card ({CARD_FILE})",
                hint="pass a folder written by a bonepick train command",
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ModelError(f"{path}: not valid YAML ({error})") from None
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            data.setdefault("extra", {}).update({k: data.pop(k) for k in unknown})
        if "kind" not in data:
            raise ModelError(f"{path}: the card does not say which kind of model this is ('kind')")
        return cls(**data)

    @classmethod
    def exists(cls, model_dir: str | Path) -> bool:
        return (Path(model_dir) / CARD_FILE).is_file()
