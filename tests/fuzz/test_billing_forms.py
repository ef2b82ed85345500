"""InvoiceFilterForm at /billing/ (the organisation's admin), from the query string."""

import datetime

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from billing.forms import PORTAL_STATUSES
from billing.models import Status
from tests.billing.helpers import make_invoice
from tests.fuzz.checks import assert_filter_page
from tests.fuzz.strategies import FUZZ, NUMBERS, raw_query_strings, submissions


@pytest.fixture
def invoices(organisation):
    return [
        make_invoice(organisation, number="INV-2020-001", issue_date=datetime.date(2020, 1, 15)),
        make_invoice(organisation, number="INV-2024-007", issue_date=datetime.date(2024, 7, 1), status=Status.PAID),
        make_invoice(organisation, number="INV-2025-002", issue_date=datetime.date(2025, 2, 1), status=Status.OVERDUE),
    ]


filters = st.fixed_dictionaries(
    {},
    optional={
        "year": st.sampled_from(["", "2020", "2024", "2025"]),
        "status": st.sampled_from(["", *(value for value, _ in PORTAL_STATUSES)]),
        "page": st.sampled_from(["1", "2"]),
    },
)


@FUZZ
@given(
    submission=submissions(filters, tricky=NUMBERS | st.sampled_from(["draft", "void", "2019", "ISSUED"]), files=False)
)
def test_invoice_filters_list_exactly_the_matching_invoices_or_say_what_is_wrong(owner_client, invoices, submission):
    response = submission.get(owner_client, "/billing/")

    refused = assert_filter_page(response, bad_filter_status=200)
    event("refused" if refused else "listed")
    if refused:
        assert not submission.pristine, "filters offered by the page were refused"
        return
    query = response.wsgi_request.GET
    expected = [
        i.number
        for i in invoices
        if (not query.get("year") or i.issue_date.year == int(query["year"]))
        and (not query.get("status") or i.status == query["status"])
    ]
    assert sorted(i.number for i in response.context["invoices"]) == sorted(expected)


@FUZZ
@given(query=raw_query_strings())
def test_invoice_list_answers_any_query_string(owner_client, invoices, query):
    assert_filter_page(owner_client.get(f"/billing/?{query}"), bad_filter_status=200)
