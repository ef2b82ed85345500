"""Reads of alarms, their history and the webhook delivery log, always scoped to the user's organisation."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from alarms.models import Alarm, AlarmEvent, WebhookDelivery, WebhookEndpoint


def alarms_for(*, user: User) -> QuerySet[Alarm]:
    if user.organisation_id is None:
        return Alarm.objects.none()
    return Alarm.objects.filter(organisation_id=user.organisation_id).prefetch_related("recipients")


def access_alarm(*, user: User, alarm_id: int) -> Alarm:
    """An alarm of the user's organisation, or 404 (whatever the alarm's real owner)."""
    alarm = alarms_for(user=user).select_related("organisation").filter(pk=alarm_id).first()
    if alarm is None:
        raise Http404
    return alarm


def history_for(*, user: User) -> QuerySet[AlarmEvent]:
    if user.organisation_id is None:
        return AlarmEvent.objects.none()
    return AlarmEvent.objects.filter(organisation_id=user.organisation_id).order_by("-at", "-id")


def webhook_for(*, user: User) -> WebhookEndpoint | None:
    if user.organisation_id is None:
        return None
    return WebhookEndpoint.objects.filter(organisation_id=user.organisation_id).first()


def deliveries_for(*, user: User) -> QuerySet[WebhookDelivery]:
    if user.organisation_id is None:
        return WebhookDelivery.objects.none()
    return (
        WebhookDelivery.objects.filter(organisation_id=user.organisation_id)
        .defer("body")
        .select_related("alarm_event")
        .order_by("-created_at", "-id")
    )


def colleagues(*, user: User) -> list[User]:
    """The organisation's active users, who may be emailed about an alarm."""
    if user.organisation_id is None:
        return []
    return list(
        User.objects.filter(organisation_id=user.organisation_id, is_active=True).order_by("full_name", "email")
    )
