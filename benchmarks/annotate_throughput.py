"""Annotation throughput against a local OpenAI-compatible server with a fixed latency.

For each concurrency level the full annotate-dataset stack runs (rows read, prompts rendered,
requests through the official ``openai`` client, replies validated, SQLite cache, output shard
written) over real SpamAssassin texts with the ``fineweb_edu`` prompt, against the local test
server (``tests/servers/openai_server.py``) started as a separate process with a fixed reply
latency. With latency L and C requests in flight the ideal rate is C / L requests per second; the
table shows the achieved rate, its share of the ideal, and the CPU seconds per request spent by
the client (and by the server, for reference).

    flock /tmp/bonepick-bench.lock uv run python benchmarks/annotate_throughput.py
    ... --concurrency 1,8,64,256 --latency 0.05 --http-backend httpx --num-proc 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bonepick.annotate.client import ClientSettings, RequestParams  # noqa: E402
from bonepick.annotate.prompts import PromptLibrary  # noqa: E402
from bonepick.annotate.runner import AnnotateConfig, annotate_dataset  # noqa: E402
from bonepick.io import read_rows, write_rows  # noqa: E402
from tests.servers.openai_server import SubprocessServer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "spamassassin" / "train"


def _texts(limit: int) -> list[str]:
    from bonepick.io import find_shards

    texts: list[str] = []
    for shard in find_shards(CORPUS):
        for row in read_rows(shard):
            texts.append(row["text"][:1500])
            if len(texts) >= limit:
                return texts
    return texts


def _cpu_self_and_children() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _server_cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def run_level(server, texts, concurrency: int, rows: int, args, workdir: Path) -> dict:
    data = workdir / f"data_{concurrency}"
    shards = max(1, args.num_proc)
    per = -(-rows // shards)
    for i in range(shards):
        numbers = range(i * per, min(rows, (i + 1) * per))
        # real texts, cycled; a unique prefix keeps every request a cache miss
        write_rows(
            data / "train" / f"part_{i:02d}.jsonl",
            [{"id": j, "text": f"[{concurrency}.{j}] {texts[j % len(texts)]}"} for j in numbers],
        )
    library = PromptLibrary(use_env=False)
    config = AnnotateConfig(
        prompt=library.get("fineweb_edu"),
        system_prompt=library.get("annotator", "system"),
        params=RequestParams(model="test-model"),
        client=ClientSettings(
            base_url=server.base_url, max_connections=concurrency, http_backend=args.http_backend
        ),
        cache_path=workdir / f"cache_{concurrency}.sqlite",
        max_concurrent=concurrency,
        max_retries=0,
    )
    server.reset()
    server_cpu = _server_cpu(server._process.pid)
    cpu = _cpu_self_and_children()
    started = time.perf_counter()
    result = annotate_dataset([data], workdir / f"out_{concurrency}", config, num_proc=args.num_proc)
    seconds = time.perf_counter() - started
    cpu = _cpu_self_and_children() - cpu
    server_cpu = _server_cpu(server._process.pid) - server_cpu
    requests = int(result.totals["requests"])
    assert requests == rows and result.totals["rows_failed"] == 0, result.totals
    stats = server.stats()
    ideal = concurrency / args.latency
    return {
        "concurrency": concurrency,
        "requests": requests,
        "seconds": round(seconds, 3),
        "requests_per_s": round(requests / seconds, 1),
        "ideal_per_s": round(ideal, 1),
        "share_of_ideal": round(requests / seconds / ideal, 3),
        "client_cpu_ms_per_request": round(cpu / requests * 1000, 3),
        "server_cpu_ms_per_request": round(server_cpu / requests * 1000, 3),
        "max_in_flight": stats["max_in_flight"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="ideal duration of each level (sets its row count)"
    )
    parser.add_argument("--min-rows", type=int, default=40)
    parser.add_argument("--http-backend", default="auto", choices=["auto", "aiohttp", "httpx"])
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark")
    levels = [int(c) for c in args.concurrency.split(",")]
    rows_for = {c: max(args.min_rows, int(c / args.latency * args.seconds)) for c in levels}
    texts = _texts(4000)
    workdir = Path(tempfile.mkdtemp(prefix="bonepick-annotate-bench-"))
    results = []
    try:
        with SubprocessServer(latency=args.latency) as server:
            run_level(server, texts, 4, 40, args, workdir / "warmup")  # imports, connections, caches
            print(
                f"annotate throughput: latency {args.latency * 1000:.0f} ms, http backend {args.http_backend}, "
                f"{args.num_proc} process(es), {os.cpu_count()} CPUs, Python {platform.python_version()}"
            )
            header = f"{'conc':>5} {'requests':>8} {'seconds':>8} {'req/s':>8} {'ideal':>8} {'share':>6} {'client ms/req':>13} {'server ms/req':>13}"
            print(header)
            for concurrency in levels:
                row = run_level(server, texts, concurrency, rows_for[concurrency], args, workdir)
                results.append(row)
                print(
                    f"{row['concurrency']:>5} {row['requests']:>8} {row['seconds']:>8.2f} {row['requests_per_s']:>8.1f} "
                    f"{row['ideal_per_s']:>8.0f} {row['share_of_ideal']:>6.1%} {row['client_cpu_ms_per_request']:>13.2f} "
                    f"{row['server_cpu_ms_per_request']:>13.2f}",
                    flush=True,
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"latency": args.latency, "http_backend": args.http_backend, "results": results}, indent=2
            )
        )


if __name__ == "__main__":
    main()
