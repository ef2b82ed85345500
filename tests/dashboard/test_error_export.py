"""/errors/export.csv: the filtered error log as a CSV file a spreadsheet opens safely."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.models import DailyMethodCount, ErrorLog
from tests.dashboard.helpers import days_ago, error_event, utc_today

HEADER = ["time_utc", "method", "code", "message", "request_id", "source_ip"]


def csv_rows(response) -> list[list[str]]:
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def test_export_is_a_csv_attachment_of_every_matching_row(member_client, report, organisation):
    org = organisation.public_id
    report(
        *(error_event(org, "Tokenize", days_ago(1, 9, m), request_id=f"t{m:02d}") for m in range(60)),
        error_event(org, "Detokenize", days_ago(1, 12), code="RATE_LIMITED", message='Say "hi", then, wait'),
    )

    response = member_client.get("/errors/export.csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="error-log-{utc_today():%Y-%m-%d}.csv"'
    rows = csv_rows(response)
    assert rows[0] == HEADER
    assert len(rows) == 1 + 61  # every row, not one page of fifty
    assert rows[1] == [
        days_ago(1, 12).isoformat(),
        "Detokenize",
        "RATE_LIMITED",
        'Say "hi", then, wait',
        "req_1",
        "203.0.113.9",
    ]
    assert [row[4] for row in rows[2:]] == [f"t{m:02d}" for m in range(59, -1, -1)]


def test_export_follows_the_filters(member_client, report, organisation):
    org = organisation.public_id
    report(
        error_event(org, "Tokenize", days_ago(3), code="A", request_id="old-a"),
        error_event(org, "Tokenize", days_ago(1), code="A", request_id="new-a"),
        error_event(org, "Tokenize", days_ago(1), code="B", request_id="new-b"),
        error_event(org, "Detokenize", days_ago(1), code="A", request_id="new-a-detok"),
    )
    since = (utc_today() - timedelta(days=2)).isoformat()

    response = member_client.get(f"/errors/export.csv?from={since}&method=Tokenize&code=A")

    assert [row[4] for row in csv_rows(response)[1:]] == ["new-a"]


def test_export_link_on_the_page_carries_the_filters(member_client, report, organisation):
    report(error_event(organisation.public_id, "Tokenize", days_ago(1)))

    page = member_client.get("/errors/?method=Tokenize&code=X").content.decode()

    assert 'href="/errors/export.csv?method=Tokenize&amp;code=X"' in page


@pytest.mark.parametrize(
    ("sent", "exported"),
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("plain = text", "plain = text"),
    ],
)
def test_cells_that_a_spreadsheet_would_run_are_quoted(member_client, report, organisation, sent, exported):
    report(error_event(organisation.public_id, "-Delete", days_ago(1), code=sent.strip() or "X", message=sent))

    row = csv_rows(member_client.get("/errors/export.csv"))[1]

    assert row[1] == "'-Delete"
    assert row[3] == exported
    assert row[2] == ("'" + sent.strip() if sent.strip()[0] in "=+-@" else sent.strip())


def test_export_never_contains_another_organisations_errors(
    member_client, outsider_browser, report, organisation, other_organisation
):
    report(error_event(organisation.public_id, request_id="acme-1"))
    ErrorLog.objects.create(
        organisation=other_organisation,
        at=datetime.now(UTC) - timedelta(hours=1),
        method="Tokenize",
        code="E",
        message="Globex secret",
        request_id="globex-1",
        source_ip="10.0.0.1",
    )

    acme = csv_rows(member_client.get("/errors/export.csv"))
    globex = csv_rows(outsider_browser.get("/errors/export.csv"))

    assert [row[4] for row in acme[1:]] == ["acme-1"]
    assert [row[4] for row in globex[1:]] == ["globex-1"]


def test_bad_filters_send_the_user_back_with_the_message(member_client, organisation):
    DailyMethodCount.objects.create(organisation=organisation, method="Tokenize", day=utc_today(), calls=1, errors=1)

    response = member_client.get("/errors/export.csv?from=2025-03-10&to=2025-03-01", follow=True)

    assert response.redirect_chain == [("/errors/?from=2025-03-10&to=2025-03-01", 302)]
    page = response.content.decode()
    assert "Correct the filters, then export again." in page
    assert "The “from” date is after the “to” date." in page


def test_export_needs_a_login(client, db):
    response = client.get("/errors/export.csv")

    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_export_with_a_huge_refused_filter_goes_back_to_the_page_with_the_message(member_client):
    response = member_client.get("/errors/export.csv", {"method": "x" * 20_000, "from": "not a date"}, follow=True)

    assert response.redirect_chain == [("/errors/", 302)]
    assert "Correct the filters, then export again." in response.content.decode()
