"""TicketForm at /tickets/new/, CommentForm at /tickets/<id>/, StatusFilterForm at /tickets/ and
ChangeRequestForm at /profile/company-change/ (a company-details change is a ticket)."""

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from accounts.models import CompanyDetailsChangeRequest
from support.models import Attachment, Comment, Status, Ticket
from support.services import open_ticket
from tests.fuzz.checks import assert_filter_page, assert_refused, counts, forget_rate_limits, sent, stored_objects
from tests.fuzz.strategies import (
    ACCEPTED_CONTENT,
    FEW,
    FUZZ,
    NUMBERS,
    accepted_file,
    file_names,
    printable_text,
    raw_query_strings,
    submissions,
)

TICKET_ROWS = (Ticket, Comment, Attachment)
attachments = st.lists(st.builds(accepted_file, file_names, st.sampled_from(ACCEPTED_CONTENT)), max_size=2)
# Several lines (as a textarea sends them), or a body near the 10,000-character limit.
long_text = st.lists(printable_text, max_size=3).map("\r\n".join) | st.just("x" * 9_000)


@st.composite
def tickets(draw: st.DrawFn) -> dict[str, object]:
    data: dict[str, object] = {
        "subject": draw(printable_text),
        "category": draw(st.sampled_from(["question", "problem"])),
        "body": draw(printable_text) + "\r\n" + draw(long_text),
    }
    participants = draw(st.lists(st.sampled_from(["{owner}", "{colleague}"]), unique=True))
    if participants:
        data["participants"] = participants
    files = draw(attachments)
    if files:
        data["attachments"] = files
    return data


@pytest.fixture
def colleague(organisation):
    from tests.factories import UserFactory

    return UserFactory.create(organisation=organisation, email="cleo@acme.example")


@FUZZ
@given(submission=submissions(tickets(), tricky=NUMBERS | st.just("{outsider}")))
def test_ticket_is_opened_with_exactly_its_people_and_files_or_not_at_all(
    owner, member, colleague, outsider, member_client, submission
):
    submission = submission.filled(owner=str(owner.pk), colleague=str(colleague.pk), outsider=str(outsider.pk))
    before, objects = counts(*TICKET_ROWS), len(stored_objects())

    forget_rate_limits()  # new tickets per user and organisation per hour
    response = submission.post(member_client, "/tickets/new/")

    opened = response.status_code == 302
    event("opened" if opened else "refused")
    if opened:
        ticket = Ticket.objects.latest("id")
        assert response.url == f"/tickets/{ticket.pk}/"
        files = len(response.wsgi_request.FILES.getlist("attachments"))
        assert counts(*TICKET_ROWS) == {
            "support.Ticket": before["support.Ticket"] + 1,
            "support.Comment": before["support.Comment"],
            "support.Attachment": before["support.Attachment"] + files,
        }
        assert len(stored_objects()) == objects + files
        assert (ticket.subject, ticket.body) == (sent(response, "subject").strip(), sent(response, "body").strip())
        assert (ticket.opened_by, ticket.organisation) == (member, member.organisation)
        chosen = set(response.wsgi_request.POST.getlist("participants"))
        assert {str(p.pk) for p in ticket.participants.all()} == chosen
    else:
        assert not submission.pristine, "a filled-in ticket was refused"
        assert_refused(response)
        assert counts(*TICKET_ROWS) == before
        assert len(stored_objects()) == objects


@pytest.fixture
def ticket(member):
    return open_ticket(acting_user=member, subject="Invoice question", body="Which address?", category="question")


@st.composite
def comments(draw: st.DrawFn) -> dict[str, object]:
    data: dict[str, object] = {"body": draw(printable_text)}
    files = draw(attachments)
    if files:
        data["attachments"] = files
    return data


