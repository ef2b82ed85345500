"""Enrolling an authenticator app: the code from the QR secret confirms it.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture (tests/tokens/conftest.py): once acted on by the member themselves (``holder``) and
once by the organisation's admin (``admin``, the ``owner`` fixture).
"""

import re
from base64 import b32decode

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.tokens.helpers import (
    add_url,
    page,
    wrong_authenticator_code,
)
from tokens.models import Token, TokenKind


def _shown_secret(response) -> bytes:
    found = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page(response))
    assert found is not None, page(response)
    return b32decode(found.group(1).replace(" ", ""))


def test_enrolling_an_authenticator_app_with_the_code_from_the_qr_secret(actor, actor_client, member):
    url = add_url(actor, member, "totp")
    response = actor_client.get(url)
    assert response.status_code == 200
    assert 'aria-label="QR code for the authenticator app"' in page(response)
    key = _shown_secret(response)
    assert _shown_secret(actor_client.get(url)) == key, "the secret changed before it was confirmed"

    response = actor_client.post(url, {"code": f"{TOTP(key).token():06d}", "description": "Work phone"}, follow=True)

    token = Token.objects.filter(user=member, kind=TokenKind.TOTP).latest("pk")
    assert response.redirect_chain == [(f"/tokens/{token.pk}/", 302)]
    assert "Authenticator app added." in page(response)
    assert token.description == "Work phone" and token.device.bin_key == key and token.device.confirmed
    assert Token.objects.filter(user=member, kind=TokenKind.TOTP).count() == 2


def test_enrolling_an_authenticator_app_with_a_wrong_code_creates_nothing(actor, actor_client, member):
    url = add_url(actor, member, "totp")
    key = _shown_secret(actor_client.get(url))
    device = TOTPDevice.objects.get(user=member, confirmed=False)
    assert device.bin_key == key
    before = Token.objects.count()

    response = actor_client.post(url, {"code": wrong_authenticator_code(device), "description": ""})

    assert response.status_code == 400
    assert "That code is not right." in page(response)
    assert Token.objects.count() == before
    assert not TOTPDevice.objects.filter(user=member, confirmed=False).exclude(pk=device.pk).exists()
