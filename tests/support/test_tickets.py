"""Support tickets in the portal (SPEC §7): opening, who sees them, who hears about them, files."""

import hashlib
import re

import pytest
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from support import services
from support.models import Attachment, Comment, ResourceLink, Status, Ticket
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import UserFactory
from tests.support import ELF, PDF, pdf_file, png, stored_files, use_private_folder


@pytest.fixture(autouse=True)
def private_root(settings, monkeypatch, tmp_path):
    return use_private_folder(settings, monkeypatch, tmp_path / "private")


@pytest.fixture
def colleague(organisation) -> User:
    return UserFactory.create(organisation=organisation, email="cleo@acme.example", full_name="Cleo Colleague")


@pytest.fixture
def bystander(organisation) -> User:
    """A user of the same organisation who is not included on the ticket."""
    return UserFactory.create(organisation=organisation, email="bob@acme.example", full_name="Bob Bystander")


def client_for(user: User) -> Client:
    return log_in(Client(), user)


def open_ticket(user: User, subject: str = "Card payments fail", participants=(), files=()) -> Ticket:
    return services.open_ticket(
        acting_user=user,
        subject=subject,
        body="Since this morning every card payment returns error 502.",
        category="problem",
        participants=participants,
        files=files,
    )


def recipients() -> list[str]:
    """Every address written to, once per message it was on."""
    return sorted(address for message in mail.outbox for address in message.to)


# --- Opening a ticket ---------------------------------------------------------------------------


def test_member_opens_a_ticket_including_a_colleague_with_attachments(
    member_client, member, colleague, bystander, private_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            "/tickets/new/",
            {
                "subject": "  Card payments fail ",
                "category": "problem",
                "body": "Since this morning every card payment returns error 502.",
                "participants": [colleague.pk],
                "attachments": [pdf_file("error log.pdf"), SimpleUploadedFile("../screenshot.png", png())],
            },
            follow=True,
        )

    ticket = Ticket.objects.get()
    assert response.redirect_chain == [(f"/tickets/{ticket.pk}/", 302)]
    page = _page(response)
    assert f"Ticket #{ticket.pk} is open. Support will answer by email and here." in page
    assert "Card payments fail" in page
    assert "error log.pdf" in page
    assert "screenshot.png" in page
    assert "Bob Bystander" not in page

    assert ticket.organisation == member.organisation
    assert ticket.subject == "Card payments fail"
    assert ticket.category == "problem"
    assert ticket.status == Status.OPEN
    assert ticket.opened_by == member
    assert ticket.opened_by_support is False
    assert list(ticket.participants.all()) == [colleague]

    attachments = list(ticket.attachments.order_by("name"))
    assert [(a.name, a.content_type, a.size) for a in attachments] == [
        ("error log.pdf", "application/pdf", len(PDF)),
        ("screenshot.png", "image/png", len(png())),
    ]
    assert sorted(path.read_bytes() for path in stored_files(private_root)) == sorted([PDF, png()])

    # Everyone included hears about it but the author; support's mailbox too.
    assert recipients() == sorted([colleague.email, settings.SUPPORT_EMAIL])
    to_colleague = next(m for m in mail.outbox if m.to == [colleague.email])
    assert to_colleague.subject == f"[Ticket #{ticket.pk}] Card payments fail"
    assert "Max Member opened a ticket (Problem)." in to_colleague.body
    assert f"/tickets/{ticket.pk}/" in to_colleague.body


def test_attachments_keep_their_content_and_hash(member, private_root):
    ticket = open_ticket(member, files=[pdf_file()])

    attachment = ticket.attachments.get()
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert [path.read_bytes() for path in stored_files(private_root)] == [PDF]


