"""LLM annotation commands: annotate-dataset, annotate-batch submit|retrieve, annotation-summary."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bonepick.cli.app import PANELS, app, command, current_invocation
from bonepick.cli.options import DatasetDirs, NumProc, OutputDir, Overwrite, PromptDirs, check_num_proc

if TYPE_CHECKING:
    from bonepick.annotate.runner import AnnotateConfig

# -- shared options ------------------------------------------------------------------------------

Model = Annotated[
    str,
    typer.Option(
        "-m", "--model", "--model-name", help="Model name as the server knows it.", show_default=False
    ),
]
TaskPrompt = Annotated[
    str,
    typer.Option(
        "-T",
        "--task-prompt",
        "--annotation-task-prompt",
        help="Task prompt: a name from `bonepick list-prompts task`, or a path to a prompt file/folder.",
        show_default=False,
    ),
]
SystemPrompt = Annotated[
    str | None,
    typer.Option(
        "-S",
        "--system-prompt",
        "--annotation-system-prompt",
        help="System prompt name or path [default: the task prompt's own]; 'none' sends no system message.",
        show_default=False,
    ),
]
BaseUrl = Annotated[
    str | None,
    typer.Option(
        "--base-url",
        envvar="OPENAI_BASE_URL",
        help="OpenAI-compatible endpoint, e.g. http://localhost:8000/v1 for vLLM [default: OpenAI].",
        show_default=False,
    ),
]
ApiKeyEnv = Annotated[
    str | None,
    typer.Option(
        "--api-key-env",
        help="Name of the environment variable holding the API key [default: OPENAI_API_KEY].",
        show_default=False,
    ),
]
InputExpressions = Annotated[
    list[str] | None,
    typer.Option(
        "-i",
        "--input-field-expression",
        help="jq expression for the prompt's input [default: the prompt's, usually .text]; "
        "NAME=EXPR for prompts with several inputs (repeatable).",
        show_default=False,
    ),
]
InputFormat = Annotated[
    str | None,
    typer.Option(
        "-f",
        "--input-field-format",
        help="text, or conversation (a list of {role, content} messages) [default: the prompt's].",
        show_default=False,
    ),
]
ReasoningEffort = Annotated[
    str | None,
    typer.Option(
        "-r",
        "--reasoning-effort",
        help="none, minimal, low, medium, high or xhigh (reasoning models).",
        show_default=False,
    ),
]
ServiceTier = Annotated[
    str | None,
    typer.Option(
        "-e", "--service-tier", help="auto, default, flex, scale or priority (OpenAI).", show_default=False
    ),
]
Temperature = Annotated[
    float | None,
    typer.Option("--temperature", help="Sampling temperature [default: the server's].", show_default=False),
]
MaxNewTokens = Annotated[
    int | None,
    typer.Option(
        "--max-new-tokens", help="Most tokens per reply [default: the server's].", show_default=False
    ),
]
ResponseFormat = Annotated[
    str,
    typer.Option(
        "--response-format",
        help="auto (json_schema, falling back to JSON instructions if the server refuses it), "
        "json_schema, json_object or none.",
    ),
]
MaxTextLength = Annotated[
    int | None,
    typer.Option(
        "--max-text-length", help="Most characters of each input sent [default: 100,000].", show_default=False
    ),
]
Chunking = Annotated[
    str,
    typer.Option(
        "--chunking",
        help="How to fit long inputs: head (cut, and say so), head-tail, chunks (rate --num-chunks "
        "evenly spaced chunks and average), none (send everything).",
    ),
]
NumChunks = Annotated[
    int, typer.Option("--num-chunks", help="Chunks per long document with --chunking chunks.")
]
Samples = Annotated[
    int, typer.Option("--samples", help="Ask N times per row and aggregate (all samples are kept).")
]
Aggregate = Annotated[
    str,
    typer.Option(
        "--aggregate", help="How samples combine: majority (ties go to the mean), mean, min or max."
    ),
]
LimitRows = Annotated[
    int | None,
    typer.Option("--limit-rows", help="Annotate only the first N rows (in shard order).", show_default=False),
]
CacheLocation = Annotated[
    Path | None,
    typer.Option(
        "-c",
        "--cache-location",
        help="Folder (or .sqlite file) of the answer cache [default: the user cache folder].",
        show_default=False,
    ),
]
ReprocessAll = Annotated[
    bool,
    typer.Option(
        "--reprocess-all-rows",
        help="Ask again for every row: ignore existing annotations and cached answers (the cache is refreshed).",
    ),
]
OutputField = Annotated[
    str | None,
    typer.Option(
        "--output-field",
        help="Field the annotation is stored under [default: the prompt name].",
        show_default=False,
    ),
]


def _load_prompts(task_prompt: str, system_prompt: str | None, prompt_dir: list[Path] | None):
    from bonepick.annotate.prompts import PromptLibrary

    library = PromptLibrary(prompt_dir or [])
    task = library.get(task_prompt, "task")
    if system_prompt is not None and system_prompt.strip().lower() == "none":
        system = None
    elif system_prompt is not None:
        system = library.get(system_prompt, "system")
    elif task.system:
        system = library.get(task.system, "system")
    else:
        system = None
    return task, system


def _build_config(
    *,
    model: str,
    task_prompt: str,
    system_prompt: str | None,
    prompt_dir: list[Path] | None,
    base_url: str | None,
    api_key_env: str | None,
    input_field_expression: list[str] | None,
    input_field_format: str | None,
    reasoning_effort: str | None,
    service_tier: str | None,
    temperature: float | None,
    max_new_tokens: int | None,
    response_format: str,
    max_text_length: int | None,
    chunking: str,
    num_chunks: int,
    samples: int,
    aggregate: str,
    cache_location: Path | None,
    reprocess_all_rows: bool,
    output_field: str | None,
    **extra: Any,
) -> AnnotateConfig:
    from bonepick.annotate.cache import resolve_cache_path
    from bonepick.annotate.chunking import DEFAULT_MAX_TEXT_LENGTH
    from bonepick.annotate.client import ClientSettings, RequestParams
    from bonepick.annotate.prompts import INPUT_FORMATS
    from bonepick.annotate.runner import AnnotateConfig, parse_input_expressions
    from bonepick.errors import UsageError

    _check_choice(
        "--reasoning-effort", reasoning_effort, ("none", "minimal", "low", "medium", "high", "xhigh")
    )
    _check_choice("--service-tier", service_tier, ("auto", "default", "flex", "scale", "priority"))
    _check_choice("--input-field-format", input_field_format, INPUT_FORMATS)
    if max_new_tokens is not None and max_new_tokens < 1:
        raise UsageError(f"--max-new-tokens must be at least 1, got {max_new_tokens}")
    task, system = _load_prompts(task_prompt, system_prompt, prompt_dir)
    expressions = parse_input_expressions(input_field_expression or [], task)
    formats = {f.name: input_field_format or f.format for f in task.inputs}
    if chunking == "none" and max_text_length is not None:
        raise UsageError("--chunking none sends whole texts; it cannot be combined with --max-text-length")
    return AnnotateConfig(
        prompt=task,
        system_prompt=system,
        params=RequestParams(
            model=model,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            reasoning_effort=reasoning_effort,
            service_tier=service_tier,
        ),
        client=ClientSettings(base_url=base_url, api_key_env=api_key_env, **extra),
        expressions=expressions,
        formats=formats,
        output_field=output_field or "",
        response_format=response_format,
        max_text_length=None if chunking == "none" else (max_text_length or DEFAULT_MAX_TEXT_LENGTH),
        chunking=chunking,
        num_chunks=num_chunks,
        samples=samples,
        aggregate=aggregate,
        cache_path=resolve_cache_path(cache_location),
        reprocess_all=reprocess_all_rows,
    )


def _check_choice(option: str, value: str | None, choices: tuple[str, ...]) -> None:
    from bonepick.errors import UsageError

    if value is not None and value not in choices:
        raise UsageError(f"{option} must be one of {', '.join(choices)}, got '{value}'")


def _record_base_url(base_url: str | None) -> None:
    """Record --base-url without credentials before provenance is written."""
    from bonepick.annotate.client import public_url

    invocation = current_invocation.get()
    if invocation is not None:
        invocation.arguments["base_url"] = public_url(base_url) if base_url else None


def _annotation_record(
    config: AnnotateConfig, totals: dict[str, float], prices: tuple[float | None, float | None]
) -> dict:
    from bonepick.annotate.client import public_url

    usage: dict[str, Any] = {
        "requests": int(totals.get("requests", 0)),
        "retries": int(totals.get("retries", 0)),
        "cache_hits": int(totals.get("cache_hits", 0)),
        "prompt_tokens": int(totals.get("prompt_tokens", 0)),
        "completion_tokens": int(totals.get("completion_tokens", 0)),
    }
    cost = _cost(totals, prices)
    if cost is not None:
        usage["cost_usd"] = round(cost, 6)
    return {
        "annotation": {
            "model": config.params.model,
            "base_url": public_url(config.client.base_url),
            "api_key_env": config.client.api_key_env or "OPENAI_API_KEY",
            "prompt": {
                "name": config.prompt.name,
                "version": config.prompt.version,
                "fingerprint": config.prompt.fingerprint,
                "source": config.prompt.source,
            },
            "system_prompt": None
            if config.system_prompt is None
            else {
                "name": config.system_prompt.name,
                "fingerprint": config.system_prompt.fingerprint,
                "source": config.system_prompt.source,
            },
            "output_field": config.output_field,
            "inputs": config.expressions,
            "params": {
                "temperature": config.params.temperature,
                "max_new_tokens": config.params.max_new_tokens,
                "reasoning_effort": config.params.reasoning_effort,
                "service_tier": config.params.service_tier,
                "response_format": config.response_format,
            },
            "fit": {
                "max_text_length": config.max_text_length,
                "chunking": config.chunking,
                "num_chunks": config.num_chunks,
            },
            "samples": {"count": config.samples, "aggregate": config.aggregate},
            "cache": str(config.cache_path) if config.cache_path else None,
            "rows": {
                name: int(totals.get(f"rows_{name}", 0))
                for name in ("annotated", "cached", "passthrough", "failed")
            },
            "usage": usage,
            "errors": {
                k.removeprefix("errors_"): int(v)
                for k, v in sorted(totals.items())
                if k.startswith("errors_")
            },
        }
    }


def _cost(totals: dict[str, float], prices: tuple[float | None, float | None]) -> float | None:
    input_price, output_price = prices
    if input_price is None and output_price is None:
        return None
    return (
        totals.get("prompt_tokens", 0) * (input_price or 0)
        + totals.get("completion_tokens", 0) * (output_price or 0)
    ) / 1e6


def _show_annotation(totals: dict[str, float], prices: tuple[float | None, float | None], title: str) -> None:
    from bonepick.cli import output

    rows = [
        ["annotated now", int(totals.get("rows_annotated", 0))],
        ["from cache", int(totals.get("rows_cached", 0))],
        ["already annotated (kept)", int(totals.get("rows_passthrough", 0))],
        ["failed (error recorded)", int(totals.get("rows_failed", 0))],
        ["requests sent", int(totals.get("requests", 0))],
        ["retries", int(totals.get("retries", 0))],
        ["prompt tokens", int(totals.get("prompt_tokens", 0))],
        ["completion tokens", int(totals.get("completion_tokens", 0))],
    ]
    cost = _cost(totals, prices)
    if cost is not None:
        rows.append(["cost (USD)", f"{cost:.4f}"])
    errors = {k.removeprefix("errors_"): int(v) for k, v in sorted(totals.items()) if k.startswith("errors_")}
    if errors:
        rows.append(["failed attempts", ", ".join(f"{k}: {v}" for k, v in errors.items())])
    output.table(title, ["", "count"], rows)


class _LiveColumn:
    """Requests/s, tokens/s, cache hits and errors, read from the workers' live counter files."""

    def __init__(self, output_root: Path) -> None:
        from rich.progress import ProgressColumn

        self.output_root = output_root
        self.started = time.monotonic()
        self._last = 0.0
        self._text = ""
        outer = self

        class Column(ProgressColumn):
            def render(self, task: Any) -> Any:
                from rich.text import Text

                return Text(outer.text(), style="magenta")

        self.column = Column()

    def text(self) -> str:
        from bonepick.annotate.runner import read_live_counters

        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            values = read_live_counters(self.output_root)
            elapsed = max(1e-6, now - self.started)
            tokens = values.get("prompt_tokens", 0) + values.get("completion_tokens", 0)
            self._text = (
                f"{values.get('requests', 0) / elapsed:.1f} req/s  {tokens / elapsed:,.0f} tok/s  "
                f"cache {int(values.get('cache_hits', 0)):,}  errors {int(values.get('errors', 0)):,}"
            )
        return self._text


