"""The input bound: how many tokens a request can be billed for, at most, before we send it.

The argument (also in the README): every tokenizer the four providers use is byte-level (OpenAI
o200k/cl100k, Anthropic, xAI: byte-level BPE; Gemini: SentencePiece with byte fallback), so each
token covers at least one byte of the text it encodes and a text of N UTF-8 bytes is at most N
tokens. Every billable text of a request — message content in every accepted form, names, system
prompts, tool definitions, tool calls and results — is a JSON string inside the request body,
and JSON escaping only ever lengthens a string, so the body's byte length bounds them all at
once, including fields we do not read. What the body does not contain is added explicitly: the
chat-template tokens per message (role markers, separators), the reply priming, and the hidden
preambles providers add when tools are declared. Content whose tokens are not proportional to
its bytes (images, audio, files, references to stored state) is refused by the adapters.
"""

from __future__ import annotations

from django.conf import settings

REQUEST_OVERHEAD_TOKENS = 64  # BOS/EOS, reply priming, hidden separators around the conversation
ITEM_OVERHEAD_TOKENS = 16  # per message/content/tool: role markers and separators (OpenAI uses 3-4)
TOOLS_OVERHEAD_TOKENS = 256  # hidden tool namespace preamble (OpenAI, Gemini)
ANTHROPIC_TOOLS_OVERHEAD_TOKENS = 1024  # Anthropic's tool-use system prompt (documented at 346 tokens)


def input_bound(body_bytes: int, *, items: int, tools: int, tools_overhead: int = TOOLS_OVERHEAD_TOKENS) -> int:
    return body_bytes + REQUEST_OVERHEAD_TOKENS + ITEM_OVERHEAD_TOKENS * (items + tools) + (
        tools_overhead if tools else 0)


def hosted_tool_calls(requested: int | None) -> int:
    """How many provider-side tool calls a request may make (the configured cap wins)."""
    cap = settings.CAP_MAX_HOSTED_TOOL_CALLS
    return cap if requested is None else min(requested, cap)
