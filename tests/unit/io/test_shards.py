from pathlib import Path

import pytest

from bonepick.errors import InputNotFoundError
from bonepick.io import compression_of, find_shards, is_shard, shard_stem
from bonepick.io.dataset import discover_dataset, mirrored_output, source_tags


@pytest.mark.parametrize(
    ("name", "stem", "compression"),
    [
        ("a.jsonl", "a", "none"),
        ("a.json", "a", "none"),
        ("part.v2.jsonl.zst", "part.v2", "zstd"),
        ("x.y.z.jsonl.zstd", "x.y.z", "zstd"),
        ("b.jsonl.gz", "b", "gzip"),
        ("b.json.gzip", "b", "gzip"),
        ("UPPER.JSONL.ZST", "UPPER", "zstd"),
    ],
)
def test_shard_names(name: str, stem: str, compression: str) -> None:
    assert is_shard(name)
    assert shard_stem(name) == stem
    assert compression_of(name) == compression


@pytest.mark.parametrize("name", ["a.txt", "a.zst", ".hidden.jsonl", "_state.jsonl", "jsonl", ".jsonl.zst"])
def test_not_shards(name: str) -> None:
    assert not is_shard(name)


def test_find_shards_recursive_sorted_and_skips_hidden(tmp_path: Path) -> None:
    for rel in [
        "b/2.jsonl",
        "a/10.jsonl.gz",
        "a/9.jsonl.zst",
        "c.txt",
        ".bonepick/done/x.jsonl",
        "a/.tmp.jsonl",
    ]:
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in find_shards(tmp_path)]
    assert found == ["a/10.jsonl.gz", "a/9.jsonl.zst", "b/2.jsonl"]


def test_find_shards_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="no such folder"):
        find_shards(tmp_path / "nope")


def test_flat_folder_is_one_split(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("{}\n")
    dataset = discover_dataset(tmp_path)
    assert dataset.flat and list(dataset.splits) == ["train"]


def test_validation_folder_is_valid_split(tmp_path: Path) -> None:
    for split in ["train", "validation", "test"]:
        (tmp_path / split).mkdir()
        (tmp_path / split / "x.jsonl").write_text("{}\n")
    assert sorted(discover_dataset(tmp_path).splits) == ["test", "train", "valid"]


def test_outputs_of_several_inputs_never_collide(tmp_path: Path) -> None:
    roots = [tmp_path / "one" / "data", tmp_path / "two" / "data", tmp_path / "other"]
    tags = source_tags(roots)
    assert len(set(tags)) == 3
    for root in roots:
        (root / "train").mkdir(parents=True)
        (root / "train" / "s.jsonl.gz").write_text("")
    outs = {
        mirrored_output(discover_dataset(root), "train", root / "train" / "s.jsonl.gz", tmp_path / "o", tag)
        for root, tag in zip(roots, tags, strict=True)
    }
    assert len(outs) == 3
    assert all(p.name == "s.jsonl.zst" for p in outs)
