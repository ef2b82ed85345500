"""The full passkey ceremony in Chromium, with the browser's own virtual authenticator (the DevTools
protocol's WebAuthn domain): a user adds a passkey, logs out, and logs in with it instead of a code."""

import pytest
from playwright.sync_api import Page, expect

from audit.models import AuditEvent
from tests.e2e.journeys import enter_password, log_in
from tests.factories import OrganisationFactory, UserFactory
from tokens.models import PasskeyDevice, Token, TokenKind


def log_out(page: Page) -> None:
    page.get_by_role("banner").get_by_text("Max Member", exact=True).click()  # the user menu
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


@pytest.mark.browser
def test_a_user_adds_a_passkey_and_logs_in_with_it(
    live_server, transactional_db, page: Page, console_messages, settings
):
    settings.PORTAL_BASE_URL = live_server.url  # the relying party: http://localhost:<port>
    member = UserFactory.create(
        organisation=OrganisationFactory(name="Acme Payments Ltd"), email="max@acme.example", full_name="Max Member"
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )["authenticatorId"]
    log_in(page, live_server.url, member)

    page.goto(live_server.url + "/tokens/add/passkey/")
    page.get_by_label("Name").fill("Work laptop")
    page.get_by_role("button", name="Create passkey").click()

    expect(page.get_by_text("Passkey added.")).to_be_visible()
    token = Token.objects.get(user=member, kind=TokenKind.PASSKEY)
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1
    assert token.description == "Work laptop" and token.device.transports == ["internal"]
    page.goto(live_server.url + "/tokens/")
    row = page.get_by_role("row").filter(has_text="Work laptop")
    expect(row).to_contain_text("Passkey")
    expect(row).to_contain_text("Never")

    log_out(page)
    enter_password(page, live_server.url, member)
    page.get_by_role("button", name="Use a passkey").click()

    expect(page).to_have_url(live_server.url + "/")
    device = PasskeyDevice.objects.get()
    assert device.last_used_at is not None
    assert AuditEvent.objects.filter(action="login.second_factor", target_label=f"Passkey #{token.pk}").exists()
    page.goto(live_server.url + "/tokens/")
    expect(page.get_by_role("row").filter(has_text="Work laptop")).not_to_contain_text("Never")

    # Disabled, the passkey is no longer offered: the code is then the way in.
    page.goto(f"{live_server.url}/tokens/{token.pk}/disable/")
    page.get_by_role("button", name="Disable token").click()
    log_out(page)
    enter_password(page, live_server.url, member)
    expect(page.get_by_role("button", name="Use a passkey")).to_have_count(0)
    assert not [m for m in console_messages if m.startswith(("error", "pageerror"))], console_messages
