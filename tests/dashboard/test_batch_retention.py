"""Ids of ingested usage batches older than INGESTED_BATCH_RETENTION_DAYS go; newer ones still dedupe."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from dashboard import services
from dashboard.models import DailyMethodCount, IngestedBatch
from dashboard.tasks import delete_old_ingested_batches
from tests.dashboard.helpers import batch, ok_event

DAY = timedelta(days=1)


def _received(batch_id: str, age: timedelta) -> IngestedBatch:
    return IngestedBatch.objects.create(batch_id=batch_id, received_at=timezone.now() - age, events=1)


def _ids() -> list[str]:
    return sorted(IngestedBatch.objects.values_list("batch_id", flat=True))


def test_task_deletes_only_ids_past_the_retention_period(db):
    assert settings.INGESTED_BATCH_RETENTION_DAYS == 30
    _received("old", 30 * DAY + timedelta(minutes=1))
    _received("ancient", 400 * DAY)
    _received("kept", 29 * DAY + timedelta(hours=23))
    _received("fresh", timedelta(minutes=1))

    assert delete_old_ingested_batches.delay().get() == 2

    assert _ids() == ["fresh", "kept"]


def test_a_batch_resent_within_the_retention_period_still_counts_once(post_usage, organisation):
    body = batch(ok_event(organisation.public_id), batch_id="resent-late")
    assert post_usage(body).json()["status"] == "stored"
    IngestedBatch.objects.filter(batch_id="resent-late").update(received_at=timezone.now() - 29 * DAY)

    services.delete_old_ingested_batches()

    assert post_usage(body).json()["status"] == "duplicate"
    assert DailyMethodCount.objects.get().calls == 1


def test_why_the_horizon_matters_a_batch_replayed_after_its_id_went_counts_twice(post_usage, organisation):
    body = batch(ok_event(organisation.public_id), batch_id="replayed-too-late")
    assert post_usage(body).json()["status"] == "stored"
    IngestedBatch.objects.filter(batch_id="replayed-too-late").update(received_at=timezone.now() - 31 * DAY)

    services.delete_old_ingested_batches()

    assert post_usage(body).json()["status"] == "stored"
    assert DailyMethodCount.objects.get().calls == 2


def test_retention_follows_the_setting(db, settings):
    settings.INGESTED_BATCH_RETENTION_DAYS = 3
    _received("old", 4 * DAY)
    _received("kept", 2 * DAY)

    assert delete_old_ingested_batches.delay().get() == 1
    assert _ids() == ["kept"]


def test_large_backlogs_are_deleted_in_chunks(db, monkeypatch):
    monkeypatch.setattr(services, "RETENTION_CHUNK", 10)
    IngestedBatch.objects.bulk_create(
        IngestedBatch(batch_id=f"old-{n}", received_at=timezone.now() - (40 * DAY + n * timedelta(minutes=1)), events=1)
        for n in range(25)
    )
    _received("kept", DAY)

    assert services.delete_old_ingested_batches() == 25
    assert _ids() == ["kept"]


def test_running_it_again_deletes_nothing_more(db):
    _received("old", 31 * DAY)

    assert delete_old_ingested_batches.delay().get() == 1
    assert delete_old_ingested_batches.delay().get() == 0


def test_beat_schedule_names_the_task():
    entry = settings.CELERY_BEAT_SCHEDULE["delete-old-ingested-batches"]
    assert entry["task"] == delete_old_ingested_batches.name
    assert entry["schedule"] <= 24 * 60 * 60
