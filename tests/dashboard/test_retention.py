"""Error-log rows older than ERROR_LOG_RETENTION_DAYS go; counters and newer rows stay."""

from datetime import UTC, datetime, timedelta

from django.conf import settings

from dashboard import services
from dashboard.models import DailyMethodCount, ErrorLog
from dashboard.tasks import delete_old_error_logs
from portal.celery import app as celery_app


def _error(organisation, age: timedelta, request_id: str) -> ErrorLog:
    return ErrorLog.objects.create(
        organisation=organisation,
        at=datetime.now(UTC) - age,
        method="Tokenize",
        code="E",
        message="",
        request_id=request_id,
        source_ip="10.0.0.1",
    )


def test_task_deletes_only_rows_past_the_retention_period(organisation, other_organisation):
    assert settings.ERROR_LOG_RETENTION_DAYS == 90
    _error(organisation, timedelta(days=90, minutes=1), "acme-old")
    _error(organisation, timedelta(days=89, hours=23), "acme-kept")
    _error(other_organisation, timedelta(days=400), "globex-old")
    _error(other_organisation, timedelta(hours=1), "globex-kept")
    counter = DailyMethodCount.objects.create(
        organisation=organisation, method="Tokenize", day=datetime(2020, 1, 1).date(), calls=5, errors=5
    )

    deleted = delete_old_error_logs.delay().get()

    assert deleted == 2
    assert sorted(ErrorLog.objects.values_list("request_id", flat=True)) == ["acme-kept", "globex-kept"]
    assert DailyMethodCount.objects.get() == counter  # usage history is not error detail: it stays


def test_retention_follows_the_setting(organisation, settings):
    settings.ERROR_LOG_RETENTION_DAYS = 7
    _error(organisation, timedelta(days=8), "old")
    _error(organisation, timedelta(days=6), "kept")

    assert delete_old_error_logs.delay().get() == 1
    assert list(ErrorLog.objects.values_list("request_id", flat=True)) == ["kept"]


def test_large_backlogs_are_deleted_in_chunks(organisation, monkeypatch):
    monkeypatch.setattr(services, "RETENTION_CHUNK", 10)
    ErrorLog.objects.bulk_create(
        ErrorLog(
            organisation=organisation,
            at=datetime.now(UTC) - timedelta(days=100, minutes=n),
            method="Tokenize",
            code="E",
            message="",
            request_id=str(n),
            source_ip="10.0.0.1",
        )
        for n in range(25)
    )
    _error(organisation, timedelta(days=1), "kept")

    assert delete_old_error_logs.delay().get() == 25
    assert list(ErrorLog.objects.values_list("request_id", flat=True)) == ["kept"]


def test_running_it_again_deletes_nothing_more(organisation):
    _error(organisation, timedelta(days=91), "old")

    assert delete_old_error_logs.delay().get() == 1
    assert delete_old_error_logs.delay().get() == 0


def test_beat_schedule_names_the_task(organisation):
    name = settings.CELERY_BEAT_SCHEDULE["delete-old-error-logs"]["task"]
    _error(organisation, timedelta(days=91), "old")

    assert celery_app.tasks[name].delay().get() == 1
