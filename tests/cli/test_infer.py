"""bonepick infer through the CLI on real text with a real fastText model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.io import read_rows, write_rows
from bonepick.models import load_model
from tests.cli.helpers import digest, infer
from tests.conftest import SPAM


def _rows(path: Path) -> list[dict]:
    return list(read_rows(path))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flat corpus of 6 shards of real emails (ids kept), one nested, one gzip, one plain."""
    rows = [r for p in sorted((SPAM / "train").glob("*.zst")) for r in read_rows(p)]
    root = tmp_path_factory.mktemp("corpus") / "docs"
    write_rows(root / "a.jsonl.zst", rows[:90])
    write_rows(root / "b.jsonl.gz", rows[90:200])
    write_rows(root / "c.jsonl", rows[200:260])
    write_rows(root / "sub" / "d.jsonl.zst", rows[260:400])
    write_rows(root / "sub" / "e.jsonl.zst", rows[400:550])
    write_rows(root / "sub" / "f.jsonl.zst", rows[550:])
    return root


def test_attributes_mirror_input_row_for_row(
    cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scores"
    result = infer(cli, fasttext_model_dir, corpus, out, "--name", "spam_ft", "-p", "1")
    assert sorted(digest(out)) == [
        "a.jsonl.zst",
        "b.jsonl.zst",
        "c.jsonl.zst",
        "sub/d.jsonl.zst",
        "sub/e.jsonl.zst",
        "sub/f.jsonl.zst",
    ]
    model = load_model(fasttext_model_dir)
    for source in sorted(p for p in corpus.rglob("*.jsonl*")):
        rel = source.relative_to(corpus).as_posix().split(".")[0]
        docs = _rows(source)
        attrs = _rows(out / f"{rel}.jsonl.zst")
        assert [a["id"] for a in attrs] == [d["id"] for d in docs]
        assert all(set(a) == {"id", "spam_ft"} and set(a["spam_ft"]) == {"ham", "spam"} for a in attrs)
        expected = model.predict([d["text"] for d in docs])
        got = np.array([[a["spam_ft"]["ham"], a["spam_ft"]["spam"]] for a in attrs])
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert record["command"] == "infer"
    assert record["summary"]["rows_in"] == record["summary"]["rows_out"] == 600
    assert record["model"]["kind"] == "fasttext" and record["model"]["labels"] == ["ham", "spam"]
    assert record["throughput"]["documents"] == 600 and record["throughput"]["docs_per_second"] > 0
    assert record["throughput"]["mb_per_second"] > 0
    assert "docs/s" in result.output and "MB/s" in result.output


def test_parallel_equals_serial_and_batch_size_does_not_matter(
    cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    infer(cli, fasttext_model_dir, corpus, tmp_path / "one", "-p", "1")
    infer(cli, fasttext_model_dir, corpus, tmp_path / "two", "-p", "2", "--batch-size", "7")
    assert digest(tmp_path / "one") == digest(tmp_path / "two")
    # the default name is the model folder's name
    first = _rows(tmp_path / "one" / "a.jsonl.zst")[0]
    assert set(first) == {"id", fasttext_model_dir.name}


def test_inline_adds_scores_and_keeps_everything_else(cli, fasttext_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "inline"
    inline = ("-p", "1", "--output", "inline", "-n", "q")
    infer(cli, fasttext_model_dir, SPAM, out, *inline, "--compression", "gz")
    assert sorted(digest(out)) == [
        "test/part_00.jsonl.gz",
        "train/part_00.jsonl.gz",
        "train/part_01.jsonl.gz",
    ]
    for split, name in [("test", "part_00"), ("train", "part_01")]:
        docs = _rows(SPAM / split / f"{name}.jsonl.zst")
        scored = _rows(out / split / f"{name}.jsonl.gz")
        assert len(scored) == len(docs)
        for doc, row in zip(docs, scored, strict=True):
            assert {k: v for k, v in row.items() if k != "q"} == doc
            assert abs(row["q"]["ham"] + row["q"]["spam"] - 1) < 1e-3
    # scoring the scored documents again under the same name is refused, naming the row
    result = infer(cli, fasttext_model_dir, out, tmp_path / "again", *inline, expect=1)
    assert ".jsonl.gz:1: the row already has a field 'q'" in result.output


def test_rank_slices_cover_every_shard_once(
    cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    infer(cli, fasttext_model_dir, corpus, whole, "-p", "1")
    sliced = tmp_path / "sliced"
    seen: list[set[str]] = []
    for rank in range(4):
        before = set(digest(sliced)) if sliced.exists() else set()
        infer(cli, fasttext_model_dir, corpus, sliced, "-p", "1", "--rank", rank, "--world-size", 4)
        seen.append(set(digest(sliced)) - before)
        assert (sliced / f"bonepick.rank-{rank:05d}-of-00004.yaml").is_file()
    assert [len(s) for s in seen] == [2, 2, 1, 1]  # 6 shards round-robin over 4 ranks
    assert set().union(*seen) == set(digest(whole))
    assert digest(sliced) == digest(whole)
    result = infer(cli, fasttext_model_dir, corpus, sliced, "--rank", 4, "--world-size", 4, expect=1)
    assert "--rank must be between 0 and 3" in result.output


def test_resume_after_interrupted_run(cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    infer(cli, fasttext_model_dir, corpus, out, "-p", "1")
    complete = digest(out)
    # an interrupted run: one shard never published, one half-written temporary left behind
    (out / "sub" / "e.jsonl.zst").unlink()
    stale = out / "sub" / ".e.jsonl.zst.4242.bonepick-tmp"
    stale.write_bytes(b'{"id": "half')
    result = infer(cli, fasttext_model_dir, corpus, out, "-p", "2")
    assert "5 already complete" in result.output
    assert "removed 1 temporaries" in result.output
    assert not stale.exists()
    assert digest(out) == complete
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert record["summary"]["shards_resumed"] == 5
    assert record["throughput"]["documents"] == 150  # only the re-scored shard counts for speed


def test_resume_refuses_other_settings(cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    infer(cli, fasttext_model_dir, corpus, out, "-p", "1", "-n", "first")
    result = infer(cli, fasttext_model_dir, corpus, out, "-p", "1", "-n", "second", expect=1)
    assert "other settings (name)" in result.output
    infer(cli, fasttext_model_dir, corpus, out, "-p", "1", "-n", "second", "--overwrite")
    assert set(_rows(out / "a.jsonl.zst")[0]) == {"id", "second"}


def test_text_expression_and_bad_rows(cli, fasttext_model_dir: Path, tmp_path: Path) -> None:
    rows = _rows(SPAM / "test" / "part_00.jsonl.zst")[:20]
    nested = [{"id": r["id"], "doc": {"body": r["text"]}} for r in rows]
    write_rows(tmp_path / "nested" / "x.jsonl", nested)
    infer(
        cli,
        fasttext_model_dir,
        tmp_path / "nested",
        tmp_path / "o1",
        "--text-expression",
        ".doc.body",
        "-n",
        "s",
    )
    flat = tmp_path / "flat"
    write_rows(flat / "x.jsonl", rows)
    infer(cli, fasttext_model_dir, flat, tmp_path / "o2", "-p", "1", "-n", "s")
    assert _rows(tmp_path / "o1" / "x.jsonl.zst") == _rows(tmp_path / "o2" / "x.jsonl.zst")

    bad = tmp_path / "bad"
    write_rows(bad / "x.jsonl", rows[:3] + [{"id": "no-text"}] + rows[3:])
    result = infer(cli, fasttext_model_dir, bad, tmp_path / "o3", "-p", "1", expect=1)
    assert f"{bad / 'x.jsonl'}:4: jq expression '.text' gave null" in result.output
    assert not list((tmp_path / "o3").rglob("*.jsonl*"))  # no partial output


def test_usage_errors(cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path) -> None:
    result = infer(cli, tmp_path / "nomodel", corpus, tmp_path / "o", expect=1)
    assert "no model card" in result.output or "no such model folder" in result.output
    result = infer(cli, fasttext_model_dir, corpus, tmp_path / "o", "--output", "csv", expect=1)
    assert "unknown --output 'csv'" in result.output
    result = infer(cli, fasttext_model_dir, corpus, corpus / "scores", expect=1)
    assert "inside the input folder" in result.output
    result = infer(cli, fasttext_model_dir, corpus, tmp_path / "o", "--engine", "spark", expect=1)
    assert "unknown --engine" in result.output
    assert "Traceback" not in result.output


def test_fasttext_file_trained_elsewhere_and_overrides(cli, fasttext_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    shutil.copy(fasttext_model_dir / "model.bin", foreign / "classifier.bin")  # no card beside it
    docs = tmp_path / "docs"
    write_rows(docs / "x.jsonl", list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:50])
    result = infer(cli, foreign, docs, tmp_path / "o1", "-p", "1", "-n", "s", expect=1)
    assert "has no model card" in result.output and "--normalizer" in result.output
    infer(cli, foreign, docs, tmp_path / "o1", "-p", "1", "-n", "s", "--normalizer", "whitespace")
    infer(cli, fasttext_model_dir, docs, tmp_path / "o2", "-p", "1", "-n", "s")
    assert digest(tmp_path / "o1") == digest(tmp_path / "o2")
    # overriding the card's preparation changes the scores, and is recorded for resume
    infer(cli, fasttext_model_dir, docs, tmp_path / "o3", "-p", "1", "-n", "s", "--max-length", "20")
    assert digest(tmp_path / "o3") != digest(tmp_path / "o2")
    result = infer(cli, fasttext_model_dir, docs, tmp_path / "o3", "-p", "1", "-n", "s", expect=1)
    assert "other settings (max_length)" in result.output
