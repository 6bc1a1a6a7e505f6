"""The enforcement flow, written once for every route: preflight → reserve → call → settle.

    plan      adapter validates and bounds the request (pure, no I/O)            → 400
    admit     one thread hop: agent lookup, rate card, `reservations.reserve`   → 404 / 400 / 409 / 402
    call      the pooled async client, no transaction open, total deadline < TTL
    settle    one thread hop: realized cost → `reservations.settle` (+ usage record), exactly once

Whatever happens after the reservation exists — provider error, timeout, dropped connection,
our own bug, the client going away — ends in exactly one settle; a crash is settled by expiry.
The call step is the only part a stream replaces: `_stream` opens the upstream stream and hands
it to `streaming.StreamRelay`, which feeds the usage-carrying event to `adapter.extract_usage`
and ends in the same `_settle`, exactly once, however the stream ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from apps.accounts.auth import authenticate_key, key_from_request
from apps.accounts.models import SCOPE_USE, ApiKey
from apps.budgets import reservations
from apps.budgets.models import Reservation
from apps.core.errors import ApiError, error_response
from apps.gateway import billing, streaming, upstream
from apps.gateway.adapters import Adapter, Plan
from apps.gateway.receivers import CallDetails
from apps.gateway.validation import parse_body
from apps.pricing.rates import RateCard
from apps.pricing.selectors import UnknownModel, get_rate_card

logger = logging.getLogger(__name__)

# Charged the reservation: the provider may have billed and we cannot know how much.
MAYBE_BILLED = {"timeout", "connection_error", "usage_missing", "client_disconnected", "internal_error",
                "output_capped", "stream_error"}


@dataclass
class Admission:
    reservation: Reservation
    card: RateCard
    pricing_version: int
    remaining_before: int


def parse_run_id(raw: str | None) -> uuid.UUID:
    if raw is None or raw == "":
        return uuid.uuid4()
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise ApiError(400, "run_id must be a UUID") from None


def header_agent_id(request: HttpRequest) -> str:
    agent_id = request.headers.get("x-cynsta-agent-id")
    if not agent_id:
        raise ApiError(400, "Missing x-cynsta-agent-id header", code="missing_agent_id")
    return agent_id


def authenticate(request: HttpRequest) -> ApiKey:
    return authenticate_key(key_from_request(request), (SCOPE_USE,))


def _admit(request: HttpRequest, agent_id: str, run_id: uuid.UUID, adapter: Adapter,
           planned: Plan | ApiError) -> tuple[ApiKey, Admission]:
    # Authentication shares this thread hop with admission (one hop fewer per call); it still
    # comes first, so a caller without a valid key learns nothing about its request body.
    key = authenticate(request)
    if isinstance(planned, ApiError):
        raise planned
    plan = planned
    try:
        version, card = get_rate_card(plan.provider, plan.model)
    except UnknownModel as exc:
        raise ApiError(400, str(exc), code="unknown_model") from None
    sized: list[billing.Sizing] = []

    def size(available_cents: int) -> int:
        sized.append(billing.size_for(card, plan.bound, available_cents))
        return sized[-1].wcec_cents

    reservation, remaining = reservations.reserve(
        (key.organization, agent_id), run_id=run_id, size=size, provider=plan.provider, model=plan.model,
        pricing_version=version,
    )
    adapter.write_output_limit(plan, sized[-1].output_limit)
    return key, Admission(reservation, card, version, remaining)


def _settle(key: ApiKey, adapter: Adapter, plan: Plan, admission: Admission, ex: upstream.Exchange,
            termination: str, payload: Any, stream: streaming.StreamFacts | None = None,
            ) -> tuple[reservations.Settlement, dict | None]:
    # A stream that ended otherwise than "ok" may still have delivered the provider's final usage.
    usage = adapter.extract_usage(payload) if termination == "ok" or (stream and stream.usage_final) else None
    breakdown = None
    if usage is not None:
        breakdown = billing.cost_breakdown(provider=plan.provider, model=plan.model, card=admission.card, usage=usage)
        cost: int | None = breakdown["totals"]["realized_cents_ceiled"]
    else:
        cost = None if termination in MAYBE_BILLED else 0
    store = key.organization.store_bodies
    details = CallDetails(
        organization_id=key.organization_id, route=adapter.route, termination=termination,
        upstream_status=ex.status, provider_request_id=adapter.request_id(payload, ex.headers),
        usage=breakdown["usage"] if breakdown else None,
        realized_microcents=breakdown["totals"]["realized_microcents"] if breakdown else None,
        billing_breakdown=breakdown, output_limit_requested=plan.requested_output,
        output_limit_sent=plan.sent_output, latency_ms=ex.latency_ms,
        note="" if termination == "ok" else ex.content[:300].decode("utf-8", "replace") if ex.error else "",
        request_body=plan.body if store else None,
        response_body=ex.content.decode("utf-8", "replace") if store and ex.content else None,
    )
    if stream is not None:
        details.streamed, details.ttfb_ms = True, stream.ttfb_ms
        details.note = details.note if stream.note is None else stream.note
    settlement = reservations.settle(admission.reservation, cost_cents=cost, reason=termination,
                                     actor=f"key:{key.prefix}", details=details)
    return settlement, breakdown


async def _release_abandoned(admit: asyncio.Future, adapter: Adapter, planned: Plan | ApiError) -> None:
    try:
        key, admission = await admit
    except Exception:  # refused (401/402/409/...): nothing was reserved
        return
    not_sent = upstream.Exchange(error="not_sent", sent=False)
    await sync_to_async(_settle)(key, adapter, planned, admission, not_sent, "client_left_before_call", None)


def _classify(ex: upstream.Exchange) -> tuple[str, Any]:
    if ex.error:
        return ex.error, None
    try:
        payload = json.loads(ex.content) if ex.content else None
    except ValueError:
        payload = None
    if ex.status is not None and ex.status >= 400:
        return "provider_error", payload
    return ("ok" if isinstance(payload, dict) else "usage_missing"), payload


async def proxy(request: HttpRequest, adapter: Adapter, *, provider: str, agent_id: str | None, run_id: str | None,
                model: str | None = None) -> HttpResponse:
    raw = request.body
    run_uuid = uuid.uuid4()
    planned: Plan | ApiError
    try:  # request errors are raised after authentication, inside `_admit`
        if agent_id is None:
            agent_id = header_agent_id(request)
        run_uuid = parse_run_id(run_id)
        planned = adapter.plan(parse_body(raw), provider=provider, body_bytes=len(raw), model=model)
    except ApiError as exc:
        planned = exc
    admit = asyncio.ensure_future(sync_to_async(_admit)(request, agent_id or "", run_uuid, adapter, planned))
    try:
        key, admission = await asyncio.shield(admit)
    except asyncio.CancelledError:
        # The client left while we were admitting. The admission thread runs on and may commit a
        # reservation for a call we will never make: release it (charge 0) rather than leave it to
        # expire, be charged in full and block the agent's run slot until then.
        await asyncio.shield(_release_abandoned(admit, adapter, planned))
        raise
    plan: Plan = planned  # type: ignore[assignment]  (`_admit` raised if it was an error)
    if plan.stream:
        return await _stream(request, key, adapter, plan, admission, run_uuid, provider)

    settle = sync_to_async(_settle)
    ex = upstream.Exchange(error="internal_error")
    try:
        url = settings.PROVIDER_BASE_URLS[provider] + plan.upstream_path
        headers = upstream.forward_headers(request.headers, adapter.auth_headers(settings.PROVIDER_KEYS[provider]))
        ex = await upstream.post(url, json.dumps(plan.body, ensure_ascii=False).encode(), headers)
        termination, payload = _classify(ex)
    except asyncio.CancelledError:
        # The client went away (Django cancels the view). Settle anyway, shielded, then stop.
        await asyncio.shield(settle(key, adapter, plan, admission, ex, "client_disconnected", None))
        raise
    except Exception:
        logger.exception("gateway call failed after reserving %s", admission.reservation.pk)
        termination, payload = ("internal_error" if ex.sent else "not_sent"), None
    settlement, breakdown = await asyncio.shield(settle(key, adapter, plan, admission, ex, termination, payload))

    response = _respond(adapter, plan, ex, termination, payload, breakdown)
    response["x-cynsta-run-id"] = str(run_uuid)
    response["x-cynsta-reservation-id"] = str(admission.reservation.pk)
    response["x-cynsta-reserved-cents"] = str(admission.reservation.amount_cents)
    response["x-cynsta-charged-cents"] = str(settlement.charged_cents)
    response["x-cynsta-remaining-cents"] = str(settlement.remaining_cents)
    if plan.sent_output is not None:
        response["x-cynsta-output-limit"] = str(plan.sent_output)
    return response


def _respond(adapter: Adapter, plan: Plan, ex: upstream.Exchange, termination: str, payload: Any,
             breakdown: dict | None) -> HttpResponse:
    if termination == "timeout":
        return error_response(504, "The provider did not answer in time; the reservation was charged",
                              code="upstream_timeout")
    if termination in ("connection_error", "internal_error", "client_disconnected"):
        return error_response(502, "The connection to the provider failed mid-call; the reservation was charged",
                              code="upstream_connection_error")
    if termination == "not_sent":
        return error_response(502, "Could not reach the provider; nothing was charged", code="upstream_unreachable")
    rendered = adapter.render(plan, ex.status or 502, ex.content, payload, breakdown)
    response = HttpResponse(rendered.content, status=rendered.status, content_type=rendered.content_type)
    for name, value in ex.headers.items():
        response[name] = value
    return response


async def _stream(request: HttpRequest, key: ApiKey, adapter: Adapter, plan: Plan, admission: Admission,
                  run_uuid: uuid.UUID, provider: str) -> HttpResponse:
    """The call step of a streamed request: open the stream; relay it, or answer like a
    non-streamed call when there is no stream (provider error status, unreachable, not SSE)."""
    adapter.prepare_stream(plan)
    reader = adapter.stream_reader(plan)
    settle = sync_to_async(_settle)
    deadline = asyncio.get_running_loop().time() + settings.UPSTREAM_TIMEOUT_SECONDS
    started = time.perf_counter()
    ex = upstream.Exchange(error="internal_error")
    opened = None
    try:
        url = settings.PROVIDER_BASE_URLS[provider] + plan.upstream_path
        headers = upstream.forward_headers(request.headers, adapter.auth_headers(settings.PROVIDER_KEYS[provider]))
        headers["accept"] = "text/event-stream"
        ex, opened = await upstream.open_stream(url, json.dumps(plan.body, ensure_ascii=False).encode(), headers,
                                                deadline=deadline)
        termination, payload = ("", None) if opened is not None else _classify(ex)
    except asyncio.CancelledError:
        await asyncio.shield(settle(key, adapter, plan, admission, ex, "client_disconnected", None,
                                    streaming.StreamFacts()))
        raise
    except Exception:
        logger.exception("gateway stream failed after reserving %s", admission.reservation.pk)
        termination, payload = ("internal_error" if ex.sent else "not_sent"), None

    if opened is None:
        ex.latency_ms = int((time.perf_counter() - started) * 1000)
        settlement, breakdown = await asyncio.shield(settle(key, adapter, plan, admission, ex, termination, payload,
                                                            streaming.StreamFacts()))
        response = _respond(adapter, plan, ex, termination, payload, breakdown)
        response["x-cynsta-charged-cents"] = str(settlement.charged_cents)
        response["x-cynsta-remaining-cents"] = str(settlement.remaining_cents)
    else:
        def settle_stream(termination: str, payload: Any, facts: streaming.StreamFacts) -> Any:
            return _settle(key, adapter, plan, admission, ex, termination, payload, facts)[0]

        relay = streaming.StreamRelay(
            opened, adapter, reader, ex=ex, covered_output=(plan.sent_output or 0) * plan.bound.choices,
            deadline=deadline, started=started, store=key.organization.store_bodies, settle=settle_stream)
        response = StreamingHttpResponse(relay, status=ex.status or 200,
                                         content_type=ex.headers.get("content-type", "text/event-stream"))
        for name, value in ex.headers.items():
            response[name] = value
        # Charged and remaining are only known after the last byte; HTTP headers go first.
        response["cache-control"] = "no-cache"
        response["x-accel-buffering"] = "no"  # tell a fronting nginx not to buffer the stream
    response["x-cynsta-run-id"] = str(run_uuid)
    response["x-cynsta-reservation-id"] = str(admission.reservation.pk)
    response["x-cynsta-reserved-cents"] = str(admission.reservation.amount_cents)
    if plan.sent_output is not None:
        response["x-cynsta-output-limit"] = str(plan.sent_output)
    return response