def test_attachment_with_a_long_non_latin_name_is_stored_and_downloadable(member_client, private_root):
    name = "請求書" * 60 + ".pdf"  # 120 characters kept for display are far over 255 bytes on disk

    response = member_client.post(
        "/tickets/new/",
        {"subject": "Invoice", "category": "question", "body": "Attached.", "attachments": [pdf_file(name)]},
        follow=True,
    )

    assert response.status_code == 200
    attachment = Attachment.objects.get()
    assert attachment.name == ("請求書" * 60)[:116] + ".pdf"
    assert attachment.name in _page(response)
    download = member_client.get(f"/tickets/{attachment.ticket_id}/attachments/{attachment.pk}/")
    assert b"".join(download.streaming_content) == PDF
    assert [path.read_bytes() for path in stored_files(private_root)] == [PDF]


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (
            SimpleUploadedFile("tool.pdf", ELF),
            "tool.pdf: This type of file is not accepted (judged from its content). Accepted:",
        ),
        (
            SimpleUploadedFile("scan.pdf", b"%PDF-1.4\n" + b"0" * 1_600_000),
            "“scan.pdf” is too big: files may be at most 1 MB.",
        ),
        (SimpleUploadedFile("empty.txt", b""), "The submitted file is empty."),
    ],
    ids=["executable", "too-big", "empty"],
)
def test_refused_attachment_shows_a_message_and_stores_nothing(
    member_client, colleague, private_root, settings, upload, message, django_capture_on_commit_callbacks
):
    settings.FILES_MAX_UPLOAD_BYTES = 1_048_576

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            "/tickets/new/",
            {
                "subject": "Invoice question",
                "category": "question",
                "body": "See attached.",
                "participants": [colleague.pk],
                "attachments": [pdf_file("fine.pdf"), upload],
            },
        )

    assert response.status_code == 400
    assert message in _page(response)
    assert not Ticket.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(private_root) == []
    assert mail.outbox == []


def test_more_than_five_attachments_are_refused(member_client, private_root):
    files = [pdf_file(f"page {n}.pdf") for n in range(6)]

    response = member_client.post(
        "/tickets/new/", {"subject": "Scans", "category": "question", "body": "All pages.", "attachments": files}
    )

    assert response.status_code == 400
    assert "Attach at most 5 files at a time." in _page(response)
    assert not Ticket.objects.exists()
    assert stored_files(private_root) == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"subject": "", "category": "question", "body": "Hello"}, "This field is required."),
        ({"subject": "   ", "category": "question", "body": "Hello"}, "This field is required."),
        ({"subject": "Hello", "category": "question", "body": ""}, "This field is required."),
        ({"subject": "Hello", "category": "company_details", "body": "Hi"}, "Select a valid choice."),
        ({"subject": "x" * 201, "category": "question", "body": "Hi"}, "at most 200 characters"),
    ],
    ids=["no-subject", "blank-subject", "no-body", "company-details-only-from-the-profile", "long-subject"],
)
def test_incomplete_ticket_shows_a_message_and_stores_nothing(member_client, form, message):
    response = member_client.post("/tickets/new/", form)

    assert response.status_code == 400
    assert message in _page(response)
    assert not Ticket.objects.exists()


def test_user_of_another_organisation_cannot_be_included(member_client, outsider):
    response = member_client.post(
        "/tickets/new/",
        {"subject": "Hello", "category": "question", "body": "Hi", "participants": [outsider.pk]},
    )

    assert response.status_code == 400
    assert "Select a valid choice." in _page(response)
    assert not Ticket.objects.exists()


def test_deactivated_colleague_cannot_be_included(member_client, colleague):
    colleague.is_active = False
    colleague.save(update_fields=["is_active"])

    page = _page(member_client.get("/tickets/new/"))
    assert "Cleo Colleague" not in page

    response = member_client.post(
        "/tickets/new/",
        {"subject": "Hello", "category": "question", "body": "Hi", "participants": [colleague.pk]},
    )
    assert response.status_code == 400
    assert "Select a valid choice." in _page(response)
    assert not Ticket.objects.exists()


def test_new_ticket_form_offers_active_colleagues_only_of_the_same_organisation(
    member_client, owner, colleague, outsider
):
    page = _page(member_client.get("/tickets/new/"))

    offered = {int(pk) for pk in re.findall(r'name="participants" value="(\d+)"', page)}
    assert offered == {owner.pk, colleague.pk}  # the author is always included; no outsider
    assert "Oscar Outsider" not in page


# --- Who sees a ticket --------------------------------------------------------------------------


def test_included_users_and_org_admins_see_a_ticket_others_do_not(member, colleague, bystander, owner, outsider):
    ticket = open_ticket(member, subject="Included only", participants=[colleague])

    for viewer in (member, colleague, owner):
        client = client_for(viewer)
        assert "Included only" in _page(client.get("/tickets/")), viewer
        assert client.get(f"/tickets/{ticket.pk}/").status_code == 200, viewer

    for viewer in (bystander, outsider):
        client = client_for(viewer)
        assert "Included only" not in _page(client.get("/tickets/")), viewer
        assert client.get(f"/tickets/{ticket.pk}/").status_code == 404, viewer


