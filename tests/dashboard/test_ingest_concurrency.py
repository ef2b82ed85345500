"""Two copies of a batch arriving at the same moment still count once (PostgreSQL, real threads)."""

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection

from dashboard.models import ErrorLog, IngestedBatch
from tests.dashboard.conftest import USAGE_URL, post_json
from tests.dashboard.helpers import batch, counters, error_event, ok_event

COPIES = 6
NOON = datetime(2025, 3, 3, 12, tzinfo=UTC)


def _send_at_once(bodies, key):
    barrier = threading.Barrier(len(bodies))
    answers = [None] * len(bodies)

    def send(index):
        try:
            barrier.wait(timeout=10)
            answers[index] = post_json(USAGE_URL, bodies[index], key=key)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return answers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_a_batch_are_stored_once(organisation, platform_key):
    org = organisation.public_id
    body = batch(
        *(ok_event(org, "Tokenize", NOON) for _ in range(300)), error_event(org, "Tokenize", NOON), batch_id="same"
    )

    answers = _send_at_once([body] * COPIES, platform_key)

    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["duplicate"] * (COPIES - 1) + ["stored"]
    assert all(a.status_code == 200 for a in answers)
    assert [calls for calls, _ in counters(organisation.pk).values()] == [301]
    assert ErrorLog.objects.count() == 1
    assert IngestedBatch.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_different_batches_all_add_to_the_same_counters(organisation, platform_key):
    org = organisation.public_id
    bodies = [
        batch(*(ok_event(org, m, NOON) for m in ["Tokenize", "Detokenize"] * 50), batch_id=f"b{i}")
        for i in range(COPIES)
    ]

    answers = _send_at_once(bodies, platform_key)

    assert [a.json()["status"] for a in answers] == ["stored"] * COPIES
    assert sorted(calls for calls, _ in counters(organisation.pk).values()) == [50 * COPIES, 50 * COPIES]
