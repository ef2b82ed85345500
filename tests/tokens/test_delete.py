"""Deleting a token, after a warning when it is the last one.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

from django.test import Client
from django_otp.plugins.otp_hotp.models import HOTPDevice

from tests.tokens.helpers import (
    actions_since,
    audit_mark,
    list_url,
    page,
    press,
    start_login,
    submit_code,
    totp_token,
)
from tokens import services
from tokens.models import Token


def test_delete_page_warns_when_the_last_active_token_would_go(actor, actor_client, member):
    token = totp_token(member)

    response = actor_client.get(f"/tokens/{token.pk}/delete/")

    assert response.status_code == 200
    # Nothing at all would be left: the strongest warning (tests/accounts/test_factor_downgrade.py).
    whose = "your last second factor" if actor == member else f"the last second factor of {member.full_name}"
    assert f"This is {whose}." in page(response)
    assert "cannot log in at all" in page(response)
    assert Token.objects.filter(pk=token.pk).exists()


def test_delete_page_warns_when_the_other_tokens_are_disabled_or_backup_codes(actor_client, member, hardware):
    services.set_enabled(token=hardware, enabled=False, acting_user=member)
    services.generate_backup_codes(user=member, acting_user=member)

    text = page(actor_client.get(f"/tokens/{totp_token(member).pk}/delete/"))

    assert "This is the last active token" in text


def test_delete_page_does_not_warn_when_another_active_token_remains(actor_client, member, hardware):
    response = actor_client.get(f"/tokens/{hardware.pk}/delete/")

    assert response.status_code == 200
    assert "Delete Hardware token?" in page(response)
    assert "last active token" not in page(response)


def test_deleting_removes_the_token_and_its_device(actor, actor_client, member, hardware):
    device_id = hardware.device_id
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{hardware.pk}/delete/", follow=True)

    assert response.redirect_chain == [(list_url(actor, member), 302)]
    assert "The token is deleted." in page(response)
    assert "HW-0001" not in page(response)
    assert not Token.objects.filter(pk=hardware.pk).exists()
    assert not HOTPDevice.objects.filter(pk=device_id).exists()
    assert actions_since(mark) == [("token.deleted", actor.email)]
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(1)).status_code == 400
