"""count-tokens and label-distribution on real text."""

from __future__ import annotations

from pathlib import Path

from bonepick.data.tokenizers import load_tokenizer
from bonepick.io import read_rows, write_rows
from tests.conftest import BROWN, SHARED, SPAM


def _rows(root: Path, split: str) -> list[dict]:
    return [row for p in sorted((root / split).rglob("*.jsonl*")) for row in read_rows(p)]


def _table_row(output: str, first: str) -> list[str]:
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no table row starting with {first!r} in:\n{output}")


def test_count_tokens_matches_the_tokenizer(cli, tmp_path: Path) -> None:
    result = cli("count-tokens", "-d", SPAM, "-d", BROWN, "-p", "2")
    tokenizer = load_tokenizer("dolma2")
    texts = [r["text"] for root in (SPAM, BROWN) for split in ("train", "test") for r in _rows(root, split)]
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))
    total = _table_row(result.output, "total")
    assert total[2:6] == ["6", f"{len(texts):,}", f"{tokens:,}", f"{sum(len(t.encode()) for t in texts):,}"]
    assert "tokens (dolma2)" in result.output

    # a local tokenizer.json and another text field
    local = SHARED / "tokenizers" / "dolma2_tokenizer.json"
    result = cli("count-tokens", "-d", SPAM / "test", "-t", local, "-i", ".subject", "-p", "1")
    subjects = [r["subject"] for r in _rows(SPAM, "test")]
    expected = sum(len(e.ids) for e in tokenizer.encode_batch(subjects, add_special_tokens=False))
    assert _table_row(result.output, "total")[4] == f"{expected:,}"


def test_count_tokens_errors(cli, tmp_path: Path) -> None:
    result = cli("count-tokens", "-d", SPAM, "-t", tmp_path / "nope.json", expect=1)
    assert "does not exist" in result.output
    write_rows(tmp_path / "d" / "a.jsonl", [{"text": "fine"}, {"body": "no text"}])
    result = cli("count-tokens", "-d", tmp_path / "d", "-p", "1", expect=1)
    assert f"{tmp_path / 'd' / 'a.jsonl'}:2:" in result.output


def test_label_distribution_table_and_plot(cli, tmp_path: Path) -> None:
    plot = tmp_path / "plots" / "labels.png"
    result = cli("label-distribution", "-d", SPAM, "--plot", plot, "-p", "1")
    ham = _table_row(result.output, "ham")
    spam = _table_row(result.output, "spam")
    assert ham == ["ham", "420", "70.00%", "70.00%", "140", "70.00%", "70.00%"]
    assert spam == ["spam", "180", "30.00%", "100.00%", "60", "30.00%", "100.00%"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # ordinal: numeric order and cumulative share at or below each level
    result = cli(
        "label-distribution",
        "-d",
        BROWN,
        "-l",
        "(.text | length) / 500 | floor",
        "--label-type",
        "ordinal",
        "-p",
        "1",
    )
    levels = [int(len(r["text"]) / 500) for r in _rows(BROWN, "train")]
    below_two = sum(1 for v in levels if v <= 1) / len(levels)
    assert _table_row(result.output, "1")[3] == f"{100 * below_two:.2f}%"
    order = [line.split("│")[1].strip() for line in result.output.splitlines() if line.startswith("│")]
    assert order == sorted(order, key=int)

    result = cli(
        "label-distribution",
        "-d",
        BROWN,
        "-l",
        ".text | length",
        "--label-type",
        "value",
        "--bins",
        "4",
        "-p",
        "1",
    )
    assert _table_row(result.output, "[300, 600)")[1] == str(
        sum(300 <= len(r["text"]) < 600 for r in _rows(BROWN, "train"))
    )
    result = cli("label-distribution", "-d", SPAM, "--label-type", "value", "-p", "1", expect=1)
    assert "expected a numeric label" in result.output
