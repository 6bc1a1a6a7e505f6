"""No overrun under load: 100 concurrent calls on one agent whose budget covers only some.

Runs on whatever database the session uses (SQLite by default; PostgreSQL with DATABASE_URL)."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from apps.budgets.models import Reservation
from apps.gateway.models import UsageRecord
from tests.gateway.conftest import expected_cents, held, make_agent, sum_events

pytestmark = pytest.mark.usefixtures("committed_db")

USAGE = {"input": 12_000, "output": 350, "cached": 0, "reasoning": 0}
PROMPT = "y" * 16_000  # 16k bytes: USAGE is honest for it


def test_100_concurrent_calls_never_overrun(gw, fake):
    budget = 150  # ~37 calls of 4 cents at most
    ctx = make_agent(limit=budget, max_concurrent_runs=1000)
    cost = expected_cents("openai", "gpt-4o", input_tokens=12_000, output_tokens=350)  # 4 cents
    headers = ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id, "x-fake-usage": json.dumps(USAGE),
                             "x-fake-delay": "0.05"})
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 400}

    def one(i: int) -> httpx.Response:
        with httpx.Client(base_url=gw.url, timeout=120) as c:
            return c.post("/v1/chat/completions", json=body,
                          headers={**headers, "x-cynsta-run-id": str(uuid.uuid4())})

    with ThreadPoolExecutor(max_workers=100) as pool:
        responses = list(pool.map(one, range(100)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 402}, statuses
    ok = statuses.count(200)
    assert 0 < ok < 100 and cost == 4  # some paid, some refused

    # The sum of what the fake reported (priced independently) never exceeds the budget.
    reported = sum(cost for r in responses if r.status_code == 200)
    assert reported <= budget
    charged = sum(int(r.headers["x-cynsta-charged-cents"]) for r in responses if r.status_code == 200)
    assert charged == reported  # each call charged exactly its realized cost
    remaining = ctx.budget()["remaining_cents"]
    assert remaining == budget - charged == sum_events(ctx.agent_id) >= 0
    assert held(ctx.agent_id) == 0
    assert Reservation.objects.filter(agent_id=ctx.agent_id).count() == ok
    assert UsageRecord.objects.filter(agent_id=ctx.agent_id, termination="ok").count() == ok
    assert len(fake.requests_for(ctx.test_id)) == ok  # refused calls never reached the provider


def test_100_concurrent_calls_half_streaming_never_overrun(gw, fake):
    budget = 150
    ctx = make_agent(limit=budget, max_concurrent_runs=1000)
    cost = expected_cents("openai", "gpt-4o", input_tokens=12_000, output_tokens=350)  # 4 cents
    headers = ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id, "x-fake-usage": json.dumps(USAGE),
                             "x-fake-delay": "0.05", "x-fake-chunks": "10", "x-fake-pause": "0.01"})
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 400}

    def one(i: int) -> tuple[int, bool]:
        streamed = i % 2 == 0
        with httpx.Client(base_url=gw.url, timeout=120) as c:
            if not streamed:
                r = c.post("/v1/chat/completions", json=body, headers={**headers, "x-cynsta-run-id": str(uuid.uuid4())})
                return r.status_code, False
            with c.stream("POST", "/v1/chat/completions", json={**body, "stream": True},
                          headers={**headers, "x-cynsta-run-id": str(uuid.uuid4())}) as r:
                data = r.read()
                if r.status_code == 200:
                    assert data.rstrip().endswith(b"data: [DONE]")
                return r.status_code, True

    with ThreadPoolExecutor(max_workers=100) as pool:
        results = list(pool.map(one, range(100)))
    statuses = [s for s, _ in results]
    assert set(statuses) <= {200, 402}, statuses
    ok = statuses.count(200)
    assert 0 < ok < 100 and cost == 4
    assert any(s == 200 and streamed for s, streamed in results)
    assert any(s == 200 and not streamed for s, streamed in results)

    # What the fake would bill for every call that reached it, priced independently, stays within the budget.
    reported = cost * len(fake.requests_for(ctx.test_id))
    assert len(fake.requests_for(ctx.test_id)) == ok
    assert reported <= budget
    records = UsageRecord.objects.filter(agent_id=ctx.agent_id)
    assert records.count() == ok and all(r.termination == "ok" and r.charged_cents == cost for r in records)
    assert records.filter(streamed=True).count() == sum(1 for s, streamed in results if s == 200 and streamed)
    remaining = ctx.budget()["remaining_cents"]
    assert remaining == budget - cost * ok == sum_events(ctx.agent_id) >= 0
    assert held(ctx.agent_id) == 0
    assert Reservation.objects.filter(agent_id=ctx.agent_id).count() == ok
