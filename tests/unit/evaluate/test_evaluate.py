"""evaluate_model on real text with small real models: streaming in batches, signatures that do
not depend on read order, every input layout, the card's preprocessing, and clear errors."""

from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.errors import DataError, UsageError
from bonepick.evaluate.evaluate import EvalOptions, evaluate_model
from bonepick.evaluate.results import Signature, load_results
from bonepick.io import read_rows, write_rows
from bonepick.models import load_model
from tests.conftest import BROWN, SPAM

SPAM_TEST = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))


def test_signature_ignores_order_but_not_content() -> None:
    pairs = [(r["text"], r["label"]) for r in SPAM_TEST[:50]]
    a, b = Signature(), Signature()
    for text, label in pairs:
        a.add(text, label)
    for text, label in random.Random(1).sample(pairs, len(pairs)):
        b.add(text, label)
    assert a.hexdigest() == b.hexdigest() and len(a) == 50
    flipped = Signature()
    for i, (text, label) in enumerate(pairs):
        flipped.add(text, "spam" if i == 0 and label == "ham" else ("ham" if i == 0 else label))
    assert flipped.hexdigest() != a.hexdigest()
    doubled = Signature()
    for text, label in pairs + pairs[:1]:
        doubled.add(text, label)
    assert doubled.hexdigest() != a.hexdigest()


def test_eval_matches_direct_prediction_and_batch_size_does_not_matter(sk_spam_model: Path) -> None:
    full = evaluate_model(sk_spam_model, [SPAM])
    small = evaluate_model(sk_spam_model, [SPAM], EvalOptions(batch_size=7))
    direct = load_model(sk_spam_model).predict([r["text"] for r in SPAM_TEST])
    np.testing.assert_allclose(full.predictions, direct, rtol=1e-6)
    np.testing.assert_allclose(small.predictions, full.predictions, rtol=1e-6)
    assert small.signature == full.signature
    assert small.metrics["confusion_matrix"] == full.metrics["confusion_matrix"]
    truth = np.array([["ham", "spam"].index(r["label"]) for r in SPAM_TEST])
    assert full.rows == 200 and (full.truth == truth).all()
    # a real model: far better than always saying "ham" (140 of 200)
    assert full.metrics["accuracy"] > 0.85 and full.metrics["macro"]["roc_auc"] > 0.95


def test_signature_and_metrics_stable_under_shuffled_shards(sk_spam_model: Path, tmp_path: Path) -> None:
    reference = evaluate_model(sk_spam_model, [SPAM])
    rows = random.Random(5).sample(SPAM_TEST, len(SPAM_TEST))
    write_rows(tmp_path / "shuffled" / "test" / "b" / "x.jsonl.gz", rows[:70])
    write_rows(tmp_path / "shuffled" / "test" / "a.jsonl", rows[70:150])
    write_rows(tmp_path / "shuffled" / "test" / "c.jsonl.zst", rows[150:])
    shuffled = evaluate_model(sk_spam_model, [tmp_path / "shuffled"])
    assert shuffled.signature == reference.signature
    assert shuffled.metrics["confusion_matrix"] == reference.metrics["confusion_matrix"]
    assert shuffled.metrics["macro"] == pytest.approx(reference.metrics["macro"])
    assert shuffled.results_path == reference.results_path
    # split across two -d folders: still the same rows, still the same signature
    write_rows(tmp_path / "one" / "test" / "p.jsonl", rows[:100])
    write_rows(tmp_path / "two" / "test" / "p.jsonl", rows[100:])
    assert (
        evaluate_model(sk_spam_model, [tmp_path / "two", tmp_path / "one"]).signature == reference.signature
    )


def test_fasttext_format_and_flat_folders(sk_spam_model: Path, tmp_path: Path) -> None:
    reference = evaluate_model(sk_spam_model, [SPAM])
    converted = tmp_path / "converted"
    converted.mkdir()
    with open(converted / "test.txt", "w", encoding="utf-8") as handle:
        for row in SPAM_TEST:
            handle.write(f"__label__{row['label']} {' '.join(row['text'].split())}\n")
    from_txt = evaluate_model(sk_spam_model, [converted])
    assert from_txt.rows == 200 and [s.format for s in from_txt.sources] == ["fasttext"]
    assert from_txt.metrics["confusion_matrix"] == reference.metrics["confusion_matrix"]
    flat = tmp_path / "flat"
    write_rows(flat / "only.jsonl", SPAM_TEST)
    assert evaluate_model(sk_spam_model, [flat]).signature == reference.signature


