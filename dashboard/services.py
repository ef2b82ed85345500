"""Every write of the dashboard: storing usage batches and vault counts, pruning the error log and batch ids."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from accounts.models import Organisation
from apikeys.services import record_key_use
from common.upsert import add_counts
from dashboard import summary
from dashboard.ingest import FailedCall, UsageBatch, VaultReading
from dashboard.models import DailyMethodCount, ErrorLog, FiveMinuteMethodCount, IngestedBatch, VaultStat
from platform_api.models import PlatformKey
from whitelist.services import record_source_calls

RETENTION_CHUNK = 5000
# 5-minute counters serve error alarms, whose longest window is a day; a second day covers late batches.
BUCKET_RETENTION = timedelta(days=2)


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    duplicate: bool
    events: int = 0
    errors: int = 0


def ingest_usage(*, batch: UsageBatch, key: PlatformKey | None) -> IngestResult:
    """Store a validated batch exactly once: all of it or, if its batch_id was seen, nothing.

    The batch row goes in first. Its unique batch_id makes a second copy stop there, also when
    two copies arrive at once: PostgreSQL holds the second insert until the first transaction
    ends, then reports the duplicate.
    """
    with transaction.atomic():
        if not _claim_batch(batch, key):
            return IngestResult(batch_id=batch.batch_id, duplicate=True)
        _add_to_counters(batch.counters)
        _add_to_buckets(batch.buckets)
        record_key_use(uses=batch.key_uses)
        record_source_calls(calls=batch.source_calls)
        _log_failed_calls(batch.failed_calls)
        summary.bump(organisation_id for organisation_id, _, _ in batch.counters)
    return IngestResult(batch_id=batch.batch_id, duplicate=False, events=batch.events, errors=len(batch.failed_calls))


def _claim_batch(batch: UsageBatch, key: PlatformKey | None) -> bool:
    """Write the batch's row; False when its batch_id is there already (a resent batch).

    One ``INSERT ... ON CONFLICT (batch_id) DO NOTHING`` instead of an insert in a savepoint that
    a duplicate rolls back (three statements): the unique index is the arbiter either way, so a
    copy arriving while the first is being stored waits for it, then inserts nothing.
    """
    values = {
        "batch_id": batch.batch_id,
        "received_at": timezone.now(),
        "key": key.pk if key else None,
        "events": batch.events,
    }
    fields = {field.name: field for field in IngestedBatch._meta.concrete_fields if field.name in values}
    qn = connection.ops.quote_name
    columns = ", ".join(qn(fields[name].column) for name in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(IngestedBatch._meta.db_table)} ({columns}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(values))}) ON CONFLICT ({qn(fields['batch_id'].column)}) DO NOTHING",
            [fields[name].get_db_prep_value(value, connection) for name, value in values.items()],
        )
        return cursor.rowcount == 1


def _log_failed_calls(calls: list[FailedCall]) -> None:
    """Add the failed calls to the error log: one COPY on PostgreSQL, bulk inserts elsewhere.

    COPY takes the rows as they are, several times faster than INSERT for a batch's hundreds of
    rows; psycopg escapes each value (tabs, newlines, backslashes), so what is stored is what the
    platform sent, as with the INSERTs. It runs in the batch's transaction like every other write.
    """
    if not calls:
        return
    if not can_copy(connection):
        ErrorLog.objects.bulk_create((ErrorLog(**call._asdict()) for call in calls), batch_size=1000)
        return
    qn = connection.ops.quote_name
    column_of = {field.attname: field.column for field in ErrorLog._meta.concrete_fields}
    columns = ", ".join(qn(column_of[name]) for name in FailedCall._fields)  # in the order of the rows
    statement = f"COPY {qn(ErrorLog._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for call in calls:
            copy.write_row(call)


def can_copy(connection: BaseDatabaseWrapper) -> bool:
    """Whether the error log takes the failed calls by COPY (PostgreSQL, through psycopg)."""
    return connection.vendor == "postgresql"


def _add_to_counters(counters: dict[tuple[int, str, date], list[int]]) -> None:
    """Add to the daily counters in one upsert per chunk (common.upsert)."""
    add_counts(
        DailyMethodCount,
        keys=("organisation", "method", "day"),
        sums=("calls", "errors"),
        rows=sorted(counters.items()),
    )


def _add_to_buckets(buckets: dict[tuple[int, str, datetime], list[int]]) -> None:
    """Add to the 5-minute counters, as ``_add_to_counters`` does for the daily ones.

    Slots older than BUCKET_RETENTION are skipped: no alarm reads them, and a replayed backlog
    would only write rows for the retention to delete.
    """
    horizon = timezone.now() - BUCKET_RETENTION
    add_counts(
        FiveMinuteMethodCount,
        keys=("organisation", "method", "start"),
        sums=("calls", "errors"),
        rows=sorted(item for item in buckets.items() if item[0][2] >= horizon),
    )


def record_vault_stat(*, reading: VaultReading) -> VaultStat:
    stat = VaultStat.objects.create(
        organisation_id=reading.organisation_id, at=reading.at, token_count=reading.token_count
    )
    summary.bump([reading.organisation_id])
    return stat


def delete_old_error_logs(*, now: datetime | None = None) -> int:
    """Delete error-log rows older than the retention period; returns how many went.

    Organisation by organisation and in chunks, along the (organisation, at) index, so no
    statement holds locks on millions of rows.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.ERROR_LOG_RETENTION_DAYS)
    deleted = 0
    for organisation_id in list(Organisation.objects.values_list("id", flat=True)):
        while True:
            old = ErrorLog.objects.filter(organisation_id=organisation_id, at__lt=cutoff).values("id")
            count, _ = ErrorLog.objects.filter(id__in=old[:RETENTION_CHUNK]).delete()
            deleted += count
            if count:
                summary.bump([organisation_id])  # the latest failures may have gone
            if count < RETENTION_CHUNK:
                break
    return deleted


