"""A real, local OpenAI-compatible HTTP server for tests and benchmarks.

It speaks enough of the OpenAI REST API for bonepick's annotation code to run unchanged against it:
``POST /v1/chat/completions``, ``GET /v1/models``, the Files API (``POST /v1/files``,
``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``) and the Batch API (``POST /v1/batches``,
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``). Replies come from a deterministic,
rule-based responder, and faults can be injected: fixed latency, HTTP 429 and 500, requests that
hang past the client's timeout, replies whose content is not JSON, JSON that breaks the schema, and
HTTP bodies that are not JSON at all. Every request is counted with its arrival time, so tests can
check what reached the server (how many requests, when, with which key, how many at once).

No third-party web framework: a small HTTP/1.1 keep-alive server on :mod:`asyncio` protocols, fast
enough to sustain thousands of requests per second on one core.

Use it in a test (the fixture lives in ``tests/servers/fixtures.py`` and is registered in
``tests/conftest.py``)::

    def test_something(openai_server, monkeypatch):
        openai_server.configure(latency=0.01, rate_429=0.2)   # any Faults field
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        ... point the code at openai_server.base_url ("http://127.0.0.1:PORT/v1") ...
        stats = openai_server.stats()
        assert stats["chat_requests"] == 10
        assert stats["max_in_flight"] <= 4

Or by hand, in this process (a background thread) or as a separate process (for benchmarks, so the
server does not share the client's interpreter lock)::

    from tests.servers.openai_server import OpenAIServer, SubprocessServer
    with OpenAIServer(latency=0.05) as server:          # thread in this process
        ...
    with SubprocessServer(latency=0.05) as server:      # python -m tests.servers.openai_server
        ...

Both handles have the same interface: ``base_url``, ``url``, ``configure(**faults)``, ``stats()``,
``requests()`` (one dict per chat request: arrival time, outcome, model, authorization, text),
``reset()`` (forget counts; keeps faults) and ``close()``.

The responder decides each reply from the last user message:

* ``[[score=3]]`` anywhere in the text makes every numeric field of the output 3 (clamped to the
  schema's range); ``[[scores=1,3,3]]`` gives the k-th request carrying that exact text the k-th value
  (cycling), which is how tests check sampling and aggregation.
* Otherwise the score is rule-based: longer words and sentences score higher, from the schema's
  minimum to its maximum. The same text always gets the same score.
* The output shape follows the JSON Schema in ``response_format`` (``json_schema``), or, when the
  request has none, the last fenced ``json`` block in the prompt that looks like a schema, or else
  ``{"score": N}``. Strings get a short rationale, booleans ``score >= middle``, enums an element.
* ``[[classify: a=w1|w2; b=w3; c=*]]`` in the text makes every enum field the class whose words
  occur most often (case-insensitive, whole words) in the ``<document>...</document>`` part of the
  text (or the whole text without the directive); ``*`` marks the class for documents with no
  keyword (else the first class). String fields then echo the directive, so a "rules" reply written
  from a description that carries it passes it on to the labelling prompts (``bootstrap`` tests).
* ``BONEPICK-FAIL`` in the text (``Faults.fail_marker``) makes that request fail every time with a
  500, so a row can be made to fail for good.

Fault outcomes are drawn per request from ``Faults.script`` first (a list of outcome names consumed
in arrival order), then at random with ``Faults.seed``: ``ok``, ``429``, ``500``, ``timeout`` (the
server waits ``hang_seconds`` before answering), ``malformed`` (content is prose, not JSON),
``invalid`` (JSON that violates the schema), ``bad_body`` (HTTP 200 whose body is not JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import math
import random
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

OUTCOMES = ("ok", "429", "500", "timeout", "malformed", "invalid", "bad_body")
SCORE_DIRECTIVE = re.compile(r"\[\[score=(-?\d+(?:\.\d+)?)\]\]")
SCORES_DIRECTIVE = re.compile(r"\[\[scores=(-?\d+(?:\.\d+)?(?:,-?\d+(?:\.\d+)?)*)\]\]")
CLASSIFY_DIRECTIVE = re.compile(r"\[\[classify:[^\]]*\]\]")
_DOCUMENT = re.compile(r"<document>(.*?)</document>", re.S)
_JSON_FENCE = re.compile(r"```json\s*(\{.*?\})\s*```", re.S)
_WORD = re.compile(r"[A-Za-z]+")
_SENTENCE = re.compile(r"[.!?]+")


@dataclass
class Faults:
    """What the server does to requests. Every field can be changed with ``configure``."""

    latency: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_timeout: float = 0.0
    rate_malformed: float = 0.0
    rate_invalid: float = 0.0
    rate_bad_body: float = 0.0
    hang_seconds: float = 30.0
    #: value of the Retry-After header on 429 replies (None: no header)
    retry_after: float | None = 0.0
    #: outcomes for the next requests, consumed in arrival order before the random draws
    script: list[str] = field(default_factory=list)
    fail_marker: str = "BONEPICK-FAIL"
    #: answer 400 to requests that ask for ``response_format: json_schema`` (old servers do)
    reject_json_schema: bool = False
    #: how many times a batch must be polled before it reports ``completed``
    batch_polls: int = 1
    #: when set, requests whose ``Authorization`` is not ``Bearer <require_key>`` get a 401
    require_key: str | None = None
    seed: int = 0


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def rule_quality(text: str, words: list[str] | None = None) -> float:
    """A deterministic quality in [0, 1] from average word length and sentence length."""
    if words is None:
        words = _WORD.findall(text)
    if not words:
        return 0.0
    avg_word = sum(map(len, words)) / len(words)
    sentences = max(1, len([s for s in _SENTENCE.split(text) if s.strip()]))
    words_per_sentence = len(words) / sentences
    return _clamp(0.6 * (avg_word - 3.5) / 2.5 + 0.4 * (words_per_sentence - 5) / 20, 0.0, 1.0)


class RuleResponder:
    """Builds the assistant's reply for a chat request (see the module docstring for the rules)."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def reset(self) -> None:
        self._seen.clear()

    def score_for(self, text: str) -> float | None:
        """An explicit score requested by the text, or None for the rule-based one."""
        many = SCORES_DIRECTIVE.search(text)
        if many:
            values = [float(v) for v in many.group(1).split(",")]
            index = self._seen[text]
            self._seen[text] += 1
            return values[index % len(values)]
        one = SCORE_DIRECTIVE.search(text)
        return float(one.group(1)) if one else None

    def reply(self, body: dict[str, Any], invalid: bool = False) -> str:
        text = _last_user_text(body)
        schema = _requested_schema(body) or _schema_in_text(text)
        explicit = self.score_for(text)
        words = _WORD.findall(
            text
        )  # once per reply: the regex over the whole prompt is the server's main cost
        quality = rule_quality(text, words)
        if schema is None:
            value = explicit if explicit is not None else round(quality * 5)
            return json.dumps({"score": 99 if invalid else _number(value)})
        built = _build(schema, quality, explicit, text, len(words))
        if invalid:
            built = _break(schema, built)
        return json.dumps(built)


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def keyword_class(text: str) -> str | None:
    """The class a ``[[classify: ...]]`` directive gives the text (see the module docstring)."""
    directive = CLASSIFY_DIRECTIVE.search(text)
    if not directive:
        return None
    classes: list[tuple[str, list[str]]] = []
    fallback = None
    for part in directive.group(0)[len("[[classify:") : -2].split(";"):
        name, _, words = part.partition("=")
        name, words = name.strip(), words.strip()
        if not name:
            continue
        if words == "*":
            fallback = name
            classes.append((name, []))
        else:
            classes.append((name, [w.strip().lower() for w in words.split("|") if w.strip()]))
    if not classes:
        return None
    documents = _DOCUMENT.findall(text)
    body = " ".join(documents) if documents else CLASSIFY_DIRECTIVE.sub(" ", text)
    counts = Counter(w.lower() for w in re.findall(r"[A-Za-z0-9$]+", body))
    best, best_count = None, 0
    for name, words in classes:
        count = sum(counts[w] for w in words)
        if count > best_count:
            best, best_count = name, count
    return best or fallback or classes[0][0]


