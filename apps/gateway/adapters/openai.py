"""OpenAI Chat Completions and Responses (also xAI's Grok, which speaks the same formats)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings

from apps.gateway import bounds
from apps.gateway.adapters.base import (
    Adapter,
    Plan,
    Seen,
    StreamReader,
    count,
    error_message,
    event_json,
    nonempty,
    sub,
    tokens,
)
from apps.gateway.billing import Bound, Usage
from apps.gateway.sse import Event
from apps.gateway.validation import (
    bad,
    list_of_dicts,
    model_name,
    opt_int,
    output_limit,
    stream_flag,
    type_field,
    unbounded,
    write_limit,
)

CHAT_LIMIT_KEYS = ("max_completion_tokens", "max_tokens")
CHAT_TEXT_PARTS = {"text", "refusal"}
CHAT_TOOL_TYPES = {"function", "custom"}
MAX_CHOICES = 128

RESPONSES_TEXT_PARTS = {"input_text", "output_text", "refusal", "summary_text", "reasoning_text"}
# Items a conversation may carry back: all plain text/JSON whose bytes bound their tokens.
RESPONSES_ITEMS = {"message", "function_call", "function_call_output", "reasoning", "custom_tool_call",
                   "custom_tool_call_output", "web_search_call", "file_search_call"}
HOSTED_TOOLS = {
    "web_search": "web_search_call", "web_search_preview": "web_search_call",
    "web_search_preview_2025_03_11": "web_search_call", "web_search_2025_08_26": "web_search_call",
    "file_search": "file_search_call",
}
MEDIA = {"image_url": "Image input", "input_image": "Image input", "input_audio": "Audio input",
         "file": "File input", "input_file": "File input"}


def _media_or_unknown(kind: Any, where: str) -> Exception:
    if kind in MEDIA:
        return unbounded(f"{MEDIA[kind]} ({where})")
    return bad(f"{where}: content type {kind!r} is not supported")


# Tiers billed at the standard rate card or below. `priority`, `scale` and `auto` (which may
# resolve to one of them) are billed above it, so no price we hold bounds them.
STANDARD_SERVICE_TIERS = {None, "default", "flex"}


def check_service_tier(body: dict[str, Any]) -> None:
    tier = body.get("service_tier")
    if not isinstance(tier, str | None):
        raise bad("service_tier must be a string")
    if tier not in STANDARD_SERVICE_TIERS:
        raise unbounded(f"service_tier {tier!r} (billed above the standard rates of the price list)")


def typed_parts(content: Any, where: str, allowed: set[str]) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each part of a content array as (its location, the part, its type); non-objects, media and
    unknown types are refused."""
    if not isinstance(content, list):
        raise bad(f"{where} must be a string or an array of parts")
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if not isinstance(part, dict):
            raise bad(f"{at} must be an object")
        kind = type_field(part, at)
        if kind not in allowed:
            raise _media_or_unknown(kind, at)
        yield at, part, kind


class _OpenAIBase(Adapter):
    def auth_headers(self, provider_key: str) -> dict[str, str]:
        return {"authorization": f"Bearer {provider_key}"} if provider_key else {}


