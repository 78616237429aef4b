"""infer --engine ray on a real local Ray instance (2 CPUs, started once for this module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bonepick.io import read_rows, write_rows
from tests.cli.helpers import digest, infer
from tests.conftest import BROWN, SPAM

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")  # workers use this interpreter as is
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real emails and Brown prose in a train/test dataset of 5 shards."""
    root = tmp_path_factory.mktemp("ray-corpus") / "docs"
    spam = [r for p in sorted((SPAM / "train").glob("*.zst")) for r in read_rows(p)]
    brown = [r for p in sorted((BROWN / "test").glob("*.zst")) for r in read_rows(p)]
    write_rows(root / "train" / "s0.jsonl.zst", spam[:250])
    write_rows(root / "train" / "s1.jsonl.zst", spam[250:])
    write_rows(root / "train" / "s2.jsonl.gz", brown)
    write_rows(root / "test" / "t0.jsonl", list(read_rows(SPAM / "test" / "part_00.jsonl.zst")))
    write_rows(root / "test" / "t1.jsonl.zst", spam[:40])
    return root


def test_ray_matches_local_resumes_and_reports_errors(
    cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = ["infer", "-m", fasttext_model_dir, "-i", corpus, "-n", "spam"]
    cli(*common, "-o", tmp_path / "local", "-p", "2")
    result = cli(*common, "-o", tmp_path / "ray", "--engine", "ray", "-p", "2")
    assert len(digest(tmp_path / "ray")) == 5
    assert digest(tmp_path / "ray") == digest(tmp_path / "local")
    record = yaml.safe_load((tmp_path / "ray" / "bonepick.yaml").read_text())
    assert record["summary"]["rows_in"] == record["summary"]["rows_out"] == 600 + 200 + 200 + 40
    assert "docs/s" in result.output

    # resume: the markers Ray's workers wrote let a rerun skip the finished shards; paths relative
    # to the driver's working directory work although Ray's workers run elsewhere
    (tmp_path / "ray" / "train" / "s1.jsonl.zst").unlink()
    monkeypatch.chdir(tmp_path)
    relative = ["-m", os.path.relpath(fasttext_model_dir), "-i", os.path.relpath(corpus), "-n", "spam"]
    result = cli("infer", *relative, "-o", "ray", "--engine", "ray")
    assert "4 already complete" in result.output
    assert digest(tmp_path / "ray") == digest(tmp_path / "local")

    # inline mode, rank 1 of 2 on Ray and rank 0 of 2 locally, equals one local run
    cli(*common, "-o", tmp_path / "inline_local", "--output", "inline", "-p", "1")
    split = [*common, "-o", tmp_path / "inline_mixed", "--output", "inline", "--world-size", 2]
    cli(*split, "--rank", 1, "--engine", "ray", "--num-cpus-per-task", "1")
    cli(*split, "--rank", 0)
    assert digest(tmp_path / "inline_mixed") == digest(tmp_path / "inline_local")

    # a bad row fails the run with its file and line, not a Ray traceback
    bad = tmp_path / "bad"
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:30]
    write_rows(bad / "x.jsonl", rows[:5] + [{"id": "x", "text": 7}] + rows[5:])
    result = infer(cli, fasttext_model_dir, bad, tmp_path / "o", "--engine", "ray", expect=1)
    assert f"{bad / 'x.jsonl'}:6: jq expression '.text' gave int, expected a string" in result.output
    assert "Traceback" not in result.output and "RayTaskError" not in result.output
    assert not list((tmp_path / "o").rglob("*.jsonl*"))

    result = cli(*common, "-o", tmp_path / "g", "--engine", "ray", "--num-gpus-per-task", "1", expect=1)
    assert "asks for 1 GPU(s) but the Ray cluster has 0" in result.output


def test_ray_matches_local_for_model2vec(
    cli, model2vec_model_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    common = ["infer", "-m", model2vec_model_dir, "-i", corpus, "-n", "m2v", "--batch-size", "100"]
    cli(*common, "-o", tmp_path / "local", "-p", "1")
    cli(*common, "-o", tmp_path / "ray", "--engine", "ray", "-p", "2")
    assert len(digest(tmp_path / "ray")) == 5
    assert digest(tmp_path / "ray") == digest(tmp_path / "local")
