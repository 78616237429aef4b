"""One fastText training or quantization in a fresh process.

Why a process of its own: fastText initializes only part of its input matrix (``thread``/10 of it
in ``DenseMatrix::uniform``) and reads other memory it never wrote, so its result depends on what
the allocator hands out. A fresh process gets zeroed pages, the way the fastText command line
tool always runs; a second training inside a long-lived process can start from a freed model's
bytes and give a different model from the same seed, or stop with "Encountered NaN". Running
each job here keeps ``--thread 1 --seed N`` bit-reproducible.

Protocol: ``python -P path/to/fasttext_worker.py REQUEST.json RESULT.json``; the request
says what to do, the result holds either what came out or ``{"error": message}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _train(request: dict[str, Any]) -> dict[str, Any]:
    import fasttext

    if request.get("memory_limit"):
        # autotune samples up to 10M buckets x 1000 dimensions (40 GB); over this address-space
        # limit the allocation fails and autotune skips that trial instead of swapping the host
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = int(request["memory_limit"])
        resource.setrlimit(
            resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard)
        )
    model = fasttext.train_supervised(**request["kwargs"])
    model.save_model(request["output"])
    args = model.f.getArgs()
    return {
        "labels": list(model.labels),
        "words": len(model.words),
        "args": {
            "lr": float(args.lr),
            "wordNgrams": int(args.wordNgrams),
            "minCount": int(args.minCount),
            "epoch": int(args.epoch),
            "bucket": int(args.bucket),
            "minn": int(args.minn),
            "maxn": int(args.maxn),
            "ws": int(args.ws),
            "dim": int(args.dim),
            "loss": args.loss.name,
            "neg": int(args.neg),
            "thread": int(args.thread),
            "seed": int(args.seed),
        },
    }


def _quantize(request: dict[str, Any]) -> dict[str, Any]:
    import fasttext

    model = fasttext.load_model(request["model"])
    model.quantize(**request["kwargs"])
    model.save_model(request["output"])
    return {"labels": list(model.labels)}


def main(argv: list[str]) -> int:
    request_path, result_path = Path(argv[0]), Path(argv[1])
    request = json.loads(request_path.read_text(encoding="utf-8"))
    try:
        result = {"train": _train, "quantize": _quantize}[request["mode"]](request)
    except Exception as error:  # reported to the parent, which turns it into a clear message
        result = {"error": str(error) or type(error).__name__, "type": type(error).__name__}
    result_path.write_text(json.dumps(result), encoding="utf-8")
    return 0 if "error" not in result else 1


class WorkerError(Exception):
    """fastText failed in the worker; the message is fastText's, ``log`` what it printed."""

    def __init__(self, message: str, log: str = "") -> None:
        super().__init__(message)
        self.log = log


_ARG_TYPES: dict[str, Any] = {
    "epoch": int, "lr": float, "dim": int, "minCount": int, "wordNgrams": int, "minn": int, "maxn": int,
    "bucket": int, "loss": str,
}  # fmt: skip
_REQUIRED = {"epoch", "lr", "dim", "wordNgrams", "bucket"}


def _read_args(lines: list[str]) -> tuple[dict[str, Any], int]:
    """``name = value`` lines (autotune's verbose output) from the start of ``lines``."""
    found: dict[str, Any] = {}
    used = 0
    for line in lines:
        name, sep, value = (part.strip() for part in line.partition("="))
        if not sep or name not in _ARG_TYPES and name != "dsub":
            break
        if name in _ARG_TYPES:
            found[name] = _ARG_TYPES[name](value)
        used += 1
    return found, used


def parse_best_autotune_args(log: str) -> dict[str, Any] | None:
    """The arguments autotune settled on ("Best selected args", verbose level 3), or None."""
    marker = log.rfind("Best selected args")
    if marker < 0:
        return None
    found, _ = _read_args(log[marker:].splitlines()[1:])
    return found if set(found) >= _REQUIRED and "loss" in found else None


def best_autotune_trial(log: str) -> tuple[float, dict[str, Any]] | None:
    """The best finished trial in autotune's verbose output: the first with the highest
    validation score (autotune's own rule), NaN scores skipped; None when no trial finished."""
    lines = log.splitlines()
    best: tuple[float, dict[str, Any]] | None = None
    for index, line in enumerate(lines):
        if not line.startswith("Trial = "):
            continue
        args, used = _read_args(lines[index + 1 :])
        after = lines[index + 1 + used] if index + 1 + used < len(lines) else ""
        if not after.startswith("currentScore = ") or not set(args) >= _REQUIRED:
            continue
        try:
            score = float(after.split("=", 1)[1])
        except ValueError:
            continue
        if score == score and (best is None or score > best[0]):  # score == score: not NaN
            best = (score, args)
    return best