def _build(schema: dict[str, Any], quality: float, explicit: float | None, text: str, words: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    keyword = keyword_class(text) if "[[classify:" in text else None
    if "enum" in schema and keyword is not None and keyword in schema["enum"]:
        return keyword
    if kind == "string" and keyword is not None and "enum" not in schema:
        directive = CLASSIFY_DIRECTIVE.search(text).group(0)
        return f"Label each document by its keywords: {directive}"
    if "enum" in schema:
        options = schema["enum"]
        return options[min(len(options) - 1, int(quality * len(options)))]
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _build(sub, quality, explicit, text, words) for name, sub in props.items()}
    if kind in ("integer", "number"):
        low = schema.get("minimum", 0)
        high = schema.get("maximum", 5)
        value = explicit if explicit is not None else low + quality * (high - low)
        value = _clamp(value, low, high)
        return int(round(value)) if kind == "integer" else _number(value)
    if kind == "boolean":
        return (explicit / 5 if explicit is not None else quality) >= 0.5
    if kind == "array":
        return []
    if kind == "string":
        return f"rule-based rating of {words} words"
    return None


def _break(schema: dict[str, Any], built: Any) -> Any:
    """The same reply with its first numeric field pushed out of range (or a field removed)."""
    if isinstance(built, dict):
        for name, sub in schema.get("properties", {}).items():
            if sub.get("type") in ("integer", "number"):
                return {**built, name: sub.get("maximum", 5) + 100}
        if built:
            first = next(iter(built))
            return {k: v for k, v in built.items() if k != first}
    return {"unexpected": True}


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _requested_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return (fmt.get("json_schema") or {}).get("schema")
    return None


