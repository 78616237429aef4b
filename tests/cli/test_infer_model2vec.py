"""bonepick infer with Model2Vec models: classifier, regressor and contrastive (ranking) scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.io import read_rows, write_rows
from bonepick.models import load_model
from tests.cli.helpers import digest, filter_docs, infer
from tests.conftest import BROWN, SPAM


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Emails and Brown prose (whole documents, some long) in three flat shards."""
    root = tmp_path_factory.mktemp("m2v-corpus") / "docs"
    spam = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    brown = list(read_rows(BROWN / "test" / "part_00.jsonl.zst"))
    write_rows(root / "a.jsonl.zst", spam[:120])
    write_rows(root / "b.jsonl.zst", brown[:60] + spam[120:])
    write_rows(root / "c.jsonl", brown[60:])
    return root


def _texts(path: Path) -> list[str]:
    return [r["text"] for r in read_rows(path)]


def test_classifier_scores_match_the_model(
    cli, model2vec_model_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p1"
    infer(cli, model2vec_model_dir, corpus, out, "-n", "m2v", "-p", "1", "--batch-size", "64")
    model = load_model(model2vec_model_dir)
    for name in ("a", "b", "c"):
        source = next(corpus.glob(f"{name}.jsonl*"))
        rows = list(read_rows(out / f"{name}.jsonl.zst"))
        assert [r["id"] for r in rows] == [r["id"] for r in read_rows(source)]
        got = np.array([[r["m2v"][label] for label in model.labels] for r in rows])
        np.testing.assert_allclose(got, model.predict(_texts(source)), rtol=1e-5, atol=1e-6)
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert record["model"]["kind"] == "model2vec" and record["summary"]["rows_out"] == 400
    # two worker processes, other batches: the same bytes
    infer(cli, model2vec_model_dir, corpus, tmp_path / "p2", "-n", "m2v", "-p", "2")
    assert digest(tmp_path / "p2") == digest(out)


@pytest.mark.parametrize("fixture", ["model2vec_regression_model_dir", "model2vec_ranking_model_dir"])
def test_scalar_models_write_one_number(
    cli, request: pytest.FixtureRequest, fixture: str, corpus: Path, tmp_path: Path
) -> None:
    model_dir: Path = request.getfixturevalue(fixture)
    out = tmp_path / "scores"
    infer(cli, model_dir, corpus, out, "-n", "spamminess", "-p", "1")
    model = load_model(model_dir)
    assert model.card.task in ("regression", "ranking")
    rows = list(read_rows(out / "a.jsonl.zst"))
    assert all(set(r) == {"id", "spamminess"} and isinstance(r["spamminess"], float) for r in rows)
    np.testing.assert_allclose(
        [r["spamminess"] for r in rows], model.predict(_texts(corpus / "a.jsonl.zst")), rtol=1e-5, atol=1e-6
    )
    # a single number needs no --label, in thresholds and in filter
    cli("thresholds", "-d", out, "--name", "spamminess", "--keep", "0.5", "-p", "1")
    record = yaml.safe_load((out / "thresholds_spamminess.yaml").read_text())
    scores = [r["spamminess"] for p in sorted(out.glob("*.jsonl.zst")) for r in read_rows(p)]
    assert record["thresholds"][0]["threshold"] == pytest.approx(np.percentile(scores, 50))
    filter_docs(cli, corpus, tmp_path / "kept", "-a", out, "--name", "spamminess", "--keep", "0.5", "-p", "1")
    kept = sum(1 for p in (tmp_path / "kept").glob("*.jsonl.zst") for _ in read_rows(p))
    assert kept == sum(s >= np.percentile(scores, 50) for s in scores)