def _progress(output_root: Path) -> Any:
    from bonepick.cli.common import progress

    sink = progress()
    live = _LiveColumn(output_root)
    original_start = sink.start

    def start(description: str, total_shards: int) -> None:
        original_start(description, total_shards)
        live.started = time.monotonic()
        if sink._progress is not None:
            sink._progress.columns = (*sink._progress.columns, live.column)

    sink.start = start  # type: ignore[method-assign]
    return sink


def _report_failures(totals: dict[str, float], config: AnnotateConfig, rerun_hint: str) -> None:
    from bonepick.cli import output

    failed = int(totals.get("rows_failed", 0))
    if failed:
        output.warn(
            f"{failed:,} row(s) could not be annotated; they are written with {config.output_field}: null "
            f"and the reason under {config.error_field}. {rerun_hint}"
        )


# -- annotate-dataset ------------------------------------------------------------------------------


@command("annotate")
def annotate_dataset(
    dataset_dir: DatasetDirs,
    output_dir: OutputDir,
    model: Model,
    task_prompt: TaskPrompt,
    system_prompt: SystemPrompt = None,
    prompt_dir: PromptDirs = None,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = None,
    input_field_expression: InputExpressions = None,
    input_field_format: InputFormat = None,
    reasoning_effort: ReasoningEffort = None,
    service_tier: ServiceTier = None,
    temperature: Temperature = None,
    max_new_tokens: MaxNewTokens = None,
    response_format: ResponseFormat = "auto",
    max_text_length: MaxTextLength = None,
    chunking: Chunking = "head",
    num_chunks: NumChunks = 4,
    samples: Samples = 1,
    aggregate: Aggregate = "majority",
    max_requests_per_minute: Annotated[
        float | None,
        typer.Option(
            "--max-requests-per-minute", help="Requests per minute, all workers together.", show_default=False
        ),
    ] = None,
    max_tokens_per_minute: Annotated[
        float | None,
        typer.Option(
            "--max-tokens-per-minute",
            help="Tokens per minute (prompt + reply), all workers together.",
            show_default=False,
        ),
    ] = None,
    max_concurrent_requests: Annotated[
        int,
        typer.Option("--max-concurrent-requests", help="Requests in flight at once, all workers together."),
    ] = 64,
    max_retries: Annotated[
        int,
        typer.Option("--max-retries", help="Retries per request after a 429, 5xx, timeout or invalid reply."),
    ] = 5,
    retry_delay: Annotated[
        float,
        typer.Option("--retry-delay", help="First backoff in seconds; doubles per retry (Retry-After wins)."),
    ] = 1.0,
    request_timeout: Annotated[
        float, typer.Option("--request-timeout", help="Seconds to wait for one reply.")
    ] = 120.0,
    limit_rows: LimitRows = None,
    cache_location: CacheLocation = None,
    reprocess_all_rows: ReprocessAll = False,
    output_field: OutputField = None,
    input_price: Annotated[
        float | None,
        typer.Option(
            "--input-price", help="USD per million prompt tokens, to report the cost.", show_default=False
        ),
    ] = None,
    output_price: Annotated[
        float | None,
        typer.Option("--output-price", help="USD per million completion tokens.", show_default=False),
    ] = None,
    http_backend: Annotated[
        str,
        typer.Option(
            "--http-backend",
            help="HTTP transport of the openai client: auto (aiohttp when installed), aiohttp or httpx.",
        ),
    ] = "auto",
    num_proc: Annotated[
        int | None,
        typer.Option(
            "-p", "--num-proc", help="Worker processes (one event loop each; limits are shared out)."
        ),
    ] = 1,
    overwrite: Overwrite = False,
) -> None:
    """Rate every row with an LLM and a rubric prompt, through any OpenAI-compatible server.

    The answer (validated against the prompt's JSON Schema) is stored under a field named after the
    prompt, beside the untouched row; the output mirrors the input's splits and shards. Answers are
    cached in SQLite, so an interrupted run resumes without paying twice. Rows that still fail
    after the retries are kept with an error record and retried by the next run.
    """
    from bonepick.annotate.client import HTTP_BACKENDS
    from bonepick.annotate.runner import annotate_dataset as run
    from bonepick.cli.common import call_with_options, finish

    _check_choice("--http-backend", http_backend, HTTP_BACKENDS)
    config = call_with_options(
        _build_config,
        locals(),
        timeout=request_timeout,
        max_connections=max_concurrent_requests,
        http_backend=http_backend,
    )
    config.requests_per_minute = _positive("--max-requests-per-minute", max_requests_per_minute)
    config.tokens_per_minute = _positive("--max-tokens-per-minute", max_tokens_per_minute)
    config.max_concurrent = max_concurrent_requests
    config.max_retries = max_retries
    config.retry_delay = retry_delay
    _record_base_url(base_url)
    result = run(
        dataset_dir,
        output_dir,
        config,
        num_proc=check_num_proc(num_proc),
        overwrite=overwrite,
        limit_rows=limit_rows,
        progress=_progress(output_dir),
    )
    prices = (input_price, output_price)
    finish(
        output_dir,
        result.summary,
        "annotate-dataset",
        extra=_annotation_record(config, result.totals, prices),
    )
    _show_annotation(result.totals, prices, f"annotation with {config.prompt.name} on {config.params.model}")
    _notes(result)
    _report_failures(
        result.totals, config, "Rerun the same command to retry them; the rest comes from the cache."
    )


