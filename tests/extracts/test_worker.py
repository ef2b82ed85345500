"""An extract goes through Redis to a real Celery worker, as in production (SPEC §1, §6)."""

from collections.abc import Iterator
from typing import Any

import pytest

from extracts import services
from extracts.models import ExtractRequest, Status
from portal.celery import app
from tests.celery_worker import thread_worker
from tests.extracts.conftest import BOTH_DATABASES, give_tokens, read_extract

pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True, databases=BOTH_DATABASES),
    pytest.mark.filterwarnings("ignore:Call to deprecated setex:DeprecationWarning"),
]


@pytest.fixture
def worker() -> Iterator[Any]:
    with thread_worker() as worker:
        yield worker


def test_worker_writes_the_extract_queued_through_redis(
    vault_table, owner, worker, published, django_capture_on_commit_callbacks, settings
):
    settings.EXTRACT_CHUNK_ROWS = 1000
    tokens = give_tokens(owner.organisation, 4321)

    with django_capture_on_commit_callbacks(execute=True):
        extract = services.request_extract(acting_user=owner)

    [(task, task_id)] = published
    assert task == "extracts.tasks.run_extract"
    # The status comes back through the Redis result backend, from the worker's thread.
    assert app.AsyncResult(task_id).get(timeout=30) == "done"
    extract.refresh_from_db()
    assert (extract.status, extract.rows_written, extract.progress) == (Status.DONE, 4321, 100)
    _, rows = read_extract(extract.file)
    assert [token for token, _ in rows[1:]] == tokens
    assert ExtractRequest.objects.count() == 1