def _stderr() -> Any:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): inherit ours
        return None


def _launch(request: dict[str, Any], work: Path, sink: Any, env: dict[str, str]) -> subprocess.Popen:
    (work / "request.json").write_text(json.dumps(request), encoding="utf-8")
    # run as a file, not ``-m``: the worker imports only the standard library and fastText;
    # -P keeps the working folder off the path (a fasttext.py there cannot shadow the bindings)
    command = [
        sys.executable,
        "-P",
        str(Path(__file__).resolve()),
        str(work / "request.json"),
        str(work / "result.json"),
    ]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=env)


def _read_log(work: Path) -> str:
    path = work / "output.log"
    return path.read_bytes().decode("utf-8", "replace").replace("\r", "\n") if path.is_file() else ""


def _result(work: Path, returncode: int) -> dict[str, Any]:
    """The worker's result, or WorkerError with fastText's message (or how the process died)."""
    result_path = work / "result.json"
    log = _read_log(work)
    if not result_path.is_file():
        how = f"exit code {returncode}"
        if returncode < 0:
            try:
                how = f"killed by {signal.Signals(-returncode).name}"
            except ValueError:
                how = f"killed by signal {-returncode}"
        lines = log.strip().splitlines()
        last = f"; its last words: {lines[-1][:300]}" if lines else ""
        raise WorkerError(f"the fastText process died ({how}){last}", log)
    result = json.loads(result_path.read_text(encoding="utf-8"))
    if "error" in result:
        raise WorkerError(result["error"], log)
    return result


def run_worker(request: dict[str, Any], show_output: bool = False) -> dict[str, Any]:
    """Run ``request`` in a fresh Python process and return its result (raises WorkerError).

    fastText prints progress itself (on both streams): with ``show_output`` it goes to our
    stderr, never to stdout (where results go); otherwise it is kept for error messages.
    """
    with tempfile.TemporaryDirectory(prefix="bonepick-fasttext-") as work_dir:
        work = Path(work_dir)
        with open(work / "output.log", "wb") as log:
            process = _launch(request, work, _stderr() if show_output else log, dict(os.environ))
            try:
                returncode = process.wait()
            except BaseException:
                process.kill()
                process.wait()
                raise
        return _result(work, returncode)


def run_autotune(request: dict[str, Any], duration: float) -> tuple[dict[str, Any], str]:
    """Run fastText's autotune for ``duration`` seconds and return the arguments it chose, and
    how they were found.

    Two fastText bugs are worked around. Its timer thread can start before autotune marks itself
    running, see nothing to time, and end: the trials then go on forever. So the budget is kept
    here: past ``duration`` (plus 2 s for autotune to announce its own choice) the process is
    stopped and the best finished trial in its verbose (level 3) log is taken, by autotune's own
    rule. And autotune retrains the chosen arguments in the same process, over its trials' freed
    memory (see above): the caller trains them in a fresh process instead, so this returns as
    soon as the choice is known.
    """
    deadline = time.monotonic() + duration + 2.0
    env = dict(os.environ)
    # large allocations as fresh (zeroed) mappings: trials reuse less of each other's memory
    env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
    with tempfile.TemporaryDirectory(prefix="bonepick-fasttext-") as work_dir:
        work = Path(work_dir)
        with open(work / "output.log", "wb") as log:
            # autotune's own final model is not wanted: let it land in the scratch folder
            process = _launch({**request, "output": str(work / "autotune.bin")}, work, log, env)
            try:
                while process.poll() is None and time.monotonic() < deadline:
                    if parse_best_autotune_args(_read_log(work)) is not None:
                        break
                    time.sleep(0.2)
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
        text = _read_log(work)
        best = parse_best_autotune_args(text)
        if best is not None:
            return best, "autotune's choice"
        trial = best_autotune_trial(text)
        if trial is not None:
            return trial[1], f"best trial (validation F1 {trial[0]:.4f}), stopped at the time budget"
        if process.returncode is not None and process.returncode >= 0 and (work / "result.json").is_file():
            _result(work, process.returncode)  # raises fastText's error, if it gave one
        raise WorkerError(
            f"fastText's autotune finished no trial in {duration:.0f}s: please increase --autotune-duration",
            text,
        )


if __name__ == "__main__":  # pragma: no cover - runs in the worker process
    sys.exit(main(sys.argv[1:]))
