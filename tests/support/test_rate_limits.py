"""New tickets and replies are limited per user and per organisation each hour (shared through Redis).

Each ticket and each customer reply emails support: without a limit, one account (or a script with
its session) could flood the support mailbox. A refused post says how long to wait and stores nothing.
"""

import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from django.core import mail
from django.test import Client

from accounts.models import CompanyDetailsChangeRequest, User
from support import services
from support.models import Comment, Ticket
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.factories import UserFactory
from tests.race import race

SUPPORT = "support@example.com"
NEW_TICKET = {"subject": "Card payments fail", "category": "problem", "body": "Since 9:00 every payment fails."}


def _to_support() -> int:
    return sum(SUPPORT in message.to for message in mail.outbox)


def _says_how_long_to_wait(page: str) -> bool:
    return re.search(r"Try again in \d+ (minutes|seconds?)\.", page) is not None


def _ticket(user: User) -> Ticket:
    return services.open_ticket(acting_user=user, subject="Card payments fail", body="Since 9:00.", category="problem")


def test_thirty_tickets_in_a_row_are_cut_at_the_hourly_limit(member_client, django_capture_on_commit_callbacks):
    statuses = []
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(30):
            statuses.append(member_client.post("/tickets/new/", {**NEW_TICKET, "subject": f"Flood {n}"}).status_code)

    assert statuses == [302] * 10 + [429] * 20
    assert Ticket.objects.count() == 10
    assert _to_support() == 10


def test_refused_ticket_says_how_long_to_wait_and_stores_nothing(member_client, settings):
    settings.TICKETS_PER_USER_PER_HOUR = 2
    for _ in range(2):
        assert member_client.post("/tickets/new/", NEW_TICKET).status_code == 302
    mail.outbox.clear()

    response = member_client.post("/tickets/new/", NEW_TICKET)

    assert response.status_code == 429
    assert _says_how_long_to_wait(_page(response))
    assert 1 <= int(response["Retry-After"]) <= 3601
    assert "Too many new tickets in the last hour." in _page(response)
    assert Ticket.objects.count() == 2
    assert mail.outbox == []


def test_the_limit_lifts_in_the_next_hour(member_client, settings, monkeypatch):
    settings.TICKETS_PER_USER_PER_HOUR = 1
    assert member_client.post("/tickets/new/", NEW_TICKET).status_code == 302
    assert member_client.post("/tickets/new/", NEW_TICKET).status_code == 429

    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 3600)  # the clock moves into the next hour's window

    assert member_client.post("/tickets/new/", NEW_TICKET).status_code == 302
    assert Ticket.objects.count() == 2


def test_tickets_are_limited_per_organisation_and_other_organisations_are_not_affected(
    member, owner, outsider, settings
):
    settings.TICKETS_PER_ORGANISATION_PER_HOUR = 2
    colleague = UserFactory.create(organisation=member.organisation)
    assert log_in(Client(), member).post("/tickets/new/", NEW_TICKET).status_code == 302
    assert log_in(Client(), colleague).post("/tickets/new/", NEW_TICKET).status_code == 302

    response = log_in(Client(), owner).post("/tickets/new/", NEW_TICKET)

    assert response.status_code == 429
    assert "Too many new tickets from your organisation in the last hour." in _page(response)
    assert Ticket.objects.count() == 2
    assert log_in(Client(), outsider).post("/tickets/new/", NEW_TICKET).status_code == 302


def test_replies_are_limited_per_user(member, member_client, settings, django_capture_on_commit_callbacks):
    settings.TICKET_REPLIES_PER_USER_PER_HOUR = 3
    ticket = _ticket(member)

    with django_capture_on_commit_callbacks(execute=True):
        statuses = [
            member_client.post(f"/tickets/{ticket.pk}/", {"body": f"Any news? ({n})"}).status_code for n in range(5)
        ]
        response = member_client.post(f"/tickets/{ticket.pk}/", {"body": "Hello?"})

    assert statuses == [302] * 3 + [429] * 2
    assert "Too many replies in the last hour. Try again in" in _page(response)
    assert Comment.objects.count() == 3
    assert _to_support() == 3


