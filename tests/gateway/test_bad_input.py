"""Bad input never gives a 500: random and mutated bodies through every adapter (in-process, many
examples) and through the real server on every route (fewer examples, real HTTP)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.core.errors import ApiError
from apps.gateway import adapters, billing
from apps.pricing.rates import RateCard
from tests.gateway.conftest import make_agent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10**20), max_value=10**20) | st.floats(allow_nan=False,
                                                                                                  allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
KEYS = ["model", "messages", "input", "contents", "prompt", "max_tokens", "max_completion_tokens", "max_output_tokens",
        "n", "stream", "tools", "system", "instructions", "generationConfig", "systemInstruction", "role", "content",
        "parts", "text", "type", "candidateCount", "maxOutputTokens", "max_tool_calls", "temperature", "stream_options",
        "include_usage"]
bodies = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), json_values, max_size=6)
VALID = {
    "chat": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
    "responses": {"model": "gpt-4o", "input": [{"role": "user", "content": "hi"}]},
    "messages": {"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"maxOutputTokens": 5}},
    "gemini_run": {"model": "gemini-1.5-flash", "prompt": "hi", "max_tokens": 5},
    "gemini_stream": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
    "chat_stream": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True},
}
ADAPTERS = {"chat": adapters.CHAT, "responses": adapters.RESPONSES, "messages": adapters.MESSAGES,
            "gemini": adapters.GEMINI_V1BETA, "gemini_run": adapters.GEMINI_RUN,
            "gemini_stream": adapters.GEMINI_STREAM_V1BETA, "chat_stream": adapters.CHAT}
CARD = RateCard(input_cents_per_1m=250, output_cents_per_1m=1000)


@st.composite
def mutated(draw):
    kind = draw(st.sampled_from(sorted(VALID)))
    body = json.loads(json.dumps(VALID[kind]))
    for _ in range(draw(st.integers(1, 3))):
        target = body
        path = draw(st.lists(st.sampled_from(KEYS + [0]), min_size=0, max_size=3))
        for step in path:
            nxt = target.get(step) if isinstance(target, dict) else (
                target[0] if isinstance(target, list) and target and step == 0 else None)
            if isinstance(nxt, dict | list):
                target = nxt
        if isinstance(target, dict):
            target[draw(st.sampled_from(KEYS))] = draw(json_values)
        elif isinstance(target, list):
            target.append(draw(json_values))
    return kind, body


def run_plan(kind: str, body: dict) -> None:
    raw = json.dumps(body).encode()
    try:
        plan = ADAPTERS[kind].plan(body, provider="openai", body_bytes=len(raw), model="gemini-1.5-flash")
    except ApiError as exc:
        assert exc.status == 400, exc.detail
        return
    sized = billing.size_for(CARD, plan.bound, 1000)
    ADAPTERS[kind].write_output_limit(plan, sized.output_limit)
    if plan.stream:
        ADAPTERS[kind].prepare_stream(plan)
        ADAPTERS[kind].stream_reader(plan)
    json.dumps(plan.body)


@settings(max_examples=1500, deadline=None)
@given(kind=st.sampled_from(sorted(VALID)), body=bodies)
def test_random_bodies_are_accepted_or_400(kind, body):
    run_plan(kind, body)


@settings(max_examples=1500, deadline=None)
@given(case=mutated())
def test_mutated_bodies_are_accepted_or_400(case):
    run_plan(*case)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(case=mutated() | st.tuples(st.sampled_from(sorted(VALID)), bodies))
@pytest.mark.usefixtures("committed_db")
def test_real_server_never_500(gw, case):
    kind, body = case
    ctx = make_agent()
    path = {
        "chat": f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/openai/chat/completions",
        "responses": "/v1/responses", "messages": "/v1/messages",
        "gemini": "/v1beta/models/gemini-1.5-flash:generateContent",
        "gemini_run": f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/gemini/generateContent",
        "gemini_stream": "/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse",
        "chat_stream": "/v1/chat/completions",
    }[kind]
    r = httpx.post(gw.url + path, json=body, headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}), timeout=30)
    assert r.status_code < 500, (kind, body, r.text)
    assert r.status_code in (200, 400, 402), (kind, body, r.text)
    assert r.status_code == 200 or "detail" in r.json()
