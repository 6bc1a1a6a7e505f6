"""Every write of money and agents. Views, admin actions, tasks and commands call these.

Each money change locks the budget row (`select_for_update`), appends one `BudgetEvent` with the
delta and the balance after it, and updates the cached balance, all in one short transaction.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Organization
from apps.budgets.models import Agent, Budget, BudgetEvent, Reservation, Run
from apps.core.errors import ApiError

# Budget amounts are 64-bit integers in the database; we cap far below 2**63 so that sums of
# many events can never overflow either (1e14 cents is a trillion dollars).
MAX_CENTS = 10**14
MAX_NAME_LENGTH = 200
MAX_CONCURRENT_RUNS_LIMIT = 10_000


def clean_name(name: object, *, required: bool) -> str:
    if name is None:
        if required:
            raise ApiError(400, "name is required")
        return ""
    if not isinstance(name, str):
        raise ApiError(400, "name must be a string")
    cleaned = name.strip()
    if not cleaned:
        raise ApiError(400, "name must not be blank")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise ApiError(400, f"name must be at most {MAX_NAME_LENGTH} characters")
    if any(ord(ch) < 32 for ch in cleaned):
        raise ApiError(400, "name must not contain control characters")
    return cleaned


def _check_cents(value: int, field: str, *, minimum: int) -> int:
    # bool is an int subclass in Python; a budget of `true` cents is a client bug, not 1 cent.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"{field} must be an integer number of cents")
    if value < minimum:
        raise ApiError(400, f"{field} must be >= {minimum}")
    if value > MAX_CENTS:
        raise ApiError(400, f"{field} must be <= {MAX_CENTS}")
    return value


# --- agents -----------------------------------------------------------------------------------


@transaction.atomic
def create_agent(organization: Organization, *, name: object = None) -> Agent:
    agent = Agent.objects.create(organization=organization, name=clean_name(name, required=False))
    Budget.objects.create(agent=agent)
    return agent


def check_max_concurrent_runs(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, "max_concurrent_runs must be an integer")
    if not 1 <= value <= MAX_CONCURRENT_RUNS_LIMIT:
        raise ApiError(400, f"max_concurrent_runs must be between 1 and {MAX_CONCURRENT_RUNS_LIMIT}")
    return value


def update_agent(agent: Agent, *, name: object = None, max_concurrent_runs: object = None) -> Agent:
    fields = []
    if name is not None:
        agent.name = clean_name(name, required=True)
        fields.append("name")
    if max_concurrent_runs is not None:
        agent.max_concurrent_runs = check_max_concurrent_runs(max_concurrent_runs)
        fields.append("max_concurrent_runs")
    if fields:
        agent.save(update_fields=fields)
    return agent


@transaction.atomic
def delete_agent(agent: Agent) -> Agent:
    # Lock the budget row so no reservation can slip in between the check and the delete.
    Budget.objects.select_for_update().get(agent=agent)
    if Reservation.objects.filter(agent=agent, status=Reservation.Status.HELD).exists():
        raise ApiError(409, "Agent has in-flight reservations", code="agent_busy")
    Agent.objects.filter(pk=agent.pk, deleted_at__isnull=True).update(deleted_at=timezone.now())
    agent.refresh_from_db(fields=["deleted_at"])
    return agent


def create_run(agent: Agent) -> Run:
    return Run.objects.create(agent=agent)


# --- money ------------------------------------------------------------------------------------


def _lock_budget(agent: Agent) -> Budget:
    return Budget.objects.select_for_update().get(agent=agent)


def _record(
    budget: Budget,
    *,
    new_remaining: int,
    new_hard_limit: int | None = None,
    kind: str,
    actor: str,
    reason: str = "",
    reservation: Reservation | None = None,
) -> BudgetEvent:
    """Append the event and move the cached balance with it. Caller holds the row lock."""
    delta = new_remaining - budget.remaining_cents
    budget.remaining_cents = new_remaining
    if new_hard_limit is not None:
        budget.hard_limit_cents = new_hard_limit
    budget.updated_at = timezone.now()
    fields = ["remaining_cents", "hard_limit_cents", "updated_at"]
    if budget.configured_at is None and kind in (BudgetEvent.Kind.TOPUP, BudgetEvent.Kind.LIMIT_CHANGE):
        budget.configured_at = budget.updated_at
        fields.append("configured_at")
    budget.save(update_fields=fields)
    return BudgetEvent.objects.create(
        agent_id=budget.agent_id,
        kind=kind,
        delta_cents=delta,
        balance_after_cents=budget.remaining_cents,
        hard_limit_after_cents=budget.hard_limit_cents,
        actor=actor[:200],
        reason=reason,
        reservation=reservation,
        created_at=budget.updated_at,
    )


@transaction.atomic
def set_budget(agent: Agent, *, hard_limit_cents: int, topup_cents: int = 0, actor: str, reason: str = "") -> Budget:
    """The sidecar's rule, so numbers match: the first set makes
    `remaining = min(limit, topup or limit)`, later ones `remaining = min(limit, remaining + topup)`."""
    hard_limit_cents = _check_cents(hard_limit_cents, "hard_limit_cents", minimum=1)
    topup_cents = _check_cents(topup_cents, "topup_cents", minimum=0)
    budget = _lock_budget(agent)
    if budget.configured_at is None:
        new_remaining = min(hard_limit_cents, topup_cents if topup_cents > 0 else hard_limit_cents)
    else:
        new_remaining = min(hard_limit_cents, budget.remaining_cents + topup_cents)
    kind = BudgetEvent.Kind.TOPUP if topup_cents > 0 else BudgetEvent.Kind.LIMIT_CHANGE
    _record(budget, new_remaining=new_remaining, new_hard_limit=hard_limit_cents, kind=kind, actor=actor, reason=reason)
    return budget


@transaction.atomic
def top_up(agent: Agent, *, amount_cents: int, actor: str, reason: str) -> Budget:
    """Add to `remaining_cents` under the existing hard limit. A top-up that the limit would cut
    is refused rather than silently shortened: staff raise the limit first."""
    amount_cents = _check_cents(amount_cents, "amount_cents", minimum=1)
    budget = _lock_budget(agent)
    if budget.remaining_cents + amount_cents > budget.hard_limit_cents:
        headroom = budget.hard_limit_cents - budget.remaining_cents
        raise ApiError(
            400,
            f"Top-up of {amount_cents} cents would exceed the hard limit of {budget.hard_limit_cents} cents "
            f"(room for {headroom}); raise the hard limit first",
        )
    _record(budget, new_remaining=budget.remaining_cents + amount_cents, kind=BudgetEvent.Kind.TOPUP,
            actor=actor, reason=reason)
    return budget


@transaction.atomic
def adjust(agent: Agent, *, delta_cents: int, actor: str, reason: str) -> Budget:
    """A manual correction in either direction; the balance must stay within [0, hard limit]."""
    if isinstance(delta_cents, bool) or not isinstance(delta_cents, int) or delta_cents == 0:
        raise ApiError(400, "delta_cents must be a non-zero integer")
    if not reason.strip():
        raise ApiError(400, "A reason is required for a manual adjustment")
    budget = _lock_budget(agent)
    new_remaining = budget.remaining_cents + delta_cents
    if not 0 <= new_remaining <= budget.hard_limit_cents:
        raise ApiError(
            400, f"Adjustment would put the balance at {new_remaining} cents, outside 0..{budget.hard_limit_cents}"
        )
    _record(budget, new_remaining=new_remaining, kind=BudgetEvent.Kind.ADJUSTMENT, actor=actor, reason=reason)
    return budget
