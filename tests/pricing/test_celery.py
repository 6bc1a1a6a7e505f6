"""A real Celery worker with embedded beat (Redis broker) keeps the price list fresh, and with no
worker at all the endpoint still serves an unexpired document (re-signed on demand)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from apps.pricing.models import PublishedPricing
from tests.pricing.conftest import store_publication
from tests.pricing.sidecar_verifier import verify
from tests.support.server import ROOT, ServerProcess, child_env

pytestmark = pytest.mark.usefixtures("committed_db")

BROKER = "redis://127.0.0.1:6379/5"  # this suite's own Redis database
TTL = 15  # beat every 2.5 s, re-sign after 5 s


def _redis_or_skip():
    import redis

    client = redis.Redis.from_url(BROKER, socket_connect_timeout=2)
    try:
        client.flushdb()  # leftovers of an earlier run would be consumed first
    except redis.ConnectionError:
        pytest.skip("Redis is not running on 127.0.0.1:6379")


def test_worker_with_beat_republishes_before_expiry(tmp_path: Path, public_key):
    _redis_or_skip()
    env = {"CAP_PRICING_TTL_SECONDS": str(TTL), "CELERY_BROKER_URL": BROKER}
    log = tmp_path / "celery.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "spendguard", "worker", "-B", "--loglevel=info",
         "--concurrency=1", "--without-gossip", "--without-mingle", "-s", str(tmp_path / "beat-schedule")],
        cwd=ROOT, env=child_env(**env), stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        with ServerProcess(env=env, log_path=tmp_path / "serve.log") as server:
            seen: dict[str, dict] = {}  # etag -> document, as served over HTTP
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                response = httpx.get(f"{server.url}/v1/public/pricing", timeout=10)
                doc = verify(response.content, public_key)
                assert datetime.fromisoformat(doc["expires_at"]) > datetime.now(UTC)
                seen.setdefault(response.headers["etag"], doc)
                by_beat = PublishedPricing.objects.filter(etag__in=list(seen), trigger="schedule")
                if by_beat.count() >= 2:
                    break
                time.sleep(0.5)
            else:
                pytest.fail(f"beat published {by_beat.count()} document(s) in 60 s:\n{log.read_text()[-3000:]}")
            assert worker.poll() is None
            rows = list(by_beat.order_by("id"))
            generated = [row.generated_at for row in rows]
            assert generated == sorted(generated) and generated[0] < generated[-1]
            for row in rows:
                assert row.expires_at - row.generated_at == timedelta(seconds=TTL)
                assert json.loads(row.body)["generated_at"] == seen[row.etag]["generated_at"]
    finally:  # the worker, its pool child and beat share one process group
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
    assert "apps.pricing.tasks.publish_pricing" in log.read_text()


def test_without_a_worker_the_endpoint_re_signs_on_demand(server, public_key):
    expired = store_publication(timedelta(hours=1))  # beat is down: the stored document ran out an hour ago
    response = httpx.get(f"{server.url}/v1/public/pricing", timeout=10)
    doc = verify(response.content, public_key)  # verify() refuses an expired document
    assert datetime.fromisoformat(doc["expires_at"]) - datetime.now(UTC) > timedelta(minutes=4)
    row = PublishedPricing.objects.get(etag=response.headers["etag"])
    assert row.pk > expired.pk and row.trigger == "on-demand"
    # ...and the next request serves the stored one without signing again.
    assert httpx.get(f"{server.url}/v1/public/pricing", timeout=10).headers["etag"] == row.etag
    assert PublishedPricing.objects.filter(pk__gt=row.pk).count() == 0