@FUZZ
@given(submission=submissions(comments()))
def test_comment_is_added_with_its_files_or_not_at_all(member, member_client, ticket, submission):
    before, objects = counts(*TICKET_ROWS), len(stored_objects())

    forget_rate_limits()  # replies per user and organisation per hour
    response = submission.post(member_client, f"/tickets/{ticket.pk}/")

    added = response.status_code == 302
    event("commented" if added else "refused")
    if added:
        assert response.url == f"/tickets/{ticket.pk}/"
        files = len(response.wsgi_request.FILES.getlist("attachments"))
        assert counts(*TICKET_ROWS) == {
            "support.Ticket": before["support.Ticket"],
            "support.Comment": before["support.Comment"] + 1,
            "support.Attachment": before["support.Attachment"] + files,
        }
        assert len(stored_objects()) == objects + files
        comment = Comment.objects.latest("id")
        assert (comment.ticket, comment.author, comment.body) == (ticket, member, sent(response, "body").strip())
    else:
        assert not submission.pristine, "a comment was refused"
        assert_refused(response)
        assert counts(*TICKET_ROWS) == before
        assert len(stored_objects()) == objects


@FUZZ
@given(
    submission=submissions(st.sampled_from(["", *Status.values]).map(lambda s: {"status": s}), files=False),
)
def test_ticket_list_filters_by_a_status_or_says_what_is_wrong(member, member_client, ticket, submission):
    response = submission.get(member_client, "/tickets/")

    refused = assert_filter_page(response, bad_filter_status=200)
    event("refused" if refused else "listed")
    if refused:
        assert not submission.pristine
    elif status := response.wsgi_request.GET.get("status"):
        assert all(t.status == status for t in response.context["tickets"])


@FUZZ
@given(query=raw_query_strings())
def test_ticket_list_answers_any_query_string(member_client, ticket, query):
    assert_filter_page(member_client.get(f"/tickets/?{query}"), bad_filter_status=200)


# --- Regressions found by the fuzzing above --------------------------------------------------------


def test_participant_id_past_64_bits_is_an_invalid_choice_not_a_server_error(member_client):
    # SQLite cannot run "id IN (9223372036854775808)": the ticket form answered with a 500.
    before = counts(*TICKET_ROWS)

    response = member_client.post(
        "/tickets/new/",
        {"subject": "Help", "category": "question", "body": "Please", "participants": "9223372036854775808"},
    )

    assert response.status_code == 400
    assert "9223372036854775808 is not one of the available choices" in response.content.decode()
    assert counts(*TICKET_ROWS) == before


# --- ChangeRequestForm (with documents) at /profile/company-change/ ------------------------------

DETAIL_FIELDS = {"name": 200, "registration_number": 64, "vat_number": 64, "address": 500, "country": 64}


@st.composite
def change_requests(draw: st.DrawFn) -> dict[str, object]:
    chosen = draw(st.sets(st.sampled_from(sorted(DETAIL_FIELDS)), min_size=1))
    data: dict[str, object] = {field: draw(printable_text) for field in chosen}
    data["message"] = draw(printable_text | st.just(""))
    documents = draw(st.lists(st.tuples(file_names, st.sampled_from(ACCEPTED_CONTENT)), max_size=2))
    if documents:
        data["documents"] = [accepted_file(name, content) for name, content in documents]
    return data


CHANGE_ROWS = (CompanyDetailsChangeRequest, Ticket, Attachment)


@FEW
@given(submission=submissions(change_requests()))
def test_company_change_request_is_stored_with_its_ticket_or_not_at_all(owner, owner_client, submission):
    before, objects = counts(*CHANGE_ROWS), len(stored_objects())

    forget_rate_limits()  # a request is a new ticket: limited per user and organisation per hour
    response = submission.post(owner_client, "/profile/company-change/")

    requested = response.status_code == 302
    event("requested" if requested else "refused")
    if requested:
        assert response.url == "/profile/"
        files = len(response.wsgi_request.FILES.getlist("documents"))
        assert counts(*CHANGE_ROWS) == {
            "accounts.CompanyDetailsChangeRequest": before["accounts.CompanyDetailsChangeRequest"] + 1,
            "support.Ticket": before["support.Ticket"] + 1,
            "support.Attachment": before["support.Attachment"] + files,
        }
        assert len(stored_objects()) == objects + files
        change = CompanyDetailsChangeRequest.objects.latest("id")
        for field in DETAIL_FIELDS:
            assert getattr(change, field) == sent(response, field).strip()
    else:
        assert not submission.pristine, "a filled-in change request was refused"
        assert_refused(response)
        assert counts(*CHANGE_ROWS) == before
        assert len(stored_objects()) == objects
