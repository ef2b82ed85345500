from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet
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
    target: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[AuditEvent]:
    events = organisation_events(user=user)
    if actor_id:
        events = events.filter(actor_id=actor_id)
    if action:
        events = events.filter(action=action)
    if target:  # what the event was done to, or whose account it touched: any part of the text
        events = events.filter(Q(target_label__icontains=target) | Q(subject_label__icontains=target))
    if date_from:
        events = events.filter(at__gte=timezone.make_aware(datetime.combine(date_from, time.min)))
    if date_to and date_to < date.max:  # up to 31 December 9999 is no limit (and has no day after it)
        events = events.filter(at__lt=timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min)))
    return events


def recorded_actions(*, user: User) -> list[str]:
    return sorted(set(organisation_events(user=user).order_by().values_list("action", flat=True).distinct()))


# An event's place in the trail's order (newest first): its time, then its id for events of the same time.
Position = tuple[datetime, int]


@dataclass(frozen=True)
class EventPage:
    """One page of the trail by keyset (no OFFSET, no COUNT): the cost of a page does not grow with
    the trail. ``newer``/``older`` are the positions to page from, None at either end."""

    object_list: list[AuditEvent]
    newer: Position | None
    older: Position | None


def event_page(
    events: QuerySet[AuditEvent], *, before: Position | None = None, after: Position | None = None, size: int = 50
) -> EventPage:
    """The ``size`` events of ``events`` (ordered newest first) just older than ``before``, or just newer
    than ``after``, or the newest; one query."""
    if after is not None:
        at, pk = after
        rows = list(events.filter(Q(at__gt=at) | Q(at=at, id__gt=pk)).order_by("at", "id")[: size + 1])
        more_newer = len(rows) > size
        rows = rows[:size][::-1]
        newer = _position(rows[0]) if rows and more_newer else None
        return EventPage(rows, newer, _position(rows[-1]) if rows else None)
    if before is not None:
        at, pk = before
        events = events.filter(Q(at__lt=at) | Q(at=at, id__lt=pk))
    rows = list(events.order_by("-at", "-id")[: size + 1])
    more_older = len(rows) > size
    rows = rows[:size]
    newer = _position(rows[0]) if rows and before is not None else None
    return EventPage(rows, newer, _position(rows[-1]) if more_older else None)


def _position(event: AuditEvent) -> Position:
    return (event.at, event.pk)
