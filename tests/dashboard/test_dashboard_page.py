"""The home page: the organisation's usage over 30 days, its vault, its latest failures (SPEC §4)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard.models import DailyMethodCount, ErrorLog, VaultStat
from tests.dashboard.helpers import days_ago, error_event, ok_event, table_rows, text_of, utc_today


@pytest.fixture
def acme_usage(report, organisation, other_organisation):
    acme, globex = organisation.public_id, other_organisation.public_id
    report(
        *(ok_event(acme, "Tokenize", days_ago(1)) for _ in range(4)),
        error_event(acme, "Tokenize", days_ago(1, hour=11), code="INVALID_INPUT"),
        *(ok_event(acme, "Tokenize", days_ago(29)) for _ in range(2)),
        *(ok_event(acme, "Detokenize", days_ago(3)) for _ in range(3)),
        # Outside the 30 days: not counted.
        *(ok_event(acme, "Tokenize", days_ago(30)) for _ in range(100)),
        # Another organisation's usage, never shown to Acme.
        *(ok_event(globex, "Search", days_ago(1)) for _ in range(7)),
        error_event(globex, "Search", days_ago(1), code="GLOBEX_SECRET_CODE"),
    )
    report.vault(organisation, days_ago(40), 1_000)  # the count when the period began
    report.vault(organisation, days_ago(10), 1_200)
    report.vault(organisation, days_ago(0, hour=0), 1_500)
    report.vault(other_organisation, days_ago(0, hour=0), 987_654)


def test_dashboard_shows_the_organisations_totals_per_method_and_overall(member_client, acme_usage):
    page = member_client.get("/").content.decode()

    assert table_rows(page, "method-totals") == [
        ["Method", "Calls", "Failed", "Failure rate"],
        ["Tokenize", "7", "1", "14.29%"],
        ["Detokenize", "3", "0", "0.00%"],
        ["All methods", "10", "1", ""],
    ]
    assert text_of(page, "total-calls") == "10"


def test_dashboard_shows_calls_per_day_and_method(member_client, acme_usage):
    rows = table_rows(member_client.get("/").content.decode(), "daily-calls")

    assert rows[0] == ["Day", "Tokenize", "Detokenize", "All methods"]
    assert len(rows) == 1 + 30
    by_day = {row[0]: row[1:] for row in rows[1:]}
    label = lambda days: f"{days_ago(days):%a} {days_ago(days).day} {days_ago(days):%b}"  # noqa: E731
    assert by_day[label(1)] == ["5", "0", "5"]
    assert by_day[label(3)] == ["0", "3", "3"]
    assert by_day[label(29)] == ["2", "0", "2"]
    assert by_day[label(0)] == ["0", "0", "0"]
    assert label(30) not in by_day


def test_dashboard_shows_the_vault_count_and_its_change_over_the_period(member_client, acme_usage):
    page = member_client.get("/").content.decode()

    assert text_of(page, "vault-tokens") == "1,500"
    assert text_of(page, "vault-change").startswith("+500 since ")


def test_vault_change_counts_from_the_first_report_when_none_is_older(member_client, report, organisation):
    report.vault(organisation, days_ago(20), 5_000)
    report.vault(organisation, days_ago(2), 4_250)

    page = member_client.get("/").content.decode()

    assert text_of(page, "vault-tokens") == "4,250"
    assert text_of(page, "vault-change").startswith("-750 since ")


def test_dashboard_never_shows_another_organisations_usage(member_client, outsider_browser, acme_usage):
    acme_page = member_client.get("/").content.decode()
    globex_page = outsider_browser.get("/").content.decode()

    assert "Search" not in acme_page
    assert "987,654" not in acme_page
    assert "GLOBEX_SECRET_CODE" not in acme_page
    assert table_rows(globex_page, "method-totals")[1:] == [
        ["Search", "8", "1", "12.50%"],
        ["All methods", "8", "1", ""],
    ]
    assert text_of(globex_page, "vault-tokens") == "987,654"
    assert "INVALID_INPUT" not in globex_page


def test_chart_is_drawn_on_the_server_with_a_line_per_method(member_client, acme_usage):
    page = member_client.get("/").content.decode()

    assert '<svg class="chart"' in page
    assert '<title id="usage-chart-title">API calls per day, by method</title>' in page
    assert "Totals: Tokenize 7, Detokenize 3." in page
    assert page.count('<polyline class="chart-line') == 2
    assert "<title>Tokenize: 7 calls</title>" in page
    assert 'aria-label="Methods"' in page
    # The CSP forbids inline styles and scripts.
    assert "style=" not in page
    assert "<script" not in page


def test_latest_ten_failures_are_listed_newest_first_with_a_link_to_the_log(member_client, report, organisation):
    report(*(error_event(organisation.public_id, at=days_ago(2, hour=h), code=f"CODE_{h:02d}") for h in range(12)))

    page = member_client.get("/").content.decode()

    recent = page[page.index('id="recent-errors"') :]
    recent = recent[: recent.index("</ul>")]
    codes = [f"CODE_{h:02d}" for h in range(11, 1, -1)]
    assert [code for code in codes if code in recent] == codes
    assert recent.index("CODE_11") < recent.index("CODE_02")
    assert "CODE_01" not in recent
    assert 'href="/errors/"' in page


def test_without_data_the_dashboard_explains_how_it_arrives(member_client):
    page = member_client.get("/").content.decode()

    assert "No API calls in the last 30 days" in page
    assert "The API platform reports your organisation's calls to the portal" in page
    assert "The platform has not reported the vault's size yet." in page
    assert "<svg" not in page
    # What the home page showed before the dashboard is still there.
    assert "Your second factors" in page
    assert "Your account" in page


def test_dashboard_is_the_home_page_and_needs_a_login(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def _bulk_rows(organisation, count, first_day_back=0):
    """count counters (ten methods a day, from first_day_back days ago), error rows and vault counts."""
    methods = [f"Method{m}" for m in range(10)]
    DailyMethodCount.objects.bulk_create(
        DailyMethodCount(
            organisation=organisation,
            method=methods[n % 10],
            day=utc_today() - timedelta(days=first_day_back + n // 10),
            calls=9,
        )
        for n in range(count)
    )
    start = datetime.now(UTC) - timedelta(days=1)
    ErrorLog.objects.bulk_create(
        (
            ErrorLog(
                organisation=organisation,
                at=start - timedelta(seconds=n),
                method=methods[n % 10],
                code="E",
                message="m",
                request_id=str(n),
                source_ip="10.0.0.1",
            )
            for n in range(count)
        ),
        batch_size=1000,
    )
    VaultStat.objects.bulk_create(
        VaultStat(organisation=organisation, at=start - timedelta(hours=n), token_count=n) for n in range(count)
    )


def test_dashboard_query_count_does_not_grow_with_the_data(member_client, organisation):
    _bulk_rows(organisation, 10)
    member_client.get("/")
    with CaptureQueriesContext(connection) as few:
        assert member_client.get("/").status_code == 200

    _bulk_rows(organisation, 9_990, first_day_back=1)
    with CaptureQueriesContext(connection) as many:
        page = member_client.get("/").content.decode()

    assert len(many) == len(few)
    assert text_of(page, "total-calls") == f"{30 * 10 * 9:,}"  # 30 days, 10 methods, 9 calls each
