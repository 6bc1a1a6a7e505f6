"""The preflight bound is an upper bound: on a varied corpus, the input bound is never below what
OpenAI's own tokenizers (o200k_base, cl100k_base via bpe-openai) count for the rendered request,
and the WCEC is never below the cost of those tokens plus the full output allowance.

For Anthropic and Gemini (no public tokenizer) the same byte argument applies — see
apps/gateway/bounds.py: byte-level BPE / byte-fallback SentencePiece never yield more tokens
than UTF-8 bytes, and the body's bytes cover every text in it.
"""

from __future__ import annotations

import json

import bpe_openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.gateway import adapters, billing
from apps.pricing.rates import RateCard

ENCODINGS = [bpe_openai.get_encoding("o200k_base"), bpe_openai.get_encoding("cl100k_base")]
CARD = RateCard(input_cents_per_1m=250, output_cents_per_1m=1000, cached_input_cents_per_1m=125)

CORPUS = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog. " * 200,
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(20)])\n" * 20,
    "日本語の文章はトークン化が難しい。中文文本也是如此。한국어도 마찬가지입니다。" * 50,
    "🚀🔥👩‍👩‍👧‍👦🇺🇳🧑🏽‍💻" * 100,
    "   \t\n\n    " * 300,
    "0123456789" * 500,
    "ZWJ\u200d\u200d\u200d combining e\u0301\u0301\u0301 RTL \u202e\u202d" * 50,
    "".join(chr(c) for c in range(0x20, 0x3000, 7)),
    "a" * 100_000,
]
TOOLS = [{"type": "function", "function": {
    "name": "search_docs", "description": "Search the documentation. Returns the best passages. 🔎",
    "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "what to find"},
                                                    "k": {"type": "integer", "minimum": 1}}, "required": ["query"]}}}]


def tokens(enc, text: str) -> int:
    return len(enc.encode(text))


def rendered_tokens(enc, body: dict) -> int:
    """OpenAI's accounting: each message is `<|im_start|>role\\n content <|im_end|>` (≈4 tokens of
    template), plus names, tool calls, tool definitions, and 3 tokens priming the reply."""
    total = 3
    for m in body["messages"]:
        total += 4 + tokens(enc, m["role"])
        content = m.get("content")
        if isinstance(content, str):
            total += tokens(enc, content)
        elif isinstance(content, list):
            total += sum(tokens(enc, p.get("text", "")) for p in content)
        if m.get("name"):
            total += 1 + tokens(enc, m["name"])
        for call in m.get("tool_calls") or []:
            total += 8 + tokens(enc, call["function"]["name"]) + tokens(enc, call["function"]["arguments"])
    for tool in body.get("tools") or []:
        total += 16 + tokens(enc, json.dumps(tool["function"], ensure_ascii=False))
    return total


def check(body: dict) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()  # the smallest encoding a client may send
    plan = adapters.CHAT.plan(json.loads(raw), provider="openai", body_bytes=len(raw))
    n = body.get("n", 1)
    out = plan.bound.output_tokens
    wcec = billing.wcec_microcents(CARD, plan.bound, out)
    for enc in ENCODINGS:
        counted = rendered_tokens(enc, body)
        assert plan.bound.input_tokens >= counted
        worst_input_rate = max(CARD.input_cents_per_1m, CARD.cached_input_cents_per_1m)
        assert wcec >= counted * worst_input_rate + out * n * CARD.output_cents_per_1m


@pytest.mark.parametrize("text", CORPUS, ids=range(len(CORPUS)))
@pytest.mark.parametrize("shape", ["plain", "parts", "tools", "choices", "conversation"])
def test_corpus(text, shape):
    body: dict = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    if shape == "parts":
        body["messages"] = [{"role": "system", "content": [{"type": "text", "text": text[:500]}]},
                            {"role": "user", "content": [{"type": "text", "text": text},
                                                         {"type": "text", "text": "?"}]}]
    elif shape == "tools":
        body["tools"] = TOOLS
        body["messages"].append({"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search_docs",
                                                              "arguments": json.dumps({"query": text[:300]})}}]})
        body["messages"].append({"role": "tool", "tool_call_id": "call_1", "content": text[:1000]})
    elif shape == "choices":
        body.update(n=5, max_tokens=300)
    elif shape == "conversation":
        body["messages"] = [{"role": r, "content": text[i * 50:(i + 1) * 50] or "x",
                             "name": "bob" if r == "user" else None}
                            for i, r in enumerate(["system", "user", "assistant"] * 20)]
        for m in body["messages"]:
            if m["name"] is None:
                del m["name"]
    check(body)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(min_size=0, max_size=2000), min_size=1, max_size=8), n=st.integers(1, 4))
def test_random_unicode(texts, n):
    check({"model": "gpt-4o", "n": n,
           "messages": [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)]})


@pytest.mark.parametrize("adapter,body,model", [
    (adapters.MESSAGES, {"model": "claude-3-5-haiku-latest", "max_tokens": 10, "system": "s" * 100,
                         "messages": [{"role": "user", "content": "日本語" * 100}]}, None),
    (adapters.GEMINI_V1BETA, {"contents": [{"parts": [{"text": "🚀" * 100}]}],
                              "systemInstruction": {"parts": [{"text": "be kind"}]}}, "gemini-1.5-flash"),
    (adapters.RESPONSES, {"model": "gpt-4o", "input": "x" * 300, "instructions": "y" * 200}, None),
])
def test_other_providers_bound_at_least_the_text_bytes(adapter, body, model):
    """No public tokenizer: the bound must cover at least every UTF-8 byte of text (the argument)."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    plan = adapter.plan(json.loads(raw), provider="x", body_bytes=len(raw), model=model)

    def strings(v):
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            for x in v.values():
                yield from strings(x)
        elif isinstance(v, list):
            for x in v:
                yield from strings(x)

    assert plan.bound.input_tokens >= sum(len(s.encode()) for s in strings(body))


def test_tokens_never_exceed_utf8_bytes():
    """The premise of the argument, checked on the corpus for both encodings."""
    for enc in ENCODINGS:
        for text in CORPUS:
            assert tokens(enc, text) <= len(text.encode())
