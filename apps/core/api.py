"""Liveness and readiness probes (no auth)."""

from django.db import connection
from ninja import Router

from apps.core.errors import ApiError

router = Router(tags=["health"])


@router.get("/health", auth=None)
def health(request):
    return {"status": "ok"}


@router.get("/health/ready", auth=None)
def ready(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        raise ApiError(503, "Database unavailable") from None
    return {"status": "ok", "database": "ok"}
