"""Reads of pricing state.

The hot-path lookup is the active rate card for (provider, model): cards are parsed once per active
version and cached in-process. Which version is active is re-checked with one indexed query at most
every `CAP_PRICING_CACHE_SECONDS` (1 s by default; 0 checks on every call), so an activation reaches
every process within that time and a call costs no pricing query at all in between.
"""

from __future__ import annotations

import time

from django.conf import settings

from apps.pricing.models import PricingVersion, PublishedPricing
from apps.pricing.rates import RateCard

# (version id, version number, cards): replaced whole, so readers never see a half-updated cache.
_snapshot: tuple[int | None, int | None, dict[tuple[str, str], RateCard]] = (None, None, {})
# (monotonic time of the last check, the active version id it found).
_checked: tuple[float, int | None] = (float("-inf"), None)


class UnknownModel(LookupError):
    def __init__(self, provider: str, model: str) -> None:
        super().__init__(f"Unknown model for pricing: {provider}:{model}")
        self.provider = provider
        self.model = model


def active_version_id() -> int | None:
    return PricingVersion.objects.filter(status=PricingVersion.Status.ACTIVE).values_list("id", flat=True).first()


def get_active_version() -> PricingVersion | None:
    return PricingVersion.objects.filter(status=PricingVersion.Status.ACTIVE).first()


def latest_publication() -> PublishedPricing | None:
    """The signed document every web process serves: the newest one stored."""
    return PublishedPricing.objects.order_by("-id").first()


def _load(version_id: int) -> tuple[int, int, dict[tuple[str, str], RateCard]]:
    global _snapshot
    version = PricingVersion.objects.get(pk=version_id)
    cards = {
        (provider, model): RateCard.from_dict(card)
        for provider, models in (version.rates or {}).items()
        for model, card in models.items()
    }
    _snapshot = (version_id, version.number, cards)
    return _snapshot


def _cached_active_version_id() -> int | None:
    global _checked
    now = time.monotonic()
    checked_at, version_id = _checked
    if now - checked_at >= settings.CAP_PRICING_CACHE_SECONDS:
        version_id = active_version_id()
        _checked = (now, version_id)
    return version_id


def forget_cached_version() -> None:
    """Make the next lookup re-check the active version (after an activation in this process)."""
    global _checked
    _checked = (float("-inf"), None)


def get_rate_card(provider: str, model: str) -> tuple[int, RateCard]:
    """Return (pricing version number, card) or raise UnknownModel."""
    version_id = _cached_active_version_id()
    if version_id is None:
        raise UnknownModel(provider, model)
    snapshot = _snapshot
    if snapshot[0] != version_id:
        snapshot = _load(version_id)
    card = snapshot[2].get((provider, model))
    if card is None:
        raise UnknownModel(provider, model)
    return snapshot[1], card
