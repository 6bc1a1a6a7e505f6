"""Malformed rate tables are refused with a message naming provider, model and field, and nothing
changes: not the draft, not the active version."""

from __future__ import annotations

import copy
import math

import pytest

from apps.pricing import services
from apps.pricing.publishing import published_rates
from apps.pricing.selectors import get_active_version
from apps.pricing.validation import RatesInvalid, parse_rates_json, validate_rates

M = "openai:gpt-4o-mini"
GOOD = {"input_cents_per_1m": 30, "output_cents_per_1m": 120}


def table(card=None, *, provider="openai", model="gpt-4o-mini"):
    return {provider: {model: GOOD if card is None else card}}


MALFORMED = [
    pytest.param(table({**GOOD, "input_cents_per_1m": -1}), f"{M}: input_cents_per_1m must be an integer",
                 id="negative"),
    pytest.param(table({**GOOD, "output_cents_per_1m": 1.5}), f"{M}: output_cents_per_1m must be an integer",
                 id="float-for-int"),
    pytest.param(table({**GOOD, "output_cents_per_1m": 120.0}), f"{M}: output_cents_per_1m must be an integer",
                 id="whole-float-for-int"),
    pytest.param(table({**GOOD, "cached_input_cents_per_1m": "18"}), f"{M}: cached_input_cents_per_1m must be an int",
                 id="string"),
    pytest.param(table({**GOOD, "web_search_cents_per_call": True}), f"{M}: web_search_cents_per_call must be an int",
                 id="bool"),
    pytest.param(table({"input_cents_per_1m": 30}), f"{M}: output_cents_per_1m is required", id="missing-output"),
    pytest.param(table({"output_cents_per_1m": 30}), f"{M}: input_cents_per_1m is required", id="missing-input"),
    pytest.param(table({**GOOD, "output_cents_per_1m": None}), f"{M}: output_cents_per_1m is required",
                 id="null-output"),
    pytest.param(table(provider="xai"), "xai: unknown provider", id="unknown-provider"),
    pytest.param(table(model=""), "openai: model name must be a non-empty string", id="empty-model"),
    pytest.param(table(model="  "), "openai: model name must be a non-empty string", id="blank-model"),
    pytest.param(table(model=" gpt-4o"), "openai: model name ' gpt-4o' must not have surrounding spaces",
                 id="padded-model"),
    pytest.param([GOOD], "rates must be a JSON object", id="table-not-object"),
    pytest.param({"openai": [GOOD]}, "openai: must be a JSON object", id="provider-not-object"),
    pytest.param(table([30, 120]), f"{M}: rate card must be a JSON object", id="card-not-object"),
    pytest.param(table({**GOOD, "input_cost": 3}), f"{M}: unknown field 'input_cost'", id="unknown-field"),
    pytest.param(table({**GOOD, "context_cliff_input_multiplier": math.nan}),
                 f"{M}: context_cliff_input_multiplier must be a finite number", id="nan-multiplier"),
    pytest.param(table({**GOOD, "context_cliff_output_multiplier": math.inf}),
                 f"{M}: context_cliff_output_multiplier must be a finite number", id="inf-multiplier"),
    pytest.param(table({**GOOD, "context_cliff_output_multiplier": -0.5}),
                 f"{M}: context_cliff_output_multiplier must be a finite number", id="negative-multiplier"),
    pytest.param(table({**GOOD, "context_cliff_input_multiplier": "1.5"}),
                 f"{M}: context_cliff_input_multiplier must be a finite number", id="string-multiplier"),
    pytest.param(table({**GOOD, "input_cents_per_1m": 10**12}), f"{M}: input_cents_per_1m must be an integer between",
                 id="absurd-rate"),
    pytest.param({"openai": {}}, "rates must contain at least one model", id="no-cards"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("rates", "message"), MALFORMED)
def test_malformed_table_is_refused_and_nothing_changes(rates, message):
    active_before = get_active_version()
    draft = services.create_draft_from_active(actor="test")
    with pytest.raises(RatesInvalid) as caught:
        services.update_draft(draft, rates=rates, actor="test")
    assert any(e.startswith(message) for e in caught.value.errors), caught.value.errors
    draft.refresh_from_db()
    assert draft.rates == active_before.rates
    assert get_active_version().pk == active_before.pk
    assert get_active_version().rates == active_before.rates


def test_all_problems_are_reported_at_once():
    with pytest.raises(RatesInvalid) as caught:
        validate_rates({"openai": {"a": {"input_cents_per_1m": -1}, "b": {**GOOD, "x": 1}}, "xai": {}})
    assert caught.value.errors == [
        "openai:a: output_cents_per_1m is required",
        "openai:a: input_cents_per_1m must be an integer between 0 and 1000000000, got -1",
        "openai:b: unknown field 'x'",
        "xai: unknown provider (use one of openai, grok, anthropic, gemini)",
    ]


@pytest.mark.parametrize(("text", "message"), [
    ('{"openai": {"m": {"input_cents_per_1m": 1, "output_cents_per_1m": 2, '
     '"context_cliff_input_multiplier": NaN}}}', "NaN is not a number in JSON"),
    ('{"openai": {"m": {"input_cents_per_1m": 1, "output_cents_per_1m": Infinity}}}', "Infinity is not a number"),
    ('{"openai": {"m": {"input_cents_per_1m": 1, "input_cents_per_1m": 2, "output_cents_per_1m": 3}}}',
     "duplicate key 'input_cents_per_1m'"),
    ('{"openai": {"m": ', "not valid JSON"),
    ("[]", "rates must be a JSON object"),
])
def test_json_text_is_parsed_strictly(text, message):
    with pytest.raises(RatesInvalid) as caught:
        parse_rates_json(text)
    assert message in str(caught.value)


def test_decimal_multipliers_are_accepted_and_published_rounded_up():
    card = {**GOOD, "context_cliff_threshold_tokens": 200_000, "context_cliff_input_multiplier": 1.5,
            "context_cliff_output_multiplier": 2.0, "cached_input_cents_per_1m": None}
    rates = {"anthropic": {"claude-x": card, "claude-y": {**GOOD, "context_cliff_input_multiplier": 0}}}
    assert validate_rates(copy.deepcopy(rates)) == rates
    assert published_rates(rates) == {"anthropic": {
        "claude-x": {**GOOD, "context_cliff_threshold_tokens": 200_000, "context_cliff_input_multiplier": 2,
                     "context_cliff_output_multiplier": 2},
        "claude-y": {**GOOD, "context_cliff_input_multiplier": 0},
    }}
    published = published_rates(rates)["anthropic"]["claude-x"]
    assert all(type(v) is int for v in published.values())


def test_seed_rates_are_valid():
    from apps.pricing.default_rates import SEED_RATES

    assert validate_rates(SEED_RATES) is SEED_RATES
