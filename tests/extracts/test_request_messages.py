"""What the extracts page says (issue 19): the message after a request matches the extract as it stands,
counts are grouped like every number on the portal, and the page says what the file contains beside the
vault's count."""

import pytest
from django.core import mail
from django.db import connections
from django.test.utils import CaptureQueriesContext

from extracts import selectors
from extracts.models import ExtractRequest, Status
from extracts.vault import CSV_HEADER
from tests.conftest import page_text as _page
from tests.extracts.conftest import BOTH_DATABASES, give_tokens

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)


def messages_of(page: str) -> str:
    return page[page.index('<div class="messages"') : page.index("</div>", page.index('<div class="messages"'))]


def test_extract_no_worker_has_started_yet_is_said_to_be_queued(
    owner_client, owner, vault_table, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():  # the task is not sent: no worker has it yet
        response = owner_client.post("/extracts/request/", follow=True)

    assert "Your token extract is queued: a worker starts it shortly." in messages_of(_page(response))
    assert ExtractRequest.objects.get().status == Status.QUEUED


@pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
def test_extract_a_worker_is_writing_is_said_to_be_running(owner_client, owner, vault_table, monkeypatch):
    def started(extract_id: int) -> None:  # a worker picked the task up as soon as it was sent
        ExtractRequest.objects.filter(pk=extract_id).update(status=Status.RUNNING)

    monkeypatch.setattr("extracts.tasks.run_extract.delay", started)

    page = _page(owner_client.post("/extracts/request/", follow=True))

    assert "Your token extract is being written now." in messages_of(page)
    assert "queued" not in messages_of(page)


@pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
def test_extract_finished_before_the_page_came_back_is_said_to_be_ready(owner_client, owner, vault_table):
    """Without Redis (make run) the task runs in the request, once the request's transaction commits."""
    give_tokens(owner.organisation, 1500)

    response = owner_client.post("/extracts/request/", follow=True)

    extract = ExtractRequest.objects.get()
    assert extract.status == Status.DONE
    said = messages_of(_page(response))
    assert f"Your token extract is ready: 1,500 tokens in {extract.file.name}" in said
    assert "queued" not in said
    assert '<td class="num">1,500</td>' in _page(response)
    assert "is ready: 1,500 tokens in" in mail.outbox[0].body  # the email groups the count too


@pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES)
def test_extract_that_failed_at_once_says_so(owner_client, owner):
    # No vault table: counting the tokens fails.
    response = owner_client.post("/extracts/request/", follow=True)

    said = messages_of(_page(response))
    assert "message--error" in said
    assert "Your token extract failed. Failed while counting the tokens in the vault" in said
    assert ExtractRequest.objects.get().status == Status.FAILED


# --- What the file holds, beside the vault's count ----------------------------------------------


def test_page_says_what_the_file_contains_beside_the_vault_count(owner_client, owner, vault_table):
    give_tokens(owner.organisation, 2345)

    page = _page(owner_client.get("/extracts/"))

    facts = page[page.index('id="extract-contents"') : page.index("</dl>", page.index('id="extract-contents"'))]
    assert "<dt>Tokens in the vault</dt>" in facts
    assert "2,345 now: an extract holds one row for each" in facts
    assert "CSV file compressed with gzip (<code>.csv.gz</code>)" in facts
    assert "a header row first" in facts
    for column in CSV_HEADER:
        assert f"<code>{column}</code>: " in facts
    assert "Kept 30 days." in facts


def test_every_column_of_the_file_is_described():
    assert [name for name, _ in selectors.extract_columns()] == list(CSV_HEADER)


def test_page_works_when_the_vault_cannot_be_read(owner_client):
    response = owner_client.get("/extracts/")  # no vault table

    assert response.status_code == 200
    assert "Not known just now: the vault could not be read" in _page(response)


def test_vault_is_counted_once_a_minute_at_most(owner_client, owner, vault_table):
    give_tokens(owner.organisation, 10)
    owner_client.get("/extracts/")

    with CaptureQueriesContext(connections["vault"]) as vault_queries:
        page = _page(owner_client.get("/extracts/"))

    assert vault_queries.captured_queries == []
    assert "10 now" in page


def test_another_organisations_vault_count_is_not_shown(outsider_client, owner, vault_table):
    give_tokens(owner.organisation, 1234)

    page = _page(outsider_client.get("/extracts/"))

    assert "1,234" not in page
    assert "0 now: an extract holds one row for each" in page


def test_while_an_extract_runs_the_page_shows_its_count_without_reading_the_vault(owner_client, owner, vault_table):
    give_tokens(owner.organisation, 10)
    ExtractRequest.objects.create(
        organisation=owner.organisation, requested_by=owner, status=Status.RUNNING, rows_written=5, rows_total=40_000
    )

    with CaptureQueriesContext(connections["vault"]) as vault_queries:
        page = _page(owner_client.get("/extracts/"))

    assert vault_queries.captured_queries == []  # the page reloads every few seconds meanwhile
    assert "40,000 now: an extract holds one row for each" in page
