"""Shard discovery, JSON Lines reading and writing, atomic files and the dataset layout."""

from bonepick.io.atomic import TEMP_MARK, atomic_path, clean_temporaries
from bonepick.io.dataset import SPLIT_NAMES, Dataset, discover_dataset, discover_datasets
from bonepick.io.jsonl import RotatingShardWriter, ShardWriter, iter_rows, read_rows, write_rows
from bonepick.io.shards import compression_of, find_shards, is_shard, shard_stem

__all__ = [
    "SPLIT_NAMES",
    "TEMP_MARK",
    "Dataset",
    "RotatingShardWriter",
    "ShardWriter",
    "atomic_path",
    "clean_temporaries",
    "compression_of",
    "discover_dataset",
    "discover_datasets",
    "find_shards",
    "is_shard",
    "iter_rows",
    "read_rows",
    "shard_stem",
    "write_rows",
]
