"""Ask support about this error: a ticket prefilled from an error-log row, each linked to the other."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from dashboard import services as dashboard_services
from dashboard.models import DailyMethodCount, ErrorLog
from support import services
from support.models import Category, Ticket
from tests.conftest import log_in, page_text
from tests.dashboard.helpers import table_rows

AT = datetime(2026, 11, 26, 9, 41, 7, tzinfo=UTC)


def failed_call(organisation, *, request_id: str = "req_7f3a", at: datetime | None = None) -> ErrorLog:
    moment = at or datetime.now(UTC) - timedelta(hours=1)
    DailyMethodCount.objects.get_or_create(organisation=organisation, method="Detokenize", day=moment.date())
    return ErrorLog.objects.create(
        organisation=organisation,
        at=moment,
        method="Detokenize",
        code="TOKEN_NOT_FOUND",
        message="No such token.",
        request_id=request_id,
        source_ip="203.0.113.9",
    )


def support_cell(client: Client) -> list[str]:
    return [row[-1] for row in table_rows(client.get("/errors/").content.decode(), "error-log")[1:]]


def test_each_error_log_row_offers_to_ask_support(member_client, organisation):
    error = failed_call(organisation)

    page = page_text(member_client.get("/errors/"))

    assert table_rows(page, "error-log")[0][-1] == "Support"
    link = f'href="/tickets/new/error/{error.pk}/" aria-label="Ask support about request req_7f3a">Ask support</a>'
    assert link in page


def test_the_ticket_is_prefilled_with_the_failed_call(member_client, organisation):
    error = failed_call(organisation, at=AT)

    response = member_client.get(f"/tickets/new/error/{error.pk}/")

    assert response.status_code == 200
    form = response.context["form"]
    assert form["subject"].value() == "TOKEN_NOT_FOUND on Detokenize at 2026-11-26 09:41:07 UTC"
    assert form["category"].value() == Category.PROBLEM
    assert form["body"].value() == (
        "About this failed API call:\n"
        "- Request id: req_7f3a\n"
        "- Method: Detokenize\n"
        "- Error code: TOKEN_NOT_FOUND\n"
        "- Time: 2026-11-26 09:41:07 UTC\n"
        "- Message: No such token.\n"
        "\n"
        "What were you doing, and what did you expect to happen?"
    )
    page = page_text(response)
    assert "<h1>Ask support about this error</h1>" in page
    assert "<dt>Request id</dt><dd><code>req_7f3a</code></dd>" in page


def test_sending_it_opens_a_ticket_linked_to_the_row_both_ways(
    member_client, member, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    error = failed_call(organisation)
    form = member_client.get(f"/tickets/new/error/{error.pk}/").context["form"]
    data = {name: form[name].value() for name in ("subject", "category", "body")}
    data["body"] += "\nWe called it with a token made a minute before."

    with django_capture_on_commit_callbacks(execute=True):
        response = member_client.post(f"/tickets/new/error/{error.pk}/", data)

    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response.url == f"/tickets/{ticket.pk}/"
    assert (ticket.error_log_id, ticket.error_request_id, ticket.opened_by) == (error.pk, "req_7f3a", member)
    assert ticket.body.endswith("We called it with a token made a minute before.")
    assert AuditEvent.objects.get(action="ticket.opened").details == {"request_id": "req_7f3a"}
    assert [m.to for m in mailoutbox] == [["support@example.com"]]  # support hears of it, as of any ticket
    assert "- Request id: req_7f3a" in mailoutbox[0].body
    detail = page_text(member_client.get(response.url))
    assert "The failed call" in detail and "<dd><code>req_7f3a</code></dd>" in detail
    assert support_cell(member_client) == [f"Ticket #{ticket.pk}"]
    asked_again = page_text(member_client.get(f"/tickets/new/error/{error.pk}/"))
    assert f'Already asked about this call: <a href="/tickets/{ticket.pk}/">Ticket #{ticket.pk}</a>' in asked_again


def test_a_colleague_not_included_sees_ask_support_not_the_ticket(member_client, owner, organisation, colleague):
    error = failed_call(organisation)
    services.open_ticket(user=owner, subject="s", body="b", category="problem", error_log=error)  # admin's own ticket

    assert support_cell(log_in(Client(), colleague)) == ["Ask support"]
    assert support_cell(log_in(Client(), owner)) == [f"Ticket #{Ticket.objects.get().pk}"]


def test_another_organisations_row_is_not_found_and_no_ticket_is_opened(outsider_client, organisation):
    error = failed_call(organisation)

    assert outsider_client.get(f"/tickets/new/error/{error.pk}/").status_code == 404
    response = outsider_client.post(
        f"/tickets/new/error/{error.pk}/", {"subject": "x", "category": "problem", "body": "y"}
    )

    assert response.status_code == 404
    assert not Ticket.objects.exists()


def test_the_service_refuses_a_row_of_another_organisation(outsider, organisation):
    error = failed_call(organisation)

    with pytest.raises(ValidationError, match="not one of your organisation's"):
        services.open_ticket(user=outsider, subject="s", body="b", category="problem", error_log=error)
    assert not Ticket.objects.exists()


def test_once_the_row_is_past_retention_the_ticket_says_so_and_keeps_its_request_id(
    member_client, member, organisation, settings
):
    settings.ERROR_LOG_RETENTION_DAYS = 7
    error = failed_call(organisation, at=datetime.now(UTC) - timedelta(days=8))
    ticket = services.open_ticket(user=member, subject="s", body="b", category="problem", error_log=error)

    assert dashboard_services.delete_old_error_logs() == 1  # the retention is not held up by the ticket

    page = page_text(member_client.get(f"/tickets/{ticket.pk}/"))
    assert (
        "The error-log row of request <code>req_7f3a</code> is no longer kept (failed calls are kept 7 days)."
    ) in page
    ticket.refresh_from_db()
    assert (ticket.error_log_id, ticket.error_request_id) == (error.pk, "req_7f3a")


def test_support_sees_the_same_link_in_the_admin(support_client, member, organisation):
    error = failed_call(organisation, at=AT)
    ticket = services.open_ticket(user=member, subject="s", body="b", category="problem", error_log=error)

    ticket_page = page_text(support_client.get(f"/admin/support/ticket/{ticket.pk}/change/"))
    error_page = page_text(support_client.get(f"/admin/dashboard/errorlog/{error.pk}/change/"))

    assert re.search(
        rf'<a href="/admin/dashboard/errorlog/{error.pk}/change/">2026-11-26 09:41:07\+00:00 Detokenize '
        r"TOKEN_NOT_FOUND \(request req_7f3a\)</a>",
        ticket_page,
    )
    assert f'<a href="/admin/support/ticket/{ticket.pk}/change/">Ticket #{ticket.pk}</a>' in error_page

    ErrorLog.objects.filter(pk=error.pk).delete()
    gone = page_text(support_client.get(f"/admin/support/ticket/{ticket.pk}/change/"))
    assert "Request req_7f3a: no longer in the error log" in gone


def test_the_error_log_reads_one_query_for_the_tickets_of_a_whole_page(member_client, member, organisation, settings):
    settings.TICKETS_PER_USER_PER_HOUR = settings.TICKETS_PER_ORGANISATION_PER_HOUR = 100  # not what this is about
    errors = [failed_call(organisation, request_id=f"req_{n}") for n in range(3)]
    services.open_ticket(user=member, subject="s", body="b", category="problem", error_log=errors[0])
    member_client.get("/errors/")
    with CaptureQueriesContext(connection) as few:
        member_client.get("/errors/")

    for error in [*errors, *(failed_call(organisation, request_id=f"more_{n}") for n in range(60))]:
        services.open_ticket(user=member, subject="s", body="b", category="problem", error_log=error)
    with CaptureQueriesContext(connection) as many:
        member_client.get("/errors/")

    assert len(many) == len(few)
    assert len([q for q in many.captured_queries if "support_ticket" in q["sql"]]) == 1