def _positive(option: str, value: float | None) -> float | None:
    from bonepick.errors import UsageError

    if value is not None and value <= 0:
        raise UsageError(f"{option} must be positive, got {value:g}")
    return value


def _notes(result: Any) -> None:
    from bonepick.cli import output

    if result.shards_not_needed:
        output.info(f"--limit-rows: {result.shards_not_needed} shard(s) after the limit were not processed")
    if result.shards_redone:
        output.info(
            f"{result.shards_redone} complete shard(s) redone: made with other settings or holding failed rows"
        )
    if result.workers > 1:
        output.info(
            f"{result.workers} worker processes, each with 1/{result.workers} of the rate limits and concurrency"
        )


# -- annotate-batch --------------------------------------------------------------------------------

batch_app = typer.Typer(
    name="annotate-batch",
    help="Annotate through the OpenAI Batch API (half price, results within 24h): submit, then retrieve.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(batch_app, name="annotate-batch", rich_help_panel=PANELS["annotate"])

BatchDir = Annotated[
    Path,
    typer.Option(
        "-b",
        "--batch-dir",
        help="Folder for the request files and manifest of this batch job.",
        show_default=False,
    ),
]


@command("annotate", "submit", group=batch_app)
def annotate_batch_submit(
    dataset_dir: DatasetDirs,
    batch_dir: BatchDir,
    model: Model,
    task_prompt: TaskPrompt,
    system_prompt: SystemPrompt = None,
    prompt_dir: PromptDirs = None,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = None,
    input_field_expression: InputExpressions = None,
    input_field_format: InputFormat = None,
    reasoning_effort: ReasoningEffort = None,
    service_tier: ServiceTier = None,
    temperature: Temperature = None,
    max_new_tokens: MaxNewTokens = None,
    response_format: ResponseFormat = "json_schema",
    max_text_length: MaxTextLength = None,
    chunking: Chunking = "head",
    num_chunks: NumChunks = 4,
    samples: Samples = 1,
    aggregate: Aggregate = "majority",
    limit_rows: LimitRows = None,
    cache_location: CacheLocation = None,
    reprocess_all_rows: ReprocessAll = False,
    output_field: OutputField = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Most requests per batch (the API allows 50,000).")
    ] = 50_000,
    completion_window: Annotated[
        str, typer.Option("--completion-window", help="Batch completion window.")
    ] = "24h",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the request files and manifest, submit nothing.")
    ] = False,
) -> None:
    """Write the requests annotate-dataset would send (minus cached ones) and submit them as batches.

    Same prompts and options as annotate-dataset. The batch folder keeps the request files and a
    manifest with the batch ids; retrieve the results with `annotate-batch retrieve`.
    """
    from bonepick.annotate.batch import submit_batch
    from bonepick.cli import output
    from bonepick.cli.common import call_with_options, write_provenance

    config = call_with_options(_build_config, locals())
    _record_base_url(base_url)
    result = submit_batch(
        dataset_dir,
        batch_dir,
        config,
        limit_rows=limit_rows,
        batch_size=batch_size,
        completion_window=completion_window,
        dry_run=dry_run,
    )
    counts = {
        "rows": result.rows,
        "rows_passthrough": result.rows_passthrough,
        "requests": result.requests,
        "requests_cached": result.requests_cached,
        "requests_duplicate": result.requests_duplicate,
        "requests_submitted": sum(p.requests for p in result.parts),
        "batches": [{"batch_id": p.batch_id, "requests": p.requests, "file": p.path} for p in result.parts],
    }
    write_provenance(batch_dir, counts)
    output.table(
        "annotate-batch submit",
        ["", "count"],
        [
            ["rows read", result.rows],
            ["already annotated (kept)", result.rows_passthrough],
            ["requests needed", result.requests],
            ["answered from cache", result.requests_cached],
            ["duplicates (sent once)", result.requests_duplicate],
            ["requests submitted", counts["requests_submitted"]],
        ],
    )
    if result.parts:
        output.table(
            "batches",
            ["file", "requests", "MB", "batch id", "status"],
            [
                [p.path, p.requests, round(p.bytes / 1e6, 3), p.batch_id or "-", p.status or "not submitted"]
                for p in result.parts
            ],
        )
    else:
        output.info(
            "nothing to submit: every request is answered in the cache; run `annotate-batch retrieve` to write the output"
        )
    output.info(f"batch folder: {batch_dir}")


