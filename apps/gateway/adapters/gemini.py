"""Gemini generateContent: native bodies (contents/generationConfig/systemInstruction/tools) and
the sidecar's `{model, prompt, temperature?, max_tokens?}` body."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from apps.gateway import bounds
from apps.gateway.adapters.base import (
    Adapter,
    Plan,
    Rendered,
    Seen,
    StreamReader,
    count,
    error_message,
    event_json,
    nonempty,
    sub,
)
from apps.gateway.billing import Bound, Usage
from apps.gateway.sse import Event
from apps.gateway.validation import (
    PATH_MODEL_RE,
    bad,
    list_of_dicts,
    model_name,
    opt_int,
    opt_number,
    output_limit,
    unbounded,
)

# REST accepts camelCase and (proto JSON) snake_case; we read both and write the one present.
TEXT_PART_KEYS = {"text", "thought", "thoughtSignature", "thought_signature", "functionCall", "function_call",
                  "functionResponse", "function_response", "executableCode", "executable_code",
                  "codeExecutionResult", "code_execution_result", "partMetadata", "part_metadata"}
MEDIA_PART_KEYS = {"inlineData": "Inline media", "inline_data": "Inline media", "fileData": "File input",
                   "file_data": "File input", "videoMetadata": "Video input", "video_metadata": "Video input"}
FUNCTION_TOOLS = {"functionDeclarations", "function_declarations"}
GROUNDING_TOOLS = {"googleSearch", "google_search", "googleSearchRetrieval", "google_search_retrieval"}
LIMIT_KEYS = ("maxOutputTokens", "max_output_tokens")
CANDIDATE_KEYS = ("candidateCount", "candidate_count")
MAX_CANDIDATES = 8


def normalize_model(model: str) -> str:
    model = model.removeprefix("models/")
    if not PATH_MODEL_RE.match(model):
        raise bad("model must be a model name")
    return model


def _either(obj: dict[str, Any], camel: str, snake: str) -> tuple[str, Any]:
    # Both spellings at once would let one be checked and clamped while the provider reads the other.
    if obj.get(camel) is not None and obj.get(snake) is not None:
        raise bad(f"Use either {camel} or {snake}, not both")
    if obj.get(camel) is not None:
        return camel, obj[camel]
    return snake, obj.get(snake)


class GenerateContent(Adapter):
    route = "generate_content"

    def __init__(self, api_version: str = "v1beta", *, stream: bool = False) -> None:
        self.api_version = api_version
        self.stream = stream  # `:streamGenerateContent?alt=sse` rather than `:generateContent`

    def plan(self, body: dict[str, Any], *, provider: str, body_bytes: int, model: str | None = None) -> Plan:
        model = normalize_model(model or "")
        contents = list_of_dicts(body.get("contents"), "contents", required=True)
        for i, content in enumerate(contents):
            self._check_content(content, f"contents[{i}]")
        _, system = _either(body, "systemInstruction", "system_instruction")
        if system is not None and not isinstance(system, str):
            if not isinstance(system, dict):
                raise bad("systemInstruction must be an object with parts")
            self._check_content(system, "systemInstruction")
        for key in ("cachedContent", "cached_content"):
            if body.get(key) is not None:
                raise unbounded("cachedContent (stored context of unknown size)")
        tools = list_of_dicts(body.get("tools"), "tools")
        for i, tool in enumerate(tools):
            for key in tool:
                if key in GROUNDING_TOOLS:
                    # Unlike Responses' `max_tool_calls`, Gemini takes no cap on searches or on the
                    # result tokens they add, so no reservation can cover them.
                    raise unbounded(f"Google Search grounding (tools[{i}].{key})")
                if key not in FUNCTION_TOOLS:
                    raise unbounded(f"Tool {key!r} (tools[{i}])")
        config_key, config = _either(body, "generationConfig", "generation_config")
        if config is None:
            config = {}
        if not isinstance(config, dict):
            raise bad("generationConfig must be an object")
        _, modalities = _either(config, "responseModalities", "response_modalities")
        if modalities is not None and (not isinstance(modalities, list) or
                                       any(str(m).upper() != "TEXT" for m in modalities)):
            raise unbounded("Non-text response modalities")
        candidates = max((opt_int(config, k, lo=1, hi=MAX_CANDIDATES, where="generationConfig.") or 1)
                         for k in CANDIDATE_KEYS)
        requested = output_limit(config, LIMIT_KEYS, where="generationConfig.")
        bound = Bound(
            input_tokens=bounds.input_bound(body_bytes, items=len(contents) + 1, tools=len(tools)),
            output_tokens=requested or settings.CAP_DEFAULT_MAX_TOKENS,  # counts thinking tokens too
            choices=candidates,
        )
        method = "streamGenerateContent?alt=sse" if self.stream else "generateContent"
        path = f"/{self.api_version}/models/{model}:{method}"
        return Plan(provider, model, body, bound, path, requested_output=requested, stream=self.stream,
                    extra={"config_key": config_key})

    @staticmethod
    def _check_content(content: dict[str, Any], where: str) -> None:
        role = content.get("role")
        if role is not None and not isinstance(role, str):
            raise bad(f"{where}.role must be a string")
        parts = list_of_dicts(content.get("parts"), f"{where}.parts", required=True)
        for j, part in enumerate(parts):
            for key, value in part.items():
                if key in MEDIA_PART_KEYS:
                    raise unbounded(f"{MEDIA_PART_KEYS[key]} ({where}.parts[{j}])")
                if key not in TEXT_PART_KEYS:
                    raise bad(f"{where}.parts[{j}]: part field {key!r} is not supported")
                if key == "text" and not isinstance(value, str):
                    raise bad(f"{where}.parts[{j}].text must be a string")
                # Multimodal function responses nest parts of their own: same rules, so no media
                # slips in a few bytes deep.
                if isinstance(value, dict) and value.get("parts") is not None:
                    GenerateContent._check_content({"parts": value["parts"]}, f"{where}.parts[{j}].{key}")

    def write_output_limit(self, plan: Plan, limit: int) -> None:
        key = plan.extra["config_key"]
        config = plan.body.get(key)
        if not isinstance(config, dict):
            config = plan.body[key] = {}
        present = [k for k in LIMIT_KEYS if config.get(k) is not None]
        for k in present:
            config[k] = min(config[k], limit)
        if not present:
            config["maxOutputTokens" if key == "generationConfig" else "max_output_tokens"] = limit
        plan.sent_output = limit

    def auth_headers(self, provider_key: str) -> dict[str, str]:
        return {"x-goog-api-key": provider_key} if provider_key else {}

    def extract_usage(self, payload: Any) -> Usage | None:
        meta = sub(payload, "usageMetadata")
        prompt = meta.get("promptTokenCount")
        fields = [count(meta.get(k)) for k in ("candidatesTokenCount", "thoughtsTokenCount",
                                                "toolUsePromptTokenCount", "cachedContentTokenCount")]
        if prompt is None or count(prompt) is None or None in fields:
            return None
        candidates_tokens, thoughts, tool_prompt, cached = fields
        queries = 0
        candidates = payload.get("candidates") if isinstance(payload, dict) else None
        for candidate in candidates if isinstance(candidates, list) else []:
            grounding = sub(candidate, "groundingMetadata")
            searched = grounding.get("webSearchQueries")
            if isinstance(searched, list):
                queries += len(searched)
        # Thinking and tool-use prompt tokens are billed on top of the visible counts.
        return Usage(input_tokens=prompt + tool_prompt, output_tokens=candidates_tokens + thoughts,
                     cached_input_tokens=cached, reasoning_tokens=thoughts, grounding_queries=queries)

    def request_id(self, payload: Any, headers: dict[str, str]) -> str:
        rid = payload.get("responseId") if isinstance(payload, dict) else None
        return rid[:200] if isinstance(rid, str) else super().request_id(payload, headers)

    def stream_reader(self, plan: Plan) -> StreamReader:
        return GeminiStreamReader(plan)


class GeminiStreamReader(StreamReader):
    """Each `data:` is a GenerateContentResponse chunk; usageMetadata (cumulative) rides on the
    chunks and is final on the one whose candidates carry a finishReason. No end event: the
    stream just ends."""

    def read(self, event: Event) -> Seen:
        chunk = event_json(event)
        if not isinstance(chunk, dict):
            return Seen()
        if chunk.get("error") is not None:
            return Seen(error=error_message(chunk) or "error")
        seen = Seen()
        candidates = chunk.get("candidates")
        finished = isinstance(candidates, list) and bool(candidates)
        for candidate in candidates if isinstance(candidates, list) else []:
            finished = finished and isinstance(candidate, dict) and candidate.get("finishReason") is not None
            for part in sub(candidate, "content").get("parts") or []:
                if isinstance(part, dict):
                    seen.deltas += nonempty(part.get("text")) + (1 if part.get("functionCall") else 0)
        meta = chunk.get("usageMetadata")
        if isinstance(meta, dict):
            seen.usage, seen.usage_final = chunk, finished
            out = [meta.get(k) for k in ("candidatesTokenCount", "thoughtsTokenCount")]
            seen.reported_output = sum(v for v in out if isinstance(v, int) and v >= 0)
        return seen


def completion_text(payload: Any) -> str | None:
    candidates = payload.get("candidates") if isinstance(payload, dict) else None
    if not isinstance(candidates, list) or not candidates or not isinstance(candidates[0], dict):
        return None
    parts = sub(candidates[0], "content").get("parts")
    texts = [p["text"] for p in parts or [] if isinstance(p, dict) and isinstance(p.get("text"), str)
             and not p.get("thought")]
    return "\n".join(texts) if texts else None


class SidecarGenerateContent(GenerateContent):
    """`/v1/agents/{a}/runs/{r}/gemini/generateContent` with the sidecar's simple body."""

    route = "gemini_run"

    def plan(self, body: dict[str, Any], *, provider: str, body_bytes: int, model: str | None = None) -> Plan:
        model = normalize_model(model_name(body))
        prompt = body.get("prompt")
        if not isinstance(prompt, str):
            raise bad("prompt is required and must be a string")
        temperature = opt_number(body, "temperature")
        requested = opt_int(body, "max_tokens", lo=1, hi=10_000_000)
        config: dict[str, Any] = {}
        if temperature is not None:
            config["temperature"] = temperature
        native = {"contents": [{"role": "user", "parts": [{"text": prompt}]}], "generationConfig": config}
        if requested is not None:
            config["maxOutputTokens"] = requested
        plan = super().plan(native, provider=provider, body_bytes=body_bytes, model=model)
        return plan

    def render(self, plan: Plan, status: int, content: bytes, payload: Any, breakdown: dict | None) -> Rendered:
        if status >= 400 or not isinstance(payload, dict):
            return Rendered(status, content)
        usage = breakdown["usage"] if breakdown else {}
        return Rendered(status, json.dumps({
            "completion": completion_text(payload),
            "usage": {"tokens_in": usage.get("input_tokens"), "tokens_out": usage.get("output_tokens")},
            "billing_breakdown": breakdown,
        }).encode())
