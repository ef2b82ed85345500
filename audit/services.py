from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.context import current_ip
from audit.models import AuditEvent
from common.ip import client_ip as request_client_ip

if TYPE_CHECKING:
    from accounts.models import Organisation, User

logger = logging.getLogger(__name__)

# Rows per DELETE: each chunk is its own short transaction, so no statement locks millions of rows.
RETENTION_CHUNK = 5000
# The PostgreSQL setting that audit/migrations/0002_append_only's trigger requires for a DELETE.
RETENTION_SETTING = "portal.audit_retention"


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address (common.ip: behind trusted proxies, from X-Forwarded-For), or the
    current request's when a service records without being handed the request."""
    if request is None:
        return current_ip.get()
    return request_client_ip(request)


def record(
    *,
    action: str,
    actor: User | None,
    request: HttpRequest | None = None,
    organisation: Organisation | None = None,
    subject_user: User | None = None,
    target: str = "",
    **details: Any,
) -> AuditEvent:
    if organisation is None:
        person = subject_user or actor
        organisation = person.organisation if person is not None else None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_label=actor.email if actor else "system",
        organisation=organisation,
        subject_user=subject_user,
        subject_label=subject_user.email if subject_user else "",
        target_label=target[:254],
        ip_address=client_ip(request),
        details=details,
    )


def delete_old_audit_events(*, now: datetime | None = None) -> int:
    """Delete audit events older than AUDIT_RETENTION_DAYS; the only way a row leaves the trail.

    The trail is append-only for everyone: no view deletes, the admin refuses (ReadOnlyModelAdmin),
    the foreign keys only set NULL, and on PostgreSQL a trigger refuses any DELETE on the table
    unless the transaction has set ``portal.audit_retention`` -- which only this function does.
    At least 13 months are kept (settings refuse less), so a year's events can be compared with
    the year before. Oldest first, RETENTION_CHUNK rows per transaction along the ``at`` index;
    rerunning deletes nothing more. What went is logged and recorded in the trail itself.
    """
    days = settings.AUDIT_RETENTION_DAYS
    if days < settings.AUDIT_RETENTION_MIN_DAYS:
        raise ImproperlyConfigured(f"AUDIT_RETENTION_DAYS must be at least {settings.AUDIT_RETENTION_MIN_DAYS}.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    deleted = 0
    while True:
        with transaction.atomic():
            _allow_retention_delete()
            old = AuditEvent.objects.filter(at__lt=cutoff).order_by("at").values("id")
            count, _ = AuditEvent.objects.filter(id__in=old[:RETENTION_CHUNK]).delete()
        deleted += count
        if count < RETENTION_CHUNK:
            break
    logger.info(
        "Audit retention: deleted %d event(s) older than %d days (before %s)", deleted, days, cutoff.isoformat()
    )
    if deleted:
        record(
            action="audit.retention",
            actor=None,
            target=f"{deleted} event{'s' if deleted != 1 else ''} before {cutoff:%Y-%m-%d}",
            deleted=deleted,
            before=cutoff.isoformat(),
            retention_days=days,
        )
    return deleted


def _allow_retention_delete() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config(%s, 'on', true)", [RETENTION_SETTING])  # this transaction only
