"""Ninja auth: an API key from `x-api-key`, `Authorization: Bearer` or `x-goog-api-key`.

The key's organization then scopes every query (`request.auth` is the ApiKey).
"""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone
from ninja.security.base import AuthBase

from apps.accounts.keys import hash_key
from apps.accounts.models import SCOPE_MANAGE, SCOPE_USE, ApiKey
from apps.core.errors import ApiError

# last_used_at is refreshed at most this often, so a hot key costs no write per request.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def key_from_request(request: HttpRequest) -> str | None:
    headers = request.headers
    key = headers.get("x-api-key")
    if not key:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            key = value
    if not key:
        key = headers.get("x-goog-api-key")
    return key.strip() if key else None


def authenticate_key(raw_key: str | None, scopes: tuple[str, ...]) -> ApiKey:
    if not raw_key:
        raise ApiError(401, "Missing API key")
    # Hash first: the lookup never sees the plaintext, and equality on a digest leaks nothing useful.
    key = (
        ApiKey.objects.select_related("organization")
        .filter(key_hash=hash_key(raw_key))
        .first()
    )
    now = timezone.now()
    if key is None or not key.is_active(now):
        raise ApiError(401, "Invalid API key")
    if not any(key.has_scope(s) for s in scopes):
        raise ApiError(403, "Insufficient scope", code="insufficient_scope")
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


class ApiKeyAuth(AuthBase):
    openapi_type = "apiKey"
    openapi_in = "header"
    openapi_name = "x-api-key"

    def __init__(self, *scopes: str) -> None:
        self.scopes = scopes
        super().__init__()

    def __call__(self, request: HttpRequest) -> ApiKey:
        return authenticate_key(key_from_request(request), self.scopes)


use_auth = ApiKeyAuth(SCOPE_USE)  # proxy calls and runs
read_auth = ApiKeyAuth(SCOPE_USE, SCOPE_MANAGE)  # reading agents and budgets
manage_auth = ApiKeyAuth(SCOPE_MANAGE)  # creating, renaming, deleting agents, setting budgets
