"""Alarms for the demo organisation: two alarms, a day-old firing and recovery, and a webhook whose
delivery log shows a delivered event and one delivered on its second attempt."""

import json
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import Organisation, User
from alarms import services, webhooks
from alarms.models import Alarm, AlarmEvent, DeliveryStatus, EventKind, Metric, WebhookDelivery, WebhookEndpoint

# Not resolved when seeded (the demo may run offline); the address check runs again before any send.
DEMO_WEBHOOK_URL = "https://hooks.example.com/portal/alarms"


def seed_demo_alarms(*, organisation: Organisation, admin: User, now: datetime | None = None) -> bool:
    """Add the demo's alarms, history and webhook once; False if the organisation has alarms already."""
    if Alarm.objects.filter(organisation=organisation).exists():
        return False
    now = now or timezone.now()
    rate = services.create_alarm(
        organisation=organisation,
        data=services.AlarmInput(
            name="Tokenize failing",
            method="Tokenize",
            metric=Metric.ERROR_RATE,
            window_minutes=15,
            threshold="2",
            recipient_ids=[admin.pk],
        ),
        acting_user=None,
    )
    services.create_alarm(
        organisation=organisation,
        data=services.AlarmInput(
            name="Burst of failures",
            method="",
            metric=Metric.ERROR_COUNT,
            window_minutes=5,
            threshold="50",
            recipient_ids=[admin.pk],
        ),
        acting_user=None,
    )
    endpoint = WebhookEndpoint.objects.create(
        organisation=organisation,
        url=DEMO_WEBHOOK_URL,
        secret=webhooks.new_secret(),
        secret_created_at=now - timedelta(days=3),
        created_by=admin,
    )
    fired_at = (now - timedelta(days=1)).replace(hour=14, minute=5, second=0, microsecond=0)
    for kind, at, value, calls, errors, attempts in (
        (EventKind.FIRED, fired_at, Decimal("3.40"), 2_150, 73, 1),
        (EventKind.RECOVERED, fired_at + timedelta(minutes=30), Decimal("0.60"), 2_310, 14, 2),
    ):
        event = AlarmEvent.objects.create(
            organisation=organisation,
            alarm=rate,
            alarm_name=rate.name,
            kind=kind,
            at=at,
            method=rate.method,
            metric=rate.metric,
            window_minutes=rate.window_minutes,
            threshold=rate.threshold,
            value=value,
            calls=calls,
            errors=errors,
        )
        WebhookDelivery.objects.create(
            organisation=organisation,
            event_id=f"evt_demo_{kind}",
            event_type=f"alarm.{kind}",
            alarm_event=event,
            body=json.dumps({"id": f"evt_demo_{kind}", "type": f"alarm.{kind}"}),
            url=endpoint.url,
            status=DeliveryStatus.SUCCEEDED,
            attempts=attempts,
            response_code=200,
            created_at=at,
            last_attempt_at=at + timedelta(seconds=30 * (attempts - 1)),
            delivered_at=at + timedelta(seconds=30 * (attempts - 1)),
        )
    return True
