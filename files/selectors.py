from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from files.models import StoredFile
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
