"""Validation of a rate table (SPEC §5) before it can be saved in a draft or activated.

Every message names provider, model and field, e.g. `openai:gpt-4o-mini: output_cents_per_1m is
required`, because staff fix them by hand in a JSON textarea. All problems are reported at once.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from apps.pricing.rates import DECIMAL_FIELDS, INT_FIELDS, PROVIDERS, REQUIRED_FIELDS

# Far above any real price, far below where cost arithmetic (tokens x rate, in 64-bit
# microcents) could overflow.
MAX_INT_VALUE = 10**9
MAX_MULTIPLIER = 1000
MAX_MODEL_NAME_LENGTH = 200
KNOWN_FIELDS = frozenset(INT_FIELDS) | frozenset(DECIMAL_FIELDS)
_ENGINE_VERSION_RE = re.compile(r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")


class RatesInvalid(ValueError):
    """A rate table (or a JSON text of one) that cannot be published; `errors` lists every problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def _is_int(value: Any) -> bool:
    # bool is an int subclass in Python; `true` cents is a typo, not 1 cent.
    return isinstance(value, int) and not isinstance(value, bool)


def _card_errors(where: str, card: Any) -> list[str]:
    if not isinstance(card, dict):
        return [f"{where}: rate card must be a JSON object"]
    errors = [f"{where}: {name} is required" for name in REQUIRED_FIELDS if card.get(name) is None]
    for name, value in card.items():
        if name not in KNOWN_FIELDS:
            errors.append(f"{where}: unknown field {name!r}")
        elif value is None:
            continue  # an absent optional field; the required ones were reported above
        elif name in INT_FIELDS:
            if not _is_int(value) or not 0 <= value <= MAX_INT_VALUE:
                errors.append(f"{where}: {name} must be an integer between 0 and {MAX_INT_VALUE}, got {value!r}")
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not 0 <= value <= MAX_MULTIPLIER
        ):
            errors.append(f"{where}: {name} must be a finite number between 0 and {MAX_MULTIPLIER}, got {value!r}")
    return errors


def _model_name_error(provider: str, model: Any) -> str | None:
    if not isinstance(model, str) or not model.strip():
        return f"{provider}: model name must be a non-empty string, got {model!r}"
    if model != model.strip() or any(ord(ch) < 32 for ch in model):
        return f"{provider}: model name {model!r} must not have surrounding spaces or control characters"
    if len(model) > MAX_MODEL_NAME_LENGTH:
        return f"{provider}: model name {model[:40]!r}... is longer than {MAX_MODEL_NAME_LENGTH} characters"
    return None


def rate_table_errors(table: Any) -> list[str]:
    if not isinstance(table, dict):
        return ["rates must be a JSON object of {provider: {model: rate card}}"]
    errors: list[str] = []
    cards = 0
    for provider, models in table.items():
        if provider not in PROVIDERS:
            errors.append(f"{provider}: unknown provider (use one of {', '.join(PROVIDERS)})")
            continue
        if not isinstance(models, dict):
            errors.append(f"{provider}: must be a JSON object of {{model: rate card}}")
            continue
        for model, card in models.items():
            name_error = _model_name_error(provider, model)
            if name_error:
                errors.append(name_error)
                continue
            cards += 1
            errors.extend(_card_errors(f"{provider}:{model}", card))
    if not errors and cards == 0:
        errors.append("rates must contain at least one model (the sidecar refuses a price list with none)")
    return errors


def validate_rates(table: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Return the table unchanged if it is publishable, else raise RatesInvalid with every problem."""
    errors = rate_table_errors(table)
    if errors:
        raise RatesInvalid(errors)
    return table


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise RatesInvalid([f"duplicate key {key!r} (the last one would silently win)"])
        seen[key] = value
    return seen


def _refuse_constant(name: str) -> Any:
    raise RatesInvalid([f"{name} is not a number in JSON"])


def parse_rates_json(text: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Parse staff-typed JSON strictly (no NaN/Infinity, no duplicate keys) and validate it."""
    try:
        table = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise RatesInvalid([f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"]) from None
    return validate_rates(table)


def engine_version_error(label: str, value: Any) -> str | None:
    if not isinstance(value, str) or not _ENGINE_VERSION_RE.match(value):
        return f"{label} must be a dotted version like 0.1.0, got {value!r}"
    return None


def validate_engine_range(min_version: Any, max_version: Any) -> tuple[str, str]:
    errors = [e for e in (engine_version_error("engine min version", min_version),
                          engine_version_error("engine max version", max_version)) if e]
    if not errors and _version_tuple(min_version) > _version_tuple(max_version):
        errors.append(f"engine min version {min_version} is above max version {max_version}")
    if errors:
        raise RatesInvalid(errors)
    return min_version, max_version


def _version_tuple(value: str) -> tuple[int, ...]:
    return tuple(int(part) for part in value.split("."))
