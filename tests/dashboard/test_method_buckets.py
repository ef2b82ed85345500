"""5-minute usage counters: what error alarms read, kept two days."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from dashboard import selectors
from dashboard.models import DailyMethodCount, FiveMinuteMethodCount, bucket_start
from dashboard.tasks import delete_old_method_buckets
from tests.dashboard.helpers import batch, error_event, ok_event


@pytest.mark.parametrize(
    ("at", "start"),
    [
        (datetime(2026, 11, 26, 10, 7, 30, 5, tzinfo=UTC), datetime(2026, 11, 26, 10, 5, tzinfo=UTC)),
        (datetime(2026, 11, 26, 10, 5, tzinfo=UTC), datetime(2026, 11, 26, 10, 5, tzinfo=UTC)),
        (datetime(2026, 11, 26, 10, 4, 59, 999999, tzinfo=UTC), datetime(2026, 11, 26, 10, 0, tzinfo=UTC)),
        (datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC), datetime(2026, 11, 26, 23, 55, tzinfo=UTC)),
    ],
)
def test_a_call_falls_in_the_five_minute_slot_that_holds_it(at, start):
    assert bucket_start(at) == start


def _slot(organisation, method: str, start: datetime, calls: int, errors: int) -> FiveMinuteMethodCount:
    return FiveMinuteMethodCount.objects.create(
        organisation=organisation, method=method, start=start, calls=calls, errors=errors
    )


def test_slot_counts_add_up_one_method_or_all_in_the_slots_that_overlap_the_window(
    organisation, other_organisation, django_assert_num_queries
):
    ten = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    _slot(organisation, "Tokenize", ten - timedelta(minutes=5), 100, 50)  # before the first slot
    _slot(organisation, "Tokenize", ten, 10, 1)
    _slot(organisation, "Tokenize", ten + timedelta(minutes=5), 20, 2)
    _slot(organisation, "Detokenize", ten + timedelta(minutes=5), 30, 3)
    _slot(organisation, "Tokenize", ten + timedelta(minutes=10), 100, 50)  # after the last slot
    _slot(other_organisation, "Tokenize", ten, 1000, 1000)

    with django_assert_num_queries(1):
        tokenize = selectors.slot_counts(
            organisation_id=organisation.pk,
            method="Tokenize",
            since=ten + timedelta(minutes=4, seconds=59),
            until=ten + timedelta(minutes=9),
        )
    every = selectors.slot_counts(
        organisation_id=organisation.pk, method=None, since=ten, until=ten + timedelta(minutes=5)
    )
    nothing = selectors.slot_counts(organisation_id=organisation.pk, method="Validate", since=ten, until=ten)

    assert (tokenize.calls, tokenize.errors) == (30, 3)
    assert (tokenize.start, tokenize.end) == (ten, ten + timedelta(minutes=10))
    assert (every.calls, every.errors) == (60, 6)
    assert (nothing.calls, nothing.errors) == (0, 0)


def test_slots_older_than_two_days_are_deleted_and_newer_ones_stay(organisation, other_organisation, monkeypatch):
    now = datetime.now(UTC)
    _slot(organisation, "Tokenize", bucket_start(now - timedelta(days=2, minutes=5)), 1, 0)
    _slot(other_organisation, "Tokenize", bucket_start(now - timedelta(days=30)), 1, 1)
    kept = _slot(organisation, "Tokenize", bucket_start(now - timedelta(days=1, hours=23)), 1, 0)

    assert delete_old_method_buckets.delay().get() == 2
    assert list(FiveMinuteMethodCount.objects.all()) == [kept]
    assert delete_old_method_buckets.delay().get() == 0


def test_the_bucket_retention_runs_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["delete-old-method-buckets"]
    assert entry == {"task": "dashboard.tasks.delete_old_method_buckets", "schedule": 3600}


# --- Written by ingestion ----------------------------------------------------------------------------


def _buckets(organisation) -> dict[tuple[str, datetime], tuple[int, int]]:
    rows = FiveMinuteMethodCount.objects.filter(organisation=organisation)
    return {(r.method, r.start): (r.calls, r.errors) for r in rows}


def test_ingestion_counts_calls_and_errors_per_five_minute_slot_once_per_batch(
    post_usage, organisation, other_organisation
):
    acme, globex = organisation.public_id, other_organisation.public_id
    slot = bucket_start(datetime.now(UTC) - timedelta(hours=1))
    body = batch(
        ok_event(acme, "Tokenize", slot + timedelta(seconds=1)),
        error_event(acme, "Tokenize", slot + timedelta(minutes=4, seconds=59)),
        ok_event(acme, "Tokenize", slot + timedelta(minutes=5)),
        error_event(acme, "Detokenize", slot + timedelta(minutes=2)),
        ok_event(globex, "Tokenize", slot),
        # Older than the two days kept: counted by the day, never in a slot.
        error_event(acme, "Tokenize", datetime.now(UTC) - timedelta(days=3)),
    )

    assert post_usage(body).status_code == 200
    assert post_usage(body).status_code == 200  # the same batch again counts once

    assert _buckets(organisation) == {
        ("Tokenize", slot): (2, 1),
        ("Tokenize", slot + timedelta(minutes=5)): (1, 0),
        ("Detokenize", slot): (1, 1),
    }
    assert _buckets(other_organisation) == {("Tokenize", slot): (1, 0)}
    assert sum(DailyMethodCount.objects.filter(organisation=organisation).values_list("calls", flat=True)) == 5


def test_later_batches_add_to_the_same_slot(post_usage, organisation):
    slot = bucket_start(datetime.now(UTC) - timedelta(minutes=30))
    post_usage(batch(error_event(organisation.public_id, "Tokenize", slot), batch_id="first"))
    post_usage(batch(ok_event(organisation.public_id, "Tokenize", slot + timedelta(minutes=1)), batch_id="second"))

    assert _buckets(organisation) == {("Tokenize", slot): (2, 1)}
