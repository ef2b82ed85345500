"""Error alarms: defined by an organisation's admins, evaluated by a periodic task on the 5-minute
usage counters, announced when they fire and when they recover by email to the chosen users and
to the organisation's webhook (alarms.webhooks)."""

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, User
from accounts.permissions import MANAGE_ALARMS, require
from alarms import webhooks
from alarms.models import (
    MAX_RATE,
    NAME_MAX_LENGTH,
    WINDOW_CHOICES,
    Alarm,
    AlarmEvent,
    EventKind,
    Metric,
    State,
    WebhookDelivery,
    describe,
)
from audit.services import record
from common.mail import portal_url, queue_templated_email
from dashboard import selectors as usage

logger = logging.getLogger(__name__)

ADMINS_ONLY = MANAGE_ALARMS.refusal
# The method names ingestion accepts (dashboard.ingest.METHOD_PATTERN).
METHOD_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
MAX_COUNT_THRESHOLD = 10**9
HUNDREDTH = Decimal("0.01")
HISTORY_RETENTION_CHUNK = 5000


@dataclass(frozen=True)
class AlarmInput:
    """What an admin asks for, as typed; ``clean`` checks it and words the messages."""

    name: str
    method: str  # empty: all methods together
    metric: str
    window_minutes: int
    threshold: str | Decimal
    recipient_ids: Iterable[int]
    enabled: bool = True


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _check_admin(acting_user: User | None, organisation_id: int) -> None:
    if acting_user is None:  # support tools and the demo data
        return
    require(acting_user, MANAGE_ALARMS, organisation_id=organisation_id)


def _clean_name(name: str) -> str:
    text = name.strip()
    if not text:
        raise _field_error("name", "Give the alarm a name, e.g. “Tokenize failing”.", "required")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise _field_error("name", "Keep the name to one line of plain text.", "control_characters")
    if len(text) > NAME_MAX_LENGTH:
        raise _field_error("name", f"Keep the name to {NAME_MAX_LENGTH} characters (it has {len(text)}).", "max_length")
    return text


def _clean_method(method: str) -> str:
    text = method.strip()
    if text and not METHOD_PATTERN.fullmatch(text):
        raise _field_error(
            "method",
            "A method name is 1 to 64 letters, digits, dots, underscores or hyphens, as in “Tokenize”. "
            "Leave it empty to watch all methods together.",
            "invalid",
        )
    return text


def _clean_threshold(metric: str, raw: str | Decimal) -> Decimal:
    try:
        value = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise _field_error("threshold", "Enter the threshold as a number, e.g. 5.", "invalid")
    if metric == Metric.ERROR_RATE:
        if not Decimal(0) < value <= MAX_RATE or value != value.quantize(HUNDREDTH, rounding=ROUND_HALF_UP):
            raise _field_error(
                "threshold",
                "An error rate is a percentage above 0 and at most 100, with at most two decimals (e.g. 2.5).",
                "rate_range",
            )
    elif value != value.to_integral_value() or not 1 <= value <= MAX_COUNT_THRESHOLD:
        raise _field_error(
            "threshold", f"A number of failed calls is a whole number from 1 to {MAX_COUNT_THRESHOLD:,}.", "count_range"
        )
    return value.quantize(HUNDREDTH)


def _recipients(organisation_id: int, ids: Iterable[int]) -> list[User]:
    wanted = set(ids)
    people = list(User.objects.filter(organisation_id=organisation_id, is_active=True, pk__in=wanted))
    if len(people) != len(wanted):
        raise _field_error("recipients", "Choose active users of your organisation.", "invalid_choice")
    return people


def clean(organisation_id: int, data: AlarmInput) -> tuple[dict[str, Any], list[User]]:
    """The alarm's fields and recipients, or a ValidationError keyed by field with every problem."""
    errors: dict[str, list[ValidationError]] = {}
    fields: dict[str, Any] = {}
    if data.metric not in Metric.values:
        errors["metric"] = [ValidationError("Choose failed calls or error rate.", code="invalid_choice")]
    if data.window_minutes not in dict(WINDOW_CHOICES):
        errors["window_minutes"] = [ValidationError("Choose a window from 5 minutes to 24 hours.", code="invalid")]
    checks: list[tuple[str, Any]] = [
        ("name", lambda: _clean_name(data.name)),
        ("method", lambda: _clean_method(data.method)),
    ]
    if "metric" not in errors:
        checks.append(("threshold", lambda: _clean_threshold(data.metric, data.threshold)))
    for name, check in checks:
        try:
            fields[name] = check()
        except ValidationError as exc:
            errors.update(exc.error_dict)
    people: list[User] = []
    try:
        people = _recipients(organisation_id, data.recipient_ids)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    fields.update(metric=data.metric, window_minutes=data.window_minutes, enabled=data.enabled)
    return fields, people


def _check_unique_name(organisation: Organisation, name: str, alarm: Alarm | None) -> None:
    others = Alarm.objects.filter(organisation=organisation, name__iexact=name)
    if alarm is not None:
        others = others.exclude(pk=alarm.pk)
    if others.exists():
        raise _field_error("name", f"Your organisation already has an alarm named “{name}”.", "duplicate")


