"""What a call costs: realized cost from usage, and the worst case (WCEC) before the call.

Both follow spendguard-engine 0.1.0's `compute_cost_breakdown` rule for rule, so the hosted
gateway and a self-hosted sidecar bill the same usage the same: exact microcents per line item
(N tokens × rate cents/1M = N×rate microcents), summed, then ONE ceiling to whole cents per call.

One deliberate difference: the engine applies a context-cliff multiplier with floats
(`int(rate * float(m) + 0.9999999)`); we use `ceil(rate × Decimal(m))`. The two agree whenever
`rate × m` has at most 6 decimal places and is below 1e9 (see tests/gateway/test_billing.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from apps.pricing.rates import RateCard

MICROCENTS_PER_CENT = 1_000_000
TOOL_FEE_KINDS = {"web_search_call": "web_search_cents_per_call", "file_search_call": "file_search_cents_per_call"}


def cents_ceiled(microcents: int) -> int:
    return 0 if microcents <= 0 else -(-microcents // MICROCENTS_PER_CENT)


@dataclass(frozen=True)
class Usage:
    """Provider usage, normalized. `input_tokens` is ALL billed input (incl. cached and cache
    write/read); `output_tokens` is all billed output (incl. reasoning/thinking)."""

    input_tokens: int
    output_tokens: int
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    grounding_queries: int = 0
    tool_calls: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cliffed(rate: int, multiplier: Decimal | None) -> int:
    if multiplier is None:
        return rate
    return int((Decimal(rate) * multiplier).to_integral_value(rounding=ROUND_CEILING))


def cliff_rates(card: RateCard, input_tokens: int) -> tuple[int, int, bool]:
    """(input rate, output rate, applied): the cliff applies when input exceeds the threshold."""
    inp, out = card.input_cents_per_1m, card.output_cents_per_1m
    threshold = card.context_cliff_threshold_tokens
    if threshold is None or input_tokens <= threshold:
        return inp, out, False
    in_m, out_m = card.context_cliff_input_multiplier, card.context_cliff_output_multiplier
    return _cliffed(inp, in_m), _cliffed(out, out_m), in_m is not None or out_m is not None


def _item(name: str, quantity: int, unit: str, rate: dict[str, int], cost: int) -> dict[str, Any]:
    return {"name": name, "quantity": quantity, "unit": unit, "rate": rate, "cost_microcents": cost}


def _tokens(name: str, quantity: int, rate: int) -> dict[str, Any]:
    return _item(name, quantity, "tokens", {"cents_per_1m": rate}, quantity * rate if quantity > 0 and rate > 0 else 0)


def cost_breakdown(*, provider: str, model: str, card: RateCard, usage: Usage) -> dict[str, Any]:
    """The engine's breakdown document (same keys, same line items, same totals)."""
    inp = max(0, usage.input_tokens)
    out = max(0, usage.output_tokens)
    # Clamp category counts to their totals, so an odd payload can never overcharge.
    cached = max(0, min(usage.cached_input_tokens, inp))
    write = min(max(0, usage.cache_write_input_tokens), inp)
    read = min(max(0, usage.cache_read_input_tokens), max(0, inp - write))
    reasoning = max(0, min(usage.reasoning_tokens, out))
    grounding = max(0, usage.grounding_queries)
    tool_calls = dict(usage.tool_calls or {})

    inp_rate, out_rate, applied = cliff_rates(card, inp)
    items: list[dict[str, Any]] = []
    # Input: cached/uncached split (OpenAI, Gemini) takes precedence over cache write/read (Anthropic).
    if cached > 0:
        cached_rate = inp_rate if card.cached_input_cents_per_1m is None else card.cached_input_cents_per_1m
        uncached_rate = inp_rate if card.uncached_input_cents_per_1m is None else card.uncached_input_cents_per_1m
        items.append(_tokens("input_tokens_uncached", max(0, inp - cached), uncached_rate))
        items.append(_tokens("input_tokens_cached", cached, cached_rate))
    elif write > 0 or read > 0:
        # The engine writes `rate or inp_rate`: a zero rate falls back to the input rate too.
        write_rate = card.cache_write_input_cents_per_1m or inp_rate
        read_rate = card.cache_read_input_cents_per_1m or inp_rate
        items.append(_tokens("input_tokens_base", max(0, inp - write - read), inp_rate))
        items.append(_tokens("input_tokens_cache_write", write, write_rate))
        items.append(_tokens("input_tokens_cache_read", read, read_rate))
    else:
        items.append(_tokens("input_tokens", inp, inp_rate))

    if reasoning > 0 and card.reasoning_output_cents_per_1m is not None:
        items.append(_tokens("output_tokens_non_reasoning", max(0, out - reasoning), out_rate))
        items.append(_tokens("output_tokens_reasoning", reasoning, card.reasoning_output_cents_per_1m))
    else:
        items.append(_tokens("output_tokens", out, out_rate))

    if grounding > 0 and card.grounding_cents_per_1k_queries is not None:
        rate = card.grounding_cents_per_1k_queries
        items.append(_item("grounding_queries", grounding, "queries", {"cents_per_1k": rate},
                           grounding_fee_microcents(grounding, rate)))
    for kind, attr in TOOL_FEE_KINDS.items():
        calls = int(tool_calls.get(kind) or 0)
        fee = getattr(card, attr)
        if calls > 0 and fee is not None:
            items.append(_item(f"tool_{kind}", calls, "calls", {"cents_per_call": fee},
                               calls * fee * MICROCENTS_PER_CENT if fee > 0 else 0))

    total = sum(i["cost_microcents"] for i in items)
    return {
        "provider": provider,
        "model": model,
        "usage": {
            "input_tokens": inp, "output_tokens": out, "cached_input_tokens": cached,
            "reasoning_tokens": reasoning, "cache_write_input_tokens": write, "cache_read_input_tokens": read,
            "grounding_queries": grounding, "tool_calls": tool_calls,
        },
        "cliff": {
            "configured": {
                "threshold_tokens": card.context_cliff_threshold_tokens,
                "input_multiplier": _dec(card.context_cliff_input_multiplier),
                "output_multiplier": _dec(card.context_cliff_output_multiplier),
            },
            "applied": applied,
        },
        "charges": items,
        "totals": {"realized_microcents": total, "realized_cents_ceiled": cents_ceiled(total)},
    }


