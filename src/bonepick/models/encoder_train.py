"""Training transformer encoder classifiers (``train-encoder``).

Two modes. ``freeze_encoder``: embed every text once (mean pooling, no gradients), then train
only the linear heads on the cached vectors — seconds, and the encoder stays exactly the base
model. Otherwise the encoder is fine-tuned together with the heads. Several tasks share the
encoder, each with its own head (classification or regression) and its own label expression.
The best epoch on the validation data (``valid/`` or a seeded hold-out) is kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.data.expressions import label_to_str
from bonepick.errors import UsageError
from bonepick.models.card import ModelCard
from bonepick.models.encoder import ENCODER_DIR, HEADS_FILE, build_network
from bonepick.models.labeled_data import has_split, holdout_split, read_labeled


@dataclass
class EncoderTask:
    name: str
    label_expression: str
    kind: str  # "single" (classes) or "number" (regression)


@dataclass
class EncoderTrainConfig:
    dataset_dirs: list[Path]
    output_dir: Path
    base_model: str | None = None
    tasks: list[EncoderTask] = field(default_factory=list)
    text_expression: str = ".text"
    freeze_encoder: bool = False
    normalizer: str | None = None
    max_tokens: int = 512
    learning_rate: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    valid_fraction: float = 0.1
    device: str = "auto"
    seed: int = 42
    num_proc: int | None = 1


def parse_task(spec: str, regression: bool) -> EncoderTask:
    """``NAME=LABEL_JQ`` (``NAME=LABEL_JQ:regression`` for a number on one task only)."""
    name, sep, expression = spec.partition("=")
    if not sep or not name.strip() or not expression.strip():
        raise UsageError(f"--task '{spec}' is not NAME=LABEL_JQ", hint="for example --task edu='.score'")
    kind = "number" if regression else "single"
    for suffix, forced in ((":regression", "number"), (":classification", "single")):
        if expression.endswith(suffix):
            expression, kind = expression[: -len(suffix)], forced
    return EncoderTask(name.strip(), expression.strip(), kind)


def resolve_encoder(name: str | None) -> str:
    """A local folder, the packaged all-MiniLM-L6-v2 (default), or a hub name."""
    from bonepick.models.distill import PACKAGED_ALIASES, packaged_transformer_path

    if not name or name.lower() in PACKAGED_ALIASES:
        return str(packaged_transformer_path())
    if Path(name).exists():
        return str(Path(name))
    return name


def _sort_classes(values: set[str]) -> list[str]:
    def key(value: str) -> tuple[int, float, str]:
        try:
            return (0, float(value), value)
        except ValueError:
            return (1, 0.0, value)

    return sorted(values, key=key)


def _targets(labels: Sequence[Any], task: EncoderTask, classes: list[str]) -> np.ndarray:
    if task.kind == "number":
        return np.asarray(labels, dtype=np.float32)
    index = {c: i for i, c in enumerate(classes)}
    return np.asarray([index[label_to_str(v)] for v in labels], dtype=np.int64)


def _read(config: EncoderTrainConfig, split: str) -> tuple[list[str], dict[str, list[Any]]]:
    texts: list[str] | None = None
    labels: dict[str, list[Any]] = {}
    for task in config.tasks:
        data = read_labeled(
            config.dataset_dirs,
            split,
            text_expression=config.text_expression,
            label_expression=task.label_expression,
            kind=task.kind,
            normalizer=config.normalizer,
            num_proc=config.num_proc,
        )
        texts = data.texts if texts is None else texts
        labels[task.name] = list(data.labels)
    assert texts is not None
    return texts, labels


def train_encoder(config: EncoderTrainConfig, report: Callable[[str], None] | None = None) -> ModelCard:
    """Train, keep the best epoch, save the folder; returns the card."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from bonepick.models.trainer import resolve_device

    hf_logging.disable_progress_bar()  # the library never prints; progress is reported through `report`
    hf_logging.set_verbosity_error()
    say = report or (lambda _message: None)
    if not config.tasks:
        raise UsageError("no task to train", hint="pass -l/--label-expression or --task NAME=LABEL_JQ")
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    on_gpu = device.type == "cuda"
    epochs = config.epochs or (20 if config.freeze_encoder else 3)
    lr = config.learning_rate or (1e-2 if config.freeze_encoder else 3e-5)
    batch_size = config.batch_size or (
        (256 if on_gpu else 64) if config.freeze_encoder else (64 if on_gpu else 16)
    )

    train_texts, train_labels = _read(config, "train")
    if not train_texts:
        raise UsageError("the train split is empty", hint="check the dataset folders")
    if has_split(config.dataset_dirs, "valid"):
        valid_texts, valid_labels = _read(config, "valid")
        valid_source = "valid split"
    else:
        first = config.tasks[0]
        train_idx, valid_idx = holdout_split(
            [label_to_str(v) for v in train_labels[first.name]]
            if first.kind == "single"
            else [0] * len(train_texts),
            config.valid_fraction,
            config.seed,
            stratify=first.kind == "single",
        )
        valid_texts = [train_texts[i] for i in valid_idx]
        valid_labels = {k: [v[i] for i in valid_idx] for k, v in train_labels.items()}
        train_texts = [train_texts[i] for i in train_idx]
        train_labels = {k: [v[i] for i in train_idx] for k, v in train_labels.items()}
        valid_source = f"{len(valid_texts)} rows held out of train (seed {config.seed})"

    task_info: list[dict[str, Any]] = []
    for task in config.tasks:
        classes = (
            []
            if task.kind == "number"
            else _sort_classes({label_to_str(v) for v in train_labels[task.name] + valid_labels[task.name]})
        )
        if task.kind == "single" and len(classes) < 2:
            raise UsageError(
                f"task '{task.name}' has only one class ({classes})", hint="a classifier needs two"
            )
        task_info.append(
            {
                "name": task.name,
                "kind": task.kind,
                "label_expression": task.label_expression,
                "labels": classes,
                "outputs": 1 if task.kind == "number" else len(classes),
            }
        )
    y_train = {
        t["name"]: torch.as_tensor(_targets(train_labels[t["name"]], _spec(config, t), t["labels"]))
        for t in task_info
    }
    y_valid = {t["name"]: _targets(valid_labels[t["name"]], _spec(config, t), t["labels"]) for t in task_info}

    base = resolve_encoder(config.base_model)
    say(f"encoder: {base} on {device}; {len(train_texts)} train rows, validation: {valid_source}")
    tokenizer = AutoTokenizer.from_pretrained(base)
    network = build_network(AutoModel.from_pretrained(base), task_info).to(device)

    def tokenize(texts: Sequence[str]) -> dict[str, Any]:
        return tokenizer(
            list(texts), padding=True, truncation=True, max_length=config.max_tokens, return_tensors="pt"
        )

    def embed_all(texts: Sequence[str]) -> torch.Tensor:
        network.eval()
        parts = []
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu):
            for start in range(0, len(texts), batch_size):
                batch = tokenize(texts[start : start + batch_size]).to(device)
                parts.append(network.embed(batch["input_ids"], batch["attention_mask"]).float())
        return torch.cat(parts)

    def loss_of(outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros((), device=device)
        for t in task_info:
            out, target = outputs[t["name"]].float(), targets[t["name"]].to(device)
            if t["kind"] == "number":
                total = total + torch.nn.functional.mse_loss(out.squeeze(-1), target)
            else:
                total = total + torch.nn.functional.cross_entropy(out, target)
        return total / len(task_info)

    def validate(outputs: dict[str, np.ndarray]) -> dict[str, float]:
        scores = {}
        for t in task_info:
            truth, out = y_valid[t["name"]], outputs[t["name"]]
            if t["kind"] == "number":
                scores[f"{t['name']}_mse"] = float(np.mean((out - truth) ** 2))
            else:
                scores[f"{t['name']}_accuracy"] = float(np.mean(out.argmax(-1) == truth))
        return scores

    def goodness(scores: dict[str, float]) -> float:
        return float(np.mean([v if k.endswith("accuracy") else -v for k, v in scores.items()]))

    if config.freeze_encoder:
        for p in network.encoder.parameters():
            p.requires_grad_(False)
        say("embedding every text once (frozen encoder)")
        x_train, x_valid = embed_all(train_texts), embed_all(valid_texts)
        params = list(network.heads.parameters())
    else:
        params = list(network.parameters())
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(train_texts) / batch_size)
    total_steps = steps_per_epoch * epochs
    warmup = max(1, total_steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup) * max(0.0, (total_steps - step) / total_steps)
    )
    generator = torch.Generator().manual_seed(config.seed)
    history: list[dict[str, float]] = []
    best: tuple[float, int, dict[str, torch.Tensor]] | None = None
    for epoch in range(1, epochs + 1):
        network.train(not config.freeze_encoder)
        order = torch.randperm(len(train_texts), generator=generator)
        epoch_loss = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            targets = {k: v[index] for k, v in y_train.items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu):
                if config.freeze_encoder:
                    outputs = network.head_outputs(x_train[index.to(x_train.device)])
                else:
                    batch = tokenize([train_texts[i] for i in index.tolist()]).to(device)
                    outputs = network(batch["input_ids"], batch["attention_mask"])
                loss = loss_of(outputs, targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            epoch_loss += float(loss.detach()) * len(index)
        network.eval()
        with torch.inference_mode():
            pooled = x_valid if config.freeze_encoder else embed_all(valid_texts)
            valid_out = {
                k: _to_numpy(v, kind)
                for (k, v), kind in zip(
                    network.head_outputs(pooled).items(), [t["kind"] for t in task_info], strict=True
                )
            }
        scores = validate(valid_out)
        record = {
            "epoch": epoch,
            "train_loss": round(epoch_loss / len(train_texts), 6),
            **{k: round(v, 6) for k, v in scores.items()},
        }
        history.append(record)
        say(
            "epoch "
            + " ".join(f"{k}={v}" for k, v in record.items() if k != "epoch")
            + f" ({epoch}/{epochs})"
        )
        if best is None or goodness(scores) > best[0]:
            kept = network.heads if config.freeze_encoder else network
            best = (
                goodness(scores),
                epoch,
                {k: v.detach().cpu().clone() for k, v in kept.state_dict().items()},
            )

    assert best is not None
    (network.heads if config.freeze_encoder else network).load_state_dict(best[2])
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    network.encoder.save_pretrained(out / ENCODER_DIR)
    tokenizer.save_pretrained(out / ENCODER_DIR)
    save_file(
        {k: v.detach().cpu().contiguous() for k, v in network.heads.state_dict().items()},
        str(out / HEADS_FILE),
    )
    first = task_info[0]
    card = ModelCard(
        kind="encoder",
        task="regression" if first["kind"] == "number" else "classification",
        labels=first["labels"],
        base_model=config.base_model or "sentence-transformers/all-MiniLM-L6-v2 (packaged)",
        normalizer=config.normalizer,
        text_expression=config.text_expression,
        label_expression=first["label_expression"],
        hyperparameters={
            "freeze_encoder": config.freeze_encoder,
            "max_tokens": config.max_tokens,
            "learning_rate": lr,
            "batch_size": batch_size,
            "epochs": epochs,
            "seed": config.seed,
            "pooling": "mean",
        },
        data={"train_rows": len(train_texts), "valid_rows": len(valid_texts), "validation": valid_source},
        training={
            "history": history,
            "best_epoch": best[1],
            "device": str(device),
            "seconds": round(time.perf_counter() - started, 2),
        },
        extra={"tasks": task_info},
    )
    card.save(out)
    return card


def _spec(config: EncoderTrainConfig, info: dict[str, Any]) -> EncoderTask:
    return next(t for t in config.tasks if t.name == info["name"])


def _to_numpy(logits: Any, kind: str) -> np.ndarray:
    from bonepick.models.encoder import outputs_to_numpy

    return outputs_to_numpy(logits, kind)
