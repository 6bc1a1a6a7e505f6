"""The real `spendguard` CLI (cynsta-spendguard 0.2.0) against a real server, lines checked exactly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from spendguard_sdk import SpendGuardClient

from apps.budgets.models import Agent

pytestmark = pytest.mark.usefixtures("committed_db")

CLI = shutil.which("spendguard") or str(Path(sys.executable).with_name("spendguard"))
UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TS_RE = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z"


def cli(server, key: str | None, *args: str, mode: str = "hosted") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAP_")}
    env.update(CAP_MODE=mode, CAP_BASE_URL=server.url)
    if key is not None:
        env["CAP_API_KEY"] = key
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=60)


def test_cli_agent_and_budget_lifecycle(server, tenant):
    created = cli(server, tenant.key, "agent", "create", "--name", "research bot")
    assert created.returncode == 0, created.stderr
    match = re.fullmatch(rf"agent_id=({UUID_RE})\n", created.stdout)
    assert match, created.stdout
    agent_id = match.group(1)

    listed = cli(server, tenant.key, "agent", "list")
    assert re.fullmatch(rf"agent_id={agent_id} name=research bot created_at={TS_RE}\n", listed.stdout), listed.stdout

    got = cli(server, tenant.key, "agent", "get", "--agent", agent_id)
    assert re.fullmatch(rf"agent_id={agent_id} name=research bot created_at={TS_RE}\n", got.stdout)

    renamed = cli(server, tenant.key, "agent", "rename", "--agent", agent_id, "--name", "ünïcode bot ✓")
    assert re.fullmatch(rf"agent_id={agent_id} name=ünïcode bot ✓ created_at={TS_RE}\n", renamed.stdout)

    first = cli(server, tenant.key, "budget", "set", "--agent", agent_id, "--limit", "5000", "--topup", "1200")
    assert first.stdout == (
        f"agent_id={agent_id}\nhard_limit_cents=5000\nremaining_cents=1200\nlocked_cents=0\n"
        "locked_run_id=None\nlocked_expires_at=None\n"
    )
    # A later set adds the top-up, capped at the new limit (the sidecar's rule).
    later = cli(server, tenant.key, "budget", "set", "--agent", agent_id, "--limit", "2000", "--topup", "1500")
    assert "hard_limit_cents=2000\nremaining_cents=2000\n" in later.stdout

    got_budget = cli(server, tenant.key, "budget", "get", "--agent", agent_id)
    assert got_budget.stdout == later.stdout

    deleted = cli(server, tenant.key, "agent", "delete", "--agent", agent_id)
    assert deleted.stdout == f"deleted agent_id={agent_id}\n"
    gone = cli(server, tenant.key, "agent", "get", "--agent", agent_id)
    assert gone.returncode == 1
    assert gone.stderr == "HTTP 404: Agent not found\n"
    # The ledger survives the delete.
    assert Agent.objects.get(pk=agent_id).budget_events.count() == 2

    assert cli(server, tenant.key, "agent", "list").stdout == "(no agents)\n"


def test_sdk_client_round_trip(server, tenant):
    client = SpendGuardClient(server.url, api_key=tenant.key)
    agent = client.create_agent("sdk bot")
    agent_id = agent["agent_id"]
    assert agent["name"] == "sdk bot"
    assert [a["agent_id"] for a in client.list_agents()["agents"]] == [agent_id]
    assert client.get_agent(agent_id)["name"] == "sdk bot"
    assert client.rename_agent(agent_id, "renamed")["name"] == "renamed"
    budget = client.set_budget(agent_id, 1000)
    assert (budget["hard_limit_cents"], budget["remaining_cents"], budget["locked_cents"]) == (1000, 1000, 0)
    assert budget["locked_run_id"] is None and budget["locked_expires_at"] is None
    assert client.set_budget(agent_id, 1500, topup_cents=200)["remaining_cents"] == 1200
    assert client.get_budget(agent_id)["remaining_cents"] == 1200
    run = client.create_run(agent_id)
    assert re.fullmatch(UUID_RE, run["run_id"])
    assert client.delete_agent(agent_id) == {"agent_id": agent_id, "deleted": True}
