"""/errors/: the organisation's failed calls, filtered by date, method and code, 50 to a page."""

from datetime import UTC, datetime, timedelta
from html import unescape
from urllib.parse import urljoin

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dashboard import selectors
from dashboard.models import DailyMethodCount, ErrorLog
from tests.dashboard.helpers import days_ago, error_event, ok_event, table_rows, utc_today

HEADER = ["Time (UTC)", "Method", "Code", "Message", "Request id", "Source IP", "Support"]


def rows(response) -> list[list[str]]:
    return table_rows(response.content.decode(), "error-log")[1:]


def request_ids(response) -> list[str]:
    return [row[4] for row in rows(response)]


def link(response, label: str) -> str | None:
    """The address the pagination link with this label goes to, or None."""
    page = response.content.decode()
    end = page.find(label)
    if end == -1:
        return None
    start = page.rfind('href="', 0, end) + len('href="')
    return urljoin("/errors/", unescape(page[start : page.index('"', start)]))


@pytest.fixture
def failures(report, organisation):
    """Three days of Acme failures: two methods, three codes."""
    org = organisation.public_id
    report(
        error_event(org, "Tokenize", days_ago(3, 9), code="INVALID_INPUT", request_id="r-old", message="Bad PAN."),
        error_event(org, "Tokenize", days_ago(2, 9), code="RATE_LIMITED", request_id="r-mid-1"),
        error_event(org, "Detokenize", days_ago(2, 18), code="TOKEN_NOT_FOUND", request_id="r-mid-2"),
        error_event(
            org,
            "Detokenize",
            days_ago(1, 8, 30),
            code="TOKEN_NOT_FOUND",
            request_id="r-new",
            message="No such token.",
            source_ip="2001:db8::7",
        ),
        ok_event(org, "Validate", days_ago(1)),
    )


def test_error_log_lists_every_detail_newest_first(member_client, failures):
    response = member_client.get("/errors/")

    assert response.status_code == 200
    assert table_rows(response.content.decode(), "error-log")[0] == HEADER
    at = days_ago(1, 8, 30)
    assert rows(response)[0] == [
        f"{at.day} {at:%b %Y}, 08:30",  # the portal's one date-time format, to the minute
        "Detokenize",
        "TOKEN_NOT_FOUND",
        "No such token.",
        "r-new",
        "2001:db8::7",
        "Ask support",
    ]
    assert request_ids(response) == ["r-new", "r-mid-2", "r-mid-1", "r-old"]
    exact = f"{at:%Y-%m-%d}T08:30:00+00:00"  # to the second, on hover and for machines
    assert f'<time datetime="{exact}" title="{exact}">' in response.content.decode()


def test_method_filter_offers_the_methods_that_failed(member_client, failures):
    page = member_client.get("/errors/").content.decode()

    assert '<option value="Tokenize">Tokenize</option>' in page
    assert '<option value="Detokenize">Detokenize</option>' in page
    assert '<option value="Validate">' not in page  # it never failed


def test_filter_by_method(member_client, failures):
    assert request_ids(member_client.get("/errors/?method=Tokenize")) == ["r-mid-1", "r-old"]


def test_filter_by_code(member_client, failures):
    assert request_ids(member_client.get("/errors/?code=TOKEN_NOT_FOUND")) == ["r-new", "r-mid-2"]
    assert request_ids(member_client.get("/errors/?code=+RATE_LIMITED+")) == ["r-mid-1"]


def test_code_filter_ignores_case(member_client, failures):
    assert request_ids(member_client.get("/errors/?code=token_not_found")) == ["r-new", "r-mid-2"]
    assert request_ids(member_client.get("/errors/?code=Rate_Limited")) == ["r-mid-1"]


def test_code_filter_reads_the_case_insensitive_index(member, failures):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's planner")
    errors = selectors.filtered_errors(user=member, filters=selectors.ErrorFilters(code="token_not_found"))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = errors.explain()

    assert "errorlog_org_code_upper_at" in plan, plan


def test_a_method_that_was_called_but_never_failed_gives_an_empty_result(member_client, failures):
    response = member_client.get("/errors/?method=Validate")

    assert response.status_code == 200
    page = response.content.decode()
    assert "No errors match these filters" in page
    assert '<option value="Validate" selected>Validate</option>' in page


