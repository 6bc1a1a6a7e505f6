"""Staff issue a key in the admin, see its plaintext once, use it, and revoke it."""

from __future__ import annotations

import re

import httpx
import pytest

from apps.accounts.keys import hash_key
from apps.accounts.models import ApiKey
from tests.conftest import make_tenant
from tests.support.browser import admin_login, browser_page, make_staff_user

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("committed_db")]


def test_issue_see_once_use_and_revoke_a_key(server):
    tenant = make_tenant()
    username, password = make_staff_user()
    with browser_page() as page:
        admin_login(page, server.url, username, password)
        page.goto(f"{server.url}/admin/accounts/apikey/add/")
        page.select_option("#id_organization", label=tenant.org.name)
        page.fill("#id_name", "ci pipeline")
        page.uncheck("input[name=scope_choices][value='cap:manage']")
        page.click("input[name=_save]")
        message = page.inner_text(".messagelist")
        key = re.search(r"sk_cynsta_live_[A-Za-z0-9]{32}", message).group(0)

        stored = ApiKey.objects.get(key_hash=hash_key(key))
        assert (stored.name, stored.scopes, stored.organization_id) == ("ci pipeline", ["cap:use"], tenant.org.pk)
        assert httpx.get(f"{server.url}/v1/agents", headers={"x-api-key": key}).status_code == 200
        assert httpx.post(f"{server.url}/v1/agents", headers={"x-api-key": key}).status_code == 403

        # Shown once: the key's own page has only the display prefix.
        page.goto(f"{server.url}/admin/accounts/apikey/{stored.pk}/change/")
        assert key not in page.content() and stored.prefix in page.content()

        page.goto(f"{server.url}/admin/accounts/apikey/")
        page.check(f"input[name=_selected_action][value='{stored.pk}']")
        page.select_option("select[name=action]", "revoke_selected")
        page.click("button[name=index]")
        assert "Revoked 1 key(s)" in page.inner_text(".messagelist")

    resp = httpx.get(f"{server.url}/v1/agents", headers={"x-api-key": key})
    assert (resp.status_code, resp.json()["detail"]) == (401, "Invalid API key")
