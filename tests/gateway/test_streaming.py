"""Streaming through the gate with the official SDKs, unchanged, against the real server: the text
the client assembles is what the fake sent, and the budget goes down by exactly what the
reference engine computes from the stream's usage."""

from __future__ import annotations

import json
import time
import uuid

import anthropic
import httpx
import openai
import pytest
from google import genai
from google.genai import types

from apps.gateway.models import UsageRecord
from tests.gateway.conftest import UPSTREAM_KEYS, expected_cents, held, make_agent, sum_events
from tests.support.fake_upstream import stream_text

pytestmark = pytest.mark.usefixtures("committed_db")

LONG = "The quick brown fox jumps over the lazy dog. " * 400
PRICEY = {"input": 4000, "output": 700, "cached": 1000, "reasoning": 300, "cache_write": 600, "cache_read": 800,
          "thoughts": 200}


def assert_settled(ctx, before: int, cents: int) -> UsageRecord:
    after = ctx.budget()
    assert before - after["remaining_cents"] == cents
    assert after["remaining_cents"] == sum_events(ctx.agent_id)
    assert held(ctx.agent_id) == 0
    record = UsageRecord.objects.get(agent_id=ctx.agent_id)
    assert record.streamed and record.charged_cents == cents
    assert record.ttfb_ms is not None and record.ttfb_ms <= record.latency_ms
    return record


def openai_client(gw, ctx, style: str) -> tuple[openai.OpenAI, dict[str, str]]:
    if style == "run_route":
        base, extra = f"{gw.url}/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/openai", {}
    else:
        base, extra = f"{gw.url}/v1", {"x-cynsta-agent-id": ctx.agent_id}
    extra = {**extra, "x-test-id": ctx.test_id, "x-fake-usage": json.dumps(PRICEY), "x-fake-chunks": "12"}
    return openai.OpenAI(base_url=base, api_key=ctx.tenant.key, max_retries=0), extra


@pytest.mark.parametrize("style", ["run_route", "native"])
def test_openai_chat_stream_with_usage_requested(gw, fake, style):
    ctx = make_agent()
    client, extra = openai_client(gw, ctx, style)
    before = ctx.budget()["remaining_cents"]
    chunks = list(client.chat.completions.create(
        model="gpt-5.2", messages=[{"role": "user", "content": "héllo " + LONG}], max_completion_tokens=800, n=2,
        stream=True, stream_options={"include_usage": True}, extra_headers=extra))
    for index in (0, 1):
        text = "".join(choice.delta.content or "" for c in chunks for choice in c.choices
                       if choice.index == index)
        assert text == stream_text(12)
    usage_chunks = [c for c in chunks if not c.choices]
    assert len(usage_chunks) == 1 and chunks[-1] is usage_chunks[0]  # the client asked: it gets it
    u = usage_chunks[0].usage
    cents = expected_cents("openai", "gpt-5.2", input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens,
                           cached_input_tokens=u.prompt_tokens_details.cached_tokens,
                           reasoning_tokens=u.completion_tokens_details.reasoning_tokens)
    assert cents > 0
    record = assert_settled(ctx, before, cents)
    assert record.termination == "ok" and record.output_tokens == 700
    received = fake.requests_for(ctx.test_id)[0]
    assert received.body["stream"] is True and received.body["stream_options"] == {"include_usage": True}
    assert received.headers["authorization"] == f"Bearer {UPSTREAM_KEYS['OPENAI_API_KEY']}"
    assert ctx.tenant.key not in json.dumps(received.headers)


@pytest.mark.parametrize("style", ["run_route", "native"])
def test_openai_chat_stream_hides_the_forced_usage_chunk(gw, fake, style):
    ctx = make_agent()
    client, extra = openai_client(gw, ctx, style)
    before = ctx.budget()["remaining_cents"]
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": LONG}], max_tokens=800, stream=True,
        extra_headers=extra)
    headers = raw.headers
    chunks = list(raw.parse())
    assert all(c.choices for c in chunks), "a usage-only chunk reached a client that did not ask for it"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == stream_text(12)
    # ... yet upstream was asked for usage, and the call was settled exactly from it.
    received = fake.requests_for(ctx.test_id)[0]
    assert received.body["stream_options"] == {"include_usage": True}
    cents = expected_cents("openai", "gpt-4o", input_tokens=4000, output_tokens=700, cached_input_tokens=1000,
                           reasoning_tokens=300)
    record = assert_settled(ctx, before, cents)
    assert record.termination == "ok" and record.usage_known
    assert headers["content-type"].startswith("text/event-stream")
    assert int(headers["x-cynsta-reserved-cents"]) >= cents
    assert headers["x-cynsta-output-limit"] == "800"
    assert "x-cynsta-charged-cents" not in headers  # unknown before the body: not a header of a stream


