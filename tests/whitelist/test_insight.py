"""Whitelist insight (issue 16): the addresses the platform refused for not being whitelisted, with
one-click "Allow", and how many calls an entry let through before it is removed."""

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Organisation
from dashboard.models import ErrorLog
from tests.conftest import log_in
from tests.conftest import page_text as _page
from tests.whitelist.helpers import add, networks
from whitelist import selectors
from whitelist.models import DailySourceCount, WhitelistEntry

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def refused(
    organisation: Organisation,
    address: str,
    *,
    hours_ago: float,
    method: str = "Tokenize",
    code: str = "IP_NOT_ALLOWED",
) -> ErrorLog:
    return ErrorLog.objects.create(
        organisation=organisation,
        at=NOW - dt.timedelta(hours=hours_ago),
        method=method,
        code=code,
        message="The caller's address is not on the organisation's whitelist.",
        request_id=f"req_{address}_{hours_ago}_{method}",
        source_ip=address,
    )


@pytest.fixture
def refusals(organisation) -> None:
    """198.51.100.23: three refused calls over two methods; 192.0.2.9: one; plus noise that must not count."""
    refused(organisation, "198.51.100.23", hours_ago=100, method="Tokenize")
    refused(organisation, "198.51.100.23", hours_ago=5, method="Detokenize")
    refused(organisation, "198.51.100.23", hours_ago=1, method="Tokenize", code="ip_not_allowed")  # any case
    refused(organisation, "192.0.2.9", hours_ago=30)
    refused(organisation, "192.0.2.77", hours_ago=8 * 24)  # older than 7 days
    refused(organisation, "192.0.2.88", hours_ago=2, code="TOKEN_NOT_FOUND")  # failed, not refused


# --- The top list ---------------------------------------------------------------------------


def test_the_page_lists_refused_addresses_with_count_first_and_last_seen_and_methods(owner_client, refusals):
    page = _page(owner_client.get("/whitelist/"))

    assert "Refused calls, last 7 days" in page
    first, second = page.index("<code>198.51.100.23</code>"), page.index("<code>192.0.2.9</code>")
    assert first < second  # most calls first
    row = page[first : page.index("</tr>", first)]
    assert '<td class="num">3</td>' in row
    assert "29 Nov 2026, 08:00" in row  # first seen (100 hours ago)
    assert "3 Dec 2026, 11:00" in row  # last seen
    assert "Detokenize, Tokenize" in row
    assert "192.0.2.77" not in page and "192.0.2.88" not in page


def test_allow_opens_the_add_form_prefilled_with_the_single_address(owner_client, refusals):
    page = _page(owner_client.get("/whitelist/"))
    assert 'href="/whitelist/add/?network=198.51.100.23%2F32&amp;description=Calls+to+Detokenize%2C+Tokenize"' in page

    form = _page(
        owner_client.get("/whitelist/add/?network=198.51.100.23%2F32&description=Calls+to+Detokenize%2C+Tokenize")
    )

    assert 'value="198.51.100.23/32"' in form
    assert 'value="Calls to Detokenize, Tokenize"' in form
    assert '<option value="' in form and "selected>Olivia Owner (owner@acme.example)</option>" in form


def test_allowing_goes_through_the_same_rules_and_the_address_shows_as_allowed(owner_client, organisation, refusals):
    response = owner_client.post(
        "/whitelist/add/", {"network": "198.51.100.23/32", "description": "Calls to Detokenize, Tokenize"}
    )

    assert response.status_code == 302
    assert networks(organisation) == ["198.51.100.23/32"]
    page = _page(owner_client.get("/whitelist/"))
    row = page[page.index("<code>198.51.100.23</code>") :]
    row = row[: row.index("</tr>")]
    assert "Allowed by 198.51.100.23/32" in row
    assert "Allow 198.51.100.23" not in row


def test_an_address_inside_an_existing_range_shows_as_allowed_by_it(owner_client, organisation, owner, refusals):
    add(organisation, owner, "198.51.100.0/24", "Partner range")

    page = _page(owner_client.get("/whitelist/"))

    assert "Allowed by 198.51.100.0/24" in page
    assert 'aria-label="Allow 192.0.2.9"' in page


def test_a_prefilled_form_is_only_a_suggestion_bad_input_is_refused(owner_client, organisation):
    form = _page(owner_client.get("/whitelist/add/?network=" + "9" * 500 + "&description=x"))
    assert "9" * 500 not in form

    response = owner_client.post("/whitelist/add/", {"network": "127.0.0.1", "description": "Loopback"})
    assert response.status_code == 400
    assert "is a loopback address" in _page(response)
    assert networks(organisation) == []


def test_a_member_sees_the_refused_addresses_but_no_allow(member_client, refusals):
    page = _page(member_client.get("/whitelist/"))

    assert "<code>198.51.100.23</code>" in page
    assert 'aria-label="Allow' not in page


def test_no_refused_calls_says_so(owner_client):
    page = _page(owner_client.get("/whitelist/"))

    assert "No refused calls" in page


def test_another_organisations_admin_never_sees_this_organisations_refused_addresses(refusals, outsider):
    page = _page(log_in(Client(), outsider).get("/whitelist/"))

    assert "198.51.100.23" not in page
    assert "192.0.2.9" not in page
    assert "No refused calls" in page