@command("annotate", "retrieve", group=batch_app)
def annotate_batch_retrieve(
    batch_dir: BatchDir,
    output_dir: OutputDir,
    base_url: BaseUrl = None,
    api_key_env: ApiKeyEnv = None,
    cache_location: CacheLocation = None,
    wait: Annotated[bool, typer.Option("--wait", help="Poll until every batch has finished.")] = False,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="Seconds between polls with --wait.")
    ] = 30.0,
    wait_timeout: Annotated[
        float | None,
        typer.Option("--wait-timeout", help="Give up waiting after this many seconds.", show_default=False),
    ] = None,
    num_proc: NumProc = 1,
    overwrite: Overwrite = False,
) -> None:
    """Check the batches of a batch folder; once they are done, write the annotated dataset.

    The output is the same as annotate-dataset writes. Requests without a valid answer become rows
    with an error record; submit again (only those are sent) or run annotate-dataset to fill them.
    """
    from bonepick.annotate.batch import retrieve_batch
    from bonepick.cli import output
    from bonepick.cli.common import finish

    _record_base_url(base_url)
    result = retrieve_batch(
        batch_dir,
        output_dir,
        base_url=base_url,
        api_key_env=api_key_env,
        cache_location=cache_location,
        wait=wait,
        poll_interval=poll_interval,
        timeout=wait_timeout,
        num_proc=check_num_proc(num_proc),
        overwrite=overwrite,
        progress=_progress(output_dir),
    )
    output.table(
        "batches",
        ["batch id", "status", "completed", "failed"],
        [
            [
                s["batch_id"],
                s["status"],
                (s.get("counts") or {}).get("completed", "-"),
                (s.get("counts") or {}).get("failed", "-"),
            ]
            for s in result.statuses
        ],
    )
    if not result.ready:
        output.info("not every batch has finished yet; run this command again later, or add --wait")
        return
    annotation = result.annotation
    assert annotation is not None
    from bonepick.annotate.batch import batch_config

    _, config = batch_config(batch_dir, base_url, api_key_env, cache_location)
    totals = dict(annotation.totals)
    extra = _annotation_record(config, totals, (None, None))
    extra["annotation"]["batch"] = {
        "answers": result.answers,
        "invalid": result.invalid,
        "failed": result.failed,
    }
    finish(output_dir, annotation.summary, "annotate-batch retrieve", extra=extra)
    if result.answers or result.invalid or result.failed:
        output.info(
            f"batch results: {result.answers:,} valid answers stored in the cache, {result.invalid:,} invalid, "
            f"{result.failed:,} failed"
        )
    _show_annotation(totals, (None, None), f"annotation with {config.prompt.name} on {config.params.model}")
    _report_failures(
        totals, config, "Submit again (only missing requests are sent) or run annotate-dataset to fill them."
    )


