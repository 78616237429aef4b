"""normalize-dataset: normalized text written back (to the field the expression names), other
fields kept, -p 1 and -p 2 byte-identical, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from bonepick.data.normalizers import NORMALIZERS, get_normalizer
from bonepick.io import read_rows, write_rows
from tests.conftest import BROWN, SPAM


def _shards(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jsonl*") if ".bonepick" not in p.parts)


def _rows(root: Path) -> list[dict]:
    return [row for p in _shards(root) for row in read_rows(p)]


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in _shards(root)}


def test_hyperfine_rewrites_text_and_parallel_is_byte_identical(cli, tmp_path: Path) -> None:
    serial, parallel = tmp_path / "p1", tmp_path / "p2"
    result = cli("normalize-dataset", "-i", SPAM, "-o", serial, "-n", "ultrafine_plus", "-p", "1")
    cli("normalize-dataset", "-i", SPAM, "-o", parallel, "-n", "hyperfine", "-p", "2")
    assert _digest(serial) == _digest(parallel)
    assert sorted(_digest(serial)) == [
        "test/part_00.jsonl.zst",
        "train/part_00.jsonl.zst",
        "train/part_01.jsonl.zst",
    ]

    before, after = _rows(SPAM), _rows(serial)
    assert len(after) == len(before) == 800
    expected = get_normalizer("hyperfine").normalize_batch([row["text"] for row in before])
    for old, new, text in zip(before, after, expected, strict=True):
        assert new["text"] == text
        assert {k: v for k, v in new.items() if k != "text"} == {k: v for k, v in old.items() if k != "text"}
    assert "\n" not in "".join(expected) and " Ġ" in expected[0]

    record = yaml.safe_load((serial / "bonepick.yaml").read_text())
    assert record["command"] == "normalize-dataset"
    assert record["normalizer"] == "hyperfine"
    assert record["summary"]["splits"]["train"]["rows_out"] == 600
    assert "rows out" in result.output


def test_nested_field_and_computed_expression(cli, tmp_path: Path) -> None:
    rows = [
        {"id": row["id"], "meta": {"body": row["text"], "genre": row["genre"]}, "label": row["label"]}
        for row in list(read_rows(BROWN / "test" / "part_00.jsonl.zst"))[:40]
    ]
    write_rows(tmp_path / "src" / "train" / "a.jsonl.gz", rows)
    cli("normalize-dataset", "-i", tmp_path / "src", "-o", tmp_path / "nested", "-n", "potion_code",
        "--text-expression", ".meta.body")  # fmt: skip
    out = _rows(tmp_path / "nested")
    potion_code = get_normalizer("potion-code")
    assert [r["meta"]["body"] for r in out] == [potion_code.normalize(r["meta"]["body"]) for r in rows]
    assert [r["meta"]["genre"] for r in out] == [r["meta"]["genre"] for r in rows]
    assert all("text" not in r for r in out)

    cli("normalize-dataset", "-i", tmp_path / "src", "-o", tmp_path / "computed", "-n", "whitespace",
        "--text-expression", '.meta.genre + ": " + .meta.body')  # fmt: skip
    out = _rows(tmp_path / "computed")
    assert [r["text"] for r in out] == [
        " ".join(f"{r['meta']['genre']}: {r['meta']['body']}".split()) for r in rows
    ]
    assert [r["meta"] for r in out] == [r["meta"] for r in rows]


def test_unknown_normalizer_lists_the_names(cli, tmp_path: Path) -> None:
    result = cli("normalize-dataset", "-i", SPAM, "-o", tmp_path / "out", "-n", "hyperfast", expect=1)
    assert "unknown normalizer 'hyperfast'" in result.output
    for name in NORMALIZERS:
        assert name in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_missing_text_field_names_file_and_line(cli, tmp_path: Path) -> None:
    shard = tmp_path / "src" / "train" / "a.jsonl"
    write_rows(shard, [{"text": "fine"}, {"body": "no text here"}])
    result = cli(
        "normalize-dataset", "-i", tmp_path / "src", "-o", tmp_path / "out", "-n", "plsfix", expect=1
    )
    assert f"{shard}:2" in result.output
    assert "Traceback" not in result.output
