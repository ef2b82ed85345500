"""Closing or reopening a ticket emails everyone included but whoever did it (issue 19), after commit,
limited like replies (each one also emails support)."""

from functools import partial

import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from support import services
from support.models import Status, Ticket
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import UserFactory
from tests.race import race
from tests.support.conftest import recipients

SUPPORT = "support@example.com"


def open_ticket(user: User, participants=()) -> Ticket:
    ticket = services.open_ticket(
        acting_user=user,
        subject="Card payments fail",
        body="Since 9:00.",
        category="problem",
        participants=participants,
    )
    mail.outbox.clear()
    return ticket


@pytest.fixture
def ticket(member, colleague, owner) -> Ticket:
    """Opened by the member, with a colleague and the organisation's admin included."""
    return open_ticket(member, participants=[colleague, owner])


def test_closing_emails_everyone_included_but_the_actor_after_commit(
    colleague, ticket, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = log_in(Client(), colleague).post(f"/tickets/{ticket.pk}/close/", follow=True)
    assert mail.outbox == []  # nothing leaves before the change is committed
    for callback in callbacks:
        callback()

    assert "The ticket is closed. Everyone else on it gets an email." in _page(response)
    assert recipients() == sorted(["member@acme.example", "owner@acme.example", SUPPORT])  # not Cleo herself
    for message in mail.outbox:
        assert message.subject == f"[Ticket #{ticket.pk}] Card payments fail"
        assert "Cleo Colleague closed the ticket." in message.body
        assert f"/tickets/{ticket.pk}/" in message.body
        assert "<blockquote" not in message.alternatives[0][0]  # no empty quote


def test_reopening_emails_everyone_included_but_the_actor(member, ticket, django_capture_on_commit_callbacks):
    Ticket.objects.filter(pk=ticket.pk).update(status=Status.CLOSED)

    with django_capture_on_commit_callbacks(execute=True):
        response = log_in(Client(), member).post(f"/tickets/{ticket.pk}/reopen/", follow=True)

    assert "The ticket is open again." in _page(response)
    assert Ticket.objects.get().status == Status.WAITING_SUPPORT
    assert recipients() == sorted(["cleo@acme.example", "owner@acme.example", SUPPORT])
    assert all("Max Member reopened the ticket: it waits on support again." in m.body for m in mail.outbox)


def test_someone_no_longer_active_is_not_emailed(colleague, owner, ticket, django_capture_on_commit_callbacks):
    User.objects.filter(pk=owner.pk).update(is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        log_in(Client(), colleague).post(f"/tickets/{ticket.pk}/close/")

    assert recipients() == sorted(["member@acme.example", SUPPORT])


def test_closing_a_closed_ticket_emails_nobody_again(colleague, ticket, django_capture_on_commit_callbacks):
    client = log_in(Client(), colleague)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/tickets/{ticket.pk}/close/")
    mail.outbox.clear()
    events = AuditEvent.objects.filter(action="ticket.closed").count()

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/tickets/{ticket.pk}/close/")  # a second click, or a second tab

    assert mail.outbox == []
    assert AuditEvent.objects.filter(action="ticket.closed").count() == events


def test_reopening_a_ticket_that_is_not_closed_emails_nobody(member, ticket, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        log_in(Client(), member).post(f"/tickets/{ticket.pk}/reopen/")

    assert mail.outbox == []
    assert Ticket.objects.get().status == Status.WAITING_SUPPORT  # as before: back with support


def test_status_changes_count_against_the_reply_limit(member, ticket, settings, django_capture_on_commit_callbacks):
    settings.TICKET_REPLIES_PER_USER_PER_HOUR = 2
    client = log_in(Client(), member)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/tickets/{ticket.pk}/close/", follow=True)
        client.post(f"/tickets/{ticket.pk}/reopen/", follow=True)
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/tickets/{ticket.pk}/close/", follow=True)

    page = _page(response)
    assert "Too many replies and status changes in the last hour. Try again in" in page
    assert "The ticket is closed." not in page
    assert Ticket.objects.get().status == Status.WAITING_SUPPORT
    assert mail.outbox == []


def test_outsider_cannot_close_or_reopen(outsider, ticket, django_capture_on_commit_callbacks):
    client = log_in(Client(), outsider)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/tickets/{ticket.pk}/close/").status_code == 404
        assert client.post(f"/tickets/{ticket.pk}/reopen/").status_code == 404

    assert Ticket.objects.get().status == Status.OPEN
    assert mail.outbox == []


# --- Under concurrent requests (PostgreSQL) ---------------------------------------------------


@pytest.mark.postgres
def test_two_clicks_at_once_close_the_ticket_once_and_email_once(transactional_db):
    member = UserFactory.create(email="racer@acme.example")
    colleague = UserFactory.create(organisation=member.organisation, email="cleo@acme.example")
    ticket = open_ticket(member, participants=[colleague])

    responses, errors = race([partial(log_in(Client(), member).post, f"/tickets/{ticket.pk}/close/") for _ in range(6)])

    assert errors == [] and [r.status_code for r in responses] == [302] * 6
    assert Ticket.objects.get().status == Status.CLOSED
    assert AuditEvent.objects.filter(action="ticket.closed").count() == 1
    assert recipients() == sorted(["cleo@acme.example", SUPPORT])


@pytest.mark.postgres
def test_the_limit_on_status_changes_holds_when_requests_race(transactional_db, settings):
    settings.TICKET_REPLIES_PER_USER_PER_HOUR = 3
    racer = UserFactory.create(email="racer@acme.example")
    tickets = [open_ticket(racer) for _ in range(10)]

    responses, errors = race([partial(log_in(Client(), racer).post, f"/tickets/{t.pk}/close/") for t in tickets])

    assert errors == [] and len(responses) == 10
    assert Ticket.objects.filter(status=Status.CLOSED).count() == 3
    assert sum(SUPPORT in message.to for message in mail.outbox) == 3
