"""Staff edit prices here: copy the active version into a draft, edit its JSON, read the diff,
activate after a confirmation. Active and retired versions are read-only. Every write goes
through `apps.pricing.services` with the staff user as the actor."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.pricing import selectors, services
from apps.pricing.diff import diff_rates
from apps.pricing.forms import DraftForm, pretty_rates
from apps.pricing.models import PricingVersion, PublishedPricing
from apps.pricing.signing import signing_key


def _actor(request: HttpRequest) -> str:
    return f"staff:{request.user.get_username()}"


@admin.register(PricingVersion)
class PricingVersionAdmin(admin.ModelAdmin):
    form = DraftForm
    list_display = ("label", "status", "created_at", "created_by", "activated_at", "activated_by", "retired_at")
    list_display_links = ("label",)
    list_filter = ("status",)
    actions = None  # no bulk delete: only a draft may be deleted, one at a time
    DRAFT_FIELDS = ("number", "status", "based_on", "rates_json", "engine_min_version", "engine_max_version",
                    "notes", "created_by", "created_at")
    VIEW_FIELDS = ("number", "status", "based_on", "rates_display", "engine_min_version", "engine_max_version",
                   "notes", "created_by", "created_at", "activated_by", "activated_at", "retired_at")

    @admin.display(description="Version", ordering="number")
    def label(self, obj: PricingVersion) -> str:
        return f"v{obj.number}"

    @admin.display(description="Rates")
    def rates_display(self, obj: PricingVersion) -> str:
        return format_html('<pre id="rates-display">{}</pre>', pretty_rates(obj.rates))

    def get_fields(self, request, obj=None):
        return self.DRAFT_FIELDS if obj is not None and obj.is_draft else self.VIEW_FIELDS

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.is_draft:
            return ("number", "status", "based_on", "created_by", "created_at")
        return self.VIEW_FIELDS

    def has_add_permission(self, request) -> bool:
        return False  # drafts start as a copy of the active version ("Create draft from active")

    def has_change_permission(self, request, obj=None) -> bool:
        return super().has_change_permission(request, obj) and (obj is None or obj.is_draft)

    def has_delete_permission(self, request, obj=None) -> bool:
        return super().has_delete_permission(request, obj) and obj is not None and obj.is_draft

    def save_model(self, request, obj: PricingVersion, form: DraftForm, change: bool) -> None:
        data = form.cleaned_data
        try:
            services.update_draft(obj, rates=data["rates_json"], notes=data["notes"], actor=_actor(request),
                                  engine_min_version=data["engine_min_version"],
                                  engine_max_version=data["engine_max_version"])
        except services.PricingError as exc:  # e.g. activated by someone else meanwhile
            messages.error(request, str(exc))

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("create-draft/", wrap(self.create_draft_view), name="pricing_pricingversion_create_draft"),
            path("published/", wrap(self.published_view), name="pricing_pricingversion_published"),
            path("<int:pk>/diff/", wrap(self.diff_view), name="pricing_pricingversion_diff"),
            path("<int:pk>/activate/", wrap(self.activate_view), name="pricing_pricingversion_activate"),
            *super().get_urls(),
        ]

    def _context(self, request: HttpRequest, title: str, **extra) -> dict:
        return {**self.admin_site.each_context(request), "title": title, "opts": self.model._meta, **extra}

    def _diff_context(self, draft: PricingVersion) -> dict:
        active = selectors.get_active_version()
        base = active.rates if active else {}
        engine_changed = active is not None and (
            (active.engine_min_version, active.engine_max_version)
            != (draft.engine_min_version, draft.engine_max_version))
        return {"version": draft, "active": active, "changes": diff_rates(base, draft.rates),
                "engine_changed": engine_changed}

    def create_draft_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            return HttpResponseRedirect(reverse("admin:pricing_pricingversion_changelist"))
        try:
            draft = services.create_draft_from_active(actor=_actor(request))
        except services.PricingError as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("admin:pricing_pricingversion_changelist"))
        messages.success(request, f"Created draft v{draft.number} from the active version.")
        return HttpResponseRedirect(reverse("admin:pricing_pricingversion_change", args=[draft.pk]))

    def diff_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(PricingVersion, pk=pk)
        if not self.has_view_permission(request, version):
            return HttpResponseRedirect(reverse("admin:index"))
        return TemplateResponse(request, "admin/pricing/pricingversion/diff.html", self._context(
            request, f"v{version.number} compared with the active version", **self._diff_context(version)))

    def activate_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        version = get_object_or_404(PricingVersion, pk=pk)
        if not self.has_change_permission(request, version):  # False for anything but a draft
            messages.error(request, f"v{version.number} is {version.status}; only a draft can be activated.")
            return HttpResponseRedirect(reverse("admin:pricing_pricingversion_change", args=[pk]))
        if request.method == "POST":
            try:
                services.activate(version, actor=_actor(request))
            except services.PricingError as exc:
                messages.error(request, str(exc))
                return HttpResponseRedirect(reverse("admin:pricing_pricingversion_change", args=[pk]))
            messages.success(request, f"v{version.number} is active and published.")
            return HttpResponseRedirect(reverse("admin:pricing_pricingversion_published"))
        return TemplateResponse(request, "admin/pricing/pricingversion/activate_confirm.html", self._context(
            request, f"Activate v{version.number}?", **self._diff_context(version)))

    def published_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponseRedirect(reverse("admin:index"))
        row = selectors.latest_publication()
        pretty = json.dumps(json.loads(row.body), indent=2, sort_keys=True, ensure_ascii=False) if row else ""
        key = signing_key()
        return TemplateResponse(request, "admin/pricing/pricingversion/published.html", self._context(
            request, "Published price list", row=row, pretty=pretty, public_key=key.public_b64,
            key_id=key.key_id))


@admin.register(PublishedPricing)
class PublishedPricingAdmin(admin.ModelAdmin):
    """The audit trail of what was signed and served (expired rows are pruned after a day)."""

    list_display = ("id", "version_number", "generated_at", "expires_at", "etag", "key_id", "trigger")
    list_filter = ("trigger", "version_number")
    fields = ("version", "version_number", "generated_at", "expires_at", "etag", "key_id", "trigger", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
