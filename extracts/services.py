"""Batch token extracts (SPEC §6): requested by an admin or a schedule, recovered when a worker is
lost, failed with a reason, expired after the retention period.

Writing an extract -- the Celery task's work -- is extracts/runner.py.
"""

import calendar
import functools
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from accounts import permissions, selectors
from accounts.models import Organisation, User
from accounts.services import lock_organisation
from audit.services import record
from common.dates import shown
from common.mail import portal_url, queue_templated_email
from extracts import encryption, locks
from extracts.models import (
    ACTIVE_STATUSES,
    ExtractKey,
    ExtractRequest,
    ExtractSchedule,
    Frequency,
    Kind,
    Status,
)
from files.models import Section, StoredFile

logger = logging.getLogger(__name__)

# A running extract beats after every chunk (milliseconds apart); one silent this long lost its worker.
STALE_AFTER = timedelta(minutes=10)
# A queued extract no worker started in this long is given up, so it stops blocking new ones.
QUEUED_TOO_LONG = timedelta(hours=6)
# How far ahead the first scheduled extract may be set (also keeps times far from year 9999).
FIRST_RUN_WITHIN = timedelta(days=366)
# Each attempt whose worker is lost starts again from zero; after this many the extract fails.
MAX_ATTEMPTS = 3
LOST_TOO_OFTEN = (
    f"The extract stopped part-way {MAX_ATTEMPTS} times: the workers running it were lost. "
    "Nothing was kept; request a new extract, or write to support if it happens again."
)
NEVER_STARTED = "No worker started the extract within 6 hours. Nothing was kept; request a new extract."


def _check_admin(user: User) -> Organisation:
    permissions.require(user, permissions.TOKEN_EXTRACTS)
    assert user.organisation is not None
    return user.organisation


def _already_active(extract: ExtractRequest) -> ValidationError:
    person = extract.requested_by
    if extract.kind == Kind.SCHEDULED or person is None:
        who = "the schedule" if extract.kind == Kind.SCHEDULED else "a former user"
    else:
        who = person.full_name or person.email
    return ValidationError(
        f"A token extract for {extract.organisation.name} is already {extract.get_status_display().lower()} "
        f"(requested {shown(extract.requested_at)} by {who}). "
        "Wait until it has finished before requesting another.",
        code="already_active",
    )


def _create_extract(organisation: Organisation, *, kind: Kind, requested_by: User | None) -> ExtractRequest:
    """Under the organisation's row lock; the partial unique constraint is the database's last word."""
    active = (
        ExtractRequest.objects.filter(organisation=organisation, status__in=ACTIVE_STATUSES)
        .select_related("organisation", "requested_by")
        .first()
    )
    if active is not None:
        raise _already_active(active)
    try:
        with transaction.atomic():
            extract = ExtractRequest.objects.create(organisation=organisation, kind=kind, requested_by=requested_by)
    except IntegrityError as exc:
        raise ValidationError(
            f"A token extract for {organisation.name} is already queued or running. "
            "Wait until it has finished before requesting another.",
            code="already_active",
        ) from exc
    record(
        action="extract.requested",
        actor=requested_by if kind == Kind.ONE_OFF else None,
        organisation=organisation,
        target=f"Token extract #{extract.pk} ({extract.get_kind_display().lower()})",
        extract=extract.pk,
        kind=kind,
    )
    from extracts.tasks import run_extract

    extract_id = extract.pk
    transaction.on_commit(lambda: run_extract.delay(extract_id))
    return extract


@transaction.atomic
def request_extract(*, acting_user: User) -> ExtractRequest:
    """A one-off extract of the user's organisation; refused while another one is queued or running."""
    organisation = _check_admin(acting_user)
    return _create_extract(lock_organisation(organisation.pk), kind=Kind.ONE_OFF, requested_by=acting_user)


@transaction.atomic
def retry_extract(*, extract: ExtractRequest, acting_user: User) -> ExtractRequest:
    """Support runs a failed extract again (the support admin's "retry" action).

    A new one-off extract of the same organisation, requested by the support user, so the
    organisation's extract list, its audit trail and the file's uploader all say who asked. The
    failed one stays as it was: its reason is the record of what happened. Refused, like any
    request, while another extract of the organisation is queued or running.
    """
    organisation = lock_organisation(extract.organisation_id)
    status = ExtractRequest.objects.filter(pk=extract.pk).values_list("status", flat=True).first()
    if status != Status.FAILED:
        raise ValidationError(
            f"Token extract #{extract.pk} has not failed: only a failed extract is retried.", code="not_failed"
        )
    retry = _create_extract(organisation, kind=Kind.ONE_OFF, requested_by=acting_user)
    record(
        action="extract.retried",
        actor=acting_user,
        organisation=organisation,
        target=f"Token extract #{extract.pk}",
        extract=extract.pk,
        retry=retry.pk,
    )
    return retry


