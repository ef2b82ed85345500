"""An admin sees an address the platform refused, allows it in one click, confirms on the prefilled
form with an owner and an expiry date, and finds it on the whitelist (issue 16)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Organisation
from dashboard.models import ErrorLog
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory, UserFactory
from tests.whitelist.helpers import add
from whitelist.models import DailySourceCount, WhitelistEntry

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_admin_allows_a_refused_address_with_an_owner_and_an_expiry(
    live_server, transactional_db, page: Page, console_messages, width, tmp_path
):
    page.set_viewport_size({"width": width, "height": 900})
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    UserFactory.create(organisation=organisation, email="max@acme.example", full_name="Max Member")
    add(organisation, owner, "203.0.113.0/24", "Payment servers, London")
    now = timezone.now()
    for hours, method in [(50, "Tokenize"), (3, "Detokenize"), (2, "Tokenize")]:
        ErrorLog.objects.create(
            organisation=organisation,
            at=now - dt.timedelta(hours=hours),
            method=method,
            code="IP_NOT_ALLOWED",
            message="The caller's address is not on the organisation's whitelist.",
            request_id=f"req_{hours}",
            source_ip="198.51.100.23",
        )
    log_in(page, live_server.url, owner)

    page.goto(live_server.url + "/whitelist/")
    refused = page.get_by_role("table", name="Source addresses refused in the last 7 days")
    row = refused.get_by_role("row").filter(has_text="198.51.100.23")
    expect(row).to_contain_text("Detokenize, Tokenize")
    expect(row.get_by_role("cell", name="3", exact=True)).to_be_visible()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=tmp_path / f"whitelist-refused-{width}.png", full_page=True)

    row.get_by_role("link", name="Allow 198.51.100.23").click()

    expect(page.get_by_role("heading", name="Add an address or range")).to_be_visible()
    expect(page.get_by_label("Address or range")).to_have_value("198.51.100.23/32")
    expect(page.get_by_label("Description")).to_have_value("Calls to Detokenize, Tokenize")
    page.get_by_label("Description").fill("New payment server, Frankfurt")
    page.get_by_label("Owner").select_option(label="Max Member (max@acme.example)")
    expires = timezone.localdate() + dt.timedelta(days=30)
    page.get_by_label("Expiry date").fill(expires.isoformat())
    assert WhitelistEntry.objects.filter(network="198.51.100.23/32").count() == 0  # nothing until confirmed
    page.get_by_role("button", name="Add to whitelist").click()

    expect(page.get_by_role("status").filter(has_text="198.51.100.23/32 is on the whitelist")).to_be_visible()
    entries = page.get_by_role("table", name="Whitelisted networks of Acme Payments Ltd")
    listed = entries.get_by_role("row").filter(has_text="198.51.100.23/32")
    expect(listed).to_contain_text("New payment server, Frankfurt")
    expect(listed).to_contain_text("Max Member")
    expect(listed).to_contain_text(f"{expires.day} {expires:%b %Y}")
    expect(refused.get_by_role("row").filter(has_text="198.51.100.23")).to_contain_text("Allowed by 198.51.100.23/32")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)

    # Before removing it, the page says how many calls came through it.
    DailySourceCount.objects.create(
        organisation=organisation, day=timezone.now().date(), address="198.51.100.23", calls=42
    )
    listed.get_by_role("link", name="Remove 198.51.100.23/32").click()
    expect(page.get_by_text("42 calls from this address in the last 30 days.")).to_be_visible()
    page.screenshot(path=tmp_path / f"whitelist-remove-{width}.png", full_page=True)
    assert [m for m in console_messages if m.startswith("pageerror:") or "Content Security Policy" in m] == []
