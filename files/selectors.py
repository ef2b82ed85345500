from datetime import date

from django.db.models import Max, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import User
from files.models import Section, StoredFile, document_state
from files.services import can_see_section


def files_for(*, user: User, section: str) -> QuerySet[StoredFile]:
    """The organisation's files in one section, newest first, with the people the list shows."""
    organisation_id = user.organisation_id
    if organisation_id is None or not can_see_section(user, section):
        return StoredFile.objects.none()
    return StoredFile.objects.filter(organisation_id=organisation_id, section=section).select_related(
        "uploaded_by", "reviewed_by"
    )


def access_file(*, user: User, file_id: int) -> StoredFile:
    """One of the user's organisation's files, in a section they may see; 404 for anything else."""
    organisation_id = user.organisation_id
    if organisation_id is None:
        raise Http404
    stored = (
        StoredFile.objects.filter(pk=file_id, organisation_id=organisation_id)
        .select_related("organisation", "uploaded_by", "reviewed_by")
        .first()
    )
    if stored is None or not can_see_section(user, stored.section):
        raise Http404
    return stored


def documents_state(*, organisation_id: int, today: date | None = None) -> str:
    """ "expired" when a compliance document has expired, "expiring" when one expires within 30
    days, else "". A newer document of the same type replaces the older one: only the latest
    expiry date of each type counts, so uploading the renewed certificate clears the state."""
    latest = (
        StoredFile.objects.filter(organisation_id=organisation_id, section=Section.COMPLIANCE, expires_on__isnull=False)
        .values("document_type")
        .annotate(latest=Max("expires_on"))
        .order_by()
        .values_list("latest", flat=True)
    )
    soonest = min(latest, default=None)
    return document_state(soonest, today or timezone.localdate())