# --- Schedules -------------------------------------------------------------------------------


def next_run_after(*, frequency: str, previous: datetime, anchor: datetime | None = None) -> datetime:
    """The run after ``previous``, at the same wall-clock time in the portal's time zone.

    Monthly runs fall on the anchor's day of the month, or the month's last day when it is
    shorter: 31 January, 28 (or 29) February, 31 March.
    """
    local = timezone.localtime(previous)
    if frequency == Frequency.DAILY:
        return local + timedelta(days=1)
    if frequency == Frequency.WEEKLY:
        return local + timedelta(days=7)
    if frequency != Frequency.MONTHLY:
        raise ValueError(f"Unknown frequency {frequency!r}")
    day = timezone.localtime(anchor).day if anchor is not None else local.day
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local.replace(year=year, month=month, day=min(day, calendar.monthrange(year, month)[1]))


def following_run(schedule: ExtractSchedule, *, now: datetime) -> datetime:
    """The first run of the series after ``now``: runs missed while nothing was checking are skipped."""
    run = schedule.next_run_at
    while run <= now:
        run = next_run_after(frequency=schedule.frequency, previous=run, anchor=schedule.first_run_at)
    return run


def due_schedules(now: datetime) -> QuerySet[ExtractSchedule]:
    return ExtractSchedule.objects.filter(active=True, next_run_at__lte=now)


@transaction.atomic
def set_schedule(*, acting_user: User, frequency: str, first_run_at: datetime | None = None) -> ExtractSchedule:
    """Start (or change) the organisation's one schedule; the first extract runs at ``first_run_at``."""
    organisation = lock_organisation(_check_admin(acting_user).pk)
    if frequency not in Frequency.values:
        raise ValidationError({"frequency": "Choose daily, weekly or monthly."})
    now = timezone.now()
    # A minute's grace: "now", typed into the form, is a few seconds old when it arrives.
    if first_run_at is not None and first_run_at < now - timedelta(minutes=1):
        raise ValidationError({"first_run_at": "Choose a time from now on, or leave it empty to start now."})
    if first_run_at is not None and first_run_at > now + FIRST_RUN_WITHIN:
        raise ValidationError({"first_run_at": "Choose a time within the next year."})
    start = first_run_at or now
    schedule, _ = ExtractSchedule.objects.update_or_create(
        organisation=organisation,
        defaults={
            "frequency": frequency,
            "first_run_at": start,
            "next_run_at": start,
            "active": True,
            "created_by": acting_user,
        },
    )
    record(
        action="extract.schedule_set",
        actor=acting_user,
        organisation=organisation,
        target=f"{schedule.get_frequency_display()} token extract",
        frequency=frequency,
        next_run_at=start.isoformat(),
    )
    return schedule


@transaction.atomic
def cancel_schedule(*, acting_user: User) -> ExtractSchedule:
    organisation = lock_organisation(_check_admin(acting_user).pk)
    schedule = ExtractSchedule.objects.select_for_update().filter(organisation=organisation, active=True).first()
    if schedule is None:
        raise ValidationError("There is no extract schedule to cancel.", code="no_schedule")
    schedule.active = False
    schedule.save(update_fields=["active", "updated_at"])
    record(
        action="extract.schedule_cancelled",
        actor=acting_user,
        organisation=organisation,
        target=f"{schedule.get_frequency_display()} token extract",
    )
    return schedule


@transaction.atomic
def _start_scheduled(*, schedule_id: int, now: datetime) -> ExtractRequest | None:
    """Queue the schedule's extract and move it to its next run; wait while another one is active."""
    organisation_id = ExtractSchedule.objects.filter(pk=schedule_id).values_list("organisation_id", flat=True).first()
    if organisation_id is None:
        return None
    organisation = lock_organisation(organisation_id)  # the order every writer locks in: organisation first
    schedule = ExtractSchedule.objects.select_for_update().filter(pk=schedule_id).first()
    if schedule is None or not schedule.active or schedule.next_run_at > now:
        return None  # changed or started by someone else a moment ago
    try:
        extract = _create_extract(organisation, kind=Kind.SCHEDULED, requested_by=schedule.created_by)
    except ValidationError:
        return None  # stays due: the next check after the active extract ends starts it
    schedule.next_run_at = following_run(schedule, now=now)
    schedule.save(update_fields=["next_run_at", "updated_at"])
    return extract


