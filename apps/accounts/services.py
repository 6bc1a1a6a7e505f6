"""Write paths for tenants and keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.accounts.keys import display_prefix, generate_key, hash_key
from apps.accounts.models import ALL_SCOPES, ApiKey, Organization


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    plaintext: str  # shown once, never stored


def parse_scopes(raw: str | list[str] | None) -> list[str]:
    if raw is None:
        return list(ALL_SCOPES)
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = [s.strip() for s in items if s and s.strip()]
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown:
        raise ValueError(f"Unknown scope(s): {', '.join(unknown)}; allowed: {', '.join(ALL_SCOPES)}")
    if not scopes:
        raise ValueError("At least one scope is required")
    return sorted(set(scopes), key=ALL_SCOPES.index)


def get_or_create_organization(name: str) -> Organization:
    name = name.strip()
    if not name:
        raise ValueError("Organization name must not be blank")
    org, _ = Organization.objects.get_or_create(name=name)
    return org


@transaction.atomic
def issue_api_key(
    organization: Organization,
    *,
    scopes: list[str] | None = None,
    test: bool = False,
    name: str = "",
    expires_at: datetime | None = None,
) -> IssuedKey:
    plaintext = generate_key(test=test)
    key = ApiKey.objects.create(
        organization=organization,
        name=name,
        key_hash=hash_key(plaintext),
        prefix=display_prefix(plaintext),
        scopes=scopes if scopes is not None else list(ALL_SCOPES),
        is_test=test,
        expires_at=expires_at,
    )
    return IssuedKey(api_key=key, plaintext=plaintext)


def revoke_api_key(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        key.refresh_from_db(fields=["revoked_at"])
    return key