def test_member_does_not_see_a_ticket_the_admin_opened_without_them(member_client, owner, colleague):
    open_ticket(owner, subject="Admins talk", participants=[colleague])

    page = _page(member_client.get("/tickets/"))

    assert "Admins talk" not in page
    assert "No tickets" in page


def test_deactivated_participant_is_no_longer_included(member, colleague, owner, django_capture_on_commit_callbacks):
    ticket = open_ticket(member, participants=[colleague])
    colleague_client = client_for(colleague)
    assert colleague_client.get(f"/tickets/{ticket.pk}/").status_code == 200

    colleague.is_active = False
    colleague.save(update_fields=["is_active"])

    # The colleague's session ends; nothing of the ticket is shown any more.
    response = colleague_client.get(f"/tickets/{ticket.pk}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")

    with django_capture_on_commit_callbacks(execute=True):
        client_for(owner).post(f"/tickets/{ticket.pk}/", {"body": "Looking into it."})
    assert recipients() == sorted([member.email, settings.SUPPORT_EMAIL])

    page = _page(client_for(member).get(f"/tickets/{ticket.pk}/"))
    assert "included: Max Member</p>" in page
    assert "Cleo Colleague" not in page


# --- Who hears about it -------------------------------------------------------------------------


def test_comment_emails_everyone_included_but_its_author_and_support(
    member, colleague, bystander, owner, django_capture_on_commit_callbacks
):
    ticket = open_ticket(member, participants=[colleague])

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(colleague).post(f"/tickets/{ticket.pk}/", {"body": "Same here since 9:00."}, follow=True)

    assert "Your reply is added." in _page(response)
    assert "Same here since 9:00." in _page(response)
    assert recipients() == sorted([member.email, settings.SUPPORT_EMAIL])
    assert all(m.subject == f"[Ticket #{ticket.pk}] Card payments fail" for m in mail.outbox)
    assert "Cleo Colleague wrote on the ticket." in mail.outbox[0].body
    assert "Same here since 9:00." in mail.outbox[0].body
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_SUPPORT
    comment = Comment.objects.get()
    assert (comment.author, comment.from_support) == (colleague, False)


def test_comment_goes_to_the_assigned_support_person_instead_of_the_mailbox(member, django_capture_on_commit_callbacks):
    agent = UserFactory.create(organisation=None, is_staff=True, email="agent@support.example")
    ticket = open_ticket(member)
    Ticket.objects.filter(pk=ticket.pk).update(assigned_to=agent)

    with django_capture_on_commit_callbacks(execute=True):
        client_for(member).post(f"/tickets/{ticket.pk}/", {"body": "Any news?"})

    assert recipients() == ["agent@support.example"]


def test_support_reply_emails_everyone_included_and_not_support(
    member, colleague, bystander, django_capture_on_commit_callbacks
):
    agent = UserFactory.create(organisation=None, is_staff=True, email="agent@support.example")
    ticket = open_ticket(member, participants=[colleague])

    with django_capture_on_commit_callbacks(execute=True):
        services.add_comment(ticket=ticket, acting_user=agent, body="Fixed, please retry.", from_support=True)

    assert recipients() == sorted([member.email, colleague.email])
    assert "Support wrote on the ticket." in mail.outbox[0].body
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_CUSTOMER
    page = _page(client_for(member).get(f"/tickets/{ticket.pk}/"))
    assert "thread-item--support" in page
    assert "Fixed, please retry." in page


def test_comment_with_an_attachment_is_shown_with_its_file(member_client, member, private_root):
    ticket = open_ticket(member)

    response = member_client.post(
        f"/tickets/{ticket.pk}/", {"body": "", "attachments": [pdf_file("statement.pdf")]}, follow=True
    )

    assert "Your reply is added." in _page(response)
    attachment = Attachment.objects.get()
    assert attachment.comment == Comment.objects.get()
    assert f'href="/tickets/{ticket.pk}/attachments/{attachment.pk}/">statement.pdf</a>' in _page(response)
    assert [path.read_bytes() for path in stored_files(private_root)] == [PDF]


def test_empty_comment_shows_a_message_and_stores_nothing(member_client, member, django_capture_on_commit_callbacks):
    ticket = open_ticket(member)

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(f"/tickets/{ticket.pk}/", {"body": "   "})

    assert response.status_code == 400
    assert "Write a comment or attach a file." in _page(response)
    assert not Comment.objects.exists()
    assert Ticket.objects.get().status == Status.OPEN
    assert mail.outbox == []