def delete_old_ingested_batches(*, now: datetime | None = None) -> int:
    """Forget the ids of usage batches received more than INGESTED_BATCH_RETENTION_DAYS ago.

    A batch id is the only thing that makes a resent batch count once (``ingest_usage``): once it
    is deleted, a replay of that batch is accepted as new and its calls are counted twice, on the
    dashboard and in what billing reads. So the retention must be longer than the platform's retry
    horizon, the longest time after a first send that it may still resend a batch (its retry queue,
    or an operator replaying a backlog after an outage). The default of 30 days is far beyond the
    platform's retries, which stop within hours; raise the setting before replaying anything older.

    Oldest first, RETENTION_CHUNK rows per statement (each its own short transaction) along the
    ``received_at`` index, so no statement locks millions of rows; rerunning deletes nothing more.
    """
    cutoff = (now or timezone.now()) - timedelta(days=settings.INGESTED_BATCH_RETENTION_DAYS)
    deleted = 0
    while True:
        old = IngestedBatch.objects.filter(received_at__lt=cutoff).order_by("received_at").values("id")
        count, _ = IngestedBatch.objects.filter(id__in=old[:RETENTION_CHUNK]).delete()
        deleted += count
        if count < RETENTION_CHUNK:
            return deleted


def delete_old_method_buckets(*, now: datetime | None = None) -> int:
    """Delete 5-minute counters older than BUCKET_RETENTION (the daily counters keep the history).

    Oldest first along the ``start`` index, RETENTION_CHUNK rows per statement; safe to rerun.
    """
    cutoff = (now or timezone.now()) - BUCKET_RETENTION
    deleted = 0
    while True:
        old = FiveMinuteMethodCount.objects.filter(start__lt=cutoff).order_by("start").values("id")
        count, _ = FiveMinuteMethodCount.objects.filter(id__in=old[:RETENTION_CHUNK]).delete()
        deleted += count
        if count < RETENTION_CHUNK:
            return deleted
