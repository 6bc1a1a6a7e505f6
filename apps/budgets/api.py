"""Management routes for agents, budgets and runs (SPEC §3). Thin: parse, call, render."""

from __future__ import annotations

import uuid

from django.http import HttpRequest
from ninja import Router

from apps.accounts.auth import manage_auth, read_auth, use_auth
from apps.budgets import selectors, services
from apps.budgets.schemas import AgentCreateIn, AgentUpdateIn, BudgetSetIn
from apps.core.errors import ApiError

router = Router(tags=["agents"])


def _actor(request: HttpRequest) -> str:
    return f"key:{request.auth.prefix}"


@router.post("", auth=manage_auth)
def create_agent(request: HttpRequest, payload: AgentCreateIn | None = None):
    agent = services.create_agent(request.auth.organization, name=payload.name if payload else None)
    return selectors.agent_view(agent)


@router.get("", auth=read_auth)
def list_agents(request: HttpRequest):
    return {"agents": [selectors.agent_view(a) for a in selectors.list_agents(request.auth.organization)]}


@router.get("/{agent_id}", auth=read_auth)
def get_agent(request: HttpRequest, agent_id: uuid.UUID):
    return selectors.agent_view(selectors.get_agent(request.auth.organization, agent_id))


@router.patch("/{agent_id}", auth=manage_auth)
def update_agent(request: HttpRequest, agent_id: uuid.UUID, payload: AgentUpdateIn):
    agent = selectors.get_agent(request.auth.organization, agent_id)
    if payload.name is None and payload.max_concurrent_runs is None:
        raise ApiError(400, "name is required")
    agent = services.update_agent(agent, name=payload.name, max_concurrent_runs=payload.max_concurrent_runs)
    return selectors.agent_view(agent)


@router.delete("/{agent_id}", auth=manage_auth)
def delete_agent(request: HttpRequest, agent_id: uuid.UUID):
    agent = services.delete_agent(selectors.get_agent(request.auth.organization, agent_id))
    return {"agent_id": str(agent.id), "deleted": True}


@router.post("/{agent_id}/budget", auth=manage_auth)
def set_budget(request: HttpRequest, agent_id: uuid.UUID, payload: BudgetSetIn):
    agent = selectors.get_agent(request.auth.organization, agent_id)
    services.set_budget(
        agent, hard_limit_cents=payload.hard_limit_cents, topup_cents=payload.topup_cents, actor=_actor(request),
        reason="budget set via API",
    )
    return selectors.budget_view(agent)


@router.get("/{agent_id}/budget", auth=read_auth)
def get_budget(request: HttpRequest, agent_id: uuid.UUID):
    return selectors.budget_view(selectors.get_agent(request.auth.organization, agent_id))


@router.post("/{agent_id}/runs", auth=use_auth)
def create_run(request: HttpRequest, agent_id: uuid.UUID):
    run = services.create_run(selectors.get_agent(request.auth.organization, agent_id))
    return {"run_id": str(run.id), "agent_id": str(run.agent_id)}
