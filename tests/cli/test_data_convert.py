"""convert-to-fasttext on real text: the lines parse back, nothing can break the format, the
report says what the trainer needs."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import yaml

from bonepick.data.fasttext_format import clean_text, parse_line
from bonepick.data.normalizers import get_normalizer
from bonepick.io import read_rows, write_rows
from tests.conftest import BROWN, SPAM


def _split_rows(root: Path, split: str) -> list[dict]:
    return [row for p in sorted((root / split).rglob("*.jsonl*")) for row in read_rows(p)]


def _lines(path: Path) -> list[tuple[list[str], str]]:
    data = path.read_bytes().decode("utf-8")
    assert data.endswith("\n")
    return [parse_line(line) for line in data.split("\n")[:-1]]


def test_spam_round_trip_and_report(cli, tmp_path: Path) -> None:
    out = tmp_path / "ft"
    result = cli("convert-to-fasttext", "-i", SPAM, "-o", out, "-p", "1")
    assert "labels per split" in result.output
    whitespace = get_normalizer("whitespace")
    for split in ("train", "test"):
        rows = _split_rows(SPAM, split)
        lines = _lines(out / f"{split}.txt")
        assert len(lines) == len(rows)
        # same order as the input shards, text prepared exactly as documented
        assert [labels for labels, _ in lines] == [[row["label"]] for row in rows]
        assert [text for _, text in lines] == [clean_text(whitespace.normalize(row["text"])) for row in rows]
    assert not (out / "valid.txt").exists()
    report = yaml.safe_load((out / "fasttext_conversion.yaml").read_text())
    assert report["normalizer"] == "whitespace"
    assert report["max_length"] is None
    assert report["text_expression"] == ".text"
    assert report["label_expression"] == ".label"
    assert report["multi_label"] is False
    assert report["labels"] == ["ham", "spam"]
    assert report["counts"] == {"train": {"ham": 420, "spam": 180}, "test": {"ham": 140, "spam": 60}}
    assert report["auto_bins"] is None
    provenance = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert provenance["command"] == "convert-to-fasttext"
    assert not list(out.rglob("*.bonepick-tmp")) and not (out / ".bonepick").exists()


def test_same_bytes_with_one_and_two_processes(cli, tmp_path: Path) -> None:
    cli("convert-to-fasttext", "-i", BROWN, "-o", tmp_path / "a", "-p", "1", "--max-length", "300")
    cli("convert-to-fasttext", "-i", BROWN, "-o", tmp_path / "b", "-p", "2", "--max-length", "300")
    for name in ("train.txt", "test.txt"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    for _labels, text in _lines(tmp_path / "a" / "train.txt"):
        assert len(text) <= 300


def test_newlines_and_label_markers_cannot_corrupt_lines(cli, tmp_path: Path) -> None:
    rows = _split_rows(SPAM, "test")[:40]
    nasty = [
        "first line\nsecond __label__spam line\r\nthird",
        "__label__ham at the start",
        "tabs\tand\u2028unicode\u2029separators\x85and\x0bvertical\x1cfile sep\x00nul",
        "____label__x and __label____label__y",
        "   \n\t  ",  # nothing left after cleaning: counted as a skip
    ]
    for index, text in enumerate(nasty):
        rows[index] = {**rows[index], "text": text}
    write_rows(tmp_path / "in" / "train" / "a.jsonl.zst", rows)
    out = tmp_path / "ft"
    result = cli("convert-to-fasttext", "-i", tmp_path / "in", "-o", out, "-n", "none")
    assert "empty text: 1" in result.output
    raw = (out / "train.txt").read_text(encoding="utf-8")
    assert len(raw.splitlines()) == len(rows) - 1  # even Python's splitlines sees one doc per line
    lines = _lines(out / "train.txt")
    for (labels, text), row in zip(lines, [r for i, r in enumerate(rows) if i != 4], strict=True):
        assert labels == [row["label"]]
        assert "__label__" not in text
        assert not re.search(r"\s\s", text) and text == text.strip()
    assert lines[0][1] == "first line second label__spam line third"
    assert lines[3][1] == "label__x and labellabel__y"
    report = yaml.safe_load((out / "fasttext_conversion.yaml").read_text())
    assert report["normalizer"] is None
    assert report["rows"]["train"]["skipped"] == {"empty text": 1}


def test_auto_bins_on_train_with_a_single_value_bin(cli, tmp_path: Path) -> None:
    out = tmp_path / "ft"
    # informative paragraphs all get the value 1 (70% of train): that value must form its own bin
    expression = 'if .label == "informative" then 1 else (.text | length) end'
    result = cli("convert-to-fasttext", "-i", BROWN, "-o", out, "-l", expression, "--auto", "4", "-p", "1")
    assert "single value" in result.output
    report = yaml.safe_load((out / "fasttext_conversion.yaml").read_text())
    bins = report["auto_bins"]
    assert [b["label"] for b in bins] == report["labels"]
    single = [b for b in bins if b["min"] == b["max"] == 1]
    assert len(single) == 1 and single[0]["count"] == 420
    assert sum(b["count"] for b in bins) == 600
    train = _lines(out / "train.txt")
    assert dict(Counter(labels[0] for labels, _ in train)) == {b["label"]: b["count"] for b in bins}
    # bins are ordered and disjoint; every test row got a bin label
    for left, right in zip(bins, bins[1:], strict=False):
        assert left["max"] < right["min"]
    assert {labels[0] for labels, _ in _lines(out / "test.txt")} <= set(report["labels"])
    assert sum(report["counts"]["test"].values()) == 200


def test_multi_label_from_a_dict(cli, tmp_path: Path) -> None:
    out = tmp_path / "ft"
    expression = "{(.label): true, long: ((.text | length) > 1000), never: false}"
    cli("convert-to-fasttext", "-i", SPAM, "-o", out, "-l", expression, "--multi-label", "-p", "2")
    rows = _split_rows(SPAM, "train")
    lines = _lines(out / "train.txt")
    for (labels, _), row in zip(lines, rows, strict=True):
        expected = [row["label"]] + (["long"] if len(row["text"]) > 1000 else [])
        assert labels == expected
    report = yaml.safe_load((out / "fasttext_conversion.yaml").read_text())
    assert report["multi_label"] is True
    assert report["labels"] == ["ham", "long", "spam"]
    assert report["counts"]["train"]["long"] == sum(len(r["text"]) > 1000 for r in rows)


def test_bad_labels_name_file_and_line(cli, tmp_path: Path) -> None:
    rows = _split_rows(SPAM, "test")[:5]
    rows[3] = {"text": rows[3]["text"]}
    shard = tmp_path / "in" / "train" / "a.jsonl"
    write_rows(shard, rows)
    result = cli("convert-to-fasttext", "-i", tmp_path / "in", "-o", tmp_path / "ft", expect=1)
    assert f"{shard}:4:" in result.output and ".label" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "ft" / "train.txt").exists()

    write_rows(shard, [{"text": "a", "label": {"x": 1}}])
    result = cli("convert-to-fasttext", "-i", tmp_path / "in", "-o", tmp_path / "ft", expect=1)
    assert f"{shard}:1:" in result.output and "--multi-label" in result.output

    write_rows(shard, [{"text": "a", "score": "high"}])
    result = cli(
        "convert-to-fasttext",
        "-i",
        tmp_path / "in",
        "-o",
        tmp_path / "ft",
        "-l",
        ".score",
        "--auto",
        "2",
        expect=1,
    )
    assert f"{shard}:1: expected a numeric label" in result.output
