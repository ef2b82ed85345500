"""Enrolling a text-message or email token: a code is sent to the destination, which counts only
once that code comes back.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import re

import pytest
from django_otp.plugins.otp_email.models import EmailDevice

from tests.tokens.helpers import (
    OLD_NUMBER,
    add_url,
    page,
    snapshot,
)
from tokens.models import SmsDevice, Token, TokenKind


def test_enrolling_an_sms_number_with_the_texted_code(
    actor, actor_client, member, capsys, django_capture_on_commit_callbacks
):
    url = add_url(actor, member, "sms")
    assert actor_client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(url, {"number": "07400 123456", "description": "Work mobile"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "We sent a code to <strong>+44 7400 123456</strong>" in page(response)
    texted = re.search(r"\[SMS to \+447400123456\] .*security code is (\d+)", capsys.readouterr().out)
    assert texted is not None
    assert not Token.objects.filter(user=member, kind=TokenKind.SMS).exists()
    pending = SmsDevice.objects.get(user=member, confirmed=False)
    assert pending.token == texted.group(1)

    response = actor_client.post(url, {"code": texted.group(1)}, follow=True)

    token = Token.objects.get(user=member, kind=TokenKind.SMS)
    assert response.redirect_chain == [(f"/tokens/{token.pk}/", 302)]
    assert "Text message (SMS) added." in page(response)
    assert token.description == "Work mobile" and str(token.device.number) == OLD_NUMBER


def test_enrolling_an_email_address_with_the_emailed_code(
    actor, actor_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    url = add_url(actor, member, "email")

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(url, {"email": "Max.Codes@acme.example", "description": ""})
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["max.codes@acme.example"]]
    code = re.search(r"security code is (\d+)", mailoutbox[0].body)
    assert code is not None

    response = actor_client.post(url, {"code": code.group(1)})

    token = Token.objects.get(user=member, kind=TokenKind.EMAIL)
    assert response.status_code == 302 and response.url == f"/tokens/{token.pk}/"
    assert token.device.email == "max.codes@acme.example"


@pytest.mark.parametrize("kind", ["sms", "email"])
def test_wrong_confirmation_code_creates_no_token(actor, actor_client, member, kind):
    url = add_url(actor, member, kind)
    actor_client.post(url, {"number": OLD_NUMBER, "email": "max.codes@acme.example", "description": ""})
    pending = (SmsDevice if kind == "sms" else EmailDevice).objects.get(user=member, confirmed=False)
    wrong = next(c for c in ("000000", "111111", "222222") if c != pending.token)

    response = actor_client.post(url, {"code": wrong})

    assert response.status_code == 400
    assert "That code is not right, or it has expired." in page(response)
    assert not Token.objects.filter(user=member, kind=kind).exists()


@pytest.mark.parametrize("kind", ["sms", "email"])
def test_code_with_nothing_sent_gets_a_message(actor, actor_client, member, kind):
    before = snapshot()

    response = actor_client.post(add_url(actor, member, kind), {"code": "123456"})

    assert response.status_code == 400
    what = "number" if kind == "sms" else "address"
    assert f"No new {what} is waiting to be confirmed" in page(response)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("kind", "form", "message"),
    [
        ("sms", {"number": "+448001234567"}, "toll-free"),
        ("sms", {"number": "12"}, "This phone number is not valid"),
        ("sms", {"number": "not a number"}, "This is not a phone number."),
        ("email", {"email": "max@"}, "Enter a valid email address."),
        ("email", {"email": ""}, "This field is required."),
    ],
    ids=["sms-toll-free", "sms-invalid", "sms-not-a-number", "email-invalid", "email-missing"],
)
def test_bad_destination_gets_a_message_and_sends_nothing(
    actor, actor_client, member, mailoutbox, capsys, django_capture_on_commit_callbacks, kind, form, message
):
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(add_url(actor, member, kind), {**form, "description": ""})

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before
    assert mailoutbox == [] and "[SMS to" not in capsys.readouterr().out
