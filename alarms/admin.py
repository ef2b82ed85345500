"""Support reads every organisation's alarms, their history, webhook and delivery log, to answer
"why did (or didn't) we hear about these errors?". Changes are the customer's admins' (audited and
emailed); no admin page shows a webhook's signing secret or a delivered body's signature."""

from django.contrib import admin

from alarms.models import Alarm, AlarmEvent, WebhookDelivery, WebhookEndpoint
from common.admin import ReadOnlyModelAdmin


@admin.register(Alarm)
class AlarmAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "organisation", "condition", "enabled", "state", "last_value", "last_evaluated_at"]
    list_filter = ["state", "enabled", "metric"]
    list_select_related = ["organisation"]
    search_fields = ["name", "method", "organisation__name", "=organisation__public_id"]
    fields = [
        "organisation",
        "name",
        "method",
        "metric",
        "window_minutes",
        "threshold",
        "recipients",
        "enabled",
        "state",
        "state_since",
        "last_value",
        "last_evaluated_at",
        "created_by",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="fires when")
    def condition(self, alarm: Alarm) -> str:
        return alarm.condition


@admin.register(AlarmEvent)
class AlarmEventAdmin(ReadOnlyModelAdmin):
    list_display = ["at", "organisation", "alarm_name", "kind", "value", "calls", "errors"]
    list_filter = ["kind"]
    list_select_related = ["organisation"]
    search_fields = ["alarm_name", "=organisation__public_id"]
    date_hierarchy = "at"


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyModelAdmin):
    list_display = ["organisation", "url", "secret_created_at", "updated_at"]
    list_select_related = ["organisation"]
    search_fields = ["url", "organisation__name", "=organisation__public_id"]
    # Never the secret or the previous one: they sign the customer's events.
    fields = ["organisation", "url", "secret_created_at", "previous_secret_expires_at", "created_by", "created_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = ["created_at", "organisation", "event_type", "status", "attempts", "response_code", "url"]
    list_filter = ["status", "event_type"]
    list_select_related = ["organisation"]
    search_fields = ["=event_id", "=organisation__public_id"]
    fields = [
        "organisation",
        "event_id",
        "event_type",
        "alarm_event",
        "url",
        "status",
        "attempts",
        "response_code",
        "last_error",
        "created_at",
        "last_attempt_at",
        "next_attempt_at",
        "delivered_at",
        "body",
    ]
    show_full_result_count = False