def test_filter_by_date_range_takes_whole_utc_days(member_client, failures):
    two_days_ago = (utc_today() - timedelta(days=2)).isoformat()

    assert request_ids(member_client.get(f"/errors/?from={two_days_ago}&to={two_days_ago}")) == ["r-mid-2", "r-mid-1"]
    assert request_ids(member_client.get(f"/errors/?from={two_days_ago}")) == ["r-new", "r-mid-2", "r-mid-1"]
    assert request_ids(member_client.get(f"/errors/?to={two_days_ago}")) == ["r-mid-2", "r-mid-1", "r-old"]


def test_filters_combine(member_client, failures):
    two_days_ago = (utc_today() - timedelta(days=2)).isoformat()

    response = member_client.get(f"/errors/?from={two_days_ago}&method=Detokenize&code=TOKEN_NOT_FOUND")

    assert request_ids(response) == ["r-new", "r-mid-2"]


def test_no_match_says_so(member_client, failures):
    page = member_client.get("/errors/?code=NOPE").content.decode()

    assert "No errors match these filters" in page


def test_empty_log_explains_how_errors_arrive(member_client):
    page = member_client.get("/errors/").content.decode()

    assert "No failed calls" in page
    assert "the platform reports it to the portal" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=yesterday", "Enter a valid date."),
        ("to=2025-02-30", "Enter a valid date."),
        ("from=2025-03-10&to=2025-03-01", "The “from” date is after the “to” date."),
        ("method=DropTables", "Select a valid choice. DropTables is not one of the available choices."),
        ("code=" + "C" * 65, "Ensure this value has at most 64 characters (it has 65)."),
        ("to=9999-12-31", None),
        ("from=0001-01-01", None),
    ],
)
def test_bad_filter_gets_a_message_not_an_error_page(member_client, failures, query, message):
    response = member_client.get(f"/errors/?{query}")

    page = unescape(response.content.decode())
    if message is None:  # extreme but valid dates
        assert response.status_code == 200
        assert len(rows(response)) == 4
    else:
        assert response.status_code == 400
        assert message in page
        assert rows(response) == []


def test_bad_page_link_shows_the_newest_errors_with_a_message(member_client, failures):
    response = member_client.get("/errors/?older=not-a-cursor", follow=True)

    assert "That page link is not valid: here are the newest errors." in response.content.decode()
    assert request_ids(response)[0] == "r-new"


