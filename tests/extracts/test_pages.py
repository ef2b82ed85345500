"""The /extracts/ page: org admins request extracts and set the schedule; nobody sees a token."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from extracts.models import ExtractRequest, ExtractSchedule, Frequency, Kind, Status
from extracts.vault import demo_token
from files.services import delete_file
from tests.conftest import page_text as _page
from tests.extracts.conftest import BOTH_DATABASES, give_tokens

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)

URLS = ["/extracts/", "/extracts/request/", "/extracts/schedule/", "/extracts/schedule/cancel/"]


def test_owner_sees_the_request_button_schedule_form_and_empty_list(owner_client):
    response = owner_client.get("/extracts/")

    assert response.status_code == 200
    page = _page(response)
    assert 'action="/extracts/request/"' in page
    assert "Request an extract" in page
    assert 'action="/extracts/schedule/"' in page
    assert "How often" in page
    assert "No extracts yet" in page
    assert "No schedule: extracts are made only when an admin requests one." in page
    assert "Refresh" not in response


@pytest.mark.parametrize("url", URLS)
def test_member_is_refused_every_extract_page(member_client, url):
    response = member_client.post(url, {"frequency": "daily"}) if url != "/extracts/" else member_client.get(url)

    assert response.status_code == 403
    assert "Only your organisation&#x27;s admins can request token extracts" in _page(response)
    assert not ExtractRequest.objects.exists()
    assert not ExtractSchedule.objects.exists()


def test_outsider_sees_only_their_own_organisations_extracts(outsider_client, owner, vault_table):
    ExtractRequest.objects.create(
        organisation=owner.organisation,
        requested_by=owner,
        status=Status.FAILED,
        failure_reason="Failed while reading the vault (OperationalError).",
    )
    ExtractSchedule.objects.create(
        organisation=owner.organisation,
        frequency=Frequency.MONTHLY,
        first_run_at=timezone.now(),
        next_run_at=timezone.now(),
    )

    page = _page(outsider_client.get("/extracts/"))

    assert "No extracts yet" in page
    assert "Olivia Owner" not in page
    assert "OperationalError" not in page
    assert "No schedule" in page


def test_get_on_an_action_url_is_not_allowed(owner_client):
    assert owner_client.get("/extracts/request/").status_code == 405
    assert not ExtractRequest.objects.exists()


def test_requesting_on_the_page_runs_the_extract_and_shows_it_done(
    owner_client, owner, vault_table, django_capture_on_commit_callbacks
):
    give_tokens(owner.organisation, 1500)

    with django_capture_on_commit_callbacks(execute=True):
        posted = owner_client.post("/extracts/request/")
    response = owner_client.get(posted["Location"])

    assert posted.status_code == 302
    page = _page(response)
    extract = ExtractRequest.objects.get()
    assert extract.status == Status.DONE
    # The worker started after the view answered (the callbacks ran after the request here).
    assert "Your token extract is queued: a worker starts it shortly." in page
    assert "Done" in page
    assert '<td class="num">1,500</td>' in page
    assert 'value="100"' in page
    assert extract.file.name in page
    assert f'href="/files/{extract.file.pk}/download/"' in page
    assert "Refresh" not in response
    # The request button is back: nothing is active any more.
    assert 'action="/extracts/request/"' in page
    assert len(mail.outbox) == 1


def test_no_token_is_ever_rendered(owner_client, owner, vault_table, django_capture_on_commit_callbacks):
    tokens = give_tokens(owner.organisation, 50)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/extracts/request/")

    pages = [_page(owner_client.get(url)) for url in ["/extracts/", "/files/?section=extracts"]]
    extract = ExtractRequest.objects.get()
    pages.append(_page(owner_client.get(f"/files/{extract.file.pk}/")))

    for page in pages:
        assert not any(token in page for token in tokens)
    assert not any(token in message.body for token in tokens for message in mail.outbox)
    assert demo_token(owner.organisation.public_id, 0) == tokens[0]  # the check looks for the real values


def test_second_request_on_the_page_is_refused_with_a_message(owner_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        owner_client.post("/extracts/request/")

    response = owner_client.post("/extracts/request/", follow=True)

    page = _page(response)
    assert "is already queued" in page
    assert "Wait until it has finished before requesting another." in page
    assert ExtractRequest.objects.count() == 1


def test_page_reloads_itself_while_an_extract_is_queued_or_running(owner_client, owner):
    extract = ExtractRequest.objects.create(organisation=owner.organisation, requested_by=owner)

    queued = owner_client.get("/extracts/")
    ExtractRequest.objects.filter(pk=extract.pk).update(
        status=Status.RUNNING, rows_written=10_000, rows_total=40_000, progress=25
    )
    running = owner_client.get("/extracts/")

    assert queued["Refresh"] == "5"
    assert "Queued" in _page(queued)
    assert "An extract is queued now." in _page(queued)
    assert 'action="/extracts/request/"' not in _page(queued)
    assert running["Refresh"] == "5"
    page = _page(running)
    assert "Running" in page
    assert "10,000 of 40,000" in page  # grouped like every number on the portal
    assert 'value="25"' in page
    assert "25%" in page


def test_extract_taken_over_after_a_lost_worker_says_it_started_again(owner_client, owner):
    ExtractRequest.objects.create(
        organisation=owner.organisation, requested_by=owner, status=Status.RUNNING, attempts=2, progress=10
    )

    page = _page(owner_client.get("/extracts/"))

    assert "Started again from the beginning: the worker writing it was lost (attempt 2 of 3)." in page


def test_failed_extract_shows_its_reason(owner_client, owner):
    ExtractRequest.objects.create(
        organisation=owner.organisation,
        requested_by=owner,
        status=Status.FAILED,
        failure_reason="Failed while reading the vault (OperationalError). Nothing was kept; request a new extract.",
    )

    response = owner_client.get("/extracts/")

    page = _page(response)
    assert "Failed" in page
    assert "Failed while reading the vault (OperationalError). Nothing was kept; request a new extract." in page
    assert "Refresh" not in response


def test_extract_of_a_deleted_user_names_a_former_user(owner_client, owner, member):
    ExtractRequest.objects.create(organisation=owner.organisation, requested_by=member, status=Status.FAILED)
    member.delete()

    response = owner_client.get("/extracts/")

    assert response.status_code == 200
    assert "A former user" in _page(response)


def test_list_page_queries_do_not_grow_with_the_extracts(owner_client, owner, django_assert_num_queries):
    def add(n: int) -> None:
        for i in range(n):
            ExtractRequest.objects.create(
                organisation=owner.organisation,
                requested_by=owner,
                kind=Kind.SCHEDULED if i % 2 else Kind.ONE_OFF,
                status=Status.FAILED,
            )

    add(1)
    owner_client.get("/extracts/")  # session and user cached as on any later request
    with CaptureQueriesContext(connection) as few:
        owner_client.get("/extracts/")
    add(30)
    with django_assert_num_queries(len(few)) as many:
        page = _page(owner_client.get("/extracts/"))
    assert page.count('<span class="badge') == 20
    # One query for the list, people and files included.
    assert sum('FROM "extracts_extractrequest"' in q["sql"] for q in many.captured_queries) == 1


# --- The schedule form ---------------------------------------------------------------------------


def test_owner_sets_a_weekly_schedule(owner_client):
    response = owner_client.post("/extracts/schedule/", {"frequency": "weekly", "first_run_at": ""}, follow=True)

    page = _page(response)
    assert "Weekly token extracts are scheduled; the next one starts" in page
    assert "Weekly extracts are scheduled. The next one starts" in page
    assert "Cancel the schedule" in page
    schedule = ExtractSchedule.objects.get()
    assert (schedule.frequency, schedule.active) == (Frequency.WEEKLY, True)


def test_owner_chooses_when_the_first_scheduled_extract_runs(owner_client):
    first = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)

    owner_client.post(
        "/extracts/schedule/",
        {"frequency": "monthly", "first_run_at": timezone.localtime(first).strftime("%Y-%m-%dT%H:%M")},
    )

    schedule = ExtractSchedule.objects.get()
    assert (schedule.frequency, schedule.first_run_at, schedule.next_run_at) == (Frequency.MONTHLY, first, first)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"frequency": ""}, "Choose daily, weekly or monthly."),
        ({"frequency": "hourly"}, "Choose daily, weekly or monthly."),
        ({"frequency": "daily", "first_run_at": "tomorrow"}, "Enter a date and time, such as 2030-01-31 06:00."),
        (
            {"frequency": "daily", "first_run_at": "2020-01-01T06:00"},
            "Choose a time from now on, or leave it empty to start now.",
        ),
    ],
)
def test_bad_schedule_gets_a_message_and_stores_nothing(owner_client, data, message):
    response = owner_client.post("/extracts/schedule/", data)

    assert response.status_code == 400
    assert message in _page(response)
    assert not ExtractSchedule.objects.exists()


def test_owner_cancels_the_schedule(owner_client, owner):
    ExtractSchedule.objects.create(
        organisation=owner.organisation,
        frequency=Frequency.DAILY,
        first_run_at=timezone.now(),
        next_run_at=timezone.now(),
    )

    page = _page(owner_client.post("/extracts/schedule/cancel/", follow=True))

    assert "The extract schedule is cancelled." in page
    assert "No schedule: extracts are made only when an admin requests one." in page
    assert ExtractSchedule.objects.get().active is False


def test_cancelling_without_a_schedule_says_so(owner_client):
    page = _page(owner_client.post("/extracts/schedule/cancel/", follow=True))

    assert "There is no extract schedule to cancel." in page


def test_extract_whose_file_was_deleted_says_so(owner_client, owner, vault_table, django_capture_on_commit_callbacks):
    give_tokens(owner.organisation, 5)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post("/extracts/request/")
    stored = ExtractRequest.objects.get().file

    delete_file(stored=stored, acting_user=owner)

    page = _page(owner_client.get("/extracts/"))
    assert "Deleted from the File Manager" in page
    assert stored.name not in page
    assert ExtractRequest.objects.get().status == Status.DONE