def test_the_page_issues_the_same_number_of_queries_for_few_and_many_refused_addresses(
    owner_client, organisation, owner
):
    add(organisation, owner, "203.0.113.0/24", "Office")

    def count(addresses: int) -> int:
        ErrorLog.objects.all().delete()
        for n in range(addresses):
            for method in ("Tokenize", "Detokenize"):
                refused(organisation, f"192.0.2.{n + 1}", hours_ago=n + 1, method=method)
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get("/whitelist/").status_code == 200
        return len(queries)

    assert count(2) == count(30)


def test_the_top_list_is_capped_at_ten_addresses(owner, organisation):
    for n in range(12):
        for _ in range(n + 1):
            refused(organisation, f"192.0.2.{n + 1}", hours_ago=n + 1)

    found = selectors.refused_sources(user=owner, entries=[])

    assert [row.failures.source_ip for row in found] == [f"192.0.2.{n}" for n in range(12, 2, -1)]


# --- Calls through an entry before it is removed ----------------------------------------------


def counts(organisation: Organisation, rows: list[tuple[str, int, int]]) -> None:
    """(address, days ago, calls)"""
    DailySourceCount.objects.bulk_create(
        DailySourceCount(organisation=organisation, address=address, day=TODAY - dt.timedelta(days=ago), calls=calls)
        for address, ago, calls in rows
    )


def test_remove_confirmation_says_how_many_calls_came_from_the_entry_in_30_days(
    owner_client, organisation, owner, outsider
):
    entry = add(organisation, owner, "203.0.113.0/24", "Office")
    counts(
        organisation,
        [
            ("203.0.113.7", 0, 1_200),
            ("203.0.113.7", 29, 300),
            ("203.0.113.200", 3, 34),
            ("203.0.113.7", 30, 5_000),  # 31 days with today: too old
            ("203.0.114.1", 1, 7_000),  # outside the range
            ("2001:db8::1", 1, 9_000),  # another family
        ],
    )
    counts(outsider.organisation, [("203.0.113.7", 0, 50_000)])  # another organisation's calls

    page = _page(owner_client.get(f"/whitelist/{entry.pk}/remove/"))

    assert "1,534 calls from this range in the last 30 days." in page


def test_remove_confirmation_for_a_single_ipv6_address(owner_client, organisation, owner):
    entry = add(organisation, owner, "2001:db8::7", "IPv6 server")
    counts(organisation, [("2001:db8::7", 2, 1), ("2001:db8::8", 2, 40)])

    page = _page(owner_client.get(f"/whitelist/{entry.pk}/remove/"))

    assert "1 call from this address in the last 30 days." in page


def test_remove_confirmation_issues_the_same_number_of_queries_for_few_and_many_counts(
    owner_client, organisation, owner
):
    entry = add(organisation, owner, "203.0.113.0/24", "Office")

    def count(addresses: int) -> int:
        DailySourceCount.objects.all().delete()
        counts(organisation, [(f"203.0.113.{n + 1}", day, 10) for n in range(addresses) for day in range(30)])
        with CaptureQueriesContext(connection) as queries:
            page = _page(owner_client.get(f"/whitelist/{entry.pk}/remove/"))
        assert f"{addresses * 300:,} calls" in page
        return len(queries)

    assert count(1) == count(20)


def test_an_entry_still_removes_as_before(owner_client, organisation, owner):
    entry = add(organisation, owner, "203.0.113.0/24", "Office")

    assert owner_client.post(f"/whitelist/{entry.pk}/remove/").status_code == 302
    assert not WhitelistEntry.objects.filter(pk=entry.pk).exists()


# --- End to end: what the platform reports is what the page shows -------------------------------


def test_what_the_platform_reports_shows_as_refused_addresses_and_calls_before_removal(
    owner_client, organisation, owner
):
    from platform_api import services as platform_keys
    from tests.dashboard.conftest import post_json
    from tests.dashboard.helpers import batch, error_event, ok_event

    entry = add(organisation, owner, "203.0.113.0/24", "Office")
    _, key = platform_keys.issue_key(name="Platform reporter", acting_user=None)
    acme = organisation.public_id
    hour_ago = NOW - dt.timedelta(hours=1)
    events = [
        {**ok_event(acme, "Tokenize", hour_ago), "source_ip": "203.0.113.7"},
        {**ok_event(acme, "Tokenize", hour_ago), "source_ip": "203.0.113.7"},
        error_event(acme, "Detokenize", hour_ago, source_ip="203.0.113.8"),  # failed, not refused: still a call
        error_event(acme, "Tokenize", hour_ago, code="IP_NOT_ALLOWED", request_id="r2", source_ip="192.0.2.61"),
        error_event(acme, "Validate", hour_ago, code="IP_NOT_ALLOWED", request_id="r3", source_ip="192.0.2.61"),
    ]
    response = post_json("/api/platform/v1/usage", batch(*events, batch_id="b-insight"), key=key)
    assert response.status_code in (200, 202), response.content

    page = _page(owner_client.get("/whitelist/"))
    row = page[page.index("<code>192.0.2.61</code>") :]
    row = row[: row.index("</tr>")]
    assert '<td class="num">2</td>' in row and "Tokenize, Validate" in row
    assert "3 calls from this range in the last 30 days." in _page(owner_client.get(f"/whitelist/{entry.pk}/remove/"))
