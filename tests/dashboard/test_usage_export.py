"""/usage/export.csv: the daily counters per method of the dashboard's range, safe in a spreadsheet."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.models import DailyMethodCount
from tests.dashboard.helpers import utc_today

HEADER = ["day_utc", "method", "calls", "failed"]


def csv_rows(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def counter(organisation, back: int, method: str, calls: int, errors: int = 0) -> None:
    DailyMethodCount.objects.create(
        organisation=organisation, method=method, day=utc_today() - timedelta(days=back), calls=calls, errors=errors
    )


def day(back: int) -> str:
    return (utc_today() - timedelta(days=back)).isoformat()


@pytest.fixture
def counters(organisation, other_organisation):
    counter(organisation, 0, "Tokenize", 5)
    counter(organisation, 0, "Detokenize", 3, errors=1)
    counter(organisation, 6, "Tokenize", 7)
    counter(organisation, 7, "Tokenize", 11)
    counter(organisation, 29, "Validate", 13, errors=2)
    counter(organisation, 30, "Tokenize", 17)
    counter(organisation, 89, "Search", 19)
    counter(organisation, 90, "Search", 23)
    counter(other_organisation, 1, "GlobexSecret", 424_242)


def test_the_download_holds_the_default_30_days_counters_oldest_first(member_client, counters):
    response = member_client.get("/usage/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    first, last = utc_today() - timedelta(days=29), utc_today()
    assert response["Content-Disposition"] == f'attachment; filename="usage-{first}-to-{last}.csv"'
    assert csv_rows(response) == [
        HEADER,
        [day(29), "Validate", "13", "2"],
        [day(7), "Tokenize", "11", "0"],
        [day(6), "Tokenize", "7", "0"],
        [day(0), "Detokenize", "3", "1"],
        [day(0), "Tokenize", "5", "0"],
    ]


@pytest.mark.parametrize(("days", "oldest"), [(7, 6), (90, 89)])
def test_the_download_follows_the_chosen_range(member_client, counters, days, oldest):
    rows = csv_rows(member_client.get(f"/usage/export.csv?days={days}"))

    assert rows[1][0] == day(oldest)
    assert {row[0] for row in rows[1:]} <= {day(back) for back in range(days)}
    assert len(rows) == 1 + {7: 3, 90: 7}[days]


def test_another_organisations_counters_are_never_in_the_download(member_client, outsider_browser, counters):
    ours = b"".join(member_client.get("/usage/export.csv").streaming_content).decode()
    theirs = csv_rows(outsider_browser.get("/usage/export.csv"))

    assert "GlobexSecret" not in ours and "424242" not in ours
    assert theirs == [HEADER, [day(1), "GlobexSecret", "424242", "0"]]


def test_a_method_named_like_a_formula_is_not_run_by_a_spreadsheet(member_client, organisation):
    counter(organisation, 1, '=HYPERLINK("http://evil.example","x")', 1)
    counter(organisation, 1, "+SUM(A1)", 2)

    rows = csv_rows(member_client.get("/usage/export.csv"))

    assert [row[1] for row in rows[1:]] == ["'+SUM(A1)", '\'=HYPERLINK("http://evil.example","x")']


@pytest.mark.parametrize("value", ["14", "x", "0"])
def test_an_unknown_range_sends_back_to_the_dashboard_with_a_message(member_client, counters, value):
    response = member_client.get("/usage/export.csv", {"days": value})

    assert response.status_code == 302
    assert response.url == "/"
    page = member_client.get(response.url).content.decode()
    assert "The usage download covers 7, 30 or 90 days: choose one of them." in page


def test_the_download_reads_one_query_however_many_counters(member_client, organisation):
    member_client.get("/usage/export.csv")  # the session and the like
    DailyMethodCount.objects.bulk_create(
        DailyMethodCount(organisation=organisation, method=f"M{m}", day=utc_today() - timedelta(days=back), calls=1)
        for back in range(90)
        for m in range(12)
    )
    with CaptureQueriesContext(connection) as few:
        assert len(csv_rows(member_client.get("/usage/export.csv?days=7"))) == 1 + 7 * 12
    with CaptureQueriesContext(connection) as many:
        assert len(csv_rows(member_client.get("/usage/export.csv?days=90"))) == 1 + 90 * 12

    assert len(few) == len(many)


def test_the_download_needs_a_login(client, db):
    response = client.get("/usage/export.csv")

    assert response.status_code == 302
    assert response.url.startswith("/login/")
