"""An org admin reads the audit trail in a browser (issue 19): actions in words, whose account or
token each touched, one time format, and the action filter offers the words too."""

import re

import pytest
from playwright.sync_api import Page, expect

from audit.services import record
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory, UserFactory

TIME = re.compile(r"^\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}$")  # the portal's one date-time format


def rows(page: Page) -> list[list[str]]:
    return [[cell.strip() for cell in row.locator("td").all_inner_texts()] for row in page.locator("tbody tr").all()]


@pytest.mark.browser
def test_an_admin_reads_who_did_what_to_whose_token(live_server, transactional_db, page: Page):
    organisation = OrganisationFactory(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="owner@acme.example", full_name="Olivia Owner")
    member = UserFactory.create(organisation=organisation, email="member@acme.example", full_name="Max Member")
    record(action="token.disabled", actor=owner, subject_user=member, target="Authenticator app #9 (Phone)")
    log_in(page, live_server.url, owner)  # recorded too: "Logged in", from the browser's address

    page.get_by_role("link", name="Audit trail").first.click()
    expect(page.get_by_role("heading", name="Audit trail")).to_be_visible()

    logged_in, disabled = rows(page)
    assert disabled[1:] == [
        "owner@acme.example",
        "Token disabled",
        "Authenticator app #9 (Phone)",
        "member@acme.example",
        "—",
    ]
    assert (logged_in[1], logged_in[2], logged_in[5]) == ("owner@acme.example", "Logged in", "127.0.0.1")
    assert TIME.match(logged_in[0]) and TIME.match(disabled[0])

    page.get_by_label("Action").select_option(label="Token disabled")
    page.get_by_role("button", name="Filter").click()

    assert [row[2] for row in rows(page)] == ["Token disabled"]
    export = page.get_by_role("link", name="Export CSV")
    expect(export).to_have_attribute("href", re.compile(r"^/audit/export\.csv\?.*\baction=token\.disabled\b"))


@pytest.mark.browser
def test_an_admin_finds_a_token_by_its_name_and_pages_through_a_long_trail(live_server, transactional_db, page: Page):
    organisation = OrganisationFactory(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="owner@acme.example", full_name="Olivia Owner")
    for n in range(60):
        record(action="token.enrolled", actor=owner, target=f"Hardware token #{n} (HW-{n})")
    log_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/audit/")

    page.get_by_label("On (optional)", exact=True).fill("hw-7")
    page.get_by_role("button", name="Filter").click()
    assert [row[3] for row in rows(page)] == ["Hardware token #7 (HW-7)"]

    page.get_by_label("On (optional)", exact=True).fill("Hardware token")
    page.get_by_role("button", name="Filter").click()
    assert len(rows(page)) == 50
    page.get_by_role("link", name="Older →").click()
    assert [row[3] for row in rows(page)] == [f"Hardware token #{n} (HW-{n})" for n in range(9, -1, -1)]
    expect(page.get_by_label("On (optional)", exact=True)).to_have_value(
        "Hardware token"
    )  # the filter stays on the next page
    page.get_by_role("link", name="← Newer").click()
    assert rows(page)[0][3] == "Hardware token #59 (HW-59)"

    page.goto(f"{live_server.url}/audit/?before=not-a-position")
    expect(page.locator(".form-errors")).to_contain_text("This page link is not valid")
