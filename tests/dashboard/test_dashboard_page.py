"""The home page: the organisation's usage over 30 days, its vault, its latest failures (SPEC §4)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dashboard import selectors, summary
from dashboard.models import DailyMethodCount, ErrorLog, VaultStat
from tests.conftest import log_in
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
    label = lambda days: f"{days_ago(days):%a} {days_ago(days).day} {days_ago(days):%b %Y}"  # noqa: E731
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

    # Drawn twice: the wide drawing, and the compact one phones show instead (fewer, larger labels).
    assert '<svg class="chart chart--wide"' in page
    assert '<svg class="chart chart--compact"' in page
    assert '<title id="usage-chart-title">API calls per day, by method</title>' in page
    assert '<title id="usage-chart-compact-title">API calls per day, by method</title>' in page
    assert page.count("Totals: Tokenize 7, Detokenize 3.") == 2
    usage_part = page[: page.index('id="vault-growth"')]  # the vault's own chart follows
    assert usage_part.count('<polyline class="chart-line') == 2 * 2
    assert page.count("<title>Tokenize: 7 calls</title>") == 2
    assert 'aria-label="Methods"' in page
    # The CSP forbids inline styles and scripts: every script is a file of the portal's own.
    assert "style=" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", page)


def test_phones_get_a_compact_drawing_with_fewer_days_named_and_short_numbers(member_client, organisation):
    DailyMethodCount.objects.create(
        organisation=organisation, method="Tokenize", day=utc_today() - timedelta(days=2), calls=1_480_000
    )
    page = member_client.get("/").content.decode()

    def drawing(name: str) -> str:
        start = page.index(f'<svg class="chart chart--{name}"')
        return page[start : page.index("</svg>", start)]

    def day_labels(svg: str) -> list[str]:
        return re.findall(r'<text class="chart-label" [^>]*>([^<]+)</text>', svg)

    def value_labels(svg: str) -> list[str]:
        return re.findall(r'<text class="chart-label chart-label--y" [^>]*>([^<]+)</text>', svg)

    wide, compact = drawing("wide"), drawing("compact")
    assert 'viewBox="0 0 720 280"' in wide and 'viewBox="0 0 360 250"' in compact
    assert len(day_labels(wide)) == 6 and len(day_labels(compact)) == 4
    assert day_labels(compact)[-1] == f"{utc_today().day} {utc_today():%b}"
    assert value_labels(wide) == ["0", "500,000", "1,000,000", "1,500,000", "2,000,000"]
    assert value_labels(compact) == ["0", "500k", "1M", "1.5M", "2M"]


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
    # Each measure on a cold usage cache, as after every stored batch: the page reads the rows.
    _bulk_rows(organisation, 10)
    member_client.get("/")
    summary.bump([organisation.pk])  # bulk_create bypasses the services that do this
    with CaptureQueriesContext(connection) as few:
        assert member_client.get("/").status_code == 200

    _bulk_rows(organisation, 9_990, first_day_back=1)
    summary.bump([organisation.pk])
    with CaptureQueriesContext(connection) as many:
        page = member_client.get("/").content.decode()

    assert len(many) == len(few)
    assert text_of(page, "total-calls") == f"{30 * 10 * 9:,}"  # 30 days, 10 methods, 9 calls each


def _dashboard_queries(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if "dashboard_" in q["sql"]]


def test_a_second_request_serves_the_usage_from_the_cache_with_fewer_queries(member_client, owner, organisation):
    _bulk_rows(organisation, 300)
    member_client.get("/")
    summary.bump([organisation.pk])
    with CaptureQueriesContext(connection) as cold:
        cold_page = member_client.get("/").content.decode()
    with CaptureQueriesContext(connection) as warm:
        warm_page = member_client.get("/").content.decode()

    assert len(warm) < len(cold)
    assert _dashboard_queries(cold)
    assert _dashboard_queries(warm) == []
    assert text_of(warm_page, "total-calls") == text_of(cold_page, "total-calls") == "2,700"
    assert table_rows(warm_page, "daily-calls") == table_rows(cold_page, "daily-calls")
    # The cached section is the organisation's, not the user's: the owner gets it too, with their own name.
    owner_page = log_in(Client(), owner).get("/").content.decode()
    assert text_of(owner_page, "total-calls") == "2,700"
    assert "Welcome, Olivia Owner" in owner_page


def test_a_stored_batch_shows_on_the_next_request_although_the_page_is_cached(
    member_client, acme_usage, report, organisation, django_capture_on_commit_callbacks
):
    assert text_of(member_client.get("/").content.decode(), "total-calls") == "10"

    with django_capture_on_commit_callbacks(execute=True):
        report(*(ok_event(organisation.public_id, "Search", days_ago(0)) for _ in range(5)))
    page = member_client.get("/").content.decode()

    assert text_of(page, "total-calls") == "15"
    assert ["Search", "5", "0", "0.00%"] in table_rows(page, "method-totals")


def test_a_vault_count_shows_on_the_next_request_although_the_page_is_cached(
    member_client, acme_usage, report, organisation, django_capture_on_commit_callbacks
):
    assert text_of(member_client.get("/").content.decode(), "vault-tokens") == "1,500"

    with django_capture_on_commit_callbacks(execute=True):
        report.vault(organisation, days_ago(0, hour=0) + timedelta(minutes=5), 1_750)

    assert text_of(member_client.get("/").content.decode(), "vault-tokens") == "1,750"


def test_another_organisations_batch_leaves_the_cached_page_as_it_was(
    member_client, acme_usage, report, other_organisation, django_capture_on_commit_callbacks
):
    member_client.get("/")

    with django_capture_on_commit_callbacks(execute=True):
        report(ok_event(other_organisation.public_id, "Search", days_ago(0)))
    with CaptureQueriesContext(connection) as queries:
        page = member_client.get("/").content.decode()

    assert _dashboard_queries(queries) == []
    assert text_of(page, "total-calls") == "10"


def test_the_cached_30_days_roll_over_at_midnight_utc(member_client, acme_usage, monkeypatch):
    label = lambda day: f"{day:%a} {day.day} {day:%b %Y}"  # noqa: E731
    today = utc_today()
    assert table_rows(member_client.get("/").content.decode(), "daily-calls")[1][0] == label(today)

    monkeypatch.setattr(selectors, "utc_today", lambda: today + timedelta(days=1))
    rows = table_rows(member_client.get("/").content.decode(), "daily-calls")

    assert rows[1][0] == label(today + timedelta(days=1))
    assert len(rows) == 1 + 30