def _saved(alarm: Alarm, name: str) -> None:
    try:
        with transaction.atomic():
            alarm.save()
    except IntegrityError as exc:  # the database's last word on the unique name
        raise _field_error("name", f"Your organisation already has an alarm named “{name}”.", "duplicate") from exc


@transaction.atomic
def create_alarm(*, organisation: Organisation, data: AlarmInput, acting_user: User | None) -> Alarm:
    """A new alarm, or a ValidationError (keyed by field, or none for the organisation's maximum)
    and nothing stored."""
    _check_admin(acting_user, organisation.pk)
    fields, people = clean(organisation.pk, data)
    # Counted under the organisation's row lock: two admins at once cannot pass the maximum.
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    limit = settings.ALARMS_PER_ORGANISATION
    if Alarm.objects.filter(organisation=org).count() >= limit:
        raise ValidationError(
            f"{org.name} already has {limit} alarms, the most allowed. Delete or change one instead.", code="limit"
        )
    _check_unique_name(org, fields["name"], None)
    alarm = Alarm(organisation=org, created_by=acting_user, **fields)
    _saved(alarm, fields["name"])
    alarm.recipients.set(people)
    record(
        action="alarm.created",
        actor=acting_user,
        organisation=org,
        target=alarm.name,
        condition=alarm.condition,
        recipients=sorted(p.email for p in people),
    )
    return alarm


@transaction.atomic
def update_alarm(*, alarm: Alarm, data: AlarmInput, acting_user: User | None) -> Alarm:
    """Change an alarm. Turning it off forgets whether it was firing: it starts from OK when it is
    turned on again, and only then says so if the errors are still there."""
    _check_admin(acting_user, alarm.organisation_id)
    fields, people = clean(alarm.organisation_id, data)
    locked = Alarm.objects.select_for_update().filter(pk=alarm.pk, organisation_id=alarm.organisation_id).first()
    if locked is None:
        raise ValidationError("This alarm was deleted a moment ago.", code="gone")
    _check_unique_name(locked.organisation, fields["name"], locked)
    before = {name: getattr(locked, name) for name in fields}
    before_recipients = set(locked.recipients.values_list("pk", flat=True))
    for name, value in fields.items():
        setattr(locked, name, value)
    if not locked.enabled:
        locked.state, locked.state_since, locked.last_value, locked.last_evaluated_at = State.OK, None, None, None
        locked.last_breach_at = None
    _saved(locked, fields["name"])
    locked.recipients.set(people)
    changed = sorted(name for name, value in fields.items() if before[name] != value)
    if before_recipients != {p.pk for p in people}:
        changed.append("recipients")
    if changed:
        record(
            action="alarm.changed",
            actor=acting_user,
            organisation=locked.organisation,
            target=locked.name,
            fields=changed,
            condition=locked.condition,
        )
    return locked


@transaction.atomic
def delete_alarm(*, alarm: Alarm, acting_user: User | None) -> None:
    """Delete an alarm; its history stays (each event keeps the alarm's name and condition)."""
    _check_admin(acting_user, alarm.organisation_id)
    deleted, _ = Alarm.objects.filter(pk=alarm.pk, organisation_id=alarm.organisation_id).delete()
    if not deleted:
        raise ValidationError("This alarm was deleted a moment ago.", code="gone")
    record(
        action="alarm.deleted",
        actor=acting_user,
        organisation=alarm.organisation,
        target=alarm.name,
        condition=alarm.condition,
    )


# --- Evaluation --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    value: Decimal
    calls: int
    errors: int
    start: datetime
    end: datetime


def read(alarm: Alarm, *, now: datetime) -> Reading:
    """What the alarm watches, now: the 5-minute slots overlapping the window ending now (so at most
    5 minutes more than the window), from the counters, never the error log."""
    counts = usage.slot_counts(
        organisation_id=alarm.organisation_id,
        method=alarm.method or None,
        since=now - timedelta(minutes=alarm.window_minutes),
        until=now,
    )
    if alarm.metric == Metric.ERROR_COUNT:
        value = Decimal(counts.errors)
    elif counts.calls:
        value = (Decimal(100) * counts.errors / counts.calls).quantize(HUNDREDTH, rounding=ROUND_HALF_UP)
    else:
        value = Decimal(0)  # no calls, nothing failing
    return Reading(value=value, calls=counts.calls, errors=counts.errors, start=counts.start, end=counts.end)


@dataclass(frozen=True)
class Evaluation:
    evaluated: int = 0
    fired: int = 0
    recovered: int = 0


