"""The OpenAI-compatible chat client: the official ``openai`` package (``AsyncOpenAI``), with our own
retries (its built-in ones are off, so every attempt is counted and rate-limited), error
classification, and a raw-body request path that skips the SDK's per-call model building.

The API key is read from the environment (``OPENAI_API_KEY`` or the variable named by
``--api-key-env``) and handed only to the client; it is never stored, logged or written, and any
error text that might echo it is redacted.
"""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from bonepick.errors import BonepickError, UsageError

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"
OPENAI_HOST = "api.openai.com"
RESPONSE_FORMATS = ("auto", "json_schema", "json_object", "none")
HTTP_BACKENDS = ("auto", "aiohttp", "httpx")
SCHEMA_INSTRUCTIONS = "Respond with only a JSON object that matches this JSON Schema:"
_PLACEHOLDER_KEY = "not-needed"

#: failures worth another attempt
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "bad_response", "invalid_reply"})


class RequestError(Exception):
    """One failed attempt, classified: ``kind`` says whether and how to retry."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class ServerRejectedError(BonepickError):
    """The server refused every request (bad key, unknown model): stop instead of failing each row."""


@dataclass(frozen=True)
class Reply:
    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None


@dataclass(frozen=True)
class ClientSettings:
    """Where and how to connect. Holds the *name* of the key variable, never the key."""

    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float = 120.0
    max_connections: int = 256
    http_backend: str = "auto"

    @property
    def is_openai(self) -> bool:
        return self.base_url is None or urlsplit(self.base_url).hostname == OPENAI_HOST


def public_url(url: str | None) -> str:
    """``url`` without credentials or query string, safe for logs and provenance."""
    if not url:
        return f"https://{OPENAI_HOST}/v1"
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def resolve_api_key(settings: ClientSettings) -> str:
    """The key from the environment; a placeholder for self-hosted servers that need none."""
    name = settings.api_key_env or DEFAULT_API_KEY_ENV
    key = os.environ.get(name, "").strip()
    if key:
        return key
    if settings.api_key_env:
        raise UsageError(
            f"the environment variable {name} (from --api-key-env) is not set",
            hint=f"export {name}=... before running, or drop --api-key-env to use {DEFAULT_API_KEY_ENV}",
        )
    if settings.is_openai:
        raise UsageError(
            f"no API key: {DEFAULT_API_KEY_ENV} is not set",
            hint=f"export {DEFAULT_API_KEY_ENV}=..., or pass --api-key-env NAME to read the key from "
            "another variable, or --base-url for a self-hosted server",
        )
    return _PLACEHOLDER_KEY


def _raw_response_class() -> type:
    """The HTTP response class of the transport the installed openai package uses."""
    import openai

    for cls in openai.DefaultAsyncHttpxClient.__mro__:
        if cls.__name__ == "AsyncClient":
            return sys.modules[cls.__module__.split(".")[0]].Response
    import httpx

    return httpx.Response


_ssl_context: Any = None


def _verify_context() -> Any:
    """One TLS context per process: building one (and loading the CA bundle) per client is slow."""
    global _ssl_context
    if _ssl_context is None:
        import ssl

        try:
            import certifi

            _ssl_context = ssl.create_default_context(cafile=certifi.where())
        except ImportError:
            _ssl_context = ssl.create_default_context()
    return _ssl_context


def _http_client(settings: ClientSettings) -> Any:
    import openai

    limits_module = sys.modules[_raw_response_class().__module__.split(".")[0]]
    limits = limits_module.Limits(
        max_connections=settings.max_connections + 8, max_keepalive_connections=settings.max_connections + 8
    )
    backend = settings.http_backend
    if backend in ("auto", "aiohttp"):
        try:
            import aiohttp  # noqa: F401

            return openai.DefaultAioHttpClient(
                limits=limits, timeout=settings.timeout, verify=_verify_context()
            )
        except (ImportError, RuntimeError):
            if backend == "aiohttp":
                from bonepick.errors import MissingDependencyError

                raise MissingDependencyError("aiohttp", purpose="--http-backend aiohttp") from None
    return openai.DefaultAsyncHttpxClient(limits=limits, timeout=settings.timeout, verify=_verify_context())


class ChatClient:
    """Sends chat-completion request bodies; one instance per event loop (per shard)."""

    def __init__(self, settings: ClientSettings) -> None:
        import openai

        self.settings = settings
        self._key = resolve_api_key(settings)
        self._client = openai.AsyncOpenAI(
            api_key=self._key,
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.timeout,
            http_client=_http_client(settings),
        )
        self._raw = _raw_response_class()
        # newer SDKs take a pre-serialised body: orjson once instead of a deep copy and json.dumps
        self._send_bytes = "content" in inspect.signature(self._client.post).parameters

    @property
    def sdk(self) -> Any:
        """The underlying ``AsyncOpenAI`` (the Batch API uses its files and batches resources)."""
        return self._client

    def redact(self, text: str) -> str:
        if self._key and self._key != _PLACEHOLDER_KEY and len(self._key) >= 4:
            text = text.replace(self._key, "***")
        return text

    async def complete(self, body: dict[str, Any]) -> Reply:
        """One attempt; raises :class:`RequestError` (or :class:`ServerRejectedError`)."""
        import openai

        try:
            if self._send_bytes:
                response = await self._client.post(
                    "/chat/completions", content=orjson.dumps(body), cast_to=self._raw
                )
            else:
                response = await self._client.post("/chat/completions", body=body, cast_to=self._raw)
            payload = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise RequestError("bad_response", "the server's reply is not JSON") from None
        except openai.APITimeoutError:
            raise RequestError("timeout", f"no reply within {self.settings.timeout:g}s") from None
        except openai.APIConnectionError as error:
            raise RequestError("connection", self.redact(f"connection failed: {error}")) from None
        except openai.APIStatusError as error:
            raise self._classify(error) from None
        return _reply(payload)

    def _classify(self, error: Any) -> Exception:
        import openai

        status = error.status_code
        message = self.redact(_error_message(error))
        if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
            return ServerRejectedError(
                f"the server rejected the API key ({status}): {message}",
                hint=f"check the key in {self.settings.api_key_env or DEFAULT_API_KEY_ENV} "
                "(or the variable named by --api-key-env) and --base-url",
            )
        if isinstance(error, openai.NotFoundError):
            return ServerRejectedError(
                f"the server answered 404: {message}",
                hint="check the model name (-m) and --base-url (it usually ends in /v1)",
            )
        if status == 429:
            return RequestError("rate_limit", message, _retry_after(error.response), status)
        if status >= 500 or status in (408, 409):
            return RequestError("server", f"HTTP {status}: {message}", _retry_after(error.response), status)
        lowered = message.lower()
        if status == 400 and ("response_format" in lowered or "json_schema" in lowered):
            return RequestError("unsupported_format", message, status=status)
        return RequestError("bad_request", f"HTTP {status}: {message}", status=status)

    async def close(self) -> None:
        await self._client.close()


def _error_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return str(getattr(error, "message", error))


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        if headers.get("retry-after"):
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


def _reply(payload: Any) -> Reply:
    try:
        choice = payload["choices"][0]
        content = choice["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise RequestError("bad_response", "the reply has no choices[0].message") from None
    if content is None:
        refusal = (choice.get("message") or {}).get("refusal")
        raise RequestError(
            "invalid_reply", f"the model refused: {refusal}" if refusal else "the reply is empty"
        )
    usage = payload.get("usage") or {}
    return Reply(
        content=str(content),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choice.get("finish_reason"),
    )


@dataclass(frozen=True)
class RequestParams:
    """The generation parameters of every request of a run (all of them are in the cache key)."""

    model: str
    temperature: float | None = None
    max_new_tokens: int | None = None
    reasoning_effort: str | None = None
    service_tier: str | None = None

    def cache_params(self) -> dict[str, Any]:
        return {
            "temperature": self.temperature,
            "max_new_tokens": self.max_new_tokens,
            "reasoning_effort": self.reasoning_effort,
        }


def request_body(
    params: RequestParams,
    messages: list[dict[str, str]],
    *,
    schema: dict[str, Any] | None,
    schema_name: str,
    response_format: str,
    openai_host: bool,
) -> dict[str, Any]:
    """The chat-completions body. ``response_format`` is one of json_schema, json_object, none
    (``auto`` is resolved by the caller); the latter two also spell out the schema in the prompt."""
    template = BodyTemplate(
        params,
        schema=schema,
        schema_name=schema_name,
        response_format=response_format,
        openai_host=openai_host,
    )
    return template.body(messages)


class BodyTemplate:
    """Everything of a request body but the messages, built once per run and format: the strict
    schema, the generation parameters and the schema instructions are the same for every row."""

    def __init__(
        self,
        params: RequestParams,
        *,
        schema: dict[str, Any] | None,
        schema_name: str,
        response_format: str,
        openai_host: bool,
    ) -> None:
        from bonepick.annotate.schema import strict_schema

        self.model = params.model
        #: appended to the last message when the schema must be spelled out in the prompt
        self.instructions: str | None = None
        if response_format in ("json_object", "none") and schema is not None:
            text = orjson.dumps(schema, option=orjson.OPT_INDENT_2).decode()
            self.instructions = f"\n\n{SCHEMA_INSTRUCTIONS}\n```json\n{text}\n```"
        rest: dict[str, Any] = {}
        if params.temperature is not None:
            rest["temperature"] = params.temperature
        if params.max_new_tokens is not None:
            rest["max_completion_tokens" if openai_host else "max_tokens"] = params.max_new_tokens
        if params.reasoning_effort is not None:
            rest["reasoning_effort"] = params.reasoning_effort
        if params.service_tier is not None:
            rest["service_tier"] = params.service_tier
        if schema is not None and response_format == "json_schema":
            strict = strict_schema(schema)
            rest["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(schema_name),
                    "schema": strict if strict is not None else schema,
                    "strict": strict is not None,
                },
            }
        elif schema is not None and response_format == "json_object":
            rest["response_format"] = {"type": "json_object"}
        self.rest = rest

    def body(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        """A new body dict; the parts shared between bodies must not be mutated by the caller."""
        if self.instructions is not None:
            last = messages[-1]
            messages = [*messages[:-1], {**last, "content": last["content"] + self.instructions}]
        return {"model": self.model, "messages": messages, **self.rest}


def _schema_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)
    return (cleaned or "annotation")[:64]
