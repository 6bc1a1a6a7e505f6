"""Celery tasks of the gateway. Thin: the rule lives in apps.budgets.reservations."""

from celery import shared_task

from apps.budgets.reservations import expire_stale


@shared_task(name="apps.gateway.tasks.sweep_reservations", ignore_result=True)
def sweep_reservations() -> int:
    """Settle reservations past expiry as lock_expired (idempotent, safe on several workers)."""
    return expire_stale()