def _schema_in_text(text: str) -> dict[str, Any] | None:
    for block in reversed(_JSON_FENCE.findall(text)):
        try:
            candidate = json.loads(block)
        except ValueError:
            continue
        if isinstance(candidate, dict) and "properties" in candidate:
            return candidate
    return None


def _approx_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _State:
    """Everything the server remembers: faults, counters, uploaded files and batches."""

    def __init__(self, faults: Faults, models: list[str]) -> None:
        self.faults = faults
        self.models = models
        self.responder = RuleResponder()
        self.lock = threading.Lock()
        self.reset()
        self.files: dict[str, dict[str, Any]] = {}
        self.file_data: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_polls: Counter[str] = Counter()
        self._ids = itertools.count(1)

    def reset(self) -> None:
        with self.lock:
            self.records: list[dict[str, Any]] = []
            self.paths: Counter[str] = Counter()
            self.outcomes: Counter[str] = Counter()
            self.in_flight = 0
            self.max_in_flight = 0
            self.rng = random.Random(self.faults.seed)
            self.script = list(self.faults.script)
            self.responder.reset()

    def configure(self, **changes: Any) -> None:
        names = {f.name for f in dataclasses.fields(Faults)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        with self.lock:
            for name, value in changes.items():
                setattr(self.faults, name, value)
            if "script" in changes:
                self.script = list(self.faults.script)
            if "seed" in changes:
                self.rng = random.Random(self.faults.seed)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids):06d}"

    def draw_outcome(self, text: str) -> str:
        faults = self.faults
        if faults.fail_marker and faults.fail_marker in text:
            return "500"
        with self.lock:
            if self.script:
                return self.script.pop(0)
            roll = self.rng.random()
        for name, rate in (
            ("429", faults.rate_429),
            ("500", faults.rate_500),
            ("timeout", faults.rate_timeout),
            ("malformed", faults.rate_malformed),
            ("invalid", faults.rate_invalid),
            ("bad_body", faults.rate_bad_body),
        ):
            if roll < rate:
                return name
            roll -= rate
        return "ok"

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": sum(self.paths.values()),
                "chat_requests": self.paths.get("/v1/chat/completions", 0),
                "paths": dict(self.paths),
                "outcomes": dict(self.outcomes),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "faults": dataclasses.asdict(self.faults),
            }


def _json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> tuple:
    return status, json.dumps(payload).encode(), {"content-type": "application/json", **(headers or {})}


def _error(status: int, message: str, kind: str = "invalid_request_error", code: str | None = None) -> tuple:
    return _json_response(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})


