"""Agents, their budgets, the append-only ledger, runs and in-flight reservations.

`Budget.remaining_cents` is a cached balance: it always equals the sum of the agent's
`BudgetEvent.delta_cents`, and only `apps.budgets.services` changes either.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import Organization


class Agent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="agents")
    name = models.CharField(max_length=200, blank=True, default="")
    # How many distinct runs may hold reservations at once (1, as in the sidecar).
    max_concurrent_runs = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Soft delete: hidden from the API, money records kept.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["organization", "deleted_at", "created_at"])]

    def __str__(self) -> str:
        return f"{self.name or '(unnamed)'} [{self.id}]"


class Budget(models.Model):
    agent = models.OneToOneField(Agent, on_delete=models.PROTECT, primary_key=True, related_name="budget")
    hard_limit_cents = models.BigIntegerField(default=0, editable=False)
    remaining_cents = models.BigIntegerField(default=0, editable=False)
    # None until the first budget set (the first set has its own rule, SPEC §3).
    configured_at = models.DateTimeField(null=True, blank=True, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(remaining_cents__gte=0) & Q(hard_limit_cents__gte=0),
                name="budget_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.remaining_cents}/{self.hard_limit_cents} cents"


class BudgetEvent(models.Model):
    """One change of `remaining_cents`. Append-only: never updated, never deleted."""

    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        LIMIT_CHANGE = "limit_change", "Limit change"
        CHARGE = "charge", "Charge"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Manual adjustment"
        LOCK_EXPIRED = "lock_expired", "Expired reservation"

    id = models.BigAutoField(primary_key=True)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="budget_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    delta_cents = models.BigIntegerField()
    balance_after_cents = models.BigIntegerField()
    hard_limit_after_cents = models.BigIntegerField()
    actor = models.CharField(
        max_length=200, help_text="Who or what caused it: staff:<user>, key:<prefix>, system:<task>."
    )
    reason = models.TextField(blank=True, default="")
    reservation = models.ForeignKey(
        "Reservation", null=True, blank=True, on_delete=models.PROTECT, related_name="budget_events"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["agent", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.delta_cents:+d} → {self.balance_after_cents}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Budget events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Budget events are append-only")


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="runs")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return str(self.id)


class Reservation(models.Model):
    """The worst-case cost of one in-flight provider call, held until it is settled exactly once."""

    class Status(models.TextChoices):
        HELD = "held", "Held"
        SETTLED = "settled", "Settled"
        EXPIRED = "expired", "Expired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="reservations")
    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="reservations")
    amount_cents = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    provider = models.CharField(max_length=20, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    settled_at = models.DateTimeField(null=True, blank=True)
    charged_cents = models.BigIntegerField(null=True, blank=True)
    settle_reason = models.CharField(max_length=40, blank=True, default="")
    # Pricing version the WCEC was computed with; what could not be charged (limit lowered mid-flight).
    pricing_version = models.PositiveIntegerField(null=True, blank=True)
    shortfall_cents = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["agent", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount_cents__gte=0), name="reservation_non_negative")]

    def __str__(self) -> str:
        return f"{self.amount_cents}c {self.status} [{self.id}]"
