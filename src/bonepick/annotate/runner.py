"""``annotate-dataset``: every row of every shard rated by an LLM, as a pipeline step.

Each shard is one task of the executor, so a run resumes like any other stage: complete shards are
skipped, and inside a shard an asyncio loop keeps up to ``max_concurrent`` requests in flight while
rows are written back in input order. Answers go to the SQLite cache as they arrive, so a crashed run
pays nothing twice when rerun.

Nothing is dropped: a row whose requests still fail after the retries is written with
``<field>: null`` and an error record under ``<field>_error``; a shard with such rows is not
marked complete, so the next run retries exactly those rows (the rest come from the cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson

from bonepick.annotate import eventloop
from bonepick.annotate.aggregate import AGGREGATIONS, combine_chunks, combine_samples
from bonepick.annotate.cache import AnswerCache, cache_key
from bonepick.annotate.chunking import CHUNKING_MODES, DEFAULT_MAX_TEXT_LENGTH, fit
from bonepick.annotate.client import (
    RESPONSE_FORMATS,
    BodyTemplate,
    ClientSettings,
    RequestError,
    RequestParams,
    resolve_api_key,
)
from bonepick.annotate.prompts import Prompt
from bonepick.data.expressions import Expression
from bonepick.errors import DataError, UsageError
from bonepick.io.atomic import atomic_write_bytes
from bonepick.io.dataset import discover_datasets
from bonepick.io.jsonl import ShardWriter, iter_rows_sized
from bonepick.pipeline import LocalExecutor, ProgressSink, RunSummary, ShardStats, ShardTask, Step
from bonepick.pipeline import progress as progress_mod
from bonepick.pipeline.executor import STATE_DIR, marker_path
from bonepick.pipeline.tasks import plan_mirrored_tasks

STATE_SUBDIR = "annotate"
LIVE_SUBDIR = "live"
MAX_BACKOFF = 60.0
#: counters kept per shard (ShardStats.extra) and summed for the run
COUNTERS = (
    "rows_annotated",
    "rows_cached",
    "rows_passthrough",
    "rows_failed",
    "requests",
    "retries",
    "cache_hits",
    "prompt_tokens",
    "completion_tokens",
)


@dataclass
class AnnotateConfig:
    """Everything a worker needs to annotate shards; picklable, holds no secret."""

    prompt: Prompt
    params: RequestParams
    client: ClientSettings = field(default_factory=ClientSettings)
    system_prompt: Prompt | None = None
    #: input name -> jq expression
    expressions: dict[str, str] = field(default_factory=dict)
    #: input name -> text | conversation
    formats: dict[str, str] = field(default_factory=dict)
    output_field: str = ""
    response_format: str = "auto"
    max_text_length: int | None = DEFAULT_MAX_TEXT_LENGTH
    chunking: str = "head"
    num_chunks: int = 4
    samples: int = 1
    aggregate: str = "majority"
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_concurrent: int = 64
    max_retries: int = 5
    retry_delay: float = 1.0
    cache_path: Path | None = None
    reprocess_all: bool = False
    #: batch retrieval: never send requests; answers must be in the cache already
    offline: bool = False
    offline_errors: Path | None = None

    def __post_init__(self) -> None:
        if not self.output_field:
            self.output_field = self.prompt.name
        if not self.expressions:
            self.expressions = {f.name: f.expression for f in self.prompt.inputs}
        if not self.formats:
            self.formats = {f.name: f.format for f in self.prompt.inputs}

    @property
    def error_field(self) -> str:
        return f"{self.output_field}_error"

    @property
    def prompt_version(self) -> str:
        system = self.system_prompt.fingerprint if self.system_prompt else "-"
        return f"{self.prompt.name}:{self.prompt.fingerprint}:{system}"

    def fingerprint(self, limit: int | None = None) -> str:
        """What a completed shard was made with; a shard made differently is redone."""
        import hashlib

        payload = {
            "prompt": self.prompt_version,
            "model": self.params.model,
            "params": self.params.cache_params(),
            "expressions": self.expressions,
            "formats": self.formats,
            "field": self.output_field,
            "fit": [self.max_text_length, self.chunking, self.num_chunks],
            "samples": [self.samples, self.aggregate],
            "limit": limit,
        }
        return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def check_config(config: AnnotateConfig) -> None:
    """Reject option combinations that cannot work, before any shard starts."""
    prompt = config.prompt
    if config.response_format not in RESPONSE_FORMATS:
        raise UsageError(
            f"unknown response format '{config.response_format}'",
            hint=f"use one of: {', '.join(RESPONSE_FORMATS)}",
        )
    if config.chunking not in CHUNKING_MODES:
        raise UsageError(
            f"unknown chunking '{config.chunking}'", hint=f"use one of: {', '.join(CHUNKING_MODES)}"
        )
    if config.aggregate not in AGGREGATIONS:
        raise UsageError(
            f"unknown aggregation '{config.aggregate}'", hint=f"use one of: {', '.join(AGGREGATIONS)}"
        )
    if config.samples < 1:
        raise UsageError(f"--samples must be at least 1, got {config.samples}")
    if config.max_concurrent < 1:
        raise UsageError(f"--max-concurrent-requests must be at least 1, got {config.max_concurrent}")
    if config.max_retries < 0:
        raise UsageError(f"--max-retries must be 0 or more, got {config.max_retries}")
    if config.max_text_length is not None and config.max_text_length < 1:
        raise UsageError(f"--max-text-length must be at least 1, got {config.max_text_length}")
    needs_score = config.samples > 1 or config.chunking == "chunks"
    if needs_score and prompt.score is None:
        raise UsageError(
            f"prompt '{prompt.name}' declares no score field, so samples or chunks cannot be combined",
            hint="add 'score: <property>' to the prompt, or drop --samples / --chunking chunks",
        )
    numeric_needed = config.chunking == "chunks" or (config.samples > 1 and config.aggregate != "majority")
    if numeric_needed and not prompt.score_is_numeric:
        raise UsageError(
            f"the score '{prompt.score}' of prompt '{prompt.name}' is not a number, "
            "so it cannot be averaged or take a min/max",
            hint="use --aggregate majority, or a prompt with a numeric score",
        )
    unknown = set(config.expressions) - set(prompt.input_names)
    missing = set(prompt.input_names) - set(config.expressions)
    if unknown or missing:
        raise UsageError(
            f"prompt '{prompt.name}' takes inputs {prompt.input_names}; "
            f"got expressions for {sorted(config.expressions)}",
        )
    for expression in config.expressions.values():
        Expression(expression)  # compile now: a bad expression fails before any request


def parse_input_expressions(values: Sequence[str], prompt: Prompt) -> dict[str, str]:
    """``-i EXPR`` (for a one-input prompt) or ``-i NAME=EXPR`` per input, over the prompt's defaults."""
    import re

    expressions = {f.name: f.expression for f in prompt.inputs}
    for value in values:
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)=(?!=)(.+)$", value.strip())
        if match and match.group(1) in expressions:
            expressions[match.group(1)] = match.group(2).strip()
        elif match and not match.group(2).startswith(("=", " ")) and "." not in match.group(1):
            raise UsageError(
                f"prompt '{prompt.name}' has no input '{match.group(1)}'",
                hint=f"its inputs are: {', '.join(prompt.input_names)}",
            )
        elif len(prompt.inputs) == 1:
            expressions[prompt.inputs[0].name] = value.strip()
        else:
            raise UsageError(
                f"prompt '{prompt.name}' takes several inputs ({', '.join(prompt.input_names)}); "
                f"say which one '{value}' is for",
                hint=f"write -i {prompt.inputs[0].name}=EXPRESSION",
            )
    return expressions