def evaluate_alarms(*, now: datetime | None = None) -> Evaluation:
    """Evaluate every enabled alarm once (the periodic task). Each in its own short transaction
    with the alarm's row locked, so two runs at once announce a change once."""
    now = now or timezone.now()
    evaluated = fired = recovered = 0
    for alarm_id in Alarm.objects.filter(enabled=True).order_by("id").values_list("id", flat=True):
        try:
            change = evaluate_alarm(alarm_id=alarm_id, now=now)
        except Exception:  # one broken alarm must not silence every later one; the next run tries again
            logger.exception("Evaluating alarm %s failed", alarm_id)
            continue
        evaluated += 1
        fired += change == EventKind.FIRED
        recovered += change == EventKind.RECOVERED
    return Evaluation(evaluated=evaluated, fired=fired, recovered=recovered)


def _calm_long_enough(alarm: Alarm, now: datetime) -> bool:
    """Whether no evaluation read the threshold or more for ALARM_RECOVERY_MINUTES (0: recover at once)."""
    calm = timedelta(minutes=settings.ALARM_RECOVERY_MINUTES)
    return alarm.last_breach_at is None or now - alarm.last_breach_at >= calm


@transaction.atomic
def evaluate_alarm(*, alarm_id: int, now: datetime) -> EventKind | None:
    """Read the alarm's window; record, email and post a change of state. Returns the change, if any."""
    alarm = Alarm.objects.select_for_update().select_related("organisation").filter(pk=alarm_id).first()
    if alarm is None or not alarm.enabled:
        return None
    if alarm.last_evaluated_at is not None and alarm.last_evaluated_at > now:
        return None  # a later run got here first
    reading = read(alarm, now=now)
    breached = reading.value >= alarm.threshold
    if breached:
        alarm.last_breach_at = now
    change = None
    if breached and not alarm.is_firing:
        change = EventKind.FIRED
    elif not breached and alarm.is_firing and _calm_long_enough(alarm, now):
        change = EventKind.RECOVERED
    if change is not None:
        alarm.state, alarm.state_since = (State.FIRING if change == EventKind.FIRED else State.OK), now
    alarm.last_value, alarm.last_evaluated_at = reading.value, now
    alarm.save(update_fields=["state", "state_since", "last_value", "last_evaluated_at", "last_breach_at"])
    if change is not None:
        event = AlarmEvent.objects.create(
            organisation=alarm.organisation,
            alarm=alarm,
            alarm_name=alarm.name,
            kind=change,
            at=now,
            method=alarm.method,
            metric=alarm.metric,
            window_minutes=alarm.window_minutes,
            threshold=alarm.threshold,
            value=reading.value,
            calls=reading.calls,
            errors=reading.errors,
        )
        _announce(alarm, event, reading)
    return change


def subject_for(event: AlarmEvent) -> str:
    if event.kind == EventKind.FIRED:
        return f"Alarm “{event.alarm_name}” fired: {event.shown_value} ({event.condition})"
    return f"Alarm “{event.alarm_name}” recovered: {event.shown_value} ({event.condition})"


def _announce(alarm: Alarm, event: AlarmEvent, reading: Reading) -> None:
    """Email each chosen user still active in the organisation, and queue the webhook event."""
    history_url = portal_url(reverse("alarm-history"))
    recipients = alarm.recipients.filter(organisation_id=alarm.organisation_id, is_active=True).order_by("email")
    subject = subject_for(event)
    for person in recipients:
        queue_templated_email(
            template="alarms/email/alarm",
            subject=subject,
            context={
                "person": person,
                "organisation": alarm.organisation,
                "event": event,
                "reading": reading,
                "history_url": history_url,
            },
            to=[person.email],
        )
    webhooks.queue_event(
        organisation=alarm.organisation,
        event_type=f"alarm.{event.kind}",
        data={
            "alarm": {
                "id": alarm.pk,
                "name": alarm.name,
                "method": alarm.method or None,
                "metric": alarm.metric,
                "window_minutes": alarm.window_minutes,
                "threshold": str(alarm.threshold),
                "condition": describe(alarm.metric, alarm.method, alarm.threshold, alarm.window_minutes),
            },
            "state": alarm.state,
            "reading": {
                "value": str(reading.value),
                "calls": reading.calls,
                "errors": reading.errors,
                "from": webhooks.utc_iso(reading.start),
                "to": webhooks.utc_iso(reading.end),
            },
            "history_url": history_url,
        },
        alarm_event=event,
        now=event.at,
    )


# --- Retention ---------------------------------------------------------------------------------


def delete_old_alarm_history(*, now: datetime | None = None) -> int:
    """Delete alarm events and webhook deliveries older than ALARM_HISTORY_RETENTION_DAYS.

    Oldest first, HISTORY_RETENTION_CHUNK rows per statement, deliveries before the events they
    name; safe to rerun. Returns how many rows went.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.ALARM_HISTORY_RETENTION_DAYS)
    deleted = 0
    for model, field in ((WebhookDelivery, "created_at"), (AlarmEvent, "at")):
        while True:
            old = model.objects.filter(**{f"{field}__lt": cutoff}).order_by(field).values("id")
            count, _ = model.objects.filter(id__in=old[:HISTORY_RETENTION_CHUNK]).delete()
            deleted += count
            if count < HISTORY_RETENTION_CHUNK:
                break
    return deleted
