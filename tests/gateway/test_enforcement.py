"""Admission rules over real HTTP: 402, clamping, the run rule, validation, isolation, provider errors."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest

from tests.conftest import make_tenant
from tests.gateway.conftest import held, make_agent, sum_events

pytestmark = pytest.mark.usefixtures("committed_db")

MSG = [{"role": "user", "content": "hello"}]


def chat(client, ctx, body=None, run_id=None, **headers):
    run_id = run_id or str(uuid.uuid4())
    return client.post(f"/v1/agents/{ctx.agent_id}/runs/{run_id}/openai/chat/completions",
                       json=body or {"model": "gpt-4o", "messages": MSG}, headers=ctx.headers(**headers))


def test_402_when_budget_cannot_pay_for_the_input(client, fake):
    ctx = make_agent(limit=1)  # 1 cent pays ~4000 tokens of gpt-4o input; this prompt is bigger
    r = chat(client, ctx, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 20_000}]})
    assert r.status_code == 402
    assert r.json()["detail"] == "Insufficient budget"
    assert r.json()["error"]["type"] == "insufficient_budget"
    assert fake.requests_for(ctx.test_id) == []
    assert ctx.budget()["remaining_cents"] == 1 and held(ctx.agent_id) == 0


def test_output_limit_is_clamped_to_what_the_budget_pays(client, fake):
    from apps.gateway.billing import size_for
    from apps.pricing.selectors import get_rate_card

    ctx = make_agent(limit=2)  # gpt-4o: 1000 cents/1M output → 2 cents ≈ 2000 output tokens
    body = {"model": "gpt-4o", "messages": MSG, "max_tokens": 50_000, "n": 2, "seed": 7,
            "response_format": {"type": "json_object"}}
    r = chat(client, ctx, body)
    assert r.status_code == 200, r.text
    sent = fake.requests_for(ctx.test_id)[0].body
    assert sent["max_tokens"] < 50_000
    assert sent["max_tokens"] == int(r.headers["x-cynsta-output-limit"])
    # The clamped value is the largest that fits: one more token per choice would not.
    _, card = get_rate_card("openai", "gpt-4o")
    assert sent["max_tokens"] * 2 * card.output_cents_per_1m <= 2_000_000
    assert (sent["max_tokens"] + 1) * 2 * card.output_cents_per_1m + 1 > 2_000_000 - 5000 * card.input_cents_per_1m
    assert int(r.headers["x-cynsta-reserved-cents"]) <= 2
    # Untouched fields pass through.
    assert sent["seed"] == 7 and sent["response_format"] == {"type": "json_object"} and sent["n"] == 2
    assert "max_completion_tokens" not in sent
    del size_for


def test_default_output_limit_is_written_when_absent(client, fake, settings):
    ctx = make_agent()
    r = client.post("/v1/messages", headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}),
                    json={"model": "claude-3-5-haiku-latest", "messages": MSG})
    assert r.status_code == 200, r.text
    assert fake.requests_for(ctx.test_id)[0].body["max_tokens"] == 512


def test_409_for_a_second_run_while_one_is_in_flight(client, fake, gw):
    import httpx

    ctx = make_agent()
    first_run = str(uuid.uuid4())
    result: dict = {}

    def slow():
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            result["r"] = chat(c, ctx, run_id=first_run, **{"x-fake-delay": "1.5"})

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.time() + 5
    while held(ctx.agent_id) == 0 and time.time() < deadline:
        time.sleep(0.02)
    b = ctx.budget()
    assert b["locked_run_id"] == first_run and b["locked_cents"] > 0
    other = chat(client, ctx)
    assert other.status_code == 409
    assert other.json()["detail"] == "Agent budget is locked by an in-flight run"
    # Calls of the same run may overlap.
    same = chat(client, ctx, run_id=first_run)
    assert same.status_code == 200, same.text
    t.join()
    assert result["r"].status_code == 200
    assert held(ctx.agent_id) == 0
    assert chat(client, ctx).status_code == 200  # free again
    assert ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id)


def test_max_concurrent_runs_allows_that_many_runs(client, gw):
    import httpx

    ctx = make_agent(max_concurrent_runs=2)
    results = []

    def slow():
        with httpx.Client(base_url=gw.url, timeout=30) as c:
            results.append(chat(c, ctx, **{"x-fake-delay": "1.2"}).status_code)

    threads = [threading.Thread(target=slow) for _ in range(2)]
    for t in threads:
        t.start()
    deadline = time.time() + 5
    while held(ctx.agent_id) < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert chat(client, ctx).status_code == 409
    for t in threads:
        t.join()
    assert results == [200, 200]


def test_missing_agent_header(client):
    ctx = make_agent()
    for path, body in (("/v1/chat/completions", {"model": "gpt-4o", "messages": MSG}),
                       ("/v1/responses", {"model": "gpt-4o", "input": "x"}),
                       ("/v1/messages", {"model": "claude-3-5-haiku-latest", "messages": MSG, "max_tokens": 5}),
                       ("/v1beta/models/gemini-1.5-flash:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}),
                       ("/v1/models/gemini-1.5-flash:generateContent", {"contents": [{"parts": [{"text": "x"}]}]})):
        r = client.post(path, json=body, headers=ctx.headers())
        assert r.status_code == 400, (path, r.text)
        assert r.json()["detail"] == "Missing x-cynsta-agent-id header"


def test_unknown_model(client):
    ctx = make_agent()
    r = chat(client, ctx, {"model": "gpt-9000", "messages": MSG})
    assert r.status_code == 400
    assert r.json()["detail"] == "Unknown model for pricing: openai:gpt-9000"
    r = client.post("/v1beta/models/gemini-nope:generateContent", json={"contents": [{"parts": [{"text": "x"}]}]},
                    headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}))
    assert r.json()["detail"] == "Unknown model for pricing: gemini:gemini-nope"


@pytest.mark.parametrize("body,detail", [
    ({"model": "gpt-4o"}, "messages is required and must be a non-empty array"),
    ({"model": "gpt-4o", "messages": []}, "messages must be a non-empty array"),
    ({"model": "gpt-4o", "messages": "hi"}, "messages must be a non-empty array"),
    ({"model": "gpt-4o", "messages": [{"content": "x"}]}, "messages[0].role is required and must be a string"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}, None),
    ({"model": 5, "messages": MSG}, "model is required and must be a non-empty string"),
    ({"messages": MSG}, "model is required and must be a non-empty string"),
    ({"model": "gpt-4o", "messages": MSG, "max_tokens": "10"}, "max_tokens must be an integer between 1 and 10000000"),
    ({"model": "gpt-4o", "messages": MSG, "max_tokens": 10**30}, None),
    ({"model": "gpt-4o", "messages": MSG, "max_tokens": True}, None),
    ({"model": "gpt-4o", "messages": MSG, "max_tokens": 0}, None),
    ({"model": "gpt-4o", "messages": MSG, "n": 10**6}, "n must be an integer between 1 and 128"),
    ({"model": "gpt-4o", "messages": MSG, "stream": "yes"}, "stream must be a boolean"),
    ({"model": "gpt-4o", "messages": MSG, "stream": True, "stream_options": 1}, "stream_options must be an object"),
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]}, None),
    ({"model": "gpt-4o", "messages": MSG, "tools": [{"type": "code_interpreter"}]}, None),
])
def test_malformed_chat_bodies_are_400(client, body, detail):
    ctx = make_agent()
    r = chat(client, ctx, body)
    assert r.status_code == 400, r.text
    if detail:
        assert r.json()["detail"] == detail
    assert held(ctx.agent_id) == 0


def test_non_json_and_non_object_bodies(client):
    ctx = make_agent()
    url = f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/openai/chat/completions"
    for content in (b"not json", b"[1,2]", b'{"a": NaN}', b"1" * 5000, b'{"model": "\xff"}', b""):
        r = client.post(url, content=content, headers={**ctx.headers(), "content-type": "application/json"})
        assert r.status_code == 400, (content[:20], r.text)
    assert client.post(f"/v1/agents/{ctx.agent_id}/runs/not-a-uuid/openai/chat/completions", json={},
                       headers=ctx.headers()).status_code == 400


def test_unicode_is_fine(client, fake):
    ctx = make_agent()
    text = "naïve café — 日本語のテキスト — 🚀🔥 — עברית — \u0000 nul"
    r = chat(client, ctx, {"model": "gpt-4o", "messages": [{"role": "user", "content": text, "name": "ünï"}]})
    assert r.status_code == 200, r.text
    assert fake.requests_for(ctx.test_id)[0].body["messages"][0]["content"] == text


def test_refusals_of_unboundable_content(client):
    ctx = make_agent()
    hdr = ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id})
    cases = [
        ("/v1/responses", {"model": "gpt-4o", "input": "x", "previous_response_id": "resp_1"}),
        ("/v1/responses", {"model": "gpt-4o", "input": [{"role": "user", "content": [
            {"type": "input_image", "image_url": "https://x"}]}]}),
        ("/v1/responses", {"model": "gpt-4o", "input": "x", "tools": [{"type": "computer_use_preview"}]}),
        ("/v1/messages", {"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": [{"role": "user",
                          "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                                   "data": "AAAA"}}]}]}),
        ("/v1/messages", {"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": MSG,
                          "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
        ("/v1beta/models/gemini-1.5-flash:generateContent", {"contents": [{"parts": [
            {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]}]}),
        ("/v1beta/models/gemini-1.5-flash:generateContent", {"contents": [{"parts": [{"text": "x"}]}],
                                                              "cachedContent": "cachedContents/1"}),
    ]
    for path, body in cases:
        r = client.post(path, json=body, headers=hdr)
        assert r.status_code == 400, (path, r.text)
        assert "cannot be bounded" in r.json()["detail"], r.json()


def test_streaming_paths_need_sse(client):
    """Streaming is supported (tests/gateway/test_streaming*.py); Gemini's JSON-array stream
    (no alt=sse) is refused clearly, before anything is reserved."""
    ctx = make_agent()
    hdr = ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id})
    for path in ("/v1beta/models/gemini-1.5-flash:streamGenerateContent",
                 "/v1/models/gemini-1.5-flash:streamGenerateContent?alt=json"):
        r = client.post(path, json={"contents": [{"parts": [{"text": "x"}]}]}, headers=hdr)
        assert r.status_code == 400 and "alt=sse" in r.json()["detail"]
    r = client.post("/v1/messages", headers=hdr, json={"model": "claude-3-5-haiku-latest", "max_tokens": 5,
                                                      "messages": MSG, "stream": 1})
    assert r.status_code == 400 and r.json()["detail"] == "stream must be a boolean"
    assert held(ctx.agent_id) == 0 and ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id)


def test_another_organizations_agent_is_404(client):
    ctx = make_agent()
    stranger = make_tenant()
    r = client.post(f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/openai/chat/completions",
                    json={"model": "gpt-4o", "messages": MSG}, headers={"x-api-key": stranger.key})
    assert r.status_code == 404 and r.json()["detail"] == "Agent not found"
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                    headers={"x-api-key": stranger.key, "x-cynsta-agent-id": ctx.agent_id})
    assert r.status_code == 404
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                    headers={"x-api-key": stranger.key, "x-cynsta-agent-id": str(uuid.uuid4())})
    assert r.status_code == 404


def test_auth_required_and_scope_checked(client):
    ctx = make_agent()
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                    headers={"x-cynsta-agent-id": ctx.agent_id})
    assert r.status_code == 401
    manager = make_tenant(scopes=["cap:manage"])
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                    headers={"x-api-key": manager.key, "x-cynsta-agent-id": ctx.agent_id})
    assert r.status_code == 403


def test_run_of_another_agent_is_404(client):
    a, b = make_agent(), make_agent()
    run_id = str(uuid.uuid4())
    assert chat(client, a, run_id=run_id).status_code == 200
    b_same_org = make_agent(a.tenant)
    assert chat(client, b_same_org, run_id=run_id).status_code == 404
    del b


@pytest.mark.parametrize("status", [400, 429, 500])
@pytest.mark.parametrize("family", ["openai", "anthropic", "gemini"])
def test_provider_errors_pass_through_and_charge_nothing(client, fake, status, family):
    from apps.gateway.models import UsageRecord

    ctx = make_agent()
    before = ctx.budget()["remaining_cents"]
    hdr = ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id, "x-fake-status": str(status),
                         "x-fake-retry-after": "13"})
    path, body = {
        "openai": ("/v1/chat/completions", {"model": "gpt-4o", "messages": MSG}),
        "anthropic": ("/v1/messages", {"model": "claude-3-5-haiku-latest", "max_tokens": 5, "messages": MSG}),
        "gemini": ("/v1beta/models/gemini-1.5-flash:generateContent", {"contents": [{"parts": [{"text": "x"}]}]}),
    }[family]
    r = client.post(path, json=body, headers=hdr)
    assert r.status_code == status
    received = fake.requests_for(ctx.test_id)
    assert len(received) == 1
    assert "error" in r.json()
    if status == 429:
        assert r.headers["retry-after"] == "13"
    assert r.headers["x-cynsta-charged-cents"] == "0"
    assert ctx.budget()["remaining_cents"] == before and held(ctx.agent_id) == 0
    rec = UsageRecord.objects.get(agent_id=ctx.agent_id)
    assert (rec.termination, rec.upstream_status, rec.charged_cents) == ("provider_error", status, 0)


def test_sidecar_routes_pass_provider_errors_through(client):
    ctx = make_agent()
    r = client.post(f"/v1/agents/{ctx.agent_id}/runs/{uuid.uuid4()}/gemini/generateContent",
                    json={"model": "gemini-1.5-flash", "prompt": "x"}, headers=ctx.headers(**{"x-fake-status": "429"}))
    assert r.status_code == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert "retry-after" in r.headers


@pytest.mark.parametrize("knob,status,termination", [
    ({"x-fake-drop": "mid"}, 502, "connection_error"),
    ({"x-fake-drop": "before"}, 502, "connection_error"),
    ({"x-fake-garbage": "1"}, 200, "usage_missing"),
])
def test_maybe_billed_failures_charge_the_reservation(client, knob, status, termination):
    from apps.gateway.models import UsageRecord

    ctx = make_agent()
    before = ctx.budget()["remaining_cents"]
    r = chat(client, ctx, **knob)
    assert r.status_code == status, r.text
    rec = UsageRecord.objects.get(agent_id=ctx.agent_id)
    assert rec.termination == termination
    assert rec.charged_cents == rec.wcec_cents == int(r.headers["x-cynsta-charged-cents"]) > 0
    assert before - ctx.budget()["remaining_cents"] == rec.charged_cents
    assert held(ctx.agent_id) == 0 and ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id)


def test_unreachable_provider_charges_nothing(gw, committed_db, tmp_path):
    import httpx

    from tests.gateway.conftest import UPSTREAM_KEYS
    from tests.support.server import ServerProcess, free_port

    dead = f"http://127.0.0.1:{free_port()}"
    ctx = make_agent()
    with ServerProcess(env={"OPENAI_BASE_URL": dead, **UPSTREAM_KEYS}, log_path=tmp_path / "s.log") as srv:
        r = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                       headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}), timeout=30)
    assert r.status_code == 502 and r.headers["x-cynsta-charged-cents"] == "0"
    assert ctx.budget()["remaining_cents"] == 100_000 and held(ctx.agent_id) == 0


def test_timeout_charges_the_reservation(committed_db, fake, tmp_path):
    import httpx

    from apps.gateway.models import UsageRecord
    from tests.gateway.conftest import gateway_env
    from tests.support.server import ServerProcess

    ctx = make_agent()
    env = gateway_env(fake, UPSTREAM_TIMEOUT_SECONDS="0.5", CAP_LOCK_TTL_SECONDS="5")
    with ServerProcess(env=env, log_path=tmp_path / "s.log") as srv:
        r = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                       headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id, "x-fake-delay": "2"}), timeout=30)
    assert r.status_code == 504
    rec = UsageRecord.objects.get(agent_id=ctx.agent_id)
    assert rec.termination == "timeout" and rec.charged_cents == rec.wcec_cents > 0
    assert held(ctx.agent_id) == 0


def test_provider_request_headers_never_carry_our_key(client, fake):
    ctx = make_agent()
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                    headers={"authorization": f"Bearer {ctx.tenant.key}", "x-api-key": ctx.tenant.key,
                             "x-goog-api-key": ctx.tenant.key, "cookie": "sessionid=abc", "x-test-id": ctx.test_id,
                             "x-cynsta-agent-id": ctx.agent_id, "openai-beta": "assistants=v2"})
    assert r.status_code == 200
    got = fake.requests_for(ctx.test_id)[0].headers
    assert ctx.tenant.key not in json.dumps(got)
    assert "cookie" not in got and "x-cynsta-agent-id" not in got and "x-goog-api-key" not in got
    assert got["openai-beta"] == "assistants=v2"
