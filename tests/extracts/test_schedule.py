"""Scheduled extracts: when the next one is due, and the periodic task that starts them."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.models import AuditEvent
from extracts import services
from extracts.models import ExtractRequest, ExtractSchedule, Frequency, Kind, Status
from extracts.services import due_schedules, following_run, next_run_after
from extracts.tasks import start_due_extracts
from tests.extracts.conftest import BOTH_DATABASES, give_tokens

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


def at(year: int, month: int, day: int, hour: int = 6, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- When the next run is due ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "previous", "expected"),
    [
        (Frequency.DAILY, at(2025, 3, 14, 6, 30), at(2025, 3, 15, 6, 30)),
        (Frequency.DAILY, at(2025, 12, 31), at(2026, 1, 1)),
        (Frequency.WEEKLY, at(2025, 3, 14), at(2025, 3, 21)),
        (Frequency.WEEKLY, at(2025, 2, 25), at(2025, 3, 4)),
        (Frequency.MONTHLY, at(2025, 3, 14), at(2025, 4, 14)),
        (Frequency.MONTHLY, at(2025, 12, 15), at(2026, 1, 15)),
        (Frequency.MONTHLY, at(2025, 1, 31), at(2025, 2, 28)),
        (Frequency.MONTHLY, at(2024, 1, 31), at(2024, 2, 29)),
        (Frequency.MONTHLY, at(2025, 3, 31), at(2025, 4, 30)),
    ],
)
def test_next_run_after(frequency, previous, expected):
    assert next_run_after(frequency=frequency, previous=previous) == expected


def test_monthly_schedule_started_on_the_31st_comes_back_to_the_31st():
    anchor = at(2025, 1, 31)
    runs = [anchor]
    for _ in range(3):
        runs.append(next_run_after(frequency=Frequency.MONTHLY, previous=runs[-1], anchor=anchor))

    assert runs[1:] == [at(2025, 2, 28), at(2025, 3, 31), at(2025, 4, 30)]


def test_runs_missed_while_nothing_checked_are_skipped_not_made_up(owner):
    schedule = ExtractSchedule(
        organisation=owner.organisation,
        frequency=Frequency.DAILY,
        first_run_at=at(2025, 3, 1),
        next_run_at=at(2025, 3, 10),
    )

    assert following_run(schedule, now=at(2025, 3, 13, 9)) == at(2025, 3, 14)


def test_due_schedules_are_the_active_ones_whose_time_has_come(owner, outsider, organisation):
    now = timezone.now()
    due = ExtractSchedule.objects.create(
        organisation=organisation, frequency=Frequency.DAILY, first_run_at=now, next_run_at=now - timedelta(minutes=1)
    )
    ExtractSchedule.objects.create(
        organisation=outsider.organisation,
        frequency=Frequency.DAILY,
        first_run_at=now,
        next_run_at=now + timedelta(minutes=1),
    )

    assert list(due_schedules(now)) == [due]
    due.active = False
    due.save()
    assert list(due_schedules(now)) == []


# --- The periodic task --------------------------------------------------------------------------


def test_due_schedule_starts_an_extract_and_moves_to_its_next_run(
    owner, vault_table, django_capture_on_commit_callbacks
):
    give_tokens(owner.organisation, 30)
    now = timezone.now()
    schedule = ExtractSchedule.objects.create(
        organisation=owner.organisation,
        frequency=Frequency.WEEKLY,
        first_run_at=now - timedelta(hours=1),
        next_run_at=now - timedelta(hours=1),
        created_by=owner,
    )

    with django_capture_on_commit_callbacks(execute=True):
        started = start_due_extracts.delay().get()

    extract = ExtractRequest.objects.get()
    assert started == [extract.pk]
    assert (extract.kind, extract.status, extract.rows_written) == (Kind.SCHEDULED, Status.DONE, 30)
    schedule.refresh_from_db()
    assert schedule.next_run_at == now - timedelta(hours=1) + timedelta(days=7)
    event = AuditEvent.objects.get(action="extract.requested")
    assert event.actor is None
    assert event.target_label == f"Token extract #{extract.pk} (scheduled)"

    # Checked again a quarter of an hour later: nothing is due.
    assert services.start_due_extracts(now=now + timedelta(minutes=15)) == []
    assert ExtractRequest.objects.count() == 1


def test_schedule_not_yet_due_or_cancelled_starts_nothing(owner, outsider):
    now = timezone.now()
    ExtractSchedule.objects.create(
        organisation=owner.organisation,
        frequency=Frequency.DAILY,
        first_run_at=now,
        next_run_at=now + timedelta(hours=2),
    )
    ExtractSchedule.objects.create(
        organisation=outsider.organisation,
        frequency=Frequency.DAILY,
        first_run_at=now,
        next_run_at=now - timedelta(hours=2),
        active=False,
    )

    assert start_due_extracts.delay().get() == []
    assert not ExtractRequest.objects.exists()


def test_due_schedule_waits_while_an_extract_is_running(owner):
    now = timezone.now()
    running = ExtractRequest.objects.create(
        organisation=owner.organisation, status=Status.RUNNING, started_at=now, heartbeat_at=now
    )
    schedule = ExtractSchedule.objects.create(
        organisation=owner.organisation, frequency=Frequency.DAILY, first_run_at=now, next_run_at=now
    )

    assert start_due_extracts.delay().get() == []

    assert list(ExtractRequest.objects.all()) == [running]
    schedule.refresh_from_db()
    assert schedule.next_run_at == now  # still due: the next check after the running one ends starts it


# --- Setting and cancelling (services; the page is in test_pages) --------------------------------


def test_admin_sets_one_schedule_and_changing_it_keeps_one(owner):
    first = services.set_schedule(acting_user=owner, frequency=Frequency.DAILY)
    later = timezone.now() + timedelta(days=2)

    second = services.set_schedule(acting_user=owner, frequency=Frequency.MONTHLY, first_run_at=later)

    assert second.pk == first.pk
    assert ExtractSchedule.objects.count() == 1
    second.refresh_from_db()
    assert (second.frequency, second.next_run_at, second.active, second.created_by) == (
        Frequency.MONTHLY,
        later,
        True,
        owner,
    )
    assert AuditEvent.objects.filter(action="extract.schedule_set").count() == 2


def test_schedule_in_the_past_is_refused_and_nothing_stored(owner):
    with pytest.raises(ValidationError) as refused:
        services.set_schedule(
            acting_user=owner, frequency=Frequency.DAILY, first_run_at=timezone.now() - timedelta(hours=1)
        )

    assert refused.value.message_dict == {
        "first_run_at": ["Choose a time from now on, or leave it empty to start now."]
    }
    assert not ExtractSchedule.objects.exists()


def test_cancelled_schedule_stays_off(owner):
    services.set_schedule(acting_user=owner, frequency=Frequency.WEEKLY)

    services.cancel_schedule(acting_user=owner)

    assert ExtractSchedule.objects.get().active is False
    assert AuditEvent.objects.filter(action="extract.schedule_cancelled").count() == 1
    with pytest.raises(ValidationError, match=r"There is no extract schedule to cancel\."):
        services.cancel_schedule(acting_user=owner)


def test_member_cannot_set_or_cancel_a_schedule(member):
    with pytest.raises(PermissionDenied):
        services.set_schedule(acting_user=member, frequency=Frequency.DAILY)
    with pytest.raises(PermissionDenied):
        services.cancel_schedule(acting_user=member)

    assert not ExtractSchedule.objects.exists()
