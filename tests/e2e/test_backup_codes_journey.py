"""A user makes backup codes in a real browser: shown once, copied, downloaded; a reload makes none."""

import re
from pathlib import Path

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from playwright.sync_api import Browser, expect

from tests.e2e.journeys import log_in
from tests.factories import OrganisationFactory, UserFactory


@pytest.mark.browser
def test_backup_codes_are_shown_once_copied_downloaded_and_a_reload_makes_none(
    live_server, transactional_db, browser: Browser, console_messages
):
    member = UserFactory.create(
        organisation=OrganisationFactory(name="Acme Payments Ltd"), email="max@acme.example", full_name="Max Member"
    )
    context = browser.new_context(viewport={"width": 390, "height": 900}, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", lambda message: console_messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console_messages.append(f"pageerror: {error}"))
    log_in(page, live_server.url, member)

    page.goto(live_server.url + "/tokens/add/backup/")
    page.get_by_role("button", name="Generate codes").click()
    expect(page).to_have_url(live_server.url + "/tokens/backup-codes/")
    codes = [c.strip() for c in page.get_by_test_id("backup-codes").locator("li").all_inner_texts()]
    assert len(codes) == 10
    digests = sorted(StaticToken.objects.filter(device__user=member).values_list("token", flat=True))

    # Copy: the script (CSP 'self', no inline code) shows the button and fills the clipboard.
    page.get_by_role("button", name="Copy codes").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").split("\n") == codes
    expect(page.get_by_role("button", name="Print")).to_be_visible()

    # Download: a .txt file with the same codes.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download .txt").click()
    assert download.value.suggested_filename == "backup-codes.txt"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert re.findall(r"\b[0-9a-f]{8}\b", text) == codes

    # Reload: no codes on screen, and no new ones made behind the user's back.
    page.reload()
    expect(page.get_by_text("These backup codes were already shown")).to_be_visible()
    expect(page.get_by_test_id("backup-codes")).to_have_count(0)
    assert sorted(StaticToken.objects.filter(device__user=member).values_list("token", flat=True)) == digests
    assert not [m for m in console_messages if m.startswith(("error", "pageerror"))], console_messages
    context.close()
