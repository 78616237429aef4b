"""Transformer encoder classifiers: a Hugging Face encoder, mean pooling, and one linear head per task.

A model folder holds ``encoder/`` (what ``transformers.AutoModel`` and ``AutoTokenizer`` load as
is), ``heads.safetensors`` (one ``<task>.weight``/``<task>.bias`` pair per task) and the card.
``predict`` answers for the first task; :meth:`EncoderClassifier.predict_tasks` for all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bonepick.errors import ModelError
from bonepick.models.base import Classifier
from bonepick.models.card import ModelCard

ENCODER_DIR = "encoder"
HEADS_FILE = "heads.safetensors"


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Average of the token vectors, padding left out (what sentence-transformers does)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def build_network(encoder: Any, tasks: Sequence[dict[str, Any]]) -> Any:
    """The encoder plus a linear head per task (``outputs``: classes, or 1 for a number)."""
    import torch

    class EncoderNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            size = encoder.config.hidden_size
            self.heads = torch.nn.ModuleDict({t["name"]: torch.nn.Linear(size, t["outputs"]) for t in tasks})

        def embed(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return mean_pool(hidden, attention_mask)

        def head_outputs(self, pooled: Any) -> dict[str, Any]:
            return {name: head(pooled) for name, head in self.heads.items()}

        def forward(self, input_ids: Any, attention_mask: Any) -> dict[str, Any]:
            return self.head_outputs(self.embed(input_ids, attention_mask))

    return EncoderNetwork()


def outputs_to_numpy(logits: Any, kind: str) -> np.ndarray:
    """Class probabilities for a classification head, the number for a regression head."""
    import torch

    if kind == "number":
        return logits.float().squeeze(-1).cpu().numpy()
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()


class EncoderClassifier(Classifier):
    def __init__(self, model_dir: Path, card: ModelCard, network: Any, tokenizer: Any, device: Any) -> None:
        super().__init__(model_dir, card)
        self.network = network
        self.tokenizer = tokenizer
        self.device = device
        self.tasks: list[dict[str, Any]] = card.extra["tasks"]
        self.max_tokens = int(card.hyperparameters.get("max_tokens", 512))
        self.batch_size = int(card.hyperparameters.get("inference_batch_size", 64))

    @classmethod
    def load(cls, model_dir: Path, card: ModelCard) -> EncoderClassifier:
        from safetensors.torch import load_file
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from bonepick.models.trainer import resolve_device

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        encoder_dir = Path(model_dir) / ENCODER_DIR
        heads_path = Path(model_dir) / HEADS_FILE
        if not encoder_dir.is_dir() or not heads_path.is_file():
            raise ModelError(
                f"{model_dir} is not an encoder model folder (no {ENCODER_DIR}/ or {HEADS_FILE})"
            )
        if "tasks" not in card.extra:
            raise ModelError(f"{model_dir}: the card does not list the tasks of the heads")
        device = resolve_device(card.extra.get("inference_device", "auto"))
        encoder = AutoModel.from_pretrained(encoder_dir)
        network = build_network(encoder, card.extra["tasks"])
        network.heads.load_state_dict(load_file(heads_path))
        network.to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
        return cls(model_dir, card, network, tokenizer, device)

    def predict_tasks(self, texts: Sequence[str], prepared: bool = False) -> dict[str, np.ndarray]:
        """Every task's outputs: probabilities (n, classes) or numbers (n,)."""
        import torch

        if not prepared:
            texts = self.preprocess(texts)
        outputs: dict[str, list[np.ndarray]] = {t["name"]: [] for t in self.tasks}
        autocast = self.device.type == "cuda"
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=self.max_tokens,
                    return_tensors="pt",
                ).to(self.device)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                    logits = self.network(batch["input_ids"], batch["attention_mask"])
                for task in self.tasks:
                    outputs[task["name"]].append(outputs_to_numpy(logits[task["name"]], task["kind"]))
        result = {}
        for task in self.tasks:
            parts = outputs[task["name"]]
            width = () if task["kind"] == "number" else (task["outputs"],)
            result[task["name"]] = np.concatenate(parts) if parts else np.zeros((0, *width), dtype=np.float32)
        return result

    def predict_prepared(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_tasks(texts, prepared=True)[self.tasks[0]["name"]]
