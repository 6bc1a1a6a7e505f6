"""The official SDKs, unchanged, against the real server: each call debits exactly what the
reference engine computes from the fake's usage numbers on the active rate card."""

from __future__ import annotations

import json
import uuid

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.gateway.conftest import UPSTREAM_KEYS, expected_cents, held, make_agent, sum_events

pytestmark = pytest.mark.usefixtures("committed_db")

USAGE = {"input": 40, "output": 9, "cached": 10, "reasoning": 3, "cache_write": 6, "cache_read": 8,
         "thoughts": 2}
# A prompt long enough (≈18k bytes) that PRICEY's 4000 input tokens are honest usage for it.
LONG = "The quick brown fox jumps over the lazy dog. " * 400
PRICEY = json.dumps({"input": 4000, "output": 700, "cached": 1000, "reasoning": 300, "cache_write": 600,
                     "cache_read": 800, "thoughts": 200})


def assert_settled(ctx, before: int, cents: int) -> None:
    after = ctx.budget()
    assert before - after["remaining_cents"] == cents
    assert after["remaining_cents"] == sum_events(ctx.agent_id)
    assert held(ctx.agent_id) == 0


def no_spendguard_key(fake, ctx, expect_auth: tuple[str, str]) -> None:
    received = fake.requests_for(ctx.test_id)
    assert received
    for r in received:
        assert ctx.tenant.key not in json.dumps(r.headers)
        assert ctx.tenant.key not in json.dumps(r.body)
        assert r.headers[expect_auth[0]] == expect_auth[1]


@pytest.mark.parametrize("style", ["run_route", "native"])
def test_openai_chat_sdk(gw, fake, style):
    ctx = make_agent()
    run_id = str(uuid.uuid4())
    if style == "run_route":
        base, extra = f"{gw.url}/v1/agents/{ctx.agent_id}/runs/{run_id}/openai", {}
    else:
        base, extra = f"{gw.url}/v1", {"x-cynsta-agent-id": ctx.agent_id, "x-cynsta-run-id": run_id}
    client = openai.OpenAI(base_url=base, api_key=ctx.tenant.key, max_retries=0)
    before = ctx.budget()["remaining_cents"]
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-5.2",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "héllo 世界 " + LONG}],
        max_completion_tokens=800, n=2, extra_headers={**extra, "x-test-id": ctx.test_id, "x-fake-usage": PRICEY},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello from the fake upstream."
    u = completion.usage
    cents = expected_cents("openai", "gpt-5.2", input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens,
                           cached_input_tokens=u.prompt_tokens_details.cached_tokens,
                           reasoning_tokens=u.completion_tokens_details.reasoning_tokens)
    assert cents > 0
    assert int(raw.headers["x-cynsta-charged-cents"]) == cents
    assert raw.headers["x-cynsta-run-id"] == run_id
    assert_settled(ctx, before, cents)
    no_spendguard_key(fake, ctx, ("authorization", f"Bearer {UPSTREAM_KEYS['OPENAI_API_KEY']}"))
    assert fake.requests_for(ctx.test_id)[0].body["max_completion_tokens"] == 800


