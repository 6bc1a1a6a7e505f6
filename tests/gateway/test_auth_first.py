"""Proxy routes authenticate before they look at anything else the caller sent."""

from __future__ import annotations

import httpx
import pytest

from apps.accounts.models import SCOPE_MANAGE
from apps.accounts.services import issue_api_key
from tests.gateway.conftest import make_agent

pytestmark = pytest.mark.usefixtures("committed_db")

BAD_BODY = b'{"model": 5}'


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses", "/v1/messages",
                                  "/v1beta/models/gemini-1.5-flash:generateContent"])
def test_no_key_is_401_even_with_a_bad_body_and_no_agent_header(gw, path):
    resp = httpx.post(f"{gw.url}{path}", content=BAD_BODY, timeout=30)
    assert (resp.status_code, resp.json()["detail"]) == (401, "Missing API key")


def test_manage_only_key_cannot_proxy(gw, fake):
    ctx = make_agent()
    key = issue_api_key(ctx.tenant.org, scopes=[SCOPE_MANAGE]).plaintext
    resp = httpx.post(f"{gw.url}/v1/agents/{ctx.agent_id}/runs/{ctx.test_id}/openai/chat/completions",
                      json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                      headers={"x-api-key": key}, timeout=30)
    assert (resp.status_code, resp.json()["detail"]) == (403, "Insufficient scope")


def test_missing_agent_header_after_auth(gw):
    ctx = make_agent()
    resp = httpx.post(f"{gw.url}/v1/chat/completions", content=BAD_BODY, headers={"x-api-key": ctx.tenant.key},
                      timeout=30)
    assert (resp.status_code, resp.json()["detail"]) == (400, "Missing x-cynsta-agent-id header")


@pytest.mark.parametrize("body", [
    {"model": "gpt-4o", "input": [{"role": "user", "content": "hi", "type": []}]},
    {"model": "gpt-4o", "input": [{"role": "user", "content": [{"type": {"x": 1}, "text": "hi"}]}]},
    {"model": "gpt-4o", "input": "hi", "tools": [{"type": ["web_search"]}]},
])
def test_non_string_type_discriminators_are_400(gw, body):
    ctx = make_agent()
    resp = httpx.post(f"{gw.url}/v1/responses", json=body, headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}),
                      timeout=30)
    assert resp.status_code == 400, resp.text
    assert resp.json()["detail"].endswith(".type must be a string")
