"""Reads of the token extracts, always scoped to the user's organisation. No vault data here."""

from django.db.models import QuerySet

from accounts.models import User
from extracts.models import ExtractRequest, ExtractSchedule

RECENT = 20


def extracts_for(*, user: User) -> QuerySet[ExtractRequest]:
    if user.organisation_id is None:
        return ExtractRequest.objects.none()
    return ExtractRequest.objects.filter(organisation_id=user.organisation_id).select_related("requested_by", "file")


def recent_extracts(*, user: User) -> list[ExtractRequest]:
    return list(extracts_for(user=user)[:RECENT])


def schedule_for(*, user: User) -> ExtractSchedule | None:
    if user.organisation_id is None:
        return None
    return ExtractSchedule.objects.filter(organisation_id=user.organisation_id).first()
