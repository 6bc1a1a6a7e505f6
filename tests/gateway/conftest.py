"""Gateway fixtures: the fake upstream (in a thread) and our real server pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from spendguard_engine.billing import compute_cost_breakdown
from spendguard_engine.pricing import RateCard as EngineCard

from tests.conftest import Tenant, make_tenant
from tests.support.fake_upstream import FakeUpstream
from tests.support.server import ServerProcess

UPSTREAM_KEYS = {"OPENAI_API_KEY": "sk-upstream-openai", "XAI_API_KEY": "xai-upstream-grok",
                 "ANTHROPIC_API_KEY": "sk-ant-upstream", "GEMINI_API_KEY": "gem-upstream"}


def gateway_env(fake: FakeUpstream, **extra: str) -> dict[str, str]:
    return {"OPENAI_BASE_URL": f"{fake.url}/openai/v1", "XAI_BASE_URL": f"{fake.url}/xai/v1",
            "ANTHROPIC_BASE_URL": f"{fake.url}/anthropic", "GEMINI_BASE_URL": f"{fake.url}/gemini",
            **UPSTREAM_KEYS, **extra}


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream().start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def gw(django_db_setup, django_db_blocker, fake, tmp_path_factory) -> Iterator[ServerProcess]:
    log = tmp_path_factory.mktemp("gw") / "serve.log"
    with django_db_blocker.unblock(), ServerProcess(workers=2, env=gateway_env(fake), log_path=log) as proc:
        yield proc


@dataclass
class AgentCtx:
    tenant: Tenant
    agent_id: str
    test_id: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"x-api-key": self.tenant.key, "x-test-id": self.test_id, **extra}

    def budget(self) -> dict:
        from apps.budgets.models import Agent
        from apps.budgets.selectors import budget_view

        return budget_view(Agent.objects.get(pk=self.agent_id))


def make_agent(tenant: Tenant | None = None, *, limit: int = 100_000, topup: int = 0,
               max_concurrent_runs: int = 1) -> AgentCtx:
    from apps.budgets import services

    tenant = tenant or make_tenant()
    agent = services.create_agent(tenant.org, name="gw-test")
    services.set_budget(agent, hard_limit_cents=limit, topup_cents=topup, actor="test")
    if max_concurrent_runs != 1:
        services.update_agent(agent, max_concurrent_runs=max_concurrent_runs)
    return AgentCtx(tenant, str(agent.id), uuid.uuid4().hex)


@pytest.fixture
def agent(committed_db) -> AgentCtx:
    return make_agent()


@pytest.fixture
def client(gw) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=60) as c:
        yield c


def engine_card(provider: str, model: str) -> EngineCard:
    """The active card as the engine's RateCard (floats for the multipliers, as the engine has them)."""
    from apps.pricing.selectors import get_rate_card

    _, card = get_rate_card(provider, model)
    data = {k: v for k, v in card.__dict__.items() if v is not None}
    for k in ("context_cliff_input_multiplier", "context_cliff_output_multiplier"):
        if k in data:
            data[k] = float(data[k])
    return EngineCard(**data)


def expected_cents(provider: str, model: str, **usage) -> int:
    """What the reference engine charges for this usage on the active card (independent of our code)."""
    out = compute_cost_breakdown(provider=provider, model=model, rate_card=engine_card(provider, model), **usage)
    return out["totals"]["realized_cents_ceiled"]


def sum_events(agent_id: str) -> int:
    from django.db.models import Sum

    from apps.budgets.models import BudgetEvent

    return BudgetEvent.objects.filter(agent_id=agent_id).aggregate(t=Sum("delta_cents"))["t"] or 0


def held(agent_id: str) -> int:
    from apps.budgets.models import Reservation

    return Reservation.objects.filter(agent_id=agent_id, status="held").count()
