"""Staff change a price in a real browser: draft from active, edit JSON, diff, confirm, and the
public document carries the new price at once."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.pricing.conftest import activate_rates, with_test_card
from tests.pricing.sidecar_verifier import verify
from tests.support.browser import admin_login, browser_page, make_staff_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db")]


def test_staff_change_a_price_and_sidecars_see_it(server, public_key, restore_prices, test_model):
    from apps.pricing.selectors import get_active_version

    # A card only this test uses, so every other test's prices stay as they are.
    activate_rates(with_test_card(restore_prices, test_model, {"input_cents_per_1m": 100, "output_cents_per_1m": 200}))
    before = get_active_version()
    username, password = make_staff_user()
    admin = f"{server.url}/admin/pricing/pricingversion"

    with browser_page() as page:
        admin_login(page, server.url, username, password)
        page.goto(f"{admin}/")
        assert page.locator("#result_list").inner_text().count("Active") == 1
        page.click("#create-draft")
        page.wait_for_selector("#id_rates_json")
        draft_url = page.url  # …/pricingversion/<pk>/change/
        assert "Created draft" in page.locator(".messagelist").inner_text()
        rates = json.loads(page.input_value("#id_rates_json"))
        assert rates == before.rates

        # A mistake first: shown as a form error naming provider, model and field; nothing saved.
        rates["openai"][test_model]["output_cents_per_1m"] = -5
        page.fill("#id_rates_json", json.dumps(rates, indent=2))
        page.click("input[name=_continue]")
        errors = page.locator(".errorlist").inner_text()
        assert f"openai:{test_model}: output_cents_per_1m must be an integer between 0 and" in errors

        rates["openai"][test_model]["output_cents_per_1m"] = 333
        page.fill("#id_rates_json", json.dumps(rates, indent=2))
        page.click("input[name=_continue]")
        page.wait_for_selector(".messagelist .success")

        page.click("#diff-link")
        assert page.locator("#diff-summary").inner_text() == "1 card differs"
        row = page.locator("#diff-table tbody tr").inner_text()
        assert test_model in row and "changed" in row and "output_cents_per_1m" in row
        assert "200" in row and "333" in row

        page.click("#activate-link")
        assert "Activate v" in page.locator("h1").inner_text()
        assert "333" in page.locator("#diff-table").inner_text()
        page.click("#confirm-activate")
        page.wait_for_selector("#published-document")
        assert "is active and published" in page.locator(".messagelist").inner_text()
        shown = json.loads(page.locator("#published-document").inner_text())
        etag_shown = page.locator("#published-etag").inner_text()

        # The activated version is read-only now (no ORM here: Playwright's loop runs in this thread).
        page.goto(draft_url)
        assert page.locator("#id_rates_json").count() == 0
        assert page.locator("input[name=_save]").count() == 0
        assert page.locator("#activate-link").count() == 0
        displayed = json.loads(page.locator("#rates-display").inner_text())

    active = get_active_version()
    assert draft_url.endswith(f"/{active.pk}/change/") and displayed == active.rates
    assert active.number > before.number and active.activated_by == f"staff:{username}"
    response = httpx.get(f"{server.url}/v1/public/pricing", timeout=10)
    doc = verify(response.content, public_key)
    assert doc["pricing_version"] == active.number
    assert doc["rates"]["openai"][test_model] == {"input_cents_per_1m": 100, "output_cents_per_1m": 333}
    assert json.loads(response.content) == shown and response.headers["etag"] == etag_shown
    # Everything else is priced exactly as before.
    others = {p: {m: c for m, c in models.items() if m != test_model} for p, models in doc["rates"].items()}
    assert others == restore_prices
