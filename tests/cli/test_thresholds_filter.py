"""thresholds and filter through the CLI, on real emails scored by a real fastText model."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from bonepick.io import read_rows, write_rows
from bonepick.io.jsonl import iter_lines
from tests.cli.helpers import filter_docs, infer
from tests.conftest import SHARED, SPAM

FT_SPAM = ("--name", "ft", "--label", "spam")  # the spam probability of the scores named ft


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory, fasttext_model_dir: Path) -> Path:
    """Attribute files for tests/data/spam under the name 'ft'."""
    from tests.conftest import Cli

    out = tmp_path_factory.mktemp("scored") / "attributes"
    infer(Cli(), fasttext_model_dir, SPAM, out, "-n", "ft", "-p", "1")
    return out


def _spam_scores(scored: Path) -> dict[str, float]:
    return {r["id"]: r["ft"]["spam"] for p in sorted(scored.rglob("*.jsonl.zst")) for r in read_rows(p)}


def _lines(root: Path) -> list[bytes]:
    return [
        line
        for p in sorted(root.rglob("*.jsonl*"))
        if ".bonepick" not in p.parts
        for _, line in iter_lines(p)
    ]


def test_thresholds_match_numpy_percentiles(cli, scored: Path, tmp_path: Path) -> None:
    result = cli(
        "thresholds",
        "-p",
        "1",
        "-d",
        scored,
        *FT_SPAM,
        "--keep",
        "0.1,25%,0.5",
        "-o",
        tmp_path,
        "--histogram",
    )
    scores = np.array(list(_spam_scores(scored).values()))
    record = yaml.safe_load((tmp_path / "thresholds_ft_spam.yaml").read_text())
    assert record["documents"] == 800
    assert [row["keep"] for row in record["thresholds"]] == [0.1, 0.25, 0.5]
    for row in record["thresholds"]:
        expected = np.percentile(scores, 100 * (1 - row["keep"]))
        assert row["threshold"] == pytest.approx(expected, rel=1e-12)
        assert row["docs_kept"] == int((scores >= expected).sum())
    assert record["score_summary"]["p50"] == pytest.approx(np.percentile(scores, 50))
    assert record["command"]["name"] == "thresholds"
    assert (tmp_path / "thresholds_ft_spam.png").read_bytes()[:4] == b"\x89PNG"
    assert "docs kept" in result.output and "800 documents" in result.output


def test_thresholds_by_tokens(cli, scored: Path, tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    tokenizer_file = SHARED / "tokenizers" / "dolma2_tokenizer.json"
    by_tokens = ("thresholds", "-p", "1", "-d", scored, *FT_SPAM, "--by", "tokens")
    result = cli(*by_tokens, expect=1)
    assert "pass the scored documents with -i" in result.output
    cli(*by_tokens, "-i", SPAM, "--keep", "0.3", "--tokenizer", tokenizer_file, "-o", tmp_path)
    record = yaml.safe_load((tmp_path / "thresholds_ft_spam.yaml").read_text())
    scores = _spam_scores(scored)
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    docs = [r for p in sorted(SPAM.rglob("*.jsonl.zst")) for r in read_rows(p)]
    tokens = {d["id"]: len(tokenizer.encode(d["text"], add_special_tokens=False).ids) for d in docs}
    assert record["tokens"] == sum(tokens.values())
    row = record["thresholds"][0]
    # the threshold is the score where the running token count, best documents first, reaches 30%
    ranked = sorted(scores, key=lambda i: -scores[i])
    running = np.cumsum([tokens[i] for i in ranked])
    index = int(np.searchsorted(running, 0.3 * running[-1]))
    assert row["threshold"] == scores[ranked[index]]
    kept = [i for i in scores if scores[i] >= row["threshold"]]
    assert row["tokens_kept"] == sum(tokens[i] for i in kept) >= 0.3 * running[-1]


def test_filter_keeps_exactly_the_documents_at_or_above_the_threshold(
    cli, scored: Path, tmp_path: Path
) -> None:
    scores = _spam_scores(scored)
    threshold = float(np.median(list(scores.values())))
    out = tmp_path / "kept"
    result = filter_docs(cli, SPAM, out, "-a", scored, *FT_SPAM, "--threshold", threshold, "-p", "2")
    kept_ids = {r["id"] for p in out.rglob("*.jsonl.zst") for r in read_rows(p)}
    assert kept_ids == {i for i, s in scores.items() if s >= threshold}
    # kept documents are the input lines, byte for byte and in order
    assert _lines(out) == [line for line in _lines(SPAM) if _id_of(line) in kept_ids]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jsonl.zst")) == [
        "test/part_00.jsonl.zst",
        "train/part_00.jsonl.zst",
        "train/part_01.jsonl.zst",
    ]
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert record["summary"]["rows_in"] == 800
    assert record["summary"]["rows_out"] == len(kept_ids)
    assert record["summary"]["rows_skipped"] == {"score below threshold": 800 - len(kept_ids)}
    assert f"kept {len(kept_ids):,} of 800 documents" in result.output


def _id_of(line: bytes) -> str:
    import orjson

    return orjson.loads(line)["id"]


def test_filter_keep_fraction_and_inline_scores(
    cli, fasttext_model_dir: Path, scored: Path, tmp_path: Path
) -> None:
    quarter = ("-p", "1", *FT_SPAM, "--keep", "0.25")
    filter_docs(cli, SPAM, tmp_path / "quarter", "-a", scored, *quarter)
    scores = np.array(list(_spam_scores(scored).values()))
    cut = np.percentile(scores, 75)
    assert len(_lines(tmp_path / "quarter")) == int((scores >= cut).sum())

    # documents scored inline carry their own scores: no -a needed, same selection
    infer(cli, fasttext_model_dir, SPAM, tmp_path / "inline", "-p", "1", "-n", "ft", "--output", "inline")
    filter_docs(cli, tmp_path / "inline", tmp_path / "quarter_inline", *quarter)
    ids = [_id_of(line) for line in _lines(tmp_path / "quarter_inline")]
    assert ids == [_id_of(line) for line in _lines(tmp_path / "quarter")]


def test_filter_refuses_scores_of_other_documents(cli, scored: Path, tmp_path: Path) -> None:
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    docs = tmp_path / "docs"
    write_rows(docs / "test" / "part_00.jsonl.zst", rows[:150])  # fewer documents than scores

    def refused(docs: Path, out: str, *args: str) -> str:
        """The output of a filter run over ``docs`` with the scores of SPAM, which must fail."""
        return filter_docs(cli, docs, tmp_path / out, "-p", "1", "-a", scored, *args, expect=1).output

    assert "has more rows than the 150 documents" in refused(docs, "o1", *FT_SPAM, "--threshold", "0.5")
    assert not (tmp_path / "o1" / "test" / "part_00.jsonl.zst").exists()

    write_rows(docs / "test" / "part_00.jsonl.zst", rows[1:] + rows[:1])  # same documents, other order
    output = refused(docs, "o2", *FT_SPAM, "--threshold", "0.5")
    assert "part_00.jsonl.zst:1: document id" in output and "does not match id" in output

    output = refused(SPAM, "o3", "--name", "ft", "--threshold", "0.5")
    assert "several labels (ham, spam)" in output and "--label" in output
    output = refused(SPAM, "o4", "--name", "nope", "--label", "spam", "--threshold", "0.5")
    assert "no score field 'nope' (fields: ft, id)" in output
    assert "exactly one of --threshold and --keep" in refused(SPAM, "o5", *FT_SPAM)
    result = cli("thresholds", "-p", "1", "-d", scored, *FT_SPAM, "--keep", "1.5", expect=1)
    assert "not a fraction in (0, 1]" in result.output


def test_filter_resume_refuses_another_threshold(cli, scored: Path, tmp_path: Path) -> None:
    args = ["filter", "-i", SPAM, "-a", scored, *FT_SPAM, "-o", tmp_path / "o"]
    cli(*args, "--threshold", "0.5")
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "o").rglob("*.zst")}
    result = cli(*args, "--threshold", "0.5")
    assert "3 already complete" in result.output
    assert digest == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "o").rglob("*.zst")
    }
    result = cli(*args, "--threshold", "0.9", expect=1)
    assert "other settings (threshold)" in result.output
