"""Executors run a :class:`Step` over shard tasks and own everything around it: slicing by
rank/world size, skipping completed shards (completion markers), cleaning temporaries left by
interrupted runs, progress, fail-fast error handling and per-shard statistics.

Backends subclass :class:`Executor` and implement only :meth:`Executor._execute`; the per-task
body is :func:`execute_task`, shared by every backend.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bonepick.errors import UsageError
from bonepick.io.atomic import atomic_write_bytes, clean_temporaries
from bonepick.pipeline import progress as progress_mod
from bonepick.pipeline.progress import NullProgress, ProgressSink
from bonepick.pipeline.settings import STATE_DIR, check_same_settings
from bonepick.pipeline.stats import ShardStats
from bonepick.pipeline.step import ShardTask, Step, TaskResult


@dataclass
class RunSummary:
    """Everything a run did, per shard; summed per split for reports and provenance."""

    step: str
    results: list[TaskResult] = field(default_factory=list)
    seconds: float = 0.0
    num_proc: int = 1
    rank: int = 0
    world_size: int = 1
    temporaries_cleaned: int = 0

    @property
    def shards(self) -> int:
        return len(self.results)

    @property
    def shards_resumed(self) -> int:
        return sum(1 for r in self.results if r.resumed)

    def totals(self) -> ShardStats:
        total = ShardStats()
        for result in self.results:
            total.merge(result.stats)
        return total

    def by_split(self) -> dict[str, ShardStats]:
        splits: dict[str, ShardStats] = {}
        for result in self.results:
            splits.setdefault(result.task.split or "all", ShardStats()).merge(result.stats)
        return splits

    @property
    def notes(self) -> list[str]:
        """Things the user should know about how the input was read."""
        flat = sorted({r.task.params["flat_root"] for r in self.results if "flat_root" in r.task.params})
        return [
            f"{root} has no train/, valid/ or test/ folders: all its shards were read as one split "
            f"'{next(r.task.split for r in self.results if r.task.params.get('flat_root') == root)}'"
            for root in flat
        ]

    def values(self) -> list[Any]:
        """The steps' return values in task order."""
        return [r.result for r in self.results]

    def to_dict(self) -> dict[str, Any]:
        totals = self.totals()
        return {
            "step": self.step,
            "shards": self.shards,
            "shards_resumed": self.shards_resumed,
            "num_proc": self.num_proc,
            "rank": self.rank,
            "world_size": self.world_size,
            "seconds": round(self.seconds, 3),
            "rows_in": totals.rows_in,
            "rows_out": totals.rows_out,
            "rows_skipped": dict(sorted(totals.skipped.items())),
            "splits": {name: s.to_dict() for name, s in sorted(self.by_split().items())},
        }


def marker_path(state_dir: Path, task: ShardTask) -> Path:
    return state_dir / "done" / f"{task.key}.json"


def execute_task(step: Step, task: ShardTask, state_dir: Path | None) -> TaskResult:
    """Run one task and, when it writes outputs, record its completion marker with its stats."""
    stats = ShardStats()
    started = time.perf_counter()
    result = step.run(task, stats)
    stats.seconds = time.perf_counter() - started
    progress_mod.flush()
    if state_dir is not None and step.resumable and task.output is not None:
        payload = {"key": task.key, "input": str(task.input), "stats": stats.to_dict()}
        atomic_write_bytes(marker_path(state_dir, task), orjson.dumps(payload))
    return TaskResult(task=task, stats=stats, result=result)


