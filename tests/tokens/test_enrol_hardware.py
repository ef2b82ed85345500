"""Enrolling a hardware token: serial, secret, digits, expiry, and the code it shows now.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.tokens.helpers import (
    RFC_KEY,
    add_hardware,
    add_url,
    code_matching_no_press,
    hardware_form,
    let_throttle_pass,
    page,
    press,
    snapshot,
    start_login,
    submit_code,
)
from tokens.models import Token, TokenKind


def test_enrolling_a_hardware_token(actor, actor_client, member):
    url = add_url(actor, member, "hotp")
    assert actor_client.get(url).status_code == 200

    response = actor_client.post(url, hardware_form(), follow=True)

    token = Token.objects.get(user=member, kind=TokenKind.HOTP)
    assert response.redirect_chain == [(f"/tokens/{token.pk}/", 302)]
    assert "Hardware token added." in page(response)
    assert token.serial == "HW-NEW-1" and token.description == "Desk"
    assert timezone.localtime(token.expires_at).date() == timezone.localdate() + timedelta(days=365)
    assert token.device.bin_key == RFC_KEY and token.device.counter == 1
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(0)).status_code == 400, "the enrolment code was accepted again"
    let_throttle_pass(member)
    assert submit_code(visitor, press(1)).status_code == 302


def test_hardware_token_secret_in_base32_works(actor, actor_client, member):
    url = add_url(actor, member, "hotp")

    response = actor_client.post(url, hardware_form(secret="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", expires_on=""))

    assert response.status_code == 302
    token = Token.objects.get(user=member, kind=TokenKind.HOTP)
    assert token.device.bin_key == RFC_KEY and token.expires_at is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"serial": ""}, "This field is required."),
        ({"serial": "HW 1"}, "Enter the serial number without spaces."),
        ({"serial": "HW-TAKEN"}, "A hardware token with this serial number is already registered."),
        ({"secret": ""}, "This field is required."),
        ({"secret": "not a secret!"}, "The secret must be hexadecimal or base32."),
        ({"secret": "abcdef"}, "The secret must be between 10 and 40 bytes"),
        ({"digits": "7"}, "Select a valid choice."),
        ({"expires_on": "2030-02-31"}, "Enter a valid date."),
        ({"expires_on": "2020-01-01"}, "The expiry date must be in the future."),
        ({"code": ""}, "This field is required."),
        ({"code": "12ab56"}, "The code is made of digits only."),
        ({"code": "wrong"}, "That code does not match this secret."),
        ({"digits": "8"}, "That code does not match this secret."),
    ],
    ids=[
        "serial-missing",
        "serial-with-space",
        "serial-taken-in-organisation",
        "secret-missing",
        "secret-not-hex-or-base32",
        "secret-too-short",
        "digits-not-6-or-8",
        "expiry-not-a-date",
        "expiry-in-the-past",
        "code-missing",
        "code-not-digits",
        "code-wrong",
        "code-of-other-length",
    ],
)
def test_bad_hardware_token_input_gets_a_message_and_creates_nothing(
    actor, actor_client, owner, member, changes, message
):
    add_hardware(owner, serial="HW-TAKEN")  # another user of the same organisation has this one
    if changes.get("code") == "wrong":
        changes = {"code": code_matching_no_press()}
    before = snapshot()

    response = actor_client.post(add_url(actor, member, "hotp"), hardware_form(**changes))

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before


def test_serial_of_another_organisation_may_be_registered(actor, actor_client, member, outsider):
    add_hardware(outsider, serial="HW-NEW-1")

    response = actor_client.post(add_url(actor, member, "hotp"), hardware_form())

    assert response.status_code == 302
    assert Token.objects.filter(user=member, serial="HW-NEW-1").exists()
