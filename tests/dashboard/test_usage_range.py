"""The dashboard's range selector (issue #16.3): 7, 30 or 90 days, 30 by default; the chart, the
tables and the vault follow it, in the same number of queries whatever the range or the data."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dashboard import summary
from dashboard.models import DailyMethodCount, ErrorLog, VaultStat
from tests.conftest import log_in
from tests.dashboard.helpers import table_rows, text_of, utc_today


def counter(organisation, back: int, calls: int, method: str = "Tokenize", errors: int = 0) -> None:
    DailyMethodCount.objects.create(
        organisation=organisation, method=method, day=utc_today() - timedelta(days=back), calls=calls, errors=errors
    )


@pytest.fixture
def spread_usage(organisation, other_organisation):
    counter(organisation, 0, 1)
    counter(organisation, 6, 10)
    counter(organisation, 7, 100, errors=5)  # the 8th day back: outside 7 days
    counter(organisation, 29, 1_000, method="Detokenize")
    counter(organisation, 30, 10_000)  # outside 30 days
    counter(organisation, 89, 100_000, method="Search")
    counter(organisation, 90, 1_000_000)  # outside 90 days
    counter(other_organisation, 3, 55_555, method="GlobexOnly")
    summary.bump([organisation.pk, other_organisation.pk])


def range_links(page: str) -> list[tuple[str, bool]]:
    """(address, is it the current one) of each link of the range selector."""
    nav = page[page.index('id="usage-range"') :]
    nav = nav[: nav.index("</nav>")]
    return [(href, bool(current)) for href, current in re.findall(r'<a href="([^"]+)" ?(aria-current="page")?', nav)]


def test_thirty_days_are_the_default_and_marked_as_chosen(member_client, spread_usage):
    page = member_client.get("/").content.decode()

    assert "API usage, last 30 days" in page
    assert range_links(page) == [("/?days=7", False), ("/?days=30", True), ("/?days=90", False)]
    assert text_of(page, "total-calls") == "1,111"
    assert len(table_rows(page, "daily-calls")) == 1 + 30


@pytest.mark.parametrize(
    ("days", "total", "methods"),
    [
        (7, "11", ["Tokenize"]),
        (30, "1,111", ["Detokenize", "Tokenize"]),
        (90, "111,111", ["Search", "Tokenize", "Detokenize"]),
    ],
)
def test_chart_and_tables_follow_the_chosen_range(member_client, spread_usage, days, total, methods):
    page = member_client.get(f"/?days={days}").content.decode()

    assert f"API usage, last {days} days" in page
    assert text_of(page, "total-calls") == total
    assert [row[0] for row in table_rows(page, "method-totals")[1:-1]] == methods
    daily = table_rows(page, "daily-calls")
    assert len(daily) == 1 + days
    first = utc_today() - timedelta(days=days - 1)
    assert daily[-1][0] == f"{first:%a} {first.day} {first:%b %Y}"
    assert f"Calls per day from {first.day} {first:%B %Y} to" in page  # the chart's description
    assert "GlobexOnly" not in page
    assert [current for _, current in range_links(page)] == [d == days for d in (7, 30, 90)]


def test_links_keep_the_chosen_range(member_client, spread_usage):
    page = member_client.get("/?days=7").content.decode()

    assert 'href="/usage/export.csv?days=7"' in page
    assert "Tokens in the vault, last 7 days" in page


@pytest.mark.parametrize("value", ["14", "abc", "-7", "30.0", "", "9" * 40])
def test_an_unknown_range_shows_30_days_with_a_clear_message(member_client, spread_usage, value):
    response = member_client.get("/", {"days": value})

    page = response.content.decode()
    assert response.status_code == 200
    assert "API usage, last 30 days" in page
    assert text_of(page, "total-calls") == "1,111"
    if value:
        assert "The dashboard shows 7, 30 or 90 days: here are the last 30." in page
    else:
        assert "The dashboard shows" not in page  # an empty value is no choice: the default, silently


def test_each_range_is_cached_apart(member_client, spread_usage):
    assert text_of(member_client.get("/?days=90").content.decode(), "total-calls") == "111,111"

    with CaptureQueriesContext(connection) as queries:
        page = member_client.get("/?days=7").content.decode()

    assert text_of(page, "total-calls") == "11"
    assert any("dashboard_dailymethodcount" in q["sql"] for q in queries.captured_queries)
    assert text_of(member_client.get("/?days=90").content.decode(), "total-calls") == "111,111"


def _fill(organisation, *, days: int, methods: int, readings_a_day: int, prefix: str) -> None:
    """A year of counters for many methods, failed calls, and vault readings several times a day."""
    today = utc_today()
    DailyMethodCount.objects.bulk_create(
        DailyMethodCount(
            organisation=organisation,
            method=f"{prefix}{m}",
            day=today - timedelta(days=back),
            calls=10 + m,
            errors=1,
        )
        for back in range(days)
        for m in range(methods)
    )
    now = datetime.now(UTC)
    VaultStat.objects.bulk_create(
        VaultStat(
            organisation=organisation,
            at=now - timedelta(hours=24 * back / readings_a_day),
            token_count=1_000_000 - back,
        )
        for back in range(days * readings_a_day)
    )
    ErrorLog.objects.bulk_create(
        ErrorLog(
            organisation=organisation,
            at=now - timedelta(minutes=n),
            method="Method0",
            code="E",
            message="m",
            request_id=str(n),
            source_ip="10.0.0.1",
        )
        for n in range(days)
    )
    summary.bump([organisation.pk])


def _queries(client, path: str, organisation) -> int:
    summary.bump([organisation.pk])  # a cold usage section, as after every stored batch
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_query_count_is_the_same_for_every_range_and_does_not_grow_with_the_data(member_client, organisation):
    member_client.get("/")  # the session, content types and so on, read once
    _fill(organisation, days=2, methods=1, readings_a_day=1, prefix="Few")
    few = {days: _queries(member_client, f"/?days={days}", organisation) for days in (7, 30, 90)}

    _fill(organisation, days=365, methods=12, readings_a_day=6, prefix="Many")
    many = {days: _queries(member_client, f"/?days={days}", organisation) for days in (7, 30, 90)}
    page = member_client.get("/?days=90").content.decode()

    assert len(set(few.values())) == 1, few
    assert many == few
    assert len(table_rows(page, "vault-daily")) == 1 + 90 + 1  # a reading each day, and the forecast
    assert 'id="vault-forecast-basis"' in page


def test_the_chosen_range_is_kept_when_the_user_comes_back_without_one(member_client, spread_usage):
    member_client.get("/?days=90")
    member_client.get("/errors/")

    page = member_client.get("/").content.decode()  # the header's link, or the page after an action

    assert "API usage, last 90 days" in page
    assert text_of(page, "total-calls") == "111,111"
    assert range_links(page) == [("/?days=7", False), ("/?days=30", False), ("/?days=90", True)]

    assert "API usage, last 30 days" in member_client.get("/?days=30").content.decode()
    assert "API usage, last 30 days" in member_client.get("/").content.decode()


def test_a_refused_range_is_not_remembered(member_client, spread_usage):
    member_client.get("/?days=7")

    assert "API usage, last 30 days" in member_client.get("/?days=14").content.decode()
    assert "API usage, last 7 days" in member_client.get("/").content.decode()  # the last good choice


def test_the_range_is_remembered_per_session_not_for_the_organisation(client, member, owner, spread_usage):
    log_in(client, member)
    client.get("/?days=7")
    other = Client()
    log_in(other, owner)

    assert "API usage, last 30 days" in other.get("/").content.decode()
    assert "API usage, last 7 days" in client.get("/").content.decode()


def test_choosing_the_same_range_again_writes_no_session(member_client, spread_usage):
    member_client.get("/?days=7")

    with CaptureQueriesContext(connection) as queries:
        member_client.get("/?days=7")

    assert not [q for q in queries.captured_queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
