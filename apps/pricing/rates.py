"""The rate card: what one model costs, in the schema of the signed document (SPEC §5).

Token rates are integer cents per 1M tokens, so the exact cost of N tokens is N × rate microcents.
The two context-cliff multipliers may be decimals; they are kept as `Decimal`, never floats.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

PROVIDERS = ("openai", "grok", "anthropic", "gemini")

INT_FIELDS = (
    "input_cents_per_1m",
    "output_cents_per_1m",
    "cached_input_cents_per_1m",
    "uncached_input_cents_per_1m",
    "reasoning_output_cents_per_1m",
    "cache_write_input_cents_per_1m",
    "cache_read_input_cents_per_1m",
    "grounding_cents_per_1k_queries",
    "web_search_cents_per_call",
    "file_search_cents_per_call",
    "context_cliff_threshold_tokens",
)
DECIMAL_FIELDS = ("context_cliff_input_multiplier", "context_cliff_output_multiplier")
REQUIRED_FIELDS = ("input_cents_per_1m", "output_cents_per_1m")


@dataclass(frozen=True)
class RateCard:
    input_cents_per_1m: int
    output_cents_per_1m: int
    cached_input_cents_per_1m: int | None = None
    uncached_input_cents_per_1m: int | None = None
    reasoning_output_cents_per_1m: int | None = None
    cache_write_input_cents_per_1m: int | None = None
    cache_read_input_cents_per_1m: int | None = None
    grounding_cents_per_1k_queries: int | None = None
    web_search_cents_per_call: int | None = None
    file_search_cents_per_call: int | None = None
    context_cliff_threshold_tokens: int | None = None
    context_cliff_input_multiplier: Decimal | None = None
    context_cliff_output_multiplier: Decimal | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RateCard:
        """Build from an already validated card; unknown keys are ignored."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            value = data[f.name]
            kwargs[f.name] = Decimal(str(value)) if f.name in DECIMAL_FIELDS else int(value)
        return cls(**kwargs)
