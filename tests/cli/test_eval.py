"""eval, eval-fasttext, eval-model2vec and compare, driven as a user types them, on small real
models trained once per session (tests/plugins)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bonepick.io import read_rows, write_rows
from tests.conftest import SPAM


def _results(model_dir: Path) -> list[Path]:
    return sorted(model_dir.glob("results_*.yaml"))


@pytest.fixture(scope="module")
def ft_model(fasttext_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the session fastText model, so results files do not leak between modules."""
    copy = tmp_path_factory.mktemp("eval-ft") / "model"
    shutil.copytree(fasttext_model_dir, copy, ignore=shutil.ignore_patterns("results_*.yaml"))
    return copy


def test_eval_fasttext_writes_results_and_prints_tables(cli, ft_model: Path, tmp_path: Path) -> None:
    result = cli("eval-fasttext", "-d", SPAM, "-m", ft_model, "--report", tmp_path / "report")
    [path] = _results(ft_model)
    record = yaml.safe_load(path.read_text())
    assert path.name == f"results_{record['signature']}.yaml"
    assert record["model"]["kind"] == "fasttext" and record["data"]["rows"] == 200
    assert record["data"]["label_counts"] == {"ham": 140, "spam": 60}
    metrics = record["metrics"]
    assert set(metrics["per_class"]) == {"ham", "spam"}  # no __label__ prefix
    assert sum(map(sum, metrics["confusion_matrix"])) == 200
    assert metrics["accuracy"] > 0.8 and metrics["macro"]["f1"] > 0.7  # majority class gives 0.70 / 0.41
    assert record["command"]["name"] == "eval-fasttext"
    for text in ("Per class", "macro avg", "Confusion matrix", str(path)):
        assert text in result.output
    assert (tmp_path / "report" / "report.html").is_file()
    assert len(list((tmp_path / "report").glob("*.png"))) == 5

    # `eval` is the same code path for every kind: same signature, same numbers, same file
    cli("eval", "-m", ft_model, "-d", SPAM)
    assert _results(ft_model) == [path]
    again = yaml.safe_load(path.read_text())
    assert again["metrics"] == metrics and again["command"]["name"] == "eval"


def test_eval_reads_converted_fasttext_folder(cli, ft_model: Path, fasttext_spam_converted: Path) -> None:
    cli("eval", "-m", ft_model, "-d", fasttext_spam_converted)
    records = [yaml.safe_load(p.read_text()) for p in _results(ft_model)]
    from_txt = next(r for r in records if r["data"]["format"] == ["fasttext"])
    assert from_txt["data"]["rows"] == 200 and from_txt["metrics"]["accuracy"] > 0.8


def test_foreign_fasttext_bin_needs_a_normalizer(cli, ft_model: Path, tmp_path: Path) -> None:
    foreign = tmp_path / "published"
    foreign.mkdir()
    shutil.copy(ft_model / "model.bin", foreign / "quality.bin")
    result = cli("eval-fasttext", "-d", SPAM, "-m", foreign, expect=1)
    assert "has no model card" in result.output and "--normalizer" in result.output
    assert "Traceback" not in result.output
    cli("eval-fasttext", "-d", SPAM, "-m", foreign, "--normalizer", "whitespace")
    [path] = _results(foreign)
    foreign_metrics = yaml.safe_load(path.read_text())["metrics"]
    cli("eval", "-m", ft_model, "-d", SPAM)
    own = yaml.safe_load((ft_model / path.name).read_text())["metrics"]
    assert foreign_metrics == own  # same file, same preprocessing, same test rows


def test_wrong_kind_and_bad_labels_exit_1(cli, ft_model: Path, tmp_path: Path) -> None:
    result = cli("eval-model2vec", "-d", SPAM, "-m", ft_model, expect=1)
    assert "holds a fasttext model, not a model2vec one" in result.output
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:5]
    rows[3] = {**rows[3], "label": "phishing"}
    write_rows(tmp_path / "odd" / "test" / "x.jsonl", rows)
    result = cli("eval", "-m", ft_model, "-d", tmp_path / "odd", expect=1)
    assert "x.jsonl:4: label 'phishing' is not one the model was trained on" in result.output
    assert "Traceback" not in result.output
    result = cli("eval", "-m", tmp_path / "nope", "-d", SPAM, expect=1)
    assert "no such model folder" in result.output or "no model card" in result.output


def test_compare_lines_up_results(cli, ft_model: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(ft_model, other, ignore=shutil.ignore_patterns("results_*.yaml"))
    cli("eval", "-m", other, "-d", SPAM, "--normalizer", "none", "--max-length", "200")
    [other_results] = _results(other)
    mine = ft_model / other_results.name  # same test rows, same signature
    if not mine.exists():
        cli("eval", "-m", ft_model, "-d", SPAM)
    result = cli("compare", "-r", mine, "-r", other_results)
    out = result.output
    assert "model" in out and "other" in out and "macro F1" in out and "F1 spam" in out
    assert "different test data" not in out
    assert "*" in out  # the best value of a row is marked
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:80]
    write_rows(tmp_path / "small" / "test" / "x.jsonl", rows)
    cli("eval", "-m", other, "-d", tmp_path / "small")
    result = cli("compare", "-r", other)
    assert "different test data" in result.output
    result = cli("compare", "-r", tmp_path / "empty-dir-that-does-not-exist", expect=1)
    assert "no such results file" in result.output
