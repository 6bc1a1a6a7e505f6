"""Reads, always scoped to the caller's organization."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Sum

from apps.accounts.models import Organization
from apps.budgets.models import Agent, Budget, BudgetEvent, Reservation
from apps.core.errors import ApiError


def parse_agent_id(agent_id: uuid.UUID | str) -> uuid.UUID:
    try:
        return agent_id if isinstance(agent_id, uuid.UUID) else uuid.UUID(str(agent_id))
    except ValueError:
        raise ApiError(400, "agent_id must be a UUID") from None


def get_agent(organization: Organization, agent_id: uuid.UUID | str) -> Agent:
    """Another organization's agent is exactly as missing as one that never existed."""
    agent_uuid = parse_agent_id(agent_id)
    agent = Agent.objects.filter(pk=agent_uuid, organization=organization, deleted_at__isnull=True).first()
    if agent is None:
        raise ApiError(404, "Agent not found")
    return agent


def list_agents(organization: Organization):
    return Agent.objects.filter(organization=organization, deleted_at__isnull=True).order_by("created_at", "id")


def agent_view(agent: Agent) -> dict[str, Any]:
    return {
        "agent_id": str(agent.id),
        "name": agent.name,
        "created_at": agent.created_at.isoformat().replace("+00:00", "Z"),
        "max_concurrent_runs": agent.max_concurrent_runs,
    }


def budget_view(agent: Agent) -> dict[str, Any]:
    budget = Budget.objects.get(agent=agent)
    held = list(
        Reservation.objects.filter(agent=agent, status=Reservation.Status.HELD)
        .order_by("created_at")
        .values("run_id", "amount_cents", "expires_at")
    )
    locked = sum(r["amount_cents"] for r in held)
    expires = max((r["expires_at"] for r in held), default=None)
    return {
        "agent_id": str(agent.id),
        "hard_limit_cents": budget.hard_limit_cents,
        "remaining_cents": budget.remaining_cents,
        "locked_run_id": str(held[0]["run_id"]) if held else None,
        "locked_cents": locked,
        "locked_expires_at": expires.isoformat().replace("+00:00", "Z") if expires else None,
        "available_cents": max(0, budget.remaining_cents - locked),
        "in_flight_reservations": len(held),
    }


def ledger_sum(agent: Agent) -> int:
    return BudgetEvent.objects.filter(agent=agent).aggregate(total=Sum("delta_cents"))["total"] or 0
