"""Support works tickets in the admin (SPEC §7): replies, tickets opened for a customer, resources."""

import pytest
from django.core import mail
from django.test import Client

from audit.models import AuditEvent
from support import services
from support.models import Comment, ResourceLink, Status, Ticket
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.support import pdf_file
from tests.support.conftest import recipients


def _inlines(ticket: Ticket | None) -> dict[str, object]:
    data: dict[str, object] = {}
    for prefix, rows in (
        ("comments", list(ticket.comments.all()) if ticket else []),
        ("attachments", list(ticket.attachments.all()) if ticket else []),
    ):
        data |= {
            f"{prefix}-TOTAL_FORMS": str(len(rows)),
            f"{prefix}-INITIAL_FORMS": str(len(rows)),
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
        for i, row in enumerate(rows):
            data |= {f"{prefix}-{i}-id": str(row.pk), f"{prefix}-{i}-ticket": str(ticket.pk if ticket else "")}
    return data


def _change_form(ticket: Ticket, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "status": ticket.status,
        "assigned_to": str(ticket.assigned_to_id or ""),
        "participants": [str(p.pk) for p in ticket.participants.all()],
        "reply": "",
        **_inlines(ticket),
    }
    data.update(changes)
    return data


@pytest.fixture
def ticket(member, colleague) -> Ticket:
    return services.open_ticket(
        acting_user=member,
        subject="Card payments fail",
        body="Every card payment returns error 502.",
        category="problem",
        participants=[colleague],
        files=[pdf_file("log.pdf")],
    )


# --- Replies ------------------------------------------------------------------------------------


def test_support_reply_emails_the_customers_and_waits_on_them(
    support_client, support, ticket, member, colleague, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            f"/admin/support/ticket/{ticket.pk}/change/",
            _change_form(ticket, reply="  We restarted the gateway; please retry.  "),
            follow=True,
        )

    assert response.status_code == 200
    assert "was changed successfully" in _page(response)
    comment = Comment.objects.get()
    assert (comment.author, comment.from_support, comment.body) == (
        support,
        True,
        "We restarted the gateway; please retry.",
    )
    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_CUSTOMER

    # Each included customer once; not the organisation's admin who is not included, not support.
    assert recipients() == sorted([member.email, colleague.email])
    message = mail.outbox[0]
    assert message.subject == f"[Ticket #{ticket.pk}] Card payments fail"
    assert "Support wrote on the ticket." in message.body
    assert "We restarted the gateway; please retry." in message.body

    page = _page(log_in(Client(), member).get(f"/tickets/{ticket.pk}/"))
    assert "We restarted the gateway; please retry." in page
    assert "Waiting on customer" in page


def test_support_closing_a_ticket_tells_everyone_included(
    support_client, support, ticket, member, colleague, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket, status=Status.CLOSED))

    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED
    assert not Comment.objects.exists()
    assert recipients() == sorted([member.email, colleague.email])
    assert all("Support closed the ticket." in message.body for message in mail.outbox)


def test_support_reopening_a_ticket_tells_everyone_included(
    support_client, support, ticket, member, colleague, django_capture_on_commit_callbacks
):
    services.set_status(ticket=ticket, status=Status.CLOSED, acting_user=support)

    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket, status=Status.OPEN))

    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert recipients() == sorted([member.email, colleague.email])
    assert "Support reopened the ticket." in mail.outbox[0].body


def test_other_status_changes_without_a_reply_are_quiet(support_client, ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(
            f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket, status=Status.WAITING_CUSTOMER)
        )

    ticket.refresh_from_db()
    assert ticket.status == Status.WAITING_CUSTOMER
    assert mail.outbox == []