@pytest.mark.parametrize("style", ["run_route", "native"])
@pytest.mark.parametrize("ending", ["completed", "incomplete"])
def test_openai_responses_stream(gw, fake, style, ending):
    ctx = make_agent()
    client, extra = openai_client(gw, ctx, style)
    if ending == "incomplete":
        extra["x-fake-incomplete"] = "1"
    before = ctx.budget()["remaining_cents"]
    events = list(client.responses.create(model="o3", instructions="Answer.", input=LONG, max_output_tokens=800,
                                          stream=True, extra_headers=extra))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == stream_text(12)
    assert events[-1].type == f"response.{ending}"
    u = events[-1].response.usage
    cents = expected_cents("openai", "o3", input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                           cached_input_tokens=u.input_tokens_details.cached_tokens,
                           reasoning_tokens=u.output_tokens_details.reasoning_tokens)
    record = assert_settled(ctx, before, cents)
    assert record.termination == "ok"
    assert fake.requests_for(ctx.test_id)[0].body["stream"] is True


@pytest.mark.parametrize("route", ["chat/completions", "responses"])
def test_grok_streams_go_to_xai(gw, fake, client, route):
    ctx = make_agent()
    body = ({"model": "grok-3", "messages": [{"role": "user", "content": LONG}], "max_tokens": 800, "stream": True}
            if route == "chat/completions" else
            {"model": "grok-3", "input": LONG, "max_output_tokens": 800, "stream": True})
    before = ctx.budget()["remaining_cents"]
    with client.stream("POST", f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/grok/{route}", json=body,
                       headers=ctx.headers(**{"x-fake-usage": json.dumps(PRICEY)})) as r:
        assert r.status_code == 200
        text = r.read().decode()
    assert "data:" in text
    cents = expected_cents("grok", "grok-3", input_tokens=4000, output_tokens=700, cached_input_tokens=1000,
                           reasoning_tokens=300)
    assert_settled(ctx, before, cents)
    received = fake.requests_for(ctx.test_id)[0]
    assert received.path.startswith("/xai/v1/")
    assert received.headers["authorization"] == f"Bearer {UPSTREAM_KEYS['XAI_API_KEY']}"


def anthropic_cents(model: str, u) -> int:
    total_in = u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens
    return expected_cents("anthropic", model, input_tokens=total_in, output_tokens=u.output_tokens,
                          cache_write_input_tokens=u.cache_creation_input_tokens,
                          cache_read_input_tokens=u.cache_read_input_tokens)