@pytest.mark.parametrize("style", ["run_route", "native"])
def test_openai_responses_sdk(gw, fake, style):
    ctx = make_agent()
    if style == "run_route":
        base, extra = f"{gw.url}/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/openai", {}
    else:
        base, extra = f"{gw.url}/v1", {"x-cynsta-agent-id": ctx.agent_id}
    client = openai.OpenAI(base_url=base, api_key=ctx.tenant.key, max_retries=0)
    before = ctx.budget()["remaining_cents"]
    tools = [{"type": "function", "name": "lookup", "description": "Look something up",
              "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}]
    resp = client.responses.create(
        model="o3", instructions="Answer.", input=[{"role": "user", "content": [{"type": "input_text", "text": LONG}]}],
        tools=tools, max_output_tokens=800, extra_headers={**extra, "x-test-id": ctx.test_id, "x-fake-usage": PRICEY},
    )
    assert resp.output_text == "Hello from the fake upstream."
    u = resp.usage
    cents = expected_cents("openai", "o3", input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                           cached_input_tokens=u.input_tokens_details.cached_tokens,
                           reasoning_tokens=u.output_tokens_details.reasoning_tokens)
    assert_settled(ctx, before, cents)
    body = fake.requests_for(ctx.test_id)[0].body
    assert body["tools"] == tools and body["instructions"] == "Answer." and body["max_output_tokens"] == 800
    no_spendguard_key(fake, ctx, ("authorization", f"Bearer {UPSTREAM_KEYS['OPENAI_API_KEY']}"))


@pytest.mark.parametrize("route", ["chat/completions", "responses"])
def test_grok_routes_go_to_xai_with_xai_key(gw, fake, client, route):
    ctx = make_agent()
    body = ({"model": "grok-3", "messages": [{"role": "user", "content": LONG}], "max_tokens": 800}
            if route == "chat/completions" else {"model": "grok-3", "input": LONG, "max_output_tokens": 800})
    before = ctx.budget()["remaining_cents"]
    r = client.post(f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/grok/{route}", json=body,
                    headers=ctx.headers(**{"x-fake-usage": PRICEY}))
    assert r.status_code == 200, r.text
    u = r.json()["usage"]
    if route == "chat/completions":
        cents = expected_cents("grok", "grok-3", input_tokens=u["prompt_tokens"], output_tokens=u["completion_tokens"],
                               cached_input_tokens=u["prompt_tokens_details"]["cached_tokens"],
                               reasoning_tokens=u["completion_tokens_details"]["reasoning_tokens"])
    else:
        cents = expected_cents("grok", "grok-3", input_tokens=u["input_tokens"], output_tokens=u["output_tokens"],
                               cached_input_tokens=u["input_tokens_details"]["cached_tokens"],
                               reasoning_tokens=u["output_tokens_details"]["reasoning_tokens"])
    assert_settled(ctx, before, cents)
    received = fake.requests_for(ctx.test_id)[0]
    assert received.path.startswith("/xai/v1/")
    assert received.headers["authorization"] == f"Bearer {UPSTREAM_KEYS['XAI_API_KEY']}"


def test_anthropic_sdk_native(gw, fake):
    ctx = make_agent()
    client = anthropic.Anthropic(base_url=gw.url, api_key=ctx.tenant.key, max_retries=0)
    before = ctx.budget()["remaining_cents"]
    msg = client.messages.create(
        model="claude-opus-4-6", max_tokens=800, system=[{"type": "text", "text": "You are terse."}],
        messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": [{"type": "text", "text": "Yo"}]},
                  {"role": "user", "content": [{"type": "text", "text": "Again ✓ " + LONG}]}],
        tools=[{"name": "calc", "description": "math", "input_schema": {"type": "object", "properties": {}}}],
        extra_headers={"x-cynsta-agent-id": ctx.agent_id, "x-test-id": ctx.test_id, "x-fake-usage": PRICEY},
    )
    assert msg.content[0].text == "Hello from the fake upstream."
    u = msg.usage
    total_in = u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
    cents = expected_cents("anthropic", "claude-opus-4-6", input_tokens=total_in, output_tokens=u.output_tokens,
                           cache_write_input_tokens=u.cache_creation_input_tokens,
                           cache_read_input_tokens=u.cache_read_input_tokens)
    assert_settled(ctx, before, cents)
    received = fake.requests_for(ctx.test_id)[0]
    assert received.path == "/anthropic/v1/messages"
    assert received.headers["anthropic-version"]
    no_spendguard_key(fake, ctx, ("x-api-key", UPSTREAM_KEYS["ANTHROPIC_API_KEY"]))
    assert "authorization" not in received.headers


def test_google_genai_sdk_native(gw, fake):
    ctx = make_agent()
    client = genai.Client(api_key=ctx.tenant.key, http_options=types.HttpOptions(
        base_url=gw.url, headers={"x-cynsta-agent-id": ctx.agent_id, "x-test-id": ctx.test_id,
                                  "x-fake-usage": PRICEY}))
    before = ctx.budget()["remaining_cents"]
    resp = client.models.generate_content(
        model="gemini-3-pro-preview", contents="Write one line about the sea 🌊 " + LONG,
        config=types.GenerateContentConfig(system_instruction="Be poetic.", max_output_tokens=400, candidate_count=2),
    )
    assert resp.text.startswith("Hello from the fake upstream.")
    m = resp.usage_metadata
    cents = expected_cents("gemini", "gemini-3-pro-preview", input_tokens=m.prompt_token_count,
                           output_tokens=m.candidates_token_count + (m.thoughts_token_count or 0),
                           cached_input_tokens=m.cached_content_token_count,
                           reasoning_tokens=m.thoughts_token_count)
    assert_settled(ctx, before, cents)
    received = fake.requests_for(ctx.test_id)[0]
    assert received.path.endswith("/models/gemini-3-pro-preview:generateContent")
    assert received.body["generationConfig"]["maxOutputTokens"] == 400
    no_spendguard_key(fake, ctx, ("x-goog-api-key", UPSTREAM_KEYS["GEMINI_API_KEY"]))
    del client


def test_gemini_sidecar_route_plain_http(gw, fake, client):
    ctx = make_agent()
    before = ctx.budget()["remaining_cents"]
    r = client.post(f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/gemini/generateContent",
                    json={"model": "gemini-1.5-flash", "prompt": LONG, "temperature": 0.2, "max_tokens": 800},
                    headers=ctx.headers(**{"x-fake-usage": PRICEY}))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["completion"] == "Hello from the fake upstream."
    u = json.loads(PRICEY)
    thoughts = min(u["thoughts"], u["output"])
    cents = expected_cents("gemini", "gemini-1.5-flash", input_tokens=u["input"], output_tokens=u["output"],
                           cached_input_tokens=u["cached"], reasoning_tokens=thoughts)
    assert data["usage"] == {"tokens_in": u["input"], "tokens_out": u["output"]}
    assert_settled(ctx, before, cents)
    body = fake.requests_for(ctx.test_id)[0].body
    assert body == {"contents": [{"role": "user", "parts": [{"text": LONG}]}],
                    "generationConfig": {"temperature": 0.2, "maxOutputTokens": 800}}


def test_anthropic_run_route_plain_http(gw, fake, client):
    ctx = make_agent()
    before = ctx.budget()["remaining_cents"]
    r = client.post(f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/anthropic/messages",
                    json={"model": "claude-3-5-haiku-latest", "max_tokens": 800, "system": "terse",
                          "messages": [{"role": "user", "content": LONG}], "metadata": {"user_id": "u1"}},
                    headers=ctx.headers(**{"x-fake-usage": PRICEY}))
    assert r.status_code == 200, r.text
    data = r.json()
    assert set(data) >= {"completion", "raw", "usage", "billing_breakdown"}
    assert data["completion"] == "Hello from the fake upstream."
    raw_usage = data["raw"]["usage"]
    total_in = (raw_usage["input_tokens"] + raw_usage["cache_creation_input_tokens"]
                + raw_usage["cache_read_input_tokens"])
    cents = expected_cents("anthropic", "claude-3-5-haiku-latest", input_tokens=total_in,
                           output_tokens=raw_usage["output_tokens"],
                           cache_write_input_tokens=raw_usage["cache_creation_input_tokens"],
                           cache_read_input_tokens=raw_usage["cache_read_input_tokens"])
    assert data["usage"] == {"tokens_in": total_in, "tokens_out": raw_usage["output_tokens"]}
    assert data["billing_breakdown"]["totals"]["realized_cents_ceiled"] == cents
    assert_settled(ctx, before, cents)
    assert fake.requests_for(ctx.test_id)[0].body["metadata"] == {"user_id": "u1"}


def test_usage_record_written(gw, client):
    from apps.gateway.models import UsageRecord

    ctx = make_agent()
    r = client.post("/v1/chat/completions", headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id,
                                                                   "x-fake-usage": PRICEY}),
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": LONG}], "max_tokens": 800})
    assert r.status_code == 200
    rec = UsageRecord.objects.get(agent_id=ctx.agent_id)
    assert (rec.provider, rec.model, rec.termination, rec.upstream_status) == ("openai", "gpt-4o", "ok", 200)
    tokens = (rec.input_tokens, rec.output_tokens, rec.cached_input_tokens, rec.reasoning_tokens)
    assert tokens == (4000, 700, 1000, 300)
    assert rec.charged_cents == int(r.headers["x-cynsta-charged-cents"]) == rec.budget_event.delta_cents * -1
    assert rec.wcec_cents == int(r.headers["x-cynsta-reserved-cents"]) >= rec.charged_cents
    assert rec.provider_request_id.startswith("req_")
    assert rec.pricing_version == 1 and rec.output_limit_sent == 800 and rec.latency_ms is not None
    assert rec.request_body is None and rec.response_body is None  # store_bodies is off by default
    assert rec.realized_microcents == rec.billing_breakdown["totals"]["realized_microcents"]


def test_bodies_stored_only_when_org_opts_in(gw, client):
    from apps.gateway.models import UsageRecord

    ctx = make_agent()
    ctx.tenant.org.store_bodies = True
    ctx.tenant.org.save(update_fields=["store_bodies"])
    r = client.post("/v1/chat/completions", headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}),
                    json={"model": "gpt-4o", "messages": [{"role": "user", "content": "keep me"}]})
    assert r.status_code == 200
    rec = UsageRecord.objects.get(agent_id=ctx.agent_id)
    assert rec.request_body["messages"][0]["content"] == "keep me"
    assert "Hello from the fake upstream." in rec.response_body
    assert ctx.tenant.key not in json.dumps(rec.request_body) + rec.response_body


def test_httpx_keeps_working_with_bearer_auth(gw, client):
    ctx = make_agent()
    r = httpx.post(f"{gw.url}/v1/chat/completions", headers={"authorization": f"Bearer {ctx.tenant.key}",
                                                             "x-cynsta-agent-id": ctx.agent_id},
                   json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 200
