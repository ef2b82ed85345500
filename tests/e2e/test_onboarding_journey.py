"""A new organisation admin's first day, in a real browser (SPEC §2 onboarding, §8 CSP)."""

import base64
import re

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from accounts.models import Role, User
from accounts.services import add_user
from tests.factories import OrganisationFactory
from tokens.models import Token, TokenKind

NEW_PASSWORD = "lantern-orchard-velvet-42"


def totp_code(key: bytes, t: int) -> str:
    """The authenticator app's code for time step ``t``."""
    totp = TOTP(key)
    totp.time = t * totp.step
    return f"{totp.token():06d}"


def current_time_step(key: bytes) -> int:
    return int(TOTP(key).t())


def log_in_with_password(page: Page, base_url: str, email: str, password: str) -> None:
    page.goto(base_url + "/login/")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Continue").click()


@pytest.mark.browser
def test_new_admin_sets_up_account_then_logs_in_with_password_and_authenticator(
    live_server, transactional_db, page, console_messages, mailoutbox, django_capture_on_commit_callbacks
):
    organisation = OrganisationFactory(name="Acme Payments Ltd")
    with django_capture_on_commit_callbacks(execute=True):
        owner = add_user(
            organisation=organisation,
            email="olivia@acme.example",
            full_name="Olivia Owner",
            role=Role.ADMIN,
            acting_user=None,
        )
    assert [m.to for m in mailoutbox] == [["olivia@acme.example"]]
    found = re.search(r"Temporary password: (\S+)", mailoutbox[0].body)
    assert found, mailoutbox[0].body
    temporary_password = found.group(1)

    # (1) email + temporary password
    log_in_with_password(page, live_server.url, owner.email, temporary_password)

    # (2) forced password change
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save password").click()

    # (3) QR code and secret for the authenticator app, (4) confirm with a generated code
    expect(page.get_by_role("heading", name="Set up your authenticator app")).to_be_visible()
    expect(page.get_by_role("img", name="QR code for your authenticator app").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text().replace(" ", "")
    key = base64.b32decode(secret)
    enrolment_step = current_time_step(key)
    page.get_by_label("Code", exact=True).fill(totp_code(key, enrolment_step))
    page.get_by_role("button", name="Confirm", exact=True).click()

    # (5) the fallback number is optional
    expect(page.get_by_role("heading", name="Add a fallback mobile number")).to_be_visible()
    page.get_by_role("button", name="Remind me later").click()

    expect(page.get_by_role("heading", name="Welcome, Olivia Owner")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Add a fallback mobile number")

    owner = User.objects.get(pk=owner.pk)
    assert owner.onboarded_at is not None
    assert owner.check_password(NEW_PASSWORD)
    (device,) = TOTPDevice.objects.filter(user=owner, confirmed=True)
    assert [(t.kind, t.device) for t in Token.objects.filter(user=owner)] == [(TokenKind.TOTP, device)]

    # Log out through the user menu.
    page.get_by_text("Olivia Owner", exact=True).click()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    # Log in again: the new password, then a code from the app on the next page.
    log_in_with_password(page, live_server.url, owner.email, NEW_PASSWORD)
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    token_field = page.get_by_label("Code", exact=True)
    expect(token_field).to_be_visible()
    # The enrolment code cannot be used twice. If the clock is still in the enrolment step, the
    # next step's code is accepted: the device tolerates one step of drift.
    token_field.fill(totp_code(key, max(current_time_step(key), enrolment_step + 1)))
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Welcome, Olivia Owner")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.screenshot(path="/tmp/e2e-home.png", full_page=True)

    csp_reports = [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)]
    assert csp_reports == []
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
