"""An admin replaces two whitelisted addresses with the range that holds them, in one change (issue 19)."""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Organisation
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory
from tests.whitelist.helpers import add, networks

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_admin_replaces_addresses_with_the_range_that_covers_them(
    live_server, transactional_db, page: Page, console_messages, width, tmp_path
):
    page.set_viewport_size({"width": width, "height": 900})
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    add(organisation, owner, "203.0.113.7", "Payment server A")
    add(organisation, owner, "203.0.113.9", "Payment server B")
    log_in(page, live_server.url, owner)

    page.goto(live_server.url + "/whitelist/add/")
    page.get_by_label("Address or range").fill("203.0.113.0/24")
    page.get_by_label("Description").fill("Payment servers, Frankfurt")
    page.get_by_role("button", name="Add to whitelist").click()

    expect(page.get_by_text("203.0.113.0/24 would cover the existing 2 entries")).to_be_visible()
    replace = page.get_by_label("Replace the 2 entries it covers")
    expect(replace).not_to_be_checked()
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    page.screenshot(path=tmp_path / f"whitelist-replace-{width}.png", full_page=True)
    assert networks(organisation) == ["203.0.113.7/32", "203.0.113.9/32"]

    replace.check()
    page.get_by_role("button", name="Add to whitelist").click()

    expect(
        page.get_by_role("status").filter(has_text="203.0.113.0/24 is on the whitelist in place of the 2 entries")
    ).to_be_visible()
    expect(page.get_by_role("cell", name="203.0.113.0/24", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="203.0.113.7/32", exact=True)).to_have_count(0)
    assert networks(organisation) == ["203.0.113.0/24"]
    assert [m for m in console_messages if m.startswith("pageerror:") or "Content Security Policy" in m] == []
