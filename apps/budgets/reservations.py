"""In-flight reservations: hold the worst case before a provider call, settle it exactly once after.

Every function here takes the agent's budget row lock first (`select_for_update`), then touches
reservations, so a reservation's status and the balance always move together and in one order
(budget → reservation), which rules out deadlocks between reserve, settle, expiry and refunds.

The gateway app owns usage records; it learns of each settlement through `reservation_settled`,
sent inside the settling transaction, so a settlement and its usage record commit together.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Sum
from django.dispatch import Signal
from django.utils import timezone

from apps.accounts.models import Organization
from apps.budgets.models import Agent, Budget, BudgetEvent, Reservation, Run
from apps.budgets.selectors import parse_agent_id
from apps.budgets.services import _check_cents, _lock_budget, _record
from apps.core.errors import ApiError

LOCK_EXPIRED = "lock_expired"

# Sent inside the settling transaction: sender=Reservation, reservation, event, details (the
# caller's object, or None for an expired reservation nobody came back for).
reservation_settled = Signal()


@dataclass(frozen=True)
class Settlement:
    reservation_id: uuid.UUID
    charged_cents: int
    shortfall_cents: int
    remaining_cents: int
    reason: str
    first: bool  # False when the reservation had already been settled (the call was a no-op)


def reserve(
    agent: Agent | tuple[Organization, str | uuid.UUID],
    *,
    run_id: uuid.UUID,
    size: Callable[[int], int],
    provider: str,
    model: str,
    pricing_version: int | None,
) -> tuple[Reservation, int]:
    """Hold money for one provider call; returns (reservation, remaining_cents).

    `agent` is an Agent, or (organization, agent id) — then the agent is found by the same query
    that locks its budget row (one round trip fewer on the hot path), with the same 404 for an agent
    of another organization as `selectors.get_agent`.
    `size(available_cents)` returns the amount to hold: the WCEC after the caller clamped its
    output limit to what is available. More than available means not even the input fits → 402.
    """
    with transaction.atomic():
        if isinstance(agent, Agent):
            budget = _lock_budget(agent)
        else:
            budget = _lock_budget_of(*agent)
            agent = budget.agent
        now = timezone.now()
        live: list[Reservation] = []
        for held in Reservation.objects.filter(agent=agent, status=Reservation.Status.HELD):
            if held.expires_at <= now:
                _settle_locked(budget, held, cost_cents=None, reason=LOCK_EXPIRED, actor="system:reserve",
                               details=None, now=now)
            else:
                live.append(held)
        # A refusal is raised after the block commits, so the expired settlements above are kept.
        refusal, amount = _admission(agent, run_id, live, budget, size)
        if refusal is None:
            if run_id not in {r.run_id for r in live}:  # a run holding a reservation here is this agent's
                _ensure_run(agent, run_id)
            reservation = Reservation.objects.create(
                agent=agent, run_id=run_id, amount_cents=amount, provider=provider, model=model[:200],
                pricing_version=pricing_version, created_at=now,
                expires_at=now + timedelta(seconds=settings.CAP_LOCK_TTL_SECONDS),
            )
    if refusal is not None:
        raise refusal
    return reservation, budget.remaining_cents


def _lock_budget_of(organization: Organization, agent_id: str | uuid.UUID) -> Budget:
    agent_uuid = parse_agent_id(agent_id)
    budget = (
        Budget.objects.select_for_update(of=("self",))
        .select_related("agent")
        .filter(agent_id=agent_uuid, agent__organization=organization, agent__deleted_at__isnull=True)
        .first()
    )
    if budget is None:
        raise ApiError(404, "Agent not found")
    return budget


def _admission(
    agent: Agent, run_id: uuid.UUID, live: list[Reservation], budget: Budget, size: Callable[[int], int]
) -> tuple[ApiError | None, int]:
    """The run rule, then the money rule: (refusal or None, amount to hold)."""
    holding_runs = {r.run_id for r in live}
    if holding_runs and run_id not in holding_runs and len(holding_runs) >= agent.max_concurrent_runs:
        return ApiError(409, "Agent budget is locked by an in-flight run", code="agent_locked"), 0
    available = budget.remaining_cents - sum(r.amount_cents for r in live)
    amount = size(max(0, available))
    if amount > available:
        return ApiError(402, "Insufficient budget", code="insufficient_budget"), amount
    return None, amount


def _ensure_run(agent: Agent, run_id: uuid.UUID) -> None:
    """Runs are created implicitly by their first call; a run of another agent is not found.

    One `INSERT … ON CONFLICT DO NOTHING RETURNING` (PostgreSQL and SQLite ≥ 3.35 both speak it)
    instead of select + savepoint + insert + release: this runs under the budget lock on every
    call that starts a run, so each round trip counts."""
    fields = {f.name: f for f in Run._meta.concrete_fields}
    values = [fields["id"].get_db_prep_value(run_id, connection),
              fields["agent"].get_db_prep_value(agent.pk, connection),
              fields["created_at"].get_db_prep_value(timezone.now(), connection)]
    table = connection.ops.quote_name(Run._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, agent_id, created_at) VALUES (%s, %s, %s) "  # noqa: S608 (table name is ours)
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            values,
        )
        if cursor.fetchone() is not None:
            return
    if Run.objects.filter(pk=run_id).values_list("agent_id", flat=True).first() != agent.pk:
        raise ApiError(404, "Run not found")


def settle(
    reservation: Reservation, *, cost_cents: int | None, reason: str, actor: str, details: Any = None
) -> Settlement:
    """Settle once: charge min(cost, reserved) — the reservation itself when `cost_cents` is None
    (the provider may have billed and we cannot know) — never more than what remains.

    A second settle of the same reservation changes nothing and returns the first result.
    """
    with transaction.atomic():
        budget = Budget.objects.select_for_update().get(agent_id=reservation.agent_id)
        settled = _settle_locked(budget, reservation, cost_cents=cost_cents, reason=reason, actor=actor,
                                 details=details, now=timezone.now())
        if settled is not None:
            return settled
        first = Reservation.objects.get(pk=reservation.pk)
        return Settlement(first.pk, first.charged_cents or 0, first.shortfall_cents, budget.remaining_cents,
                          first.settle_reason, first=False)


def _settle_locked(
    budget: Budget, reservation: Reservation, *, cost_cents: int | None, reason: str, actor: str,
    details: Any, now: datetime,
) -> Settlement | None:
    """Caller holds the budget lock. Returns None if someone settled this reservation first."""
    reserved = reservation.amount_cents
    wanted = reserved if cost_cents is None else max(0, min(int(cost_cents), reserved))
    # Staff may have lowered the limit mid-flight: never charge below zero, record what was lost.
    charged = min(wanted, budget.remaining_cents)
    shortfall = wanted - charged
    expired = reason == LOCK_EXPIRED
    status = Reservation.Status.EXPIRED if expired else Reservation.Status.SETTLED
    won = Reservation.objects.filter(pk=reservation.pk, status=Reservation.Status.HELD).update(
        status=status, settled_at=now, charged_cents=charged, settle_reason=reason[:40], shortfall_cents=shortfall,
    )
    if not won:
        return None
    reservation.status, reservation.settled_at, reservation.charged_cents = status, now, charged
    reservation.settle_reason, reservation.shortfall_cents = reason[:40], shortfall
    if expired:
        why = (f"reservation of {reserved} cents expired unsettled; charged in full because the provider "
               "may have billed (staff can refund)")
    else:
        why = f"{reservation.provider}:{reservation.model} call settled ({reason}); reserved {reserved} cents"
    if shortfall:
        why += f"; {shortfall} cents could not be charged (balance too low)"
    event = _record(
        budget, new_remaining=budget.remaining_cents - charged,
        kind=BudgetEvent.Kind.LOCK_EXPIRED if expired else BudgetEvent.Kind.CHARGE,
        actor=actor, reason=why, reservation=reservation,
    )
    reservation_settled.send(sender=Reservation, reservation=reservation, event=event, details=details)
    return Settlement(reservation.pk, charged, shortfall, budget.remaining_cents, reason, first=True)


def expire_stale(*, now: datetime | None = None, batch: int = 500) -> int:
    """Settle held reservations past their expiry as `lock_expired`, charging the reservation.

    Idempotent and safe with several workers: each agent is handled in its own transaction under
    its budget lock; a budget locked by someone else is skipped (PostgreSQL `SKIP LOCKED`) — if
    that is a reserve it settles the same reservations itself, otherwise the next sweep does.
    SQLite has no row locks; its IMMEDIATE transactions serialize the sweep with everything else.
    """
    now = now or timezone.now()
    agent_ids = list(
        Reservation.objects.filter(status=Reservation.Status.HELD, expires_at__lte=now)
        .values_list("agent_id", flat=True).distinct()[:batch]
    )
    skip_locked = connection.features.has_select_for_update_skip_locked
    settled = 0
    for agent_id in agent_ids:
        with transaction.atomic():
            budget = Budget.objects.select_for_update(skip_locked=skip_locked).filter(agent_id=agent_id).first()
            if budget is None:
                continue
            stale = Reservation.objects.filter(agent_id=agent_id, status=Reservation.Status.HELD, expires_at__lte=now)
            for reservation in stale:
                if _settle_locked(budget, reservation, cost_cents=None, reason=LOCK_EXPIRED, actor="system:sweep",
                                  details=None, now=now):
                    settled += 1
    return settled


def refundable_cents(reservation: Reservation) -> int:
    refunded = BudgetEvent.objects.filter(reservation=reservation, kind=BudgetEvent.Kind.REFUND).aggregate(
        total=Sum("delta_cents"))["total"] or 0
    return max(0, (reservation.charged_cents or 0) - refunded)


def refund(reservation: Reservation, *, amount_cents: int | None = None, actor: str, reason: str) -> BudgetEvent:
    """Give back (part of) what a settled call was charged — e.g. a conservative lock_expired
    charge. Capped so total refunds never exceed the charge and the balance never the hard limit."""
    if not reason.strip():
        raise ApiError(400, "A reason is required for a refund")
    if amount_cents is not None:
        amount_cents = _check_cents(amount_cents, "amount_cents", minimum=1)
    with transaction.atomic():
        budget = Budget.objects.select_for_update().get(agent_id=reservation.agent_id)
        reservation = Reservation.objects.get(pk=reservation.pk)
        if reservation.status == Reservation.Status.HELD:
            raise ApiError(400, "The reservation is still in flight; nothing to refund yet")
        room = budget.hard_limit_cents - budget.remaining_cents
        cap = min(refundable_cents(reservation), room)
        amount = cap if amount_cents is None else min(amount_cents, cap)
        if amount <= 0:
            raise ApiError(400, "Nothing to refund: already refunded in full, or the balance is at the hard limit")
        return _record(budget, new_remaining=budget.remaining_cents + amount, kind=BudgetEvent.Kind.REFUND,
                       actor=actor, reason=reason, reservation=reservation)
