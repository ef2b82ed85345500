"""Celery tasks of the audit trail: thin wrappers around audit.services."""

from celery import shared_task

from audit import services


@shared_task
def delete_old_audit_events() -> int:
    """Enforce AUDIT_RETENTION_DAYS (scheduled daily in CELERY_BEAT_SCHEDULE); safe to rerun."""
    return services.delete_old_audit_events()
