"""The one torch training engine behind every Model2Vec command.

Texts are tokenized once with the static model's own tokenizer (``StaticModel.tokenize``, which the
tokenizers library runs on its thread pool) into one flat id array with offsets, in input order,
so labels stay aligned with their texts by construction. Batches are slices of that array fed to
an ``nn.EmbeddingBag`` (mean pooling, exactly what ``StaticModel.encode`` computes) and an MLP
head. What is learned is set by a pluggable :class:`Objective`: single- or multi-label
classification, regression, or pairwise hinge ranking (see ``bonepick.models.contrastive``).

The engine picks the device (CUDA, then MPS, then CPU, unless told), uses mixed precision on CUDA,
is seeded, keeps the best epoch by the objective's validation metric (the validation loss for
classification), stops early after ``patience`` epochs without improvement, and halves the learning
rate after each epoch without improvement (``plateau``; or warm-up + cosine, or constant).
Progress goes to a callback; this module never prints.
"""

from __future__ import annotations

import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from bonepick.errors import UsageError

CLASS_WEIGHTS = ("uniform", "balanced", "sqrt")
LR_SCHEDULES = ("plateau", "cosine", "constant")
TOKENIZE_CHUNK = 4096


# ----------------------------------------------------------------------------------------------
# progress


class TrainProgress(Protocol):
    """What the engine reports; the CLI draws it, tests ignore it."""

    def phase(self, description: str, total: int | None) -> None: ...

    def advance(self, n: int, **fields: Any) -> None: ...

    def epoch(self, record: EpochRecord) -> None: ...

    def done(self) -> None: ...


class NullProgress:
    def phase(self, description: str, total: int | None) -> None:
        pass

    def advance(self, n: int, **fields: Any) -> None:
        pass

    def epoch(self, record: EpochRecord) -> None:
        pass

    def done(self) -> None:
        pass


# ----------------------------------------------------------------------------------------------
# devices and seeds


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then MPS, then CPU; a named device must be available."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu, cuda, cuda:N or mps") from None
    if device.type not in ("cpu", "cuda", "mps"):
        raise UsageError(f"unknown device '{name}'", hint="use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(
            "--device cuda was asked for, but no CUDA GPU is available", hint="use --device auto or cpu"
        )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise UsageError(
            "--device mps was asked for, but MPS is not available", hint="use --device auto or cpu"
        )
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - libraries below us may use the global state
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


# ----------------------------------------------------------------------------------------------
# tokenized texts


