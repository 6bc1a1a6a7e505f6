"""Bad input gets a clear 400 (413 for an oversized body) and changes nothing."""

from __future__ import annotations

import json

import pytest

from apps.budgets import services
from apps.budgets.models import Agent, BudgetEvent

pytestmark = pytest.mark.usefixtures("committed_db")


def snapshot(tenant) -> tuple:
    agents = list(Agent.objects.filter(organization=tenant.org).values_list("id", "name", "deleted_at",
                                                                             "max_concurrent_runs"))
    budgets = list(Agent.objects.filter(organization=tenant.org).values_list(
        "budget__hard_limit_cents", "budget__remaining_cents"))
    events = BudgetEvent.objects.filter(agent__organization=tenant.org).count()
    return agents, budgets, events


@pytest.fixture
def agent(tenant):
    agent = services.create_agent(tenant.org, name="steady")
    services.set_budget(agent, hard_limit_cents=5000, topup_cents=1000, actor="test")
    return agent


BUDGET_CASES = [
    (b"not json", "Request body must be valid JSON"),
    (b"\xff\xfe", "Request body must be valid JSON"),
    (b"[1, 2]", "Request body must be a JSON object"),
    (b'"a string"', "Request body must be a JSON object"),
    (b"null", "Request body must be a JSON object"),
    (b"{}", "hard_limit_cents is required"),
    (b'{"hard_limit_cents": "5000"}', "hard_limit_cents: Input should be a valid integer"),
    (b'{"hard_limit_cents": true}', "hard_limit_cents: Input should be a valid integer"),
    (b'{"hard_limit_cents": 0}', "hard_limit_cents: Input should be greater than or equal to 1"),
    (b'{"hard_limit_cents": -1}', "hard_limit_cents: Input should be greater than or equal to 1"),
    (json.dumps({"hard_limit_cents": 2**63}).encode(),
     "hard_limit_cents: Input should be less than or equal to 100000000000000"),
    (json.dumps({"hard_limit_cents": 10**400}).encode(),
     "hard_limit_cents: Input should be less than or equal to 100000000000000"),
    (b'{"hard_limit_cents": 50.5}', "hard_limit_cents: Input should be a valid integer"),
    (b'{"hard_limit_cents": 50.0}', "hard_limit_cents: Input should be a valid integer"),
    (b'{"hard_limit_cents": NaN}', "hard_limit_cents: Input should be a valid integer"),
    (b'{"hard_limit_cents": null}', "hard_limit_cents: Input should be a valid integer"),
    (b'{"hard_limit_cents": 100, "topup_cents": -5}', "topup_cents: Input should be greater than or equal to 0"),
    (b'{"hard_limit_cents": 100, "topup_cents": "5"}', "topup_cents: Input should be a valid integer"),
    (b'{"hard_limit_cents": [100]}', "hard_limit_cents: Input should be a valid integer"),
]


@pytest.mark.parametrize(("body", "detail"), BUDGET_CASES, ids=[c[0][:40].decode("latin-1") for c in BUDGET_CASES])
def test_bad_budget_bodies(http, tenant, agent, body, detail):
    before = snapshot(tenant)
    resp = http.post(f"/v1/agents/{agent.id}/budget", content=body, headers=tenant.headers())
    assert resp.status_code == 400, resp.text
    assert resp.json()["detail"] == detail
    assert resp.json()["error"] == {"message": detail, "type": "invalid_request_error", "code": "invalid_request_error"}
    assert snapshot(tenant) == before


NAME_CASES = [
    ({"name": 5}, "name: Input should be a valid string"),
    ({"name": ["x"]}, "name: Input should be a valid string"),
    ({"name": "x" * 10_000}, "name must be at most 200 characters"),
    ({"name": "   \t  "}, "name must not be blank"),
    ({"name": "bad\u0000name"}, "name must not contain control characters"),
]


@pytest.mark.parametrize(("body", "detail"), NAME_CASES)
def test_bad_names_on_create_and_rename(http, tenant, agent, body, detail):
    before = snapshot(tenant)
    for method, path in (("POST", "/v1/agents"), ("PATCH", f"/v1/agents/{agent.id}")):
        resp = http.request(method, path, json=body, headers=tenant.headers())
        assert resp.status_code == 400, (method, resp.text)
        assert resp.json()["detail"] == detail
    assert snapshot(tenant) == before


def test_rename_requires_a_name(http, tenant, agent):
    resp = http.patch(f"/v1/agents/{agent.id}", json={}, headers=tenant.headers())
    assert (resp.status_code, resp.json()["detail"]) == (400, "name is required")


@pytest.mark.parametrize(("value", "detail"), [
    (0, "max_concurrent_runs must be between 1 and 10000"),
    (10_001, "max_concurrent_runs must be between 1 and 10000"),
    ("3", "max_concurrent_runs: Input should be a valid integer"),
    (True, "max_concurrent_runs: Input should be a valid integer"),
])
def test_bad_max_concurrent_runs(http, tenant, agent, value, detail):
    before = snapshot(tenant)
    resp = http.patch(f"/v1/agents/{agent.id}", json={"max_concurrent_runs": value}, headers=tenant.headers())
    assert (resp.status_code, resp.json()["detail"]) == (400, detail)
    assert snapshot(tenant) == before


def test_max_concurrent_runs_can_be_raised(http, tenant, agent):
    resp = http.patch(f"/v1/agents/{agent.id}", json={"max_concurrent_runs": 8}, headers=tenant.headers())
    assert resp.status_code == 200 and resp.json()["max_concurrent_runs"] == 8


@pytest.mark.parametrize("agent_id", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "ünï"])
def test_agent_id_must_be_a_uuid(http, tenant, agent_id):
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("GET", "/budget"), ("POST", "/budget"),
                           ("POST", "/runs")):
        resp = http.request(method, f"/v1/agents/{agent_id}{suffix}", json={"name": "x", "hard_limit_cents": 5},
                            headers=tenant.headers())
        assert resp.status_code == 400, (method, suffix, resp.text)
        assert resp.json()["detail"] == "agent_id must be a UUID"


def test_oversized_body_is_413(http, tenant, agent):
    before = snapshot(tenant)
    body = b'{"name": "' + b"x" * (9 * 1024 * 1024) + b'"}'
    resp = http.post("/v1/agents", content=body, headers=tenant.headers())
    assert resp.status_code == 413
    assert resp.json()["detail"] == "Request body too large"
    assert snapshot(tenant) == before


def test_unknown_fields_are_ignored(http, tenant, agent):
    resp = http.post(f"/v1/agents/{agent.id}/budget", json={"hard_limit_cents": 6000, "topup_cents": 1,
                                                            "remaining_cents": 999999}, headers=tenant.headers())
    assert resp.status_code == 200
    assert (resp.json()["hard_limit_cents"], resp.json()["remaining_cents"]) == (6000, 1001)


def test_unicode_names_round_trip(http, tenant):
    resp = http.post("/v1/agents", json={"name": "  研究エージェント 🤖  "}, headers=tenant.headers())
    assert resp.status_code == 200 and resp.json()["name"] == "研究エージェント 🤖"


def test_empty_create_body_is_allowed(http, tenant):
    resp = http.post("/v1/agents", headers=tenant.headers())
    assert resp.status_code == 200 and resp.json()["name"] == ""
