"""Per-shard steps and the executors that run them (local processes, Ray, rank/world slices)."""

from bonepick.pipeline.executor import LocalExecutor, RunSummary, make_executor, run_step
from bonepick.pipeline.progress import NullProgress, ProgressSink
from bonepick.pipeline.stats import ShardStats
from bonepick.pipeline.step import FilterStep, MapStep, ShardTask, Step, TaskResult
from bonepick.pipeline.tasks import plan_mirrored_tasks

__all__ = [
    "FilterStep",
    "LocalExecutor",
    "MapStep",
    "NullProgress",
    "ProgressSink",
    "RunSummary",
    "ShardStats",
    "ShardTask",
    "Step",
    "TaskResult",
    "make_executor",
    "plan_mirrored_tasks",
    "run_step",
]
