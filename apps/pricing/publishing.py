"""Sign the active version and store the result, so every web process serves the same bytes.

Freshness rules (TTL = `CAP_PRICING_TTL_SECONDS`):
- the beat task and activations re-sign when the newest document is older than TTL/3, belongs to
  a version that is no longer active, or was signed with another key;
- the endpoint re-signs on demand only when fewer than TTL/3 seconds of validity are left (or the
  version/key changed), which never happens while beat runs (documents are then at most ~TTL/2
  old), but keeps sidecars starting when beat is down.

Publishers serialize on the active version's row (`select_for_update`; on SQLite every transaction
already takes the write lock at BEGIN) and re-check freshness under the lock, so N workers racing
produce one new document, and the others return it.
"""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.pricing import selectors
from apps.pricing.models import PricingVersion, PublishedPricing
from apps.pricing.rates import DECIMAL_FIELDS
from apps.pricing.signing import SigningKey, canonical_json, signing_key

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "1"
ENGINE_NAME = "spendguard-engine"
# Expired documents are kept a day for audit ("what did we serve at 3 am?"), then pruned.
KEEP_EXPIRED = timedelta(days=1)


class NoActiveVersion(LookupError):
    pass


def ttl() -> timedelta:
    return timedelta(seconds=settings.CAP_PRICING_TTL_SECONDS)


def refresh_age() -> timedelta:
    return ttl() / 3


def serve_margin() -> timedelta:
    return ttl() / 3


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def published_rates(rates: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """The rates as the sidecar gets them: integers only.

    The sidecar drops any card with a non-integer value, so a decimal context-cliff multiplier is
    published rounded *up* to a whole number: a sidecar may then overcharge above the cliff, never
    undercharge (a spend cap must not let an agent spend more than it has). The cloud gateway bills
    with the exact decimal from the version. Absent (null) fields are left out.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for provider, models in rates.items():
        out[provider] = {}
        for model, card in models.items():
            out[provider][model] = {
                name: (math.ceil(Decimal(str(value))) if name in DECIMAL_FIELDS else value)
                for name, value in card.items()
                if value is not None
            }
    return out


def build_document(version: PricingVersion, *, generated_at: datetime, key: SigningKey) -> dict[str, Any]:
    generated_at = generated_at.replace(microsecond=0)  # never "in the future" after truncation
    return key.sign({
        "schema_version": SCHEMA_VERSION,
        "engine": {"name": ENGINE_NAME, "min_version": version.engine_min_version,
                   "max_version": version.engine_max_version},
        "generated_at": iso_utc(generated_at),
        "expires_at": iso_utc(generated_at + ttl()),
        "pricing_version": version.number,
        "key_id": key.key_id,
        "rates": published_rates(version.rates),
    })


def etag_for(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def is_fresh(row: PublishedPricing | None, *, active_id: int, key_id: str, now: datetime,
             max_age: timedelta | None = None, min_remaining: timedelta = timedelta(0)) -> bool:
    return (
        row is not None
        and row.version_id == active_id
        and row.key_id == key_id
        and row.expires_at - now >= min_remaining
        and (max_age is None or now - row.generated_at < max_age)
    )


def ensure_published(*, trigger: str, max_age: timedelta | None = None,
                     min_remaining: timedelta = timedelta(0), now: datetime | None = None) -> PublishedPricing:
    """Return the newest document if fresh by these rules, else sign the active version and store it."""
    key = signing_key()
    with transaction.atomic():
        active = PricingVersion.objects.select_for_update().filter(status=PricingVersion.Status.ACTIVE).first()
        if active is None:
            raise NoActiveVersion("No active pricing version")
        now = now or timezone.now()
        latest = selectors.latest_publication()
        if is_fresh(latest, active_id=active.pk, key_id=key.key_id, now=now, max_age=max_age,
                    min_remaining=min_remaining):
            return latest
        row = _store(active, build_document(active, generated_at=now, key=key), key, trigger)
        PublishedPricing.objects.filter(expires_at__lt=now - KEEP_EXPIRED).exclude(pk=row.pk).delete()
    logger.info("published pricing v%s etag=%s expires=%s (%s)", row.version_number, row.etag,
                iso_utc(row.expires_at), trigger)
    return row


def _store(version: PricingVersion, document: dict[str, Any], key: SigningKey, trigger: str) -> PublishedPricing:
    body = canonical_json(document)
    return PublishedPricing.objects.create(
        version=version,
        version_number=version.number,
        document=body,
        etag=etag_for(body),
        key_id=key.key_id,
        generated_at=datetime.fromisoformat(document["generated_at"]),
        expires_at=datetime.fromisoformat(document["expires_at"]),
        trigger=trigger,
    )


def publication_to_serve(now: datetime | None = None) -> PublishedPricing:
    """For the public endpoint: the stored document, re-signed first only if it is going stale.

    The common case is two indexed reads and no write."""
    now = now or timezone.now()
    latest = selectors.latest_publication()
    active_id = selectors.active_version_id()
    if active_id is not None and is_fresh(latest, active_id=active_id, key_id=signing_key().key_id, now=now,
                                          min_remaining=serve_margin()):
        return latest
    return ensure_published(trigger=PublishedPricing.Trigger.ON_DEMAND, min_remaining=serve_margin(), now=now)


def publish_scheduled() -> PublishedPricing:
    return ensure_published(trigger=PublishedPricing.Trigger.SCHEDULE, max_age=refresh_age())


def publish_after_activation() -> PublishedPricing:
    return ensure_published(trigger=PublishedPricing.Trigger.ACTIVATION, max_age=refresh_age())