class _App:
    """Routes requests; async so that latency and hangs do not block other connections."""

    def __init__(self, state: _State) -> None:
        self.state = state

    async def handle(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        state = self.state
        path = request.path.split("?", 1)[0]
        with state.lock:
            state.paths[path] += 1
        wanted = state.faults.require_key
        if path.startswith("/v1/") and wanted and request.headers.get("authorization") != f"Bearer {wanted}":
            return _error(401, "Incorrect API key provided", code="invalid_api_key")
        if path == "/v1/chat/completions" and request.method == "POST":
            return await self.chat(request)
        if path == "/v1/models" and request.method == "GET":
            return _json_response(
                200,
                {
                    "object": "list",
                    "data": [{"id": m, "object": "model", "owned_by": "test"} for m in state.models],
                },
            )
        if path == "/v1/files" and request.method == "POST":
            return self.upload(request)
        match = re.fullmatch(r"/v1/files/([^/]+)(/content)?", path)
        if match and request.method == "GET":
            file_id = match.group(1)
            if file_id not in state.files:
                return _error(404, f"no such file: {file_id}")
            if match.group(2):
                return 200, state.file_data[file_id], {"content-type": "application/octet-stream"}
            return _json_response(200, state.files[file_id])
        if path == "/v1/batches" and request.method == "POST":
            return self.create_batch(request)
        match = re.fullmatch(r"/v1/batches/([^/]+)(/cancel)?", path)
        if match:
            return self.batch(match.group(1), cancel=bool(match.group(2)))
        if path == "/_stats":
            return _json_response(200, state.stats())
        if path == "/_records":
            with state.lock:
                return _json_response(200, list(state.records))
        if path == "/_config" and request.method == "POST":
            try:
                state.configure(**json.loads(request.body or b"{}"))
            except ValueError as error:
                return _error(400, str(error))
            return _json_response(200, state.stats())
        if path == "/_reset" and request.method == "POST":
            state.reset()
            return _json_response(200, state.stats())
        return _error(404, f"unknown endpoint {request.method} {path}")

    async def chat(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        state = self.state
        arrived = time.monotonic()
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            return _error(400, "request body is not JSON")
        text = _last_user_text(body)
        outcome = state.draw_outcome(text)
        if (
            state.faults.reject_json_schema
            and (body.get("response_format") or {}).get("type") == "json_schema"
        ):
            outcome = "rejected"
        record = {
            "time": arrived,
            "outcome": outcome,
            "model": body.get("model"),
            "authorization": request.headers.get("authorization", ""),
            "text": text,
            "temperature": body.get("temperature"),
            "response_format": (body.get("response_format") or {}).get("type"),
            "body": body,
        }
        with state.lock:
            state.records.append(record)
            state.outcomes[outcome] += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            delay = state.faults.latency + (state.faults.hang_seconds if outcome == "timeout" else 0.0)
            if delay > 0:
                await asyncio.sleep(delay)
            return self._chat_reply(body, outcome)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _chat_reply(self, body: dict[str, Any], outcome: str) -> tuple[int, bytes, dict[str, str]]:
        faults = self.state.faults
        if outcome == "429":
            headers = {} if faults.retry_after is None else {"retry-after": f"{faults.retry_after:g}"}
            status, payload, base = _error(
                429, "Rate limit reached (injected)", "requests", "rate_limit_exceeded"
            )
            return status, payload, {**base, **headers}
        if outcome == "500":
            return _error(500, "The server had an error (injected)", "server_error")
        if outcome == "rejected":
            return _error(
                400, "response_format of type json_schema is not supported by this server", code=None
            )
        if outcome == "bad_body":
            return 200, b"<html>upstream proxy error</html>", {"content-type": "application/json"}
        return _json_response(200, self.completion(body, outcome))

    def completion(self, body: dict[str, Any], outcome: str = "ok") -> dict[str, Any]:
        state = self.state
        n = int(body.get("n") or 1)
        choices = []
        for index in range(n):
            if outcome == "malformed":
                content = "I would rate this document fairly highly, maybe a three"
            else:
                content = state.responder.reply(body, invalid=outcome == "invalid")
            choices.append(
                {
                    "index": index,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            )
        prompt_tokens = sum(_approx_tokens(str(m.get("content", ""))) for m in body.get("messages") or [])
        completion_tokens = sum(_approx_tokens(c["message"]["content"]) for c in choices)
        return {
            "id": state.next_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    # -- files and batches ----------------------------------------------------------------------

    def upload(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        content_type = request.headers.get("content-type", "")
        fields = _parse_multipart(request.body, content_type)
        if "file" not in fields:
            return _error(400, "multipart field 'file' is missing")
        filename, data = fields["file"]
        purpose = fields.get("purpose", (None, b"batch"))[1].decode()
        return _json_response(200, self._store_file(data, filename or "upload.jsonl", purpose))

    def _store_file(self, data: bytes, filename: str, purpose: str) -> dict[str, Any]:
        state = self.state
        file_id = state.next_id("file")
        record = {
            "id": file_id,
            "object": "file",
            "bytes": len(data),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
        }
        state.files[file_id] = record
        state.file_data[file_id] = data
        return record

    def create_batch(self, request: _Request) -> tuple[int, bytes, dict[str, str]]:
        state = self.state
        body = json.loads(request.body)
        input_id = body.get("input_file_id")
        if input_id not in state.file_data:
            return _error(400, f"no such input file: {input_id}")
        lines = [json.loads(line) for line in state.file_data[input_id].splitlines() if line.strip()]
        batch_id = state.next_id("batch")
        now = int(time.time())
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body.get("endpoint", "/v1/chat/completions"),
            "errors": None,
            "input_file_id": input_id,
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "completed_at": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }
        state.batches[batch_id] = batch
        state.batch_inputs = getattr(state, "batch_inputs", {})
        state.batch_inputs[batch_id] = lines
        return _json_response(200, batch)

    def batch(self, batch_id: str, cancel: bool = False) -> tuple[int, bytes, dict[str, str]]:
        state = self.state
        batch = state.batches.get(batch_id)
        if batch is None:
            return _error(404, f"no such batch: {batch_id}")
        if cancel:
            batch["status"] = "cancelled"
            return _json_response(200, batch)
        if batch["status"] in ("validating", "in_progress"):
            state.batch_polls[batch_id] += 1
            if state.batch_polls[batch_id] >= state.faults.batch_polls:
                self._finish_batch(batch)
            else:
                batch["status"] = "in_progress"
                batch["in_progress_at"] = batch["in_progress_at"] or int(time.time())
        return _json_response(200, batch)

    def _finish_batch(self, batch: dict[str, Any]) -> None:
        state = self.state
        outputs, errors = [], []
        for line in state.batch_inputs.pop(batch["id"]):
            body = line.get("body", {})
            text = _last_user_text(body)
            request_id = state.next_id("req")
            if state.faults.fail_marker and state.faults.fail_marker in text:
                errors.append(
                    {
                        "id": state.next_id("batch_req"),
                        "custom_id": line.get("custom_id"),
                        "response": {
                            "status_code": 500,
                            "request_id": request_id,
                            "body": {"error": {"message": "injected failure", "type": "server_error"}},
                        },
                        "error": None,
                    }
                )
                continue
            outcome = "invalid" if state.draw_outcome(text) == "invalid" else "ok"
            outputs.append(
                {
                    "id": state.next_id("batch_req"),
                    "custom_id": line.get("custom_id"),
                    "response": {
                        "status_code": 200,
                        "request_id": request_id,
                        "body": self.completion(body, outcome),
                    },
                    "error": None,
                }
            )
        now = int(time.time())
        out = self._store_file(
            b"".join(json.dumps(o).encode() + b"\n" for o in outputs), "output.jsonl", "batch_output"
        )
        batch["output_file_id"] = out["id"]
        if errors:
            err = self._store_file(
                b"".join(json.dumps(e).encode() + b"\n" for e in errors), "errors.jsonl", "batch_output"
            )
            batch["error_file_id"] = err["id"]
        batch.update(
            status="completed",
            in_progress_at=batch["in_progress_at"] or now,
            finalizing_at=now,
            completed_at=now,
            request_counts={
                "total": len(outputs) + len(errors),
                "completed": len(outputs),
                "failed": len(errors),
            },
        )


def _parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """``{field name: (file name, bytes)}`` of a multipart/form-data body."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    boundary = b"--" + match.group(1).encode()
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(boundary):
        part = part.strip(b"\r\n")
        if not part or part == b"--":
            continue
        head, _, data = part.partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            fields[name.group(1)] = (filename.group(1) if filename else None, data)
    return fields


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class _HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive; one request at a time per connection (clients do not pipeline)."""

    def __init__(self, app: _App) -> None:
        self.app = app
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.busy:
            self._next()

    def _next(self) -> None:
        request = self._parse()
        if request is not None:
            self.busy = True
            asyncio.get_running_loop().create_task(self._serve(request))

    def _parse(self) -> _Request | None:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        method, target, _ = head[0].split(" ", 2)
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, consumed = _dechunk(bytes(self.buffer[start:]))
            if body is None:
                return None
            del self.buffer[: start + consumed]
        else:
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buffer) - start < length:
                return None
            body = bytes(self.buffer[start : start + length])
            del self.buffer[: start + length]
        return _Request(method, target, headers, body)

    async def _serve(self, request: _Request) -> None:
        try:
            status, payload, headers = await self.app.handle(request)
        except Exception as error:  # a bug in the server must still answer
            status, payload, headers = _error(500, f"test server bug: {type(error).__name__}: {error}")
        if self.transport is None or self.transport.is_closing():
            return
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-length: {len(payload)}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload)
        self.busy = False
        if self.buffer:
            self._next()


def _dechunk(data: bytes) -> tuple[bytes | None, int]:
    body = bytearray()
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None, 0
        size = int(data[pos:end].split(b";")[0], 16)
        pos = end + 2
        if size == 0:
            if data[pos : pos + 2] != b"\r\n":
                return None, 0
            return bytes(body), pos + 2
        if len(data) < pos + size + 2:
            return None, 0
        body += data[pos : pos + size]
        pos += size + 2


class OpenAIServer:
    """The server on 127.0.0.1 in a background thread of this process.

    Use as a context manager, or call :meth:`start` and :meth:`close`. ``port=0`` picks a free port.
    """

    def __init__(self, port: int = 0, models: list[str] | None = None, **faults: Any) -> None:
        self._requested_port = port
        self.state = _State(Faults(**faults), models or ["test-model"])
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as ``base_url``."""
        return self.url + "/v1"

    def start(self) -> OpenAIServer:
        self._thread = threading.Thread(target=self._run, name="openai-test-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the test server did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = _App(self.state)
        self._server = loop.run_until_complete(
            loop.create_server(lambda: _HttpProtocol(app), "127.0.0.1", self._requested_port, backlog=2048)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def close(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def configure(self, **faults: Any) -> None:
        self.state.configure(**faults)

    def reset(self) -> None:
        self.state.reset()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def requests(self) -> list[dict[str, Any]]:
        """One record per chat request, in arrival order."""
        with self.state.lock:
            return list(self.state.records)

    def __enter__(self) -> OpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


class SubprocessServer:
    """The same server as a separate Python process (``python -m tests.servers.openai_server``),
    controlled over HTTP (``/_config``, ``/_stats``, ``/_reset``)."""

    def __init__(self, port: int = 0, event_loop: str = "auto", **faults: Any) -> None:
        self._args = [sys.executable, "-m", "tests.servers.openai_server", "--port", str(port)]
        self._args += ["--event-loop", event_loop]
        self._faults = faults
        self.port = 0
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def start(self) -> SubprocessServer:
        root = Path(__file__).resolve().parents[2]
        self._process = subprocess.Popen(
            self._args, stdout=subprocess.PIPE, cwd=root, text=True, start_new_session=True
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the test server process did not start")
        self.port = int(json.loads(line)["port"])
        if self._faults:
            self.configure(**self._faults)
        return self

    def _call(self, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method="POST" if data is not None else "GET"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def configure(self, **faults: Any) -> None:
        self._call("/_config", faults)

    def reset(self) -> None:
        self._call("/_reset", {})

    def stats(self) -> dict[str, Any]:
        return self._call("/_stats")

    def requests(self) -> list[dict[str, Any]]:
        return self._call("/_records")

    def close(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def __enter__(self) -> SubprocessServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local OpenAI-compatible test server.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument(
        "--event-loop",
        choices=["auto", "uvloop", "asyncio"],
        default="auto",
        help="auto: uvloop if installed",
    )
    args = parser.parse_args(argv)
    if args.event_loop != "asyncio":
        try:
            import uvloop  # type: ignore[import-not-found]

            uvloop.install()
        except ImportError:
            if args.event_loop == "uvloop":
                raise
    state = _State(Faults(latency=args.latency), ["test-model"])
    app = _App(state)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _HttpProtocol(app), "127.0.0.1", args.port, backlog=4096)
        print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
