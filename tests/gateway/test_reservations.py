"""The money services of reservations, in-process: settle once, shortfalls, expiry, refunds."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.budgets import reservations, services
from apps.budgets.models import Agent, BudgetEvent, Reservation
from apps.core.errors import ApiError
from apps.gateway.models import UsageRecord
from apps.gateway.receivers import CallDetails
from tests.gateway.conftest import make_agent, sum_events

pytestmark = pytest.mark.usefixtures("committed_db")


def reserve(agent: Agent, amount: int, run_id: uuid.UUID | None = None) -> Reservation:
    res, _ = reservations.reserve(agent, run_id=run_id or uuid.uuid4(), size=lambda available: amount,
                                  provider="openai", model="gpt-4o", pricing_version=1)
    return res


def details(agent: Agent) -> CallDetails:
    return CallDetails(organization_id=agent.organization_id, route="chat", termination="ok")


def test_settle_is_exactly_once():
    ctx = make_agent(limit=100)
    agent = Agent.objects.get(pk=ctx.agent_id)
    res = reserve(agent, 10)
    first = reservations.settle(res, cost_cents=4, reason="ok", actor="t", details=details(agent))
    second = reservations.settle(res, cost_cents=9, reason="ok", actor="t", details=details(agent))
    assert (first.charged_cents, first.first) == (4, True)
    assert (second.charged_cents, second.first, second.remaining_cents) == (4, False, 96)
    assert BudgetEvent.objects.filter(reservation=res).count() == 1
    assert UsageRecord.objects.filter(reservation=res).count() == 1
    assert sum_events(ctx.agent_id) == 96


def test_charge_is_capped_by_the_reservation_and_unknown_cost_charges_it():
    ctx = make_agent(limit=100)
    agent = Agent.objects.get(pk=ctx.agent_id)
    a = reservations.settle(reserve(agent, 5), cost_cents=50, reason="ok", actor="t", details=details(agent))
    b = reservations.settle(reserve(agent, 6), cost_cents=None, reason="timeout", actor="t", details=details(agent))
    assert (a.charged_cents, b.charged_cents, b.remaining_cents) == (5, 6, 89)


def test_limit_lowered_mid_flight_records_the_shortfall():
    ctx = make_agent(limit=100)
    agent = Agent.objects.get(pk=ctx.agent_id)
    res = reserve(agent, 30)
    services.set_budget(agent, hard_limit_cents=10, actor="staff:x")  # remaining drops to 10
    s = reservations.settle(res, cost_cents=25, reason="ok", actor="t", details=details(agent))
    assert (s.charged_cents, s.shortfall_cents, s.remaining_cents) == (10, 15, 0)
    res.refresh_from_db()
    assert res.shortfall_cents == 15
    assert "could not be charged" in BudgetEvent.objects.get(reservation=res).reason
    assert sum_events(ctx.agent_id) == 0


def test_402_and_409_rules():
    ctx = make_agent(limit=10)
    agent = Agent.objects.get(pk=ctx.agent_id)
    run = uuid.uuid4()
    reserve(agent, 6, run)
    with pytest.raises(ApiError) as e409:
        reserve(agent, 1)
    assert e409.value.status == 409
    with pytest.raises(ApiError) as e402:
        reserve(agent, 5, run)  # same run may overlap, but 10 − 6 held < 5
    assert e402.value.status == 402
    reserve(agent, 4, run)


def test_expire_stale_is_idempotent_and_charges_the_reservation():
    ctx = make_agent(limit=100)
    agent = Agent.objects.get(pk=ctx.agent_id)
    res = reserve(agent, 12)
    later = timezone.now() + timedelta(seconds=10_000)
    reservations.expire_stale()
    res.refresh_from_db()
    assert res.status == "held"  # not expired yet
    assert reservations.expire_stale(now=later) >= 1
    assert reservations.expire_stale(now=later) == 0
    res.refresh_from_db()
    assert (res.status, res.charged_cents) == ("expired", 12)
    rec = UsageRecord.objects.get(reservation=res)
    assert rec.termination == "lock_expired" and rec.organization_id == agent.organization_id
    assert sum_events(ctx.agent_id) == 88


def test_refund_caps_at_charge_and_hard_limit():
    ctx = make_agent(limit=100)
    agent = Agent.objects.get(pk=ctx.agent_id)
    res = reserve(agent, 20)
    reservations.settle(res, cost_cents=None, reason="timeout", actor="t", details=details(agent))
    assert agent.budget.__class__.objects.get(agent=agent).remaining_cents == 80
    services.set_budget(agent, hard_limit_cents=90, actor="staff")  # room for 10 only
    ev = reservations.refund(res, actor="staff:x", reason="conservative charge")
    assert ev.delta_cents == 10 and ev.kind == "refund"
    services.set_budget(agent, hard_limit_cents=1000, actor="staff")
    ev2 = reservations.refund(res, actor="staff:x", reason="rest")
    assert ev2.delta_cents == 10  # total refunds never exceed the 20 charged
    with pytest.raises(ApiError):
        reservations.refund(res, actor="staff:x", reason="again")
    assert sum_events(ctx.agent_id) == 100


def test_admin_refund_action():
    from django.contrib.auth import get_user_model
    from django.test import Client

    ctx = make_agent(limit=100)
    agent = Agent.objects.get(pk=ctx.agent_id)
    res = reserve(agent, 9)
    reservations.settle(res, cost_cents=None, reason="timeout", actor="t", details=details(agent))
    record = UsageRecord.objects.get(reservation=res)
    user = get_user_model().objects.create_superuser(f"staff-{uuid.uuid4().hex[:8]}", "s@x.test", "pw-123456789")
    browser = Client()
    browser.force_login(user)
    page = browser.get("/admin/gateway/usagerecord/")
    assert page.status_code == 200 and b"refund_charge" in page.content
    assert browser.get(f"/admin/gateway/usagerecord/{record.pk}/change/").status_code == 200
    r = browser.post("/admin/gateway/usagerecord/", {"action": "refund_charge", "_selected_action": [record.pk]})
    assert r.status_code == 302
    ev = BudgetEvent.objects.get(reservation=res, kind="refund")
    assert ev.delta_cents == 9 and ev.actor == f"staff:{user.username}"
    assert sum_events(ctx.agent_id) == 100
