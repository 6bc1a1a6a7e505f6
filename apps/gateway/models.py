"""One row per settled provider call (SPEC §2 "Usage record"). Written only inside settlement."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.accounts.models import Organization
from apps.budgets.models import Agent, BudgetEvent, Reservation, Run


class UsageRecord(models.Model):
    class Termination(models.TextChoices):
        OK = "ok", "OK"
        PROVIDER_ERROR = "provider_error", "Provider error (not billed)"
        TIMEOUT = "timeout", "Timed out after sending (charged the reservation)"
        CONNECTION_ERROR = "connection_error", "Connection dropped after sending (charged the reservation)"
        NOT_SENT = "not_sent", "Could not reach the provider (not billed)"
        USAGE_MISSING = "usage_missing", "Success without usable usage (charged the reservation)"
        CLIENT_DISCONNECTED = "client_disconnected", "Client went away mid-call (charged the reservation)"
        CLIENT_LEFT_BEFORE_CALL = "client_left_before_call", "Client went away before the call was sent (not billed)"
        INTERNAL_ERROR = "internal_error", "Gateway error after sending (charged the reservation)"
        LOCK_EXPIRED = "lock_expired", "Reservation expired unsettled (charged the reservation)"
        OUTPUT_CAPPED = "output_capped", "Stream cut at the reserved output (charged the reservation)"
        STREAM_ERROR = "stream_error", "Provider error event mid-stream (charged the reservation unless usage known)"

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="usage_records")
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="usage_records")
    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="usage_records")
    reservation = models.OneToOneField(Reservation, on_delete=models.PROTECT, related_name="usage_record")
    budget_event = models.ForeignKey(BudgetEvent, null=True, on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=20)
    model = models.CharField(max_length=200)
    route = models.CharField(max_length=40, blank=True, default="")
    termination = models.CharField(max_length=30, choices=Termination.choices)
    upstream_status = models.PositiveSmallIntegerField(null=True, blank=True)
    provider_request_id = models.CharField(max_length=200, blank=True, default="")
    usage_known = models.BooleanField(default=False)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cached_input_tokens = models.BigIntegerField(default=0)
    reasoning_tokens = models.BigIntegerField(default=0)
    cache_write_input_tokens = models.BigIntegerField(default=0)
    cache_read_input_tokens = models.BigIntegerField(default=0)
    grounding_queries = models.BigIntegerField(default=0)
    tool_calls = models.JSONField(default=dict, blank=True)
    output_limit_requested = models.BigIntegerField(null=True, blank=True)
    output_limit_sent = models.BigIntegerField(null=True, blank=True)
    wcec_cents = models.BigIntegerField()
    realized_microcents = models.BigIntegerField(null=True, blank=True, help_text="None when usage is unknown.")
    charged_cents = models.BigIntegerField()
    shortfall_cents = models.BigIntegerField(default=0)
    billing_breakdown = models.JSONField(null=True, blank=True)
    pricing_version = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    streamed = models.BooleanField(default=False)
    ttfb_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Streams: upstream request sent → first "
                                          "byte forwarded to the client.")
    note = models.CharField(max_length=300, blank=True, default="")
    # Only when Organization.store_bodies is on. Never contains keys: headers are not stored.
    request_body = models.JSONField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["organization", "created_at"]),
            models.Index(fields=["agent", "created_at"]),
            models.Index(fields=["termination"]),
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.model} {self.termination} {self.charged_cents}c"
