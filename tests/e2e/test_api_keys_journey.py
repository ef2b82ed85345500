"""An org admin creates an API key in a real browser, copies its secret (shown once), rolls it with an
overlap and revokes it; after each step the platform's read of the keys, run through the reference
check (apikeys/check.py), says which secrets the gateway accepts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import Organisation
from apikeys import check
from platform_api import services as platform_keys
from tests.apikeys.helpers import whitelist
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory


def gateway_says(page: Page, base_url: str, public_id: str, platform_key: str, secret: str, **call) -> str:
    """The gateway's answer for a call with ``secret``, from the keys and whitelist documents it polls."""
    headers = {"Authorization": f"Bearer {platform_key}"}
    keys = page.request.get(f"{base_url}/api/platform/v1/keys/{public_id}", headers=headers).json()
    listed = page.request.get(f"{base_url}/api/platform/v1/whitelist/{public_id}", headers=headers).json()
    decision = check.check_key(
        keys,
        presented=secret,
        method=call.get("method", "Detokenize"),
        source_ip=call.get("source_ip", "203.0.113.10"),
        now=call.get("now", timezone.now()),
        whitelist_document=listed,
    )
    return decision.reason


def prefix(secret: str) -> str:
    found = check.prefix_of(secret)
    assert found is not None
    return found


def copy_secret(page: Page) -> str:
    shown = page.get_by_test_id("api-key-secret").inner_text().strip()
    page.get_by_role("button", name="Copy secret").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == shown
    return shown


@pytest.mark.browser
def test_create_copy_roll_with_an_overlap_change_and_revoke_a_key(
    live_server, transactional_db, browser: Browser, console_messages
):
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    whitelist(organisation, owner, "203.0.113.0/24")
    _, platform_key = platform_keys.issue_key(name="gateway-eu", acting_user=None)
    context = browser.new_context(viewport={"width": 390, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda message: console_messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console_messages.append(f"pageerror: {error}"))
    says = lambda secret, **call: gateway_says(  # noqa: E731
        page, live_server.url, organisation.public_id, platform_key, secret, **call
    )
    log_in(page, live_server.url, owner)

    # Create: a detokenize-only key for two back-office servers.
    navigation = page.get_by_role("navigation", name="Main")
    navigation.get_by_text("Menu", exact=True).click()  # a phone's width: the sections are behind Menu
    navigation.get_by_role("link", name="API keys").click()
    expect(page.get_by_text("No API keys yet")).to_be_visible()
    page.get_by_role("link", name="Create a key").click()
    page.get_by_label("Name").fill("Back office")
    page.get_by_label("Detokenize").check()
    page.get_by_label("Source addresses").fill("203.0.113.10\n203.0.113.24")
    page.get_by_role("button", name="Create key").click()

    # The secret, once, with a copy button.
    expect(page.get_by_text("Copy the secret now: this page shows it once.")).to_be_visible()
    first = copy_secret(page)
    assert first.startswith("ak_test_")
    page.reload()
    expect(page.get_by_text("This secret was already shown, and is never shown again.")).to_be_visible()
    expect(page.get_by_test_id("api-key-secret")).to_have_count(0)
    page.get_by_role("link", name="Back to API keys").click()
    row = page.get_by_role("row").filter(has_text="Back office")
    expect(row).to_contain_text(prefix(first) + "…")
    expect(row).to_contain_text("Detokenize")
    assert says(first) == check.OK
    assert says(first, method="Tokenize") == check.METHOD_NOT_ALLOWED
    assert says(first, source_ip="203.0.113.11") == check.ADDRESS_NOT_ALLOWED

    # Roll with a 24-hour overlap: both secrets work, and the old one stops by itself.
    row.get_by_label("Actions for Back office").click()  # roll and revoke: the row's menu
    page.get_by_role("link", name="Roll Back office").click()
    page.get_by_label("24 hours").check()
    page.get_by_role("button", name="Roll key").click()
    expect(page.get_by_role("heading", name="New secret for “Back office”")).to_be_visible()
    second = copy_secret(page)
    assert second != first
    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("row").filter(has_text="Back office")
    expect(row).to_contain_text(prefix(second) + "…")
    expect(row).to_contain_text(prefix(first) + "…")
    expect(row).to_contain_text("Rolled: old secret ends")
    assert says(first) == says(second) == check.OK
    tomorrow = timezone.now() + timedelta(hours=24, minutes=1)
    assert says(first, now=tomorrow) == check.EXPIRED
    assert says(second, now=tomorrow) == check.OK

    # Change: the key also tokenizes and a third server joins, with the same secret.
    row.get_by_label("Actions for Back office").click()
    page.get_by_role("link", name="Change Back office").click()
    expect(page.get_by_label("Source addresses")).to_have_value("203.0.113.10/32\n203.0.113.24/32")
    page.get_by_label("Tokenize", exact=True).check()
    page.get_by_label("Source addresses").fill("203.0.113.10\n203.0.113.24\n203.0.113.11")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("“Back office” is changed (functions, source addresses)")).to_be_visible()
    assert says(second, method="Tokenize", source_ip="203.0.113.11") == check.OK
    row = page.get_by_role("row").filter(has_text="Back office")

    # Revoke: at once, the overlap included.
    row.get_by_label("Actions for Back office").click()
    page.get_by_role("link", name="Revoke Back office").click()
    page.get_by_role("button", name="Revoke key").click()
    expect(page.get_by_text("“Back office” is revoked")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Back office")).to_contain_text("REVOKED")
    expect(page.get_by_role("link", name="Roll Back office")).to_have_count(0)
    assert says(first) == says(second) == check.UNKNOWN_KEY

    assert not [m for m in console_messages if m.startswith(("error", "pageerror"))], console_messages
    context.close()
