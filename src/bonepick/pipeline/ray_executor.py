"""Run a step's shards as Ray tasks: on a cluster (``ray.init(address=...)``) or on a local Ray
instance started for the run.

Only :meth:`RayExecutor._execute` is Ray-specific; slicing, resume, temporaries and markers come
from :class:`~bonepick.pipeline.executor.Executor`, and each task runs the same
:func:`~bonepick.pipeline.executor.execute_task` as the local engine, so outputs are identical.
Ray is imported only when this executor runs (``pip install 'bonepick[ray]'``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from bonepick.errors import BonepickError, MissingDependencyError, UsageError
from bonepick.pipeline import progress as progress_mod
from bonepick.pipeline.executor import Executor, execute_task
from bonepick.pipeline.step import ShardTask, Step, TaskResult

#: seconds between progress updates while waiting for tasks
POLL_SECONDS = 0.2
#: the row-counting actor (named, so that runs from the same driver share one)
COUNTER_NAME = "bonepick_row_counter"


class RayExecutor(Executor):
    """Each pending shard becomes one Ray task requesting ``num_cpus_per_task`` CPUs and
    ``num_gpus_per_task`` GPUs; at most ``num_proc`` run at once (default: as many as the
    cluster's CPUs allow). A worker process sets the step up once and reuses it for every later
    task of the same run. The first failure cancels the rest.
    """

    def __init__(
        self,
        num_proc: int | None = None,
        *,
        ray_address: str | None = None,
        num_cpus_per_task: float = 1.0,
        num_gpus_per_task: float = 0.0,
        **common: Any,
    ) -> None:
        """``common``: the options of every executor (``overwrite``, ``rank``, ``world_size``,
        ``progress``)."""
        super().__init__(num_proc, **common)
        if num_cpus_per_task < 0 or num_gpus_per_task < 0:
            raise UsageError("CPUs and GPUs per task cannot be negative")
        if num_cpus_per_task == 0 and num_gpus_per_task == 0:
            raise UsageError("a Ray task must request some CPU or GPU", hint="set --num-cpus-per-task")
        self.requested_num_proc = num_proc
        self.ray_address = ray_address
        self.num_cpus_per_task = num_cpus_per_task
        self.num_gpus_per_task = num_gpus_per_task

    def _execute(self, step: Step, tasks: list[ShardTask], state_dir: Path | None) -> list[TaskResult]:
        # Ray workers do not run in this process's working directory: send absolute paths
        tasks = [_absolute(task) for task in tasks]
        state_dir = state_dir.absolute() if state_dir is not None else None
        ray = import_ray()
        started_here = False
        if not ray.is_initialized():
            self._init(ray)
            started_here = True
        try:
            return self._run_tasks(ray, step, tasks, state_dir)
        finally:
            if started_here:
                ray.shutdown()

    def _init(self, ray: Any) -> None:
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR}
        if self.ray_address:
            ray.init(address=self.ray_address, **options)
        else:
            cpus = None
            if self.requested_num_proc is not None:
                cpus = max(1, int(self.requested_num_proc * max(self.num_cpus_per_task, 1)))
            ray.init(num_cpus=cpus, **options)

    def concurrency(self, ray: Any, n_tasks: int) -> int:
        """Tasks in flight at once: ``num_proc`` when given, else what the cluster can hold."""
        if self.requested_num_proc is not None:
            return max(1, min(self.requested_num_proc, n_tasks))
        resources = ray.cluster_resources()
        fits = []
        if self.num_cpus_per_task > 0:
            fits.append(int(resources.get("CPU", 1) // self.num_cpus_per_task))
        if self.num_gpus_per_task > 0:
            gpus = resources.get("GPU", 0)
            if gpus < self.num_gpus_per_task:
                raise UsageError(
                    f"each task asks for {self.num_gpus_per_task:g} GPU(s) but the Ray cluster has {gpus:g}",
                    hint="lower --num-gpus-per-task or connect to a cluster with GPUs (--ray-address)",
                )
            fits.append(int(gpus // self.num_gpus_per_task))
        return max(1, min(min(fits), n_tasks))

    def _run_tasks(
        self, ray: Any, step: Step, tasks: list[ShardTask], state_dir: Path | None
    ) -> list[TaskResult]:
        limit = self.concurrency(ray, len(tasks))
        remote = ray.remote(_run_task).options(
            num_cpus=self.num_cpus_per_task, num_gpus=self.num_gpus_per_task
        )
        # one counter per driver, reused by later runs (starting an actor costs a worker process)
        counter = ray.remote(_RowCounter).options(name=COUNTER_NAME, get_if_exists=True, num_cpus=0).remote()
        ray.get(counter.take.remote())  # start from zero
        sink = _CounterSink(counter)
        token = uuid.uuid4().hex
        step_ref = ray.put(step)
        queue = list(reversed(tasks))
        in_flight: dict[Any, ShardTask] = {}
        results: list[TaskResult] = []
        try:
            while queue or in_flight:
                while queue and len(in_flight) < limit:
                    task = queue.pop()
                    in_flight[remote.remote(token, step_ref, task, state_dir, sink)] = task
                ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
                self._drain(ray, counter)
                for ref in ready:
                    del in_flight[ref]
                    outcome = ray.get(ref)
                    if isinstance(outcome, _Failed):
                        raise outcome.error
                    results.append(outcome)
                    self.progress.shard_done()
            self._drain(ray, counter)
        except BaseException:
            for ref in in_flight:
                with contextlib.suppress(Exception):  # already finished or gone
                    ray.cancel(ref, force=True)
            raise
        return results

    def _drain(self, ray: Any, counter: Any) -> None:
        rows, nbytes = ray.get(counter.take.remote())
        if rows or nbytes:
            self.progress.rows(rows, nbytes)


def _absolute(task: ShardTask) -> ShardTask:
    output = task.output.absolute() if task.output is not None else None
    params = {k: v.absolute() if isinstance(v, Path) else v for k, v in task.params.items()}
    return dataclasses.replace(task, input=task.input.absolute(), output=output, params=params)


def import_ray() -> Any:
    # Ray's `uv run` integration (read when ray is imported) would rebuild this environment for
    # every worker from the working directory; bonepick's workers use the installed interpreter.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    try:
        import ray
    except ImportError as error:
        raise MissingDependencyError("ray", extra="ray", purpose="--engine ray") from error
    return ray


class _Failed:
    """A user-facing error raised inside a task, carried back intact (not wrapped by Ray)."""

    def __init__(self, error: BonepickError) -> None:
        self.error = error


class _RowCounter:
    """Collects row counts from every task for the live progress bar (a Ray actor)."""

    def __init__(self) -> None:
        self.rows = 0
        self.nbytes = 0

    def add(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.nbytes += nbytes

    def take(self) -> tuple[int, int]:
        taken = (self.rows, self.nbytes)
        self.rows = self.nbytes = 0
        return taken


class _CounterSink:
    """Looks like the queue that :mod:`bonepick.pipeline.progress` reports to; sends to the actor
    without waiting."""

    def __init__(self, counter: Any) -> None:
        self.counter = counter

    def put(self, item: tuple[int, int]) -> None:
        self.counter.add.remote(*item)


#: the step this worker process has set up, by run token
_worker: tuple[str, Step] | None = None


def _run_task(token: str, step: Step, task: ShardTask, state_dir: Path | None, sink: _CounterSink) -> Any:
    global _worker
    progress_mod.install(sink)
    try:
        if _worker is None or _worker[0] != token:
            _worker = None
            step.setup()
            _worker = (token, step)
        return execute_task(_worker[1], task, state_dir)
    except BonepickError as error:
        return _Failed(error)
    finally:
        progress_mod.install(None)
