"""The draft editor: the rate table as JSON in a textarea, checked by the same validation the
services run, so every problem shows as a form error naming provider, model and field."""

from __future__ import annotations

import json

from django import forms

from apps.pricing.models import PricingVersion
from apps.pricing.validation import RatesInvalid, parse_rates_json, validate_engine_range


def pretty_rates(rates: dict) -> str:
    return json.dumps(rates, indent=2, sort_keys=True, ensure_ascii=False)


class DraftForm(forms.ModelForm):
    rates_json = forms.CharField(
        label="Rates (JSON)",
        widget=forms.Textarea(attrs={"rows": 30, "cols": 100, "spellcheck": "false",
                                     "style": "font-family: monospace"}),
        help_text="{provider: {model: {field: value}}}. Rates are integer cents per 1M tokens; the two "
                  "context_cliff multipliers may be decimals (the signed document carries them rounded up, "
                  "because sidecars only accept integers).",
    )

    class Meta:
        model = PricingVersion
        fields = ("engine_min_version", "engine_max_version", "notes")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.fields["rates_json"].initial = pretty_rates(self.instance.rates)

    def clean_rates_json(self) -> dict:
        try:
            return parse_rates_json(self.cleaned_data["rates_json"])
        except RatesInvalid as exc:
            raise forms.ValidationError(exc.errors) from None

    def clean(self) -> dict:
        data = super().clean()
        try:
            validate_engine_range(data.get("engine_min_version"), data.get("engine_max_version"))
        except RatesInvalid as exc:
            raise forms.ValidationError(exc.errors) from None
        return data
