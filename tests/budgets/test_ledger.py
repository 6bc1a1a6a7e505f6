"""The ledger invariant: remaining_cents always equals the sum of the agent's budget events."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.budgets import selectors, services
from apps.budgets.models import Budget, BudgetEvent, Reservation
from apps.core.errors import ApiError
from tests.conftest import make_tenant


def assert_invariant(agent) -> None:
    budget = Budget.objects.get(agent=agent)
    events = list(BudgetEvent.objects.filter(agent=agent).order_by("id"))
    assert budget.remaining_cents == selectors.ledger_sum(agent)
    assert 0 <= budget.remaining_cents <= budget.hard_limit_cents
    running = 0
    for event in events:  # each event's balance_after is the running sum
        running += event.delta_cents
        assert event.balance_after_cents == running


operations = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.integers(1, 10**6), st.integers(0, 10**6)),
        st.tuples(st.just("topup"), st.integers(1, 10**6), st.just(0)),
        st.tuples(st.just("adjust"), st.integers(-(10**6), 10**6), st.just(0)),
    ),
    min_size=1, max_size=25,
)


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_remaining_equals_sum_of_events_after_any_sequence(ops):
    agent = services.create_agent(make_tenant().org, name="h")
    model_remaining, model_limit, configured = 0, 0, False
    for op, a, b in ops:
        try:
            if op == "set":
                services.set_budget(agent, hard_limit_cents=a, topup_cents=b, actor="test")
                model_remaining = min(a, (b if b > 0 else a) if not configured else model_remaining + b)
                model_limit, configured = a, True
            elif op == "topup":
                services.top_up(agent, amount_cents=a, actor="test", reason="t")
                model_remaining += a
            else:
                services.adjust(agent, delta_cents=a, actor="test", reason="fix")
                model_remaining += a
        except ApiError as exc:
            assert exc.status == 400  # refused: over the limit or below zero, and nothing changed
        budget = Budget.objects.get(agent=agent)
        assert (budget.remaining_cents, budget.hard_limit_cents) == (model_remaining, model_limit)
        assert_invariant(agent)


@pytest.mark.django_db
def test_set_budget_rules_match_the_sidecar():
    agent = services.create_agent(make_tenant().org)
    assert services.set_budget(agent, hard_limit_cents=1000, actor="t").remaining_cents == 1000  # first, no topup
    other = services.create_agent(agent.organization)
    assert services.set_budget(other, hard_limit_cents=1000, topup_cents=300, actor="t").remaining_cents == 300
    assert services.set_budget(other, hard_limit_cents=1000, topup_cents=500, actor="t").remaining_cents == 800
    assert services.set_budget(other, hard_limit_cents=1000, topup_cents=500, actor="t").remaining_cents == 1000
    lowered = services.set_budget(other, hard_limit_cents=400, actor="t")
    assert (lowered.remaining_cents, lowered.hard_limit_cents) == (400, 400)
    kinds = list(BudgetEvent.objects.filter(agent=other).order_by("id").values_list("kind", "delta_cents"))
    assert kinds == [("topup", 300), ("topup", 500), ("topup", 200), ("limit_change", -600)]


@pytest.mark.django_db
def test_top_up_past_the_limit_is_refused_whole():
    agent = services.create_agent(make_tenant().org)
    services.set_budget(agent, hard_limit_cents=1000, topup_cents=900, actor="t")
    with pytest.raises(ApiError, match="would exceed the hard limit of 1000 cents \\(room for 100\\)"):
        services.top_up(agent, amount_cents=101, actor="t", reason="r")
    assert Budget.objects.get(agent=agent).remaining_cents == 900


@pytest.mark.django_db
def test_events_are_append_only():
    agent = services.create_agent(make_tenant().org)
    services.set_budget(agent, hard_limit_cents=10, actor="t")
    event = BudgetEvent.objects.get(agent=agent)
    event.reason = "rewritten"
    with pytest.raises(RuntimeError, match="append-only"):
        event.save()
    with pytest.raises(RuntimeError, match="append-only"):
        event.delete()


@pytest.mark.django_db
def test_delete_is_refused_while_a_reservation_is_held():
    agent = services.create_agent(make_tenant().org)
    services.set_budget(agent, hard_limit_cents=10, actor="t")
    run = services.create_run(agent)
    Reservation.objects.create(agent=agent, run=run, amount_cents=5, expires_at=timezone.now() + timedelta(minutes=5))
    with pytest.raises(ApiError) as exc:
        services.delete_agent(agent)
    assert (exc.value.status, exc.value.detail) == (409, "Agent has in-flight reservations")


@pytest.mark.usefixtures("committed_db")
def test_concurrent_top_ups_lose_none():
    agent = services.create_agent(make_tenant().org)
    services.set_budget(agent, hard_limit_cents=10**6, topup_cents=1, actor="t")
    errors: list[BaseException] = []
    start = threading.Barrier(20)

    def worker(i: int) -> None:
        try:
            start.wait()
            services.top_up(agent, amount_cents=100 + i, actor=f"thread-{i}", reason="race")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    expected = 1 + sum(100 + i for i in range(20))
    assert Budget.objects.get(agent=agent).remaining_cents == expected
    assert BudgetEvent.objects.filter(agent=agent, kind="topup").count() == 21
    assert_invariant(agent)
    assert connection.vendor in {"postgresql", "sqlite"}
