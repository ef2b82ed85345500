"""Disabling a token (after a warning) and enabling it again.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import pytest
from django.test import Client

from tests.tokens.helpers import (
    actions_since,
    audit_mark,
    fresh,
    is_logged_in,
    page,
    press,
    snapshot,
    start_login,
    submit_code,
    totp_token,
)
from tokens import services


def test_disabled_token_cannot_log_in_until_enabled(actor, actor_client, member, hardware):
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{hardware.pk}/disable/", follow=True)

    assert response.redirect_chain == [(f"/tokens/{hardware.pk}/", 302)]
    assert "The token is disabled: it cannot be used." in page(response)
    assert "DISABLED" in page(response)
    assert not fresh(hardware).enabled
    visitor = Client()
    start_login(visitor, member)
    refused = submit_code(visitor, press(1))
    assert refused.status_code == 400
    assert "This token is disabled." in page(refused)

    response = actor_client.post(f"/tokens/{hardware.pk}/enable/", follow=True)

    assert "The token is enabled." in page(response)
    assert fresh(hardware).enabled
    assert submit_code(visitor, press(1)).status_code == 302
    assert is_logged_in(visitor)
    assert actions_since(mark)[0] == ("token.disabled", actor.email)
    assert ("token.enabled", actor.email) in actions_since(mark)


def test_disable_asks_first_and_changes_nothing_until_confirmed(actor_client, member, hardware):
    detail = page(actor_client.get(f"/tokens/{hardware.pk}/"))
    assert "Disable…" in detail
    before = snapshot()

    response = actor_client.get(f"/tokens/{hardware.pk}/disable/")

    assert response.status_code == 200
    text = page(response)
    assert "Disable Hardware token?" in text
    assert "cannot be used to log in, or tested, until it is enabled again" in text
    # Another active token (the authenticator app the member logged in with) remains: no warning.
    assert "last active token" not in text
    assert "last usable second factor" not in text
    assert "Disable token" in text
    assert snapshot() == before


def test_disable_page_warns_when_the_last_active_token_would_go(actor_client, member):
    services.generate_backup_codes(user=member, acting_user=member)

    text = page(actor_client.get(f"/tokens/{totp_token(member).pk}/disable/"))

    assert f"This is the last active token of {member.full_name}." in text
    assert "with backup codes they can still log in" in text


def test_disable_page_warns_when_nothing_usable_would_be_left(actor, actor_client, member, hardware):
    services.set_enabled(token=hardware, enabled=False, acting_user=member)

    text = page(actor_client.get(f"/tokens/{totp_token(member).pk}/disable/"))

    whose = (
        "your last usable second factor" if actor == member else f"the last usable second factor of {member.full_name}"
    )
    assert f"This is {whose}." in text
    assert "cannot log in at all" in text
    assert fresh(totp_token(member)).enabled


@pytest.mark.parametrize("action", ["enable", "unlock"])
def test_state_changes_need_a_post(owner_client, member, hardware, action):
    before = snapshot()

    response = owner_client.get(f"/tokens/{hardware.pk}/{action}/")

    assert response.status_code == 405
    assert snapshot() == before
