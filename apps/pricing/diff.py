"""A readable diff of two rate tables, for staff to check a draft before activating it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apps.pricing.rates import DECIMAL_FIELDS, INT_FIELDS, PROVIDERS

_FIELD_ORDER = {name: i for i, name in enumerate((*INT_FIELDS, *DECIMAL_FIELDS))}


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any  # None when absent
    new: Any


@dataclass(frozen=True)
class CardChange:
    provider: str
    model: str
    kind: str  # "added", "removed" or "changed"
    fields: list[FieldChange] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.model}"


def _field_changes(old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    names = sorted(set(old) | set(new), key=lambda n: (_FIELD_ORDER.get(n, len(_FIELD_ORDER)), n))
    return [FieldChange(n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n)]


def diff_rates(old: dict[str, dict[str, dict]], new: dict[str, dict[str, dict]]) -> list[CardChange]:
    """Cards added, removed or changed from `old` to `new`, in provider then model order."""
    providers = sorted(set(old) | set(new), key=lambda p: (PROVIDERS.index(p) if p in PROVIDERS else 99, p))
    changes: list[CardChange] = []
    for provider in providers:
        old_models, new_models = old.get(provider) or {}, new.get(provider) or {}
        for model in sorted(set(old_models) | set(new_models)):
            if model not in old_models:
                changes.append(CardChange(provider, model, "added", _field_changes({}, new_models[model])))
            elif model not in new_models:
                changes.append(CardChange(provider, model, "removed", _field_changes(old_models[model], {})))
            elif fields_changed := _field_changes(old_models[model], new_models[model]):
                changes.append(CardChange(provider, model, "changed", fields_changed))
    return changes
