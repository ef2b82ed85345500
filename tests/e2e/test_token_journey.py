"""An org admin manages a member's hardware token in a real browser (SPEC §3), while the member logs in."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django_otp.oath import hotp
from playwright.sync_api import Browser, Page, expect

from tests.e2e.journeys import authenticator_code, enter_code, enter_password
from tests.factories import AdminFactory, OrganisationFactory, UserFactory
from tokens.models import Token, TokenKind

# RFC 4226 Appendix D: the test token's secret.
KEY = b"12345678901234567890"
SERIAL = "HW-E2E-0001"


def press(counter: int) -> str:
    """The code the hardware token shows at ``counter``."""
    return f"{hotp(KEY, counter):06d}"


@pytest.mark.browser
def test_admin_enrols_tests_disables_resets_and_deletes_a_members_hardware_token(
    live_server, transactional_db, browser: Browser, page: Page, console_messages
):
    organisation = OrganisationFactory(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    member = UserFactory.create(organisation=organisation, email="max@acme.example", full_name="Max Member")
    expiry = timezone.localdate() + timedelta(days=365)

    # The admin logs in through the real pages: password, then the authenticator's code.
    enter_password(page, live_server.url, owner)
    enter_code(page, authenticator_code(owner))
    expect(page.get_by_role("heading", name="Welcome, Olivia Owner")).to_be_visible()

    # Users → the member → Second-factor tokens → Hardware token
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    page.get_by_role("link", name="Max Member").click()
    page.get_by_role("link", name="Second-factor tokens").click()
    expect(page.get_by_role("heading", name="Tokens of Max Member")).to_be_visible()
    page.get_by_role("link", name="Hardware token", exact=True).click()

    expect(page.get_by_role("heading", name="Add a hardware token for Max Member")).to_be_visible()
    page.get_by_label("Serial number").fill(SERIAL)
    page.get_by_label("Secret").fill(KEY.hex())
    page.get_by_label("Expiry date").fill(f"{expiry:%Y-%m-%d}")
    page.get_by_label("Code now shown by the token").fill(press(0))
    page.get_by_role("button", name="Add token").click()

    expect(page.get_by_role("status").filter(has_text="Hardware token added.")).to_be_visible()
    expect(page.get_by_role("heading", name="Hardware token ACTIVE")).to_be_visible()
    expect(page.get_by_text(SERIAL, exact=True)).to_be_visible()
    expect(page.get_by_text(f"{expiry:%-d %b %Y}", exact=True)).to_be_visible()
    token = Token.objects.get(user=member, kind=TokenKind.HOTP)
    assert token.serial == SERIAL
    assert timezone.localtime(token.expires_at).date() == expiry

    # Test: the next code passes, and nobody is logged in by it.
    page.get_by_role("link", name="Test", exact=True).click()
    page.get_by_label("Code", exact=True).fill(press(1))
    page.get_by_role("button", name="Check code").click()
    expect(page.get_by_role("status").filter(has_text="Success")).to_be_visible()

    # Disable it, after the confirmation page.
    page.get_by_role("link", name="← Token").click()
    page.get_by_role("link", name="Disable…").click()
    expect(page.get_by_role("heading", name="Disable Hardware token?")).to_be_visible()
    page.get_by_role("button", name="Disable token").click()
    expect(page.get_by_role("heading", name="Hardware token DISABLED")).to_be_visible()

    # Meanwhile, in another browser, the member tries the token: refused, and told why.
    member_context = browser.new_context(viewport={"width": 1280, "height": 900})
    member_context.set_default_timeout(10_000)
    member_page = member_context.new_page()
    member_page.on("pageerror", lambda error: console_messages.append(f"pageerror: {error}"))
    enter_password(member_page, live_server.url, member)
    enter_code(member_page, press(2))
    expect(member_page.get_by_text(re.compile(r"This token is disabled"))).to_be_visible()
    expect(member_page.get_by_role("heading", name="Enter your code")).to_be_visible()

    # The admin enables it again, then resets it with two consecutive codes far ahead.
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_role("heading", name="Hardware token ACTIVE")).to_be_visible()
    page.get_by_role("link", name="Reset (resynchronise)").click()
    page.get_by_label("First code").fill(press(400))
    page.get_by_label("Next code").fill(press(401))
    page.get_by_role("button", name="Resynchronise").click()
    expect(page.get_by_role("status").filter(has_text="The token is back in step.")).to_be_visible()

    # The member logs in with the token's next code and lands on the home page.
    enter_password(member_page, live_server.url, member)
    enter_code(member_page, press(402))
    expect(member_page.get_by_role("heading", name="Welcome, Max Member")).to_be_visible()
    member_context.close()

    # The admin deletes the token after the confirmation page; it is gone from the list.
    page.get_by_role("link", name="Delete…").click()
    expect(page.get_by_role("heading", name="Delete Hardware token?")).to_be_visible()
    page.get_by_role("button", name="Delete token").click()
    expect(page.get_by_role("status").filter(has_text="The token is deleted.")).to_be_visible()
    expect(page.get_by_role("heading", name="Tokens of Max Member")).to_be_visible()
    expect(page.get_by_role("cell", name=SERIAL)).to_have_count(0)
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(2)  # the header and the authenticator
    assert not Token.objects.filter(user=member, kind=TokenKind.HOTP).exists()

    csp_reports = [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)]
    assert csp_reports == []
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