def test_anthropic_sdk_messages_stream(gw, fake):
    ctx = make_agent()
    client = anthropic.Anthropic(base_url=gw.url, api_key=ctx.tenant.key, max_retries=0)
    before = ctx.budget()["remaining_cents"]
    with client.messages.stream(
        model="claude-opus-4-6", max_tokens=800, system="terse",
        messages=[{"role": "user", "content": "Again ✓ " + LONG}],
        extra_headers={"x-cynsta-agent-id": ctx.agent_id, "x-test-id": ctx.test_id,
                       "x-fake-usage": json.dumps(PRICEY), "x-fake-chunks": "12"},
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == stream_text(12) == final.content[0].text
    # The SDK merges message_start and message_delta usage, as the gateway must.
    assert final.usage.output_tokens == 700 and final.usage.cache_read_input_tokens == 800
    record = assert_settled(ctx, before, anthropic_cents("claude-opus-4-6", final.usage))
    assert record.termination == "ok"
    assert (record.cache_write_input_tokens, record.cache_read_input_tokens) == (600, 800)
    received = fake.requests_for(ctx.test_id)[0]
    assert received.body["stream"] is True
    assert received.headers["x-api-key"] == UPSTREAM_KEYS["ANTHROPIC_API_KEY"]


def test_anthropic_run_route_streams_native_events(gw, fake):
    """Decision: with stream=true the run route relays Anthropic's SSE (the sidecar JSON shape
    cannot stream), so the Anthropic SDK pointed at it reads it as it would /v1/messages."""
    ctx = make_agent()
    run = f"{gw.url}/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/anthropic"
    client = anthropic.Anthropic(base_url=run, api_key=ctx.tenant.key, max_retries=0)
    before = ctx.budget()["remaining_cents"]
    # The SDK posts to {base}/v1/messages; the run route is {run}/messages: give the exact URL.
    with httpx.Client(timeout=30) as http, http.stream(
            "POST", f"{run}/messages", headers={"x-api-key": ctx.tenant.key, "x-test-id": ctx.test_id,
                                               "x-fake-usage": json.dumps(PRICEY)},
            json={"model": "claude-3-5-haiku-latest", "max_tokens": 800, "stream": True,
                  "messages": [{"role": "user", "content": LONG}]}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        stream = anthropic.Stream(cast_to=anthropic.types.RawMessageStreamEvent, response=r, client=client)
        events = list(stream)
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert text == stream_text(5)
    usage = next(e for e in events if e.type == "message_start").message.usage
    out = next(e for e in events if e.type == "message_delta").usage.output_tokens
    usage.output_tokens = out
    record = assert_settled(ctx, before, anthropic_cents("claude-3-5-haiku-latest", usage))
    assert record.route == "anthropic_run"


@pytest.mark.parametrize("api_version", ["v1beta", "v1"])
def test_google_genai_generate_content_stream(gw, fake, api_version):
    ctx = make_agent()
    client = genai.Client(api_key=ctx.tenant.key, http_options=types.HttpOptions(
        base_url=gw.url, api_version=api_version,
        headers={"x-cynsta-agent-id": ctx.agent_id, "x-test-id": ctx.test_id, "x-fake-usage": json.dumps(PRICEY),
                 "x-fake-chunks": "12"}))
    before = ctx.budget()["remaining_cents"]
    chunks = list(client.models.generate_content_stream(
        model="gemini-3-pro-preview", contents="Write about the sea 🌊 " + LONG,
        config=types.GenerateContentConfig(max_output_tokens=800)))
    assert "".join(c.text or "" for c in chunks) == stream_text(12)
    m = chunks[-1].usage_metadata
    cents = expected_cents("gemini", "gemini-3-pro-preview", input_tokens=m.prompt_token_count,
                           output_tokens=m.candidates_token_count + (m.thoughts_token_count or 0),
                           cached_input_tokens=m.cached_content_token_count, reasoning_tokens=m.thoughts_token_count)
    record = assert_settled(ctx, before, cents)
    assert record.termination == "ok"
    received = fake.requests_for(ctx.test_id)[0]
    assert received.path == f"/gemini/{api_version}/models/gemini-3-pro-preview:streamGenerateContent?alt=sse"
    assert received.body["generationConfig"]["maxOutputTokens"] == 800
    assert received.headers["x-goog-api-key"] == UPSTREAM_KEYS["GEMINI_API_KEY"]
    del client


def test_gemini_stream_without_alt_sse_is_refused(client):
    ctx = make_agent()
    r = client.post("/v1beta/models/gemini-1.5-flash:streamGenerateContent",
                    json={"contents": [{"parts": [{"text": "x"}]}]},
                    headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}))
    assert r.status_code == 400 and "alt=sse" in r.json()["detail"]
    assert held(ctx.agent_id) == 0 and ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id)


def test_events_arrive_as_the_provider_sends_them(gw, fake, client):
    """With the fake pausing 0.5 s before each of 4 deltas, the first event reaches the client
    long before the provider has finished (no buffering of the answer)."""
    ctx = make_agent()
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50, "stream": True}
    arrivals: list[tuple[float, bytes]] = []
    started = time.monotonic()
    with client.stream("POST", "/v1/chat/completions", json=body, headers=ctx.headers(**{
            "x-cynsta-agent-id": ctx.agent_id, "x-fake-chunks": "4", "x-fake-pause": "0.5"})) as r:
        assert r.status_code == 200
        for piece in r.iter_raw():
            arrivals.append((time.monotonic() - started, piece))
    total = arrivals[-1][0]
    delta_times = [t for t, piece in arrivals if b'"content": "' in piece and b'"content": ""' not in piece]
    assert total >= 2.0
    assert delta_times[0] < 0.9, arrivals  # the first delta after ~0.5 s, not after ~2 s
    assert len(delta_times) >= 3 and delta_times[-1] - delta_times[0] >= 1.0  # spread out, as sent
    record = UsageRecord.objects.get(agent_id=ctx.agent_id)
    assert record.termination == "ok" and record.streamed and record.ttfb_ms < 400  # the role chunk comes at once
    assert fake.requests_for(ctx.test_id)[0].stream["outcome"] == "complete"


@pytest.mark.parametrize("knobs", [{"x-fake-split": "1"}, {"x-fake-keepalive": "1"}])
def test_split_events_and_keepalives(gw, fake, client, knobs):
    ctx = make_agent()
    for path, body in [
        ("/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True}),
        ("/v1/messages", {"model": "claude-3-5-haiku-latest", "max_tokens": 50, "stream": True,
                          "messages": [{"role": "user", "content": "hi"}]}),
        ("/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse", {"contents": [{"parts": [{"text": "hi"}]}]}),
    ]:
        with client.stream("POST", path, json=body, headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id,
                                                                            **knobs})) as r:
            assert r.status_code == 200
            r.read()
    records = UsageRecord.objects.filter(agent_id=ctx.agent_id)
    assert sorted(r.termination for r in records) == ["ok"] * 3
    assert all(r.usage_known and r.charged_cents >= 0 for r in records)
    assert ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id) and held(ctx.agent_id) == 0