def test_comment_with_a_refused_attachment_shows_a_message_and_stores_nothing(
    member_client, member, private_root, django_capture_on_commit_callbacks
):
    ticket = open_ticket(member)

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            f"/tickets/{ticket.pk}/", {"body": "Logs attached", "attachments": [SimpleUploadedFile("run.sh", ELF)]}
        )

    assert response.status_code == 400
    assert "run.sh: This type of file is not accepted" in _page(response)
    assert not Comment.objects.exists()
    assert not Attachment.objects.exists()
    assert stored_files(private_root) == []
    assert mail.outbox == []


# --- Downloading attachments --------------------------------------------------------------------


@pytest.fixture
def ticket_with_file(member, colleague) -> Ticket:
    return open_ticket(member, participants=[colleague], files=[pdf_file("Contract (signed).pdf")])


def test_everyone_who_sees_the_ticket_can_download_its_attachment(ticket_with_file, member, colleague, owner):
    attachment = ticket_with_file.attachments.get()
    url = f"/tickets/{ticket_with_file.pk}/attachments/{attachment.pk}/"

    for viewer in (member, colleague, owner):
        response = client_for(viewer).get(url)
        assert response.status_code == 200, viewer
        assert b"".join(response.streaming_content) == PDF
        assert response["Content-Disposition"] == 'attachment; filename="Contract (signed).pdf"'
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_attachment_is_not_served_to_users_who_do_not_see_the_ticket(ticket_with_file, bystander, outsider):
    attachment = ticket_with_file.attachments.get()
    url = f"/tickets/{ticket_with_file.pk}/attachments/{attachment.pk}/"

    assert client_for(bystander).get(url).status_code == 404
    assert client_for(outsider).get(url).status_code == 404


def test_attachment_of_another_ticket_is_not_served_under_this_tickets_url(ticket_with_file, owner, owner_client):
    other = open_ticket(owner, subject="Other", files=[pdf_file("other.pdf")])
    other_attachment = other.attachments.get()

    response = owner_client.get(f"/tickets/{ticket_with_file.pk}/attachments/{other_attachment.pk}/")

    assert response.status_code == 404
    assert owner_client.get(f"/tickets/{ticket_with_file.pk}/attachments/999999/").status_code == 404