# -- annotation-summary ----------------------------------------------------------------------------


@command("annotate")
def annotation_summary(
    dataset_dir: DatasetDirs,
    task_prompt: TaskPrompt,
    prompt_dir: PromptDirs = None,
    field: Annotated[
        str | None,
        typer.Option(
            "--field", help="Field holding the annotation [default: the prompt name].", show_default=False
        ),
    ] = None,
    buckets: Annotated[
        str | None,
        typer.Option(
            "--buckets",
            help="Score thresholds between buckets, e.g. 1.5,2.5,3.5 [default: the prompt's, else even].",
            show_default=False,
        ),
    ] = None,
    bucket_names: Annotated[
        str | None,
        typer.Option(
            "--bucket-names", help="Bucket names [default: Poor,Low,Medium,Good].", show_default=False
        ),
    ] = None,
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="Also write the summary as CSV to this file.", show_default=False),
    ] = None,
    num_proc: NumProc = 1,
) -> None:
    """Per-score means and the share of Poor/Low/Medium/Good documents of an annotated dataset."""
    from bonepick.annotate.prompts import PromptLibrary
    from bonepick.annotate.summary import parse_buckets, summarize_annotations
    from bonepick.cli import output
    from bonepick.cli.common import progress

    prompt = PromptLibrary(prompt_dir or []).get(task_prompt, "task")
    summary = summarize_annotations(
        dataset_dir,
        prompt,
        field_name=field,
        buckets=parse_buckets(buckets, bucket_names),
        num_proc=check_num_proc(num_proc),
        csv_path=csv_path,
        progress=progress(),
    )
    splits = sorted(summary.splits.items())
    sections = [*splits, ("all", summary.total)] if len(splits) > 1 else splits
    output.table(
        f"{summary.field_name}: rows",
        ["split", "rows", "annotated", "failed", "missing"],
        [[name, s.rows, s.annotated, s.failed, s.missing] for name, s in sections],
    )
    for name, s in sections:
        rows = [
            [field_name, f.count, f.mean, f.std, f.minimum, f.maximum] for field_name, f in s.fields.items()
        ]
        if rows:
            output.table(
                f"{summary.field_name} scores ({name})", ["score", "count", "mean", "std", "min", "max"], rows
            )
    if summary.buckets is not None:
        columns = ["split", *summary.buckets.names]
        rows = []
        for name, s in sections:
            total = sum(s.buckets.values())
            rows.append(
                [
                    name,
                    *[f"{(s.buckets.get(b, 0) / total if total else 0):.1%}" for b in summary.buckets.names],
                ]
            )
        edges = ", ".join(
            f"{n} < {t:g}" for n, t in zip(summary.buckets.names, summary.buckets.thresholds, strict=False)
        )
        output.table(f"{summary.score} buckets ({edges}, {summary.buckets.names[-1]} above)", columns, rows)
    if csv_path is not None:
        output.info(f"csv: {csv_path}")
