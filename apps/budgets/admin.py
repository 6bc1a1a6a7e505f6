"""Staff views of agents and their money. Balances are never editable fields: every change goes
through a form that calls the same service the API uses, with the staff user as the actor."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.budgets import services
from apps.budgets.forms import AdjustForm, SetLimitForm, TopUpForm
from apps.budgets.models import Agent, BudgetEvent, Reservation
from apps.core.errors import ApiError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Ledger-like records: visible, filterable, never added, changed or deleted by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RecentEventsInline(admin.TabularInline):
    model = BudgetEvent
    fk_name = "agent"
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "Recent budget events"
    fields = ("created_at", "kind", "delta_cents", "balance_after_cents", "hard_limit_after_cents", "actor", "reason")
    readonly_fields = fields
    ordering = ("-id",)

    def get_queryset(self, request):
        # An inline cannot slice its queryset, so bound it by id instead.
        qs = super().get_queryset(request)
        agent_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
        if agent_id:
            ids = list(qs.filter(agent_id=agent_id).order_by("-id").values_list("id", flat=True)[:20])
            qs = qs.filter(id__in=ids)
        return qs

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@dataclass(frozen=True)
class MoneyAction:
    slug: str
    title: str
    form: type[forms.Form]
    apply: Callable[[Agent, dict, str], object]


MONEY_ACTIONS = {
    a.slug: a
    for a in (
        MoneyAction("topup", "Top up", TopUpForm, lambda agent, d, actor: services.top_up(
            agent, amount_cents=d["amount_cents"], actor=actor, reason=d["reason"])),
        MoneyAction("set-limit", "Set hard limit", SetLimitForm, lambda agent, d, actor: services.set_budget(
            agent, hard_limit_cents=d["hard_limit_cents"], topup_cents=d["topup_cents"], actor=actor,
            reason=d["reason"])),
        MoneyAction("adjust", "Manual adjustment", AdjustForm, lambda agent, d, actor: services.adjust(
            agent, delta_cents=d["delta_cents"], actor=actor, reason=d["reason"])),
    )
}


class AgentForm(forms.ModelForm):
    """The API's rules for names and concurrency, shown as form errors."""

    class Meta:
        model = Agent
        fields = ("name", "max_concurrent_runs")

    def clean_name(self) -> str:
        try:
            return services.clean_name(self.cleaned_data.get("name") or "", required=True)
        except ApiError as exc:
            raise forms.ValidationError(exc.detail) from None

    def clean_max_concurrent_runs(self) -> int:
        try:
            return services.check_max_concurrent_runs(self.cleaned_data.get("max_concurrent_runs"))
        except ApiError as exc:
            raise forms.ValidationError(exc.detail) from None


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    form = AgentForm
    list_display = ("id", "name", "organization", "remaining", "hard_limit", "max_concurrent_runs", "created_at",
                    "deleted_at")
    list_filter = ("organization", ("deleted_at", admin.EmptyFieldListFilter))
    search_fields = ("id", "name", "organization__name")
    list_select_related = ("organization", "budget")
    fields = ("id", "organization", "name", "max_concurrent_runs", "remaining", "hard_limit", "money_actions",
              "created_at", "deleted_at")
    readonly_fields = ("id", "organization", "remaining", "hard_limit", "money_actions", "created_at", "deleted_at")
    inlines = [RecentEventsInline]

    def has_add_permission(self, request) -> bool:
        return False  # agents come from the API, so each gets its budget row

    def save_model(self, request, obj: Agent, form, change) -> None:
        services.update_agent(obj, name=form.cleaned_data.get("name") or None,
                              max_concurrent_runs=form.cleaned_data.get("max_concurrent_runs"))

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # soft delete via the API; the ledger stays

    @admin.display(description="Remaining (cents)")
    def remaining(self, obj: Agent) -> int:
        return obj.budget.remaining_cents

    @admin.display(description="Hard limit (cents)")
    def hard_limit(self, obj: Agent) -> int:
        return obj.budget.hard_limit_cents

    @admin.display(description="Money")
    def money_actions(self, obj: Agent) -> str:
        links = [
            format_html(
                '<a class="button" id="money-{}" href="{}">{}</a>',
                a.slug, reverse("admin:budgets_agent_money", args=[obj.pk, a.slug]), a.title,
            )
            for a in MONEY_ACTIONS.values()
        ]
        return format_html(" ".join(["{}"] * len(links)), *links)

    def get_urls(self):
        view = self.admin_site.admin_view(self.money_view)
        return [path("<uuid:agent_id>/money/<slug:action>/", view, name="budgets_agent_money"), *super().get_urls()]

    def money_view(self, request: HttpRequest, agent_id, action: str):
        spec = MONEY_ACTIONS.get(action)
        agent = get_object_or_404(Agent.objects.select_related("budget", "organization"), pk=agent_id)
        if spec is None or not self.has_change_permission(request, agent):
            return HttpResponseRedirect(reverse("admin:budgets_agent_change", args=[agent.pk]))
        form = spec.form(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                budget = spec.apply(agent, form.cleaned_data, f"staff:{request.user.get_username()}")
            except ApiError as exc:
                form.add_error(None, exc.detail)
            else:
                messages.success(request, f"{spec.title} done: remaining {budget.remaining_cents} of "
                                          f"{budget.hard_limit_cents} cents.")
                return HttpResponseRedirect(reverse("admin:budgets_agent_change", args=[agent.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{spec.title}: {agent}",
            "agent": agent,
            "budget": agent.budget,
            "form": form,
            "opts": self.model._meta,
            "action_title": spec.title,
        }
        return TemplateResponse(request, "admin/budgets/agent/money_form.html", context)


@admin.register(BudgetEvent)
class BudgetEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "agent", "kind", "delta_cents", "balance_after_cents", "actor", "reason")
    list_filter = ("kind", "agent__organization")
    search_fields = ("agent__id", "agent__name", "actor", "reason")
    list_select_related = ("agent",)
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("id", "agent", "run", "provider", "model", "amount_cents", "status", "charged_cents",
                    "settle_reason", "created_at", "expires_at")
    list_filter = ("status", "provider", "settle_reason")
    search_fields = ("id", "agent__id", "run__id", "model")
    list_select_related = ("agent",)