@dataclass
class TokenizedTexts:
    """Token ids of many texts: ``ids[offsets[i]:offsets[i+1]]`` are the ids of text ``i``."""

    ids: np.ndarray  # int64, flat
    offsets: np.ndarray  # int64, n + 1 entries

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def row(self, index: int) -> list[int]:
        return self.ids[self.offsets[index] : self.offsets[index + 1]].tolist()

    def gather(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(flat ids, bag offsets, lengths) of the texts at ``indices``, in that order."""
        indices = np.asarray(indices, dtype=np.int64)
        starts = self.offsets[indices]
        lengths = self.offsets[indices + 1] - starts
        bag_offsets = np.zeros(len(indices), dtype=np.int64)
        if len(indices) > 1:
            np.cumsum(lengths[:-1], out=bag_offsets[1:])
        total = int(lengths.sum())
        positions = np.arange(total, dtype=np.int64) + np.repeat(starts - bag_offsets, lengths)
        return self.ids[positions], bag_offsets, lengths

    def subset(self, indices: np.ndarray) -> TokenizedTexts:
        ids, bag_offsets, lengths = self.gather(indices)
        offsets = np.zeros(len(indices) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return TokenizedTexts(ids, offsets)


def tokenize_texts(
    static_model: Any,
    texts: Sequence[str],
    progress: TrainProgress | None = None,
    description: str = "tokenize",
) -> TokenizedTexts:
    """Tokenize ``texts`` exactly as ``StaticModel.encode`` does at inference time.

    ``encode`` first cuts each text to ``max_length * median_token_length`` characters, then lets the
    tokenizer truncate to ``max_length`` tokens and drops unknown tokens (``StaticModel.tokenize``).
    Chunks are processed in order; within a chunk the tokenizers library works in parallel and
    returns encodings in input order, so ``result[i]`` always belongs to ``texts[i]``.
    """
    progress = progress or NullProgress()
    max_tokens = static_model.max_length
    cut = max_tokens * static_model.median_token_length if max_tokens is not None else None
    id_chunks: list[np.ndarray] = []
    length_chunks: list[np.ndarray] = []
    progress.phase(description, len(texts))
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        chunk = list(texts[start : start + TOKENIZE_CHUNK])
        if cut is not None:
            chunk = [text[:cut] for text in chunk]
        encoded = static_model.tokenize(chunk)
        lengths = np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(encoded))
        flat = np.fromiter((i for ids in encoded for i in ids), dtype=np.int64, count=int(lengths.sum()))
        id_chunks.append(flat)
        length_chunks.append(lengths)
        progress.advance(len(chunk))
    lengths = np.concatenate(length_chunks) if length_chunks else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate(id_chunks) if id_chunks else np.zeros(0, dtype=np.int64)
    return TokenizedTexts(ids, offsets)


# ----------------------------------------------------------------------------------------------
# the model


class StaticBagModel(nn.Module):
    """Mean of (trainable) static token vectors, optionally L2-normalised, then an MLP head.

    The pooling reproduces ``StaticModel.encode`` (token mapping and per-token weights of
    vocabulary-quantized models included), and the head is what ``model2vec``'s ``MLPHead`` runs
    (ReLU between linear layers), so a trained model exports to a ``StaticModelPipeline`` as is.

    The token vectors are not updated by autograd: the trainer gathers the rows a batch uses,
    lets autograd compute their gradient, and updates just those rows (:class:`RowSparseAdam`).
    """

    def __init__(
        self,
        vectors: np.ndarray,
        *,
        out_dim: int,
        n_layers: int = 1,
        hidden_dim: int = 512,
        normalize: bool = True,
        token_mapping: np.ndarray | None = None,
        token_weights: np.ndarray | None = None,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        matrix = torch.from_numpy(np.nan_to_num(np.asarray(vectors, dtype=np.float32)))
        self.normalize = normalize
        self.freeze_embeddings = freeze_embeddings
        self.embedding = nn.Parameter(matrix, requires_grad=False)
        self.mapping: np.ndarray | None = (
            None if token_mapping is None else np.asarray(token_mapping, np.int64)
        )
        self.weights: np.ndarray | None = (
            None if token_weights is None else np.asarray(token_weights, np.float32)
        )
        self.head = build_head(matrix.shape[1], out_dim, n_layers, hidden_dim)

    def rows_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(embedding rows, per-token weights or None) of token ids."""
        rows = ids if self.mapping is None else self.mapping[ids]
        return rows, None if self.weights is None else self.weights[ids]

    def pool_rows(
        self,
        table: torch.Tensor,
        rows: torch.Tensor,
        offsets: torch.Tensor,
        lengths: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Mean of ``table[rows]`` per bag (weighted by ``weights`` when given), normalised."""
        if weights is not None:
            pooled = nn.functional.embedding_bag(rows, table, offsets, mode="sum", per_sample_weights=weights)
            pooled = pooled / lengths.clamp(min=1).to(pooled.dtype)[:, None]
        else:
            pooled = nn.functional.embedding_bag(rows, table, offsets, mode="mean")
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=1)
        return pooled

    def pool(self, ids: torch.Tensor, offsets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        rows, weights = self.rows_of(ids.cpu().numpy())
        device = self.embedding.device
        return self.pool_rows(
            self.embedding,
            torch.from_numpy(rows).to(device),
            offsets.to(device),
            lengths.to(device),
            None if weights is None else torch.from_numpy(weights).to(device),
        )

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(ids, offsets, lengths))

    def linear_layers(self) -> list[nn.Linear]:
        return [module for module in self.head if isinstance(module, nn.Linear)]


class RowSparseAdam:
    """Adam for the rows of a matrix that a step touched (lazy Adam, like ``torch.optim.SparseAdam``).

    Rows come in already unique, so there is no sparse gradient to build and coalesce: a step
    costs in proportion to the distinct tokens of the batch, not to the vocabulary or the number
    of token occurrences.
    """

    def __init__(self, weight: torch.Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.weight = weight
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.exp_avg = torch.zeros_like(weight)
        self.exp_avg_sq = torch.zeros_like(weight)
        self.steps = 0

    @torch.no_grad()
    def step(self, rows: torch.Tensor, grad: torch.Tensor, lr: float) -> None:
        self.steps += 1
        m = self.exp_avg.index_select(0, rows).mul_(self.beta1).add_(grad, alpha=1 - self.beta1)
        v = self.exp_avg_sq.index_select(0, rows).mul_(self.beta2).addcmul_(grad, grad, value=1 - self.beta2)
        self.exp_avg.index_copy_(0, rows, m)
        self.exp_avg_sq.index_copy_(0, rows, v)
        correction1 = 1 - self.beta1**self.steps
        correction2 = 1 - self.beta2**self.steps
        denominator = v.div_(correction2).sqrt_().add_(self.eps)
        update = torch.div(m, denominator, out=denominator).mul_(-lr / correction1)
        self.weight.index_add_(0, rows, update)


def build_head(in_dim: int, out_dim: int, n_layers: int, hidden_dim: int) -> nn.Sequential:
    """``n_layers`` hidden ReLU layers of ``hidden_dim``, then a linear output layer."""
    if n_layers < 0:
        raise UsageError(f"--n-layers must be 0 or more, got {n_layers}")
    if n_layers and hidden_dim < 1:
        raise UsageError(f"--hidden-dim must be at least 1, got {hidden_dim}")
    modules: list[nn.Module] = []
    width = in_dim
    for _ in range(n_layers):
        layer = nn.Linear(width, hidden_dim)
        nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
        nn.init.zeros_(layer.bias)
        modules += [layer, nn.ReLU()]
        width = hidden_dim
    last = nn.Linear(width, out_dim)
    nn.init.xavier_uniform_(last.weight)
    nn.init.zeros_(last.bias)
    modules.append(last)
    return nn.Sequential(*modules)


# ----------------------------------------------------------------------------------------------
# objectives


class Objective(ABC):
    """What to learn: targets, the loss of a batch, and the validation metrics."""

    task: str  # the model card's task
    out_dim: int
    monitor: str  # validation metric used for early stopping and the best epoch
    mode: str  # "max" or "min"

    def epoch_examples(self, n_train: int, rng: np.random.Generator) -> np.ndarray:
        """The training examples of one epoch, shuffled (documents by default)."""
        return rng.permutation(n_train)

    def batch(self, examples: np.ndarray) -> tuple[np.ndarray, Any]:
        """(documents to run the model on, what :meth:`loss` needs besides their outputs)."""
        return examples, torch.as_tensor(examples)

    @abstractmethod
    def loss(self, outputs: torch.Tensor, aux: Any) -> torch.Tensor: ...

    @abstractmethod
    def validate(self, outputs: np.ndarray) -> dict[str, float]:
        """Metrics on the validation documents, from the model's raw outputs for all of them."""

    def to(self, device: torch.device) -> Objective:
        return self


def class_weight_vector(counts: np.ndarray, scheme: str) -> np.ndarray | None:
    """One weight per class: ``balanced`` is n / (k * n_c), ``sqrt`` its square root."""
    if scheme not in CLASS_WEIGHTS:
        raise UsageError(
            f"unknown class weighting '{scheme}'", hint=f"use one of: {', '.join(CLASS_WEIGHTS)}"
        )
    if scheme == "uniform":
        return None
    counts = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    weights = counts.sum() / (len(counts) * counts)
    if scheme == "sqrt":
        weights = np.sqrt(weights)
    return weights.astype(np.float32)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    scores = []
    for c in range(n_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return float(np.mean(scores))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return 0.0
    value = spearmanr(a, b).statistic
    return 0.0 if value is None or math.isnan(value) else float(value)


class ClassificationObjective(Objective):
    """One label per text; softmax cross-entropy with optional class weights.

    The best epoch (and early stopping, and the plateau schedule) follow the validation loss, the
    training loss (same class weights) on held-out rows. Macro-F1 is recorded beside it, but on a
    few hundred validation rows it moves one document at a time and ties often: picking epochs by
    it kept undertrained first epochs on tied or one-document-lower scores (SpamAssassin, 3
    epochs, 6 seeds: test macro-F1 0.9769 +- 0.0062 by macro-F1, 0.9803 +- 0.0026 by loss;
    docs/worklog/model2vec.md).
    """

    task = "classification"
    monitor = "loss"
    mode = "min"

    def __init__(
        self, train_y: np.ndarray, valid_y: np.ndarray, n_classes: int, class_weight: str = "uniform"
    ):
        self.out_dim = n_classes
        self.train_y = torch.as_tensor(train_y, dtype=torch.int64)
        self.valid_y = np.asarray(valid_y, dtype=np.int64)
        weights = class_weight_vector(np.bincount(train_y, minlength=n_classes), class_weight)
        self.weights = None if weights is None else torch.as_tensor(weights)

    def to(self, device: torch.device) -> Objective:
        self.train_y = self.train_y.to(device)
        if self.weights is not None:
            self.weights = self.weights.to(device)
        return self

    def batch(self, examples: np.ndarray) -> tuple[np.ndarray, Any]:
        return examples, torch.as_tensor(examples)

    def loss(self, outputs: torch.Tensor, aux: Any) -> torch.Tensor:
        return nn.functional.cross_entropy(
            outputs, self.train_y[aux.to(self.train_y.device)], weight=self.weights
        )

    def validate(self, outputs: np.ndarray) -> dict[str, float]:
        logits = torch.from_numpy(outputs)
        target = torch.from_numpy(self.valid_y)
        weights = None if self.weights is None else self.weights.cpu()
        loss = nn.functional.cross_entropy(logits, target, weight=weights).item()
        predicted = outputs.argmax(axis=1)
        return {
            "loss": loss,
            "accuracy": float(np.mean(predicted == self.valid_y)),
            "macro_f1": macro_f1(self.valid_y, predicted, self.out_dim),
        }


class MultiLabelObjective(Objective):
    """Any number of labels per text; sigmoid + binary cross-entropy; best by validation loss
    (see :class:`ClassificationObjective`), with micro/macro-F1 at 0.5 recorded beside it."""

    task = "multilabel"
    monitor = "loss"
    mode = "min"

    def __init__(self, train_y: np.ndarray, valid_y: np.ndarray, class_weight: str = "uniform"):
        self.out_dim = train_y.shape[1]
        self.train_y = torch.as_tensor(train_y, dtype=torch.float32)
        self.valid_y = np.asarray(valid_y, dtype=np.float32)
        positives = train_y.sum(axis=0)
        self.pos_weight = None
        if class_weight != "uniform":
            if class_weight not in CLASS_WEIGHTS:
                raise UsageError(f"unknown class weighting '{class_weight}'")
            ratio = (len(train_y) - positives) / np.maximum(positives, 1)
            ratio = np.sqrt(ratio) if class_weight == "sqrt" else ratio
            self.pos_weight = torch.as_tensor(ratio, dtype=torch.float32)

    def to(self, device: torch.device) -> Objective:
        self.train_y = self.train_y.to(device)
        if self.pos_weight is not None:
            self.pos_weight = self.pos_weight.to(device)
        return self

    def loss(self, outputs: torch.Tensor, aux: Any) -> torch.Tensor:
        target = self.train_y[aux.to(self.train_y.device)]
        return nn.functional.binary_cross_entropy_with_logits(outputs, target, pos_weight=self.pos_weight)

    def validate(self, outputs: np.ndarray) -> dict[str, float]:
        pos_weight = None if self.pos_weight is None else self.pos_weight.cpu()
        loss = nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(outputs), torch.from_numpy(self.valid_y), pos_weight=pos_weight
        ).item()
        predicted = outputs > 0
        truth = self.valid_y > 0.5
        per_class = []
        for c in range(self.out_dim):
            tp = np.sum(predicted[:, c] & truth[:, c])
            denominator = np.sum(predicted[:, c]) + np.sum(truth[:, c])
            per_class.append(2 * tp / denominator if denominator else 0.0)
        tp = np.sum(predicted & truth)
        denominator = np.sum(predicted) + np.sum(truth)
        return {
            "loss": loss,
            "micro_f1": float(2 * tp / denominator) if denominator else 0.0,
            "macro_f1": float(np.mean(per_class)),
        }


class RegressionObjective(Objective):
    """One number per text; mean squared error on standardised targets; best by validation MSE.

    The head learns ``(y - mean) / std``; :meth:`fold_into` rescales its last layer so the exported
    model outputs ``y`` directly.
    """

    task = "regression"
    out_dim = 1
    monitor = "mse"
    mode = "min"

    def __init__(self, train_y: np.ndarray, valid_y: np.ndarray):
        train_y = np.asarray(train_y, dtype=np.float64)
        self.mean = float(train_y.mean())
        self.std = float(train_y.std()) or 1.0
        self.train_z = torch.as_tensor((train_y - self.mean) / self.std, dtype=torch.float32)
        self.valid_y = np.asarray(valid_y, dtype=np.float64)

    def to(self, device: torch.device) -> Objective:
        self.train_z = self.train_z.to(device)
        return self

    def loss(self, outputs: torch.Tensor, aux: Any) -> torch.Tensor:
        return nn.functional.mse_loss(outputs[:, 0], self.train_z[aux.to(self.train_z.device)])

    def validate(self, outputs: np.ndarray) -> dict[str, float]:
        predicted = outputs[:, 0].astype(np.float64) * self.std + self.mean
        error = predicted - self.valid_y
        return {
            "mse": float(np.mean(error**2)),
            "mae": float(np.mean(np.abs(error))),
            "spearman": spearman(predicted, self.valid_y),
        }

    def fold_into(self, model: StaticBagModel) -> None:
        last = model.linear_layers()[-1]
        with torch.no_grad():
            last.weight.mul_(self.std)
            last.bias.mul_(self.std).add_(self.mean)


# ----------------------------------------------------------------------------------------------
# the loop


@dataclass
class TrainConfig:
    learning_rate: float = 1e-3
    batch_size: int | None = None  # None: model2vec's rule, a multiple of 32 between 32 and 512
    min_epochs: int = 1
    max_epochs: int = 20
    patience: int | None = 3  # epochs without improvement before stopping; None: never stop early
    lr_schedule: str = "plateau"  # halve after an epoch without improvement; or cosine, constant
    warmup_fraction: float = 0.05  # of all steps, for the cosine schedule
    weight_decay: float = 0.0
    device: str = "auto"
    mixed_precision: bool = True  # on CUDA only
    seed: int = 42
    #: the token vectors' learning rate is this times ``learning_rate``: lazy Adam moves only the
    #: rows a batch uses, so rare tokens get few updates; 3x gave higher validation macro-F1 than
    #: 1x on both benchmark corpora (docs/worklog/model2vec.md)
    embedding_lr_factor: float = 3.0
    #: CPU threads for the training step. The step is a few small, memory-bound gathers and
    #: updates: one thread is fastest on a shared machine (2 threads spin-waiting for each other
    #: made steps 4-8x slower when the cores were oversubscribed); raise it on a dedicated one
    threads: int = 1

    def check(self) -> None:
        if self.learning_rate <= 0:
            raise UsageError(f"--learning-rate must be positive, got {self.learning_rate}")
        if self.batch_size is not None and self.batch_size < 1:
            raise UsageError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.max_epochs < 1:
            raise UsageError(f"--max-epochs must be at least 1, got {self.max_epochs}")
        if self.min_epochs < 0 or self.min_epochs > self.max_epochs:
            raise UsageError(
                f"--min-epochs must be between 0 and --max-epochs ({self.max_epochs}), got {self.min_epochs}"
            )
        if self.patience is not None and self.patience < 1:
            raise UsageError(f"--early-stopping-patience must be at least 1, got {self.patience}")
        if self.embedding_lr_factor <= 0:
            raise UsageError(f"--embedding-lr-factor must be positive, got {self.embedding_lr_factor}")
        if self.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {self.threads}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UsageError(
                f"unknown learning-rate schedule '{self.lr_schedule}'",
                hint=f"use one of: {', '.join(LR_SCHEDULES)}",
            )

    def resolved_batch_size(self, n_train: int) -> int:
        if self.batch_size is not None:
            return self.batch_size
        return int(min(max(1, (n_train / 30) // 32), 16) * 32)


@dataclass
class EpochRecord:
    epoch: int
    train_loss: float
    learning_rate: float
    seconds: float
    docs_per_second: float
    valid: dict[str, float]
    improved: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "train_loss": round(self.train_loss, 6),
            "learning_rate": float(f"{self.learning_rate:.6g}"),
            "seconds": round(self.seconds, 3),
            "docs_per_second": round(self.docs_per_second, 1),
            "valid": {k: round(v, 6) for k, v in self.valid.items()},
            "best_so_far": self.improved,
        }


@dataclass
class TrainResult:
    model: StaticBagModel
    history: list[EpochRecord]
    best_epoch: int
    monitor: str
    best_value: float
    device: str
    mixed_precision: str | None
    batch_size: int
    stopped_early: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def training_record(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "mixed_precision": self.mixed_precision,
            "batch_size": self.batch_size,
            "epochs_run": len(self.history),
            "best_epoch": self.best_epoch,
            "monitor": self.monitor,
            "best_valid": round(self.best_value, 6),
            "stopped_early": self.stopped_early,
            "train_seconds": round(self.seconds, 3),
            "epochs": [record.to_dict() for record in self.history],
        }


def _schedule(config: TrainConfig, total_steps: int):
    """The step -> learning-rate factor of ``cosine`` (warm-up, then cosine decay to 5%) or 1.0;
    ``plateau`` halves the factor in the loop after every epoch that did not improve."""
    if config.lr_schedule != "cosine":
        return lambda step: 1.0
    warmup = max(1, int(total_steps * config.warmup_fraction))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when the GPU supports it, fp16 (with a grad scaler) otherwise."""
    if device.type != "cuda" or not enabled:
        return None, None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return dtype, (torch.amp.GradScaler("cuda") if dtype == torch.float16 else None)


@torch.no_grad()
def predict_outputs(
    model: StaticBagModel, tokens: TokenizedTexts, batch_size: int = 4096, device: torch.device | None = None
) -> np.ndarray:
    """Raw head outputs (logits or scores) for every text, in order, as float32."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(tokens), batch_size):
        indices = np.arange(start, min(start + batch_size, len(tokens)))
        ids, offsets, lengths = tokens.gather(indices)
        rows, weights = model.rows_of(ids)
        pooled = model.pool_rows(
            model.embedding,
            torch.from_numpy(rows).to(device),
            torch.from_numpy(offsets).to(device),
            torch.from_numpy(lengths).to(device),
            None if weights is None else torch.from_numpy(weights).to(device),
        )
        out = model.head(pooled)
        outputs.append(out.float().cpu().numpy())
    model.train(was_training)
    if not outputs:
        return np.zeros((0, model.linear_layers()[-1].out_features), dtype=np.float32)
    return np.concatenate(outputs)


def train(
    model: StaticBagModel,
    objective: Objective,
    train_tokens: TokenizedTexts,
    valid_tokens: TokenizedTexts,
    config: TrainConfig,
    progress: TrainProgress | None = None,
) -> TrainResult:
    """Fit ``model`` for ``objective``; returns the model at its best validation epoch, on the CPU."""
    config.check()
    device = resolve_device(config.device)
    previous_threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(config.threads)
    try:
        return _fit(model, objective, train_tokens, valid_tokens, config, device, progress or NullProgress())
    finally:
        torch.set_num_threads(previous_threads)


def _fit(
    model: StaticBagModel,
    objective: Objective,
    train_tokens: TokenizedTexts,
    valid_tokens: TokenizedTexts,
    config: TrainConfig,
    device: torch.device,
    progress: TrainProgress,
) -> TrainResult:
    rng = np.random.default_rng(config.seed)
    torch.manual_seed(config.seed)
    model.to(device)
    objective.to(device)
    amp_dtype, scaler = _autocast(device, config.mixed_precision)

    batch_size = config.resolved_batch_size(len(train_tokens))
    first_examples = objective.epoch_examples(len(train_tokens), rng)
    steps_per_epoch = max(1, math.ceil(len(first_examples) / batch_size))
    head_optimizer = torch.optim.AdamW(
        [p for p in model.head.parameters() if p.requires_grad],
        lr=config.learning_rate,
        weight_decay=config.weight_decay,
    )
    row_optimizer = None if model.freeze_embeddings else RowSparseAdam(model.embedding)
    schedule = _schedule(config, steps_per_epoch * config.max_epochs)
    plateau_factor = 1.0
    step = 0

    better = (lambda a, b: a > b) if objective.mode == "max" else (lambda a, b: a < b)
    best_value = -math.inf if objective.mode == "max" else math.inf
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch = 0
    history: list[EpochRecord] = []
    stopped_early = False
    started = time.perf_counter()
    examples = first_examples

    for epoch in range(1, config.max_epochs + 1):
        if epoch > 1:
            examples = objective.epoch_examples(len(train_tokens), rng)
        model.train()
        progress.phase(f"epoch {epoch}/{config.max_epochs}", len(examples))
        epoch_start = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        batches = 0
        docs = 0
        for start in range(0, len(examples), batch_size):
            doc_indices, aux = objective.batch(examples[start : start + batch_size])
            ids, offsets, lengths = train_tokens.gather(doc_indices)
            rows, weights = model.rows_of(ids)
            unique_rows, local = np.unique(rows, return_inverse=True)
            unique_t = torch.from_numpy(unique_rows).to(device, non_blocking=True)
            table = model.embedding.detach()[unique_t]
            if row_optimizer is not None:
                table.requires_grad_(True)
            lr = config.learning_rate * schedule(step) * plateau_factor
            for group in head_optimizer.param_groups:
                group["lr"] = lr
            inputs = (
                table,
                torch.from_numpy(local.reshape(-1)).to(device, non_blocking=True),
                torch.from_numpy(offsets).to(device, non_blocking=True),
                torch.from_numpy(lengths).to(device, non_blocking=True),
                None if weights is None else torch.from_numpy(weights).to(device, non_blocking=True),
            )
            if amp_dtype is not None:
                with torch.autocast(device_type="cuda", dtype=amp_dtype):
                    outputs = model.head(model.pool_rows(*inputs))
            else:
                outputs = model.head(model.pool_rows(*inputs))
            loss = objective.loss(outputs.float(), aux)
            head_optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(head_optimizer)
                inverse_scale = 1.0 / scaler.get_scale()
                if row_optimizer is not None and torch.isfinite(table.grad).all():
                    row_optimizer.step(unique_t, table.grad * inverse_scale, lr * config.embedding_lr_factor)
                scaler.step(head_optimizer)
                scaler.update()
            else:
                loss.backward()
                if row_optimizer is not None:
                    row_optimizer.step(unique_t, table.grad, lr * config.embedding_lr_factor)
                head_optimizer.step()
            step += 1
            loss_sum += loss.detach()
            batches += 1
            docs += len(doc_indices)
            if batches % 20 == 0:
                progress.advance(min(batch_size, len(examples) - start), loss=float(loss_sum) / batches)
            else:
                progress.advance(min(batch_size, len(examples) - start))
        train_seconds = time.perf_counter() - epoch_start
        metrics = objective.validate(predict_outputs(model, valid_tokens, device=device))
        value = metrics[objective.monitor]
        improved = best_state is None or better(value, best_value)
        if improved:
            best_value, best_epoch = value, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        record = EpochRecord(
            epoch=epoch,
            train_loss=float(loss_sum) / max(1, batches),
            learning_rate=head_optimizer.param_groups[0]["lr"],
            seconds=time.perf_counter() - epoch_start,
            docs_per_second=docs / train_seconds if train_seconds > 0 else 0.0,
            valid=metrics,
            improved=improved,
        )
        history.append(record)
        if config.lr_schedule == "plateau" and not improved:
            plateau_factor *= 0.5
        progress.epoch(record)
        if (
            config.patience is not None
            and epoch >= config.min_epochs
            and epoch - best_epoch >= config.patience
        ):
            stopped_early = epoch < config.max_epochs
            break

    assert best_state is not None
    model.load_state_dict(best_state)
    model.to("cpu").eval()
    progress.done()
    return TrainResult(
        model=model,
        history=history,
        best_epoch=best_epoch,
        monitor=objective.monitor,
        best_value=float(best_value),
        device=str(device),
        mixed_precision=None if amp_dtype is None else str(amp_dtype).replace("torch.", ""),
        batch_size=batch_size,
        stopped_early=stopped_early,
        seconds=time.perf_counter() - started,
    )
