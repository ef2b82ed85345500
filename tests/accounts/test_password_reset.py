"""Forgot password at /password/reset/: same answer for any address, single-use link by email."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from tests.conftest import log_in
from tests.factories import PASSWORD

NEW_PASSWORD = "quiet harbour copper 77"


@pytest.fixture
def ask_for_reset(client, django_capture_on_commit_callbacks):
    """Submit the form as a user would; emails queued on commit are sent."""

    def ask(email: str, remote_addr: str = "198.51.100.7"):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/password/reset/", {"email": email}, REMOTE_ADDR=remote_addr)

    return ask


def reset_link(message: mail.EmailMessage) -> str:
    match = re.search(re.escape(settings.PORTAL_BASE_URL) + r"(/password/reset/\S+/\S+/)", str(message.body))
    assert match is not None, message.body
    return match.group(1)


def choose_new_password(client, link: str, password1: str, password2: str | None = None):
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    form_url = form_page.redirect_chain[-1][0]
    return client.post(form_url, {"new_password1": password1, "new_password2": password2 or password1})


def test_reset_page_asks_for_an_email(client):
    response = client.get("/password/reset/")

    assert response.status_code == 200
    assert 'name="email"' in response.content.decode()


def test_existing_and_unknown_email_get_the_same_answer(ask_for_reset, member, client):
    known = ask_for_reset(member.email)
    unknown = ask_for_reset("nobody@acme.example")

    assert (known.status_code, known.url) == (302, "/password/reset/sent/")
    assert (unknown.status_code, unknown.url) == (302, "/password/reset/sent/")
    page = client.get(unknown.url)
    assert page.status_code == 200
    assert "Check your email" in page.content.decode()
    # Only the real account gets an email.
    assert [m.to for m in mail.outbox] == [[member.email]]


def test_reset_email_is_found_whatever_the_case_of_the_address(ask_for_reset, member):
    ask_for_reset("MEMBER@acme.EXAMPLE")

    assert [m.to for m in mail.outbox] == [[member.email]]


def test_malformed_email_gets_a_message_and_sends_nothing(ask_for_reset):
    response = ask_for_reset("not an address")

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert mail.outbox == []


def test_reset_link_sets_a_new_password_once(ask_for_reset, member, client):
    ask_for_reset(member.email)
    (message,) = mail.outbox
    assert message.subject == "Reset your password on the API platform portal"
    link = reset_link(message)

    response = choose_new_password(client, link, NEW_PASSWORD)

    assert response.url == "/password/reset/done/"
    assert "Your password is changed" in client.get(response.url).content.decode()
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert not member.check_password(PASSWORD)
    # Resetting the password does not log anyone in: the second factor is still to come.
    assert "_auth_user_id" not in client.session

    # The same link a second time, from this or any other browser.
    again = client.get(link, follow=True)
    assert "This link no longer works" in again.content.decode()
    assert 'name="new_password1"' not in again.content.decode()


def test_reset_link_is_on_the_portal_address_whatever_host_the_request_named(
    member, client, settings, django_capture_on_commit_callbacks
):
    # A Host the server accepts, but not the portal's public address: the link must not follow it.
    settings.ALLOWED_HOSTS = ["testserver", "attacker.example"]
    settings.PORTAL_BASE_URL = "https://portal.example.com"

    with django_capture_on_commit_callbacks(execute=True):
        with_forged_host = client.post("/password/reset/", {"email": member.email}, HTTP_HOST="attacker.example")
    assert with_forged_host.status_code == 302

    (message,) = mail.outbox
    assert "attacker.example" not in message.body
    assert re.search(r"^https://portal\.example\.com/password/reset/\S+/\S+/$", message.body, re.MULTILINE)
    (html, _), *_ = message.alternatives
    assert "attacker.example" not in html
    assert 'href="https://portal.example.com/password/reset/' in html


def test_reset_link_stops_working_once_the_password_changes(ask_for_reset, member, client):
    ask_for_reset(member.email)
    link = reset_link(mail.outbox[0])
    member.set_password("another fine password 9")
    member.save()

    page = client.get(link, follow=True).content.decode()

    assert "This link no longer works" in page


def test_tampered_reset_link_does_not_work(ask_for_reset, member, client):
    ask_for_reset(member.email)
    link = reset_link(mail.outbox[0])
    tampered = link[:-4] + ("aaa/" if not link.endswith("aaa/") else "bbb/")

    page = client.get(tampered, follow=True).content.decode()

    assert "This link no longer works" in page


@pytest.mark.parametrize(
    ("password1", "password2", "message"),
    [
        (NEW_PASSWORD, NEW_PASSWORD + "!", "The two password fields didn\u2019t match."),
        ("sh0rt-pw", None, "This password is too short. It must contain at least 12 characters."),
        ("password1234", None, "This password is too common."),
        ("831904657203", None, "This password is entirely numeric."),
    ],
)
def test_new_password_must_pass_the_rules(ask_for_reset, member, client, password1, password2, message):
    ask_for_reset(member.email)
    link = reset_link(mail.outbox[0])

    response = choose_new_password(client, link, password1, password2)

    assert response.status_code == 200
    assert message in response.content.decode()
    member.refresh_from_db()
    assert member.check_password(PASSWORD)
    # The link still works for a correct attempt.
    assert choose_new_password(client, link, NEW_PASSWORD).url == "/password/reset/done/"


def test_reset_emails_per_address_are_limited_silently(ask_for_reset, member):
    limit = settings.PASSWORD_RESETS_PER_EMAIL_PER_HOUR
    responses = [ask_for_reset(member.email, remote_addr=f"198.51.100.{i}") for i in range(limit + 2)]

    assert len(mail.outbox) == limit
    # The answer does not change once the limit is reached: it must not tell whether the address exists.
    assert {(r.status_code, r.url) for r in responses} == {(302, "/password/reset/sent/")}


def test_reset_requests_per_network_are_limited_with_a_message(ask_for_reset, member):
    limit = settings.PASSWORD_RESETS_PER_IP_PER_HOUR
    for i in range(limit):
        assert ask_for_reset(f"person{i}@acme.example").url == "/password/reset/sent/"

    response = ask_for_reset(member.email)

    assert response.status_code == 200
    assert "Too many password reset requests from your network in the last hour." in response.content.decode()
    assert mail.outbox == []
    # Another network is not affected.
    assert ask_for_reset(member.email, remote_addr="203.0.113.9").url == "/password/reset/sent/"
    assert [m.to for m in mail.outbox] == [[member.email]]


def an_hour_later(time_machine) -> None:
    """The clock moves into the next hour: the hourly windows of the limits start again."""
    time_machine.move_to(timezone.now() + timedelta(hours=1))


def test_network_limit_lifts_in_the_next_hour(ask_for_reset, member, time_machine):
    limit = settings.PASSWORD_RESETS_PER_IP_PER_HOUR
    for i in range(limit):
        ask_for_reset(f"person{i}@acme.example")
    assert ask_for_reset(member.email).status_code == 200  # refused with the message

    an_hour_later(time_machine)

    assert ask_for_reset(member.email).url == "/password/reset/sent/"
    assert [m.to for m in mail.outbox] == [[member.email]]


def test_address_limit_lifts_in_the_next_hour(ask_for_reset, member, time_machine):
    limit = settings.PASSWORD_RESETS_PER_EMAIL_PER_HOUR
    for i in range(limit + 1):
        ask_for_reset(member.email, remote_addr=f"198.51.100.{i}")
    assert len(mail.outbox) == limit

    an_hour_later(time_machine)
    ask_for_reset(member.email, remote_addr="203.0.113.9")

    assert len(mail.outbox) == limit + 1


def test_asking_for_a_reset_and_using_the_link_are_in_the_audit_trail(ask_for_reset, member, owner, client):
    ask_for_reset(member.email, remote_addr="198.51.100.7")
    ask_for_reset("nobody@acme.example")  # no account: nothing of any organisation's to record
    choose_new_password(client, reset_link(mail.outbox[0]), NEW_PASSWORD)

    events = AuditEvent.objects.filter(action__startswith="password.").order_by("at", "id")
    assert [(e.action, e.actor, e.subject_user, e.organisation, e.ip_address) for e in events] == [
        ("password.reset_requested", None, member, member.organisation, "198.51.100.7"),
        ("password.reset", member, member, member.organisation, "127.0.0.1"),
    ]
    # The organisation's admin reads them in words, with whose account it was.
    trail = log_in(Client(), owner).get("/audit/").content.decode()
    assert "Password reset requested" in trail and "Password reset with an emailed link" in trail
    assert "Not logged in" in trail and member.email in trail


def test_a_refused_new_password_records_nothing(ask_for_reset, member, client):
    ask_for_reset(member.email)

    choose_new_password(client, reset_link(mail.outbox[0]), "sh0rt-pw")

    assert not AuditEvent.objects.filter(action="password.reset").exists()
    member.refresh_from_db()
    assert member.check_password(PASSWORD)
