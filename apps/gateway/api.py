"""Proxy routes (SPEC §3). Thin: pick the adapter and provider, hand over to the flow."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from apps.core.errors import ApiError
from apps.gateway import adapters, flow

# Authenticated by the flow itself (`flow.authenticate`, scope cap:use), in the same thread hop as
# admission; Ninja's auth would cost a hop of its own on every call.
router = Router(tags=["gateway"], auth=None)

RUN = "/v1/agents/{agent_id}/runs/{run_id}"


# --- explicit agent and run in the path -------------------------------------------------------


@router.post(f"{RUN}/openai/chat/completions")
async def openai_chat(request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
    return await flow.proxy(request, adapters.CHAT, provider="openai", agent_id=agent_id, run_id=run_id)


@router.post(f"{RUN}/openai/responses")
async def openai_responses(request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
    return await flow.proxy(request, adapters.RESPONSES, provider="openai", agent_id=agent_id, run_id=run_id)


@router.post(f"{RUN}/grok/chat/completions")
async def grok_chat(request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
    return await flow.proxy(request, adapters.CHAT, provider="grok", agent_id=agent_id, run_id=run_id)


@router.post(f"{RUN}/grok/responses")
async def grok_responses(request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
    return await flow.proxy(request, adapters.RESPONSES, provider="grok", agent_id=agent_id, run_id=run_id)


@router.post(f"{RUN}/anthropic/messages")
async def anthropic_messages(request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
    return await flow.proxy(request, adapters.ANTHROPIC_RUN, provider="anthropic", agent_id=agent_id, run_id=run_id)


@router.post(f"{RUN}/gemini/generateContent")
async def gemini_generate(request: HttpRequest, agent_id: str, run_id: str) -> HttpResponse:
    return await flow.proxy(request, adapters.GEMINI_RUN, provider="gemini", agent_id=agent_id, run_id=run_id)


# --- provider-native paths: agent (and run) from headers --------------------------------------


def _headers(request: HttpRequest) -> dict[str, str | None]:
    # A missing agent header is reported by the flow, after authentication.
    return {"agent_id": None, "run_id": request.headers.get("x-cynsta-run-id")}


@router.post("/v1/chat/completions")
async def native_chat(request: HttpRequest) -> HttpResponse:
    return await flow.proxy(request, adapters.CHAT, provider="openai", **_headers(request))


@router.post("/v1/responses")
async def native_responses(request: HttpRequest) -> HttpResponse:
    return await flow.proxy(request, adapters.RESPONSES, provider="openai", **_headers(request))


@router.post("/v1/messages")
async def native_messages(request: HttpRequest) -> HttpResponse:
    return await flow.proxy(request, adapters.MESSAGES, provider="anthropic", **_headers(request))


async def _gemini(request: HttpRequest, adapter: adapters.Adapter, streamer: adapters.Adapter,
                  model_action: str) -> HttpResponse:
    # google-genai posts to `models/{model}:{method}`; one path parameter carries both.
    model, _, method = model_action.rpartition(":")
    if method == "streamGenerateContent" and model:
        # Without alt=sse Gemini streams one JSON array; SDKs (google-genai included) ask for SSE.
        if request.GET.get("alt") != "sse":
            raise ApiError(400, "streamGenerateContent is supported with alt=sse only (Server-Sent Events)",
                           code="streaming_unsupported")
        adapter = streamer
    elif method != "generateContent" or not model:
        raise ApiError(404, f"Unsupported Gemini method {method or model_action!r}")
    return await flow.proxy(request, adapter, provider="gemini", model=model, **_headers(request))


@router.post("/v1beta/models/{model_action}")
async def gemini_v1beta(request: HttpRequest, model_action: str) -> HttpResponse:
    return await _gemini(request, adapters.GEMINI_V1BETA, adapters.GEMINI_STREAM_V1BETA, model_action)


@router.post("/v1/models/{model_action}")
async def gemini_v1(request: HttpRequest, model_action: str) -> HttpResponse:
    return await _gemini(request, adapters.GEMINI_V1, adapters.GEMINI_STREAM_V1, model_action)
