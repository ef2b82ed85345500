"""Celery tasks of the token extracts: thin wrappers around extracts.services and extracts.runner."""

from celery import shared_task

from extracts import runner, services


@shared_task(acks_late=True)
def run_extract(extract_id: int) -> str:
    """Safe to deliver again: a lost run is taken over, a live or finished one left alone (runner.run_extract)."""
    return runner.run_extract(extract_id=extract_id)


@shared_task
def start_due_extracts() -> list[int]:
    """Scheduled in CELERY_BEAT_SCHEDULE every 15 minutes; also resends extracts whose worker was lost."""
    return services.start_due_extracts()


@shared_task
def expire_old_extract_files() -> int:
    """Enforce EXTRACT_RETENTION_DAYS (scheduled hourly in CELERY_BEAT_SCHEDULE); safe to rerun."""
    return services.expire_old_extract_files()
