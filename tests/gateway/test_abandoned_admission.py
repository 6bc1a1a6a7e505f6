"""A client that leaves while its call is being admitted: the reservation the admission thread
commits anyway is released at once (charged 0), not left to expire and be charged in full."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from django.test import RequestFactory

from apps.budgets.models import Reservation
from apps.budgets.selectors import budget_view, ledger_sum
from apps.gateway import adapters, flow
from apps.gateway.models import UsageRecord
from tests.gateway.conftest import make_agent

pytestmark = pytest.mark.usefixtures("committed_db")


def test_client_leaving_during_admission_releases_the_reservation(monkeypatch):
    ctx = make_agent(limit=1000)
    real_admit = flow._admit
    admitted = []

    def slow_admit(*args, **kwargs):
        result = real_admit(*args, **kwargs)  # the reservation is committed here
        admitted.append(result)
        time.sleep(0.5)  # ... and the client leaves meanwhile
        return result

    monkeypatch.setattr(flow, "_admit", slow_admit)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
    request = RequestFactory().post("/v1/chat/completions", data=json.dumps(body), content_type="application/json",
                                    HTTP_X_API_KEY=ctx.tenant.key, HTTP_X_CYNSTA_AGENT_ID=ctx.agent_id)

    async def scenario() -> None:
        call = asyncio.ensure_future(flow.proxy(request, adapters.CHAT, provider="openai", agent_id=None,
                                                run_id=None))
        await asyncio.sleep(0.2)
        call.cancel()  # what Django does when the client disconnects
        with pytest.raises(asyncio.CancelledError):
            await call

    asyncio.run(scenario())

    assert len(admitted) == 1
    reservation = Reservation.objects.get(agent_id=ctx.agent_id)
    assert (reservation.status, reservation.charged_cents) == ("settled", 0)
    assert reservation.amount_cents > 0
    record = UsageRecord.objects.get(reservation=reservation)
    assert (record.termination, record.charged_cents) == ("client_left_before_call", 0)
    budget = budget_view(reservation.agent)
    assert (budget["remaining_cents"], budget["locked_cents"], budget["in_flight_reservations"]) == (1000, 0, 0)
    assert ledger_sum(reservation.agent) == 1000
