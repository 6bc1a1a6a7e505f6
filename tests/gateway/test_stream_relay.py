"""Unit tests (no server, no database): the SSE parser on every way a network can split a stream,
the adapters' readers, and the relay's exactly-once ending when Django abandons the iterator."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.gateway import adapters
from apps.gateway.adapters.base import Plan
from apps.gateway.sse import SSEParser
from apps.gateway.streaming import StreamFacts, StreamRelay
from apps.gateway.upstream import Exchange

STREAM = (b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\n: keepalive\n\ndata: {\"x\": 1}\n\n\n\rdata: cr\r\r"
          b"id: 7\nretry: 10\ndata:nospace\n\ndata: tail")
EXPECTED = [("a", "1\n2", 0), ("", "", 1), ("", '{"x": 1}', 0), ("", "cr", 0), ("", "nospace", 0), ("", "tail", 0)]


def parse(pieces: list[bytes]) -> list:
    parser = SSEParser()
    events = [e for piece in pieces for e in parser.feed(piece)]
    return events + parser.close()


@given(st.lists(st.integers(min_value=1, max_value=len(STREAM)), max_size=20))
@settings(max_examples=300, deadline=None)
def test_sse_parser_any_split(cuts):
    points = sorted(set(cuts))
    pieces = [STREAM[a:b] for a, b in zip([0, *points], [*points, len(STREAM)], strict=True)]
    events = parse(pieces)
    assert [(e.event, e.data, e.comments) for e in events] == EXPECTED
    assert b"".join(e.raw for e in events) == STREAM  # bytes are forwarded exactly as received


def test_sse_parser_byte_by_byte_and_crlf_split():
    events = parse([bytes([b]) for b in b"data: one\r\n\r\ndata: two\r\n\r\n"])
    assert [e.data for e in events] == ["one", "two"]
    assert parse([b"data: x\r", b"\n\r", b"\n"])[0].raw == b"data: x\r\n\r\n"


def plan_for(adapter, body: dict, *, provider: str = "openai", model: str | None = None) -> Plan:
    plan = adapter.plan(body, provider=provider, body_bytes=len(json.dumps(body)), model=model)
    adapter.write_output_limit(plan, plan.bound.output_tokens)
    adapter.prepare_stream(plan)
    return plan


def test_chat_reader_forces_usage_and_hides_it_unless_asked():
    plan = plan_for(adapters.CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
                                    "stream": True, "stream_options": {"foo": 1}})
    assert plan.body["stream_options"] == {"foo": 1, "include_usage": True}
    reader = adapters.CHAT.stream_reader(plan)
    usage = {"prompt_tokens": 3, "completion_tokens": 2}
    seen = reader.read(parse([b'data: {"choices": [], "usage": %s}\n\n' % json.dumps(usage).encode()])[0])
    assert seen.hide and seen.usage_final and seen.reported_output == 2
    asked = plan_for(adapters.CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
                                     "stream": True, "stream_options": {"include_usage": True}})
    assert not adapters.CHAT.stream_reader(asked).read(
        parse([b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1}}\n\n'])[0]).hide
    assert reader.read(parse([b"data: [DONE]\n\n"])[0]).terminal


def test_anthropic_reader_merges_usage_halves():
    plan = plan_for(adapters.MESSAGES, {"model": "claude-3-5-haiku-latest", "max_tokens": 50, "stream": True,
                                        "messages": [{"role": "user", "content": "x"}]}, provider="anthropic")
    reader = adapters.MESSAGES.stream_reader(plan)
    start = {"type": "message_start", "message": {"id": "msg_1", "usage": {
        "input_tokens": 10, "cache_creation_input_tokens": 4, "cache_read_input_tokens": 6, "output_tokens": 1}}}
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 42}}
    reader.read(parse([f"event: message_start\ndata: {json.dumps(start)}\n\n".encode()])[0])
    seen = reader.read(parse([f"event: message_delta\ndata: {json.dumps(delta)}\n\n".encode()])[0])
    assert seen.usage_final and seen.reported_output == 42
    usage = adapters.MESSAGES.extract_usage(seen.usage)
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_input_tokens) == (20, 42, 6)


class FakeUpstreamBody(httpx.AsyncByteStream):
    def __init__(self, events: int) -> None:
        self.events, self.closed = events, False

    async def __aiter__(self):
        for i in range(self.events):
            yield f'data: {{"choices": [{{"index": 0, "delta": {{"content": "t{i}"}}}}]}}\n\n'.encode()
            await asyncio.sleep(0)

    async def aclose(self) -> None:
        self.closed = True


async def open_relay(events: int = 100, covered: int = 1000):
    body = FakeUpstreamBody(events)
    client = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=body)))
    response = await client.send(client.build_request("POST", "http://fake/"), stream=True)
    plan = plan_for(adapters.CHAT, {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}],
                                    "stream": True})
    calls: list[tuple[str, StreamFacts]] = []

    def settle(termination: str, payload, facts: StreamFacts) -> str:
        calls.append((termination, facts))
        return termination

    relay = StreamRelay(response, adapters.CHAT, adapters.CHAT.stream_reader(plan), ex=Exchange(status=200),
                        covered_output=covered, deadline=asyncio.get_running_loop().time() + 30,
                        started=0.0, store=False, settle=settle)
    return relay, body, calls


def test_abandoned_iterator_settles_once_on_response_close():
    """What Django does when the client leaves while we are inside `send`: closes its own wrapper
    (not our generator) and later calls response.close() from a worker thread."""

    async def scenario():
        relay, body, calls = await open_relay()
        response = StreamingHttpResponse(relay, content_type="text/event-stream")
        wrapper = aiter(response)
        assert b"t0" in await anext(wrapper)
        await wrapper.aclose()
        assert calls == []  # our generator was not told anything
        await sync_to_async(response.close)()
        await asyncio.sleep(0.05)  # the upstream close was scheduled on the loop
        assert [c[0] for c in calls] == ["client_disconnected"] and body.closed
        await sync_to_async(response.close)()  # idempotent
        assert len(calls) == 1

    asyncio.run(scenario())


def test_never_iterated_stream_settles_on_close():
    async def scenario():
        relay, body, calls = await open_relay()
        response = StreamingHttpResponse(relay, content_type="text/event-stream")
        await sync_to_async(response.close)()
        await asyncio.sleep(0.05)
        assert [c[0] for c in calls] == ["client_disconnected"] and body.closed

    asyncio.run(scenario())


@pytest.mark.parametrize("how", ["aclose", "cancel"])
def test_generator_closed_or_cancelled_settles_once(how):
    async def scenario():
        relay, body, calls = await open_relay()
        gen = aiter(relay)
        await anext(gen)
        if how == "aclose":
            await gen.aclose()
        else:
            task = asyncio.ensure_future(anext(gen))
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        relay.close()
        await asyncio.sleep(0.05)
        assert [c[0] for c in calls] == ["client_disconnected"] and body.closed

    asyncio.run(scenario())


def test_cap_stops_and_settles_before_the_client_sees_the_end():
    async def scenario():
        relay, body, calls = await open_relay(events=100, covered=7)
        out = [piece async for piece in relay]
        assert b"".join(out).count(b"delta") == 7 and calls[0][0] == "output_capped" and body.closed

    asyncio.run(scenario())


def test_relay_forwards_bytes_exactly():
    async def scenario():
        relay, _, calls = await open_relay(events=30)
        out = b"".join([piece async for piece in relay])
        expected = b"".join(f'data: {{"choices": [{{"index": 0, "delta": {{"content": "t{i}"}}}}]}}\n\n'.encode()
                            for i in range(30))
        assert out == expected and calls[0][0] == "usage_missing"

    asyncio.run(scenario())
