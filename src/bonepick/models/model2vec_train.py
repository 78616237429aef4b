"""``train-model2vec`` as a library call: read the data, tokenize once, run the shared trainer,
and save a ``StaticModelPipeline`` folder with its model card.

``train-contrastive`` (``bonepick.models.contrastive``) reuses every step here but the objective.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.errors import DataError, UsageError
from bonepick.models.card import ModelCard
from bonepick.models.labeled_data import LabeledTexts, has_split, holdout_split, read_labeled
from bonepick.models.trainer import NullProgress, TrainConfig, TrainProgress, TrainResult


@dataclass
class Model2VecTrainConfig:
    """Everything ``train-model2vec`` needs besides the data folders."""

    output_dir: Path
    base_model: str | None = None  # None: the embedded default
    text_expression: str = ".text"
    label_expression: str = ".label"
    task: str = "classification"  # classification | multilabel | regression
    normalizer: str | None = None
    max_length: int | None = None  # characters kept after normalizing
    max_tokens: int | None = 512  # tokens kept by the static model's tokenizer
    class_weight: str = "uniform"
    freeze_embeddings: bool = False
    hidden_dim: int = 512
    n_layers: int = 1
    valid_fraction: float = 0.1
    num_proc: int | None = None
    overwrite: bool = False
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        from bonepick.models.trainer import class_weight_vector, resolve_device

        self.train.check()
        resolve_device(self.train.device)  # an unavailable device fails before any data is read
        class_weight_vector(np.ones(2), self.class_weight)
        if not 0 < self.valid_fraction < 1:
            raise UsageError(f"--valid-fraction must be between 0 and 1, got {self.valid_fraction}")
        if self.max_length is not None and self.max_length < 1:
            raise UsageError(f"--max-length must be at least 1, got {self.max_length}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise UsageError(f"--max-tokens must be at least 1, got {self.max_tokens}")
        if self.n_layers < 0:
            raise UsageError(f"--n-layers must be 0 or more, got {self.n_layers}")

    def hyperparameters(self) -> dict[str, Any]:
        t = self.train
        return {
            "learning_rate": t.learning_rate,
            "batch_size": t.batch_size,
            "min_epochs": t.min_epochs,
            "max_epochs": t.max_epochs,
            "early_stopping_patience": t.patience,
            "lr_schedule": t.lr_schedule,
            "warmup_fraction": t.warmup_fraction,
            "weight_decay": t.weight_decay,
            "loss_class_weight": self.class_weight,
            "freeze_embeddings": self.freeze_embeddings,
            "hidden_dim": self.hidden_dim,
            "n_layers": self.n_layers,
            "max_tokens": self.max_tokens,
            "valid_fraction": self.valid_fraction,
            "seed": t.seed,
            "device": t.device,
            "mixed_precision": t.mixed_precision,
            "threads": t.threads,
            "embedding_lr_factor": t.embedding_lr_factor,
        }


@dataclass
class PreparedData:
    """Training and validation texts with labels, and where the validation rows came from."""

    train: LabeledTexts
    valid: LabeledTexts
    valid_source: str  # "valid/" or "hold-out"


@dataclass
class TrainSummary:
    output_dir: Path
    card: ModelCard
    result: TrainResult
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "output_dir": str(self.output_dir),
            "task": self.card.task,
            "train_rows": self.card.data.get("train_rows"),
            "valid_rows": self.card.data.get("valid_rows"),
            "best_epoch": self.result.best_epoch,
            "monitor": self.result.monitor,
            "best_valid": self.result.best_value,
            "device": self.result.device,
            "seconds": round(self.seconds, 3),
        }


LABEL_KIND = {"classification": "single", "multilabel": "multi", "regression": "number", "ranking": "number"}


def prepare_data(
    dataset_dirs: Sequence[Path], config: Model2VecTrainConfig, stratify_numbers: bool = True
) -> PreparedData:
    """Read train (and valid/ when every folder has one, else a seeded stratified hold-out)."""
    if not dataset_dirs:
        raise UsageError("no dataset folder given", hint="pass one or more -d DIR")
    kind = LABEL_KIND[config.task]
    read = dict(
        text_expression=config.text_expression,
        label_expression=config.label_expression,
        kind=kind,
        normalizer=config.normalizer,
        max_length=config.max_length,
        num_proc=config.num_proc,
    )
    train = read_labeled(dataset_dirs, "train", **read)
    folders = ", ".join(str(d) for d in dataset_dirs)
    if not len(train):
        raise DataError(
            f"no training rows: the train split of {folders} is empty",
            hint="each -d folder needs train/ shards with rows (or shards directly inside it)",
        )
    if has_split(dataset_dirs, "valid"):
        valid = read_labeled(dataset_dirs, "valid", **read)
        if not len(valid):
            raise DataError(
                f"the valid/ split of {folders} is empty",
                hint="remove the empty valid/ folder to hold out part of train instead",
            )
        return PreparedData(train, valid, "valid/")
    if len(train) < 4:
        raise DataError(
            f"only {len(train)} training rows in {folders}; too few to hold out a validation set",
            hint="add rows, or add a valid/ split",
        )
    stratify = kind == "single" or (kind == "number" and stratify_numbers and len(set(train.labels)) <= 50)
    train_idx, valid_idx = holdout_split(train.labels, config.valid_fraction, config.train.seed, stratify)
    return PreparedData(train.take(train_idx), train.take(valid_idx), "hold-out")


def load_static_model(
    base_model: str | None,
    max_tokens: int | None,
    message: Callable[[str], None] | None = None,
    progress: TrainProgress | None = None,
):
    """Resolve ``--model-name`` and load it with model2vec (quietly)."""
    from model2vec import StaticModel

    from bonepick.models.base_models import resolve_base_model
    from bonepick.models.distill import quiet_libraries

    base = resolve_base_model(base_model, message, progress)
    with quiet_libraries():
        static = StaticModel.from_pretrained(base.path, max_length=max_tokens, force_download=False)
    return base, static


def build_model(static, out_dim: int, config: Model2VecTrainConfig):
    from bonepick.models.trainer import StaticBagModel

    return StaticBagModel(
        static.embedding,
        out_dim=out_dim,
        n_layers=config.n_layers,
        hidden_dim=config.hidden_dim,
        normalize=bool(static.normalize),
        token_mapping=static.token_mapping,
        token_weights=static.weights,
        freeze_embeddings=config.freeze_embeddings,
    )


def to_pipeline(model, static, activation: str, classes: Sequence[str] | None):
    """The trained model as a ``model2vec`` ``StaticModelPipeline`` (embeddings + MLP head)."""
    from model2vec import StaticModel
    from model2vec.inference import StaticModelPipeline
    from model2vec.inference.mlp import Activation, Layer, MLPHead

    vectors = model.embedding.detach().cpu().numpy().astype(np.float32)
    weights = static.weights
    mapping = static.token_mapping
    if weights is not None and mapping is None:  # fold per-token weights into the vectors
        vectors = vectors * np.asarray(weights, dtype=np.float32)[:, None]
        weights = None
    encoder = StaticModel(
        vectors=vectors,
        tokenizer=static.tokenizer,
        config={k: v for k, v in static.config.items() if k != "embedding_dtype"},
        normalize=static.normalize,
        base_model_name=static.base_model_name,
        language=static.language,
        weights=weights,
        token_mapping=mapping,
        max_length=static.max_length,
    )
    layers = [
        Layer(
            weight=layer.weight.detach().cpu().numpy().copy(), bias=layer.bias.detach().cpu().numpy().copy()
        )
        for layer in model.linear_layers()
    ]
    head = MLPHead(
        layers=layers,
        activation=Activation(activation),
        classes=None if classes is None else np.asarray(list(classes)),
    )
    return StaticModelPipeline(encoder, head)


def save_model_folder(pipeline, card: ModelCard, output_dir: Path, overwrite: bool) -> None:
    """Write the pipeline and card into a temporary sibling folder, then rename it into place."""
    from bonepick.models.distill import quiet_libraries

    output_dir = Path(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = output_dir.parent / f".{output_dir.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with quiet_libraries():
            pipeline.save_pretrained(str(staging))
        card.save(staging)
        if output_dir.exists():
            if not overwrite and any(output_dir.iterdir()):
                raise UsageError(
                    f"{output_dir} exists and is not empty", hint="pass --overwrite or another -o"
                )
            shutil.rmtree(output_dir)
        staging.rename(output_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    output_dir = Path(output_dir)
    if output_dir.exists() and (not output_dir.is_dir() or any(output_dir.iterdir())) and not overwrite:
        raise UsageError(f"{output_dir} exists and is not empty", hint="pass --overwrite or another -o")


def _encode_labels(data: PreparedData, task: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(class order, train targets, valid targets) for a classification task."""
    if task == "classification":
        counts = Counter(data.train.labels)
        classes = sorted(counts)
        if len(classes) < 2:
            raise DataError(
                f"the training data has a single label ('{classes[0]}'); a classifier needs two or more",
                hint="check --label-expression, or use --regression for numeric targets",
            )
        unknown = sorted(set(data.valid.labels) - set(classes))
        if unknown:
            raise DataError(
                f"the validation split has labels never seen in training: {', '.join(unknown[:10])}",
                hint="make sure train/ holds every class",
            )
        index = {c: i for i, c in enumerate(classes)}
        return (
            classes,
            np.asarray([index[y] for y in data.train.labels], dtype=np.int64),
            np.asarray([index[y] for y in data.valid.labels], dtype=np.int64),
        )
    classes = sorted({c for labels in data.train.labels for c in labels})
    if not classes:
        raise DataError("no labels at all in the training data", hint="check --label-expression")
    unknown = sorted({c for labels in data.valid.labels for c in labels} - set(classes))
    if unknown:
        raise DataError(f"the validation split has labels never seen in training: {', '.join(unknown[:10])}")
    index = {c: i for i, c in enumerate(classes)}

    def multi_hot(rows: list[list[str]]) -> np.ndarray:
        out = np.zeros((len(rows), len(classes)), dtype=np.float32)
        for r, labels in enumerate(rows):
            out[r, [index[c] for c in labels]] = 1.0
        return out

    return classes, multi_hot(data.train.labels), multi_hot(data.valid.labels)


