"""Celery tasks of the dashboard: thin wrappers around services."""

from celery import shared_task

from dashboard import services


@shared_task
def delete_old_error_logs() -> int:
    """Enforce ERROR_LOG_RETENTION_DAYS (scheduled hourly in CELERY_BEAT_SCHEDULE); safe to rerun."""
    return services.delete_old_error_logs()


@shared_task
def delete_old_ingested_batches() -> int:
    """Enforce INGESTED_BATCH_RETENTION_DAYS (scheduled hourly in CELERY_BEAT_SCHEDULE); safe to rerun."""
    return services.delete_old_ingested_batches()


@shared_task
def delete_old_method_buckets() -> int:
    """Keep 5-minute counters services.BUCKET_RETENTION (scheduled hourly in CELERY_BEAT_SCHEDULE); safe to rerun."""
    return services.delete_old_method_buckets()
