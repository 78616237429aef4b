"""import-hf-dataset from local files (offline): splits kept and renamed, a seeded test split
cut exactly, streaming mode, and nothing left in the Hugging Face cache."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from bonepick.io import read_rows
from tests.conftest import SPAM


def _rows(root: Path, split: str) -> list[dict]:
    return [row for p in sorted((root / split).glob("*.jsonl.zst")) for row in read_rows(p)]


@pytest.fixture
def local_source(tmp_path: Path) -> tuple[Path, list[dict], list[dict]]:
    train = [r for p in sorted((SPAM / "train").glob("*.zst")) for r in read_rows(p)][:250]
    valid = list(read_rows(SPAM / "test" / "part_00.jsonl.zst"))[:40]
    folder = tmp_path / "src"
    folder.mkdir()
    (folder / "train.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in train))
    (folder / "validation.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in valid))
    return folder, train, valid


def _hf_cache_files() -> list[str]:
    root = Path(os.environ["HF_HOME"])
    return sorted(str(p) for p in root.rglob("*")) if root.exists() else []


def test_import_local_folder_cuts_exact_seeded_test_split(cli, tmp_path: Path, local_source) -> None:
    folder, train, valid = local_source
    before = _hf_cache_files()
    out = tmp_path / "out"
    result = cli(
        "import-hf-dataset", "-n", folder, "-o", out, "-t", "0.2", "--rows-per-shard", "80", "-p", "2"
    )
    assert "valid" in result.output
    got_train, got_test, got_valid = _rows(out, "train"), _rows(out, "test"), _rows(out, "valid")
    assert got_valid == valid  # validation -> valid/, unchanged
    assert len(got_test) == 50 and len(got_train) == 200
    # train keeps the source order; test rows are spread over the source
    index = {r["id"]: i for i, r in enumerate(train)}
    assert [index[r["id"]] for r in got_train] == sorted(index[r["id"]] for r in got_train)
    assert sorted(index[r["id"]] for r in got_train + got_test) == list(range(250))
    assert max(index[r["id"]] for r in got_test) > 200 and min(index[r["id"]] for r in got_test) < 50
    assert [p.name for p in sorted((out / "train").iterdir())] == [
        f"shard_0000{i}.jsonl.zst" for i in range(3)
    ]
    assert not (out / ".bonepick").exists()
    assert _hf_cache_files() == before  # no hidden copy left in the HF cache

    again = tmp_path / "again"
    cli("import-hf-dataset", "-n", folder, "-o", again, "-t", "0.2", "--rows-per-shard", "80", "-p", "1")
    assert _rows(again, "test") == got_test  # same seed, same split


def test_import_data_files_and_streaming(cli, tmp_path: Path, local_source) -> None:
    folder, train, _valid = local_source
    before = _hf_cache_files()
    out = tmp_path / "stream"
    cli(
        "import-hf-dataset",
        "-n",
        "json",
        "--data-files",
        str(folder / "train.jsonl"),
        "-o",
        out,
        "-t",
        "30",
        "--streaming",
        "--rows-per-shard",
        "100",
    )
    got_train, got_test = _rows(out, "train"), _rows(out, "test")
    assert len(got_test) == 30 and len(got_train) == 220  # exact count, reservoir sample
    assert sorted(r["id"] for r in got_train + got_test) == sorted(r["id"] for r in train)
    assert not (out / "valid").exists()
    assert _hf_cache_files() == before

    single = tmp_path / "file"
    cli("import-hf-dataset", "-n", folder / "train.jsonl", "-o", single, "-t", "0.1", "-p", "1")
    assert len(_rows(single, "test")) == 25


def test_import_usage_errors(cli, tmp_path: Path, local_source) -> None:
    folder, _train, _valid = local_source
    result = cli("import-hf-dataset", "-n", folder, "-o", tmp_path / "o", "-p", "1", expect=1)
    assert "no test split" in result.output and "--test-split" in result.output
    result = cli("import-hf-dataset", "-n", tmp_path / "missing", "-o", tmp_path / "o", expect=1)
    assert "no such file or folder" in result.output
    result = cli(
        "import-hf-dataset", "-n", folder, "-o", tmp_path / "o", "--split", "nope", "-t", "0.1", expect=1
    )
    assert "not in the dataset" in result.output
    result = cli("import-hf-dataset", "-n", folder, "-o", tmp_path / "o", "-t", "1.5", expect=1)
    assert "--test-split" in result.output