@pytest.fixture
def many_failures(organisation):
    """120 Tokenize failures a minute apart (newest: n=0), and 10 Detokenize ones in between."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    ErrorLog.objects.bulk_create(
        ErrorLog(
            organisation=organisation,
            at=start - timedelta(minutes=n),
            method="Detokenize" if n % 13 == 5 else "Tokenize",
            code="E1",
            message="",
            request_id=f"r{n:03d}",
            source_ip="10.0.0.1",
        )
        for n in range(130)
    )
    DailyMethodCount.objects.bulk_create(
        DailyMethodCount(organisation=organisation, method=m, day=utc_today(), calls=130, errors=10)
        for m in ["Tokenize", "Detokenize"]
    )


def test_pages_of_fifty_walk_older_and_back_newer(member_client, many_failures):
    first = member_client.get("/errors/")
    assert request_ids(first) == [f"r{n:03d}" for n in range(50)]
    assert link(first, "← Newer") is None

    second = member_client.get(link(first, "Older →"))
    assert request_ids(second) == [f"r{n:03d}" for n in range(50, 100)]

    third = member_client.get(link(second, "Older →"))
    assert request_ids(third) == [f"r{n:03d}" for n in range(100, 130)]
    assert link(third, "Older →") is None

    back = member_client.get(link(third, "← Newer"))
    assert request_ids(back) == request_ids(second)
    top = member_client.get(link(back, "← Newer"))
    assert request_ids(top) == request_ids(first)


def test_page_links_keep_the_filters(member_client, many_failures):
    first = member_client.get("/errors/?method=Tokenize&code=E1")
    older = link(first, "Older →")

    assert "method=Tokenize" in older
    assert "code=E1" in older
    second = member_client.get(older)
    tokenize = [f"r{n:03d}" for n in range(130) if n % 13 != 5]
    assert request_ids(first) == tokenize[:50]
    assert request_ids(second) == tokenize[50:100]
    assert "method=Tokenize" in link(second, "← Newer")


def test_rows_at_the_same_instant_are_neither_skipped_nor_repeated(member_client, organisation):
    same_time = datetime.now(UTC) - timedelta(hours=1)
    ErrorLog.objects.bulk_create(
        ErrorLog(
            organisation=organisation,
            at=same_time,
            method="Tokenize",
            code="E",
            message="",
            request_id=f"r{n}",
            source_ip="10.0.0.1",
        )
        for n in range(75)
    )

    first = member_client.get("/errors/")
    second = member_client.get(link(first, "Older →"))

    seen = request_ids(first) + request_ids(second)
    assert sorted(seen) == sorted(f"r{n}" for n in range(75))


def test_another_organisations_errors_are_never_listed(member_client, outsider_browser, failures, other_organisation):
    ErrorLog.objects.create(
        organisation=other_organisation,
        at=days_ago(1),
        method="Tokenize",
        code="GLOBEX_ONLY",
        message="Globex secret",
        request_id="globex-1",
        source_ip="10.9.9.9",
    )

    acme = member_client.get("/errors/?code=GLOBEX_ONLY")
    globex = outsider_browser.get("/errors/")

    assert rows(acme) == []
    assert "Globex secret" not in member_client.get("/errors/").content.decode()
    assert request_ids(globex) == ["globex-1"]


def _bulk_errors(organisation, count, start):
    ErrorLog.objects.bulk_create(
        (
            ErrorLog(
                organisation=organisation,
                at=start - timedelta(seconds=n),
                method="Tokenize",
                code="E",
                message="m",
                request_id=str(n),
                source_ip="10.0.0.1",
            )
            for n in range(count)
        ),
        batch_size=1000,
    )


@pytest.mark.parametrize("query", ["", "?method=Tokenize&code=E"])
def test_error_log_query_count_does_not_grow_with_the_data(member_client, organisation, query):
    DailyMethodCount.objects.create(organisation=organisation, method="Tokenize", day=utc_today(), calls=9, errors=9)
    now = datetime.now(UTC)
    _bulk_errors(organisation, 10, now - timedelta(minutes=1))
    member_client.get("/errors/" + query)
    with CaptureQueriesContext(connection) as few:
        assert member_client.get("/errors/" + query).status_code == 200

    _bulk_errors(organisation, 10_000, now - timedelta(days=1))
    with CaptureQueriesContext(connection) as many:
        first = member_client.get("/errors/" + query)
    with CaptureQueriesContext(connection) as many_older:
        older = member_client.get(link(first, "Older →"))

    assert len(many) == len(few)
    assert len(many_older) == len(few)
    assert len(rows(first)) == len(rows(older)) == 50


def test_error_log_needs_a_login(client, db):
    response = client.get("/errors/")

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_error_log_is_in_the_main_navigation(member_client):
    page = member_client.get("/errors/").content.decode()

    assert '<a href="/errors/" aria-current="page">Error logs</a>' in page


def test_what_the_platform_sent_is_shown_escaped_with_the_time_in_utc(member_client, organisation):
    ErrorLog.objects.create(
        organisation=organisation,
        at=datetime(2026, 12, 3, 9, 5, 7, tzinfo=UTC),
        method="Tokenize",
        code="<b>BAD</b>",
        message="<script>alert(\"x\")</script> & 'quoted'",
        request_id='req"><img src=x onerror=alert(1)>',
        source_ip="192.0.2.9",
    )

    page = member_client.get("/errors/").content.decode()

    assert "<script>" not in page.split('id="error-log"')[1] and "<img src=x" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;quoted&#x27;" in page
    assert "<code>&lt;b&gt;BAD&lt;/b&gt;</code>" in page
    assert 'aria-label="Ask support about request req&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"' in page
    iso = "2026-12-03T09:05:07+00:00"
    assert f'<time datetime="{iso}" title="{iso}">3 Dec 2026, 09:05</time>' in page