class ChatCompletions(_OpenAIBase):
    route = "chat"

    def plan(self, body: dict[str, Any], *, provider: str, body_bytes: int, model: str | None = None) -> Plan:
        model = model_name(body)
        stream = stream_flag(body)
        check_service_tier(body)
        if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
            raise bad("stream_options must be an object")
        messages = list_of_dicts(body.get("messages"), "messages", required=True)
        for i, message in enumerate(messages):
            self._check_message(message, f"messages[{i}]")
        tools = list_of_dicts(body.get("tools"), "tools")
        for i, tool in enumerate(tools):
            if type_field(tool, f"tools[{i}]", "function") not in CHAT_TOOL_TYPES:
                raise unbounded(f"Tool type {tool.get('type')!r} (tools[{i}])")
        functions = list_of_dicts(body.get("functions"), "functions")
        if body.get("web_search_options") is not None:
            raise unbounded("web_search_options (search fees and result tokens)")
        modalities = body.get("modalities")
        if modalities is not None and not isinstance(modalities, list):
            raise bad("modalities must be an array")
        if body.get("audio") is not None or "audio" in (modalities or []):
            raise unbounded("Audio output")
        if body.get("prediction") is not None:
            raise unbounded("prediction (rejected prediction tokens are billed beyond the output limit)")
        n = opt_int(body, "n", lo=1, hi=MAX_CHOICES) or 1
        requested = output_limit(body, CHAT_LIMIT_KEYS)
        bound = Bound(
            input_tokens=bounds.input_bound(body_bytes, items=len(messages), tools=len(tools) + len(functions)),
            output_tokens=requested or settings.CAP_DEFAULT_MAX_TOKENS,
            choices=n,
        )
        return Plan(provider, model, body, bound, "/chat/completions", requested_output=requested, stream=stream)

    @staticmethod
    def _check_message(message: dict[str, Any], where: str) -> None:
        if not isinstance(message.get("role"), str):
            raise bad(f"{where}.role is required and must be a string")
        content = message.get("content")
        if content is None or isinstance(content, str):
            return
        for at, part, kind in typed_parts(content, f"{where}.content", CHAT_TEXT_PARTS):
            if not isinstance(part.get(kind), str):
                raise bad(f"{at}.{kind} must be a string")

    def write_output_limit(self, plan: Plan, limit: int) -> None:
        # xAI documents `max_tokens`; OpenAI's reasoning models only accept `max_completion_tokens`.
        default = "max_tokens" if plan.provider == "grok" else "max_completion_tokens"
        write_limit(plan.body, CHAT_LIMIT_KEYS, limit, default)
        plan.sent_output = limit

    def extract_usage(self, payload: Any) -> Usage | None:
        usage = sub(payload, "usage")
        prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
        cached = count(sub(usage, "prompt_tokens_details").get("cached_tokens"))
        reasoning = count(sub(usage, "completion_tokens_details").get("reasoning_tokens"))
        if count(prompt) is None or count(completion) is None or prompt is None or completion is None:
            return None
        return Usage(input_tokens=prompt, output_tokens=completion, cached_input_tokens=cached or 0,
                     reasoning_tokens=reasoning or 0)

    def prepare_stream(self, plan: Plan) -> None:
        # Settlement needs the final usage chunk: ask for it whatever the client said, and
        # remember whether the client wants to see it.
        options = dict(plan.body.get("stream_options") or {})
        plan.extra["client_usage"] = options.get("include_usage") is True
        options["include_usage"] = True
        plan.body["stream_options"] = options

    def stream_reader(self, plan: Plan) -> StreamReader:
        return ChatStreamReader(plan)


class Responses(_OpenAIBase):
    route = "responses"

    def plan(self, body: dict[str, Any], *, provider: str, body_bytes: int, model: str | None = None) -> Plan:
        model = model_name(body)
        stream = stream_flag(body)
        check_service_tier(body)
        if body.get("background") not in (None, False):
            raise bad("background responses are not supported (the result would arrive after settlement)")
        for key in ("previous_response_id", "conversation", "prompt"):
            if body.get(key) is not None:
                raise unbounded(f"{key} (it pulls stored context of unknown size into the input)")
        items = self._check_input(body.get("input"))
        if body.get("instructions") is not None and not isinstance(body["instructions"], str):
            raise bad("instructions must be a string")
        tools = list_of_dicts(body.get("tools"), "tools")
        fee_kinds: set[str] = set()
        for i, tool in enumerate(tools):
            kind = type_field(tool, f"tools[{i}]")
            if kind in HOSTED_TOOLS:
                fee_kinds.add(HOSTED_TOOLS[kind])
            elif kind not in CHAT_TOOL_TYPES:
                raise unbounded(f"Tool type {kind!r} (tools[{i}])")
        requested = output_limit(body, ("max_output_tokens",))
        calls = 0
        if fee_kinds:
            calls = bounds.hosted_tool_calls(opt_int(body, "max_tool_calls", lo=1, hi=1000))
            body["max_tool_calls"] = calls  # the provider enforces the cap our bound assumes
        bound = Bound(
            input_tokens=bounds.input_bound(body_bytes, items=items, tools=len(tools)),
            output_tokens=requested or settings.CAP_DEFAULT_MAX_TOKENS,
            hosted_tool_calls=calls,
            tool_result_tokens=settings.CAP_TOOL_RESULT_TOKENS if calls else 0,
            tool_fee_kinds=tuple(sorted(fee_kinds)),
        )
        return Plan(provider, model, body, bound, "/responses", requested_output=requested, stream=stream)

    @staticmethod
    def _check_input(value: Any) -> int:
        if isinstance(value, str):
            return 1
        items = list_of_dicts(value, "input", required=True)
        for i, item in enumerate(items):
            where = f"input[{i}]"
            kind = type_field(item, where, "message")
            if kind not in RESPONSES_ITEMS:
                if kind == "item_reference":
                    raise unbounded(f"item_reference ({where})")
                raise bad(f"{where}: item type {kind!r} is not supported")
            if kind == "message":
                if not isinstance(item.get("role"), str):
                    raise bad(f"{where}.role is required and must be a string")
                Responses._check_parts(item.get("content"), f"{where}.content", required=True)
            elif kind in ("function_call_output", "custom_tool_call_output"):
                Responses._check_parts(item.get("output"), f"{where}.output", required=False)
        return len(items)

    @staticmethod
    def _check_parts(content: Any, where: str, *, required: bool) -> None:
        if isinstance(content, str) or (content is None and not required):
            return
        for at, part, _kind in typed_parts(content, where, RESPONSES_TEXT_PARTS):
            if not isinstance(part.get("text", part.get("refusal")), str):
                raise bad(f"{at} must carry its text as a string")

    def write_output_limit(self, plan: Plan, limit: int) -> None:
        write_limit(plan.body, ("max_output_tokens",), limit, "max_output_tokens")
        plan.sent_output = limit

    def extract_usage(self, payload: Any) -> Usage | None:
        usage = sub(payload, "usage")
        inp, out = usage.get("input_tokens"), usage.get("output_tokens")
        cached = count(sub(usage, "input_tokens_details").get("cached_tokens"))
        reasoning = count(sub(usage, "output_tokens_details").get("reasoning_tokens"))
        if inp is None or out is None or count(inp) is None or count(out) is None:
            return None
        tool_calls: dict[str, int] = {}
        output = payload.get("output") if isinstance(payload, dict) else None
        for item in output if isinstance(output, list) else []:
            kind = item.get("type") if isinstance(item, dict) else None
            if kind in ("web_search_call", "file_search_call"):
                tool_calls[kind] = tool_calls.get(kind, 0) + 1
        return Usage(input_tokens=inp, output_tokens=out, cached_input_tokens=cached or 0,
                     reasoning_tokens=reasoning or 0, tool_calls=tool_calls)

    def stream_reader(self, plan: Plan) -> StreamReader:
        return ResponsesStreamReader(plan)


