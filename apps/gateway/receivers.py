"""Writes the usage record of every settlement, inside the settling transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.dispatch import receiver

from apps.budgets.models import Agent, BudgetEvent, Reservation
from apps.budgets.reservations import LOCK_EXPIRED, reservation_settled
from apps.gateway.models import UsageRecord


@dataclass
class CallDetails:
    """What the gateway knows about a finished call; becomes the UsageRecord."""

    organization_id: int
    route: str
    termination: str
    upstream_status: int | None = None
    provider_request_id: str = ""
    usage: dict[str, Any] | None = None
    realized_microcents: int | None = None
    billing_breakdown: dict[str, Any] | None = None
    output_limit_requested: int | None = None
    output_limit_sent: int | None = None
    latency_ms: int | None = None
    note: str = ""
    streamed: bool = False
    ttfb_ms: int | None = None
    request_body: Any = None
    response_body: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


USAGE_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
                "cache_write_input_tokens", "cache_read_input_tokens", "grounding_queries", "tool_calls")


@receiver(reservation_settled, sender=Reservation, dispatch_uid="gateway.usage_record")
def record_usage(sender, *, reservation: Reservation, event: BudgetEvent, details: CallDetails | None, **kw) -> None:
    if details is None:  # nobody came back for it: a crash or a lost worker
        org_id = Agent.objects.filter(pk=reservation.agent_id).values_list("organization_id", flat=True).get()
        details = CallDetails(organization_id=org_id, route="", termination=LOCK_EXPIRED,
                              note="settled by expiry; usage unknown")
    usage = {k: v for k, v in (details.usage or {}).items() if k in USAGE_FIELDS}
    UsageRecord.objects.create(
        organization_id=details.organization_id, agent_id=reservation.agent_id, run_id=reservation.run_id,
        reservation=reservation, budget_event=event, provider=reservation.provider, model=reservation.model,
        route=details.route, termination=details.termination, upstream_status=details.upstream_status,
        provider_request_id=details.provider_request_id, usage_known=details.usage is not None, **usage,
        output_limit_requested=details.output_limit_requested, output_limit_sent=details.output_limit_sent,
        wcec_cents=reservation.amount_cents, realized_microcents=details.realized_microcents,
        charged_cents=reservation.charged_cents or 0, shortfall_cents=reservation.shortfall_cents,
        billing_breakdown=details.billing_breakdown, pricing_version=reservation.pricing_version,
        latency_ms=details.latency_ms, streamed=details.streamed, ttfb_ms=details.ttfb_ms,
        note=details.note[:300], request_body=details.request_body,
        response_body=details.response_body, created_at=reservation.settled_at,
    )
