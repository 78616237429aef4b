"""Data preparation commands."""

from __future__ import annotations

from bonepick.cli.app import command
from bonepick.cli.options import (
    Compression,
    CompressionLevel,
    InputDirs,
    NumProc,
    OutputDir,
    Overwrite,
    check_num_proc,
    parse_compression,
)


@command("data")
def copy_dataset(
    input_dir: InputDirs,
    output_dir: OutputDir,
    compression: Compression = "zst",
    compression_level: CompressionLevel = None,
    num_proc: NumProc = None,
    overwrite: Overwrite = False,
) -> None:
    """Copy datasets shard by shard, checking every row and (re)compressing.

    The output mirrors the input's splits and file names; several inputs land in sub-folders named
    after them. A rerun skips shards that are already complete.
    """
    from bonepick.cli.common import finish, progress
    from bonepick.data.copy import copy_dataset as run

    summary = run(
        input_dir,
        output_dir,
        compression=parse_compression(compression),
        compression_level=compression_level,
        num_proc=check_num_proc(num_proc),
        overwrite=overwrite,
        progress=progress(),
    )
    finish(output_dir, summary, "copy-dataset")