# ----------------------------------------------------------------------------------------- the step


@dataclass
class _Request:
    key: str
    messages: list[dict[str, str]]
    tokens: int


@dataclass
class _Answer:
    output: dict[str, Any] | None
    cached: bool = False
    error: RequestError | None = None
    attempts: int = 0


class _Counters:
    """Per-process totals for the live progress line."""

    def __init__(self) -> None:
        self.values: dict[str, float] = dict.fromkeys(
            ("requests", "cache_hits", "errors", "prompt_tokens", "completion_tokens", "rows"), 0
        )

    def add(self, name: str, amount: float = 1) -> None:
        self.values[name] = self.values.get(name, 0) + amount


def live_dir(output_root: Path) -> Path:
    return output_root / STATE_DIR / STATE_SUBDIR / LIVE_SUBDIR


def read_live_counters(output_root: Path) -> dict[str, float]:
    """The sum of the live counter files every worker process writes during a run."""
    totals: dict[str, float] = {}
    folder = live_dir(output_root)
    if not folder.is_dir():
        return totals
    for path in folder.glob("*.json"):
        try:
            values = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        for name, value in values.items():
            totals[name] = totals.get(name, 0) + value
    return totals


class RequestBuilder:
    """Turns a row into its requests (one list per chunk, one request per sample) and a request into
    the body sent to the server. Shared by the live runner and the Batch API."""

    def __init__(self, config: AnnotateConfig) -> None:
        self.config = config
        self._expressions = {name: Expression(expr) for name, expr in config.expressions.items()}
        self._system = config.system_prompt.render() if config.system_prompt else None
        self._templates: dict[str, BodyTemplate] = {}

    def inputs(self, row: dict[str, Any], path: Path, line: int) -> dict[str, str]:
        values = {}
        for name, expression in self._expressions.items():
            value = expression.first(row, path, line)
            values[name] = _as_text(
                value, self.config.formats.get(name, "text"), expression.source, path, line
            )
        return values

    def requests(self, row: dict[str, Any], path: Path, line: int) -> list[list[_Request]]:
        config = self.config
        prompt = config.prompt
        values = self.inputs(row, path, line)
        primary = prompt.input_names[0]
        mode = config.chunking
        others: dict[str, str] = {}
        truncated_fields = []
        for name in prompt.input_names[1:]:
            piece = fit(values[name], "head" if mode == "chunks" else mode, config.max_text_length)[0]
            others[name] = piece.text
            if piece.truncated:
                truncated_fields.append(name)
        grid = []
        params = config.params.cache_params()
        for piece in fit(values[primary], mode, config.max_text_length, config.num_chunks):
            fields = truncated_fields + ([primary] if piece.truncated else [])
            user = prompt.render(
                {**others, primary: piece.text},
                truncated=bool(fields),
                truncated_fields=fields,
                chunk_index=piece.index,
                chunk_count=piece.count,
            )
            messages = [{"role": "system", "content": self._system}] if self._system else []
            messages.append({"role": "user", "content": user})
            tokens = math.ceil(sum(len(m["content"]) for m in messages) / 4) + (
                config.params.max_new_tokens or 256
            )
            grid.append(
                [
                    _Request(
                        cache_key(config.params.model, config.prompt_version, params, messages, s),
                        messages,
                        tokens,
                    )
                    for s in range(config.samples)
                ]
            )
        return grid

    def body(self, request: _Request, response_format: str) -> dict[str, Any]:
        template = self._templates.get(response_format)
        if template is None:
            config = self.config
            template = self._templates[response_format] = BodyTemplate(
                config.params,
                schema=config.prompt.schema,
                schema_name=config.prompt.name,
                response_format=response_format,
                openai_host=config.client.is_openai,
            )
        return template.body(request.messages)