def data_record(
    dataset_dirs: Sequence[Path], data: PreparedData, n_train_docs_tokens: int | None = None
) -> dict[str, Any]:
    labels = data.train.labels + data.valid.labels
    record: dict[str, Any] = {
        "datasets": [str(d) for d in dataset_dirs],
        "train_rows": len(data.train),
        "valid_rows": len(data.valid),
        "valid_source": data.valid_source,
    }
    if labels and isinstance(labels[0], float):
        values = np.asarray(labels, dtype=np.float64)
        record["label_stats"] = {
            "min": float(values.min()),
            "max": float(values.max()),
            "mean": round(float(values.mean()), 6),
            "distinct": len(set(labels)),
        }
    else:
        flat = [c for y in labels for c in (y if isinstance(y, list) else [y])]
        record["label_counts"] = dict(sorted(Counter(flat).items()))
    if n_train_docs_tokens is not None:
        record["train_tokens"] = n_train_docs_tokens
    return record


def _timing_record(prep_seconds: float, tokenize_seconds: float) -> dict[str, float]:
    return {"read_seconds": round(prep_seconds, 3), "tokenize_seconds": round(tokenize_seconds, 3)}


def train_model2vec(
    dataset_dirs: Sequence[Path],
    config: Model2VecTrainConfig,
    progress: TrainProgress | None = None,
    message: Callable[[str], None] | None = None,
) -> TrainSummary:
    """Train a classifier (one or several labels) or a regressor and save it with its card."""
    from bonepick.models.trainer import (
        ClassificationObjective,
        MultiLabelObjective,
        RegressionObjective,
        seed_everything,
        tokenize_texts,
        train,
    )

    config.check()
    if config.task not in ("classification", "multilabel", "regression"):
        raise UsageError(
            f"train-model2vec cannot train a '{config.task}' model", hint="use train-contrastive"
        )
    check_output_dir(config.output_dir, config.overwrite)
    progress = progress or NullProgress()
    started = time.perf_counter()
    data = prepare_data(dataset_dirs, config)
    read_seconds = time.perf_counter() - started
    base, static = load_static_model(config.base_model, config.max_tokens, message, progress)

    tokenize_start = time.perf_counter()
    train_tokens = tokenize_texts(static, data.train.texts, progress, "tokenize train")
    valid_tokens = tokenize_texts(static, data.valid.texts, progress, "tokenize valid")
    tokenize_seconds = time.perf_counter() - tokenize_start

    seed_everything(config.train.seed)
    classes: list[str] | None
    if config.task == "regression":
        objective = RegressionObjective(
            np.asarray(data.train.labels, dtype=np.float64), np.asarray(data.valid.labels, dtype=np.float64)
        )
        classes, activation = None, "identity"
    else:
        classes, train_y, valid_y = _encode_labels(data, config.task)
        if config.task == "classification":
            objective = ClassificationObjective(train_y, valid_y, len(classes), config.class_weight)
            activation = "softmax"
        else:
            objective = MultiLabelObjective(train_y, valid_y, config.class_weight)
            activation = "sigmoid"
    model = build_model(static, objective.out_dim, config)
    result = train(model, objective, train_tokens, valid_tokens, config.train, progress)
    if isinstance(objective, RegressionObjective):
        objective.fold_into(result.model)
        result.extra["target_mean"] = objective.mean
        result.extra["target_std"] = objective.std

    pipeline = to_pipeline(result.model, static, activation, classes)
    seconds = time.perf_counter() - started
    card = ModelCard(
        kind="model2vec",
        task=config.task,
        labels=list(classes or []),
        base_model=base.name,
        normalizer=config.normalizer,
        max_length=config.max_length,
        text_expression=config.text_expression,
        label_expression=config.label_expression,
        hyperparameters={**config.hyperparameters(), "batch_size": result.batch_size},
        data=data_record(dataset_dirs, data, int(len(train_tokens.ids))),
        training={
            **result.training_record(),
            **_timing_record(read_seconds, tokenize_seconds),
            "duration_seconds": round(seconds, 3),
        },
        extra={
            "format": "model2vec StaticModelPipeline (config.json, model.safetensors, tokenizer.json, head.safetensors)",
            "objective": {
                "classification": "softmax cross-entropy",
                "multilabel": "sigmoid binary cross-entropy",
            }.get(config.task, "mean squared error"),
            "base_model_source": base.source,
            "base_model_path": str(base.path),
            "head_activation": activation,
            **({"label_values": _label_values(data)} if config.task == "regression" else {}),
            **result.extra,
        },
    )
    save_model_folder(pipeline, card, config.output_dir, config.overwrite)
    return TrainSummary(Path(config.output_dir), card, result, seconds)


def _label_values(data: PreparedData) -> list[float] | None:
    """The distinct numeric labels when there are few (ordinal scores), for thresholds in eval."""
    values = sorted(set(data.train.labels) | set(data.valid.labels))
    return [float(v) for v in values] if len(values) <= 50 else None
