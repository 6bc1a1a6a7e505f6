from django import forms

from apps.budgets.services import MAX_CENTS


class TopUpForm(forms.Form):
    amount_cents = forms.IntegerField(min_value=1, max_value=MAX_CENTS, label="Amount (cents)")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class AdjustForm(forms.Form):
    delta_cents = forms.IntegerField(min_value=-MAX_CENTS, max_value=MAX_CENTS, label="Delta (cents, + or -)")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))


class SetLimitForm(forms.Form):
    hard_limit_cents = forms.IntegerField(min_value=1, max_value=MAX_CENTS, label="Hard limit (cents)")
    topup_cents = forms.IntegerField(min_value=0, max_value=MAX_CENTS, initial=0, label="Top-up (cents)")
    reason = forms.CharField(max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
