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


def parse_best_autotune_args(log: str) -> dict[str, Any] | None:
    """The arguments autotune settled on, from its verbose (level 3) output, or None."""
    marker = log.rfind("Best selected args")
    if marker < 0:
        return None
    numbers = {"epoch": int, "lr": float, "dim": int, "minCount": int, "wordNgrams": int, "minn": int,
               "maxn": int, "bucket": int}  # fmt: skip
    found: dict[str, Any] = {}
    for line in log[marker:].splitlines()[1:]:
        name, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            break
        if name in numbers:
            found[name] = numbers[name](value)
        elif name == "loss":
            found["loss"] = value
    return found if {"epoch", "lr", "dim", "wordNgrams", "bucket"} <= set(found) else None


def _stderr() -> Any:
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stream (tests): inherit ours
        return None


def run_worker(
    request: dict[str, Any], show_output: bool = False, fresh_mappings: bool = False
) -> dict[str, Any]:
    """Run ``request`` in a fresh Python process and return its result (raises WorkerError).

    fastText prints progress itself (on both streams, autotune even when not verbose): with
    ``show_output`` it goes to our stderr, never to stdout (where results go); otherwise it is
    kept and only its end is quoted when the process dies.
    """
    with tempfile.TemporaryDirectory(prefix="bonepick-fasttext-") as work:
        request_path, result_path = Path(work) / "request.json", Path(work) / "result.json"
        request_path.write_text(json.dumps(request), encoding="utf-8")
        # run as a file, not ``-m``: the worker imports only the standard library and fastText;
        # -P keeps the working folder off the path (a fasttext.py there cannot shadow the bindings)
        command = [sys.executable, "-P", str(Path(__file__).resolve()), str(request_path), str(result_path)]
        env = dict(os.environ)
        if fresh_mappings:
            # large allocations as fresh (zeroed) mappings: fewer chances for fastText to start
            # from a freed matrix when it trains several models in one process (autotune); it
            # costs ~8% on a single training, so only then
            env.setdefault("MALLOC_MMAP_THRESHOLD_", "131072")
        log_path = Path(work) / "output.log"
        with open(log_path, "wb") as log:
            sink = _stderr() if show_output else log
            completed = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=env, check=False
            )
        if not result_path.is_file():
            tail = log_path.read_bytes()[-600:].decode("utf-8", "replace").replace("\r", "\n").strip()
            how = f"exit code {completed.returncode}"
            if completed.returncode < 0:
                try:
                    how = f"killed by {signal.Signals(-completed.returncode).name}"
                except ValueError:
                    how = f"killed by signal {-completed.returncode}"
            last = tail.splitlines()[-1] if tail else ""
            raise WorkerError(
                f"the fastText process died ({how})" + (f"; its last words: {last}" if last else "")
            )
        result = json.loads(result_path.read_text(encoding="utf-8"))
        log = log_path.read_bytes().decode("utf-8", "replace").replace("\r", "\n")
    if "error" in result:
        raise WorkerError(result["error"], log)
    return result


if __name__ == "__main__":  # pragma: no cover - runs in the worker process
    sys.exit(main(sys.argv[1:]))
