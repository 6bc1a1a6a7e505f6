"""The signed price list as a real server serves it, checked by a verifier written from SPEC §5."""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from tests.pricing.conftest import activate_rates, with_test_card
from tests.pricing.sidecar_verifier import Rejected, canonical, verify

pytestmark = pytest.mark.usefixtures("committed_db")


def fetch(server, **headers) -> httpx.Response:
    return httpx.get(f"{server.url}/v1/public/pricing", headers=headers, timeout=10)


def test_served_document_verifies_with_the_public_key(server, public_key):
    response = fetch(server)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    doc = verify(response.content, public_key)

    assert doc["schema_version"] == "1"
    assert doc["engine"] == {"name": "spendguard-engine", "min_version": "0.1.0", "max_version": "9.9.9"}
    assert set(doc["rates"]) == {"openai", "grok", "anthropic", "gemini"}
    assert doc["rates"]["openai"]["gpt-4o-mini"] == {"input_cents_per_1m": 30, "output_cents_per_1m": 120}
    assert isinstance(doc["pricing_version"], int)
    key = httpx.get(f"{server.url}/v1/public/pricing/public-key", timeout=10).json()
    assert key == {"public_key": public_key, "key_id": doc["key_id"], "algorithm": "ed25519"}
    assert len(base64.b64decode(public_key)) == 32
    # The served bytes are themselves canonical, so every process produces identical bytes.
    assert response.content == canonical(json.loads(response.content))
    for name in ("generated_at", "expires_at"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc[name])


def test_signature_covers_the_document_without_the_signature(server, public_key):
    doc = json.loads(fetch(server).content)
    signature = base64.b64decode(doc["signature"])
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
    with pytest.raises(InvalidSignature):
        key.verify(signature, canonical(doc))  # signature included: not what was signed
    unsigned = {k: v for k, v in doc.items() if k != "signature"}
    key.verify(signature, canonical(unsigned))
    # Pretty-printed or ASCII-escaped bytes are a different message: the canonical form matters.
    with pytest.raises(InvalidSignature):
        key.verify(signature, json.dumps(unsigned, sort_keys=True).encode())


@pytest.mark.parametrize(("pattern", "replace"), [
    (rb'"gpt-4o-mini":\{"input_cents_per_1m":30', b'"gpt-4o-mini":{"input_cents_per_1m":29'),
    (rb'"expires_at":"(\d{4})', lambda m: b'"expires_at":"' + str(int(m.group(1)) + 1).encode()),
    (rb'"pricing_version":(\d+)', lambda m: b'"pricing_version":' + str(int(m.group(1)) + 1).encode()),
    (rb'"schema_version":"1"', b'"schema_version":"2"'),
    (rb'"key_id":"', b'"key_id":"0'),
])
def test_a_changed_value_fails_verification(server, public_key, pattern, replace):
    body = fetch(server).content
    tampered, count = re.subn(pattern, replace, body, count=1)
    assert count == 1 and tampered != body
    json.loads(tampered)  # still valid JSON: only the signature can catch it
    with pytest.raises(InvalidSignature):
        verify(tampered, public_key)


def test_changing_any_single_byte_is_rejected(server, public_key):
    body = fetch(server).content
    verify(body, public_key)
    accepted = []
    for i in range(len(body)):
        flipped = bytearray(body)
        flipped[i] = ord("0") + (flipped[i] - ord("0") + 1) % 10 if chr(body[i]).isdigit() else flipped[i] ^ 0x01
        try:
            verify(bytes(flipped), public_key)
        except (InvalidSignature, Rejected, ValueError, KeyError, TypeError, AttributeError):
            continue
        accepted.append(i)
    assert accepted == [], f"{len(accepted)} of {len(body)} one-byte changes still verified"


def test_sidecar_rules_hold(server, public_key):
    doc = verify(fetch(server).content, public_key)
    generated = datetime.fromisoformat(doc["generated_at"])
    expires = datetime.fromisoformat(doc["expires_at"])
    assert generated <= datetime.now(UTC) < expires
    assert (expires - generated).total_seconds() == settings.CAP_PRICING_TTL_SECONDS
    for provider, models in doc["rates"].items():
        for model, card in models.items():
            assert card, (provider, model)
            assert all(type(v) is int and v >= 0 for v in card.values()), (provider, model, card)


def test_every_worker_serves_the_same_bytes_and_etag(server):
    fetch(server)  # make sure a fresh document is stored
    responses = [fetch(server) for _ in range(20)]  # a new connection each: both workers answer
    assert len({r.content for r in responses}) == 1
    assert len({r.headers["etag"] for r in responses}) == 1


def test_conditional_get(server):
    full = fetch(server)
    etag = full.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    max_age = int(re.fullmatch(r"public, max-age=(\d+)", full.headers["cache-control"]).group(1))
    seconds_left = (datetime.fromisoformat(json.loads(full.content)["expires_at"]) - datetime.now(UTC)).total_seconds()
    assert 0 < max_age <= min(60, seconds_left + 1)

    for header in (etag, f"W/{etag}", f'"other", {etag}', f'W/"x",W/{etag} , "y"', "*"):
        not_modified = fetch(server, **{"If-None-Match": header})
        assert not_modified.status_code == 304, header
        assert not_modified.content == b""
        assert not_modified.headers["etag"] == etag
        assert "max-age=" in not_modified.headers["cache-control"]

    for header in ('"nope"', etag[:-2] + '"', 'W/"nope", "other"'):
        again = fetch(server, **{"If-None-Match": header})
        assert again.status_code == 200, header
        assert again.content == full.content
    # No If-None-Match (a sidecar starting up): always the full document, never a 304.
    assert fetch(server).content == full.content


def test_activation_changes_document_and_etag_at_once(server, public_key, restore_prices, test_model):
    before = fetch(server)
    old_etag = before.headers["etag"]
    started = time.perf_counter()
    version = activate_rates(with_test_card(restore_prices, test_model,
                                            {"input_cents_per_1m": 7, "output_cents_per_1m": 9}))
    after = fetch(server, **{"If-None-Match": old_etag})
    latency = time.perf_counter() - started
    print(f"activation → served by the web server in {latency * 1000:.1f} ms")

    assert after.status_code == 200
    assert after.headers["etag"] != old_etag
    doc = verify(after.content, public_key)
    assert doc["pricing_version"] == version.number
    assert doc["rates"]["openai"][test_model] == {"input_cents_per_1m": 7, "output_cents_per_1m": 9}
    assert fetch(server, **{"If-None-Match": after.headers["etag"]}).status_code == 304
    assert latency < 5

    from apps.pricing.models import PublishedPricing

    row = PublishedPricing.objects.filter(etag=after.headers["etag"]).get()
    assert row.trigger == "activation"  # published by the activation itself, not on demand


def test_public_routes_need_no_auth_and_refuse_writes(server):
    for path in ("/v1/public/pricing", "/v1/public/pricing/public-key"):
        assert httpx.get(f"{server.url}{path}", timeout=10).status_code == 200
        assert httpx.post(f"{server.url}{path}", timeout=10).status_code == 405
    assert httpx.get(f"{server.url}/v1/public/pricing/other", timeout=10).status_code == 404