def grounding_fee_microcents(queries: int, cents_per_1k: int) -> int:
    if queries <= 0 or cents_per_1k <= 0:
        return 0
    return -(-(queries * cents_per_1k * MICROCENTS_PER_CENT) // 1000)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


# --- the worst case ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    """What preflight knows about a request before the call.

    `input_tokens` bounds the request's own billable input. `hosted_tool_calls` is how many
    provider-side tool calls (web/file search, grounding) we allow: each is another model
    invocation that re-reads the context plus up to `tool_result_tokens` of results.
    """

    input_tokens: int
    output_tokens: int  # per choice, as requested (or the default)
    choices: int = 1
    hosted_tool_calls: int = 0
    tool_result_tokens: int = 0
    tool_fee_kinds: tuple[str, ...] = ()  # "web_search_call", "file_search_call", "grounding"

    def input_total(self, output_limit: int) -> int:
        """Upper bound of billed input for an output limit: invocation i sees the request, i tool
        results and the output so far; with no hosted tools this is just `input_tokens`."""
        k = self.hosted_tool_calls
        tool_results = k * (k + 1) // 2 * self.tool_result_tokens
        return (k + 1) * self.input_tokens + tool_results + k * output_limit * self.choices


def _max_rates(card: RateCard, input_bound: int) -> tuple[int, int]:
    """The highest per-token input and output rates any usage within the bound can be priced at."""
    base_in, base_out = card.input_cents_per_1m, card.output_cents_per_1m
    inp, out, _ = cliff_rates(card, input_bound)
    # A multiplier below 1 would make the cliff cheaper; the bound takes whichever is higher.
    inp, out = max(inp, base_in), max(out, base_out)
    input_rates = [inp, card.cached_input_cents_per_1m, card.uncached_input_cents_per_1m,
                   card.cache_write_input_cents_per_1m, card.cache_read_input_cents_per_1m]
    return max(r for r in input_rates if r is not None), max(out, card.reasoning_output_cents_per_1m or 0)


def _fees_microcents(card: RateCard, bound: Bound) -> int:
    calls = bound.hosted_tool_calls
    fees = 0
    per_call = [getattr(card, TOOL_FEE_KINDS[k]) or 0 for k in bound.tool_fee_kinds if k in TOOL_FEE_KINDS]
    if per_call:
        fees += calls * max(per_call) * MICROCENTS_PER_CENT
    if "grounding" in bound.tool_fee_kinds and card.grounding_cents_per_1k_queries:
        fees += grounding_fee_microcents(calls * bound.choices, card.grounding_cents_per_1k_queries)
    return fees


def _linear(card: RateCard, bound: Bound) -> tuple[int, int]:
    """WCEC(limit) = fixed + limit × per_output_token, in microcents, valid for limit ≤ requested."""
    in_rate, out_rate = _max_rates(card, bound.input_total(bound.output_tokens))
    fixed = in_rate * bound.input_total(0) + _fees_microcents(card, bound)
    per_output = in_rate * bound.hosted_tool_calls * bound.choices + out_rate * bound.choices
    return fixed, per_output


def wcec_microcents(card: RateCard, bound: Bound, output_limit: int) -> int:
    fixed, per_output = _linear(card, bound)
    return fixed + per_output * min(output_limit, bound.output_tokens)


@dataclass(frozen=True)
class Sizing:
    output_limit: int  # per choice, to send upstream
    wcec_cents: int


def size_for(card: RateCard, bound: Bound, available_cents: int) -> Sizing:
    """Clamp the output limit to what `available_cents` can pay. If not even one output token
    fits, the WCEC of one token is returned (more than available: the caller refuses with 402)."""
    fixed, per_output = _linear(card, bound)
    room = available_cents * MICROCENTS_PER_CENT - fixed
    affordable = bound.output_tokens if per_output == 0 else max(0, room) // per_output
    limit = max(1, min(bound.output_tokens, affordable))
    return Sizing(limit, cents_ceiled(fixed + per_output * limit))
