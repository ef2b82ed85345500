from django.db.models import QuerySet

from accounts.models import User
from audit.models import AuditEvent


def organisation_events(*, user: User) -> QuerySet[AuditEvent]:
    if user.organisation_id is None:
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(organisation_id=user.organisation_id).order_by("-at", "-id")
