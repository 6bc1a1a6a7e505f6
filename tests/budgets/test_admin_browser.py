"""Staff in a real headless Chromium: log in, top up an agent, see the balance and the event."""

from __future__ import annotations

import re

import pytest

from apps.budgets import services
from apps.budgets.models import Budget, BudgetEvent
from tests.conftest import make_tenant
from tests.support.browser import admin_login, browser_page, make_staff_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db")]


def test_staff_tops_up_an_agent_by_250_cents(server):
    tenant = make_tenant()
    agent = services.create_agent(tenant.org, name="browser-bot")
    services.set_budget(agent, hard_limit_cents=2000, topup_cents=500, actor="test")
    username, password = make_staff_user()

    with browser_page() as page:
        admin_login(page, server.url, username, password)
        page.goto(f"{server.url}/admin/budgets/agent/{agent.pk}/change/")
        assert page.inner_text(".field-remaining .readonly") == "500"
        # The balance is not an editable field anywhere on the page.
        assert page.locator("input[name=remaining_cents]").count() == 0
        page.click("#money-topup")
        page.fill("#id_amount_cents", "250")
        page.fill("#id_reason", "Goodwill credit for ticket #42")
        page.click("#money-form input[type=submit]")
        page.wait_for_selector(".messagelist .success")
        assert "remaining 750 of 2000 cents" in page.inner_text(".messagelist")
        assert page.inner_text(".field-remaining .readonly") == "750"
        events = page.inner_text("#budget_events-group")
        assert "Goodwill credit for ticket #42" in events
        assert f"staff:{username}" in events

        # A top-up the limit would cut is refused with a clear message and changes nothing.
        page.click("#money-topup")
        page.fill("#id_amount_cents", "1251")
        page.fill("#id_reason", "too much")
        page.click("#money-form input[type=submit]")
        assert re.search(r"would exceed the hard limit of 2000 cents \(room for 1250\)", page.inner_text(".errorlist"))

        # Agent edits follow the API's rules.
        page.goto(f"{server.url}/admin/budgets/agent/{agent.pk}/change/")
        page.fill("#id_name", "   ")
        page.fill("#id_max_concurrent_runs", "0")
        page.click("input[name=_save]")
        errors = page.inner_text("#content-main")
        assert "name must not be blank" in errors
        assert "max_concurrent_runs must be between 1 and 10000" in errors
        page.fill("#id_name", "renamed-bot")
        page.fill("#id_max_concurrent_runs", "4")
        page.click("input[name=_save]")
        page.wait_for_selector(".messagelist .success")

        # The ledger page is read-only.
        page.goto(f"{server.url}/admin/budgets/budgetevent/")
        assert page.locator("#content .object-tools a.addlink").count() == 0
        assert "Goodwill credit for ticket #42" in page.inner_text("#result_list")

    assert Budget.objects.get(agent=agent).remaining_cents == 750
    agent.refresh_from_db()
    assert (agent.name, agent.max_concurrent_runs) == ("renamed-bot", 4)
    event = BudgetEvent.objects.filter(agent=agent).order_by("-id").first()
    assert (event.kind, event.delta_cents, event.balance_after_cents) == ("topup", 250, 750)
    assert (event.actor, event.reason) == (f"staff:{username}", "Goodwill credit for ticket #42")
