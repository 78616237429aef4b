"""The shard reader/writer and the executor, driven through ``bonepick copy-dataset``."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bonepick.io import read_rows, write_rows
from tests.cli.helpers import digest
from tests.conftest import SPAM


def _rows(root: Path) -> list[dict]:
    return [row for p in sorted(root.rglob("*.jsonl*")) if ".bonepick" not in p.parts for row in read_rows(p)]


def test_copy_keeps_every_row_and_writes_provenance(cli, tmp_path: Path) -> None:
    result = cli("copy-dataset", "-i", SPAM, "-o", tmp_path / "out", "-p", "1")
    assert sorted(digest(tmp_path / "out")) == [
        "test/part_00.jsonl.zst",
        "train/part_00.jsonl.zst",
        "train/part_01.jsonl.zst",
    ]
    assert _rows(tmp_path / "out") == _rows(SPAM)
    record = yaml.safe_load((tmp_path / "out" / "bonepick.yaml").read_text())
    assert record["command"] == "copy-dataset"
    assert record["summary"]["splits"]["train"]["rows_in"] == 600
    assert record["summary"]["splits"]["test"]["rows_out"] == 200
    assert "rows out" in result.output


def test_parallel_equals_serial(cli, tmp_path: Path) -> None:
    cli("copy-dataset", "-i", SPAM, "-o", tmp_path / "serial", "-p", "1")
    cli("copy-dataset", "-i", SPAM, "-o", tmp_path / "parallel", "-p", "2")
    assert digest(tmp_path / "serial") == digest(tmp_path / "parallel")


def test_compressions_and_odd_names(cli, tmp_path: Path) -> None:
    src = tmp_path / "src"
    rows = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))
    write_rows(src / "train" / "part.v2.jsonl.gz", rows[:50])
    write_rows(src / "train" / "nested" / "b.json", rows[50:80])
    write_rows(src / "test" / "c.jsonl.zstd", rows[80:])
    write_rows(src / "test" / "empty.jsonl", [])
    cli("copy-dataset", "-i", src, "-o", tmp_path / "gz", "--compression", "gz")
    assert sorted(digest(tmp_path / "gz")) == [
        "test/c.jsonl.gz",
        "test/empty.jsonl.gz",
        "train/nested/b.jsonl.gz",
        "train/part.v2.jsonl.gz",
    ]
    assert _rows(tmp_path / "gz") == rows[80:] + rows[50:80] + rows[:50]
    cli("copy-dataset", "-i", tmp_path / "gz", "-o", tmp_path / "plain", "--compression", "none")
    assert (tmp_path / "plain" / "test" / "c.jsonl").read_text().count("\n") == len(rows) - 80


def test_several_inputs_do_not_collide(cli, tmp_path: Path) -> None:
    shutil.copytree(SPAM, tmp_path / "a" / "spam")
    cli("copy-dataset", "-i", SPAM, "-i", tmp_path / "a" / "spam", "-o", tmp_path / "out")
    assert len(digest(tmp_path / "out")) == 6
    assert len(_rows(tmp_path / "out")) == 1600


def test_resume_skips_complete_shards_and_cleans_temporaries(cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cli("copy-dataset", "-i", SPAM, "-o", out, "-p", "1")
    before = digest(out)
    (out / "train" / "part_01.jsonl.zst").unlink()
    stale = out / "train" / ".part_01.jsonl.zst.999.bonepick-tmp"
    stale.write_bytes(b"half a shard")
    result = cli("copy-dataset", "-i", SPAM, "-o", out, "-p", "1")
    assert "2 already complete" in result.output
    assert "removed 1 temporaries" in result.output
    assert not stale.exists()
    assert digest(out) == before
    record = yaml.safe_load((out / "bonepick.yaml").read_text())
    assert record["summary"]["rows_in"] == 800  # resumed shards still count
    result = cli("copy-dataset", "-i", SPAM, "-o", out, "--overwrite")
    assert "already complete" not in result.output


def test_bad_json_exits_1_with_file_and_line(cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad" / "train" / "x.jsonl"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"text": "fine"}\n{"text": "broken\n')
    result = cli("copy-dataset", "-i", tmp_path / "bad", "-o", tmp_path / "out", expect=1)
    assert f"{bad}:2: malformed JSON" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "train" / "x.jsonl.zst").exists()


def test_missing_folder_exits_1(bonepick_subprocess, tmp_path: Path) -> None:
    result = bonepick_subprocess("copy-dataset", "-i", tmp_path / "nope", "-o", tmp_path / "out", check=False)
    assert result.returncode == 1
    assert "error: no such folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_option_value_exits_1(cli, tmp_path: Path) -> None:
    result = cli("copy-dataset", "-i", SPAM, "-o", tmp_path / "o", "-p", "0", expect=1)
    assert "--num-proc must be at least 1" in result.output
    result = cli("copy-dataset", "-i", SPAM, "-o", tmp_path / "o", "--compression", "lz4", expect=1)
    assert "unknown compression" in result.output


def test_debug_shows_traceback(bonepick_subprocess, tmp_path: Path) -> None:
    result = bonepick_subprocess(
        "--debug", "copy-dataset", "-i", tmp_path / "nope", "-o", tmp_path / "o", check=False
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_kill_9_leaves_only_complete_shards(tmp_path: Path) -> None:
    src = tmp_path / "big"
    rows = list(read_rows(SPAM / "train" / "part_00.jsonl.zst"))
    for i in range(12):
        write_rows(src / "train" / f"s{i:02d}.jsonl", rows * 20)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "bonepick", "copy-dataset", "-i", str(src), "-o", str(out), "-p", "2"]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(out.glob("train/s*.jsonl.zst")):
        time.sleep(0.05)
    import os

    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for shard in out.glob("train/*.jsonl.zst"):
        assert len(list(read_rows(shard))) == len(rows) * 20  # every visible shard is whole
    subprocess.run(command, check=True, capture_output=True)
    assert not list(out.rglob("*.bonepick-tmp"))
    assert len(list(out.glob("train/*.jsonl.zst"))) == 12
    assert sum(1 for p in out.glob("train/*.jsonl.zst") for _ in read_rows(p)) == 12 * 20 * len(rows)


def test_folder_without_splits_is_read_as_one_split_and_says_so(cli, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    write_rows(flat / "a.jsonl", [{"text": "one"}, {"text": "two"}])
    result = cli("copy-dataset", "-i", flat, "-o", tmp_path / "out")
    assert "has no train/, valid/ or test/ folders" in result.output
    assert [r["text"] for r in read_rows(tmp_path / "out" / "train" / "a.jsonl.zst")] == ["one", "two"]
