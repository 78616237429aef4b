"""The Model2Vec training engine: tokenization and label alignment, pooling, objectives, export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bonepick.io import read_rows, write_rows
from bonepick.models import trainer as engine
from bonepick.models.contrastive import PairSampler
from bonepick.models.labeled_data import holdout_split, read_labeled
from tests.conftest import SPAM


@pytest.fixture(scope="module")
def static_model(embedded_base_model: Path):
    from model2vec import StaticModel

    return StaticModel.from_pretrained(embedded_base_model, max_length=64)


def _spam_rows() -> list[dict]:
    return [row for shard in sorted((SPAM / "train").glob("*.jsonl*")) for row in read_rows(shard)]


def test_tokenize_once_keeps_every_text_aligned(static_model, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "TOKENIZE_CHUNK", 7)  # many chunk boundaries
    texts = [row["text"] for row in _spam_rows()[:50]] + ["", "   ", "ünïcödé ✓ text"]
    tokens = engine.tokenize_texts(static_model, texts)
    assert len(tokens) == len(texts)
    cut = static_model.max_length * static_model.median_token_length
    for i, text in enumerate(texts):
        assert tokens.row(i) == static_model.tokenize([text[:cut]])[0], i
    assert tokens.lengths.max() <= 64 and tokens.row(len(texts) - 3) == []


def test_gather_and_subset_follow_the_indices(static_model) -> None:
    texts = [f"document {i} " + "word " * (i % 5) for i in range(30)]
    tokens = engine.tokenize_texts(static_model, texts)
    order = np.array([5, 0, 29, 5, 12])
    ids, offsets, lengths = tokens.gather(order)
    rebuilt = [ids[o : o + n].tolist() for o, n in zip(offsets, lengths, strict=True)]
    assert rebuilt == [tokens.row(i) for i in order]
    sub = tokens.subset(order)
    assert [sub.row(k) for k in range(len(order))] == [tokens.row(i) for i in order]


def test_parallel_reading_keeps_labels_with_their_texts(tmp_path: Path) -> None:
    rows = _spam_rows()
    for k in range(3):  # three shards; the label is the row's own id, so any mix-up shows
        write_rows(
            tmp_path / "d" / "train" / f"part_{k}.jsonl.zst",
            [{"text": r["text"], "label": r["id"]} for r in rows[k::3]],
        )
    sequential = read_labeled([tmp_path / "d"], "train", num_proc=1)
    parallel = read_labeled([tmp_path / "d"], "train", num_proc=2)
    assert parallel.texts == sequential.texts and parallel.labels == sequential.labels
    by_id = {r["id"]: r["text"] for r in rows}
    assert all(by_id[label] == text for text, label in zip(parallel.texts, parallel.labels, strict=True))


def test_pooling_matches_static_model_encode(static_model) -> None:
    texts = [row["text"] for row in _spam_rows()[:40]] + [""]
    model = engine.StaticBagModel(static_model.embedding, out_dim=2, normalize=static_model.normalize)
    tokens = engine.tokenize_texts(static_model, texts)
    ids, offsets, lengths = tokens.gather(np.arange(len(texts)))
    with torch.no_grad():
        pooled = model.pool(
            torch.from_numpy(ids), torch.from_numpy(offsets), torch.from_numpy(lengths)
        ).numpy()
    expected = static_model.encode(texts).astype(np.float32)
    np.testing.assert_allclose(pooled, expected, atol=2e-3)  # the static model sums in float16


def test_trainer_predictions_equal_the_exported_pipeline(static_model, tmp_path: Path) -> None:
    from model2vec.inference import StaticModelPipeline

    from bonepick.models.model2vec_train import to_pipeline

    rows = _spam_rows()[:200]
    texts = [r["text"] for r in rows]
    y = np.array([r["label"] == "spam" for r in rows], dtype=np.int64)
    tokens = engine.tokenize_texts(static_model, texts)
    engine.seed_everything(0)
    model = engine.StaticBagModel(static_model.embedding, out_dim=2, n_layers=1, hidden_dim=32)
    objective = engine.ClassificationObjective(y[:150], y[150:], 2, "sqrt")
    config = engine.TrainConfig(max_epochs=2, batch_size=32, device="cpu", seed=0)
    result = engine.train(
        model, objective, tokens.subset(np.arange(150)), tokens.subset(np.arange(150, 200)), config
    )
    assert len(result.history) == 2 and result.best_epoch in (1, 2)
    trainer_proba = torch.softmax(
        torch.from_numpy(engine.predict_outputs(result.model, tokens)), dim=1
    ).numpy()
    to_pipeline(result.model, static_model, "softmax", ["ham", "spam"]).save_pretrained(str(tmp_path / "p"))
    loaded = StaticModelPipeline.from_pretrained(tmp_path / "p")
    np.testing.assert_allclose(loaded.predict_proba(texts), trainer_proba, atol=1e-5)


def test_regression_head_outputs_the_label_scale(static_model) -> None:
    from bonepick.models.model2vec_train import to_pipeline

    texts = [r["text"] for r in _spam_rows()[:120]]
    y = np.array([10.0 + 5 * (len(t) > 1000) for t in texts])
    tokens = engine.tokenize_texts(static_model, texts)
    engine.seed_everything(0)
    model = engine.StaticBagModel(static_model.embedding, out_dim=1, n_layers=0)
    objective = engine.RegressionObjective(y[:100], y[100:])
    config = engine.TrainConfig(max_epochs=2, batch_size=16, device="cpu", seed=0)
    result = engine.train(
        model, objective, tokens.subset(np.arange(100)), tokens.subset(np.arange(100, 120)), config
    )
    standardized = engine.predict_outputs(result.model, tokens)[:, 0]
    objective.fold_into(result.model)
    scores = to_pipeline(result.model, static_model, "identity", None).predict(texts)[:, 0]
    np.testing.assert_allclose(scores, standardized * objective.std + objective.mean, rtol=1e-4, atol=1e-4)
    assert 8 < scores.mean() < 17


def test_class_weights() -> None:
    counts = np.array([90, 10])
    assert engine.class_weight_vector(counts, "uniform") is None
    balanced = engine.class_weight_vector(counts, "balanced")
    np.testing.assert_allclose(balanced, [100 / 180, 100 / 20], rtol=1e-6)
    np.testing.assert_allclose(engine.class_weight_vector(counts, "sqrt"), np.sqrt(balanced), rtol=1e-6)
    from bonepick.errors import UsageError

    with pytest.raises(UsageError):
        engine.class_weight_vector(counts, "inverse")


def test_epochs_are_compared_by_validation_loss_not_by_ties_in_macro_f1() -> None:
    """Two epochs with the same predictions (same macro-F1) differ in confidence: the validation
    loss, which the trainer keeps the best epoch by, must tell them apart, and it is the training
    loss with the same class weights."""
    train_y = np.array([0] * 30 + [1] * 10)
    valid_y = np.array([0, 0, 0, 1, 1])
    objective = engine.ClassificationObjective(train_y, valid_y, 2, class_weight="balanced")
    assert (objective.monitor, objective.mode) == ("loss", "min")
    unsure = np.array([[0.2, 0.0], [0.3, 0.1], [0.1, 0.0], [0.0, 0.2], [0.4, 0.1]], dtype=np.float32)
    sure = unsure * 10
    first, second = objective.validate(unsure), objective.validate(sure)
    assert first["macro_f1"] == second["macro_f1"] < 1.0  # one spam predicted as ham in both
    assert second["loss"] != first["loss"]
    weights = torch.tensor([40 / 60, 40 / 20])
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(sure), torch.from_numpy(valid_y), weight=weights
    )
    assert second["loss"] == pytest.approx(float(expected), rel=1e-5)

    multi = engine.MultiLabelObjective(
        np.eye(2, dtype=np.float32)[train_y], np.eye(2, dtype=np.float32)[valid_y]
    )
    assert (multi.monitor, multi.mode) == ("loss", "min")


def test_holdout_is_seeded_and_stratified() -> None:
    labels = ["a"] * 80 + ["b"] * 20
    train_a, valid_a = holdout_split(labels, 0.1, seed=1)
    train_b, valid_b = holdout_split(labels, 0.1, seed=1)
    assert valid_a.tolist() == valid_b.tolist() and train_a.tolist() == train_b.tolist()
    assert sorted(np.concatenate([train_a, valid_a]).tolist()) == list(range(100))
    assert [labels[i] for i in valid_a].count("b") == 2 and len(valid_a) == 10
    assert holdout_split(labels, 0.1, seed=2)[1].tolist() != valid_a.tolist()


def test_pairs_stay_in_their_cluster_and_order_labels() -> None:
    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 5, size=300)
    labels = rng.integers(0, 4, size=300).astype(float)
    clusters[:10] = 9  # a cluster with one label only: no pairs for it
    labels[:10] = 2.0
    sampler = PairSampler(clusters, labels)
    pairs = sampler.sample(np.random.default_rng(1), per_doc=3)
    assert len(pairs) == 3 * sampler.pairable and sampler.pairable == 290
    assert (clusters[pairs[:, 0]] == clusters[pairs[:, 1]]).all()
    assert (labels[pairs[:, 0]] > labels[pairs[:, 1]]).all()
    assert not np.isin(pairs, np.arange(10)).any()
    partners = {(a, b) for a, b in pairs.tolist()}
    assert len(partners) > 0.8 * len(pairs)  # draws are spread, not one fixed partner


def test_device_choice() -> None:
    assert engine.resolve_device("cpu").type == "cpu"
    assert engine.resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        from bonepick.errors import UsageError

        with pytest.raises(UsageError, match="no CUDA"):
            engine.resolve_device("cuda")


def test_several_dataset_folders_are_concatenated_in_order(tmp_path: Path) -> None:
    from tests.conftest import BROWN

    spam = read_labeled([SPAM], "train")
    brown = read_labeled([BROWN], "train")
    both = read_labeled([SPAM, BROWN], "train", num_proc=2)
    assert both.texts == spam.texts + brown.texts and both.labels == spam.labels + brown.labels
    numbers = read_labeled(
        [SPAM], "train", label_expression='if .label == "spam" then 1 else 0 end', kind="number"
    )
    assert numbers.labels == [1.0 if label == "spam" else 0.0 for label in spam.labels]


def test_vocabulary_quantized_models_pool_and_export_exactly(static_model, tmp_path: Path) -> None:
    """Models with a token mapping and per-token weights (``-k`` in distill-model2vec)."""
    from model2vec import StaticModel
    from model2vec.inference import StaticModelPipeline

    from bonepick.models.model2vec_train import to_pipeline

    # the shape of a vocabulary-quantized model, without the k-means: 64 shared vectors, a token ->
    # vector mapping and a weight per token
    rng = np.random.default_rng(0)
    n_tokens = len(static_model.tokens)
    quantized = StaticModel(
        vectors=static_model.embedding[:64].astype(np.float32),
        tokenizer=static_model.tokenizer,
        normalize=True,
        token_mapping=rng.integers(0, 64, size=n_tokens),
        weights=rng.uniform(0.5, 2.0, size=n_tokens).astype(np.float32),
        max_length=64,
    )
    assert quantized.token_mapping is not None and quantized.weights is not None
    texts = [row["text"] for row in _spam_rows()[:30]]
    tokens = engine.tokenize_texts(quantized, texts)
    engine.seed_everything(0)
    model = engine.StaticBagModel(
        quantized.embedding,
        out_dim=2,
        n_layers=0,
        token_mapping=quantized.token_mapping,
        token_weights=quantized.weights,
    )
    ids, offsets, lengths = tokens.gather(np.arange(len(texts)))
    with torch.no_grad():
        pooled = model.pool(
            torch.from_numpy(ids), torch.from_numpy(offsets), torch.from_numpy(lengths)
        ).numpy()
    np.testing.assert_allclose(pooled, quantized.encode(texts).astype(np.float32), atol=2e-3)
    y = np.array([row["label"] == "spam" for row in _spam_rows()[:30]], dtype=np.int64)
    objective = engine.ClassificationObjective(y[:20], y[20:], 2)
    config = engine.TrainConfig(max_epochs=1, batch_size=8, device="cpu")
    result = engine.train(
        model, objective, tokens.subset(np.arange(20)), tokens.subset(np.arange(20, 30)), config
    )
    proba = torch.softmax(torch.from_numpy(engine.predict_outputs(result.model, tokens)), dim=1).numpy()
    to_pipeline(result.model, quantized, "softmax", ["ham", "spam"]).save_pretrained(str(tmp_path / "q"))
    np.testing.assert_allclose(
        StaticModelPipeline.from_pretrained(tmp_path / "q").predict_proba(texts), proba, atol=1e-5
    )