def start_due_extracts(*, now: datetime | None = None) -> list[int]:
    """Give up on lost extracts, then queue every due schedule's extract (Celery beat, every 15 minutes)."""
    now = now or timezone.now()
    recover_abandoned_extracts(now=now)
    started = []
    for schedule_id in list(due_schedules(now).values_list("pk", flat=True)):
        extract = _start_scheduled(schedule_id=schedule_id, now=now)
        if extract is not None:
            started.append(extract.pk)
    return started


def recover_abandoned_extracts(*, now: datetime) -> int:
    """Running extracts whose worker is gone go back to a worker; queued ones no worker took fail.

    A running extract silent for STALE_AFTER whose run lock nobody holds lost its worker and its
    task message (a redelivered message takes it over on its own, see run_extract): it is sent to
    a worker again, whose run_extract takes it over, or fails it after MAX_ATTEMPTS. Returns how
    many were resent or failed.
    """
    from extracts.tasks import run_extract as run_extract_task

    lost = ExtractRequest.objects.filter(status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER)
    never = ExtractRequest.objects.filter(status=Status.QUEUED, requested_at__lt=now - QUEUED_TOO_LONG)
    handled = 0
    for extract_id in list(lost.values_list("pk", flat=True)):
        if locks.running_elsewhere(extract_id):
            continue  # a live worker holds it: slow, not lost
        logger.warning("Token extract %s lost its worker: sending it to a worker again", extract_id)
        transaction.on_commit(functools.partial(run_extract_task.delay, extract_id))
        handled += 1
    for extract_id in list(never.values_list("pk", flat=True)):
        handled += mark_failed(extract_id, reason=NEVER_STARTED, only_if_queued=True)
    return handled


# --- The key extracts are encrypted to ------------------------------------------------------


def _check_may_set_key(user: User) -> Organisation:
    permissions.require(user, permissions.EXTRACT_KEY)
    assert user.organisation is not None
    return user.organisation


@transaction.atomic
def set_extract_key(*, acting_user: User, recipient: str) -> ExtractKey:
    """Encrypt the organisation's extracts from now on to ``recipient`` (an age public key), or
    replace the key they were encrypted to. A bad key is refused before anything is written.

    Extracts already written stay as they were; one running now keeps the key it started with.
    """
    organisation = lock_organisation(_check_may_set_key(acting_user).pk)
    cleaned = encryption.clean_recipient(recipient)
    previous = ExtractKey.objects.select_for_update().filter(organisation=organisation).first()
    if previous is not None and previous.recipient == cleaned:
        raise ValidationError(
            {"recipient": ValidationError("Extracts are already encrypted to this key.", code="unchanged")}
        )
    now = timezone.now()
    key, _ = ExtractKey.objects.update_or_create(
        organisation=organisation, defaults={"recipient": cleaned, "set_by": acting_user, "set_at": now}
    )
    change = "replaced" if previous is not None else "set"
    record(
        action="extract.key_replaced" if previous is not None else "extract.key_set",
        actor=acting_user,
        organisation=organisation,
        target=f"Extract key {key.short_form}",
        recipient=cleaned,
        previous=previous.recipient if previous is not None else None,
    )
    _email_key_change(
        organisation,
        change=change,
        acting_user=acting_user,
        at=now,
        recipient=cleaned,
        previous=previous.recipient if previous is not None else "",
    )
    return key


@transaction.atomic
def remove_extract_key(*, acting_user: User) -> None:
    """Extracts from now on are plain gzip CSV again."""
    organisation = lock_organisation(_check_may_set_key(acting_user).pk)
    key = ExtractKey.objects.select_for_update().filter(organisation=organisation).first()
    if key is None:
        raise ValidationError("Extracts are not encrypted: there is no key to remove.", code="no_key")
    key.delete()
    now = timezone.now()
    record(
        action="extract.key_removed",
        actor=acting_user,
        organisation=organisation,
        target=f"Extract key {encryption.short_form(key.recipient)}",
        recipient=key.recipient,
    )
    _email_key_change(
        organisation, change="removed", acting_user=acting_user, at=now, recipient="", previous=key.recipient
    )


