"""bonepick infer through the CLI on real text with a real fastText model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.io import read_rows, write_rows
from bonepick.models import load_model
from tests.conftest import SPAM


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.jsonl*"))
        if ".bonepick" not in p.parts
    }


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
    result = cli("infer", "-m", fasttext_model_dir, "-i", corpus, "-o", out, "--name", "spam_ft", "-p", "1")
    assert sorted(_digest(out)) == [
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
    cli("infer", "-m", fasttext_model_dir, "-i", corpus, "-o", tmp_path / "one", "-p", "1")
    cli(
        "infer",
        "-m",
        fasttext_model_dir,
        "-i",
        corpus,
        "-o",
        tmp_path / "two",
        "-p",
        "2",
        "--batch-size",
        "7",
    )
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")
    # the default name is the model folder's name
    first = _rows(tmp_path / "one" / "a.jsonl.zst")[0]
    assert set(first) == {"id", fasttext_model_dir.name}


def test_inline_adds_scores_and_keeps_everything_else(cli, fasttext_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "inline"
    cli(
        "infer",
        "-p",
        "1",
        "-m",
        fasttext_model_dir,
        "-i",
        SPAM,
        "-o",
        out,
        "--output",
        "inline",
        "-n",
        "q",
        "--compression",
        "gz",
    )
    assert sorted(_digest(out)) == [
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
    result = cli(
        "infer",
        "-p",
        "1",
        "-m",
        fasttext_model_dir,
        "-i",
        out,
        "-o",
        tmp_path / "again",
        "--output",
        "inline",
        "-n",
        "q",
        expect=1,
    )
    assert ".jsonl.gz:1: the row already has a field 'q'" in result.output


def test_rank_slices_cover_every_shard_once(
    cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path
) -> None:
    whole = tmp_path / "whole"
    cli("infer", "-m", fasttext_model_dir, "-i", corpus, "-o", whole, "-p", "1")
    sliced = tmp_path / "sliced"
    seen: list[set[str]] = []
    for rank in range(4):
        before = set(_digest(sliced)) if sliced.exists() else set()
        cli(
            "infer",
            "-m",
            fasttext_model_dir,
            "-i",
            corpus,
            "-o",
            sliced,
            "-p",
            "1",
            "--rank",
            rank,
            "--world-size",
            4,
        )
        seen.append(set(_digest(sliced)) - before)
        assert (sliced / f"bonepick.rank-{rank:05d}-of-00004.yaml").is_file()
    assert [len(s) for s in seen] == [2, 2, 1, 1]  # 6 shards round-robin over 4 ranks
    assert set().union(*seen) == set(_digest(whole))
    assert _digest(sliced) == _digest(whole)
    result = cli(
        "infer",
        "-m",
        fasttext_model_dir,
        "-i",
        corpus,
        "-o",
        sliced,
        "--rank",
        4,
        "--world-size",
        4,
        expect=1,
    )
    assert "--rank must be between 0 and 3" in result.output


def test_resume_after_interrupted_run(cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli("infer", "-m", fasttext_model_dir, "-i", corpus, "-o", out, "-p", "1")
    complete = _digest(out)
    # an interrupted run: one shard never published, one half-written temporary left behind
    (out / "sub" / "e.jsonl.zst").unlink()
    stale = out / "sub" / ".e.jsonl.zst.4242.bonepick-tmp"
    stale.write_bytes(b'{"id": "half')
    result = cli("infer", "-m", fasttext_model_dir, "-i", corpus, "-o", out, "-p", "2")
    assert "5 already complete" in result.output
    assert "removed 1 temporaries" in result.output
    assert not stale.exists()
    assert _digest(out) == complete
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert record["summary"]["shards_resumed"] == 5
    assert record["throughput"]["documents"] == 150  # only the re-scored shard counts for speed


def test_resume_refuses_other_settings(cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli("infer", "-p", "1", "-m", fasttext_model_dir, "-i", corpus, "-o", out, "-n", "first")
    result = cli(
        "infer", "-p", "1", "-m", fasttext_model_dir, "-i", corpus, "-o", out, "-n", "second", expect=1
    )
    assert "other settings (name)" in result.output
    cli("infer", "-p", "1", "-m", fasttext_model_dir, "-i", corpus, "-o", out, "-n", "second", "--overwrite")
    assert set(_rows(out / "a.jsonl.zst")[0]) == {"id", "second"}


def test_text_expression_and_bad_rows(cli, fasttext_model_dir: Path, tmp_path: Path) -> None:
    rows = _rows(SPAM / "test" / "part_00.jsonl.zst")[:20]
    nested = [{"id": r["id"], "doc": {"body": r["text"]}} for r in rows]
    write_rows(tmp_path / "nested" / "x.jsonl", nested)
    cli(
        "infer",
        "-m",
        fasttext_model_dir,
        "-i",
        tmp_path / "nested",
        "-o",
        tmp_path / "o1",
        "--text-expression",
        ".doc.body",
        "-n",
        "s",
    )
    flat = tmp_path / "flat"
    write_rows(flat / "x.jsonl", rows)
    cli("infer", "-p", "1", "-m", fasttext_model_dir, "-i", flat, "-o", tmp_path / "o2", "-n", "s")
    assert _rows(tmp_path / "o1" / "x.jsonl.zst") == _rows(tmp_path / "o2" / "x.jsonl.zst")

    bad = tmp_path / "bad"
    write_rows(bad / "x.jsonl", rows[:3] + [{"id": "no-text"}] + rows[3:])
    result = cli("infer", "-p", "1", "-m", fasttext_model_dir, "-i", bad, "-o", tmp_path / "o3", expect=1)
    assert f"{bad / 'x.jsonl'}:4: jq expression '.text' gave null" in result.output
    assert not list((tmp_path / "o3").rglob("*.jsonl*"))  # no partial output


def test_usage_errors(cli, fasttext_model_dir: Path, corpus: Path, tmp_path: Path) -> None:
    result = cli("infer", "-m", tmp_path / "nomodel", "-i", corpus, "-o", tmp_path / "o", expect=1)
    assert "no model card" in result.output or "no such model folder" in result.output
    result = cli(
        "infer", "-m", fasttext_model_dir, "-i", corpus, "-o", tmp_path / "o", "--output", "csv", expect=1
    )
    assert "unknown --output 'csv'" in result.output
    result = cli("infer", "-m", fasttext_model_dir, "-i", corpus, "-o", corpus / "scores", expect=1)
    assert "inside the input folder" in result.output
    result = cli(
        "infer", "-m", fasttext_model_dir, "-i", corpus, "-o", tmp_path / "o", "--engine", "spark", expect=1
    )
    assert "unknown --engine" in result.output
    assert "Traceback" not in result.output


def test_fasttext_file_trained_elsewhere_and_overrides(cli, fasttext_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    shutil.copy(fasttext_model_dir / "model.bin", foreign / "classifier.bin")  # no card beside it
    docs = tmp_path / "docs"
    write_rows(docs / "x.jsonl", list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:50])
    result = cli("infer", "-p", "1", "-m", foreign, "-i", docs, "-o", tmp_path / "o1", "-n", "s", expect=1)
    assert "has no model card" in result.output and "--normalizer" in result.output
    cli(
        "infer",
        "-p",
        "1",
        "-m",
        foreign,
        "-i",
        docs,
        "-o",
        tmp_path / "o1",
        "-n",
        "s",
        "--normalizer",
        "whitespace",
    )
    cli("infer", "-p", "1", "-m", fasttext_model_dir, "-i", docs, "-o", tmp_path / "o2", "-n", "s")
    assert _digest(tmp_path / "o1") == _digest(tmp_path / "o2")
    # overriding the card's preparation changes the scores, and is recorded for resume
    cli(
        "infer",
        "-p",
        "1",
        "-m",
        fasttext_model_dir,
        "-i",
        docs,
        "-o",
        tmp_path / "o3",
        "-n",
        "s",
        "--max-length",
        "20",
    )
    assert _digest(tmp_path / "o3") != _digest(tmp_path / "o2")
    result = cli(
        "infer", "-p", "1", "-m", fasttext_model_dir, "-i", docs, "-o", tmp_path / "o3", "-n", "s", expect=1
    )
    assert "other settings (max_length)" in result.output