def test_assigning_a_ticket_is_audited_and_tells_the_colleague(
    support_client, support, ticket, django_capture_on_commit_callbacks
):
    colleague_in_support = type(support).objects.create_user(
        email="second-line@support.example", password="x" * 16, is_staff=True
    )

    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(
            f"/admin/support/ticket/{ticket.pk}/change/",
            _change_form(ticket, assigned_to=str(colleague_in_support.pk)),
        )

    ticket.refresh_from_db()
    assert ticket.assigned_to == colleague_in_support
    event = AuditEvent.objects.get(action="ticket.assigned")
    assert (event.actor, event.organisation) == (support, ticket.organisation)
    assert event.details["assigned_to"] == "second-line@support.example"
    assert recipients() == ["second-line@support.example"]
    assert "assigned the ticket to you" in mail.outbox[0].body
    assert f"/admin/support/ticket/{ticket.pk}/change/" in mail.outbox[0].body


def test_assigning_a_ticket_to_oneself_is_audited_and_emails_nobody(
    support_client, support, ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(
            f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket, assigned_to=str(support.pk))
        )

    assert AuditEvent.objects.filter(action="ticket.assigned").count() == 1
    assert mail.outbox == []


def test_changing_participants_is_audited_and_tells_those_added(
    support_client, support, ticket, member, colleague, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(
            f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket, participants=[str(owner.pk)])
        )

    assert set(ticket.participants.all()) == {owner}
    event = AuditEvent.objects.get(action="ticket.participants_changed")
    assert (event.details["added"], event.details["removed"]) == ([owner.email], [colleague.email])
    assert recipients() == [owner.email]
    assert "Support included you in this ticket." in mail.outbox[0].body


def test_change_form_shows_the_thread_and_attachments(support_client, ticket, member):
    services.add_comment(ticket=ticket, acting_user=member, body="Still failing at noon.")

    page = _page(support_client.get(f"/admin/support/ticket/{ticket.pk}/change/"))

    assert "Every card payment returns error 502." in page
    assert "Still failing at noon." in page
    assert "log.pdf" in page
    assert "Reply to the customer" in page


# --- Tickets support opens ----------------------------------------------------------------------


def test_support_opens_a_ticket_for_an_organisation(
    support_client, support, organisation, owner, member, colleague, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            "/admin/support/ticket/add/",
            {
                "organisation": str(organisation.pk),
                "subject": "Please send your VAT certificate",
                "body": "Our records need the current certificate.",
                "category": "question",
                "status": Status.WAITING_CUSTOMER,
                "assigned_to": "",
                "participants": [str(owner.pk), str(member.pk)],
                "reply": "",
                **_inlines(None),
            },
            follow=True,
        )

    assert response.status_code == 200
    ticket = Ticket.objects.get()
    assert ticket.opened_by == support
    assert ticket.opened_by_support is True
    assert ticket.organisation == organisation
    assert set(ticket.participants.all()) == {owner, member}

    assert recipients() == sorted([owner.email, member.email])
    assert "Support opened a ticket for you." in mail.outbox[0].body
    assert "Our records need the current certificate." in mail.outbox[0].body

    member_client = log_in(Client(), member)
    page = _page(member_client.get("/tickets/"))
    assert "Please send your VAT certificate" in page
    assert "<td>Support</td>" in page
    assert "by support" in _page(member_client.get(f"/tickets/{ticket.pk}/"))
    assert log_in(Client(), colleague).get(f"/tickets/{ticket.pk}/").status_code == 404


