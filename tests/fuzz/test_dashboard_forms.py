"""ErrorFilterForm at /errors/ and /errors/export.csv, and UsageRangeForm (?days=) at / and
/usage/export.csv (any user), from the query string."""

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from django import forms
from hypothesis import event, given
from hypothesis import strategies as st

from dashboard.models import DailyMethodCount, ErrorLog
from dashboard.views import CHOSEN_RANGE_KEY
from tests.fuzz.checks import assert_filter_page, counts
from tests.fuzz.strategies import DATE_LIKE, FUZZ, iso_dates, raw_query_strings, submissions

METHODS = ["Tokenize", "Detokenize"]
CODES = ["TOKEN_NOT_FOUND", "RATE_LIMITED"]


@pytest.fixture
def errors(organisation) -> list[ErrorLog]:
    """Failed calls of the last days, as the platform reported them."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    rows = []
    for n in range(6):
        at = today - timedelta(days=n * 7)
        method, code = METHODS[n % 2], CODES[n // 3]
        rows.append(
            ErrorLog.objects.create(
                organisation=organisation,
                at=at,
                method=method,
                code=code,
                request_id=f"req_{n}",
                source_ip="203.0.113.9",
            )
        )
        DailyMethodCount.objects.update_or_create(
            organisation=organisation, method=method, day=at.date(), defaults={"calls": 10, "errors": 1}
        )
    return rows


filters = st.fixed_dictionaries(
    {},
    optional={
        "from": iso_dates | st.just(""),
        "to": iso_dates | st.just(""),
        "method": st.sampled_from(["", *METHODS]),
        "code": st.sampled_from(["", *CODES, "NO_SUCH_CODE"]),
    },
)


def _date(text: str) -> date:
    """A filter date read as the form reads it (Django's date formats: "0001-1-1" is 1 January 1)."""
    day = forms.DateField().to_python(text)
    assert day is not None
    return day


def _matches(row: ErrorLog, query) -> bool:
    """Whether the row passes the filters as the form reads them (text fields stripped)."""
    start, end, code = (query.get(name, "").strip() for name in ("from", "to", "code"))
    day = row.at.astimezone(UTC).date()
    return (
        (not start or day >= _date(start))
        and (not end or day <= _date(end))
        and (not query.get("method") or row.method == query["method"])
        and (not code or row.code.upper() == code.upper())  # the code filter ignores case
    )


@FUZZ
@given(submission=submissions(filters, tricky=DATE_LIKE, files=False))
def test_error_log_lists_exactly_the_matching_errors_or_says_what_is_wrong(member_client, errors, submission):
    data = submission.data
    backwards = submission.pristine and "" < data.get("to", "") < data.get("from", "")  # ISO dates sort as text
    before = counts(ErrorLog)

    response = submission.get(member_client, "/errors/")

    refused = assert_filter_page(response, bad_filter_status=400)
    event("refused" if refused else "listed")
    if response.status_code == 400:
        assert not submission.pristine or backwards, "well-formed filters were refused"
    else:
        assert not backwards
        query = response.wsgi_request.GET
        shown = response.context["page"].rows
        assert all(_matches(row, query) for row in shown)
        if submission.pristine:
            assert sorted(r.pk for r in shown) == sorted(r.pk for r in errors if _matches(r, query))
    assert counts(ErrorLog) == before

    export = submission.get(member_client, "/errors/export.csv")
    if export.status_code == 302:  # refused filters: back to the page, which says what is wrong
        assert export.url.startswith("/errors/?") or export.url == "/errors/"  # the latter for huge filters
        assert response.status_code == 400
    else:
        assert export.status_code == 200
        rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
        assert len(rows) - 1 == sum(_matches(r, export.wsgi_request.GET) for r in errors)


@FUZZ
@given(query=raw_query_strings())
@pytest.mark.parametrize("url", ["/errors/", "/errors/export.csv"])
def test_error_log_answers_any_query_string(member_client, errors, url, query):
    response = member_client.get(f"{url}?{query}")

    if url.endswith(".csv"):
        assert response.status_code in (200, 302)
        if response.status_code == 200:
            b"".join(response.streaming_content)
    else:
        assert_filter_page(response, bad_filter_status=400)


ranges = st.fixed_dictionaries(
    {}, optional={"days": st.sampled_from(["7", "30", "90"]) | st.text(max_size=12) | st.integers().map(str)}
)


@FUZZ
@given(submission=submissions(ranges, files=False))
def test_dashboard_shows_the_chosen_range_or_the_default_with_a_message(member_client, errors, submission):
    # Without a range the page shows the one chosen last in this session (30 days at first).
    remembered = str(member_client.session.get(CHOSEN_RANGE_KEY, 30))
    response = submission.get(member_client, "/")

    assert response.status_code == 200
    asked = response.wsgi_request.GET.get("days", "")
    shown = asked if asked in ("7", "30", "90") else remembered if asked == "" else "30"
    text = response.content.decode()
    assert f"API usage, last {shown} days" in text
    # Said as a warning (the home page may carry other notices, such as the fallback-phone reminder).
    assert (asked not in ("", "7", "30", "90")) == ("The dashboard shows 7, 30 or 90 days" in text)

    export = submission.get(member_client, "/usage/export.csv")
    if asked in ("", "7", "30", "90"):
        assert export.status_code == 200
        b"".join(export.streaming_content)
    else:
        assert (export.status_code, export.url) == (302, "/")


@FUZZ
@given(query=raw_query_strings())
@pytest.mark.parametrize("url", ["/", "/usage/export.csv"])
def test_dashboard_and_usage_download_answer_any_query_string(member_client, errors, url, query):
    response = member_client.get(f"{url}?{query}")

    assert response.status_code in ((200, 302) if url.endswith(".csv") else (200,))
    if response.streaming:
        b"".join(response.streaming_content)
