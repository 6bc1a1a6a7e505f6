"""Celery tasks of pricing. Thin: the service decides whether anything needs doing."""

from __future__ import annotations

from celery import shared_task

from apps.pricing.publishing import publish_scheduled


@shared_task(name="apps.pricing.tasks.publish_pricing", ignore_result=True)
def publish_pricing() -> str:
    """Re-sign the active version if the stored document is over TTL/3 old or of another version.

    Idempotent and safe with several workers: publishers serialize on the active version's row."""
    row = publish_scheduled()
    return f"v{row.version_number} {row.etag}"
