"""Signing-key configuration: production refuses to start without one; development makes one."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys

import pytest
from django.conf import settings

from apps.pricing.signing import key_for, signing_key
from tests.support.server import ROOT

SETUP = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'spendguard.settings'); "
         "django.setup(); from apps.pricing.signing import signing_key; print('key_id=' + signing_key().key_id)")
KEY = "CVj394nQ2JvqbX+g3/TTskabfB8he8OZUyPtoXkjpV8="


def run_django(tmp_path, *argv: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("CAP_PRICING_SIGNING_PRIVATE_KEY", "CLOUD_PRICING_SIGNING_PRIVATE_KEY", "SECRET_KEY")}
    clean.update(SPENDGUARD_DATA_DIR=str(tmp_path), **env)
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("argv", [("-c", SETUP), ("manage.py", "check")], ids=["django.setup", "manage.py check"])
def test_production_without_signing_key_refuses_to_start(tmp_path, argv):
    result = run_django(tmp_path, *argv, SPENDGUARD_ENV="production", SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "ImproperlyConfigured: CAP_PRICING_SIGNING_PRIVATE_KEY (or CLOUD_PRICING_SIGNING_PRIVATE_KEY) is " \
           "required in production" in result.stderr
    assert not (tmp_path / "dev-pricing-signing-key").exists()  # never a generated key in production


@pytest.mark.parametrize("name", ["CAP_PRICING_SIGNING_PRIVATE_KEY", "CLOUD_PRICING_SIGNING_PRIVATE_KEY"])
def test_production_with_a_configured_key_starts(tmp_path, name):
    result = run_django(tmp_path, "-c", SETUP, SPENDGUARD_ENV="production", SECRET_KEY="x" * 50, **{name: KEY})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"key_id={key_for(KEY).key_id}"


@pytest.mark.parametrize(("env", "message"), [
    ({"CAP_PRICING_SIGNING_PRIVATE_KEY": "not base64!"}, "CAP_PRICING_SIGNING_PRIVATE_KEY must be base64 of a raw "
                                                         "32-byte Ed25519 private key"),
    ({"CAP_PRICING_SIGNING_PRIVATE_KEY": base64.b64encode(b"short").decode()}, "must be base64 of a raw 32-byte"),
    ({"CAP_PRICING_SIGNING_PRIVATE_KEY": KEY, "CLOUD_PRICING_SIGNING_PRIVATE_KEY": "A" * 43 + "="},
     "are both set and differ"),
])
def test_a_bad_key_is_refused_clearly(tmp_path, env, message):
    result = run_django(tmp_path, "-c", SETUP, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_development_generates_a_private_key_file_once(tmp_path):
    first = run_django(tmp_path, "-c", SETUP)
    assert first.returncode == 0, first.stderr
    path = tmp_path / "dev-pricing-signing-key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(base64.b64decode(path.read_text())) == 32
    second = run_django(tmp_path, "-c", SETUP)
    assert second.stdout == first.stdout  # same key on every start


def test_generate_signing_key_command(tmp_path):
    result = run_django(tmp_path, "manage.py", "generate_signing_key")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert set(lines) == {"CAP_PRICING_SIGNING_PRIVATE_KEY", "public_key", "key_id"}
    key = key_for(lines["CAP_PRICING_SIGNING_PRIVATE_KEY"])
    assert (key.public_b64, key.key_id) == (lines["public_key"], lines["key_id"])
    assert lines["CAP_PRICING_SIGNING_PRIVATE_KEY"] != settings.PRICING_SIGNING_PRIVATE_KEY


def test_settings_and_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["pricing-publish"]
    assert entry["task"] == "apps.pricing.tasks.publish_pricing"
    # every TTL/6 (50 s at the default 300 s), at least once a minute
    assert entry["schedule"] == max(1, min(60, settings.CAP_PRICING_TTL_SECONDS / 6))
    assert len(signing_key().public_raw) == 32
