"""A member asks support about a failed call from the error log, and finds the ticket from the row (issue 16 #4)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Organisation
from dashboard.models import DailyMethodCount, ErrorLog
from support.models import Ticket
from tests.e2e.journeys import log_in
from tests.factories import OrganisationFactory, UserFactory


@pytest.mark.browser
def test_member_asks_support_about_a_failed_call_and_finds_the_ticket_from_the_error_log(
    live_server, transactional_db, page: Page, console_messages, mailoutbox
):
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    member = UserFactory.create(organisation=organisation, email="max@acme.example", full_name="Max Member")
    at = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
    DailyMethodCount.objects.create(organisation=organisation, method="Detokenize", day=at.date(), calls=9, errors=1)
    error = ErrorLog.objects.create(
        organisation=organisation,
        at=at,
        method="Detokenize",
        code="TOKEN_NOT_FOUND",
        message="No such token.",
        request_id="req_7f3a",
        source_ip="203.0.113.9",
    )
    stamp = f"{at:%Y-%m-%d %H:%M:%S} UTC"

    log_in(page, live_server.url, member)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Error logs").click()
    page.get_by_role("link", name="Ask support about request req_7f3a").click()

    expect(page.get_by_role("heading", name="Ask support about this error")).to_be_visible()
    expect(page.get_by_role("heading", name="The failed call")).to_be_visible()
    expect(page.get_by_label("Subject", exact=True)).to_have_value(f"TOKEN_NOT_FOUND on Detokenize at {stamp}")
    expect(page.get_by_label("Category", exact=True)).to_have_value("problem")
    body = page.get_by_label("What do you need?")
    expect(body).to_have_value(re.compile(r"^About this failed API call:\n- Request id: req_7f3a\n"))
    body.fill(body.input_value() + "\nIt happens with tokens made a few seconds before.")
    page.get_by_role("button", name="Send to support").click()

    ticket = Ticket.objects.get()
    expect(page.get_by_role("status").filter(has_text=f"Ticket #{ticket.pk} is open.")).to_be_visible()
    expect(page.get_by_role("heading", name="The failed call")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("req_7f3a")
    assert (ticket.error_log_id, ticket.opened_by) == (error.pk, member)
    assert [m.to for m in mailoutbox] == [["support@example.com"]]

    # Back in the error log the row now names its ticket, which leads back to it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Error logs").click()
    row = page.get_by_role("table", name="Failed API calls").locator("tbody tr").filter(has_text="req_7f3a")
    row.get_by_role("link", name=f"Ticket #{ticket.pk}").click()
    expect(page.get_by_role("heading", name=f"#{ticket.pk} TOKEN_NOT_FOUND on Detokenize at {stamp}")).to_be_visible()

    csp_reports = [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)]
    assert csp_reports == []
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
