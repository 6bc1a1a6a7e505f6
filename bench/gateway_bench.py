"""Benchmark: latency added by SpendGuard to one non-streaming call, and to a streamed one (not a test).

Starts a fake upstream and `manage.py serve` on PostgreSQL (a dedicated database, created and
migrated here), then sends the same chat completion N times directly to the fake and through
SpendGuard, at concurrency 1 and 16, and prints p50/p95 latency, requests/s and their ratio.
Then the same for `stream: true` with the fake streaming BENCH_STREAM_CHUNKS deltas with
BENCH_STREAM_PAUSE seconds before each: time to first byte and total time, direct vs SpendGuard.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/spendguard_bench python bench/gateway_bench.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
LOG_DIR = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))  # noqa: S108
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.setdefault("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/spendguard_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "spendguard.settings")
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = {1: int(os.environ.get("BENCH_N1", "400")), 16: int(os.environ.get("BENCH_N16", "2000"))}
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 32}
STREAM_ROUNDS = {1: int(os.environ.get("BENCH_STREAM_N1", "50")), 16: int(os.environ.get("BENCH_STREAM_N16", "320"))}
STREAM_HEADERS = {"x-fake-chunks": os.environ.get("BENCH_STREAM_CHUNKS", "20"),
                  "x-fake-pause": os.environ.get("BENCH_STREAM_PAUSE", "0.01")}


def ensure_database() -> None:
    import psycopg

    url = urlparse(DATABASE_URL)
    name = url.path.lstrip("/")
    admin = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, check=True)


def setup_tenant() -> tuple[str, str]:
    import django

    django.setup()
    from apps.accounts.services import get_or_create_organization, issue_api_key
    from apps.budgets import services

    org = get_or_create_organization(f"bench-{int(time.time())}")
    key = issue_api_key(org, scopes=["cap:use"]).plaintext
    agent = services.create_agent(org, name="bench")
    services.set_budget(agent, hard_limit_cents=10**12, actor="bench")
    services.update_agent(agent, max_concurrent_runs=10_000)
    return key, str(agent.id)


def start(cmd: list[str], env: dict[str, str], url: str, log: Path) -> subprocess.Popen:
    import httpx

    out = log.open("ab")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{cmd} did not start")


async def load(url: str, headers: dict[str, str], n: int, concurrency: int) -> tuple[list[float], float]:
    import httpx

    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        for _ in range(30):  # warm up connections, caches, JIT-less Python paths
            (await client.post(url, json=BODY, headers=headers)).raise_for_status()
        queue = iter(range(n))

        async def worker() -> None:
            for _ in queue:
                t0 = time.perf_counter()
                r = await client.post(url, json=BODY, headers=headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, n / elapsed


async def stream_load(url: str, headers: dict[str, str], n: int, concurrency: int) -> tuple[list[float], list[float]]:
    """(time to first body byte ms, total ms) per streamed request."""
    import httpx

    ttfb: list[float] = []
    total: list[float] = []
    body = {**BODY, "stream": True}
    headers = {**headers, **STREAM_HEADERS}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(record: bool) -> None:
            t0 = time.perf_counter()
            async with client.stream("POST", url, json=body, headers=headers) as r:
                r.raise_for_status()
                first = None
                async for _ in r.aiter_raw():
                    first = first or time.perf_counter()
            if record:
                ttfb.append((first - t0) * 1000)
                total.append((time.perf_counter() - t0) * 1000)

        for _ in range(5):
            await one(False)
        queue = iter(range(n))

        async def worker() -> None:
            for _ in queue:
                await one(True)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ttfb, total


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main() -> None:
    from tests.support.server import free_port

    ensure_database()
    key, agent_id = setup_tenant()
    fake_port, gw_port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    env = {**os.environ, "OPENAI_BASE_URL": f"{fake_url}/v1", "OPENAI_API_KEY": "sk-bench", "LOG_LEVEL": "WARNING"}
    fake = start([sys.executable, "-m", "tests.support.fake_upstream", "--port", str(fake_port)], env,
                 f"{fake_url}/_fake/health", LOG_DIR / "bench-fake.log")
    gw = start([sys.executable, "manage.py", "serve", "--bind", f"127.0.0.1:{gw_port}", "--workers", str(WORKERS)],
               env, f"http://127.0.0.1:{gw_port}/health", LOG_DIR / "bench-gateway.log")
    try:
        rows = []
        for concurrency, n in ROUNDS.items():
            direct, direct_rps = asyncio.run(load(f"{fake_url}/v1/chat/completions",
                                                  {"authorization": "Bearer sk-bench"}, n, concurrency))
            proxied, proxied_rps = asyncio.run(load(f"http://127.0.0.1:{gw_port}/v1/chat/completions",
                                                    {"x-api-key": key, "x-cynsta-agent-id": agent_id}, n, concurrency))
            rows.append((concurrency, n, direct, direct_rps, proxied, proxied_rps))
        print(f"\nSpendGuard gateway benchmark — {os.cpu_count()} CPUs, {WORKERS} web workers, "
              f"database {urlparse(DATABASE_URL).path.lstrip('/')} ({urlparse(DATABASE_URL).scheme})\n")
        print("| concurrency | requests | direct p50 ms | direct p95 ms | direct req/s | SpendGuard p50 ms "
              "| SpendGuard p95 ms | SpendGuard req/s | added p50 ms | req/s ratio |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for c, n, d, drps, p, prps in rows:
            print(f"| {c} | {n} | {pct(d, 50):.2f} | {pct(d, 95):.2f} | {drps:.0f} | {pct(p, 50):.2f} | "
                  f"{pct(p, 95):.2f} | {prps:.0f} | {pct(p, 50) - pct(d, 50):.2f} | {prps / drps:.2f} |")

        print(f"\nStreaming: {STREAM_HEADERS['x-fake-chunks']} deltas, {STREAM_HEADERS['x-fake-pause']} s pause "
              "before each (p50 / p95, ms)\n")
        print("| concurrency | requests | direct TTFB | SpendGuard TTFB | added TTFB p50 | direct total "
              "| SpendGuard total | added total p50 |")
        print("|---|---|---|---|---|---|---|---|")
        for concurrency, n in STREAM_ROUNDS.items():
            d_ttfb, d_total = asyncio.run(stream_load(f"{fake_url}/v1/chat/completions",
                                                      {"authorization": "Bearer sk-bench"}, n, concurrency))
            p_ttfb, p_total = asyncio.run(stream_load(f"http://127.0.0.1:{gw_port}/v1/chat/completions",
                                                      {"x-api-key": key, "x-cynsta-agent-id": agent_id}, n,
                                                      concurrency))
            print(f"| {concurrency} | {n} | {pct(d_ttfb, 50):.1f} / {pct(d_ttfb, 95):.1f} | "
                  f"{pct(p_ttfb, 50):.1f} / {pct(p_ttfb, 95):.1f} | {pct(p_ttfb, 50) - pct(d_ttfb, 50):.1f} | "
                  f"{pct(d_total, 50):.1f} / {pct(d_total, 95):.1f} | {pct(p_total, 50):.1f} / {pct(p_total, 95):.1f} "
                  f"| {pct(p_total, 50) - pct(d_total, 50):.1f} |")
    finally:
        for proc in (gw, fake):
            os.killpg(proc.pid, 15)
            proc.wait(15)


if __name__ == "__main__":
    main()
