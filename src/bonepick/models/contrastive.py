"""``train-contrastive``: a scorer trained to rank texts by an ordinal label.

Documents are embedded with the untrained base model and clustered with k-means, so pairs compare
texts that are about similar things. Each epoch draws, for every training document, partners from
its own cluster whose label differs; a pairwise hinge loss asks the higher-labelled text to score
higher by a margin. The trainer, data reading and export are shared with ``train-model2vec``; only
the objective differs. The saved model gives one score per text, like a regression model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bonepick.errors import DataError, UsageError
from bonepick.models.trainer import NullProgress, Objective, TokenizedTexts, TrainProgress, spearman


@dataclass
class ContrastiveConfig:
    n_clusters: int = 100
    pairs_per_doc: int = 2
    margin: float = 1.0

    def check(self) -> None:
        if self.n_clusters < 1:
            raise UsageError(f"--n-clusters must be at least 1, got {self.n_clusters}")
        if self.pairs_per_doc < 1:
            raise UsageError(f"--pairs-per-doc must be at least 1, got {self.pairs_per_doc}")
        if self.margin <= 0:
            raise UsageError(f"--margin must be positive, got {self.margin}")


def embed_documents(model: Any, tokens: TokenizedTexts, batch_size: int = 4096) -> np.ndarray:
    """Pooled (normalised) base-model embeddings, exactly what ``StaticModel.encode`` gives."""
    out = []
    with torch.no_grad():
        for start in range(0, len(tokens), batch_size):
            ids, offsets, lengths = tokens.gather(np.arange(start, min(start + batch_size, len(tokens))))
            out.append(
                model.pool(
                    torch.from_numpy(ids), torch.from_numpy(offsets), torch.from_numpy(lengths)
                ).numpy()
            )
    return np.concatenate(out) if out else np.zeros((0, model.embedding.shape[1]), dtype=np.float32)


def cluster_documents(embeddings: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """k-means cluster id of every document (seeded; fewer clusters when there are few documents)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    k = max(1, min(n_clusters, len(embeddings) // 2))
    if k == 1:
        return np.zeros(len(embeddings), dtype=np.int64)
    if len(embeddings) <= 20_000:
        kmeans = KMeans(n_clusters=k, n_init=3, random_state=seed)
    else:
        kmeans = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed, batch_size=4096)
    return kmeans.fit_predict(embeddings.astype(np.float32)).astype(np.int64)


class PairSampler:
    """Draws (higher, lower) document pairs inside clusters, between different labels.

    Within a cluster, members are sorted by label, so the members sharing a document's label form
    one contiguous block; a partner is a uniform draw from the cluster outside that block.
    """

    def __init__(self, clusters: np.ndarray, labels: np.ndarray) -> None:
        self.labels = np.asarray(labels, dtype=np.float64)
        order = np.lexsort((self.labels, clusters))  # by cluster, then label
        self.order = order
        sorted_clusters = clusters[order]
        sorted_labels = self.labels[order]
        n = len(order)
        # cluster block [c_start, c_end) and same-label block [l_start, l_end) of each sorted position
        cluster_change = np.r_[True, sorted_clusters[1:] != sorted_clusters[:-1]]
        label_change = cluster_change | np.r_[True, sorted_labels[1:] != sorted_labels[:-1]]
        c_start = np.maximum.accumulate(np.where(cluster_change, np.arange(n), 0))
        l_start = np.maximum.accumulate(np.where(label_change, np.arange(n), 0))
        c_end = _block_ends(cluster_change, n)
        l_end = _block_ends(label_change, n)
        self.c_start, self.c_end, self.l_start, self.l_end = c_start, c_end, l_start, l_end
        self.candidates = (c_end - c_start) - (l_end - l_start)
        self.position = np.empty(n, dtype=np.int64)
        self.position[order] = np.arange(n)

    @property
    def pairable(self) -> int:
        """Documents that have at least one partner."""
        return int(np.sum(self.candidates > 0))

    def sample(self, rng: np.random.Generator, per_doc: int) -> np.ndarray:
        """(m, 2) array of (higher-labelled, lower-labelled) document indices, shuffled."""
        positions = np.flatnonzero(self.candidates > 0)
        if not len(positions):
            return np.zeros((0, 2), dtype=np.int64)
        positions = np.repeat(positions, per_doc)
        draws = (rng.random(len(positions)) * self.candidates[positions]).astype(np.int64)
        offset = self.c_start[positions] + draws
        before = self.l_start[positions] - self.c_start[positions]
        skip = self.l_end[positions] - self.l_start[positions]
        partner = np.where(draws < before, offset, offset + skip)
        a = self.order[positions]
        b = self.order[partner]
        higher_first = self.labels[a] > self.labels[b]
        pairs = np.stack([np.where(higher_first, a, b), np.where(higher_first, b, a)], axis=1)
        return pairs[rng.permutation(len(pairs))]


def _block_ends(change: np.ndarray, n: int) -> np.ndarray:
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], n]
    block = np.cumsum(change) - 1
    return ends[block]


