"""Requests a strict gate must refuse before reserving: each one, passed through, could cost more
than the reservation covers (or crash preflight)."""

from __future__ import annotations

import json

import pytest

from apps.core.errors import ApiError
from apps.gateway import adapters

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "gpt-4o-mini", "input": "hi"}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def plan(adapter, body):
    raw = json.dumps(body).encode()
    return adapter.plan(body, provider="openai", body_bytes=len(raw), model="gemini-1.5-flash")


@pytest.mark.parametrize(("adapter", "body", "detail"), [
    (adapters.CHAT, {**CHAT, "modalities": 5}, "modalities must be an array"),
    (adapters.CHAT, {**CHAT, "service_tier": "priority"}, "service_tier 'priority'"),
    (adapters.RESPONSES, {**RESPONSES, "service_tier": "auto"}, "service_tier 'auto'"),
    (adapters.RESPONSES, {**RESPONSES, "service_tier": ["x"]}, "service_tier must be a string"),
    (adapters.GEMINI_V1BETA, {**GEMINI, "generationConfig": {}, "generation_config": {"candidateCount": 8}},
     "Use either generationConfig or generation_config, not both"),
    (adapters.GEMINI_V1BETA, {**GEMINI, "systemInstruction": {"parts": [{"text": "a"}]},
                              "system_instruction": {"parts": [{"fileData": {}}]}},
     "Use either systemInstruction or system_instruction, not both"),
    (adapters.GEMINI_V1BETA, {**GEMINI, "tools": [{"googleSearch": {}}]}, "Google Search grounding"),
    (adapters.GEMINI_V1BETA, {"contents": [{"role": "user", "parts": [
        {"functionResponse": {"name": "f", "response": {}, "parts": [{"fileData": {"fileUri": "gs://x"}}]}}]}]},
     "File input"),
])
def test_refused_before_reserving(adapter, body, detail):
    with pytest.raises(ApiError) as exc:
        plan(adapter, body)
    assert exc.value.status == 400
    assert detail in exc.value.detail


@pytest.mark.parametrize("tier", [None, "default", "flex"])
def test_standard_service_tiers_pass_through(tier):
    body = {**CHAT, **({"service_tier": tier} if tier else {})}
    assert plan(adapters.CHAT, body).body.get("service_tier") == tier


def test_unpaired_surrogate_escape_is_400_but_pairs_are_fine():
    from apps.gateway.validation import parse_body

    with pytest.raises(ApiError, match="unpaired UTF-16 surrogate"):
        parse_body(b'{"messages": [{"content": "\\ud800"}]}')
    assert parse_body(b'{"content": "\\ud83d\\ude00"}') == {"content": "\U0001f600"}
