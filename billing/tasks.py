"""Celery tasks of billing: thin wrappers around services."""

from celery import shared_task

from billing import services


@shared_task
def mark_overdue_invoices() -> int:
    """Issued invoices past their due date become overdue (scheduled in CELERY_BEAT_SCHEDULE)."""
    return services.mark_overdue()
