"""A verifier written from SPEC §5 and the sidecar facts in NOTES.md alone, independent of
`apps.pricing`: what a self-hosted sidecar checks before it trusts a price list."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SKEW = timedelta(seconds=30)
ENGINE_VERSION = (0, 1, 0)
RATE_FIELDS = {
    "input_cents_per_1m", "output_cents_per_1m", "cached_input_cents_per_1m", "uncached_input_cents_per_1m",
    "reasoning_output_cents_per_1m", "cache_write_input_cents_per_1m", "cache_read_input_cents_per_1m",
    "grounding_cents_per_1k_queries", "web_search_cents_per_call", "file_search_cents_per_call",
    "context_cliff_threshold_tokens", "context_cliff_input_multiplier", "context_cliff_output_multiplier",
}


class Rejected(Exception):
    """The document is well signed but breaks one of the sidecar's rules."""


def canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _dotted(value: object) -> tuple[int, ...]:
    if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+)*", value):
        raise Rejected(f"engine version {value!r} is not a dotted number")
    return tuple(int(p) for p in value.split("."))


def _time(doc: dict, name: str) -> datetime:
    value = doc.get(name)
    if not isinstance(value, str):
        raise Rejected(f"{name} is missing")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise Rejected(f"{name} has no time zone")
    return moment


def verify(body: bytes, public_key_b64: str, *, now: datetime | None = None) -> dict:
    """Return the document if the sidecar would accept it; raise otherwise
    (InvalidSignature for a bad signature, Rejected for a broken rule, ValueError for bad JSON)."""
    doc = json.loads(body.decode("utf-8"))
    if not isinstance(doc, dict) or not isinstance(doc.get("signature"), str):
        raise Rejected("no signature")
    encoded = doc.pop("signature")
    signature = base64.b64decode(encoded, validate=True)
    if base64.b64encode(signature).decode() != encoded:  # one encoding per signature, no slack bits
        raise Rejected("signature is not canonical base64")
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64, validate=True))
    public.verify(signature, canonical(doc))  # raises InvalidSignature

    now = now or datetime.now(UTC)
    if doc.get("schema_version") != "1":
        raise Rejected(f"schema_version {doc.get('schema_version')!r}")
    engine = doc.get("engine") or {}
    if not _dotted(engine.get("min_version")) <= ENGINE_VERSION <= _dotted(engine.get("max_version")):
        raise Rejected("engine 0.1.0 is outside the document's range")
    generated, expires = _time(doc, "generated_at"), _time(doc, "expires_at")
    if generated > now:
        raise Rejected("generated in the future")
    if expires + SKEW < now:
        raise Rejected("expired")
    if not expires > generated:
        raise Rejected("expires_at is not after generated_at")
    rates = doc.get("rates")
    if not isinstance(rates, dict) or "grok" not in rates:
        raise Rejected("rates missing or without the grok key")
    valid_cards = 0
    for models in rates.values():
        for card in models.values():
            ints = all(isinstance(v, int) and not isinstance(v, bool) for v in card.values())
            if ints and set(card) <= RATE_FIELDS and {"input_cents_per_1m", "output_cents_per_1m"} <= set(card):
                valid_cards += 1
            else:
                raise Rejected(f"card {card!r} would be silently dropped by the sidecar")
    if not valid_cards:
        raise Rejected("no valid rates")
    return doc
