"""Where score files go, the step's pickling, and the Ray engine's lazy import."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from bonepick.errors import InputNotFoundError, UsageError
from bonepick.infer.layout import find_mirror, iter_shards, plan_tasks
from bonepick.infer.step import InferStep
from bonepick.io import discover_datasets, write_rows
from bonepick.pipeline import make_executor


def _make(root: Path, names: list[str]) -> None:
    for name in names:
        write_rows(root / name, [{"id": name, "text": "x"}])


def test_flat_stays_flat_and_splits_stay_splits(tmp_path: Path) -> None:
    _make(tmp_path / "flat", ["a.jsonl.gz", "sub/b.jsonl"])
    _make(tmp_path / "split", ["train/c.jsonl.zst", "test/d.json"])
    _, tasks = plan_tasks([tmp_path / "flat"], tmp_path / "out")
    assert [t.key for t in tasks] == ["a.jsonl.zst", "sub/b.jsonl.zst"]
    assert [t.split for t in tasks] == [None, None]
    _, tasks = plan_tasks([tmp_path / "flat", tmp_path / "split"], tmp_path / "out", "gzip")
    assert [t.key for t in tasks] == [
        "flat/a.jsonl.gz",
        "flat/sub/b.jsonl.gz",
        "train/split/c.jsonl.gz",
        "test/split/d.jsonl.gz",
    ]
    # filter finds the score files whatever their compression
    (tmp_path / "scores" / "sub").mkdir(parents=True)
    (tmp_path / "scores" / "sub" / "b.jsonl").write_text("{}\n")
    shards = list(iter_shards(discover_datasets([tmp_path / "flat"])))
    assert find_mirror(tmp_path / "scores", shards[1]) == tmp_path / "scores" / "sub" / "b.jsonl"
    with pytest.raises(InputNotFoundError, match="no score file for"):
        find_mirror(tmp_path / "scores", shards[0])


def test_output_inside_the_input_is_refused(tmp_path: Path) -> None:
    _make(tmp_path / "docs", ["a.jsonl"])
    with pytest.raises(UsageError, match="inside the input folder"):
        plan_tasks([tmp_path / "docs"], tmp_path / "docs" / "scores")
    # a single file as input: its folder may hold the output
    _, tasks = plan_tasks([tmp_path / "docs" / "a.jsonl"], tmp_path / "docs" / "scores")
    assert tasks[0].output == tmp_path / "docs" / "scores" / "a.jsonl.zst"


def test_step_travels_without_its_model(tmp_path: Path) -> None:
    step = InferStep(tmp_path, "q", output="inline", batch_size=8, threads=1)
    step.model = object()  # stands for a loaded model (which may weigh gigabytes)
    clone = pickle.loads(pickle.dumps(step))
    assert clone.model is None and clone.field == "q" and clone.inline and clone.batch_size == 8


def test_ray_engine_takes_the_local_options_and_imports_ray_lazily() -> None:
    executor = make_executor(
        "ray",
        num_proc=3,
        overwrite=True,
        rank=1,
        world_size=2,
        progress=None,
        ray_address="auto",
        num_cpus_per_task=2,
        num_gpus_per_task=0.5,
    )
    assert (executor.num_proc, executor.rank, executor.world_size, executor.overwrite) == (3, 1, 2, True)
    assert (executor.ray_address, executor.num_cpus_per_task, executor.num_gpus_per_task) == ("auto", 2, 0.5)
    code = (
        "import sys, bonepick.pipeline.ray_executor, bonepick.cli.main, bonepick.infer;"
        "print('ray' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
    with pytest.raises(UsageError):
        make_executor("ray", num_cpus_per_task=0, num_gpus_per_task=0)
