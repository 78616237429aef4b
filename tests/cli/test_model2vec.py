"""train-model2vec / train-contrastive through the CLI, on the real SpamAssassin slice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.io import read_rows, write_rows
from tests.conftest import SPAM
from tests.plugins.model2vec_models import SPAM_AS_NUMBER


def _test_split(dataset: Path = SPAM) -> tuple[list[str], list[str]]:
    rows = [row for shard in sorted((dataset / "test").glob("*.jsonl*")) for row in read_rows(shard)]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, scores))


def test_classifier_beats_majority_baseline(model2vec_model_dir: Path) -> None:
    from sklearn.metrics import f1_score

    from bonepick.models import load_model

    texts, labels = _test_split()
    model = load_model(model2vec_model_dir)
    proba = model.predict(texts)
    assert proba.shape == (len(texts), 2)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predicted = np.asarray(model.labels)[proba.argmax(axis=1)]
    accuracy = float(np.mean(predicted == np.asarray(labels)))
    majority = max(labels.count(label) for label in set(labels)) / len(labels)
    assert accuracy >= majority + 0.15, (accuracy, majority)
    assert f1_score(labels, predicted, average="macro") >= 0.85


def test_saved_folder_is_a_plain_static_model_pipeline(model2vec_model_dir: Path) -> None:
    from model2vec.inference import StaticModelPipeline

    from bonepick.models import load_model

    texts, _ = _test_split()
    pipeline = StaticModelPipeline.from_pretrained(model2vec_model_dir)
    ours = load_model(model2vec_model_dir)
    assert list(pipeline.classes_) == ours.labels == ["ham", "spam"]
    np.testing.assert_allclose(pipeline.predict_proba(texts), ours.predict(texts), atol=1e-6)
    assert list(pipeline.predict(texts[:20])) == [
        ours.labels[i] for i in ours.predict(texts[:20]).argmax(axis=1)
    ]


def test_card_describes_the_model(model2vec_model_dir: Path) -> None:
    card = yaml.safe_load((model2vec_model_dir / "bonepick_model.yaml").read_text())
    assert card["kind"] == "model2vec" and card["task"] == "classification"
    assert card["labels"] == ["ham", "spam"]
    assert card["base_model"] == "embedded"
    assert card["text_expression"] == ".text" and card["label_expression"] == ".label"
    assert card["data"]["train_rows"] + card["data"]["valid_rows"] == 600
    assert card["data"]["valid_source"] == "hold-out"
    assert card["hyperparameters"]["max_epochs"] == 6 and card["hyperparameters"]["seed"] == 7
    epochs = card["training"]["epochs"]
    assert 1 <= len(epochs) <= 6 and {"loss", "accuracy", "macro_f1"} <= set(epochs[0]["valid"])
    assert card["training"]["device"] == "cpu" and card["training"]["duration_seconds"] > 0
    assert (model2vec_model_dir / "bonepick.yaml").is_file()  # provenance


def test_regression_model_scores_spam_higher(model2vec_regression_model_dir: Path) -> None:
    from bonepick.models import load_model

    texts, labels = _test_split()
    model = load_model(model2vec_regression_model_dir)
    assert model.card.task == "regression" and model.card.label_expression == SPAM_AS_NUMBER
    scores = model.predict(texts)
    assert scores.shape == (len(texts),)
    is_spam = np.asarray(labels) == "spam"
    assert _auc(scores, is_spam) > 0.9
    assert scores[is_spam].mean() > 0.5 > scores[~is_spam].mean()  # on the label scale


def test_contrastive_model_ranks_spam_above_ham(model2vec_ranking_model_dir: Path) -> None:
    from model2vec.inference import StaticModelPipeline

    from bonepick.models import load_model

    texts, labels = _test_split()
    model = load_model(model2vec_ranking_model_dir)
    assert model.card.task == "ranking"
    assert model.card.extra["objective"] == "pairwise hinge"
    assert "k-means" in model.card.extra["how_trained"]
    scores = model.predict(texts)
    assert scores.shape == (len(texts),)
    assert _auc(scores, np.asarray(labels) == "spam") > 0.9
    plain = StaticModelPipeline.from_pretrained(model2vec_ranking_model_dir).predict(texts[:10])
    np.testing.assert_allclose(plain[:, 0], scores[:10], atol=1e-5)


def _tiny_dataset(root: Path, n_train: int = 120) -> Path:
    """A small real slice of the spam data (so tests that train twice stay fast)."""
    rows = [row for shard in sorted((SPAM / "train").glob("*.jsonl*")) for row in read_rows(shard)]
    write_rows(root / "train" / "part.jsonl", rows[:n_train])
    return root


def test_cpu_training_is_seeded_and_reproducible(cli, tmp_path: Path, embedded_base_model: Path) -> None:
    data = _tiny_dataset(tmp_path / "data")
    args = ["-d", data, "--max-epochs", "2", "--device", "cpu", "-p", "1", "--n-layers", "0"]
    cli("train-model2vec", *args, "-o", tmp_path / "a", "-s", "3")
    cli("train-model2vec", *args, "-o", tmp_path / "b", "-s", "3")
    cli("train-model2vec", *args, "-o", tmp_path / "c", "-s", "4")
    for name in ("head.safetensors", "model.safetensors"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "head.safetensors").read_bytes() != (
        tmp_path / "c" / "head.safetensors"
    ).read_bytes()


def test_valid_split_and_multi_label(cli, tmp_path: Path, embedded_base_model: Path) -> None:
    from bonepick.models import load_model

    rows = [row for shard in sorted((SPAM / "train").glob("*.jsonl*")) for row in read_rows(shard)][:160]
    for row in rows:  # a second, real label: does the mail contain a link?
        row["tags"] = [row["label"]] + (["link"] if "http" in row["text"] else [])
    write_rows(tmp_path / "data" / "train" / "part.jsonl", rows[:120])
    write_rows(tmp_path / "data" / "valid" / "part.jsonl", rows[120:])
    out = tmp_path / "model"
    cli(
        "train-model2vec",
        "-d",
        tmp_path / "data",
        "-o",
        out,
        "--multi-label",
        "-l",
        ".tags",
        "--max-epochs",
        "2",
        "--device",
        "cpu",
        "-p",
        "1",
        "--freeze-embeddings",
        "--loss-class-weight",
        "balanced",
    )
    model = load_model(out)
    assert model.card.task == "multilabel" and model.labels == ["ham", "link", "spam"]
    assert model.card.data["valid_source"] == "valid/" and model.card.data["valid_rows"] == 40
    proba = model.predict([r["text"] for r in rows[:5]])
    assert proba.shape == (5, 3) and ((proba >= 0) & (proba <= 1)).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["-l", ".verdict"], "gave null"),
        (["--regression"], "expected a number"),
        (["--max-epochs", "0"], "--max-epochs must be at least 1"),
        (["--n-layers", "-1"], "--n-layers must be 0 or more"),
        (["--loss-class-weight", "inverse"], "unknown class weighting"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_bad_inputs_give_clean_errors(cli, tmp_path: Path, extra: list[str], message: str) -> None:
    result = cli("train-model2vec", "-d", SPAM, "-o", tmp_path / "m", "-p", "1", *extra, expect=1)
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output
    if extra[:2] == ["-l", ".verdict"]:
        assert "part_00.jsonl.zst:1" in result.output  # names file and line
    assert not (tmp_path / "m").exists()


def test_empty_train_split_is_an_error(cli, tmp_path: Path) -> None:
    write_rows(tmp_path / "data" / "train" / "part.jsonl", [])
    result = cli("train-model2vec", "-d", tmp_path / "data", "-o", tmp_path / "m", expect=1)
    assert "no training rows" in result.output and "Traceback" not in result.output


def test_single_class_and_existing_output_are_errors(cli, tmp_path: Path) -> None:
    rows = [{"text": f"message number {i}", "label": "ham"} for i in range(20)]
    write_rows(tmp_path / "data" / "train" / "part.jsonl", rows)
    result = cli("train-model2vec", "-d", tmp_path / "data", "-o", tmp_path / "m", expect=1)
    assert "single label" in result.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("keep me")
    result = cli("train-model2vec", "-d", SPAM, "-o", tmp_path / "busy", expect=1)
    assert "exists and is not empty" in result.output and (tmp_path / "busy" / "x").read_text() == "keep me"


def test_unreachable_hub_model_is_a_clean_error(cli, tmp_path: Path) -> None:
    result = cli(
        "train-model2vec", "-d", SPAM, "-o", tmp_path / "m", "-m", "minishlab/potion-base-32M", expect=1
    )
    assert "Hugging Face hub" in result.output and "embedded" in result.output


def test_distill_model2vec_offline_from_a_local_folder(cli, tmp_path: Path) -> None:
    """A small transformer saved locally (the packaged tokenizer, 2 layers) distils offline."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bonepick.models.distill import packaged_transformer_path

    source = tmp_path / "tiny-bert"
    tokenizer = AutoTokenizer.from_pretrained(packaged_transformer_path(verify=False))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(source)
    tokenizer.save_pretrained(source)
    out = tmp_path / "static"
    result = cli("distill-model2vec", "-m", source, "-o", out, "-d", "16", "-q", "float32")
    assert "error" not in result.output
    from model2vec import StaticModel

    static = StaticModel.from_pretrained(out)
    assert static.dim == 16 and static.base_model_name == "tiny-bert"
    assert static.encode(["hello there"]).shape == (1, 16)
    assert (out / "bonepick.yaml").is_file()
    again = cli("distill-model2vec", "-m", source, "-o", out, expect=1)
    assert "--overwrite" in again.output
