"""The platform reports usage over HTTP; an org admin reads it and edits the whitelist in a browser (SPEC §4, §5)."""

import json
import re
import urllib.error
import urllib.request
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Organisation
from dashboard.models import DailyMethodCount, ErrorLog, VaultStat
from platform_api.services import issue_key
from tests.e2e.journeys import log_in
from tests.factories import AdminFactory, OrganisationFactory
from whitelist.models import WhitelistEntry

NETWORK = "203.0.113.0/24"
NETWORK_DESCRIPTION = "Payment servers, Frankfurt"


def call(
    url: str, key: str, *, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One real HTTP request as the platform makes it: (status, headers, body), errors included."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:  # 3xx/4xx answers: still an answer
        with error:
            return error.code, dict(error.headers), error.read()


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def ok(org: str, method: str, at: datetime) -> dict[str, Any]:
    return {"org": org, "method": method, "at": iso(at), "status": "ok"}


def failed(org: str, method: str, at: datetime, code: str, message: str, request_id: str) -> dict[str, Any]:
    error = {"code": code, "message": message, "request_id": request_id, "source_ip": "198.51.100.20"}
    return {"org": org, "method": method, "at": iso(at), "status": "error", "error": error}


def cells(page: Page, table_name: str, row_header: str) -> list[str]:
    row = (
        page.get_by_role("table", name=table_name)
        .get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=row_header, exact=True))
    )
    return [text.strip() for text in row.get_by_role("cell").all_inner_texts()]


