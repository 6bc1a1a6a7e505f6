"""Staff manage tenants and keys here. A key's plaintext is shown once, right after creation."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone

from apps.accounts.models import ALL_SCOPES, ApiKey, Organization
from apps.accounts.services import issue_api_key, revoke_api_key


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("prefix", "name", "scopes", "is_test", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "store_bodies", "created_at")
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    inlines = [ApiKeyInline]


class ApiKeyCreateForm(forms.ModelForm):
    scope_choices = forms.MultipleChoiceField(
        choices=[(s, s) for s in ALL_SCOPES], initial=list(ALL_SCOPES), widget=forms.CheckboxSelectMultiple,
        label="Scopes",
    )
    test_key = forms.BooleanField(required=False, label="Test key (sk_cynsta_test_…)")

    class Meta:
        model = ApiKey
        fields = ("organization", "name", "expires_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "organization", "name", "scopes", "is_test", "created_at", "expires_at",
                    "revoked_at", "last_used_at")
    list_filter = ("organization", "is_test")
    search_fields = ("prefix", "name", "organization__name")
    actions = ["revoke_selected"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("organization", "name", "scope_choices", "test_key", "expires_at")
        return ("prefix", "organization", "name", "scopes", "is_test", "created_at", "expires_at",
                "revoked_at", "last_used_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Keys are immutable once issued: revoke and issue a new one instead.
        return ("prefix", "organization", "scopes", "is_test", "created_at", "revoked_at", "last_used_at")

    def save_model(self, request, obj, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        issued = issue_api_key(
            form.cleaned_data["organization"],
            scopes=[s for s in ALL_SCOPES if s in form.cleaned_data["scope_choices"]],
            test=form.cleaned_data["test_key"],
            name=form.cleaned_data.get("name") or "",
            expires_at=form.cleaned_data.get("expires_at"),
        )
        obj.pk = issued.api_key.pk
        # The only time the plaintext exists outside the caller's hands: shown once, never stored.
        messages.warning(request, f"New API key (copy it now, it will not be shown again): {issued.plaintext}")

    def response_add(self, request, obj, post_url_continue=None):
        obj.refresh_from_db()
        return super().response_add(request, obj, post_url_continue)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke_selected(self, request, queryset) -> None:
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            revoke_api_key(key)
            count += 1
        self.message_user(request, f"Revoked {count} key(s) at {timezone.now():%Y-%m-%d %H:%M:%S} UTC.")
