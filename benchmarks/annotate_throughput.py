"""Annotation throughput against a local OpenAI-compatible server with a fixed latency.

For each concurrency level the full annotate-dataset stack runs (rows read, prompts rendered,
requests through the official ``openai`` client, replies validated, SQLite cache, output shard
written) over real SpamAssassin texts with the ``fineweb_edu`` prompt, against the local test
server (``tests/servers/openai_server.py``) started as a separate process with a fixed reply
latency. With latency L and C requests in flight the ideal rate is C / L requests per second; the
table shows the achieved rate, its share of the ideal, and the CPU milliseconds per request spent by
the client (and by the server, for reference).

``--baselines`` adds, at every level and back to back with the full stack, the same request body
sent by lighter clients, which shows the ceiling of the machine and where the client's time goes:

* ``wrk``: the C load generator ``wrk`` (``apt-get install wrk``; skipped when not on PATH),
  one thread, ``C`` keep-alive connections, for as long as the stack run is ideally;
* ``raw``: a bare ``aiohttp`` loop in Python (``C`` workers, keep-alive, orjson parse of the reply);
* ``sdk``: bonepick's ``ChatClient`` alone (the official ``openai`` client's ``post`` with the
  pre-serialised body, reply parsed), without rows, prompts, validation, cache or output.

    flock /tmp/bonepick-bench.lock uv run python benchmarks/annotate_throughput.py
    ... --concurrency 1,8,64,256 --latency 0.05 --baselines wrk,raw,sdk --repeats 3 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bonepick.annotate import eventloop  # noqa: E402
from bonepick.annotate.client import ClientSettings, RequestParams  # noqa: E402
from bonepick.annotate.prompts import PromptLibrary  # noqa: E402
from bonepick.annotate.runner import AnnotateConfig, RequestBuilder, annotate_dataset  # noqa: E402
from bonepick.io import read_rows, write_rows  # noqa: E402
from tests.servers.openai_server import SubprocessServer  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "spamassassin" / "train"
MODES = ("wrk", "raw", "sdk", "stack")


def _texts(limit: int) -> list[str]:
    from bonepick.io import find_shards

    texts: list[str] = []
    for shard in find_shards(CORPUS):
        for row in read_rows(shard):
            texts.append(row["text"][:1500])
            if len(texts) >= limit:
                return texts
    return texts


def _cpu_self() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


def _cpu_children() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return children.ru_utime + children.ru_stime


def _server_cpu(server) -> float:
    import psutil

    times = psutil.Process(server._process.pid).cpu_times()
    return times.user + times.system


def _config(server, concurrency: int, args, cache_path: Path | None) -> AnnotateConfig:
    library = PromptLibrary(use_env=False)
    return AnnotateConfig(
        prompt=library.get("fineweb_edu"),
        system_prompt=library.get("annotator", "system"),
        params=RequestParams(model="test-model"),
        client=ClientSettings(
            base_url=server.base_url, max_connections=concurrency, http_backend=args.http_backend
        ),
        cache_path=cache_path,
        max_concurrent=concurrency,
        max_retries=0,
    )


def _body(server, texts, args) -> bytes:
    """One real request body: the fineweb_edu prompt on a SpamAssassin text."""
    import orjson

    builder = RequestBuilder(_config(server, 1, args, None))
    request = builder.requests({"text": texts[0]}, Path("bench"), 1)[0][0]
    return orjson.dumps(builder.body(request, "json_schema"))


def _result(mode, concurrency, requests, seconds, cpu, server_cpu, args, stats) -> dict:
    ideal = concurrency / args.latency if args.latency > 0 else float("inf")  # latency 0: server capacity
    return {
        "mode": mode,
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


def run_stack(server, texts, concurrency: int, rows: int, args, workdir: Path) -> dict:
    data = workdir / f"data_{concurrency}"
    shutil.rmtree(data, ignore_errors=True)
    shards = max(1, args.num_proc)
    per = -(-rows // shards)
    for i in range(shards):
        numbers = range(i * per, min(rows, (i + 1) * per))
        # real texts, cycled; a unique prefix keeps every request a cache miss
        write_rows(
            data / "train" / f"part_{i:02d}.jsonl",
            [{"id": j, "text": f"[{time.time_ns()}.{j}] {texts[j % len(texts)]}"} for j in numbers],
        )
    config = _config(server, concurrency, args, workdir / f"cache_{concurrency}.sqlite")
    output = workdir / f"out_{concurrency}"
    shutil.rmtree(output, ignore_errors=True)
    server.reset()
    server_cpu = _server_cpu(server)
    cpu = _cpu_self() + _cpu_children()
    started = time.perf_counter()
    result = annotate_dataset([data], output, config, num_proc=args.num_proc)
    seconds = time.perf_counter() - started
    cpu = _cpu_self() + _cpu_children() - cpu
    server_cpu = _server_cpu(server) - server_cpu
    requests = int(result.totals["requests"])
    assert requests == rows and result.totals["rows_failed"] == 0, result.totals
    return _result("stack", concurrency, requests, seconds, cpu, server_cpu, args, server.stats())


def run_raw(server, body: bytes, concurrency: int, rows: int, args) -> dict:
    import aiohttp
    import orjson

    url = server.base_url + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-benchmark"}

    async def main() -> None:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            remaining = rows

            async def worker() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    async with session.post(url, data=body, headers=headers) as response:
                        payload = orjson.loads(await response.read())
                        assert payload["choices"][0]["message"]["content"]

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    return _timed("raw", server, concurrency, rows, args, lambda: eventloop.run(main()))


def run_sdk(server, body: bytes, concurrency: int, rows: int, args) -> dict:
    import orjson

    from bonepick.annotate.client import ChatClient

    decoded = orjson.loads(body)

    async def main() -> None:
        client = ChatClient(_config(server, concurrency, args, None).client)
        remaining = rows

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                reply = await client.complete(decoded)
                assert reply.content

        try:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        finally:
            await client.close()

    return _timed("sdk", server, concurrency, rows, args, lambda: eventloop.run(main()))


def _timed(mode, server, concurrency, rows, args, work) -> dict:
    server.reset()
    server_cpu = _server_cpu(server)
    cpu = _cpu_self()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    cpu = _cpu_self() - cpu
    server_cpu = _server_cpu(server) - server_cpu
    stats = server.stats()
    assert stats["chat_requests"] == rows, stats
    return _result(mode, concurrency, rows, seconds, cpu, server_cpu, args, stats)


def run_wrk(server, body_path: Path, concurrency: int, seconds: float, args) -> dict | None:
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = body_path.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-benchmark"\n'
        f'local f = io.open("{body_path}", "rb")\nwrk.body = f:read("*all")\nf:close()\n'
    )
    server.reset()
    server_cpu = _server_cpu(server)
    cpu = _cpu_children()
    duration = max(1, round(seconds))
    command = [wrk, "-t1", f"-c{concurrency}", f"-d{duration}s", "--timeout", "10s", "-s", str(script)]
    done = subprocess.run(
        [*command, server.base_url + "/chat/completions"], check=True, capture_output=True, text=True
    )
    cpu = _cpu_children() - cpu
    server_cpu = _server_cpu(server) - server_cpu
    # wrk's own count and clock: requests still in flight at its deadline are not counted
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", done.stdout)
    assert match, done.stdout
    requests = int(match.group(1))
    elapsed = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    return _result("wrk", concurrency, requests, elapsed, cpu, server_cpu, args, server.stats())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--concurrency", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="ideal duration of each level (sets its row count)"
    )
    parser.add_argument("--min-rows", type=int, default=100)
    parser.add_argument("--http-backend", default="auto", choices=["auto", "aiohttp", "httpx"])
    parser.add_argument("--num-proc", type=int, default=1)
    parser.add_argument(
        "--event-loop", default="auto", choices=["auto", "uvloop", "asyncio"], help="the client's loop"
    )
    parser.add_argument(
        "--server-loop", default="auto", choices=["auto", "uvloop", "asyncio"], help="the server's loop"
    )
    parser.add_argument(
        "--baselines", default="", help="comma list of wrk, raw, sdk to run before the stack at each level"
    )
    parser.add_argument("--no-stack", action="store_true", help="run only the baselines")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each mode per level (median shown)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-benchmark")
    os.environ[eventloop.ENV] = args.event_loop
    levels = [int(c) for c in args.concurrency.split(",")]
    per_second = (lambda c: c / args.latency) if args.latency > 0 else (lambda c: 1000)
    rows_for = {c: max(args.min_rows, int(per_second(c) * args.seconds)) for c in levels}
    modes = [m for m in args.baselines.split(",") if m] + ([] if args.no_stack else ["stack"])
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown baselines {sorted(unknown)}; use {', '.join(MODES[:-1])}")
    texts = _texts(4000)
    workdir = Path(tempfile.mkdtemp(prefix="bonepick-annotate-bench-"))
    results = []
    try:
        with SubprocessServer(latency=args.latency, event_loop=args.server_loop) as server:
            body = _body(server, texts, args)
            body_path = workdir / "body.json"
            body_path.write_bytes(body)
            run_stack(server, texts, 4, 40, args, workdir / "warmup")  # imports, connections, caches
            print(
                f"annotate throughput: latency {args.latency * 1000:.0f} ms, http backend {args.http_backend}, "
                f"client loop {eventloop.loop_name()}, server loop {args.server_loop}, "
                f"{args.num_proc} process(es), {os.cpu_count()} CPUs, Python {platform.python_version()}, "
                f"load average {os.getloadavg()[0]:.1f}, body {len(body)} bytes"
            )
            print(
                f"{'mode':>5} {'conc':>5} {'requests':>8} {'seconds':>8} {'req/s':>8} {'ideal':>7} {'share':>6} "
                f"{'client ms/req':>13} {'server ms/req':>13}  runs (req/s)"
            )
            for concurrency in levels:
                rows = rows_for[concurrency]
                for mode in modes:
                    runs = []
                    for _ in range(args.repeats):
                        if mode == "stack":
                            run = run_stack(server, texts, concurrency, rows, args, workdir)
                        elif mode == "raw":
                            run = run_raw(server, body, concurrency, rows, args)
                        elif mode == "sdk":
                            run = run_sdk(server, body, concurrency, rows, args)
                        else:
                            run = run_wrk(
                                server, body_path, concurrency, rows * args.latency / concurrency, args
                            )
                        if run is None:
                            break
                        runs.append(run)
                    if not runs:
                        continue
                    row = dict(sorted(runs, key=lambda r: r["requests_per_s"])[len(runs) // 2])
                    row["runs_requests_per_s"] = [r["requests_per_s"] for r in runs]
                    row["median_client_cpu_ms"] = statistics.median(
                        r["client_cpu_ms_per_request"] for r in runs
                    )
                    results.append(row)
                    spread = "/".join(f"{r:.0f}" for r in row["runs_requests_per_s"])
                    print(
                        f"{mode:>5} {concurrency:>5} {row['requests']:>8} {row['seconds']:>8.2f} "
                        f"{row['requests_per_s']:>8.1f} {row['ideal_per_s']:>7.0f} {row['share_of_ideal']:>6.1%} "
                        f"{row['median_client_cpu_ms']:>13.2f} {row['server_cpu_ms_per_request']:>13.2f}  {spread}",
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
