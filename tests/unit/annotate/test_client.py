"""Request bodies, key lookup and URLs that are safe to record."""

from __future__ import annotations

import pytest

from bonepick.annotate.client import ClientSettings, RequestParams, public_url, request_body, resolve_api_key
from bonepick.errors import UsageError

SCHEMA = {"type": "object", "properties": {"score": {"type": "integer"}}}
MESSAGES = [{"role": "system", "content": "sys"}, {"role": "user", "content": "rate this"}]


def test_body_for_each_response_format():
    params = RequestParams(
        "m", temperature=0.0, max_new_tokens=64, reasoning_effort="low", service_tier="flex"
    )
    body = request_body(
        params,
        MESSAGES,
        schema=SCHEMA,
        schema_name="fine web",
        response_format="json_schema",
        openai_host=True,
    )
    assert body["max_completion_tokens"] == 64 and body["temperature"] == 0.0
    assert body["reasoning_effort"] == "low" and body["service_tier"] == "flex"
    assert body["response_format"]["json_schema"]["name"] == "fine_web"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["messages"] == MESSAGES
    plain = request_body(
        params, MESSAGES, schema=SCHEMA, schema_name="x", response_format="none", openai_host=False
    )
    assert "response_format" not in plain and plain["max_tokens"] == 64
    assert plain["messages"][0] == MESSAGES[0]
    assert plain["messages"][1]["content"].startswith("rate this\n\nRespond with only a JSON object")
    assert '"score"' in plain["messages"][1]["content"]
    json_object = request_body(
        params, MESSAGES, schema=SCHEMA, schema_name="x", response_format="json_object", openai_host=False
    )
    assert json_object["response_format"] == {"type": "json_object"}
    bare = request_body(
        RequestParams("m"),
        MESSAGES,
        schema=SCHEMA,
        schema_name="x",
        response_format="json_schema",
        openai_host=True,
    )
    assert set(bare) == {"model", "messages", "response_format"}


def test_public_url_drops_credentials():
    assert public_url("http://user:secret@host:8000/v1?key=abc") == "http://host:8000/v1"
    assert public_url(None) == "https://api.openai.com/v1"


def test_key_lookup_order(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(UsageError, match="no API key"):
        resolve_api_key(ClientSettings())
    assert resolve_api_key(ClientSettings(base_url="http://localhost:8000/v1")) == "not-needed"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-a")
    assert resolve_api_key(ClientSettings()) == "sk-a"
    with pytest.raises(UsageError, match="MY_KEY"):
        resolve_api_key(ClientSettings(api_key_env="MY_KEY"))
    monkeypatch.setenv("MY_KEY", "sk-b")
    assert resolve_api_key(ClientSettings(api_key_env="MY_KEY")) == "sk-b"
