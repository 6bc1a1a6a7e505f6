"""Staff views of usage records: read-only, plus a refund action that calls the budgets service."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest

from apps.budgets.admin import ReadOnlyAdmin
from apps.budgets.reservations import refund
from apps.core.errors import ApiError
from apps.gateway.models import UsageRecord


@admin.register(UsageRecord)
class UsageRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "organization", "agent", "provider", "model", "termination",
                    "input_tokens", "output_tokens", "wcec_cents", "charged_cents", "latency_ms")
    list_filter = ("provider", "termination", "model", "organization")
    search_fields = ("agent__id", "run__id", "reservation__id", "provider_request_id", "model")
    list_select_related = ("organization", "agent")
    date_hierarchy = "created_at"
    actions = ["refund_charge"]

    @admin.action(description="Refund the charge of the selected calls (capped at the hard limit)")
    def refund_charge(self, request: HttpRequest, queryset) -> None:
        actor = f"staff:{request.user.get_username()}"
        done = 0
        for record in queryset.select_related("reservation"):
            try:
                event = refund(record.reservation, actor=actor,
                               reason=f"staff refund of usage record {record.pk} ({record.termination})")
            except ApiError as exc:
                self.message_user(request, f"Record {record.pk}: {exc.detail}", messages.WARNING)
            else:
                done += 1
                self.message_user(request, f"Record {record.pk}: refunded {event.delta_cents} cents.")
        if done == 0:
            self.message_user(request, "Nothing was refunded.", messages.WARNING)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        # Actions need a permission Django can check: staff who may change budget events' agents.
        actions = super().get_actions(request)
        if not request.user.has_perm("budgets.change_agent"):
            actions.pop("refund_charge", None)
        return actions
