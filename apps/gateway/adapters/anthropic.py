"""Anthropic Messages: the native `/v1/messages` route and the sidecar-shaped run route."""

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
    tokens,
)
from apps.gateway.billing import Bound, Usage
from apps.gateway.sse import Event
from apps.gateway.validation import (
    bad,
    list_of_dicts,
    model_name,
    output_limit,
    stream_flag,
    type_field,
    unbounded,
)

ANTHROPIC_VERSION = "2023-06-01"
BLOCKS = {"text", "tool_use", "tool_result", "thinking", "redacted_thinking"}
MEDIA = {"image": "Image input", "document": "Document input", "container_upload": "File input",
         "search_result": "Search result input"}


class Messages(Adapter):
    route = "messages"

    def plan(self, body: dict[str, Any], *, provider: str, body_bytes: int, model: str | None = None) -> Plan:
        model = model_name(body)
        stream = stream_flag(body)
        messages = list_of_dicts(body.get("messages"), "messages", required=True)
        for i, message in enumerate(messages):
            if not isinstance(message.get("role"), str):
                raise bad(f"messages[{i}].role is required and must be a string")
            self._check_content(message.get("content"), f"messages[{i}].content")
        system = body.get("system")
        if system is not None and not isinstance(system, str):
            self._check_blocks(system, "system", allowed={"text"})
        tools = list_of_dicts(body.get("tools"), "tools")
        for i, tool in enumerate(tools):
            # Server tools (web search, code execution) and Anthropic-defined client tools (bash,
            # computer, text editor) add fees or hidden prompts we cannot bound; custom tools are JSON.
            if type_field(tool, f"tools[{i}]", "custom") != "custom":
                raise unbounded(f"Tool type {tool.get('type')!r} (tools[{i}])")
        for key in ("mcp_servers", "container"):
            if body.get(key) is not None:
                raise unbounded(key)
        requested = output_limit(body, ("max_tokens",))
        bound = Bound(
            input_tokens=bounds.input_bound(body_bytes, items=len(messages) + 1, tools=len(tools),
                                            tools_overhead=bounds.ANTHROPIC_TOOLS_OVERHEAD_TOKENS),
            output_tokens=requested or settings.CAP_DEFAULT_MAX_TOKENS,  # includes thinking tokens
        )
        return Plan(provider, model, body, bound, "/v1/messages", requested_output=requested, stream=stream)

    def _check_content(self, content: Any, where: str) -> None:
        if isinstance(content, str):
            return
        self._check_blocks(content, where, allowed=BLOCKS)

    def _check_blocks(self, blocks: Any, where: str, *, allowed: set[str]) -> None:
        if not isinstance(blocks, list):
            raise bad(f"{where} must be a string or an array of content blocks")
        for j, block in enumerate(blocks):
            if not isinstance(block, dict):
                raise bad(f"{where}[{j}] must be an object")
            kind = type_field(block, f"{where}[{j}]")
            if kind not in allowed:
                if kind in MEDIA:
                    raise unbounded(f"{MEDIA[kind]} ({where}[{j}])")
                raise bad(f"{where}[{j}]: content block type {kind!r} is not supported")
            if kind == "text" and not isinstance(block.get("text"), str):
                raise bad(f"{where}[{j}].text must be a string")
            if kind == "tool_result" and block.get("content") is not None:
                self._check_content(block["content"], f"{where}[{j}].content")

    def write_output_limit(self, plan: Plan, limit: int) -> None:
        plan.body["max_tokens"] = min(plan.body.get("max_tokens") or limit, limit)
        plan.sent_output = plan.body["max_tokens"]

    def auth_headers(self, provider_key: str) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if provider_key:
            headers["x-api-key"] = provider_key
        return headers

    def extract_usage(self, payload: Any) -> Usage | None:
        usage = sub(payload, "usage")
        inp, out = usage.get("input_tokens"), usage.get("output_tokens")
        write = count(usage.get("cache_creation_input_tokens"))
        read = count(usage.get("cache_read_input_tokens"))
        if inp is None or out is None or None in (count(inp), count(out), write, read):
            return None
        # Anthropic's input_tokens excludes cache writes and reads; billed input is all three.
        return Usage(input_tokens=inp + write + read, output_tokens=out,
                     cache_write_input_tokens=write, cache_read_input_tokens=read)

    def stream_reader(self, plan: Plan) -> StreamReader:
        return MessagesStreamReader(plan)


class MessagesStreamReader(StreamReader):
    """Usage arrives in two halves: `message_start` (input and cache fields, output so far) and
    `message_delta` (cumulative output_tokens; newer API versions repeat the input fields).
    The merged usage is settled from; it is final once message_delta carries a stop_reason."""

    def __init__(self, plan: Plan) -> None:
        super().__init__(plan)
        self.message_id = ""
        self.usage: dict[str, Any] = {}

    def read(self, event: Event) -> Seen:
        obj = event_json(event)
        if not isinstance(obj, dict):
            return Seen()
        kind = obj.get("type") or event.event
        if kind == "content_block_delta":
            delta = sub(obj, "delta")
            return Seen(deltas=nonempty(delta.get("text")) + nonempty(delta.get("partial_json"))
                        + nonempty(delta.get("thinking")))
        if kind == "message_start":
            message = sub(obj, "message")
            self.message_id = message.get("id") if isinstance(message.get("id"), str) else ""
            self.usage = dict(sub(message, "usage"))
            return self._usage(final=False)
        if kind == "message_delta":
            self.usage.update({k: v for k, v in sub(obj, "usage").items() if v is not None})
            return self._usage(final=sub(obj, "delta").get("stop_reason") is not None)
        if kind == "message_stop":
            return Seen(terminal=True)
        if kind == "error":
            return Seen(error=error_message(obj) or "error")
        return Seen()

    def _usage(self, *, final: bool) -> Seen:
        return Seen(usage={"id": self.message_id, "usage": dict(self.usage)}, usage_final=final,
                    reported_output=tokens(self.usage.get("output_tokens")))


def completion_text(payload: Any) -> str | None:
    content = payload.get("content") if isinstance(payload, dict) else None
    texts = [b["text"] for b in content or [] if isinstance(b, dict) and b.get("type") == "text"
             and isinstance(b.get("text"), str) and b["text"]]
    return "\n".join(texts) if texts else None


class SidecarMessages(Messages):
    """`/v1/agents/{a}/runs/{r}/anthropic/messages`: same body, the sidecar's response shape.

    With `stream: true` the sidecar shape (one JSON document holding the whole completion) cannot
    be streamed, so the route relays Anthropic's own SSE events unchanged, exactly like
    `/v1/messages`: any Anthropic SSE client can read it."""

    route = "anthropic_run"

    def render(self, plan: Plan, status: int, content: bytes, payload: Any, breakdown: dict | None) -> Rendered:
        if status >= 400 or not isinstance(payload, dict):
            return Rendered(status, content)
        usage = breakdown["usage"] if breakdown else {}
        return Rendered(status, json.dumps({
            "completion": completion_text(payload),
            "raw": payload,
            "usage": {"tokens_in": usage.get("input_tokens"), "tokens_out": usage.get("output_tokens")},
            "billing_breakdown": breakdown,
        }).encode())
