"""Testing a token: a code is checked (and spent) without logging anyone in.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.models import AuditEvent
from tests.tokens.helpers import (
    actions_since,
    add_email,
    add_hardware,
    add_sms,
    add_totp,
    audit_mark,
    authenticator_code,
    hotp_counter,
    is_logged_in,
    lock,
    page,
    press,
    session_state,
    start_login,
    submit_code,
    totp_token,
    wrong_authenticator_code,
)
from tokens import services
from tokens.models import Token


def _assert_nobody_was_logged_in(client: Client, before: tuple, member: User, last_login) -> None:
    assert session_state(client) == before, "testing a token changed the acting session"
    anonymous = Client()
    response = anonymous.get("/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert User.objects.get(pk=member.pk).last_login == last_login
    assert not AuditEvent.objects.filter(action__startswith="login.").exists()


def test_right_code_shows_success_and_logs_nobody_in(actor, actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    token = totp_token(member)
    before = session_state(actor_client)
    last_login = User.objects.get(pk=member.pk).last_login
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{token.pk}/test/", {"code": authenticator_code(device)})

    assert response.status_code == 200
    assert "Success: the code is right." in page(response)
    assert actions_since(mark) == [("token.test_passed", actor.email)]
    _assert_nobody_was_logged_in(actor_client, before, member, last_login)


def test_wrong_code_shows_failure(actor, actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    token = totp_token(member)
    before = session_state(actor_client)
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{token.pk}/test/", {"code": wrong_authenticator_code(device)})

    assert response.status_code == 400
    assert "Failed: that code is not right for this token." in page(response)
    assert "Success" not in page(response)
    assert actions_since(mark) == [("token.test_failed", actor.email)]
    assert session_state(actor_client) == before


def test_right_code_while_throttled_is_told_to_wait_not_that_it_is_wrong(actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    token = totp_token(member)
    actor_client.post(f"/tokens/{token.pk}/test/", {"code": wrong_authenticator_code(device)})

    response = actor_client.post(f"/tokens/{token.pk}/test/", {"code": authenticator_code(device)})

    assert response.status_code == 400
    assert re.search(r"The last code was not right\. Wait \d+ seconds? before the next try\.", page(response))
    assert "Failed: that code is not right" not in page(response)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # refused unchecked: not counted again


def test_code_used_in_a_test_is_spent(actor_client, member, hardware):
    assert "Success" in page(actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)}))

    again = actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})
    assert again.status_code == 400
    assert "Failed" in page(again)

    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(1)).status_code == 400
    assert not is_logged_in(visitor)


def test_authenticator_code_used_in_a_test_cannot_log_in(actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    code = authenticator_code(device)
    assert "Success" in page(actor_client.post(f"/tokens/{totp_token(member).pk}/test/", {"code": code}))

    visitor = Client()
    start_login(visitor, member)
    response = submit_code(visitor, code)

    assert response.status_code == 400
    assert not is_logged_in(visitor)


def test_sms_token_test_sends_a_code_then_checks_it(
    actor_client, member, sms, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(f"/tokens/{sms.pk}/test/", {"send": "1"}, follow=True)
    assert "We sent a code to +44 7400 123456." in page(response)
    texted = re.search(r"\[SMS to \+447400123456\] .*security code is (\d+)", capsys.readouterr().out)
    assert texted is not None
    code = texted.group(1)

    assert "Success" in page(actor_client.post(f"/tokens/{sms.pk}/test/", {"code": code}))
    again = actor_client.post(f"/tokens/{sms.pk}/test/", {"code": code})
    assert "Failed" in page(again)


def test_asking_twice_at_once_for_a_code_says_to_wait(
    actor_client, member, sms, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        actor_client.post(f"/tokens/{sms.pk}/test/", {"send": "1"})
        response = actor_client.post(f"/tokens/{sms.pk}/test/", {"send": "1"}, follow=True)

    assert re.search(r"A code was just sent\. Please wait \d+ seconds before asking for another\.", page(response))
    assert capsys.readouterr().out.count("[SMS to") == 1


def test_email_token_test_sends_a_code_then_checks_it(
    actor_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    token = add_email(member, "max.codes@acme.example")

    with django_capture_on_commit_callbacks(execute=True):
        actor_client.post(f"/tokens/{token.pk}/test/", {"send": "1"})
    assert [m.to for m in mailoutbox] == [["max.codes@acme.example"]]
    code = re.search(r"security code is (\d+)", mailoutbox[0].body)
    assert code is not None

    assert "Success" in page(actor_client.post(f"/tokens/{token.pk}/test/", {"code": code.group(1)}))


def test_testing_a_disabled_token_says_it_is_disabled(actor, actor_client, member, hardware):
    services.set_enabled(token=hardware, enabled=False, acting_user=member)

    response = actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})

    assert response.status_code == 400
    assert "This token is disabled." in page(response)
    assert "Success" not in page(response)
    assert hotp_counter(hardware) == 1
    # An admin can enable it themselves: they are never told to ask an admin.
    if actor == member:
        assert "Ask an admin of your organisation to enable it." in page(response)
    else:
        assert "Enable it on its page." in page(response)
        assert "Ask an admin" not in page(response)


def test_admin_testing_a_locked_or_expired_token_is_told_what_to_do_not_to_ask_an_admin(owner_client, member, hardware):
    lock(hardware)
    locked = page(owner_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)}))
    assert "This token is locked after too many wrong codes. Unlock it on its page." in locked
    assert "ask an admin" not in locked.lower() and "an admin of your organisation" not in locked.lower()

    expired = add_totp(member, description="Old phone")
    Token.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    text = page(owner_client.post(f"/tokens/{expired.pk}/test/", {"code": "123456"}))
    assert "Add a new token to replace it." in text
    assert "ask an admin" not in text.lower()


def test_test_page_names_the_token_and_its_owner(actor, actor_client, member):
    token = add_hardware(member, serial="HW-NAMED", description="Desk token")

    text = page(actor_client.get(f"/tokens/{token.pk}/test/"))

    assert "Test Hardware token “Desk token”" in text
    assert ("Your token" if actor == member else f"Token of {member.full_name}") in text
    assert "HW-NAMED" in text


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("totp", "The 6-digit code your authenticator app shows"),
        ("hotp", "Press the token's button"),
        ("sms", "the code from the text message"),
    ],
)
def test_test_page_shows_only_the_hint_for_its_kind_of_token(actor_client, member, kind, hint):
    token = {"totp": totp_token, "hotp": add_hardware, "sms": add_sms}[kind](member)

    text = page(actor_client.get(f"/tokens/{token.pk}/test/"))

    hints = [
        "The 6-digit code your authenticator app shows",
        "Press the token's button",
        "the code from the text message",
    ]
    assert hint in text
    assert [h for h in hints if h in text] == [hint]
    assert "backup code" not in text.lower()


def test_malformed_test_code_gets_a_message(actor_client, member, hardware):
    response = actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": "12-34!"})

    assert response.status_code == 400
    assert "letters and digits only" in page(response)
    assert hotp_counter(hardware) == 1
