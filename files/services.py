"""The File Manager's writes: upload, store (for extracts), review, download records, delete.

A file is written to storage first, under a random name, then its row is saved; if the row (or
anything after it in the same transaction) fails, the stored object is removed again, so a
refused or failed file leaves nothing behind.
"""

import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import IO, Any, Protocol

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.core.files.storage import storages
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models.fields.files import FieldFile
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import content_disposition_header

from accounts import permissions
from accounts.models import Organisation, User
from accounts.selectors import active_admins
from audit.services import record
from common.mail import portal_url, queue_templated_email
from files.models import EXPIRY_THRESHOLDS, EXPIRY_WARNING_DAYS, DocumentType, ExpiryNotice, Section, StoredFile
from files.uploads import KINDS, check_upload, clean_name

UPLOAD_SECTIONS = (Section.COMPLIANCE, Section.OTHER)
# Extracts carry the vault's tokens: only those who may have token extracts (admins) see them.
SECTION_PERMISSIONS: dict[str, permissions.Permission] = {Section.EXTRACTS: permissions.TOKEN_EXTRACTS}
DELETE_REFUSED = "Only the person who uploaded a file, or an admin, can delete it."


def can_see_section(user: User, section: str) -> bool:
    if user.organisation_id is None or not user.is_active:
        return False
    needed = SECTION_PERMISSIONS.get(section)
    return needed is None or permissions.may(user, needed)


def can_delete(user: User, stored: StoredFile) -> bool:
    """The uploader, the organisation's admins and users allowed to manage files."""
    if user.organisation_id != stored.organisation_id or not can_see_section(user, stored.section):
        return False
    return stored.uploaded_by_id == user.pk or permissions.may(user, permissions.MANAGE_FILES)


def _storage_extension(name: str) -> str:
    extension = os.path.splitext(name)[1].lstrip(".").lower()
    return extension if re.fullmatch(r"[a-z0-9]{1,10}", extension) else "bin"


def _put_under_random_name(field: FieldFile, content: File | IO[bytes], extension: str) -> None:
    """Write a checked upload to private storage for a row not saved yet (the caller saves it).

    A random name on disk: the display name may be longer in bytes than a file system allows,
    and the stored name says nothing about the customer or the document.
    """
    field.save(f"{uuid.uuid4().hex}.{extension}", content if isinstance(content, File) else File(content), save=False)


class RowWithFile(Protocol):
    """A model whose row keeps a file in the private storage (a File Manager file, an attachment)."""

    file: FieldFile

    def save(self) -> None: ...


@contextmanager
def storing_files() -> Iterator[Callable[[RowWithFile, File | IO[bytes], str], None]]:
    """The one way a checked upload is kept: ``keep(row, content, extension)`` writes the content
    under a random name and saves the row, in a transaction with the rest of the block.

    If anything in the block fails, every object written in it is deleted again and the rows roll
    back: a refused or failed file leaves nothing behind.
    """
    written: list[FieldFile] = []

    def keep(row: RowWithFile, content: File | IO[bytes], extension: str) -> None:
        _put_under_random_name(row.file, content, extension)
        written.append(row.file)
        row.save()

    try:
        with transaction.atomic():
            yield keep
    except BaseException:
        for field in written:
            field.delete(save=False)
        raise


def store_file(
    *,
    organisation: Organisation,
    section: str,
    name: str,
    content: File | IO[bytes],
    size: int,
    sha256: str,
    content_type: str,
    uploaded_by: User | None,
) -> StoredFile:
    """Keep an already checked file (token extracts are made by the portal itself).

    Records no audit event: the caller records what happened in its own terms.
    """
    if section not in Section.values:
        raise ValidationError(f"Unknown File Manager section “{section}”.")
    extension = _storage_extension(name)
    stored = StoredFile(
        organisation=organisation,
        section=section,
        name=clean_name(name, extension),
        size=size,
        sha256=sha256,
        content_type=content_type,
        uploaded_by=uploaded_by,
    )
    with storing_files() as keep:
        keep(stored, content, extension)
    return stored


def _tell_support(stored: StoredFile) -> None:
    queue_templated_email(
        template="files/email/compliance_uploaded",
        subject=f"[Compliance] {stored.organisation.name} uploaded {stored.name}",
        context={
            "file": stored,
            "uploader": stored.uploaded_by,
            "review_url": portal_url(reverse("admin:files_storedfile_change", args=[stored.pk])),
        },
        to=[settings.SUPPORT_EMAIL],
    )


def upload_file(*, acting_user: User, section: str, upload: UploadedFile) -> StoredFile:
    """A user's upload to Compliance or Other files; support hears about compliance documents."""
    if acting_user.organisation is None or not acting_user.is_active:
        raise PermissionDenied("Only users of an organisation can upload files.")
    if section not in UPLOAD_SECTIONS:
        raise ValidationError("Files can be uploaded to Compliance or Other files only.")
    checked = check_upload(upload)
    stored = StoredFile(
        organisation=acting_user.organisation,
        section=section,
        name=checked.name,
        size=checked.size,
        sha256=checked.sha256,
        content_type=checked.content_type,
        uploaded_by=acting_user,
    )
    with storing_files() as keep:
        keep(stored, upload, KINDS[checked.kind][0])
        record(
            action="file.uploaded",
            actor=acting_user,
            organisation=stored.organisation,
            target=f"{stored.name} ({stored.get_section_display()})",
            section=section,
            size=stored.size,
            sha256=stored.sha256,
        )
        if section == Section.COMPLIANCE:
            _tell_support(stored)
    return stored


