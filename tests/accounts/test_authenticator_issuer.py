"""Authenticator entries tell test and production apart (issue 19): the issuer a test deployment
puts in its otpauth URI (the QR code) says "(test)", production's does not."""

import os
import runpy
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.conf import settings
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.qr import authenticator_setup
from tests.portal.test_deploy_check import PRODUCTION_ENV, secret_key


def issuer_of(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """OTP_TOTP_ISSUER as portal/settings.py computes it from this environment (read afresh)."""
    for name in list(os.environ):
        if name.startswith(("DJANGO_", "PORTAL_", "OTP_", "SENTRY_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    computed = runpy.run_path(str(Path(settings.BASE_DIR) / "portal" / "settings.py"))
    return str(computed["OTP_TOTP_ISSUER"])


@pytest.mark.parametrize(
    ("env", "issuer"),
    [
        ({}, "API Platform Portal (test)"),  # make run: the test environment by default
        ({"PORTAL_ENVIRONMENT": "test", "OTP_TOTP_ISSUER": "Acme Vault"}, "Acme Vault (test)"),
        ({"PORTAL_ENVIRONMENT": "test", "OTP_TOTP_ISSUER": "Acme Vault (test)"}, "Acme Vault (test)"),
        ({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key()}, "API Platform Portal"),
        ({**PRODUCTION_ENV, "DJANGO_SECRET_KEY": secret_key(), "OTP_TOTP_ISSUER": "Acme Vault"}, "Acme Vault"),
    ],
)
def test_the_issuer_names_the_environment(env, issuer, monkeypatch):
    assert issuer_of(env, monkeypatch) == issuer


def test_the_qr_code_of_a_test_deployment_says_test(member):
    device = TOTPDevice.objects.create(user=member, name="pending", confirmed=False)

    url = urlsplit(str(authenticator_setup(user=member, device=device)["otpauth_url"]))

    assert url.scheme == "otpauth" and url.netloc == "totp"
    # What the app shows: the label ("issuer: account") and the issuer parameter.
    assert unquote(url.path) == "/API Platform Portal (test): member@acme.example"
    assert parse_qs(url.query)["issuer"] == ["API Platform Portal (test)"]
