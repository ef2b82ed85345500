"""Celery tasks of the whitelist: thin wrappers around whitelist.services."""

from celery import shared_task
from django.utils import timezone

from whitelist import services


@shared_task
def expire_whitelist_entries() -> dict[str, int]:
    """Remove the entries whose expiry date has come and warn about those expiring within 7 days
    (scheduled hourly, so an entry goes within the first hour of its day); safe to rerun."""
    today = timezone.localdate()
    return {
        "removed": services.remove_expired_entries(today=today),
        "warned": services.send_expiry_notices(today=today),
    }