def signed_download_url(stored: StoredFile) -> str | None:
    """On S3, a link to the object that works for AWS_QUERYSTRING_EXPIRE seconds; else None.

    The link makes S3 answer with the same Content-Disposition and type as the portal's own view.
    """
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages[s3] is a dependency
        return None
    storage = storages["private"]
    if not isinstance(storage, S3Storage):
        return None
    parameters: dict[str, Any] = {
        "ResponseContentDisposition": content_disposition_header(True, stored.name),
        "ResponseContentType": stored.content_type,
    }
    url: str = storage.url(stored.file.name, parameters=parameters, expire=settings.AWS_QUERYSTRING_EXPIRE)
    return url


def review(*, stored: StoredFile, acting_user: User) -> StoredFile:
    """Support confirms a compliance document; the first review stands."""
    if stored.section != Section.COMPLIANCE:
        raise ValidationError("Only compliance documents are reviewed.")
    with transaction.atomic():
        # Conditional, so two people reviewing at once record one review.
        first = StoredFile.objects.filter(pk=stored.pk, reviewed_at__isnull=True).update(
            reviewed_at=timezone.now(), reviewed_by=acting_user
        )
        if first:
            record(
                action="file.reviewed",
                actor=acting_user,
                organisation=stored.organisation,
                target=f"{stored.name} ({stored.get_section_display()})",
                sha256=stored.sha256,
            )
    stored.refresh_from_db(fields=["reviewed_at", "reviewed_by"])
    return stored


def delete_file(*, stored: StoredFile, acting_user: User | None) -> None:
    """Remove the row and the stored object.

    ``acting_user`` None is the portal itself (a failed or expired extract); a person must be the
    uploader, an admin of the organisation or allowed to manage files.
    """
    if acting_user is not None and not can_delete(acting_user, stored):
        raise PermissionDenied(DELETE_REFUSED)
    with transaction.atomic():
        name, section_label = stored.name, stored.get_section_display()
        StoredFile.objects.filter(pk=stored.pk).delete()
        record(
            action="file.deleted",
            actor=acting_user,
            organisation=stored.organisation,
            target=f"{name} ({section_label})",
            sha256=stored.sha256,
        )
        # Last, so a storage error rolls the row back instead of leaving a row without a file.
        stored.file.delete(save=False)


def set_document_expiry(
    *, stored: StoredFile, document_type: str, expires_on: date | None, acting_user: User
) -> StoredFile:
    """Support records what a compliance document is and the last day it is valid.

    A new expiry date starts its own set of reminders (the notices are kept per date).
    """
    if stored.section != Section.COMPLIANCE:
        raise ValidationError("Only compliance documents have a document type and an expiry date.")
    if document_type and document_type not in DocumentType.values:
        raise ValidationError({"document_type": f"Unknown document type “{document_type}”."})
    with transaction.atomic():
        locked = StoredFile.objects.select_for_update().select_related("organisation").get(pk=stored.pk)
        before = (locked.document_type, locked.expires_on)
        if before != (document_type, expires_on):
            locked.document_type, locked.expires_on = document_type, expires_on
            locked.save(update_fields=["document_type", "expires_on"])
            record(
                action="file.expiry_set",
                actor=acting_user,
                organisation=locked.organisation,
                target=f"{locked.name} ({locked.get_section_display()})",
                document_type=document_type,
                expires_on=expires_on.isoformat() if expires_on else None,
                previous_expires_on=before[1].isoformat() if before[1] else None,
            )
    stored.document_type, stored.expires_on = document_type, expires_on
    return stored


def _due_threshold(*, expires_on: date, today: date) -> int:
    """The most urgent threshold reached: a missed day sends the next reminder, never a stale one."""
    days_left = (expires_on - today).days
    return min(threshold for threshold in EXPIRY_THRESHOLDS if days_left <= threshold)


def send_expiry_notices(*, today: date) -> int:
    """Email each organisation's active admins about its compliance documents expiring in 30 or 7
    days or today; returns how many notices were sent.

    Each (document, expiry date, threshold) is sent once: the notice row is inserted first, and
    the unique constraint lets only one of two runs at the same moment insert it (the other
    waits on the row, then gets nothing and sends nothing). The email goes after that commit.
    """
    due = (
        StoredFile.objects.filter(
            section=Section.COMPLIANCE,
            expires_on__isnull=False,
            expires_on__lte=today + timedelta(days=EXPIRY_WARNING_DAYS),
        )
        .select_related("organisation")
        .order_by("expires_on", "pk")
    )
    sent = 0
    for stored in due:
        assert stored.expires_on is not None
        threshold = _due_threshold(expires_on=stored.expires_on, today=today)
        try:
            with transaction.atomic():
                ExpiryNotice.objects.create(stored_file=stored, expires_on=stored.expires_on, days_before=threshold)
                _email_expiry(stored=stored, expires_on=stored.expires_on, threshold=threshold, today=today)
        except IntegrityError:
            continue  # sent already, by an earlier run or one running now
        sent += 1
    return sent


def _email_expiry(*, stored: StoredFile, expires_on: date, threshold: int, today: date) -> None:
    admins = list(active_admins(organisation_id=stored.organisation_id).values_list("email", flat=True))
    if not admins:
        return
    type_label = stored.get_document_type_display() or "Compliance document"
    if threshold == 0:
        subject = f"{type_label} {stored.name} has expired"
    else:
        subject = f"{type_label} {stored.name} expires on {date_format(expires_on)}"
    queue_templated_email(
        template="files/email/document_expiry",
        subject=subject,
        context={
            "file": stored,
            "type_label": type_label,
            "expired": threshold == 0,
            "days_left": (expires_on - today).days,
            "files_url": portal_url(f"{reverse('files')}?section={Section.COMPLIANCE}"),
        },
        to=admins,
    )
