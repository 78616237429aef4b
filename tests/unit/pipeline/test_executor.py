from pathlib import Path
from typing import Any

import pytest

from bonepick.errors import DataError, UsageError
from bonepick.io import read_rows, write_rows
from bonepick.io.dataset import discover_dataset
from bonepick.pipeline import LocalExecutor, ShardStats, ShardTask, Step
from bonepick.pipeline.executor import slice_tasks
from bonepick.pipeline.tasks import plan_mirrored_tasks


class CountStep(Step):
    name = "count"
    resumable = False

    def setup(self) -> None:
        self.ready = True

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        assert self.ready
        n = sum(1 for _ in read_rows(task.input))
        stats.read(n)
        return n


class FailOn(Step):
    name = "fail"

    def __init__(self, bad: str) -> None:
        self.bad = bad

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        if task.input.name == self.bad:
            raise DataError("bad row", task.input, 7)
        return None


def _make(tmp_path: Path, shards: int = 6) -> list[ShardTask]:
    for i in range(shards):
        write_rows(tmp_path / "in" / "train" / f"s{i}.jsonl", [{"i": j} for j in range(i + 1)])
    return plan_mirrored_tasks([discover_dataset(tmp_path / "in")], tmp_path / "out")


@pytest.mark.parametrize("num_proc", [1, 2])
def test_results_in_task_order(tmp_path: Path, num_proc: int) -> None:
    tasks = _make(tmp_path)
    summary = LocalExecutor(num_proc).run(CountStep(), tasks)
    assert summary.values() == [1, 2, 3, 4, 5, 6]
    assert summary.totals().rows_in == 21


@pytest.mark.parametrize("num_proc", [1, 2])
def test_first_error_stops_the_run_with_its_location(tmp_path: Path, num_proc: int) -> None:
    tasks = _make(tmp_path)
    with pytest.raises(DataError, match=r"s3.jsonl:7: bad row"):
        LocalExecutor(num_proc).run(FailOn("s3.jsonl"), tasks)


def test_rank_slices_cover_every_task_once(tmp_path: Path) -> None:
    tasks = _make(tmp_path, shards=7)
    seen = [t.key for rank in range(3) for t in slice_tasks(tasks, rank, 3)]
    assert sorted(seen) == sorted(t.key for t in tasks)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(("rank", "world"), [(3, 3), (-1, 2), (0, 0)])
def test_bad_rank_world(rank: int, world: int) -> None:
    with pytest.raises(UsageError):
        slice_tasks([], rank, world)


class PidStep(Step):
    name = "pid"
    resumable = False

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        import os

        return (self.tag, os.getpid())


def test_kept_workers_serve_every_pass_with_that_pass_step(tmp_path: Path) -> None:
    """As a context manager the executor starts its workers once: the second run reuses them,
    and each run's tasks see that run's step; after an error the next run starts afresh."""
    tasks = _make(tmp_path)
    with LocalExecutor(2) as executor:
        first = executor.run(PidStep("a"), tasks).values()
        second = executor.run(PidStep("b"), tasks).values()
        assert {tag for tag, _ in first} == {"a"} and {tag for tag, _ in second} == {"b"}
        assert {pid for _, pid in second} <= {pid for _, pid in first}
        with pytest.raises(DataError, match="bad row"):
            executor.run(FailOn(tasks[2].input.name), tasks)
        third = executor.run(PidStep("c"), tasks).values()
        assert {tag for tag, _ in third} == {"c"}
    assert executor._pool is None  # stopped on leaving the block