def _email_key_change(
    organisation: Organisation, *, change: str, acting_user: User, at: datetime, recipient: str, previous: str
) -> None:
    email_admins(
        organisation,
        subject=f"Token extract encryption key {change}",
        template="extracts/email/key_changed",
        context={
            "change": change,
            "by": f"{acting_user.full_name} ({acting_user.email})" if acting_user.full_name else acting_user.email,
            "at": timezone.localtime(at),
            "recipient": recipient,
            "previous": previous,
            "key_url": portal_url(reverse("extract-key")),
        },
    )


# --- Failing an extract (the runner, and recovery above) -----------------------------------


def mark_failed(
    extract_id: int,
    *,
    reason: str,
    only_if_queued: bool = False,
    only_if_beat_before: datetime | None = None,
) -> bool:
    """Fail an extract that is still queued or running (conditions re-checked in the UPDATE)."""
    with transaction.atomic():
        active = ExtractRequest.objects.filter(pk=extract_id, status__in=ACTIVE_STATUSES)
        if only_if_queued:
            active = active.filter(status=Status.QUEUED)
        if only_if_beat_before is not None:
            active = active.filter(heartbeat_at__lt=only_if_beat_before)
        failed = active.update(status=Status.FAILED, failure_reason=reason[:300], finished_at=timezone.now())
        if not failed:
            return False
        extract = ExtractRequest.objects.select_related("organisation").get(pk=extract_id)
        record(
            action="extract.failed",
            actor=None,
            organisation=extract.organisation,
            target=f"Token extract #{extract.pk}",
            extract=extract.pk,
            reason=extract.failure_reason,
            rows_written=extract.rows_written,
        )
        email_admins(
            extract.organisation,
            subject="Your token extract failed",
            template="extracts/email/failed",
            context={"extract": extract},
        )
    return True


def email_admins(organisation: Organisation, *, subject: str, template: str, context: dict[str, Any]) -> None:
    admins = selectors.active_admins(organisation_id=organisation.pk)
    for admin in admins:
        queue_templated_email(
            template=template,
            subject=f"{subject} ({organisation.name})",
            context={
                **context,
                "admin": admin,
                "organisation": organisation,
                "files_url": portal_url(reverse("files") + "?section=extracts"),
                "extracts_url": portal_url(reverse("extract-list")),
            },
            to=[admin.email],
        )


# --- Retention -----------------------------------------------------------------------------------

# Files expired per transaction: each batch holds its rows' locks only while it deletes those objects.
RETENTION_BATCH = 100


def expire_old_extract_files(*, now: datetime | None = None) -> int:
    """Delete extract files older than EXTRACT_RETENTION_DAYS; returns how many expired.

    An extract is a copy of every token an organisation holds: the longer it lies in storage, the
    longer a compromised admin account or a leaked storage bucket exposes the whole vault. Only
    the content goes: the File Manager entry and the extract row stay, marked expired, so admins
    read "expired on …, request a new one" instead of wondering where the file went, and the audit
    trail keeps naming the file and its SHA-256.

    In batches of RETENTION_BATCH, each one transaction whose rows are locked with SKIP LOCKED
    (a second beat, or an admin deleting the same file, neither waits nor doubles the work). The
    object is deleted before the row is marked: if storage fails, the rows roll back unmarked and
    the next run deletes again, which is a no-op for an object already gone (local folder and S3
    alike), so reruns converge and nothing is counted twice.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.EXTRACT_RETENTION_DAYS)
    expired = 0
    while True:
        with transaction.atomic():
            batch = list(
                StoredFile.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(section=Section.EXTRACTS, expired_at__isnull=True, uploaded_at__lt=cutoff)
                .select_related("organisation")
                .order_by("pk")[:RETENTION_BATCH]
            )
            for stored in batch:
                if stored.file.name:
                    stored.file.storage.delete(stored.file.name)
            ids = [stored.pk for stored in batch]
            StoredFile.objects.filter(pk__in=ids).update(expired_at=now, file="")
            ExtractRequest.objects.filter(file_id__in=ids, status=Status.DONE).update(
                status=Status.EXPIRED, expired_at=now
            )
            for stored in batch:
                record(
                    action="extract.expired",
                    actor=None,
                    organisation=stored.organisation,
                    target=stored.name,
                    sha256=stored.sha256,
                    retention_days=settings.EXTRACT_RETENTION_DAYS,
                )
        expired += len(batch)
        if len(batch) < RETENTION_BATCH:
            break
    if expired:
        logger.info("Expired %d token extract file(s) older than %d days", expired, settings.EXTRACT_RETENTION_DAYS)
    return expired
