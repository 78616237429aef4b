"""train-encoder on a small real slice, on CPU: frozen head, fine-tuning, regression, multi-task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.io import read_rows, write_rows
from tests.conftest import SPAM


@pytest.fixture(scope="module")
def small_spam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 train and 80 test rows of the SPAM slice (real email text), to keep CPU training short."""
    root = tmp_path_factory.mktemp("encoder-data")
    train = [r for p in sorted((SPAM / "train").glob("*.zst")) for r in read_rows(p)][:200]
    test = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:80]
    write_rows(root / "train" / "a.jsonl.zst", train)
    write_rows(root / "test" / "a.jsonl.zst", test)
    return root


@pytest.fixture(scope="module")
def frozen_model(small_spam: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from bonepick.cli.main import app

    out = tmp_path_factory.mktemp("encoder") / "frozen"
    args = ["train-encoder", "-d", str(small_spam), "-o", str(out), "--freeze-encoder", "--max-length", "64"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return out


def test_frozen_head_beats_majority_and_evaluates(cli, frozen_model: Path, small_spam: Path) -> None:
    card = yaml.safe_load((frozen_model / "bonepick_model.yaml").read_text())
    assert card["kind"] == "encoder" and card["labels"] == ["ham", "spam"]
    assert card["hyperparameters"]["freeze_encoder"] is True
    cli("eval", "-m", frozen_model, "-d", small_spam)
    results = yaml.safe_load(next(frozen_model.glob("results_*.yaml")).read_text())
    test_labels = [r["label"] for r in read_rows(small_spam / "test" / "a.jsonl.zst")]
    majority = max(test_labels.count("ham"), test_labels.count("spam")) / len(test_labels)
    accuracy = results["metrics"]["accuracy"] if "metrics" in results else results["accuracy"]
    assert accuracy > majority + 0.05, (accuracy, majority)


def test_frozen_encoder_is_the_base_model_and_loads_with_plain_transformers(frozen_model: Path) -> None:
    import torch
    from transformers import AutoModel

    from bonepick.models.distill import packaged_transformer_path

    saved = AutoModel.from_pretrained(frozen_model / "encoder")
    base = AutoModel.from_pretrained(packaged_transformer_path())
    for (name, a), (_, b) in zip(saved.state_dict().items(), base.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_infer_matches_predict(cli, frozen_model: Path, small_spam: Path, tmp_path: Path) -> None:
    from bonepick.models import load_model

    cli("infer", "-m", frozen_model, "-i", small_spam, "-o", tmp_path / "scores", "--name", "enc", "-p", "1")
    scores = [r["enc"]["spam"] for r in read_rows(tmp_path / "scores" / "test" / "a.jsonl.zst")]
    texts = [r["text"] for r in read_rows(small_spam / "test" / "a.jsonl.zst")]
    expected = load_model(frozen_model).predict(texts)[:, 1]
    np.testing.assert_allclose(scores, expected, rtol=1e-4, atol=1e-5)


def test_fine_tuned_multi_task_with_regression_head(cli, small_spam: Path, tmp_path: Path) -> None:
    out = tmp_path / "multi"
    cli(
        "train-encoder", "-d", small_spam, "-o", out, "--max-length", "32", "--epochs", "1", "--batch-size", "32",
        "--task", "spam=.label",
        "--task", "length=(.text | length / 1000):regression",
    )  # fmt: skip
    card = yaml.safe_load((out / "bonepick_model.yaml").read_text())
    assert card["hyperparameters"]["freeze_encoder"] is False
    assert [t["kind"] for t in card["extra"]["tasks"]] == ["single", "number"]
    from bonepick.models import load_model

    model = load_model(out)
    outputs = model.predict_tasks(["Cheap meds, click now!!!", "Meeting notes for Tuesday attached."])
    assert outputs["spam"].shape == (2, 2) and np.allclose(outputs["spam"].sum(1), 1, atol=1e-5)
    assert outputs["length"].shape == (2,)
    cli("eval", "-m", out, "-d", small_spam)  # the first task is what eval scores


def test_regression_model_evaluates_and_scores(cli, small_spam: Path, tmp_path: Path) -> None:
    out = tmp_path / "reg"
    label = 'if .label == "spam" then 1 else 0 end'
    cli(
        "train-encoder",
        "-d",
        small_spam,
        "-o",
        out,
        "--freeze-encoder",
        "--regression",
        "-l",
        label,
        "--max-length",
        "32",
    )
    card = yaml.safe_load((out / "bonepick_model.yaml").read_text())
    assert card["task"] == "regression"
    cli("eval", "-m", out, "-d", small_spam, "-l", label)
    cli("infer", "-m", out, "-i", small_spam, "-o", tmp_path / "s", "--name", "r", "-p", "1")
    rows = list(read_rows(tmp_path / "s" / "test" / "a.jsonl.zst"))
    assert len(rows) == 80 and all(isinstance(r["r"], float) for r in rows)


def test_bad_task_spec_is_a_clear_error(cli, small_spam: Path, tmp_path: Path) -> None:
    result = cli("train-encoder", "-d", small_spam, "-o", tmp_path / "x", "--task", "nolabel", expect=1)
    assert "NAME=LABEL_JQ" in result.output


def test_infer_on_ray_with_a_gpu_request_per_task(
    cli, frozen_model: Path, small_spam: Path, tmp_path: Path
) -> None:
    """The Ray engine schedules encoder shards as tasks that each ask for a GPU. The local Ray
    instance declares one logical GPU (there is none here), so every task is placed on it and the
    encoder falls back to the CPU it finds; scores match the local engine."""
    import os

    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        common = ["infer", "-m", frozen_model, "-i", small_spam, "--name", "enc"]
        cli(*common, "-o", tmp_path / "ray", "--engine", "ray", "--num-gpus-per-task", "1")
        # two GPUs per task cannot be placed on a one-GPU cluster: a clear error, not a hang
        result = cli(*common, "-o", tmp_path / "x", "--engine", "ray", "--num-gpus-per-task", "2", expect=1)
        assert "asks for 2 GPU(s) but the Ray cluster has 1" in result.output
    finally:
        ray.shutdown()
    cli(*common, "-o", tmp_path / "local", "-p", "1")
    for split in ("train", "test"):
        ray_rows = list(read_rows(tmp_path / "ray" / split / "a.jsonl.zst"))
        local_rows = list(read_rows(tmp_path / "local" / split / "a.jsonl.zst"))
        assert [r["id"] for r in ray_rows] == [r["id"] for r in local_rows]
        np.testing.assert_allclose(
            [r["enc"]["spam"] for r in ray_rows], [r["enc"]["spam"] for r in local_rows], rtol=1e-4, atol=1e-5
        )