def test_support_cannot_include_a_user_of_another_organisation(
    support_client, organisation, member, outsider, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(
            "/admin/support/ticket/add/",
            {
                "organisation": str(organisation.pk),
                "subject": "Your invoices",
                "body": "Confidential billing details.",
                "category": "question",
                "status": Status.OPEN,
                "participants": [str(member.pk), str(outsider.pk)],
                **_inlines(None),
            },
        )

    assert response.status_code == 200
    assert "Participants must be users of the organisation the ticket is for." in _page(response)
    assert not Ticket.objects.exists()
    assert mail.outbox == []


def test_support_cannot_add_a_user_of_another_organisation_to_a_ticket(
    support_client, ticket, outsider, django_capture_on_commit_callbacks
):
    form = _change_form(ticket, reply="Adding a colleague.")
    form["participants"] = [*form["participants"], str(outsider.pk)]

    with django_capture_on_commit_callbacks(execute=True):
        response = support_client.post(f"/admin/support/ticket/{ticket.pk}/change/", form)

    assert response.status_code == 200
    assert "Participants must be users of the organisation the ticket is for." in _page(response)
    assert outsider not in ticket.participants.all()
    assert not Comment.objects.exists()
    assert mail.outbox == []


# --- Admin writes go through the services: audited as in the portal -----------------------------


def test_a_status_change_in_the_admin_is_audited(support_client, support, ticket):
    support_client.post(f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket, status=Status.CLOSED))

    event = AuditEvent.objects.get(action="ticket.closed")
    assert (event.actor, event.organisation, event.target_label) == (support, ticket.organisation, str(ticket))


def test_saving_a_ticket_without_a_change_records_none(support_client, support, ticket):
    support_client.post(f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket))

    assert not AuditEvent.objects.filter(action__startswith="ticket.").exclude(action="ticket.opened").exists()


def test_a_ticket_support_opens_is_audited(support_client, support, organisation, member):
    support_client.post(
        "/admin/support/ticket/add/",
        {
            "organisation": str(organisation.pk),
            "subject": "Please send your VAT certificate",
            "body": "Our records need it.",
            "category": "question",
            "status": Status.OPEN,
            "participants": [str(member.pk)],
            **_inlines(None),
        },
    )

    ticket = Ticket.objects.get()
    event = AuditEvent.objects.get(action="ticket.opened")
    assert (event.actor, event.organisation, event.target_label) == (support, organisation, str(ticket))


def test_a_ticket_opened_with_a_reply_sends_only_the_reply_and_records_both(
    support_client, support, organisation, member, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        support_client.post(
            "/admin/support/ticket/add/",
            {
                "organisation": str(organisation.pk),
                "subject": "Gateway restarted",
                "body": "We restarted the gateway.",
                "category": "problem",
                "status": Status.OPEN,
                "participants": [str(member.pk)],
                "reply": "Please retry your payments.",
                **_inlines(None),
            },
        )

    ticket = Ticket.objects.get()
    assert ticket.status == Status.WAITING_CUSTOMER
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == ["ticket.answered", "ticket.opened"]
    assert recipients() == [member.email]
    assert "Support wrote on the ticket." in mail.outbox[0].body


# --- Who gets in --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/admin/support/ticket/", "/admin/support/ticket/add/", "/admin/support/resourcelink/"]
)
def test_organisation_users_cannot_reach_the_support_admin(owner_client, url):
    response = owner_client.get(url, follow=True)

    assert response.status_code == 403
    assert "only for support staff" in _page(response)


def test_organisation_admin_cannot_reply_as_support(owner_client, ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(f"/admin/support/ticket/{ticket.pk}/change/", _change_form(ticket, reply="I am support."))

    assert not Comment.objects.exists()
    assert Ticket.objects.get().status == Status.OPEN
    assert mail.outbox == []


# --- Resources ----------------------------------------------------------------------------------


def test_support_adds_a_resource_link_shown_to_customers(support_client, member_client):
    response = support_client.post(
        "/admin/support/resourcelink/add/",
        {
            "group": "API documentation",
            "title": "API reference",
            "description": "Every endpoint.",
            "url": "https://docs.example.com/api",
            "position": "0",
        },
    )

    assert response.status_code == 302
    page = _page(member_client.get("/resources/"))
    assert '<a href="https://docs.example.com/api" target="_blank" rel="noopener noreferrer">' in page
    assert "Every endpoint." in page


def test_resource_link_must_be_a_web_address(support_client):
    response = support_client.post(
        "/admin/support/resourcelink/add/",
        {"group": "Support", "title": "Click me", "url": "javascript:alert(1)", "position": "0"},
    )

    assert response.status_code == 200
    assert "Enter a valid URL." in _page(response)
    assert not ResourceLink.objects.exists()