class AnnotateStep(Step):
    """Annotates one shard per task; see the module docstring."""

    name = "annotate"

    def __init__(self, config: AnnotateConfig, output_root: Path, fingerprints: dict[str, str]) -> None:
        self.config = config
        self.output_root = Path(output_root)
        self.fingerprints = fingerprints

    # -- per process ---------------------------------------------------------------------------

    def setup(self) -> None:
        from bonepick.annotate.ratelimit import RateLimiter
        from bonepick.annotate.schema import ReplyValidator

        config = self.config
        self._builder = RequestBuilder(config)
        self._validator = ReplyValidator(config.prompt.schema or {"type": "object", "properties": {}})
        self._cache = AnswerCache(config.cache_path)
        self._limiter = RateLimiter(
            config.requests_per_minute, config.tokens_per_minute, config.max_concurrent
        )
        self._format = "json_schema" if config.response_format == "auto" else config.response_format
        self._counters = _Counters()
        self._live_path = live_dir(self.output_root) / f"{os.getpid()}.json"
        self._live_written = b""
        self._offline_errors: dict[str, str] = {}
        if config.offline and config.offline_errors is not None and config.offline_errors.is_file():
            self._offline_errors = orjson.loads(config.offline_errors.read_bytes())

    def run(self, task: ShardTask, stats: ShardStats) -> Any:
        assert task.output is not None
        limit = task.params.get("limit")
        for name in COUNTERS:
            stats.extra[name] = 0
        self._shard_counts: dict[str, float] = {}
        try:
            eventloop.run(self._run_shard(task, stats, limit))
        finally:
            self._cache.flush()
            self._write_live()
        for name, value in self._shard_counts.items():
            stats.add(name, value)
        state = {
            "fingerprint": self.fingerprints.get(task.key),
            "failed": int(stats.extra.get("rows_failed", 0)),
        }
        atomic_write_bytes(shard_state_path(self.output_root, task), orjson.dumps(state))
        return None

    # -- per shard -----------------------------------------------------------------------------

    async def _run_shard(self, task: ShardTask, stats: ShardStats, limit: int | None) -> None:
        from bonepick.annotate.client import ChatClient

        config = self.config
        self._client = None if config.offline else ChatClient(config.client)
        self._inflight: dict[str, asyncio.Task] = {}
        # rows held in order behind a slow one (retrying); big enough that one backoff does not stall the rest
        window = max(1024, 16 * config.max_concurrent)
        pending: deque[tuple[dict[str, Any], int, Any]] = deque()
        ticker = asyncio.get_running_loop().create_task(self._tick())
        try:
            with ShardWriter(task.output) as writer:
                taken = 0
                for line, row, size in iter_rows_sized(task.input):
                    if limit is not None and taken >= limit:
                        stats.rows_in += 1
                        stats.bytes_in += size
                        stats.skip("beyond --limit-rows")
                        continue
                    taken += 1
                    job = self._start_row(row, task.input, line)
                    pending.append((row, size, job))
                    if isinstance(job, asyncio.Task):
                        await asyncio.sleep(0)  # let the new request start while more rows are read
                    while pending and (len(pending) >= window or _ready(pending[0][2])):
                        await self._write(writer, stats, *pending.popleft())
                while pending:
                    await self._write(writer, stats, *pending.popleft())
        finally:
            ticker.cancel()
            leftovers = [item[2] for item in pending if isinstance(item[2], asyncio.Task)]
            leftovers += list(self._inflight.values())
            for job in leftovers:
                job.cancel()
            await asyncio.gather(*leftovers, ticker, return_exceptions=True)
            if self._client is not None:
                await self._client.close()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            self._cache.flush()
            # a rename can take tens of milliseconds on a busy file system: not on the event loop
            await loop.run_in_executor(None, self._write_live)

    def _write_live(self) -> None:
        data = orjson.dumps(self._counters.values)
        if data == self._live_written:
            return
        with contextlib.suppress(OSError):
            atomic_write_bytes(self._live_path, data)
            self._live_written = data

    def _start_row(self, row: dict[str, Any], path: Path, line: int) -> Any:
        """A finished record (pass-through or all cached) or a task producing one."""
        config = self.config
        if not config.reprocess_all and row.get(config.output_field) is not None:
            return ("passthrough", row)
        grid = self._builder.requests(row, path, line)
        answers = [[self._cached(request) for request in chunk] for chunk in grid]
        if all(answer is not None for chunk in answers for answer in chunk):
            return ("cached", self._assemble(answers))  # type: ignore[arg-type]
        if len(grid) == 1 and len(grid[0]) == 1:
            return self._shared(grid[0][0])  # the common case: one task per row, assembled in _write
        return asyncio.get_running_loop().create_task(self._annotate(grid, answers))

    def _cached(self, request: _Request) -> _Answer | None:
        if self.config.reprocess_all:
            return None
        found = self._cache.get(request.key)
        if found is None:
            return None
        self._counters.add("cache_hits")
        self._shard_add("cache_hits")
        return _Answer(found.output, cached=True)

    async def _annotate(
        self, grid: list[list[_Request]], answers: list[list[_Answer | None]]
    ) -> tuple[str, Any]:
        jobs = {}
        for i, chunk in enumerate(grid):
            for j, request in enumerate(chunk):
                if answers[i][j] is None:
                    jobs[(i, j)] = self._shared(request)
        results = await asyncio.gather(*jobs.values())
        for (i, j), answer in zip(jobs, results, strict=True):
            answers[i][j] = answer
        return "fresh", self._assemble(answers)  # type: ignore[arg-type]

    def _shared(self, request: _Request) -> asyncio.Task:
        """One request per key even when two rows (or samples) need the same answer at once."""
        job = self._inflight.get(request.key)
        if job is None:
            job = asyncio.get_running_loop().create_task(self._fetch(request))
            self._inflight[request.key] = job
            job.add_done_callback(lambda _job, key=request.key: self._inflight.pop(key, None))
        return job

    def _assemble(self, answers: list[list[_Answer]]) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """(annotation, None) when every answer is there, else (None, error record)."""
        failures = [a for chunk in answers for a in chunk if a.output is None]
        if failures:
            first = failures[0]
            error = first.error or RequestError("unknown", "no answer")
            record = {"kind": error.kind, "message": error.message, "attempts": first.attempts}
            total = sum(len(chunk) for chunk in answers)
            if total > 1:
                record["failed_requests"] = len(failures)
                record["requests"] = total
            return None, record
        score, how = self.config.prompt.score, self.config.aggregate
        records = [combine_samples([a.output for a in chunk], score, how) for chunk in answers]  # type: ignore[misc]
        return combine_chunks(records, score), None

    async def _write(
        self, writer: ShardWriter, stats: ShardStats, row: dict[str, Any], size: int, job: Any
    ) -> None:
        if isinstance(job, asyncio.Task):
            job = await job
            if isinstance(job, _Answer):
                job = ("fresh", self._assemble([[job]]))
        kind, result = job
        config = self.config
        stats.rows_in += 1
        stats.bytes_in += size
        progress_mod.report_rows(1, size)
        self._counters.add("rows")
        if kind == "passthrough":
            stats.add("rows_passthrough", 1)
            writer.write(row)
            stats.wrote()
            return
        annotation, error = result
        out = {k: v for k, v in row.items() if k != config.error_field}
        out[config.output_field] = annotation
        if error is not None:
            out[config.error_field] = error
            stats.add("rows_failed", 1)
            self._counters.add("errors")
        else:
            stats.add("rows_cached" if kind == "cached" else "rows_annotated", 1)
        writer.write(out)
        stats.wrote()

    # -- sending -------------------------------------------------------------------------------

    async def _fetch(self, request: _Request) -> _Answer:
        config = self.config
        if config.offline:
            message = self._offline_errors.get(request.key, "no answer for this request in the batch results")
            return _Answer(None, error=RequestError("batch", message), attempts=1)
        assert self._client is not None
        counters = self._counters
        attempts = 0
        last: RequestError | None = None
        while attempts <= config.max_retries:
            attempts += 1
            if attempts > 1:
                self._shard_add("retries")
            async with self._limiter.slot(request.tokens):
                used_format = self._format
                body = self._body(request)
                counters.add("requests")
                self._shard_add("requests")
                try:
                    reply = await self._client.complete(body)
                except RequestError as error:
                    last = error
                    reply = None
            if reply is not None:
                self._limiter.settle(request.tokens, reply.prompt_tokens + reply.completion_tokens)
                counters.add("prompt_tokens", reply.prompt_tokens)
                counters.add("completion_tokens", reply.completion_tokens)
                self._shard_add("prompt_tokens", reply.prompt_tokens)
                self._shard_add("completion_tokens", reply.completion_tokens)
                try:
                    output = self._validator(reply.content)
                except Exception as error:  # InvalidReply
                    last = RequestError("invalid_reply", str(error))
                else:
                    self._cache.put(
                        request.key,
                        model=config.params.model,
                        prompt=config.prompt.name,
                        prompt_version=config.prompt_version,
                        output=output,
                        raw=reply.content,
                        prompt_tokens=reply.prompt_tokens,
                        completion_tokens=reply.completion_tokens,
                    )
                    return _Answer(output, attempts=attempts)
            assert last is not None
            self._shard_add(f"errors_{last.kind}")
            if (
                last.kind == "unsupported_format"
                and config.response_format == "auto"
                and used_format == "json_schema"
            ):
                self._format = "none"  # the server cannot do structured output: spell the schema out
                attempts -= 1
                continue
            if not last.retryable:
                break
            delay = self._backoff(attempts, last)
            if last.kind == "rate_limit":
                self._limiter.cool_down(delay)
            if delay > 0:
                await asyncio.sleep(delay)
        return _Answer(None, error=last, attempts=attempts)

    def _body(self, request: _Request) -> dict[str, Any]:
        return self._builder.body(request, self._format)

    def _backoff(self, attempt: int, error: RequestError) -> float:
        if error.kind == "invalid_reply":
            return 0.0
        if error.retry_after is not None:
            return min(MAX_BACKOFF * 2, max(0.0, error.retry_after))
        base = self.config.retry_delay * (2 ** (attempt - 1))
        return min(MAX_BACKOFF, base * (0.5 + random.random() / 2))

    def _shard_add(self, name: str, amount: float = 1) -> None:
        self._shard_counts[name] = self._shard_counts.get(name, 0) + amount


