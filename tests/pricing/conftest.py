"""Pricing fixtures. Tests that activate versions only ever add or change cards of models of their
own, and `restore_prices` puts the original table back (as a new active copy) afterwards, so the
prices other test modules compute costs from never change."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest


def activate_rates(rates: dict, *, actor: str = "test:pricing"):
    """Create a draft from the active version with these rates and activate it (committed)."""
    from apps.pricing import services

    draft = services.create_draft_from_active(actor=actor)
    services.update_draft(draft, rates=rates, actor=actor)
    return services.activate(draft, actor=actor)


def store_publication(age: timedelta):
    """Store a document signed `age` ago, as if beat had stopped then (the newest row from now on)."""
    from django.utils import timezone

    from apps.pricing.publishing import _store, build_document
    from apps.pricing.selectors import get_active_version
    from apps.pricing.signing import signing_key

    active = get_active_version()
    key = signing_key()
    return _store(active, build_document(active, generated_at=timezone.now() - age, key=key), key, "manual")


def with_test_card(rates: dict, model: str, card: dict, provider: str = "openai") -> dict:
    out = {p: {m: dict(c) for m, c in models.items()} for p, models in rates.items()}
    out.setdefault(provider, {})[model] = card
    return out


@pytest.fixture
def restore_prices(committed_db) -> Iterator[dict]:
    from apps.pricing.selectors import get_active_version

    original = get_active_version()
    yield original.rates
    current = get_active_version()
    if current.rates != original.rates:
        activate_rates(original.rates, actor="test:restore")


@pytest.fixture
def test_model() -> str:
    return f"pricing-test-model-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def public_key(server) -> str:
    response = httpx.get(f"{server.url}/v1/public/pricing/public-key", timeout=10)
    assert response.status_code == 200
    return response.json()["public_key"]


@pytest.fixture(autouse=True)
def _forget_rate_card_cache():
    """`db` tests roll back, and SQLite may then hand the same version id to another table; drop
    the in-process card cache so no later test in this process reads cards of a rolled-back version."""
    yield
    from apps.pricing import selectors

    selectors._snapshot = (None, None, {})
    selectors.forget_cached_version()
