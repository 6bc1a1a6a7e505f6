"""Every way a stream ends settles exactly once, against the real server and the fake provider:
cut at the reservation, client gone, upstream dropped, error event, error status, unreachable."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from apps.budgets.models import BudgetEvent, Reservation
from apps.gateway.models import UsageRecord
from tests.gateway.conftest import held, make_agent, sum_events

pytestmark = pytest.mark.usefixtures("committed_db")

MSG = [{"role": "user", "content": "hello there"}]
# path, body (with an output limit of 20 per choice), how a delta event looks in the bytes
FORMATS = {
    "chat": ("/v1/chat/completions", {"model": "gpt-4o", "messages": MSG, "max_tokens": 20, "stream": True}),
    "responses": ("/v1/responses", {"model": "gpt-4o", "input": "hello", "max_output_tokens": 20, "stream": True}),
    "anthropic": ("/v1/messages", {"model": "claude-3-5-haiku-latest", "max_tokens": 20, "messages": MSG,
                                   "stream": True}),
    "gemini": ("/v1beta/models/gemini-1.5-flash:streamGenerateContent?alt=sse",
               {"contents": [{"parts": [{"text": "hello"}]}], "generationConfig": {"maxOutputTokens": 20}}),
}
DELTA_MARK = {"chat": b'"content": "', "responses": b'"type": "response.output_text.delta"',
              "anthropic": b'"type": "content_block_delta"', "gemini": b'"text": "'}


def count_deltas(kind: str, raw: bytes) -> int:
    n = raw.count(DELTA_MARK[kind])
    if kind == "chat":
        n -= raw.count(b'"content": ""')
    if kind == "gemini":
        n -= raw.count(b'"text": ""')
    return n


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def settled_once(ctx, *, streamed: bool = True) -> UsageRecord:
    """Exactly one usage record and one budget event for the call; the ledger invariants hold."""
    record = wait_for(lambda: UsageRecord.objects.filter(agent_id=ctx.agent_id).first())
    assert UsageRecord.objects.filter(agent_id=ctx.agent_id).count() == 1
    reservation = Reservation.objects.get(agent_id=ctx.agent_id)
    assert reservation.status == "settled" and held(ctx.agent_id) == 0
    calls = BudgetEvent.objects.filter(agent_id=ctx.agent_id, reservation__isnull=False)
    assert calls.count() == 1 and calls.get().delta_cents == -record.charged_cents
    assert record.charged_cents <= record.wcec_cents == reservation.amount_cents
    assert ctx.budget()["remaining_cents"] == sum_events(ctx.agent_id)
    assert record.streamed is streamed
    return record


def stream(client, ctx, kind: str, **knobs: str) -> tuple[httpx.Response, bytes]:
    path, body = FORMATS[kind]
    with client.stream("POST", path, json=body, headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id},
                                                                     **knobs)) as r:
        return r, r.read()


@pytest.mark.parametrize("kind", list(FORMATS))
def test_provider_ignoring_max_tokens_is_cut_at_the_reservation(gw, fake, client, kind):
    ctx = make_agent()
    r, raw = stream(client, ctx, kind, **{"x-fake-ignore-limit": "1", "x-fake-pause": "0.002"})
    assert r.status_code == 200
    # The client got at most what the reservation covers (20 tokens), then a clean end of stream.
    assert 0 < count_deltas(kind, raw) <= 20
    record = settled_once(ctx)
    assert record.termination == "output_capped"
    assert record.charged_cents == record.wcec_cents  # what the budget can justify: the reservation, no more
    assert "reservation covers" in record.note
    # We hung up on the provider: the fake saw the disconnect and stopped.
    upstream = fake.requests_for(ctx.test_id)[0]
    wait_for(lambda: upstream.stream["outcome"] != "streaming")
    assert upstream.stream["outcome"] == "client_closed"
    assert upstream.body is not None


@pytest.mark.parametrize("kind", list(FORMATS))
def test_client_disconnect_mid_stream(gw, fake, client, kind):
    ctx = make_agent()
    path, body = FORMATS[kind]
    with client.stream("POST", path, json=body, headers=ctx.headers(**{
            "x-cynsta-agent-id": ctx.agent_id, "x-fake-chunks": "15", "x-fake-pause": "0.2"})) as r:
        assert r.status_code == 200
        got = b""
        for piece in r.iter_raw():
            got += piece
            if count_deltas(kind, got) >= 2:
                break  # leaving the block closes the connection mid-stream
    record = settled_once(ctx)
    assert record.termination == "client_disconnected"
    assert record.charged_cents == record.wcec_cents  # usage was not yet known: the reservation
    upstream = fake.requests_for(ctx.test_id)[0]
    wait_for(lambda: upstream.stream["outcome"] != "streaming", timeout=5)
    assert upstream.stream["outcome"] == "client_closed"
    assert upstream.stream["sent"] < 10  # closed upstream at once, not after the 15 deltas


def test_client_gone_before_the_stream_starts(gw, fake):
    ctx = make_agent()
    path, body = FORMATS["chat"]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gw.url}{path}", json=body, timeout=httpx.Timeout(30, read=0.5),
                   headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id, "x-fake-delay": "2"}))
    record = settled_once(ctx)
    assert record.termination == "client_disconnected" and record.charged_cents == record.wcec_cents


@pytest.mark.parametrize("kind", list(FORMATS))
def test_upstream_drops_mid_stream(gw, client, kind):
    ctx = make_agent()
    r, raw = stream(client, ctx, kind, **{"x-fake-drop": "mid", "x-fake-chunks": "10"})
    assert r.status_code == 200 and count_deltas(kind, raw) == 5  # what came before the drop, then the end
    record = settled_once(ctx)
    assert record.termination == "connection_error"
    assert record.charged_cents == record.wcec_cents and "broke" in record.note


@pytest.mark.parametrize("kind", list(FORMATS))
def test_error_event_mid_stream(gw, client, kind):
    ctx = make_agent()
    r, raw = stream(client, ctx, kind, **{"x-fake-error-after": "2"})
    assert r.status_code == 200
    assert b"error" in raw.split(DELTA_MARK[kind])[-1]  # the client sees the provider's error event
    record = settled_once(ctx)
    assert record.termination == "stream_error"
    assert record.charged_cents == record.wcec_cents  # usage unknown: the reservation (SPEC §4)
    assert "error event" in record.note


@pytest.mark.parametrize("kind", list(FORMATS))
def test_error_status_before_the_stream_passes_through_and_charges_nothing(gw, client, kind):
    ctx = make_agent()
    r, raw = stream(client, ctx, kind, **{"x-fake-status": "429", "x-fake-retry-after": "3"})
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert "error" in json.loads(raw)
    assert r.headers["x-cynsta-charged-cents"] == "0"
    record = settled_once(ctx)
    assert (record.termination, record.upstream_status, record.charged_cents) == ("provider_error", 429, 0)


def test_stream_ending_without_usage_charges_the_reservation(gw, client):
    ctx = make_agent()
    r, raw = stream(client, ctx, "chat", **{"x-fake-no-usage": "1"})
    assert r.status_code == 200 and raw.rstrip().endswith(b"data: [DONE]")
    record = settled_once(ctx)
    assert record.termination == "usage_missing" and record.charged_cents == record.wcec_cents


def test_unreachable_provider_charges_nothing(fake, tmp_path):
    from tests.gateway.conftest import gateway_env
    from tests.support.server import ServerProcess, free_port

    ctx = make_agent()
    env = gateway_env(fake, OPENAI_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    with ServerProcess(env=env, log_path=tmp_path / "s.log") as srv:
        path, body = FORMATS["chat"]
        r = httpx.post(f"{srv.url}{path}", json=body, headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}),
                       timeout=30)
    assert r.status_code == 502
    record = settled_once(ctx)
    assert record.termination == "not_sent" and record.charged_cents == 0


def test_no_stream_flag_still_answers_json(gw, client):
    ctx = make_agent()
    path, body = FORMATS["chat"]
    r = client.post(path, json={**body, "stream": False}, headers=ctx.headers(**{"x-cynsta-agent-id": ctx.agent_id}))
    assert r.status_code == 200 and r.json()["object"] == "chat.completion"
    settled_once(ctx, streamed=False)


def test_run_id_header_and_run_route(gw, client):
    ctx = make_agent()
    run_id = str(uuid.uuid4())
    path, body = FORMATS["chat"]
    with client.stream("POST", f"/v1/agents/{ctx.agent_id}/runs/{run_id}/openai/chat/completions", json=body,
                       headers=ctx.headers()) as r:
        r.read()
    assert r.headers["x-cynsta-run-id"] == run_id and "x-cynsta-reservation-id" in r.headers
    assert str(settled_once(ctx).run_id) == run_id


def test_client_stalls_then_leaves_while_we_are_sending(gw, fake):
    """The client stops reading while the provider floods: our send blocks on a full socket,
    Django abandons the iterator there (not inside it) and only calls response.close() — which
    must still close the upstream and settle."""
    import socket

    ctx = make_agent()
    path, body = FORMATS["chat"]
    payload = json.dumps({**body, "max_tokens": 200_000}).encode()
    host, port = gw.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    head = (f"POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\nx-api-key: {ctx.tenant.key}\r\nx-test-id: {ctx.test_id}\r\n"
            f"x-cynsta-agent-id: {ctx.agent_id}\r\nx-fake-chunks: 150000\r\n\r\n")
    sock.sendall(head.encode() + payload)
    assert b"200 OK" in sock.recv(1024)
    upstream = wait_for(lambda: (fake.requests_for(ctx.test_id) or [None])[0])
    time.sleep(1.5)  # not reading: buffers fill up on both hops
    assert not UsageRecord.objects.filter(agent_id=ctx.agent_id).exists()
    sock.close()
    record = settled_once(ctx)
    assert record.termination == "client_disconnected" and record.charged_cents == record.wcec_cents
    wait_for(lambda: upstream.stream["outcome"] != "streaming")
    assert upstream.stream["outcome"] == "client_closed" and upstream.stream["sent"] < 150_000
