"""A password alone never stands in for a second factor (issue 13, defect 2).

A user who has any factor to be asked for, backup codes included, is always asked for it; a
session that has not passed a second factor can never add one. A user who finished account set-up
and has lost every factor since cannot log in: an admin resets their factors, which removes their
password and emails a temporary one, and set-up starts again from it.
"""

import pytest
from django.core import mail
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.accounts.test_login import (
    BAD_LOGIN,
    authenticator_code,
    is_logged_in,
    reaches_code_step,
    submit_code,
    submit_password,
)
from tests.accounts.test_user_services import _temporary_password
from tests.conftest import log_in, page_text
from tests.factories import PASSWORD
from tokens import services as tokens
from tokens.models import Token, TokenKind

NO_FACTOR_LEFT = "Your account has no second factor left to log in with."


def delete_authenticator(user: User, acting_user: User) -> None:
    tokens.delete_token(token=user.tokens.get(kind=TokenKind.TOTP), acting_user=acting_user)


def test_backup_codes_alone_are_still_asked_for(client, member):
    codes = tokens.generate_backup_codes(user=member, acting_user=member)
    delete_authenticator(member, member)

    response = submit_password(client, member.email, PASSWORD)

    assert reaches_code_step(response)
    assert not is_logged_in(client)
    # The half-logged-in session can neither reach the portal nor enrol an authenticator.
    assert client.get("/tokens/add/totp/").url.startswith("/login/")
    assert client.get("/setup/authenticator/").url.startswith("/login/")
    assert not Token.objects.filter(user=member, kind=TokenKind.TOTP).exists()

    assert submit_code(client, codes[0]).url == "/"
    assert is_logged_in(client)


def test_member_whose_admin_deleted_their_last_token_is_asked_for_a_backup_code(client, owner, member):
    tokens.generate_backup_codes(user=member, acting_user=member)
    owner_client = log_in(Client(), owner)
    token = member.tokens.get(kind=TokenKind.TOTP)

    page = page_text(owner_client.get(f"/tokens/{token.pk}/delete/"))
    assert "This is the last active token of Max Member." in page
    assert "with backup codes they can still log in and add a new token" in page
    owner_client.post(f"/tokens/{token.pk}/delete/")

    assert reaches_code_step(submit_password(client, member.email, PASSWORD))
    assert not is_logged_in(client)


def test_user_with_no_factor_left_cannot_log_in_on_a_password(client, owner, member):
    delete_authenticator(member, owner)

    response = submit_password(client, member.email, PASSWORD)

    assert response.status_code == 200
    assert NO_FACTOR_LEFT in page_text(response)
    assert "reset your second factors" in page_text(response)
    assert not is_logged_in(client)
    assert client.get("/setup/authenticator/").url.startswith("/login/")
    assert not Token.objects.filter(user=member).exists()


def test_session_whose_factor_was_deleted_cannot_add_one(member_client, owner, member):
    assert member_client.get("/").status_code == 200
    delete_authenticator(member, owner)

    for url in ("/tokens/add/totp/", "/setup/authenticator/", "/"):
        response = member_client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/login/")
    assert not is_logged_in(member_client)


def test_delete_page_warns_when_nothing_would_be_left(owner_client, member):
    token = member.tokens.get(kind=TokenKind.TOTP)

    page = page_text(owner_client.get(f"/tokens/{token.pk}/delete/"))

    assert "This is the last second factor of Max Member." in page
    assert "cannot log in at all" in page
    assert "reset their second factors" in page


def test_delete_page_of_a_users_own_last_factor_speaks_to_them(member_client, member):
    token = member.tokens.get(kind=TokenKind.TOTP)

    page = page_text(member_client.get(f"/tokens/{token.pk}/delete/"))

    assert "This is your last second factor." in page
    assert "you cannot log in at all" in page


def test_admin_reset_restarts_set_up_from_a_new_temporary_password(
    owner_client, member, django_capture_on_commit_callbacks
):
    client = Client()
    confirm = page_text(owner_client.get(f"/users/{member.pk}/reset-factors/"))
    assert "Reset the second factors of Max Member?" in confirm
    assert "This cannot be undone." in confirm
    assert Token.objects.filter(user=member).exists()  # asking is not doing
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/users/{member.pk}/reset-factors/", follow=True)

    assert "second factors are removed" in page_text(response)
    assert not Token.objects.filter(user=member).exists()
    # The old password alone no longer leads anywhere.
    response = submit_password(client, member.email, PASSWORD)
    assert BAD_LOGIN in page_text(response)
    assert not is_logged_in(client)
    # The emailed temporary password starts the set-up again.
    (message,) = mail.outbox
    assert message.to == [member.email]
    assert "second factors on the API platform portal have been reset" in message.body
    response = submit_password(client, member.email, _temporary_password(message))
    assert is_logged_in(client)
    assert client.get("/").url == "/setup/password/"
    new_password = "a-brand-new-passphrase-42"
    response = client.post("/setup/password/", {"new_password1": new_password, "new_password2": new_password})
    assert response.url == "/setup/authenticator/"
    assert client.get("/setup/authenticator/").status_code == 200  # shows the new secret
    device = TOTPDevice.objects.get(user=member, confirmed=False)
    response = client.post("/setup/authenticator/", {"token": authenticator_code(device)})
    assert response.url == "/setup/phone/"


def test_admin_cannot_reset_their_own_factors(owner_client, owner):
    response = owner_client.post(f"/users/{owner.pk}/reset-factors/", follow=True)

    assert "You cannot reset your own second factors." in page_text(response)
    assert owner.tokens.exists()


@pytest.mark.parametrize("who", ["member", "outsider"])
def test_only_an_admin_of_the_organisation_resets_factors(request, who, member, owner):
    actor = request.getfixturevalue(who)
    target = owner if who == "member" else member

    response = log_in(Client(), actor).post(f"/users/{target.pk}/reset-factors/")

    assert response.status_code == (403 if who == "member" else 404)
    assert target.tokens.exists()
