"""Resetting (resynchronising) a hardware token from its page.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import pytest
from django.test import Client
from django_otp.plugins.otp_hotp.models import HOTPDevice

from tests.tokens.helpers import (
    actions_since,
    audit_mark,
    hotp_counter,
    page,
    press,
    snapshot,
    start_login,
    submit_code,
    totp_token,
)


def test_reset_with_two_consecutive_codes_brings_the_token_back_in_step(actor, actor_client, member, hardware):
    mark = audit_mark()

    response = actor_client.post(
        f"/tokens/{hardware.pk}/reset/", {"first_code": press(500), "second_code": press(501)}, follow=True
    )

    assert response.redirect_chain == [(f"/tokens/{hardware.pk}/", 302)]
    assert "The token is back in step." in page(response)
    assert hotp_counter(hardware) == 502
    assert actions_since(mark) == [("token.resync", actor.email)]
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(502)).status_code == 302


@pytest.mark.parametrize(
    ("first", "second"),
    [(500, 502), (501, 500), (500, 500), (1500, 1501)],
    ids=["gap", "reversed", "same-code", "beyond-window"],
)
def test_reset_with_codes_that_do_not_follow_each_other_changes_nothing(
    actor, actor_client, member, hardware, first, second
):
    before = snapshot()
    mark = audit_mark()

    response = actor_client.post(
        f"/tokens/{hardware.pk}/reset/", {"first_code": press(first), "second_code": press(second)}
    )

    assert response.status_code == 400
    assert "Those two codes do not follow each other" in page(response)
    assert "Nothing was changed." in page(response)
    # The counter stays; the failure counts like any wrong code (issue 13: every path counts).
    device = HOTPDevice.objects.get(pk=hardware.device_id)
    assert device.throttling_failure_count == 1
    HOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    assert snapshot() == before
    assert actions_since(mark) == [("token.resync_failed", actor.email)]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"first_code": "abc", "second_code": "123456"}, "The code is made of digits only."),
        ({"first_code": "123456", "second_code": ""}, "This field is required."),
    ],
    ids=["letters", "missing"],
)
def test_reset_with_malformed_codes_gets_a_message(actor_client, member, hardware, form, message):
    before = snapshot()

    response = actor_client.post(f"/tokens/{hardware.pk}/reset/", form)

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before


def test_reset_page_exists_only_for_hardware_tokens(actor_client, member):
    token = totp_token(member)

    assert actor_client.get(f"/tokens/{token.pk}/reset/").status_code == 404
    assert actor_client.post(f"/tokens/{token.pk}/reset/", {"first_code": "1", "second_code": "2"}).status_code == 404