@pytest.mark.browser
def test_platform_reports_usage_and_admin_reads_it_filters_errors_and_edits_the_whitelist(
    live_server, transactional_db, page: Page, console_messages, mailoutbox
):
    organisation: Organisation = OrganisationFactory.create(name="Acme Payments Ltd")
    owner = AdminFactory.create(organisation=organisation, email="olivia@acme.example", full_name="Olivia Owner")
    other: Organisation = OrganisationFactory.create(name="Globex Corp")
    _, key = issue_key(name="Gateway", acting_user=None)
    api = live_server.url + "/api/platform/v1"
    org = organisation.public_id

    # Today's calls (UTC), a minute apart and never before midnight, so they all count for today.
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date(), time.min, tzinfo=UTC)

    def minutes_ago(minutes: int) -> datetime:
        return max(midnight, now - timedelta(minutes=minutes))

    events = [
        ok(org, "Tokenize", minutes_ago(9)),
        ok(org, "Tokenize", minutes_ago(8)),
        ok(org, "Tokenize", minutes_ago(7)),
        ok(org, "Tokenize", minutes_ago(6)),
        failed(org, "Tokenize", minutes_ago(5), "RATE_LIMITED", "Too many requests.", "req_tok_1"),
        ok(org, "Detokenize", minutes_ago(4)),
        ok(org, "Detokenize", minutes_ago(3)),
        failed(org, "Detokenize", minutes_ago(2), "TOKEN_NOT_FOUND", "No such token.", "req_detok_1"),
        failed(org, "Detokenize", minutes_ago(1), "TOKEN_EXPIRED", "The token expired.", "req_detok_2"),
        # Another organisation's failure with the same method and code: never shown to Acme.
        failed(other.public_id, "Detokenize", minutes_ago(2), "TOKEN_NOT_FOUND", "Not yours.", "req_globex_1"),
    ]
    status, _, reply = call(api + "/usage", key, body={"batch_id": "e2e-batch-1", "events": events})
    assert (status, json.loads(reply)) == (
        200,
        {"status": "stored", "batch_id": "e2e-batch-1", "events": 10, "errors": 4},
    )
    assert ErrorLog.objects.filter(organisation=organisation).count() == 3
    assert sorted(
        DailyMethodCount.objects.filter(organisation=organisation).values_list("method", "calls", "errors")
    ) == [("Detokenize", 4, 2), ("Tokenize", 5, 1)]

    for minutes, count in ((90, 1200), (1, 1234)):
        at = now - timedelta(minutes=minutes)
        status, _, reply = call(api + "/vault-stats", key, body={"org": org, "at": iso(at), "token_count": count})
        assert (status, json.loads(reply)) == (200, {"status": "stored", "at": at.isoformat(), "token_count": count})
    assert VaultStat.objects.filter(organisation=organisation).count() == 2

    # The admin logs in: the dashboard shows what was sent, per method and overall.
    log_in(page, live_server.url, owner)
    expect(page.get_by_role("heading", name="Welcome, Olivia Owner")).to_be_visible()
    expect(page.locator("#total-calls")).to_have_text("9")
    expect(page.locator("#vault-tokens")).to_have_text("1,234")
    expect(page.locator("#vault-change")).to_contain_text("+34 since")
    totals = page.get_by_role("table", name="Totals per method")
    expect(totals.get_by_role("rowheader")).to_have_text(["Tokenize", "Detokenize", "All methods"])
    assert cells(page, "Totals per method", "Tokenize") == ["5", "1", "20.00%"]
    assert cells(page, "Totals per method", "Detokenize") == ["4", "2", "50.00%"]
    assert cells(page, "Totals per method", "All methods") == ["9", "3", ""]
    expect(page.get_by_role("img", name=re.compile("API calls per day, by method"))).to_be_visible()

    # The range: 90 days instead of 30, the same calls; the vault's two counts are one day's, so no forecast.
    range_links = page.get_by_role("navigation", name="Days shown")
    expect(range_links.get_by_role("link", name="30 days")).to_have_attribute("aria-current", "page")
    range_links.get_by_role("link", name="90 days").click()
    expect(page).to_have_url(re.compile(r"/\?days=90$"))
    expect(page.get_by_role("heading", name="API usage, last 90 days")).to_be_visible()
    expect(page.locator("#total-calls")).to_have_text("9")
    expect(page.get_by_role("link", name=re.compile("Download the daily counters"))).to_have_attribute(
        "href", "/usage/export.csv?days=90"
    )
    expect(page.get_by_role("img", name="Tokens in the vault, day by day, with a forecast")).to_be_visible()
    expect(page.locator("#vault-forecast")).to_contain_text("No forecast: A forecast needs the vault")

    # The error log: Acme's three failures; filtered by method and code, only the matching one.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Error logs").click()
    expect(page.get_by_role("heading", name="Error logs")).to_be_visible()
    error_rows = page.get_by_role("table", name="Failed API calls").locator("tbody").get_by_role("row")
    expect(error_rows).to_have_count(3)
    expect(page.get_by_label("Method").locator("option")).to_have_text(["All methods", "Detokenize", "Tokenize"])
    page.get_by_label("Method").select_option("Detokenize")
    page.get_by_label("Error code").fill("TOKEN_NOT_FOUND")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/errors/\?.*method=Detokenize.*&code=TOKEN_NOT_FOUND"))
    expect(error_rows).to_have_count(1)
    expect(error_rows.get_by_role("cell")).to_have_text(
        [
            re.compile(rf"^{now.day} {now:%b %Y}, \d\d:\d\d$"),
            "Detokenize",
            "TOKEN_NOT_FOUND",
            "No such token.",
            "req_detok_1",
            "198.51.100.20",
            "Ask support",
        ]
    )
    expect(page.get_by_text("Not yours.")).to_have_count(0)

    # A code that no call of that method failed with: nothing, and said so.
    page.get_by_label("Error code").fill("RATE_LIMITED")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No errors match these filters")).to_be_visible()
    expect(page.get_by_role("table", name="Failed API calls")).to_have_count(0)

    # The platform's view of the whitelist before any change.
    whitelist_url = f"{api}/whitelist/{org}"
    status, headers, body = call(whitelist_url, key)
    assert status == 200
    assert json.loads(body)["networks"] == []
    etag_empty = headers["ETag"]

    # Whitelist → add a range with a description.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Whitelist").click()
    expect(page.get_by_role("heading", name="API IP whitelist")).to_be_visible()
    expect(page.get_by_text("No addresses yet")).to_be_visible()
    page.get_by_label("Address or range").fill(NETWORK)
    page.get_by_label("Description").fill(NETWORK_DESCRIPTION)
    page.get_by_role("button", name="Add to whitelist").click()
    expect(page.get_by_role("status").filter(has_text=f"{NETWORK} is on the whitelist.")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("cell", name=NETWORK, exact=True))
    expect(row.get_by_role("cell").nth(1)).to_have_text(NETWORK_DESCRIPTION)
    expect(row.get_by_role("cell").nth(2)).to_have_text("Olivia Owner")
    assert list(WhitelistEntry.objects.filter(organisation=organisation).values_list("network", "description")) == [
        (NETWORK, NETWORK_DESCRIPTION)
    ]

    status, headers, body = call(whitelist_url, key)
    assert status == 200
    assert json.loads(body)["networks"] == [{"network": NETWORK, "description": NETWORK_DESCRIPTION}]
    etag_added = headers["ETag"]
    assert etag_added != etag_empty
    assert call(whitelist_url, key, headers={"If-None-Match": etag_added})[0] == 304

    # Remove it through the confirmation page.
    page.get_by_role("link", name=f"Remove {NETWORK}").click()
    expect(page.get_by_role("heading", name=f"Remove {NETWORK} from the whitelist?")).to_be_visible()
    expect(page.get_by_text(NETWORK_DESCRIPTION)).to_be_visible()
    page.get_by_role("button", name="Remove from whitelist").click()
    expect(page.get_by_role("status").filter(has_text=f"{NETWORK} is no longer on the whitelist.")).to_be_visible()
    expect(page.get_by_role("heading", name="API IP whitelist")).to_be_visible()
    expect(page.get_by_text("No addresses yet")).to_be_visible()
    assert not WhitelistEntry.objects.filter(organisation=organisation).exists()

    # The platform's poll with the old ETag now gets the new document: the network is gone.
    status, headers, body = call(whitelist_url, key, headers={"If-None-Match": etag_added})
    assert status == 200
    assert json.loads(body)["networks"] == []
    assert headers["ETag"] not in (etag_empty, etag_added)

    # The only admin heard about both changes.
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["olivia@acme.example"], f"API whitelist of Acme Payments Ltd: {NETWORK} added"),
        (["olivia@acme.example"], f"API whitelist of Acme Payments Ltd: {NETWORK} removed"),
    ]

    csp_reports = [m for m in console_messages if re.search(r"content.security.policy", m, re.IGNORECASE)]
    assert csp_reports == []
    assert [m for m in console_messages if m.startswith("pageerror:")] == []