class PairwiseHingeObjective(Objective):
    """Hinge loss on score differences of (higher, lower) pairs; best epoch by validation Spearman."""

    task = "ranking"
    out_dim = 1
    monitor = "spearman"
    mode = "max"

    def __init__(
        self, sampler: PairSampler, valid_y: np.ndarray, margin: float, pairs_per_doc: int, seed: int
    ) -> None:
        self.sampler = sampler
        self.valid_y = np.asarray(valid_y, dtype=np.float64)
        self.margin = margin
        self.pairs_per_doc = pairs_per_doc
        rng = np.random.default_rng(seed + 1)
        self.valid_pairs = _random_pairs(self.valid_y, rng, max_pairs=20_000)

    def epoch_examples(self, n_train: int, rng: np.random.Generator) -> np.ndarray:
        return self.sampler.sample(rng, self.pairs_per_doc)

    def batch(self, examples: np.ndarray) -> tuple[np.ndarray, Any]:
        docs, inverse = np.unique(examples.ravel(), return_inverse=True)
        return docs, torch.as_tensor(inverse.reshape(-1, 2))

    def loss(self, outputs: torch.Tensor, aux: Any) -> torch.Tensor:
        aux = aux.to(outputs.device)
        scores = outputs[:, 0]
        difference = scores[aux[:, 0]] - scores[aux[:, 1]]
        return torch.relu(self.margin - difference).mean()

    def validate(self, outputs: np.ndarray) -> dict[str, float]:
        scores = outputs[:, 0].astype(np.float64)
        metrics = {"spearman": spearman(scores, self.valid_y)}
        if len(self.valid_pairs):
            difference = scores[self.valid_pairs[:, 0]] - scores[self.valid_pairs[:, 1]]
            metrics["pair_accuracy"] = float(np.mean(difference > 0))
            metrics["hinge"] = float(np.mean(np.maximum(0.0, self.margin - difference)))
        return metrics


def _random_pairs(labels: np.ndarray, rng: np.random.Generator, max_pairs: int) -> np.ndarray:
    """Random (higher, lower) pairs of documents with different labels, for validation."""
    n = len(labels)
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    a = rng.integers(0, n, size=max_pairs)
    b = rng.integers(0, n, size=max_pairs)
    keep = labels[a] != labels[b]
    a, b = a[keep], b[keep]
    higher_first = labels[a] > labels[b]
    return np.stack([np.where(higher_first, a, b), np.where(higher_first, b, a)], axis=1)


