from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class PricingVersion(models.Model):
    """A complete rate table. Exactly one is active; an activated version never changes."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # {provider: {model: {rate card fields}}}, the `rates` object of the signed document.
    rates = models.JSONField(default=dict)
    engine_min_version = models.CharField(max_length=20, default="0.1.0")
    engine_max_version = models.CharField(max_length=20, default="9.9.9")
    notes = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=200, blank=True, default="")
    activated_by = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["status"], condition=Q(status="active"), name="one_active_pricing_version"),
        ]

    def __str__(self) -> str:
        return f"v{self.number} ({self.status})"
