from typing import Any

from django.http import HttpRequest

from accounts.models import Organisation, User
from audit.context import current_ip
from audit.models import AuditEvent
from portal.ip import client_ip as request_client_ip


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address (portal.ip: behind trusted proxies, from X-Forwarded-For), or the
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
        target_label=target[:254],
        ip_address=client_ip(request),
        details=details,
    )
