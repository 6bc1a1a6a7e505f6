from __future__ import annotations

from django.db import models
from django.utils import timezone

SCOPE_USE = "cap:use"
SCOPE_MANAGE = "cap:manage"
ALL_SCOPES = (SCOPE_USE, SCOPE_MANAGE)


class Organization(models.Model):
    """A tenant. Every agent, budget and key belongs to exactly one."""

    name = models.CharField(max_length=200, unique=True)
    # Whether the gateway keeps provider request/response bodies on usage records (off by default).
    store_bodies = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """Only the SHA-256 of the key is stored; the plaintext is shown once at creation."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="api_keys")
    name = models.CharField(max_length=200, blank=True, default="")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    prefix = models.CharField(max_length=32, editable=False, help_text="Display prefix, safe to show.")
    scopes = models.JSONField(default=list)
    is_test = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.organization})"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
