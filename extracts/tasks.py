"""Celery tasks of the token extracts: thin wrappers around extracts.services."""

from celery import shared_task

from extracts import services


@shared_task(acks_late=True)
def run_extract(extract_id: int) -> str:
    """Idempotent: a second delivery finds the extract running, done or failed and leaves it alone."""
    return services.run_extract(extract_id=extract_id)


@shared_task
def start_due_extracts() -> list[int]:
    """Scheduled in CELERY_BEAT_SCHEDULE every 15 minutes; also gives up on lost extracts."""
    return services.start_due_extracts()