def test_anonymous_visitor_cannot_download_an_attachment(ticket_with_file, client):
    attachment = ticket_with_file.attachments.get()

    response = client.get(f"/tickets/{ticket_with_file.pk}/attachments/{attachment.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# --- Closing and reopening ----------------------------------------------------------------------


def test_included_user_closes_and_reopens_a_ticket(member, colleague):
    ticket = open_ticket(member, participants=[colleague])
    client = client_for(colleague)

    response = client.post(f"/tickets/{ticket.pk}/close/", follow=True)

    assert response.redirect_chain == [(f"/tickets/{ticket.pk}/", 302)]
    assert "The ticket is closed." in _page(response)
    assert "Reopen</button>" in _page(response)
    assert Ticket.objects.get().status == Status.CLOSED

    response = client.post(f"/tickets/{ticket.pk}/reopen/", follow=True)

    assert "The ticket is open again." in _page(response)
    assert "Close ticket</button>" in _page(response)
    assert Ticket.objects.get().status == Status.WAITING_SUPPORT


@pytest.mark.parametrize("action", ["close", "reopen"])
def test_status_change_needs_a_post(member_client, member, action):
    ticket = open_ticket(member)

    response = member_client.get(f"/tickets/{ticket.pk}/{action}/")

    assert response.status_code == 405
    assert Ticket.objects.get().status == Status.OPEN


@pytest.mark.parametrize("action", ["close", "reopen"])
def test_status_change_of_a_ticket_not_seen_is_404_before_405(member, bystander, action):
    ticket = open_ticket(member)

    for method in ("get", "post"):
        response = getattr(client_for(bystander), method)(f"/tickets/{ticket.pk}/{action}/")
        assert response.status_code == 404, method
    assert Ticket.objects.get().status == Status.OPEN


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path", ["", "close/", "reopen/", "attachments/{attachment}/"])
def test_another_organisations_user_gets_404_on_every_ticket_url(
    ticket_with_file, outsider_client, method, path, django_capture_on_commit_callbacks
):
    attachment = ticket_with_file.attachments.get()
    url = f"/tickets/{ticket_with_file.pk}/" + path.format(attachment=attachment.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = getattr(outsider_client, method)(url, {"body": "hijack"} if method == "post" else None)

    assert response.status_code == 404
    assert Ticket.objects.get(pk=ticket_with_file.pk).status == Status.OPEN
    assert not Comment.objects.exists()
    assert mail.outbox == []


# --- The list -----------------------------------------------------------------------------------


def test_list_filters_by_status(owner_client, owner, member):
    open_ticket(member, subject="Still open")
    closed = open_ticket(owner, subject="All done")
    services.set_status(ticket=closed, status=Status.CLOSED, acting_user=owner)

    page = _page(owner_client.get("/tickets/", {"status": "closed"}))
    assert "All done" in page
    assert "Still open" not in page

    page = _page(owner_client.get("/tickets/", {"status": "open"}))
    assert "Still open" in page
    assert "All done" not in page

    page = _page(owner_client.get("/tickets/"))
    assert "Still open" in page
    assert "All done" in page


def test_list_shows_who_opened_each_ticket(owner_client, member):
    ticket = open_ticket(member, subject="From Max")

    page = _page(owner_client.get("/tickets/"))

    assert f'<a href="/tickets/{ticket.pk}/">From Max</a>' in page
    assert "Max Member" in page
    assert "All of Acme Payments Ltd's tickets." in page


def test_empty_list_says_so(member_client):
    page = _page(member_client.get("/tickets/"))

    assert "No tickets" in page
    assert "Tickets you opened or were included in." in page


@pytest.mark.parametrize("viewer", ["owner", "member"])
def test_list_query_count_does_not_grow_with_the_tickets(viewer, owner, member, colleague, request, settings):
    settings.TICKETS_PER_USER_PER_HOUR = settings.TICKETS_PER_ORGANISATION_PER_HOUR = 100
    client = client_for(request.getfixturevalue(viewer))

    def queries_for_list() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/tickets/")
        assert response.status_code == 200
        return len(queries)

    for n in range(2):
        open_ticket(member, subject=f"Ticket {n}", participants=[colleague])
    few = queries_for_list()
    for n in range(2, 20):
        open_ticket(colleague if n % 2 else member, subject=f"Ticket {n}", participants=[member])

    assert queries_for_list() == few
    assert len(re.findall(r'<a href="/tickets/\d+/">Ticket \d+</a>', _page(client.get("/tickets/")))) == 20


# --- Resources ----------------------------------------------------------------------------------


def test_resources_page_lists_support_links_opening_safely(member_client):
    ResourceLink.objects.create(
        group="API documentation", title="API reference", url="https://docs.example.com/api", position=1
    )
    ResourceLink.objects.create(
        group="API documentation", title="Quick start", url="https://docs.example.com/start", position=0
    )
    ResourceLink.objects.create(
        group="Knowledge base", title="Error codes", url="https://help.example.com/errors", description="All codes."
    )

    page = _page(member_client.get("/resources/"))

    assert "<h2>API documentation</h2>" in page
    assert "<h2>Knowledge base</h2>" in page
    assert '<a href="https://docs.example.com/api" target="_blank" rel="noopener noreferrer">API reference</a>' in page
    assert page.index("Quick start") < page.index("API reference")  # support's order
    assert "All codes." in page
    assert page.count('rel="noopener noreferrer"') == 3


def test_resources_page_without_links_says_so(member_client):
    page = _page(member_client.get("/resources/"))

    assert "No resources yet" in page


def test_each_attachment_upload_and_download_is_audited(member_client, member, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from audit.models import AuditEvent
    from support import services

    ticket = services.open_ticket(
        acting_user=member,
        subject="Docs",
        body="See attached",
        category="question",
        files=[SimpleUploadedFile("a.pdf", b"%PDF-1.4\n1 0 obj\n", content_type="application/pdf")],
    )
    attachment = ticket.attachments.get()

    member_client.get(f"/tickets/{ticket.pk}/attachments/{attachment.pk}/")

    uploaded = AuditEvent.objects.get(action="file.uploaded")
    downloaded = AuditEvent.objects.get(action="file.downloaded")
    assert uploaded.actor == member and uploaded.target_label == f"a.pdf (ticket #{ticket.pk})"
    assert downloaded.actor == member and uploaded.organisation == member.organisation