class ChatStreamReader(StreamReader):
    """`data: {chunk}` events, then `data: [DONE]`. With include_usage every chunk carries
    `usage: null` and one last chunk has `choices: []` and the usage."""

    def read(self, event: Event) -> Seen:
        if event.data.strip() == "[DONE]":
            return Seen(terminal=True)
        chunk = event_json(event)
        if not isinstance(chunk, dict):
            return Seen()
        if chunk.get("error") is not None:
            return Seen(error=error_message(chunk) or "error")
        seen = Seen()
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            delta = sub(choice, "delta")
            seen.deltas += nonempty(delta.get("content")) + nonempty(delta.get("refusal"))
            seen.deltas += nonempty(delta.get("reasoning_content"))  # xAI's visible reasoning
            tool_calls = delta.get("tool_calls")
            for call in tool_calls if isinstance(tool_calls, list) else []:
                seen.deltas += nonempty(sub(call, "function").get("arguments"))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            seen.usage, seen.usage_final = chunk, True
            seen.reported_output = tokens(usage.get("completion_tokens"))
            # The usage-only chunk exists because we forced include_usage; hide it unless asked.
            seen.hide = choices == [] and not self.plan.extra.get("client_usage")
        return seen


RESPONSES_DELTAS = {"response.output_text.delta", "response.refusal.delta", "response.function_call_arguments.delta",
                    "response.reasoning_text.delta", "response.reasoning_summary_text.delta",
                    "response.custom_tool_call_input.delta"}
RESPONSES_DONE = {"response.completed", "response.incomplete"}  # incomplete: truncated, still billed by usage


class ResponsesStreamReader(StreamReader):
    def read(self, event: Event) -> Seen:
        obj = event_json(event)
        if not isinstance(obj, dict):
            return Seen()
        kind = obj.get("type") or event.event
        if kind in RESPONSES_DELTAS:
            return Seen(deltas=nonempty(obj.get("delta")))
        if kind in RESPONSES_DONE or kind == "response.failed":
            response = sub(obj, "response")
            seen = Seen(terminal=True)
            if isinstance(response.get("usage"), dict):
                seen.usage, seen.usage_final = response, True
                seen.reported_output = tokens(response["usage"].get("output_tokens"))
            if kind == "response.failed":
                seen.error = error_message(response) or "response.failed"
            return seen
        if kind == "error":
            return Seen(error=str(obj.get("message") or error_message(obj) or "error")[:300])
        return Seen()
