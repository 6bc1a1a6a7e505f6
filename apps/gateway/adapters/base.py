"""The adapter interface: everything provider-specific about one route family.

The enforcement flow (apps/gateway/flow.py) is written once against this interface:
`plan` (validate, bound) → reserve → `write_output_limit` → send `upstream_path` with
`auth_headers` → `extract_usage` → settle → `render`. A streamed call (apps/gateway/streaming.py)
reuses the same pieces plus two stream-specific ones: `prepare_stream` (e.g. force usage in the
stream) and `stream_reader`, which says what each SSE event means — output deltas, the
usage-carrying object (fed to `extract_usage`), the provider's end, an error, or an event the
client must not see.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from apps.gateway.billing import Bound, Usage
from apps.gateway.sse import Event
from apps.gateway.validation import bad, is_int


@dataclass
class Plan:
    """What preflight learned from one request."""

    provider: str  # pricing provider and upstream: openai, grok, anthropic, gemini
    model: str
    body: dict[str, Any]  # the upstream body: the client's, with only the output limit rewritten
    bound: Bound
    upstream_path: str  # appended to settings.PROVIDER_BASE_URLS[provider]
    requested_output: int | None = None  # what the client asked for (None: the default applied)
    sent_output: int | None = None  # per choice, after clamping
    stream: bool = False  # the client asked for a stream (SSE)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rendered:
    status: int
    content: bytes
    content_type: str = "application/json"


@dataclass
class Seen:
    """What one stream event means for enforcement."""

    hide: bool = False  # not forwarded to the client (e.g. a usage chunk it did not ask for)
    deltas: int = 0  # non-empty output deltas in the event; each carries at least one whole token
    reported_output: int | None = None  # cumulative output tokens the provider reported so far
    usage: Any = None  # the usage-carrying object to settle from, replacing any earlier one
    usage_final: bool = False  # `usage` is the provider's final account of the call
    terminal: bool = False  # the provider's own end-of-stream event
    error: str = ""  # an error event: its message


class StreamReader(ABC):
    """Reads one call's events in order; may keep state (e.g. Anthropic's split usage)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    @abstractmethod
    def read(self, event: Event) -> Seen: ...


def event_json(event: Event) -> Any:
    """The event's data as JSON, or None (no data, `[DONE]`, or not JSON)."""
    if not event.has_data:
        return None
    try:
        return json.loads(event.data)
    except ValueError:
        return None


def nonempty(value: Any) -> int:
    return 1 if isinstance(value, str) and value else 0


def error_message(obj: Any) -> str:
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or "error")[:300]
    return str(err)[:300] if err else ""


class Adapter(ABC):
    route: str  # for usage records: chat, responses, messages, generate_content, ...

    @abstractmethod
    def plan(self, body: dict[str, Any], *, provider: str, body_bytes: int, model: str | None = None) -> Plan:
        """Validate the request and bound it; raise ApiError(400) for what cannot be bounded."""

    @abstractmethod
    def write_output_limit(self, plan: Plan, limit: int) -> None:
        """Write the clamped per-choice output limit into `plan.body`."""

    @abstractmethod
    def auth_headers(self, provider_key: str) -> dict[str, str]: ...

    @abstractmethod
    def extract_usage(self, payload: Any) -> Usage | None:
        """Normalized usage from a response (or the usage-carrying stream event); None if absent."""

    def request_id(self, payload: Any, headers: dict[str, str]) -> str:
        rid = headers.get("x-request-id") or headers.get("request-id") or ""
        if not rid and isinstance(payload, dict) and isinstance(payload.get("id"), str):
            rid = payload["id"]
        return rid[:200]

    def render(self, plan: Plan, status: int, content: bytes, payload: Any, breakdown: dict | None) -> Rendered:
        """The response for the client. Native routes return the provider's bytes untouched."""
        return Rendered(status, content)

    def prepare_stream(self, plan: Plan) -> None:
        """Adjust `plan.body` for a streamed call (after `write_output_limit`)."""
        return None

    def stream_reader(self, plan: Plan) -> StreamReader:
        raise bad("This route does not stream", code="streaming_unsupported")


def count(value: Any) -> int | None:
    """A usage count: a non-negative int, or None when the field is missing or malformed."""
    if value is None:
        return 0
    return value if is_int(value) and value >= 0 else None


def tokens(value: Any) -> int | None:
    """A reported token count, or None when absent or malformed."""
    return value if is_int(value) and value >= 0 else None


def sub(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}
