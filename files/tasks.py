"""Celery tasks of the File Manager: thin wrappers around files.services."""

from celery import shared_task
from django.utils import timezone

from files import services


@shared_task
def send_document_expiry_notices() -> int:
    """Email admins about compliance documents expiring (scheduled daily); safe to rerun."""
    return services.send_expiry_notices(today=timezone.localdate())
