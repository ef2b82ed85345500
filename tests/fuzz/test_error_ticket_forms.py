"""TicketForm at /tickets/new/error/<id>/ ("Ask support" on an error-log row), posted by a member."""

from datetime import UTC, datetime

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from dashboard.models import ErrorLog
from support.models import Attachment, Comment, Ticket
from tests.fuzz.checks import assert_refused, counts, forget_rate_limits, sent
from tests.fuzz.strategies import FUZZ, NUMBERS, printable_text, submissions

TICKET_ROWS = (Ticket, Comment, Attachment)


@pytest.fixture
def error(organisation) -> ErrorLog:
    return ErrorLog.objects.create(
        organisation=organisation,
        at=datetime(2026, 11, 26, 9, 41, 7, tzinfo=UTC),
        method="Detokenize",
        code="TOKEN_NOT_FOUND",
        message="No such token.",
        request_id="req_7f3a",
        source_ip="203.0.113.9",
    )


@st.composite
def tickets(draw: st.DrawFn) -> dict[str, object]:
    return {
        "subject": draw(printable_text),
        "category": draw(st.sampled_from(["question", "problem"])),
        "body": "About this failed API call:\r\n- Request id: req_7f3a\r\n" + draw(printable_text),
    }


@FUZZ
@given(submission=submissions(tickets(), tricky=NUMBERS | st.just("company_details")))
def test_a_ticket_about_the_row_is_opened_as_sent_or_not_at_all(member, member_client, error, submission):
    before = counts(*TICKET_ROWS)

    forget_rate_limits()
    response = submission.post(member_client, f"/tickets/new/error/{error.pk}/")

    opened = response.status_code == 302
    event("opened" if opened else "refused")
    if opened:
        ticket = Ticket.objects.latest("id")
        assert response.url == f"/tickets/{ticket.pk}/"
        assert (ticket.subject, ticket.body) == (sent(response, "subject").strip(), sent(response, "body").strip())
        assert (ticket.error_log_id, ticket.error_request_id, ticket.opened_by) == (error.pk, "req_7f3a", member)
        files = len(response.wsgi_request.FILES.getlist("attachments"))
        assert counts(*TICKET_ROWS)["support.Ticket"] == before["support.Ticket"] + 1
        assert counts(*TICKET_ROWS)["support.Attachment"] == before["support.Attachment"] + files
    else:
        assert not submission.pristine, "a filled-in ticket was refused"
        assert_refused(response)
        assert counts(*TICKET_ROWS) == before
