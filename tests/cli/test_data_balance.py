"""balance-dataset and sample-dataset on real text: exact counts, uniform picks, same bytes with
one and two processes, rows unchanged."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import yaml

from bonepick.io import read_rows, write_rows
from bonepick.io.jsonl import iter_lines
from tests.cli.helpers import digest
from tests.conftest import BROWN, CORPORA, SPAM


def _rows(root: Path, split: str) -> list[dict]:
    return [row for p in sorted((root / split).rglob("*.jsonl*")) for row in read_rows(p)]


def _raw_lines(root: Path) -> list[bytes]:
    return [
        raw for p in sorted(root.rglob("*.jsonl*")) if ".bonepick" not in p.parts for _, raw in iter_lines(p)
    ]


def test_balance_is_exact_and_same_bytes_with_1_and_2_processes(cli, tmp_path: Path) -> None:
    result = cli("balance-dataset", "-i", SPAM, "-o", tmp_path / "p1", "-p", "1", "-s", "7")
    cli("balance-dataset", "-i", SPAM, "-o", tmp_path / "p2", "-p", "2", "-s", "7")
    assert digest(tmp_path / "p1") == digest(tmp_path / "p2")
    assert "balanced away: 240" in result.output
    train = _rows(tmp_path / "p1", "train")
    assert Counter(r["label"] for r in train) == {"ham": 180, "spam": 180}
    # test is copied as is (the default), byte for byte
    assert _rows(tmp_path / "p1", "test") == _rows(SPAM, "test")
    # rows keep every field and their relative order; all spam (the rarest label) is kept
    source = _rows(SPAM, "train")
    positions = [source.index(row) for row in train]
    assert positions == sorted(positions)
    assert [r for r in source if r["label"] == "spam"] == [r for r in train if r["label"] == "spam"]
    record = yaml.safe_load((tmp_path / "p1" / "bonepick.yaml").read_text())
    assert record["balance"]["balanced"]["train"]["ham"] == {"before": 420, "after": 180}
    assert record["balance"]["copied_unchanged"] == ["test"]

    cli("balance-dataset", "-i", SPAM, "-o", tmp_path / "s8", "-p", "1", "-s", "8")
    assert _rows(tmp_path / "s8", "train") != train  # another seed, another pick


def test_balance_all_splits_with_jq_labels_and_several_inputs(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    expression = 'if (.text | length) > 800 then "long" else "short" end'
    cli(
        "balance-dataset",
        "-i",
        SPAM,
        "-i",
        BROWN,
        "-o",
        out,
        "-l",
        expression,
        "--splits",
        "train,test",
        "-p",
        "2",
    )
    for split in ("train", "test"):
        rows = _rows(out, split)
        counts = Counter("long" if len(r["text"]) > 800 else "short" for r in rows)
        assert counts["long"] == counts["short"] > 0
        sources = {r["id"].split("/")[0] for r in rows}
        assert len(sources) > 1  # both inputs contribute
    assert sorted(p.name for p in (out / "train").iterdir()) == ["brown", "spam"]


def test_balance_reports_bad_labels_with_file_and_line(cli, tmp_path: Path) -> None:
    rows = _rows(SPAM, "test")[:10]
    rows[6] = {**rows[6], "label": ["ham", "spam"]}
    shard = tmp_path / "in" / "train" / "x.jsonl.gz"
    write_rows(shard, rows)
    result = cli("balance-dataset", "-i", tmp_path / "in", "-o", tmp_path / "out", expect=1)
    assert f"{shard}:7:" in result.output and "one label per row" in result.output
    assert not list((tmp_path / "out").rglob("*.jsonl*"))


def test_sample_rows_exact_uniform_and_reproducible(cli, tmp_path: Path) -> None:
    cli("sample-dataset", "-i", SPAM, "-o", tmp_path / "a", "--target-rows", "123", "-p", "1")
    cli("sample-dataset", "-i", SPAM, "-o", tmp_path / "b", "--target-rows", "123", "-p", "2")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    sampled = _raw_lines(tmp_path / "a")
    assert len(sampled) == 123
    assert set(sampled) <= set(_raw_lines(SPAM))  # rows byte for byte
    cli("sample-dataset", "-i", SPAM, "-o", tmp_path / "r", "-r", "0.25", "-p", "1")
    assert len(_raw_lines(tmp_path / "r")) == 200  # round(0.25 * 800)

    # not biased to the head of files: over seeds, picks spread over every part of the shard
    lines = [raw for _, raw in iter_lines(SPAM / "train" / "part_00.jsonl.zst")]
    position = {raw: i / len(lines) for i, raw in enumerate(lines)}
    picked = []
    for seed in range(6):
        out = tmp_path / f"seed{seed}"
        cli(
            "sample-dataset",
            "-i",
            SPAM / "train",
            "-o",
            out,
            "--target-rows",
            "60",
            "-s",
            str(seed),
            "-p",
            "1",
        )
        picked += [position[raw] for raw in _raw_lines(out) if raw in position]
    assert 0.4 < sum(picked) / len(picked) < 0.6
    assert sum(p > 0.8 for p in picked) > 0.1 * len(picked)


def test_sample_size_budget_is_met_within_one_row(cli, tmp_path: Path) -> None:
    source = CORPORA / "fortunes"
    for budget, size_text in ((150_000, "150KB"), (1_500_000, "1.5M")):
        out = tmp_path / size_text
        result = cli("sample-dataset", "-i", source, "-o", out, "-t", size_text, "-p", "1")
        assert "sample" in result.output
        lines = _raw_lines(out)
        total = sum(len(raw) if raw.endswith(b"\n") else len(raw) + 1 for raw in lines)
        assert total <= budget
        assert total > budget - max(len(raw) for raw in _raw_lines(source))
        record = yaml.safe_load((out / "bonepick.yaml").read_text())
        assert record["sample"]["bytes_out"] == total
    # a larger budget extends the same random order: the smaller sample is contained in it
    assert set(_raw_lines(tmp_path / "150KB")) <= set(_raw_lines(tmp_path / "1.5M"))


def test_sample_usage_errors(cli, tmp_path: Path) -> None:
    result = cli("sample-dataset", "-i", SPAM, "-o", tmp_path / "o", expect=1)
    assert "exactly one of" in result.output
    result = cli("sample-dataset", "-i", SPAM, "-o", tmp_path / "o", "-t", "12 parsecs", expect=1)
    assert "cannot read the size" in result.output
    result = cli("sample-dataset", "-i", SPAM, "-o", tmp_path / "o", "-r", "1.5", expect=1)
    assert "--sampling-rate" in result.output
    bad = tmp_path / "bad" / "train" / "a.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(orjson.dumps({"text": "ok"}) + b"\n[1, 2]\n")
    result = cli("sample-dataset", "-i", tmp_path / "bad", "-o", tmp_path / "o", "-r", "0.5", expect=1)
    assert f"{bad}:2: expected a JSON object" in result.output
