"""Request bodies of the management API. Strict types: "5000", 5.0 and true are not cents.

Unknown fields are ignored (the SDK contract declares `additionalProperties: true`).
"""

from __future__ import annotations

from ninja import Field, Schema
from pydantic import StrictInt, StrictStr

from apps.budgets.services import MAX_CENTS


class AgentCreateIn(Schema):
    name: StrictStr | None = None


class AgentUpdateIn(Schema):
    name: StrictStr | None = None
    max_concurrent_runs: StrictInt | None = None


class BudgetSetIn(Schema):
    hard_limit_cents: StrictInt = Field(..., ge=1, le=MAX_CENTS)
    topup_cents: StrictInt = Field(0, ge=0, le=MAX_CENTS)
