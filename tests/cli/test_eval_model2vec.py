"""eval-model2vec and eval on the session Model2Vec models: classifier, regressor and contrastive
ranker (tests/plugins/model2vec_models.py), each read with its own card."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.conftest import SPAM

SPAM_AS_NUMBER = 'if .label == "spam" then 1 else 0 end'


def _copy(model_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / model_dir.name
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("results_*.yaml"))
    return copy


def _only_results(model_dir: Path) -> dict:
    [path] = sorted(model_dir.glob("results_*.yaml"))
    return yaml.safe_load(path.read_text())


def test_eval_model2vec_classifier(cli, model2vec_model_dir: Path, tmp_path: Path) -> None:
    model = _copy(model2vec_model_dir, tmp_path)
    result = cli("eval-model2vec", "-d", SPAM, "-m", model)
    record = _only_results(model)
    assert record["model"]["kind"] == "model2vec" and record["metrics"]["task"] == "classification"
    assert record["data"]["label_counts"] == {"ham": 140, "spam": 60}
    assert record["metrics"]["accuracy"] > 0.8 and record["metrics"]["macro"]["roc_auc"] > 0.85
    assert "Per class" in result.output and "Confusion matrix" in result.output


def test_eval_regression_and_ranking_models(
    cli, model2vec_regression_model_dir: Path, model2vec_ranking_model_dir: Path, tmp_path: Path
) -> None:
    for source, task in (
        (model2vec_regression_model_dir, "regression"),
        (model2vec_ranking_model_dir, "ranking"),
    ):
        model = _copy(source, tmp_path)
        result = cli("eval", "-m", model, "-d", SPAM, "--report", tmp_path / f"report-{task}")
        metrics = _only_results(model)["metrics"]
        assert metrics["task"] == task
        assert set(metrics) >= {"mse", "mae", "spearman", "kendall", "pearson", "auc_at_least"}
        assert set(metrics["auc_at_least"]) == {"1"}  # spam = 1 against ham = 0
        assert metrics["auc_at_least"]["1"] > 0.8
        assert metrics["per_label"]["1"]["mean"] > metrics["per_label"]["0"]["mean"]
        assert "threshold t" in result.output and "Scores per true label" in result.output
        assert {p.name for p in (tmp_path / f"report-{task}").glob("*.png")} == {
            "roc.png",
            "pr.png",
            "histograms.png",
            "reliability.png",
        }


def test_label_expression_override(cli, model2vec_regression_model_dir: Path, tmp_path: Path) -> None:
    model = _copy(model2vec_regression_model_dir, tmp_path)
    inverted = 'if .label == "spam" then 0 else 1 end'
    cli("eval-model2vec", "-d", SPAM, "-m", model, "-l", inverted)
    record = _only_results(model)
    assert record["data"]["label_expression"] == inverted
    assert record["metrics"]["auc_at_least"]["1"] < 0.2  # the score now ranks the wrong way round
    result = cli("eval-fasttext", "-d", SPAM, "-m", model, expect=1)
    assert "holds a model2vec model, not a fasttext one" in result.output
