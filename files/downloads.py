"""Every customer document leaves the portal here: as an attachment, and recorded in the audit trail.

A File Manager file, a ticket attachment and an invoice PDF are all downloaded through
``audited_attachment`` (or, for a File Manager file, ``stored_file_download``, which may answer
with a short-lived S3 link instead), so each download is one ``file.downloaded`` event naming who,
which organisation's document, and what.
"""

from typing import IO, Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponseBase, HttpResponseGone, HttpResponseRedirect
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import Organisation, User
from audit.services import record
from common.downloads import attachment_response
from files import services
from files.models import StoredFile


def record_download(*, acting_user: User, organisation: Organisation | None, target: str, **details: Any) -> None:
    record(action="file.downloaded", actor=acting_user, organisation=organisation, target=target, **details)


def audited_attachment(
    content: IO[bytes],
    *,
    filename: str,
    content_type: str,
    acting_user: User,
    organisation: Organisation | None,
    target: str,
    **details: Any,
) -> FileResponse:
    """``content`` as an attachment (never shown in the browser), its download recorded.

    The caller has checked that ``acting_user`` may have it.
    """
    record_download(acting_user=acting_user, organisation=organisation, target=target, **details)
    return attachment_response(content, filename=filename, content_type=content_type)


def expired_message(stored: StoredFile) -> str:
    assert stored.expired_at is not None
    expired_on = timezone.localtime(stored.expired_at)
    return (
        f"This token extract expired on {date_format(expired_on)} and its file was deleted: extracts are kept "
        f"{settings.EXTRACT_RETENTION_DAYS} days. An admin can request a new one on the Token extracts page."
    )


def stored_file_download(stored: StoredFile, *, acting_user: User) -> HttpResponseBase:
    """The file as an attachment, or on S3 a redirect to a link valid one minute; audited.

    Shared by the portal and the support admin; the caller has checked access. An expired token
    extract answers 410 Gone saying when it expired and where to request a new one.
    """
    if stored.is_expired:
        return HttpResponseGone(expired_message(stored), content_type="text/plain; charset=utf-8")
    details = {"target": f"{stored.name} ({stored.get_section_display()})", "sha256": stored.sha256}
    signed = services.signed_download_url(stored)
    if signed is not None:
        record_download(acting_user=acting_user, organisation=stored.organisation, **details)
        return HttpResponseRedirect(signed)
    try:
        handle = stored.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    return audited_attachment(
        handle,
        filename=stored.name,
        content_type=stored.content_type,
        acting_user=acting_user,
        organisation=stored.organisation,
        **details,
    )
