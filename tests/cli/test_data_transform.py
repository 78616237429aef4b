"""transform-dataset: jq results merged into rows, --no-keep-fields, errors with file:line and the
expression, --skip-errors counted."""

from __future__ import annotations

from pathlib import Path

import yaml

from bonepick.io import read_rows, write_rows
from bonepick.io.jsonl import iter_lines
from tests.conftest import BROWN, SPAM


def _rows(root: Path, split: str) -> list[dict]:
    return [row for p in sorted((root / split).rglob("*.jsonl*")) for row in read_rows(p)]


def _transform(cli, source: Path, out: Path, *args: str, expect: int = 0):
    """``bonepick transform-dataset -i SOURCE -o OUT ARGS...``."""
    return cli("transform-dataset", "-i", source, "-o", out, *args, expect=expect)


def test_merge_into_rows_by_default(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    text = '{text: (.subject + "\\n\\n" + .text)}'
    score = '{score: (if .label == "spam" then 0 else 1 end)}'
    _transform(cli, SPAM, out, "-t", text, "-l", score, "-p", "2")
    for split in ("train", "test"):
        before, after = _rows(SPAM, split), _rows(out, split)
        assert len(after) == len(before)
        for old, new in zip(before, after, strict=True):
            assert new["text"] == old["subject"] + "\n\n" + old["text"]
            assert new["score"] == (0 if old["label"] == "spam" else 1)
            assert {k: v for k, v in new.items() if k not in ("text", "score")} == {
                k: v for k, v in old.items() if k != "text"
            }
    assert sorted(p.name for p in (out / "train").iterdir()) == ["part_00.jsonl.zst", "part_01.jsonl.zst"]


def test_only_results_and_scalar_results(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _transform(cli, BROWN, out, "-t", ".text", "-l", ".genre", "--no-keep-fields", "-p", "1")
    rows = _rows(out, "train")
    source = _rows(BROWN, "train")
    assert rows == [{"text": r["text"], "label": r["genre"]} for r in source]


def test_errors_name_file_line_and_expression(cli, tmp_path: Path) -> None:
    rows = _rows(SPAM, "test")[:20]
    rows[4] = {**rows[4], "subject": 17}
    del rows[9]["label"]
    shard = tmp_path / "in" / "train" / "a.jsonl.zst"
    write_rows(shard, rows)
    expression = '{text: (.subject + " " + .text)}'
    result = _transform(cli, tmp_path / "in", tmp_path / "o", "-t", expression, expect=1)
    assert f"{shard}:5:" in result.output and expression in result.output
    assert "Traceback" not in result.output

    skip = ("-l", ".label | select(. != null)", "--skip-errors")
    result = _transform(cli, tmp_path / "in", tmp_path / "o", "-t", expression, *skip)
    assert "-t expression failed: 1" in result.output
    assert "-l expression yielded nothing: 1" in result.output
    assert len(_rows(tmp_path / "o", "train")) == 18
    record = yaml.safe_load((tmp_path / "o" / "bonepick.yaml").read_text())
    assert record["summary"]["rows_skipped"] == {
        "-l expression yielded nothing": 1,
        "-t expression failed": 1,
    }

    result = _transform(cli, SPAM, tmp_path / "x", "-l", "{score: (.a +}", expect=1)
    assert "invalid jq expression" in result.output
    result = _transform(cli, SPAM, tmp_path / "x", expect=1)
    assert "nothing to do" in result.output


def test_new_keys_are_spliced_onto_rows_of_any_shape(cli, tmp_path: Path) -> None:
    """Rows keep their own bytes with the new keys appended, whatever their spacing, line ends
    or key order; a key the row already has is replaced where it stands."""
    source = tmp_path / "in" / "train" / "a.jsonl"
    source.parent.mkdir(parents=True)
    source.write_bytes(
        b'{"label": "spam", "text": "caf\\u00e9"}\r\n'
        b'{"text":"b","label":"ham","score":7}\n'
        b"{}\n"
        b'{"label":"ham"}   \n'
        b'{"text":"d","label":"spam"}'
    )
    out = tmp_path / "out"
    _transform(cli, tmp_path / "in", out, "-l", '{score: (if .label == "spam" then 0 else 1 end)}')
    rows = _rows(out, "train")
    assert rows == [
        {"label": "spam", "text": "café", "score": 0},
        {"text": "b", "label": "ham", "score": 1},
        {"score": 1},
        {"label": "ham", "score": 1},
        {"text": "d", "label": "spam", "score": 0},
    ]
    assert [list(r) for r in rows][1] == ["text", "label", "score"]  # replaced in place
    first_line = next(iter_lines(out / "train" / "a.jsonl.zst"))[1]
    assert first_line == b'{"label": "spam", "text": "caf\\u00e9","score":0}\n'  # the row's own bytes
