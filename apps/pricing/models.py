from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ImmutableVersion(ValueError):
    """Raised when code tries to change the rates of an activated (active or retired) version."""


class PricingVersion(models.Model):
    """A complete rate table. Exactly one is active; an activated version never changes."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    # What a version's prices are; frozen once it leaves draft.
    PRICE_FIELDS = ("number", "rates", "engine_min_version", "engine_max_version")

    number = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # {provider: {model: {rate card fields}}}, the `rates` object of the signed document.
    rates = models.JSONField(default=dict)
    engine_min_version = models.CharField(max_length=20, default="0.1.0")
    engine_max_version = models.CharField(max_length=20, default="9.9.9")
    # The active version a draft was copied from; activating a draft whose base is no longer active
    # would silently undo the versions activated since, so it is refused.
    based_on = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
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

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    def save(self, *args, **kwargs) -> None:
        # Last line of defence behind the services: prices that were ever live (and may be cited
        # by usage records and signed documents) cannot be rewritten through the ORM.
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values("status", *self.PRICE_FIELDS).first()
            if stored and stored["status"] != self.Status.DRAFT:
                changed = [f for f in self.PRICE_FIELDS if getattr(self, f) != stored[f]]
                if changed:
                    raise ImmutableVersion(f"v{stored['number']} is {stored['status']}; {', '.join(changed)} "
                                           "cannot change (create a new draft instead)")
                if stored["status"] == self.Status.RETIRED and self.status != self.Status.RETIRED:
                    raise ImmutableVersion(f"v{stored['number']} is retired and cannot become {self.status}")
                if self.status == self.Status.DRAFT:
                    raise ImmutableVersion(f"v{stored['number']} is {stored['status']} and cannot become a draft")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.status != self.Status.DRAFT:
            raise ImmutableVersion(f"v{self.number} is {self.status} and cannot be deleted")
        return super().delete(*args, **kwargs)


class PublishedPricing(models.Model):
    """One signed price list, exactly as served. The newest row is what every web process serves,
    so all of them answer with the same bytes and ETag."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Scheduled re-sign"
        ACTIVATION = "activation", "Activation"
        ON_DEMAND = "on-demand", "On demand (stored document stale)"
        MANUAL = "manual", "Manual"

    version = models.ForeignKey(PricingVersion, on_delete=models.PROTECT, related_name="publications")
    version_number = models.PositiveIntegerField()
    document = models.BinaryField()  # the exact bytes served, signature included
    etag = models.CharField(max_length=80)  # strong, quoted
    key_id = models.CharField(max_length=32)
    generated_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    trigger = models.CharField(max_length=20, choices=Trigger.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        verbose_name = "published price list"
        verbose_name_plural = "published price lists"

    def __str__(self) -> str:
        return f"v{self.version_number} signed {self.generated_at:%Y-%m-%d %H:%M:%S}Z {self.etag}"

    @property
    def body(self) -> bytes:
        return bytes(self.document)  # PostgreSQL hands back a memoryview
