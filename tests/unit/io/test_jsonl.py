from pathlib import Path

import pytest

from bonepick.errors import DataError
from bonepick.io import RotatingShardWriter, ShardWriter, iter_rows, read_rows, write_rows

ROWS = [{"id": i, "text": f"row {i} — ünïcode ✓", "label": i % 3} for i in range(250)]


@pytest.mark.parametrize(
    "name", ["a.jsonl", "a.json", "a.jsonl.gz", "a.jsonl.gzip", "a.jsonl.zst", "a.v2.jsonl.zstd"]
)
def test_round_trip_every_compression(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    assert write_rows(path, ROWS) == len(ROWS)
    assert list(read_rows(path)) == ROWS


def test_compressed_files_really_are_compressed(tmp_path: Path) -> None:
    write_rows(tmp_path / "a.jsonl.zst", ROWS)
    write_rows(tmp_path / "a.jsonl.gz", ROWS)
    assert (tmp_path / "a.jsonl.zst").read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    assert (tmp_path / "a.jsonl.gz").read_bytes()[:2] == b"\x1f\x8b"


def test_line_numbers_skip_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert [line for line, _ in iter_rows(path)] == [1, 3]


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(DataError) as info:
        list(read_rows(path))
    assert f"{path}:3:" in str(info.value)


def test_non_object_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("[1, 2]\n")
    with pytest.raises(DataError, match=r"bad.jsonl:1: expected a JSON object"):
        list(read_rows(path))


def test_corrupt_zstd_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl.zst"
    path.write_bytes(b"not zstd at all")
    with pytest.raises(DataError, match="cannot decompress"):
        list(read_rows(path))


def test_empty_shard(tmp_path: Path) -> None:
    write_rows(tmp_path / "e.jsonl.zst", [])
    assert list(read_rows(tmp_path / "e.jsonl.zst")) == []


def test_writer_publishes_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "out" / "a.jsonl.zst"
    with pytest.raises(RuntimeError), ShardWriter(path) as writer:
        writer.write({"a": 1})
        raise RuntimeError("boom")
    assert not path.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_writer_output_is_deterministic(tmp_path: Path) -> None:
    for name in ["a.jsonl.gz", "b.jsonl.gz"]:
        write_rows(tmp_path / name, ROWS)
    assert (tmp_path / "a.jsonl.gz").read_bytes() == (tmp_path / "b.jsonl.gz").read_bytes()


def test_rotating_writer(tmp_path: Path) -> None:
    with RotatingShardWriter(tmp_path, rows_per_shard=100) as writer:
        for row in ROWS:
            writer.write(row)
    assert [p.name for p in writer.paths] == [
        "shard_00000.jsonl.zst",
        "shard_00001.jsonl.zst",
        "shard_00002.jsonl.zst",
    ]
    assert [len(list(read_rows(p))) for p in writer.paths] == [100, 100, 50]


def test_multi_frame_zstd_is_read_whole(tmp_path: Path) -> None:
    """Files made by concatenating zstd streams (e.g. `cat a.zst b.zst`) hold several frames."""
    import zstandard

    from bonepick.io.jsonl import dumps_row

    path = tmp_path / "multi.jsonl.zst"
    frames = [
        zstandard.ZstdCompressor().compress(b"".join(dumps_row(r) for r in part))
        for part in (ROWS[:100], ROWS[100:])
    ]
    path.write_bytes(b"".join(frames))
    assert list(read_rows(path)) == ROWS


def test_zstd_bytes_do_not_depend_on_compression_threads(tmp_path: Path) -> None:
    """Output must be reproducible on any machine: zstd's worker count never changes the bytes."""
    from bonepick.io import jsonl
    from tests.conftest import SPAM

    rows = list(read_rows(SPAM / "train" / "part_00.jsonl.zst")) * 12  # ~10 MB: several zstd jobs
    saved = jsonl.ZSTD_WORKER_THREADS
    digests = set()
    try:
        for threads in (1, 2, 3):
            jsonl.ZSTD_WORKER_THREADS = threads
            write_rows(tmp_path / f"t{threads}.jsonl.zst", rows)
            digests.add((tmp_path / f"t{threads}.jsonl.zst").read_bytes())
    finally:
        jsonl.ZSTD_WORKER_THREADS = saved
    assert len(digests) == 1
