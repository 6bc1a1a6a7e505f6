"""A crash mid-call: SIGKILL the server while the provider is still answering. The reservation
is committed before the call, so nothing is lost; the sweep settles it as lock_expired."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest

from apps.budgets.models import BudgetEvent, Reservation
from apps.gateway.models import UsageRecord
from tests.gateway.conftest import gateway_env, held, make_agent, sum_events
from tests.support.server import ROOT, ServerProcess, child_env

pytestmark = pytest.mark.usefixtures("committed_db")

MSG = [{"role": "user", "content": "hello"}]


def test_sigkill_mid_call_then_sweep(fake, tmp_path):
    ctx = make_agent(limit=500)
    env = gateway_env(fake, CAP_LOCK_TTL_SECONDS="3", UPSTREAM_TIMEOUT_SECONDS="2")
    srv = ServerProcess(env=env, log_path=tmp_path / "crash.log").start()
    run_id = str(uuid.uuid4())

    def doomed() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                       headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id, "x-cynsta-run-id": run_id,
                                              "x-fake-delay": "1.5"}), timeout=10)

    t = threading.Thread(target=doomed)
    t.start()
    deadline = time.time() + 5
    while not fake.requests_for(ctx.test_id) and time.time() < deadline:  # the call reached the provider
        time.sleep(0.02)
    assert held(ctx.agent_id) == 1
    srv.kill()
    t.join()
    reservation = Reservation.objects.get(agent_id=ctx.agent_id)
    assert reservation.status == "held"

    # Before expiry the sweep leaves it alone; after expiry it settles it, exactly once.
    sweep = [sys.executable, "manage.py", "sweep_reservations"]
    out = subprocess.run(sweep, cwd=ROOT, env=child_env(**env), capture_output=True, text=True, check=True)
    assert "settled=0" in out.stdout
    time.sleep(max(0.0, (reservation.expires_at.timestamp() - time.time())) + 0.2)
    out = subprocess.run(sweep, cwd=ROOT, env=child_env(**env), capture_output=True, text=True, check=True)
    assert "settled=1" in out.stdout, out
    again = subprocess.run(sweep, cwd=ROOT, env=child_env(**env), capture_output=True, text=True, check=True)
    assert "settled=0" in again.stdout

    reservation.refresh_from_db()
    assert (reservation.status, reservation.settle_reason) == ("expired", "lock_expired")
    assert reservation.charged_cents == reservation.amount_cents > 0
    event = BudgetEvent.objects.get(reservation=reservation)
    assert event.kind == "lock_expired" and event.delta_cents == -reservation.amount_cents
    record = UsageRecord.objects.get(reservation=reservation)
    assert record.termination == "lock_expired" and record.charged_cents == reservation.amount_cents
    assert not record.usage_known
    budget = ctx.budget()
    assert budget["remaining_cents"] == 500 - reservation.amount_cents == sum_events(ctx.agent_id)
    assert held(ctx.agent_id) == 0

    # The agent takes new calls (another run too: the dead run no longer holds it).
    with ServerProcess(env=env, log_path=tmp_path / "after.log") as again_srv:
        r = httpx.post(f"{again_srv.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                       headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}), timeout=30)
    assert r.status_code == 200, r.text
    assert ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id)


def test_reserve_settles_expired_reservations_itself(fake, tmp_path):
    """Without any sweep, the next reservation of the agent settles what expired."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.budgets.models import Agent, Run

    ctx = make_agent(limit=500)
    agent = Agent.objects.get(pk=ctx.agent_id)
    stale_run = Run.objects.create(agent=agent)
    stale = Reservation.objects.create(agent=agent, run=stale_run, amount_cents=7, provider="openai",
                                       model="gpt-4o", expires_at=timezone.now() - timedelta(seconds=1))
    with ServerProcess(env=gateway_env(fake), log_path=tmp_path / "s.log") as srv:
        r = httpx.post(f"{srv.url}/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG},
                       headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}), timeout=30)
    assert r.status_code == 200  # not 409: the stale run's hold was settled first
    stale.refresh_from_db()
    assert stale.status == "expired" and stale.charged_cents == 7
    assert ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id)
