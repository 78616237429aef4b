"""The OpenAI Batch API for large jobs: ``annotate-batch submit`` and ``annotate-batch retrieve``.

``submit`` builds exactly the requests ``annotate-dataset`` would send (same prompts, same cache
keys), leaves out every request whose answer is already cached, writes them as JSONL request files
(at most ``batch_size`` requests and ``max_bytes`` each), uploads them and creates one batch per
file. The batch folder keeps the request files and a ``manifest.json`` (updated after each batch is
created, so an interrupted submit never loses a batch id) that records the inputs, the prompt
definition and every option needed to rebuild the run.

``retrieve`` polls the batches (``--wait`` to block until they finish), validates every answer
against the prompt's schema and stores it in the SQLite cache, records the failures, and then runs
the ordinary annotation step in offline mode: the output rows are the same as ``annotate-dataset``
would write, and requests without a valid answer are recorded as failed rows (rerun
``annotate-dataset`` or submit again to fill them; only the missing requests are sent).

The custom id of each request is its cache key, so identical requests are sent once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bonepick.annotate import eventloop
from bonepick.annotate.cache import AnswerCache
from bonepick.annotate.client import (
    ChatClient,
    ClientSettings,
    RequestError,
    RequestParams,
    ServerRejectedError,
    _reply,
    public_url,
    resolve_api_key,
)
from bonepick.annotate.prompts import Buckets, InputField, Prompt
from bonepick.annotate.runner import (
    AnnotateConfig,
    AnnotateResult,
    RequestBuilder,
    _plan_limit,
    annotate_dataset,
    check_config,
)
from bonepick.errors import InputNotFoundError, UsageError
from bonepick.io.atomic import atomic_write_bytes
from bonepick.io.dataset import discover_datasets
from bonepick.io.jsonl import iter_rows_sized
from bonepick.pipeline import ProgressSink
from bonepick.pipeline.tasks import plan_mirrored_tasks

MANIFEST = "manifest.json"
ERRORS = "errors.json"
ENDPOINT = "/v1/chat/completions"
DEFAULT_BATCH_SIZE = 50_000
DEFAULT_MAX_BYTES = 190 * 1024 * 1024
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})


# -------------------------------------------------------------------------------------- manifest


def _prompt_record(prompt: Prompt | None) -> dict[str, Any] | None:
    if prompt is None:
        return None
    record = {f.name: getattr(prompt, f.name) for f in dataclasses.fields(prompt)}
    record["inputs"] = [dataclasses.asdict(i) for i in prompt.inputs]
    record["buckets"] = dataclasses.asdict(prompt.buckets) if prompt.buckets else None
    return record


def _prompt_from_record(record: dict[str, Any] | None) -> Prompt | None:
    if record is None:
        return None
    data = dict(record)
    data["inputs"] = tuple(InputField(**i) for i in data.get("inputs", []))
    if data.get("buckets"):
        data["buckets"] = Buckets(tuple(data["buckets"]["thresholds"]), tuple(data["buckets"]["names"]))
    return Prompt(**data)


def _config_record(config: AnnotateConfig) -> dict[str, Any]:
    return {
        "prompt": _prompt_record(config.prompt),
        "system_prompt": _prompt_record(config.system_prompt),
        "params": dataclasses.asdict(config.params),
        "base_url": public_url(config.client.base_url) if config.client.base_url else None,
        "api_key_env": config.client.api_key_env,
        "expressions": config.expressions,
        "formats": config.formats,
        "output_field": config.output_field,
        "response_format": config.response_format,
        "max_text_length": config.max_text_length,
        "chunking": config.chunking,
        "num_chunks": config.num_chunks,
        "samples": config.samples,
        "aggregate": config.aggregate,
        "cache_path": str(config.cache_path) if config.cache_path else None,
    }


def _config_from_record(
    record: dict[str, Any], client: ClientSettings, cache_path: Path | None
) -> AnnotateConfig:
    prompt = _prompt_from_record(record["prompt"])
    assert prompt is not None
    return AnnotateConfig(
        prompt=prompt,
        system_prompt=_prompt_from_record(record.get("system_prompt")),
        params=RequestParams(**record["params"]),
        client=client,
        expressions=dict(record["expressions"]),
        formats=dict(record["formats"]),
        output_field=record["output_field"],
        response_format=record["response_format"],
        max_text_length=record["max_text_length"],
        chunking=record["chunking"],
        num_chunks=record["num_chunks"],
        samples=record["samples"],
        aggregate=record["aggregate"],
        cache_path=cache_path,
    )


def read_manifest(batch_dir: Path) -> dict[str, Any]:
    path = Path(batch_dir) / MANIFEST
    if not path.is_file():
        raise InputNotFoundError(
            f"{batch_dir} has no {MANIFEST}", hint="point -b at the folder given to `annotate-batch submit`"
        )
    return orjson.loads(path.read_bytes())


def _write_manifest(batch_dir: Path, manifest: dict[str, Any]) -> None:
    atomic_write_bytes(Path(batch_dir) / MANIFEST, orjson.dumps(manifest, option=orjson.OPT_INDENT_2))


# ---------------------------------------------------------------------------------------- submit


@dataclass
class BatchPart:
    path: str
    requests: int
    bytes: int
    file_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    ingested: bool = False


@dataclass
class SubmitResult:
    batch_dir: Path
    rows: int = 0
    rows_passthrough: int = 0
    rows_skipped: int = 0
    requests: int = 0
    requests_cached: int = 0
    requests_duplicate: int = 0
    parts: list[BatchPart] = field(default_factory=list)
    shards_not_needed: int = 0


class _RequestFiles:
    """Writes request lines into numbered files, starting a new one at the size limits."""

    def __init__(self, folder: Path, batch_size: int, max_bytes: int) -> None:
        self.folder = folder
        self.batch_size = batch_size
        self.max_bytes = max_bytes
        self.parts: list[BatchPart] = []
        self._handle: Any = None

    def write(self, line: bytes) -> None:
        part = self.parts[-1] if self.parts else None
        if part is None or part.requests >= self.batch_size or part.bytes + len(line) > self.max_bytes:
            self._open()
            part = self.parts[-1]
        self._handle.write(line)
        part.requests += 1
        part.bytes += len(line)

    def _open(self) -> None:
        self.close()
        path = self.folder / f"requests_{len(self.parts):05d}.jsonl"
        self._handle = open(path, "wb")  # noqa: SIM115 - closed in close()
        self.parts.append(BatchPart(path=path.name, requests=0, bytes=0))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def submit_batch(
    inputs: Sequence[Path],
    batch_dir: Path,
    config: AnnotateConfig,
    *,
    limit_rows: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_bytes: int = DEFAULT_MAX_BYTES,
    completion_window: str = "24h",
    dry_run: bool = False,
) -> SubmitResult:
    """Write the request files for every uncached request of ``inputs`` and submit them."""
    check_config(config)
    if config.response_format == "auto":
        config = dataclasses.replace(config, response_format="json_schema")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    batch_dir = Path(batch_dir)
    if (batch_dir / MANIFEST).exists():
        raise UsageError(
            f"{batch_dir} already holds a submitted batch",
            hint="retrieve it with `annotate-batch retrieve`, or choose a new --batch-dir",
        )
    if not dry_run:
        resolve_api_key(config.client)
    batch_dir.mkdir(parents=True, exist_ok=True)
    datasets = discover_datasets(inputs)
    tasks, not_needed = _plan_limit(plan_mirrored_tasks(datasets, batch_dir / "_output"), limit_rows)
    builder = RequestBuilder(config)
    cache = AnswerCache(config.cache_path)
    result = SubmitResult(batch_dir=batch_dir, shards_not_needed=not_needed)
    files = _RequestFiles(batch_dir, batch_size, max_bytes)
    seen: set[str] = set()
    try:
        for task in tasks:
            limit = task.params.get("limit")
            taken = 0
            for line, row, _size in iter_rows_sized(task.input):
                if limit is not None and taken >= limit:
                    result.rows_skipped += 1
                    continue
                taken += 1
                result.rows += 1
                if not config.reprocess_all and row.get(config.output_field) is not None:
                    result.rows_passthrough += 1
                    continue
                for chunk in builder.requests(row, task.input, line):
                    for request in chunk:
                        result.requests += 1
                        if request.key in seen:
                            result.requests_duplicate += 1
                        elif not config.reprocess_all and cache.contains(request.key):
                            result.requests_cached += 1
                        else:
                            seen.add(request.key)
                            body = builder.body(request, config.response_format)
                            files.write(
                                orjson.dumps(
                                    {
                                        "custom_id": request.key,
                                        "method": "POST",
                                        "url": ENDPOINT,
                                        "body": body,
                                    }
                                )
                                + b"\n"
                            )
    finally:
        files.close()
        cache.close()
    result.parts = files.parts
    manifest = {
        "format": 1,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "inputs": [str(Path(p).resolve()) for p in inputs],
        "limit_rows": limit_rows,
        "completion_window": completion_window,
        "config": _config_record(config),
        "counts": {
            "rows": result.rows,
            "rows_passthrough": result.rows_passthrough,
            "requests": result.requests,
            "requests_cached": result.requests_cached,
            "requests_duplicate": result.requests_duplicate,
        },
        "parts": [dataclasses.asdict(p) for p in result.parts],
        "submitted": not dry_run,
    }
    _write_manifest(batch_dir, manifest)
    if not dry_run and result.parts:
        eventloop.run(_upload(batch_dir, manifest, config.client, completion_window))
        result.parts = [BatchPart(**p) for p in manifest["parts"]]
    return result


async def _upload(batch_dir: Path, manifest: dict[str, Any], settings: ClientSettings, window: str) -> None:
    client = ChatClient(settings)
    try:
        for index, part in enumerate(manifest["parts"]):
            if part.get("batch_id"):
                continue
            with open(batch_dir / part["path"], "rb") as handle:
                uploaded = await _call(
                    client, client.sdk.files.create(file=(part["path"], handle), purpose="batch")
                )
            part["file_id"] = uploaded.id
            batch = await _call(
                client,
                client.sdk.batches.create(
                    input_file_id=uploaded.id,
                    endpoint=ENDPOINT,
                    completion_window=window,
                    metadata={"bonepick_part": f"{index + 1}/{len(manifest['parts'])}"},
                ),
            )
            part["batch_id"] = batch.id
            part["status"] = batch.status
            _write_manifest(batch_dir, manifest)
    finally:
        await client.close()


async def _call(client: ChatClient, call: Any) -> Any:
    """Await an SDK call, turning its errors into user-facing ones."""
    import openai

    try:
        return await call
    except openai.APIStatusError as error:
        classified = client._classify(error)
        if isinstance(classified, ServerRejectedError):
            raise classified from None
        raise UsageError(f"the Batch API call failed: {classified}") from None
    except openai.APIError as error:
        raise UsageError(f"the Batch API call failed: {client.redact(str(error))}") from None


# -------------------------------------------------------------------------------------- retrieve


@dataclass
class RetrieveResult:
    statuses: list[dict[str, Any]]
    ready: bool
    answers: int = 0
    invalid: int = 0
    failed: int = 0
    annotation: AnnotateResult | None = None


def batch_config(
    batch_dir: Path,
    base_url: str | None = None,
    api_key_env: str | None = None,
    cache_location: Path | None = None,
) -> tuple[dict[str, Any], AnnotateConfig]:
    """The manifest and the annotation config it was submitted with."""
    manifest = read_manifest(batch_dir)
    record = manifest["config"]
    settings = ClientSettings(
        base_url=base_url or record.get("base_url"), api_key_env=api_key_env or record.get("api_key_env")
    )
    cache_path = cache_location or (Path(record["cache_path"]) if record.get("cache_path") else None)
    return manifest, _config_from_record(record, settings, cache_path)


def retrieve_batch(
    batch_dir: Path,
    output_dir: Path,
    *,
    base_url: str | None = None,
    api_key_env: str | None = None,
    cache_location: Path | None = None,
    wait: bool = False,
    poll_interval: float = 30.0,
    timeout: float | None = None,
    num_proc: int | None = 1,
    overwrite: bool = False,
    progress: ProgressSink | None = None,
) -> RetrieveResult:
    batch_dir = Path(batch_dir)
    manifest, config = batch_config(batch_dir, base_url, api_key_env, cache_location)
    if not manifest.get("submitted"):
        raise UsageError(f"the batch in {batch_dir} was prepared with --dry-run and never submitted")
    result = eventloop.run(_collect(batch_dir, manifest, config, wait, poll_interval, timeout))
    if not result.ready:
        return result
    offline = dataclasses.replace(config, offline=True, offline_errors=batch_dir / ERRORS)
    result.annotation = annotate_dataset(
        [Path(p) for p in manifest["inputs"]],
        output_dir,
        offline,
        num_proc=num_proc,
        overwrite=overwrite,
        limit_rows=manifest.get("limit_rows"),
        progress=progress,
    )
    return result


async def _collect(
    batch_dir: Path,
    manifest: dict[str, Any],
    config: AnnotateConfig,
    wait: bool,
    poll: float,
    timeout: float | None,
) -> RetrieveResult:
    from bonepick.annotate.schema import ReplyValidator

    client = ChatClient(config.client)
    started = time.monotonic()
    try:
        while True:
            statuses = []
            for part in manifest["parts"]:
                if part.get("ingested"):
                    statuses.append(
                        {"batch_id": part["batch_id"], "status": part["status"], "counts": part.get("counts")}
                    )
                    continue
                batch = await _call(client, client.sdk.batches.retrieve(part["batch_id"]))
                part["status"] = batch.status
                counts = getattr(batch, "request_counts", None)
                part["counts"] = counts.model_dump() if counts is not None else None
                part["output_file_id"] = batch.output_file_id
                part["error_file_id"] = batch.error_file_id
                statuses.append({"batch_id": batch.id, "status": batch.status, "counts": part["counts"]})
            _write_manifest(batch_dir, manifest)
            ready = all(s["status"] in TERMINAL for s in statuses)
            if ready or not wait:
                break
            if timeout is not None and time.monotonic() - started > timeout:
                break
            await asyncio.sleep(poll)
        result = RetrieveResult(statuses=statuses, ready=ready)
        if not ready:
            return result
        validator = ReplyValidator(config.prompt.schema or {"type": "object", "properties": {}})
        errors_path = batch_dir / ERRORS
        errors: dict[str, str] = orjson.loads(errors_path.read_bytes()) if errors_path.is_file() else {}
        cache = AnswerCache(config.cache_path)
        try:
            for part in manifest["parts"]:
                if part.get("ingested"):
                    continue
                for file_id in (part.get("output_file_id"), part.get("error_file_id")):
                    if file_id:
                        await _ingest(client, file_id, config, validator, cache, errors, result)
                part["ingested"] = True
                cache.flush()
                atomic_write_bytes(errors_path, orjson.dumps(errors))
                _write_manifest(batch_dir, manifest)
        finally:
            cache.close()
        return result
    finally:
        await client.close()


async def _ingest(
    client: ChatClient,
    file_id: str,
    config: AnnotateConfig,
    validator: Any,
    cache: AnswerCache,
    errors: dict[str, str],
    result: RetrieveResult,
) -> None:
    """Validate each answer of a result file into the cache; remember why the others failed."""
    async with client.sdk.files.with_streaming_response.content(file_id) as response:
        async for line in response.iter_lines():
            if not line.strip():
                continue
            entry = orjson.loads(line)
            key = entry.get("custom_id")
            if not key:
                continue
            response_part = entry.get("response") or {}
            status = response_part.get("status_code")
            if entry.get("error") or status != 200:
                detail = entry.get("error") or (response_part.get("body") or {}).get("error") or {}
                message = detail.get("message") if isinstance(detail, dict) else str(detail)
                errors[key] = f"batch request failed (HTTP {status}): {message or 'no detail'}"
                result.failed += 1
                continue
            try:
                reply = _reply(response_part.get("body") or {})
                output = validator(reply.content)
            except RequestError as error:
                errors[key] = error.message
                result.invalid += 1
                continue
            except Exception as error:  # InvalidReply
                errors[key] = f"invalid_reply: {error}"
                result.invalid += 1
                continue
            cache.put(
                key,
                model=config.params.model,
                prompt=config.prompt.name,
                prompt_version=config.prompt_version,
                output=output,
                raw=reply.content,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                source="batch",
            )
            errors.pop(key, None)
            result.answers += 1