def test_overrides_and_saved_results(sk_spam_model: Path, tmp_path: Path) -> None:
    rows = [{"body": {"t": r["text"]}, "is_spam": r["label"] == "spam"} for r in SPAM_TEST[:60]]
    write_rows(tmp_path / "d" / "test" / "x.jsonl", rows)
    options = EvalOptions(
        text_expression=".body.t",
        label_expression='if .is_spam then "spam" else "ham" end',
        normalizer="none",
        max_length=500,
    )
    evaluation = evaluate_model(sk_spam_model, [tmp_path / "d"], options)
    assert evaluation.card.normalizer is None and evaluation.card.max_length == 500
    assert evaluation.label_counts() == {
        "ham": sum(not r["is_spam"] for r in rows),
        "spam": sum(r["is_spam"] for r in rows),
    }
    path = evaluation.save({"name": "eval"})
    assert re.fullmatch(r"results_[0-9a-f]{12}\.yaml", path.name) and path.parent == sk_spam_model
    record = load_results(path)
    assert record["signature"] == evaluation.signature
    assert record["data"]["text_expression"] == ".body.t"
    assert record["model"]["normalizer"] is None
    assert record["metrics"]["per_class"]["spam"]["support"] == sum(r["is_spam"] for r in rows)
    assert yaml.safe_load(path.read_text())["command"] == {"name": "eval"}


def test_errors_name_the_problem(sk_spam_model: Path, tmp_path: Path) -> None:
    write_rows(tmp_path / "odd" / "test" / "x.jsonl", [*SPAM_TEST[:3], {"text": "hello", "label": "eggs"}])
    with pytest.raises(
        DataError, match=r"x\.jsonl:4: label 'eggs' is not one the model was trained on \(ham, spam\)"
    ):
        evaluate_model(sk_spam_model, [tmp_path / "odd"])
    write_rows(tmp_path / "empty" / "test" / "x.jsonl", [])
    with pytest.raises(DataError, match="has no rows"):
        evaluate_model(sk_spam_model, [tmp_path / "empty"])
    (tmp_path / "trainonly" / "train").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"has no test/ split"):
        evaluate_model(sk_spam_model, [tmp_path / "trainonly"])
    with pytest.raises(UsageError, match="unknown normalizer"):
        evaluate_model(sk_spam_model, [SPAM], EvalOptions(normalizer="nope"))


def test_regression_model(sk_formality_regressor: Path) -> None:
    evaluation = evaluate_model(sk_formality_regressor, [BROWN])
    m = evaluation.metrics
    assert m["task"] == "regression" and evaluation.labels == ["0", "1", "2"]
    assert set(m["auc_at_least"]) == {"1", "2"}
    assert m["spearman"] > 0.4 and all(auc > 0.7 for auc in m["auc_at_least"].values())
    assert sum(s["count"] for s in m["per_label"].values()) == 200
    assert m["per_label"]["2"]["mean"] > m["per_label"]["0"]["mean"]


def test_ordinal_classifier(sk_formality_classifier: Path) -> None:
    m = evaluate_model(sk_formality_classifier, [BROWN]).metrics
    assert list(m["per_class"]) == ["0", "1", "2"]
    assert set(m["ordinal"]["auc_at_least"]) == {"1", "2"}
    assert m["ordinal"]["spearman"] > 0.3


def test_classifier_and_regressor_line_up_in_compare(
    sk_formality_classifier: Path, sk_formality_regressor: Path
) -> None:
    from bonepick.evaluate.compare import compare_results

    clf = evaluate_model(sk_formality_classifier, [BROWN])
    reg = evaluate_model(sk_formality_regressor, [BROWN])
    assert clf.signature == reg.signature  # class "1" and value 1.0 are the same label
    comparison = compare_results([clf.save(), reg.save()])
    assert not any("different test data" in w for w in comparison.warnings)
    rows = {row[0]: row[1:] for row in comparison.rows}
    for shared in ("Spearman", "Kendall tau-b", "MAE", "AUC label >= 1", "AUC label >= 2"):
        assert all(value != "-" for value in rows[shared]), shared
    assert rows["accuracy"][1] == "-" and rows["R²"][0] == "-"
    assert sum(str(v).endswith("*") for v in rows["Spearman"]) == 1