def slice_tasks(tasks: Sequence[ShardTask], rank: int, world_size: int) -> list[ShardTask]:
    """Round-robin slice of the (sorted) task list: rank r takes tasks r, r+W, r+2W, ..."""
    if world_size < 1:
        raise UsageError(f"--world-size must be at least 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise UsageError(f"--rank must be between 0 and {world_size - 1}, got {rank}")
    return list(tasks[rank::world_size])


class Executor:
    """Common run loop; subclasses provide :meth:`_execute`."""

    def __init__(
        self,
        num_proc: int | None = None,
        *,
        overwrite: bool = False,
        rank: int = 0,
        world_size: int = 1,
        progress: ProgressSink | None = None,
    ) -> None:
        self.num_proc = max(1, num_proc or os.cpu_count() or 1)
        self.overwrite = overwrite
        self.rank = rank
        self.world_size = world_size
        self.progress: ProgressSink = progress or NullProgress()

    def run(
        self,
        step: Step,
        tasks: Sequence[ShardTask],
        output_root: Path | None = None,
        description: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> RunSummary:
        """Run ``step`` over ``tasks``; completed shards under ``output_root`` are skipped.

        ``settings`` (inputs and options that change the output) are recorded in the output
        folder; a rerun with other settings stops instead of resuming, unless it overwrites.
        """
        started = time.perf_counter()
        mine = slice_tasks(tasks, self.rank, self.world_size)
        state_dir = Path(output_root) / STATE_DIR if output_root is not None else None
        if settings is not None and output_root is not None:
            # with no completed shard there is nothing to mix up: new settings simply replace old ones
            done_dir = Path(output_root) / STATE_DIR / "done"
            nothing_done = (
                not any(p.is_file() for p in done_dir.rglob("*.json")) if done_dir.is_dir() else True
            )
            check_same_settings(
                Path(output_root), f"{step.name}-settings", settings, self.overwrite or nothing_done
            )
        cleaned = clean_temporaries(output_root) if output_root is not None else 0
        summary = RunSummary(
            step=step.name, rank=self.rank, world_size=self.world_size, temporaries_cleaned=cleaned
        )
        done: list[TaskResult] = []
        pending: list[ShardTask] = []
        for task in mine:
            previous = self._completed(step, task, state_dir)
            if previous is not None:
                done.append(previous)
            else:
                pending.append(task)
        summary.num_proc = min(self.num_proc, max(1, len(pending)))
        self.progress.start(description or step.name, len(mine))
        for _ in done:
            self.progress.shard_done(skipped=True)
        try:
            fresh = self._execute(step, pending, state_dir) if pending else []
        finally:
            self.progress.stop()
        summary.results = sorted(done + fresh, key=lambda r: r.task.index)
        summary.seconds = time.perf_counter() - started
        return summary

    def _completed(self, step: Step, task: ShardTask, state_dir: Path | None) -> TaskResult | None:
        if self.overwrite or state_dir is None or not step.resumable or task.output is None:
            return None
        marker = marker_path(state_dir, task)
        if not (marker.is_file() and task.output.exists()):
            return None
        try:
            payload = orjson.loads(marker.read_bytes())
        except orjson.JSONDecodeError:
            return None
        return TaskResult(task=task, stats=ShardStats.from_dict(payload.get("stats", {})), resumed=True)

    def _execute(self, step: Step, tasks: list[ShardTask], state_dir: Path | None) -> list[TaskResult]:
        raise NotImplementedError


class LocalExecutor(Executor):
    """Runs in this process for one worker, else in a pool of spawned worker processes.

    The step is sent to each worker once (and set up once there), tasks are sent one by one; the
    first failure cancels everything still queued and stops the workers.

    Used as a context manager, the executor keeps its worker processes between runs, so a stage
    of several passes (sample, balance, reshard) starts its workers once instead of once a pass.
    """

    start_method = "spawn"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keep_pool = False
        self._pool: ProcessPoolExecutor | None = None
        self._pool_queue: Any = None
        self._pool_workers = 0
        self._runs = 0

    def __enter__(self) -> LocalExecutor:
        self._keep_pool = True
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the kept worker processes (if any)."""
        self._keep_pool = False
        self._drop_pool(wait=True)

    def _drop_pool(self, wait: bool) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool_queue.close()
            self._pool = self._pool_queue = None
            self._pool_workers = 0

    def _execute(self, step: Step, tasks: list[ShardTask], state_dir: Path | None) -> list[TaskResult]:
        workers = min(self.num_proc, len(tasks))
        if workers <= 1:
            return self._execute_inline(step, tasks, state_dir)
        if self._keep_pool:
            return self._execute_kept_pool(step, tasks, state_dir, max(workers, self._pool_workers))
        return self._execute_pool(step, tasks, state_dir, workers)

    def _execute_inline(self, step: Step, tasks: list[ShardTask], state_dir: Path | None) -> list[TaskResult]:
        progress_mod.install(self.progress)
        try:
            step.setup()
            results = []
            for task in tasks:
                results.append(execute_task(step, task, state_dir))
                self.progress.shard_done()
            return results
        finally:
            progress_mod.flush()
            progress_mod.install(None)

    def _execute_pool(
        self, step: Step, tasks: list[ShardTask], state_dir: Path | None, workers: int
    ) -> list[TaskResult]:
        ctx = mp.get_context(self.start_method)
        queue = ctx.Queue()
        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(step, queue, state_dir)
        )
        try:
            results = self._collect(pool, queue, {pool.submit(_run_in_worker, task) for task in tasks})
            pool.shutdown(wait=True)
        finally:
            queue.close()
        return results

    def _execute_kept_pool(
        self, step: Step, tasks: list[ShardTask], state_dir: Path | None, workers: int
    ) -> list[TaskResult]:
        if self._pool is None or self._pool_workers != workers:
            self._drop_pool(wait=True)
            ctx = mp.get_context(self.start_method)
            self._pool_queue = ctx.Queue()
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=ctx,
                initializer=_init_kept_worker,
                initargs=(self._pool_queue,),
            )
            self._pool_workers = workers
        self._runs += 1
        token = f"{os.getpid()}-{id(self)}-{self._runs}"
        # the step goes to each worker once, through a file, not pickled into every task
        with tempfile.TemporaryDirectory(prefix="bonepick-step-") as folder:
            step_path = Path(folder) / "step.pickle"
            step_path.write_bytes(pickle.dumps(step, protocol=pickle.HIGHEST_PROTOCOL))
            futures = {
                self._pool.submit(_run_in_kept_worker, token, str(step_path), state_dir, task)
                for task in tasks
            }
            try:
                return self._collect(self._pool, self._pool_queue, futures)
            except BaseException:
                self._pool = None  # _collect stopped it
                self._pool_queue.close()
                self._pool_queue, self._pool_workers = None, 0
                raise

    def _collect(self, pool: ProcessPoolExecutor, queue: Any, futures: set[Future]) -> list[TaskResult]:
        """Results as the workers finish them (progress forwarded); the first error stops the pool."""
        results: list[TaskResult] = []
        try:
            remaining = set(futures)
            while remaining:
                finished, remaining = wait(remaining, timeout=0.1, return_when=FIRST_COMPLETED)
                self._drain(queue)
                for future in finished:
                    results.append(future.result())  # re-raises the worker's error: fail fast
                    self.progress.shard_done()
            self._drain(queue)
        except BaseException:
            _stop_pool(pool, futures)
            raise
        return results

    def _drain(self, queue: Any) -> None:
        while True:
            try:
                rows, nbytes = queue.get_nowait()
            except Exception:  # queue.Empty, or the queue was closed
                return
            self.progress.rows(rows, nbytes)


def _stop_pool(pool: ProcessPoolExecutor, futures: set[Future]) -> None:
    for future in futures:
        future.cancel()
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)


_worker_step: Step | None = None
_worker_state_dir: Path | None = None
_worker_ready = False


def _init_worker(step: Step, queue: Any, state_dir: Path | None) -> None:
    global _worker_step, _worker_state_dir, _worker_ready
    _worker_step, _worker_state_dir, _worker_ready = step, state_dir, False
    progress_mod.install(queue)


_worker_token: str | None = None


def _init_kept_worker(queue: Any) -> None:
    progress_mod.install(queue)


def _run_in_kept_worker(token: str, step_path: str, state_dir: Path | None, task: ShardTask) -> TaskResult:
    """A task of a kept pool: the run's step is loaded (and set up) when the run changes."""
    global _worker_step, _worker_token
    if _worker_token != token:
        _worker_step = pickle.loads(Path(step_path).read_bytes())
        _worker_step.setup()
        _worker_token = token
    assert _worker_step is not None
    return execute_task(_worker_step, task, state_dir)


def _run_in_worker(task: ShardTask) -> TaskResult:
    global _worker_ready
    assert _worker_step is not None
    if not _worker_ready:
        _worker_step.setup()
        _worker_ready = True
    return execute_task(_worker_step, task, _worker_state_dir)


ExecutorFactory = Callable[..., Executor]
_BACKENDS: dict[str, str] = {
    "local": "bonepick.pipeline.executor:LocalExecutor",
    "ray": "bonepick.pipeline.ray_executor:RayExecutor",
}


def make_executor(engine: str = "local", **kwargs: Any) -> Executor:
    """Build the executor for ``engine`` (``local`` or ``ray``), importing its backend lazily."""
    import importlib

    if engine not in _BACKENDS:
        raise UsageError(f"unknown engine '{engine}'", hint=f"use one of: {', '.join(_BACKENDS)}")
    module_name, _, class_name = _BACKENDS[engine].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise UsageError(f"the '{engine}' engine is not available ({error})") from error
    return getattr(module, class_name)(**kwargs)


def run_step(
    step: Step,
    tasks: Sequence[ShardTask],
    output_root: Path | None = None,
    *,
    num_proc: int | None = None,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
    description: str | None = None,
) -> RunSummary:
    """Run a step locally: the one-call form for library users and notebooks."""
    executor = LocalExecutor(num_proc, overwrite=overwrite, progress=progress)
    return executor.run(step, tasks, output_root, description)
