from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEvent
from common.replica import lag_tolerant

if TYPE_CHECKING:
    from accounts.models import User


def organisation_events(*, user: User) -> QuerySet[AuditEvent]:
    """The organisation's trail, newest first: read for the page and the CSV, so it may lag a moment
    (the replica when one is configured, common/replica.py); no decision is taken on it."""
    if user.organisation_id is None:
        return AuditEvent.objects.none()
    events = AuditEvent.objects.using(lag_tolerant()).filter(organisation_id=user.organisation_id)
    return events.select_related("subject_user").order_by("-at", "-id")


def filtered_events(
    *,
    user: User,
    actor_id: int | None = None,
    action: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    events = organisation_events(user=user)
    if actor_id:
        events = events.filter(actor_id=actor_id)
    if action:
        events = events.filter(action=action)
    if date_from:
        events = events.filter(at__gte=timezone.make_aware(datetime.combine(date_from, time.min)))
    if date_to and date_to < date.max:  # up to 31 December 9999 is no limit (and has no day after it)
        events = events.filter(at__lt=timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min)))
    return events


def recorded_actions(*, user: User) -> list[str]:
    return sorted(set(organisation_events(user=user).order_by().values_list("action", flat=True).distinct()))