def test_replies_are_limited_per_organisation(member, owner, settings):
    settings.TICKET_REPLIES_PER_ORGANISATION_PER_HOUR = 2
    ticket = _ticket(member)
    assert log_in(Client(), member).post(f"/tickets/{ticket.pk}/", {"body": "One"}).status_code == 302
    assert log_in(Client(), owner).post(f"/tickets/{ticket.pk}/", {"body": "Two"}).status_code == 302

    response = log_in(Client(), member).post(f"/tickets/{ticket.pk}/", {"body": "Three"})

    assert response.status_code == 429
    assert "Too many replies from your organisation in the last hour." in _page(response)
    assert list(Comment.objects.values_list("body", flat=True).order_by("id")) == ["One", "Two"]


def test_a_refused_form_does_not_use_up_the_limit(member, member_client, settings):
    settings.TICKET_REPLIES_PER_USER_PER_HOUR = 1
    ticket = _ticket(member)

    assert member_client.post(f"/tickets/{ticket.pk}/", {"body": "  "}).status_code == 400  # empty: refused

    assert member_client.post(f"/tickets/{ticket.pk}/", {"body": "Any news?"}).status_code == 302


def test_a_company_details_request_counts_as_a_new_ticket(member, member_client, settings):
    settings.TICKETS_PER_USER_PER_HOUR = 1
    _ticket(member)

    response = member_client.post("/profile/company-change/", {"vat_number": "GB999999999"})

    assert response.status_code == 429
    assert "Too many new tickets in the last hour. Try again in" in _page(response)
    assert not CompanyDetailsChangeRequest.objects.exists()
    assert Ticket.objects.count() == 1


def test_support_replies_are_never_limited(member, support, settings):
    settings.TICKET_REPLIES_PER_USER_PER_HOUR = 1
    settings.TICKET_REPLIES_PER_ORGANISATION_PER_HOUR = 1
    ticket = _ticket(member)

    for n in range(3):
        services.add_comment(ticket=ticket, acting_user=support, body=f"Looking into it ({n}).", from_support=True)

    assert Comment.objects.count() == 3


# --- Under concurrency (PostgreSQL, Redis) -----------------------------------------------------------


def _fire(clients: list[Client], path: str, data: dict[str, str]) -> list[int]:
    """POST from every client at once, each in its own thread with its own database connection."""
    calls: list[Callable[[], Any]] = [partial(c.post, path, data) for c in clients]
    responses, errors = race(calls)
    assert not errors, errors
    return sorted(r.status_code for r in responses)


@pytest.mark.postgres
def test_the_ticket_limits_hold_when_requests_race(transactional_db, settings):
    settings.TICKETS_PER_USER_PER_HOUR = 3
    settings.TICKETS_PER_ORGANISATION_PER_HOUR = 5
    racer = UserFactory.create(email="racer@acme.example")
    colleagues = [UserFactory.create(organisation=racer.organisation) for _ in range(3)]

    # One user, ten sessions at once: the user's limit holds.
    assert _fire([log_in(Client(), racer) for _ in range(10)], "/tickets/new/", NEW_TICKET) == [302] * 3 + [429] * 7
    assert Ticket.objects.count() == 3
    # Three colleagues, four sessions each: the organisation's limit (2 left of 5) holds.
    clients = [log_in(Client(), user) for user in colleagues for _ in range(4)]
    assert _fire(clients, "/tickets/new/", NEW_TICKET) == [302] * 2 + [429] * 10
    assert Ticket.objects.count() == 5
    assert _to_support() == 5


@pytest.mark.postgres
def test_the_reply_limit_holds_when_requests_race(transactional_db, settings):
    settings.TICKET_REPLIES_PER_USER_PER_HOUR = 4
    racer = UserFactory.create(email="racer@acme.example")
    ticket = _ticket(racer)
    mail.outbox.clear()

    statuses = _fire([log_in(Client(), racer) for _ in range(12)], f"/tickets/{ticket.pk}/", {"body": "Any news?"})

    assert statuses == [302] * 4 + [429] * 8
    assert Comment.objects.filter(ticket=ticket).count() == 4
    assert _to_support() == 4
