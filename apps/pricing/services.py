"""The pricing version lifecycle: draft → active → retired. Only these functions write versions.

Every write locks the active version's row first, so draft numbering, activation and publishing
serialize with each other (SQLite serializes every transaction anyway).
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.pricing import selectors
from apps.pricing.models import PricingVersion
from apps.pricing.publishing import publish_after_activation
from apps.pricing.validation import validate_engine_range, validate_rates

logger = logging.getLogger(__name__)
Status = PricingVersion.Status


class PricingError(ValueError):
    """A lifecycle rule refused the change; the message is for staff."""


def _lock_active() -> PricingVersion | None:
    return PricingVersion.objects.select_for_update().filter(status=Status.ACTIVE).first()


def create_draft_from_active(*, actor: str) -> PricingVersion:
    with transaction.atomic():
        active = _lock_active()
        if active is None:
            raise PricingError("There is no active pricing version to copy")
        number = (PricingVersion.objects.aggregate(n=Max("number"))["n"] or 0) + 1
        return PricingVersion.objects.create(
            number=number,
            status=Status.DRAFT,
            rates=copy.deepcopy(active.rates),
            engine_min_version=active.engine_min_version,
            engine_max_version=active.engine_max_version,
            based_on=active,
            notes=f"Draft from v{active.number}.",
            created_by=actor,
        )


def update_draft(version: PricingVersion, *, rates: Any, actor: str, notes: str | None = None,
                 engine_min_version: str | None = None, engine_max_version: str | None = None) -> PricingVersion:
    """Replace a draft's rate table (validated) and, if given, its notes and engine range."""
    rates = validate_rates(rates)
    with transaction.atomic():
        draft = PricingVersion.objects.select_for_update().get(pk=version.pk)
        if not draft.is_draft:
            raise PricingError(f"v{draft.number} is {draft.status}; only drafts can be edited")
        draft.engine_min_version, draft.engine_max_version = validate_engine_range(
            engine_min_version or draft.engine_min_version, engine_max_version or draft.engine_max_version)
        draft.rates = copy.deepcopy(rates)
        if notes is not None:
            draft.notes = notes
        draft.save(update_fields=["rates", "notes", "engine_min_version", "engine_max_version"])
    logger.info("pricing draft v%s updated by %s", draft.number, actor)
    return draft


def _after_activation() -> None:
    selectors.forget_cached_version()  # this process prices with the new version at once
    publish_after_activation()


def activate(version: PricingVersion, *, actor: str) -> PricingVersion:
    """Make a draft the one active version, retire the previous one, and publish it at once."""
    try:
        with transaction.atomic():
            previous = _lock_active()
            draft = PricingVersion.objects.select_for_update().get(pk=version.pk)
            if not draft.is_draft:
                raise PricingError(f"v{draft.number} is {draft.status}; only a draft can be activated")
            if previous is not None and draft.based_on_id != previous.pk:
                base = f"v{draft.based_on.number}" if draft.based_on else "no version"
                raise PricingError(f"v{draft.number} was copied from {base}, but v{previous.number} is active now; "
                                   "activating it would undo the changes since. Create a new draft from the "
                                   "active version instead.")
            validate_rates(draft.rates)
            validate_engine_range(draft.engine_min_version, draft.engine_max_version)
            now = timezone.now()
            if previous is not None:  # retire first: the one-active constraint is checked per statement
                previous.status, previous.retired_at = Status.RETIRED, now
                previous.save(update_fields=["status", "retired_at"])
            draft.status, draft.activated_at, draft.activated_by = Status.ACTIVE, now, actor
            draft.save(update_fields=["status", "activated_at", "activated_by"])
            # Live at once, without waiting for beat; if this fails the endpoint re-signs on demand.
            transaction.on_commit(_after_activation, robust=True)
    except IntegrityError:
        raise PricingError("Another activation happened at the same time; reload and try again") from None
    logger.info("pricing v%s activated by %s", draft.number, actor)
    return draft
