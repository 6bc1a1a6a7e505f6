"""Operator commands, health probes, OpenAPI docs and the production settings guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.keys import KEY_RE, hash_key
from apps.accounts.models import ApiKey
from tests.support.server import ROOT


@pytest.mark.django_db
def test_create_api_key_json(capsys):
    call_command("create_api_key", "--org", "Acme Robotics", "--scopes", "cap:use", "--json")
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"key", "key_id", "organization", "scopes"}
    assert KEY_RE.match(out["key"]) and out["key"].startswith("sk_cynsta_live_")
    assert (out["organization"], out["scopes"]) == ("Acme Robotics", ["cap:use"])
    key = ApiKey.objects.get(pk=out["key_id"])
    assert key.key_hash == hash_key(out["key"]) and key.organization.name == "Acme Robotics"


@pytest.mark.django_db
def test_create_api_key_test_key_and_existing_org(capsys):
    call_command("create_api_key", "--org", "Acme", "--json")
    call_command("create_api_key", "--org", "Acme", "--test", "--json")
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert second["key"].startswith("sk_cynsta_test_")
    assert second["scopes"] == ["cap:use", "cap:manage"]
    orgs = {ApiKey.objects.get(pk=k["key_id"]).organization_id for k in (first, second)}
    assert len(orgs) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "message"), [
    (["--org", "x", "--scopes", "cap:admin"], "Unknown scope(s): cap:admin"),
    (["--org", "x", "--scopes", ","], "At least one scope is required"),
    (["--org", "   "], "Organization name must not be blank"),
])
def test_create_api_key_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call_command("create_api_key", *args)
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_bootstrap_prints_admin_login_and_key(capsys):
    call_command("bootstrap", "--base-url", "http://127.0.0.1:9999")
    out = capsys.readouterr().out
    assert "Admin:    http://127.0.0.1:9999/admin/" in out
    assert "Login:    admin / " in out
    key = next(w for w in out.split() if w.startswith("sk_cynsta_live_"))
    assert ApiKey.objects.filter(key_hash=hash_key(key)).exists()
    call_command("bootstrap")  # idempotent: the existing staff user is kept
    assert "existing user" in capsys.readouterr().out


def _django_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "SPENDGUARD_ENV", "DEBUG"}}
    clean.update(env)
    return subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=60)


def test_production_refuses_to_start_without_secret_key(tmp_path):
    result = _django_check({"SPENDGUARD_ENV": "production", "SPENDGUARD_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY is required in production (SPENDGUARD_ENV=production)." in result.stderr


def test_bad_setting_values_are_refused_clearly(tmp_path):
    result = _django_check({"CAP_LOCK_TTL_SECONDS": "soon", "SPENDGUARD_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "CAP_LOCK_TTL_SECONDS must be an integer, got 'soon'" in result.stderr


def test_development_generates_its_secret_once(tmp_path):
    assert _django_check({"SPENDGUARD_DATA_DIR": str(tmp_path)}).returncode == 0
    secret = (tmp_path / "dev-secret-key").read_text()
    assert len(secret) > 40 and oct((tmp_path / "dev-secret-key").stat().st_mode)[-3:] == "600"
    assert _django_check({"SPENDGUARD_DATA_DIR": str(tmp_path)}).returncode == 0
    assert (tmp_path / "dev-secret-key").read_text() == secret


def test_health_readiness_and_docs(http):
    assert http.get("/health").json() == {"status": "ok"}
    assert http.get("/health/ready").json() == {"status": "ok", "database": "ok"}
    schema = http.get("/openapi.json").json()
    for route in ("/v1/agents", "/v1/agents/{agent_id}", "/v1/agents/{agent_id}/budget", "/v1/agents/{agent_id}/runs"):
        assert route in schema["paths"]
    assert http.get("/docs").status_code == 200
