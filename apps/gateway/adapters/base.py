"""The adapter interface: everything provider-specific about one route family.

The enforcement flow (apps/gateway/flow.py) is written once against this interface:
`plan` (validate, bound) → reserve → `write_output_limit` → send `upstream_path` with
`auth_headers` → `extract_usage` → settle → `render`. Streaming (next issue) reuses the same
pieces: `extract_usage` reads a usage object wherever it appears (final response or the last
stream event), so a stream accumulator feeds it the event that carries usage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from apps.gateway.billing import Bound, Usage
from apps.gateway.validation import is_int


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
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Rendered:
    status: int
    content: bytes
    content_type: str = "application/json"


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


def count(value: Any) -> int | None:
    """A usage count: a non-negative int, or None when the field is missing or malformed."""
    if value is None:
        return 0
    return value if is_int(value) and value >= 0 else None


def sub(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else {}