def train_contrastive(
    dataset_dirs: Sequence[Path],
    config: Any,
    contrastive: ContrastiveConfig,
    progress: TrainProgress | None = None,
    message: Callable[[str], None] | None = None,
):
    """Train and save a ranking model; ``config`` is a ``Model2VecTrainConfig`` with task ranking."""
    from bonepick.models.card import ModelCard
    from bonepick.models.model2vec_train import (
        TrainSummary,
        build_model,
        check_output_dir,
        data_record,
        load_static_model,
        prepare_data,
        save_model_folder,
        to_pipeline,
    )
    from bonepick.models.trainer import seed_everything, tokenize_texts, train

    config.task = "ranking"
    config.check()
    contrastive.check()
    check_output_dir(config.output_dir, config.overwrite)
    progress = progress or NullProgress()
    started = time.perf_counter()
    data = prepare_data(dataset_dirs, config)
    train_y = np.asarray(data.train.labels, dtype=np.float64)
    if len(set(train_y.tolist())) < 2:
        raise DataError(
            "every training label is the same; ranking needs at least two different labels",
            hint="check --label-expression",
        )
    base, static = load_static_model(config.base_model, config.max_tokens, message, progress)
    train_tokens = tokenize_texts(static, data.train.texts, progress, "tokenize train")
    valid_tokens = tokenize_texts(static, data.valid.texts, progress, "tokenize valid")

    seed_everything(config.train.seed)
    model = build_model(static, 1, config)
    progress.phase("cluster", None)
    cluster_start = time.perf_counter()
    clusters = cluster_documents(
        embed_documents(model, train_tokens), contrastive.n_clusters, config.train.seed
    )
    cluster_seconds = time.perf_counter() - cluster_start
    sampler = PairSampler(clusters, train_y)
    if sampler.pairable == 0:
        raise DataError(
            f"no cluster holds two different labels (k={int(clusters.max()) + 1}), so there are no pairs",
            hint="lower --n-clusters",
        )
    objective = PairwiseHingeObjective(
        sampler,
        np.asarray(data.valid.labels),
        contrastive.margin,
        contrastive.pairs_per_doc,
        config.train.seed,
    )
    result = train(model, objective, train_tokens, valid_tokens, config.train, progress)
    pipeline = to_pipeline(result.model, static, "identity", None)
    seconds = time.perf_counter() - started
    values = sorted(set(train_y.tolist()) | set(float(v) for v in data.valid.labels))
    card = ModelCard(
        kind="model2vec",
        task="ranking",
        labels=[],
        base_model=base.name,
        normalizer=config.normalizer,
        max_length=config.max_length,
        text_expression=config.text_expression,
        label_expression=config.label_expression,
        hyperparameters={
            **config.hyperparameters(),
            "batch_size": result.batch_size,
            **{f"contrastive_{k}": v for k, v in asdict(contrastive).items()},
        },
        data={
            **data_record(dataset_dirs, data, int(len(train_tokens.ids))),
            "clusters": int(clusters.max()) + 1,
            "pairable_train_docs": sampler.pairable,
        },
        training={
            **result.training_record(),
            "cluster_seconds": round(cluster_seconds, 3),
            "duration_seconds": round(seconds, 3),
        },
        extra={
            "format": "model2vec StaticModelPipeline (config.json, model.safetensors, tokenizer.json, head.safetensors)",
            "objective": "pairwise hinge",
            "how_trained": (
                f"base-model embeddings clustered with k-means (k={int(clusters.max()) + 1}); each epoch "
                f"{contrastive.pairs_per_doc} partner(s) per document drawn from its cluster among documents "
                f"with a different label; loss max(0, {contrastive.margin} - (score_higher - score_lower))"
            ),
            "score": "higher means a higher label; scores are not on the label scale",
            "base_model_source": base.source,
            "base_model_path": str(base.path),
            "head_activation": "identity",
            "label_values": values if len(values) <= 50 else None,
        },
    )
    save_model_folder(pipeline, card, config.output_dir, config.overwrite)
    return TrainSummary(Path(config.output_dir), card, result, seconds)
