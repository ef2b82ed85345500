"""Company details change end to end (SPEC §2, §7): a request from the profile becomes a ticket;
support applies or rejects it in the admin, which answers and closes the ticket."""

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.forms.models import model_to_dict
from django.test import Client

from accounts.models import ChangeRequestStatus, CompanyDetailsChangeRequest, Organisation
from audit.models import AuditEvent
from support import services as support_services
from support.models import Attachment, Category, Status, Ticket
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.support import ELF, PDF, pdf_file, stored_files
from tests.support.conftest import recipients

CHANGES = {"name": "Acme Payments Group Ltd", "address": "2 Low Road\nLeeds", "message": "We moved."}


def _org_row(organisation: Organisation) -> dict:
    return model_to_dict(Organisation.objects.get(pk=organisation.pk))


def _support_acts(client: Client, action: str, change_request: CompanyDetailsChangeRequest):
    return client.post(
        "/admin/accounts/companydetailschangerequest/",
        {"action": action, "_selected_action": [str(change_request.pk)], "index": "0"},
        follow=True,
    )


@pytest.fixture
def requested(member_client, django_capture_on_commit_callbacks) -> CompanyDetailsChangeRequest:
    """The member asks for new company details from the profile page."""
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/profile/company-change/", CHANGES, follow=True)
    assert "Your request was sent to support." in _page(response)
    return CompanyDetailsChangeRequest.objects.get()


def test_request_from_the_profile_opens_a_company_details_ticket(
    requested, member, member_client, owner, colleague, outsider, organisation
):
    ticket = Ticket.objects.get()
    assert ticket.change_request == requested
    assert ticket.category == Category.COMPANY_DETAILS
    assert ticket.opened_by == member
    assert ticket.organisation == organisation
    assert ticket.status == Status.OPEN
    assert ticket.subject == "Change of company details for Acme Payments Ltd"
    assert requested.requested_changes() == {"name": "Acme Payments Group Ltd", "address": "2 Low Road\nLeeds"}

    # Support's mailbox hears about it; the member who asked is not emailed their own request.
    assert recipients() == [settings.SUPPORT_EMAIL]
    assert "- name: Acme Payments Group Ltd" in mail.outbox[0].body
    assert f"/tickets/{ticket.pk}/" in mail.outbox[0].body

    for viewer_client in (member_client, log_in(Client(), owner)):
        page = _page(viewer_client.get(f"/tickets/{ticket.pk}/"))
        assert "Company-details change" in page
        assert "- name: Acme Payments Group Ltd" in page
        assert "Message: We moved." in page
        assert "Change of company details for Acme Payments Ltd" in _page(viewer_client.get("/tickets/"))

    assert log_in(Client(), colleague).get(f"/tickets/{ticket.pk}/").status_code == 404
    assert log_in(Client(), outsider).get(f"/tickets/{ticket.pk}/").status_code == 404

    # Nothing changes until support applies it.
    assert Organisation.objects.get(pk=organisation.pk).name == "Acme Payments Ltd"


