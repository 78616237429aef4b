"""reshard-dataset: N near-equal files for any N, row order kept, exact new splits, same bytes
with one and two processes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bonepick.io import read_rows, write_rows
from bonepick.io.jsonl import iter_lines
from tests.conftest import CORPORA, SPAM


def _lines(folder: Path) -> list[bytes]:
    return [raw for p in sorted(folder.glob("*.jsonl*")) for _, raw in iter_lines(p)]


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.jsonl*"))
    }


@pytest.mark.parametrize("num_files", [1, 3, 7])
def test_reshard_keeps_every_row_in_order_in_near_equal_files(cli, tmp_path: Path, num_files: int) -> None:
    out = tmp_path / "out"
    cli("reshard-dataset", "-i", SPAM, "-o", out, "-n", str(num_files), "-p", "1")
    for split in ("train", "test"):
        files = sorted((out / split).glob("*.jsonl.zst"))
        assert len(files) == num_files
        assert _lines(out / split) == _lines(SPAM / split)  # same rows, same order
        sizes = [sum(len(raw) for raw in _lines_of(f)) for f in files]
        biggest_row = max(len(raw) for raw in _lines(SPAM / split))
        assert max(sizes) - min(sizes) <= 2 * biggest_row


def _lines_of(path: Path) -> list[bytes]:
    return [raw for _, raw in iter_lines(path)]


def test_more_files_than_rows_and_rerun_removes_stale_files(cli, tmp_path: Path) -> None:
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:5]
    write_rows(tmp_path / "tiny" / "a.jsonl", rows)
    out = tmp_path / "out"
    cli("reshard-dataset", "-i", tmp_path / "tiny", "-o", out, "-n", "8")
    files = sorted(out.glob("shard_*.jsonl.zst"))  # a flat input gives a flat output
    assert len(files) == 8
    assert sorted(len(_lines_of(f)) for f in files) == [0, 0, 0, 1, 1, 1, 1, 1]
    assert [r for f in files for r in read_rows(f)] == rows
    cli("reshard-dataset", "-i", tmp_path / "tiny", "-o", out, "-n", "2")
    assert len(list(out.glob("shard_*.jsonl.zst"))) == 2


def test_new_splits_are_exact_seeded_and_process_count_free(cli, tmp_path: Path) -> None:
    source = CORPORA / "python_docs" / "train"
    total = len(_lines(source))
    cli("reshard-dataset", "-i", source, "-o", tmp_path / "a", "-n", "3", "-t", "0.1", "-v", "200", "-p", "1")
    cli("reshard-dataset", "-i", source, "-o", tmp_path / "b", "-n", "3", "-t", "0.1", "-v", "200", "-p", "2")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    splits = {s: _lines(tmp_path / "a" / s) for s in ("train", "valid", "test")}
    assert len(splits["test"]) == round(0.1 * total)
    assert len(splits["valid"]) == 200
    assert len(splits["train"]) == total - 200 - round(0.1 * total)
    everything = _lines(source)
    assert sorted(splits["train"] + splits["valid"] + splits["test"]) == sorted(everything)
    order = {raw: i for i, raw in enumerate(everything)}
    for lines in splits.values():
        assert [order[raw] for raw in lines] == sorted(order[raw] for raw in lines)
    # the test rows are spread over the whole input, not taken from its head or tail
    positions = sorted(order[raw] / total for raw in splits["test"])
    assert positions[0] < 0.05 and positions[-1] > 0.95
    cli("reshard-dataset", "-i", source, "-o", tmp_path / "c", "-n", "3", "-t", "0.1", "-v", "200", "-s", "9")
    assert _lines(tmp_path / "c" / "test") != splits["test"]


def test_reshard_usage_errors(cli, tmp_path: Path) -> None:
    result = cli("reshard-dataset", "-i", SPAM, "-o", tmp_path / "o", "-n", "0", expect=1)
    assert "--num-files must be at least 1" in result.output
    result = cli(
        "reshard-dataset", "-i", SPAM, "-o", tmp_path / "o", "-n", "2", "-t", "0.1", "-p", "1", expect=1
    )
    assert "already has a test split" in result.output
    result = cli(
        "reshard-dataset",
        "-i",
        SPAM / "train",
        "-o",
        tmp_path / "o",
        "-n",
        "2",
        "-t",
        "5000",
        "-p",
        "1",
        expect=1,
    )
    assert "only 600" in result.output
    bad = tmp_path / "bad" / "x.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"text": "a"}\n{"text": \n')
    result = cli(
        "reshard-dataset", "-i", tmp_path / "bad", "-o", tmp_path / "o2", "-n", "2", "-p", "1", expect=1
    )
    assert f"{bad}:2: malformed JSON" in result.output


def test_blank_lines_and_missing_final_newline_select_the_same_rows(cli, tmp_path: Path) -> None:
    """A shard with blank lines is read line by line, a clean one by row offsets: the rows
    chosen and the bytes written must not depend on which reader ran."""
    clean, messy = tmp_path / "clean", tmp_path / "messy"
    for split in ("train", "test"):
        for shard in sorted((SPAM / split).glob("*.jsonl.zst")):
            lines = [raw for _, raw in iter_lines(shard)]
            (clean / split).mkdir(parents=True, exist_ok=True)
            (messy / split).mkdir(parents=True, exist_ok=True)
            (clean / split / (shard.name[: -len(".zst")])).write_bytes(b"".join(lines))
            spaced = b"\n".join(lines[:5]) + b"\n  \n" + b"".join(lines[5:])
            (messy / split / (shard.name[: -len(".zst")])).write_bytes(spaced.rstrip(b"\n"))
    runs = {
        "sample": ["sample-dataset", "--target-rows", "250", "-s", "3"],
        "balance": ["balance-dataset", "-s", "3"],
        "reshard": ["reshard-dataset", "-n", "4", "--test-split-frac", "0.2", "--valid-split-frac", "50"],
    }
    for name, args in runs.items():
        outs = []
        for source in (clean, messy):
            out = tmp_path / f"{name}-{source.name}"
            src = source / "train" if name == "reshard" else source
            cli(*args, "-i", src, "-o", out, "-p", "2")
            outs.append(out)
        shards = [{k: v for k, v in _digest(out).items() if not k.startswith(".bonepick")} for out in outs]
        assert shards[0] == shards[1], name
        assert len(shards[0]) >= 2  # something was written