def _ready(job: Any) -> bool:
    return not isinstance(job, asyncio.Task) or job.done()


def _as_text(value: Any, fmt: str, source: str, path: Path, line: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        return format_conversation(value, source, path, line)
    if fmt == "conversation":
        raise DataError(
            f"jq expression '{source}' gave {type(value).__name__}; a conversation must be a list of "
            "{role, content} messages",
            path,
            line,
        )
    if isinstance(value, bool | int | float):
        return str(value)
    raise DataError(
        f"jq expression '{source}' gave {type(value).__name__}, expected text",
        path,
        line,
        hint="point -i at a string field, or use -f conversation for message lists",
    )


def format_conversation(
    messages: list[dict[str, Any]], source: str = "", path: Any = None, line: Any = None
) -> str:
    """A message list as a readable transcript, one ``[role]`` block per message."""
    blocks = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        if content is None or "role" not in message:
            raise DataError(f"jq expression '{source}': every message needs 'role' and 'content'", path, line)
        blocks.append(f"[{message['role']}]\n{content}")
    return "\n\n".join(blocks)


# ------------------------------------------------------------------------------------ the run


def shard_state_path(output_root: Path, task: ShardTask) -> Path:
    return Path(output_root) / STATE_DIR / STATE_SUBDIR / "shards" / f"{task.key}.json"


def _plan_limit(tasks: list[ShardTask], limit_rows: int | None) -> tuple[list[ShardTask], int]:
    """Keep the tasks needed for the first ``limit_rows`` rows; the last one gets a quota."""
    if limit_rows is None:
        return tasks, 0
    if limit_rows < 1:
        raise UsageError(f"--limit-rows must be at least 1, got {limit_rows}")
    kept: list[ShardTask] = []
    remaining = limit_rows
    for task in tasks:
        if remaining <= 0:
            break
        rows = sum(1 for _ in iter_rows_sized(task.input))
        quota = min(rows, remaining)
        kept.append(replace(task, params={**task.params, "limit": quota if quota < rows else None}))
        remaining -= quota
    return kept, len(tasks) - len(kept)


def _invalidate_stale_shards(output_root: Path, tasks: list[ShardTask], fingerprints: dict[str, str]) -> int:
    """Remove completion markers of shards made with other settings or holding failed rows."""
    state = Path(output_root) / STATE_DIR
    redone = 0
    for task in tasks:
        marker = marker_path(state, task)
        if not marker.is_file():
            continue
        try:
            info = orjson.loads(shard_state_path(output_root, task).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            info = {}
        if info.get("fingerprint") != fingerprints[task.key] or info.get("failed", 1) > 0:
            marker.unlink(missing_ok=True)
            redone += 1
    return redone


@dataclass
class AnnotateResult:
    summary: RunSummary
    totals: dict[str, float]
    shards_not_needed: int = 0
    shards_redone: int = 0
    workers: int = 1


def annotate_dataset(
    inputs: Sequence[Path],
    output_dir: Path,
    config: AnnotateConfig,
    *,
    num_proc: int | None = 1,
    overwrite: bool = False,
    limit_rows: int | None = None,
    progress: ProgressSink | None = None,
) -> AnnotateResult:
    """Annotate every shard of ``inputs`` into ``output_dir`` (mirrored layout)."""
    check_config(config)
    if not config.offline:
        resolve_api_key(config.client)  # fail now, not in every worker
    datasets = discover_datasets(inputs)
    tasks = plan_mirrored_tasks(datasets, Path(output_dir))
    tasks, not_needed = _plan_limit(tasks, limit_rows)
    tasks = [replace(task, index=i) for i, task in enumerate(tasks)]
    workers = max(1, min(num_proc or 1, len(tasks) or 1))
    per_worker = _split_limits(config, workers)
    fingerprints = {task.key: per_worker.fingerprint(task.params.get("limit")) for task in tasks}
    redone = 0 if overwrite else _invalidate_stale_shards(Path(output_dir), tasks, fingerprints)
    executor = LocalExecutor(workers, overwrite=overwrite or config.reprocess_all, progress=progress)
    step = AnnotateStep(per_worker, Path(output_dir), fingerprints)
    try:
        summary = executor.run(step, tasks, Path(output_dir), "annotate")
    finally:
        _remove_live(Path(output_dir))
    totals = {name: 0.0 for name in COUNTERS}
    totals.update(summary.totals().extra)
    return AnnotateResult(summary, totals, not_needed, redone, workers)


def _split_limits(config: AnnotateConfig, workers: int) -> AnnotateConfig:
    """Each worker process gets an equal share of the rate limits and of the concurrency."""
    if workers <= 1:
        return config
    return replace(
        config,
        requests_per_minute=config.requests_per_minute / workers if config.requests_per_minute else None,
        tokens_per_minute=config.tokens_per_minute / workers if config.tokens_per_minute else None,
        max_concurrent=max(1, math.ceil(config.max_concurrent / workers)),
    )


def _remove_live(output_root: Path) -> None:
    folder = live_dir(output_root)
    if folder.is_dir():
        for path in folder.glob("*"):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            folder.rmdir()