def test_support_applies_the_request_and_the_ticket_is_answered_and_closed(
    requested, support_client, support, member, member_client, organisation, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = _support_acts(support_client, "apply_requests", requested)

    assert "Open requests applied." in _page(response)
    organisation.refresh_from_db()
    assert organisation.name == "Acme Payments Group Ltd"
    assert organisation.address == "2 Low Road\nLeeds"
    assert organisation.country == "United Kingdom"  # not asked for: unchanged
    requested.refresh_from_db()
    assert (requested.status, requested.handled_by) == (ChangeRequestStatus.APPLIED, support)

    ticket = Ticket.objects.get()
    assert ticket.status == Status.CLOSED
    comment = ticket.comments.get()
    assert comment.from_support is True
    assert comment.author == support
    assert comment.body == "The change was applied (name: Acme Payments Group Ltd, address: 2 Low Road\nLeeds)."

    # The customer who asked hears it was done; support's mailbox is not written to about its own reply.
    assert recipients() == [member.email]
    assert "Support wrote on the ticket." in mail.outbox[0].body
    assert "The change was applied" in mail.outbox[0].body

    page = _page(member_client.get(f"/tickets/{ticket.pk}/"))
    assert "The change was applied" in page
    assert "Company-details change · Closed" in page
    assert "<dt>Registered name</dt><dd>Acme Payments Group Ltd</dd>" in _page(member_client.get("/profile/"))


def test_the_request_and_its_application_are_in_the_audit_trail(
    requested, support_client, support, member, organisation
):
    _support_acts(support_client, "apply_requests", requested)

    events = AuditEvent.objects.filter(action__startswith="company.").order_by("pk")
    assert [(e.action, e.actor, e.organisation, e.target_label) for e in events] == [
        ("company.change_requested", member, organisation, "Acme Payments Ltd"),
        ("company.details_changed", support, organisation, "Acme Payments Group Ltd"),
    ]
    assert events[0].details == {"fields": ["address", "name"]}


def test_support_rejects_the_request_and_the_ticket_says_not_applied(
    requested, support_client, support, member, member_client, organisation, django_capture_on_commit_callbacks
):
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = _support_acts(support_client, "reject_requests", requested)

    assert "Open requests rejected." in _page(response)
    assert Organisation.objects.get(pk=organisation.pk).name == "Acme Payments Ltd"
    requested.refresh_from_db()
    assert requested.status == ChangeRequestStatus.REJECTED

    ticket = Ticket.objects.get()
    assert ticket.status == Status.CLOSED
    assert ticket.comments.get().body == "The change was not applied."
    assert recipients() == [member.email]
    assert "The change was not applied." in mail.outbox[0].body
    page = _page(member_client.get(f"/tickets/{ticket.pk}/"))
    assert "The change was not applied." in page
    assert "Company-details change · Closed" in page


def test_a_handled_request_is_not_answered_twice(
    requested, support_client, member, organisation, django_capture_on_commit_callbacks
):
    _support_acts(support_client, "apply_requests", requested)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        _support_acts(support_client, "reject_requests", requested)
        _support_acts(support_client, "apply_requests", requested)

    assert CompanyDetailsChangeRequest.objects.get().status == ChangeRequestStatus.APPLIED
    assert Ticket.objects.get().comments.count() == 1
    assert mail.outbox == []


def test_member_cannot_apply_their_own_request(
    requested, member_client, organisation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _support_acts(member_client, "apply_requests", requested)

    assert Organisation.objects.get(pk=organisation.pk).name == "Acme Payments Ltd"
    assert CompanyDetailsChangeRequest.objects.get().status == ChangeRequestStatus.OPEN
    assert Ticket.objects.get().status == Status.OPEN


def test_supporting_documents_are_attached_to_the_ticket(member, owner, private_root):
    change_request = support_services.request_company_details_change(
        acting_user=member,
        changes={"vat_number": "GB999999999"},
        message="Certificate attached.",
        files=[pdf_file("VAT certificate.pdf")],
    )

    attachment = Attachment.objects.get()
    assert attachment.ticket == Ticket.objects.get(change_request=change_request)
    assert attachment.name == "VAT certificate.pdf"
    assert [path.read_bytes() for path in stored_files(private_root)] == [PDF]

    response = log_in(Client(), owner).get(f"/tickets/{attachment.ticket_id}/attachments/{attachment.pk}/")
    assert b"".join(response.streaming_content) == PDF


def test_refused_supporting_document_stores_no_request_and_no_ticket(
    member, private_root, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError) as exc:
        support_services.request_company_details_change(
            acting_user=member,
            changes={"vat_number": "GB999999999"},
            message="",
            files=[pdf_file("ok.pdf"), SimpleUploadedFile("certificate.pdf", ELF)],
        )

    assert "certificate.pdf: This type of file is not accepted" in " ".join(exc.value.messages)
    assert not CompanyDetailsChangeRequest.objects.exists()
    assert not Ticket.objects.exists()
    assert stored_files(private_root) == []
    assert mail.outbox == []


def test_an_over_long_address_or_message_is_refused_and_nothing_is_sent(member_client):
    response = member_client.post(
        "/profile/company-change/", {**CHANGES, "address": "x" * 501, "message": "y" * 5_001}, follow=True
    )

    page = _page(response)
    assert "Ensure this value has at most 500 characters (it has 501)." in page
    assert "Ensure this value has at most 5000 characters (it has 5001)." in page
    assert not CompanyDetailsChangeRequest.objects.exists()
    assert not Ticket.objects.exists()


# --- The request form on the profile page ---------------------------------------------------


def test_user_requests_a_change_of_company_details(
    member_client, member, organisation, django_capture_on_commit_callbacks
):
    before = _org_row(organisation)

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(
            "/profile/company-change/",
            {"name": "Acme Payments Group Ltd", "address": "2 Low Road\nLeeds", "message": "We moved."},
            follow=True,
        )

    assert response.redirect_chain == [("/profile/", 302)]
    page = _page(response)
    assert "Your request was sent to support." in page
    assert "A change request is with support" in page

    change_request = CompanyDetailsChangeRequest.objects.get()
    assert change_request.organisation == organisation
    assert change_request.requested_by == member
    assert change_request.status == ChangeRequestStatus.OPEN
    assert change_request.requested_changes() == {
        "name": "Acme Payments Group Ltd",
        "address": "2 Low Road\nLeeds",
    }
    assert change_request.message == "We moved."

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [settings.SUPPORT_EMAIL]
    assert "Acme Payments Ltd" in mail.outbox[0].subject
    assert "- name: Acme Payments Group Ltd" in mail.outbox[0].body
    assert "Message: We moved." in mail.outbox[0].body

    # Until support applies it, the registered details stay as they are.
    assert _org_row(organisation) == before


def test_open_request_shows_on_the_home_page_too(member_client, owner, member):
    member_client.post("/profile/company-change/", {"vat_number": "GB999999999"})

    page = _page(member_client.get("/"))
    assert "Change of company details, sent" in page
    assert "Max Member" in page


@pytest.mark.parametrize(
    "form",
    [{}, {"name": "   ", "country": ""}, {"message": "Please update our details."}],
    ids=["nothing", "blank-spaces", "message-only"],
)
def test_empty_change_request_shows_a_message_and_stores_nothing(
    member_client, form, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post("/profile/company-change/", form)

    assert response.status_code == 400
    assert "Fill in at least one detail you want changed." in _page(response)
    assert not CompanyDetailsChangeRequest.objects.exists()
    assert mail.outbox == []


def test_too_long_change_request_shows_a_message_and_stores_nothing(member_client):
    response = member_client.post("/profile/company-change/", {"name": "x" * 201})

    assert response.status_code == 400
    assert "Ensure this value has at most 200 characters" in _page(response)
    assert not CompanyDetailsChangeRequest.objects.exists()


def test_change_request_page_refuses_get(member_client):
    assert member_client.get("/profile/company-change/").status_code == 405


# --- Support's admin actions -----------------------------------------------------------------


def test_applying_a_change_request_updates_the_organisation(support_client, support, member, organisation):
    change_request = CompanyDetailsChangeRequest.objects.create(
        organisation=organisation, requested_by=member, name="Acme Group Ltd", vat_number="GB111"
    )

    response = _support_acts(support_client, "apply_requests", change_request)

    assert "Open requests applied." in _page(response)
    organisation.refresh_from_db()
    assert organisation.name == "Acme Group Ltd"
    assert organisation.vat_number == "GB111"
    assert organisation.address == "1 High Street\nLondon"  # not asked for: unchanged
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequestStatus.APPLIED
    assert change_request.handled_by == support
    assert change_request.handled_at is not None


def test_rejecting_a_change_request_leaves_the_organisation_as_it_is(support_client, support, member, organisation):
    change_request = CompanyDetailsChangeRequest.objects.create(
        organisation=organisation, requested_by=member, name="Acme Group Ltd"
    )

    _support_acts(support_client, "reject_requests", change_request)

    assert Organisation.objects.get(pk=organisation.pk).name == "Acme Payments Ltd"
    change_request.refresh_from_db()
    assert change_request.status == ChangeRequestStatus.REJECTED
    assert change_request.handled_by == support


def test_a_handled_request_is_not_applied_again(support_client, support, member, organisation):
    change_request = CompanyDetailsChangeRequest.objects.create(
        organisation=organisation, requested_by=member, name="Acme Group Ltd"
    )
    support_services.reject_change_request(change_request=change_request, acting_user=support)

    _support_acts(support_client, "apply_requests", change_request)

    assert Organisation.objects.get(pk=organisation.pk).name == "Acme Payments Ltd"
    assert CompanyDetailsChangeRequest.objects.get(pk=change_request.pk).status == ChangeRequestStatus.REJECTED
