"""Every upload outside the File Manager has the File Manager's limits, applied while the body streams in.

The new-ticket form, a reply on a ticket and the company-details request on the profile page each
get a body made up as it is read (tests/files/streaming.py): an oversized file, files too big
together, or too many files. Each is refused with a message on the page, having been read and
dropped chunk by chunk (memory stays small, nothing reaches the storage), and nothing is stored:
no ticket, no reply, no change request, not the files that came before the one refused.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import CompanyDetailsChangeRequest, User
from support import services
from support.models import Attachment, Comment, Ticket
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.files.helpers import MB
from tests.files.streaming import post_streamed
from tests.support import pdf_file, stored_files

ROWS = (Ticket, Comment, Attachment, CompanyDetailsChangeRequest)


@dataclass(frozen=True)
class UploadPath:
    page: str
    path: str
    field: str
    fields: dict[str, str]


def _new_ticket(user: User) -> UploadPath:
    fields = {"subject": "Card payments fail", "category": "problem", "body": "Logs attached."}
    return UploadPath("/tickets/new/", "/tickets/new/", "attachments", fields)


def _reply(user: User) -> UploadPath:
    ticket = services.open_ticket(
        acting_user=user, subject="Card payments fail", body="Since 9:00.", category="problem"
    )
    mail.outbox.clear()
    return UploadPath(f"/tickets/{ticket.pk}/", f"/tickets/{ticket.pk}/", "attachments", {"body": "Logs attached."})


def _company_change(user: User) -> UploadPath:
    fields = {"name": "Acme Payments Group Ltd", "message": "Certificate attached."}
    return UploadPath("/profile/", "/profile/company-change/", "documents", fields)


PATHS = pytest.mark.parametrize(
    "upload_path", [_new_ticket, _reply, _company_change], ids=["ticket", "reply", "company"]
)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in ROWS}


@pytest.fixture
def small_limits(settings):
    # Django would keep files this size in memory without the portal's handler in front.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 256 * MB
    settings.FILES_MAX_UPLOAD_BYTES = MB
    settings.FILES_MAX_REQUEST_BYTES = 2 * MB
    settings.FILES_MAX_PER_REQUEST = 3


@PATHS
def test_an_oversized_file_is_stopped_while_it_streams_and_nothing_is_stored(
    upload_path: Callable[[User], UploadPath], member, small_limits, private_root
):
    target = upload_path(member)
    before = _counts()

    response = post_streamed(
        member,
        page=target.page,
        path=target.path,
        fields=target.fields,
        files=[(target.field, "huge log.txt", 48 * MB)],
    )

    assert response.status == 400
    assert "“huge log.txt” is too big: files may be at most 1 MB." in response.page
    assert response.peak_memory < 8 * MB  # the 48 MB were read and dropped, never held
    assert response.read_to_the_end  # so the browser gets the page with the message, not a reset
    assert _counts() == before
    assert stored_files(private_root) == []
    assert mail.outbox == []


@PATHS
def test_files_too_big_together_are_refused_and_none_is_stored(
    upload_path: Callable[[User], UploadPath], member, small_limits, private_root
):
    target = upload_path(member)
    before = _counts()
    files = [(target.field, f"part {n}.txt", 900_000) for n in range(1, 4)]  # each under 1 MB, 2.6 MB in all

    response = post_streamed(member, page=target.page, path=target.path, fields=target.fields, files=files)

    assert response.status == 400
    assert "The files are too big together: at most 2 MB can be sent at once." in response.page
    assert response.read_to_the_end
    assert _counts() == before
    assert stored_files(private_root) == []
    assert mail.outbox == []


@PATHS
def test_too_many_files_are_refused_while_they_stream_and_none_is_stored(
    upload_path: Callable[[User], UploadPath], member, small_limits, private_root
):
    target = upload_path(member)
    before = _counts()
    files = [(target.field, f"page {n}.txt", 1000) for n in range(1, 5)]

    response = post_streamed(member, page=target.page, path=target.path, fields=target.fields, files=files)

    assert response.status == 400
    assert "Attach at most 3 files at a time." in response.page
    assert _counts() == before
    assert stored_files(private_root) == []
    assert mail.outbox == []


@PATHS
def test_files_within_every_limit_are_kept(
    upload_path: Callable[[User], UploadPath], member, small_limits, private_root
):
    target = upload_path(member)
    files = [(target.field, f"page {n}.txt", 600_000) for n in range(1, 4)]  # 3 files, 1.7 MB in all

    response = post_streamed(member, page=target.page, path=target.path, fields=target.fields, files=files)

    assert response.status == 302
    assert sorted(a.name for a in Attachment.objects.all()) == ["page 1.txt", "page 2.txt", "page 3.txt"]
    assert [path.stat().st_size for path in stored_files(private_root)] == [600_000] * 3


def test_the_defaults_allow_five_files_and_25_mb_in_one_request(settings):
    assert settings.FILES_MAX_UPLOAD_BYTES == 25 * MB
    assert settings.FILES_MAX_REQUEST_BYTES == 25 * MB
    assert settings.FILES_MAX_PER_REQUEST == 5


def test_the_forms_say_the_limits(member_client, member):
    ticket = services.open_ticket(
        acting_user=member, subject="Card payments fail", body="Since 9:00.", category="problem"
    )
    for page in ["/tickets/new/", f"/tickets/{ticket.pk}/", "/profile/"]:
        assert "At most 5 files, 25 MB in all." in _page(member_client.get(page)), page


def test_services_refuse_too_many_or_too_big_files_from_any_caller(member, settings, private_root):
    """The service checks again, for callers that do not go through a request (the admin, tasks)."""
    settings.FILES_MAX_PER_REQUEST = 2
    settings.FILES_MAX_REQUEST_BYTES = MB
    with pytest.raises(ValidationError) as too_many:
        services.open_ticket(
            acting_user=member, subject="Scans", body="All.", category="question", files=[pdf_file() for _ in range(3)]
        )
    assert too_many.value.messages == ["Attach at most 2 files at a time."]
    halves = [SimpleUploadedFile(f"half {n}.txt", b"a" * 600_000) for n in range(2)]
    with pytest.raises(ValidationError) as too_big:
        services.open_ticket(acting_user=member, subject="Scans", body="All.", category="question", files=halves)
    assert too_big.value.messages == ["The files are too big together: at most 1 MB can be sent at once."]
    assert not Ticket.objects.exists()
    assert stored_files(private_root) == []


def test_another_organisations_user_cannot_post_a_reply_or_files_to_a_ticket(member, outsider, private_root):
    ticket = services.open_ticket(
        acting_user=member, subject="Card payments fail", body="Since 9:00.", category="problem"
    )
    client = log_in(Client(), outsider)

    response = client.post(f"/tickets/{ticket.pk}/", {"body": "Hello from Globex", "attachments": [pdf_file()]})

    assert response.status_code == 404
    assert not Comment.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(private_root) == []
