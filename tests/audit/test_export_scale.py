"""The audit CSV export of a long trail: 1,000,000 events stream with flat memory and a fixed number of
queries (one server-side cursor, read EXPORT_CHUNK rows at a time), on PostgreSQL.

The rows are made by one INSERT ... SELECT over generate_series (a test never deletes from the trail:
the append-only trigger of audit/migrations/0002 would refuse; the test's transaction rolls them back).
"""

import gc
import os
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

EVENTS = 1_000_000
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
MB = 1024 * 1024


def _rss() -> int:
    """The process's resident memory now (Linux), in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_SIZE


def _bulk_events(*, organisation_id: int, actor_id: int, actor_label: str, count: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_auditevent
                (at, organisation_id, actor_id, actor_label, action, target_label, subject_label, ip_address, details)
            SELECT now() - g * interval '1 second', %s, %s, %s,
                   (ARRAY['login.second_factor', 'token.enrolled', 'user.added'])[g %% 3 + 1],
                   'Hardware token #' || g, '', '203.0.113.7', '{}'::jsonb
            FROM generate_series(1, %s) AS g
            """,
            [organisation_id, actor_id, actor_label, count],
        )


@pytest.mark.postgres
def test_a_million_events_export_with_flat_memory_and_one_query(owner, outsider, owner_client):
    _bulk_events(organisation_id=owner.organisation_id, actor_id=owner.pk, actor_label=owner.email, count=EVENTS)
    _bulk_events(organisation_id=outsider.organisation_id, actor_id=outsider.pk, actor_label=outsider.email, count=10)
    gc.collect()
    start, started = _rss(), time.monotonic()
    peak, lines, size = start, 0, 0
    outsiders = 0

    with CaptureQueriesContext(connection) as queries:
        response = owner_client.get("/audit/export.csv")
        assert response.status_code == 200
        for n, chunk in enumerate(response.streaming_content):
            lines += chunk.count(b"\n")
            size += len(chunk)
            outsiders += chunk.count(b"outsider@globex.example")
            if n % 50 == 0:
                peak = max(peak, _rss())
        response.close()
    peak = max(peak, _rss())
    elapsed = time.monotonic() - started

    assert lines == EVENTS + 1  # the header and every event of the organisation
    assert outsiders == 0  # and none of another's
    growth = (peak - start) / MB
    print(f"\n{EVENTS:,} events: {size / MB:.0f} MB of CSV in {elapsed:.1f} s; memory grew {growth:.1f} MB")
    assert growth < 50, f"memory grew {growth:.1f} MB while streaming"
    exports = [q["sql"] for q in queries.captured_queries if "audit_auditevent" in q["sql"]]
    # The form's distinct actions, then the export's one cursor: not a query per chunk or per row.
    assert len(exports) <= 2, exports
    assert len(queries) <= 12, [q["sql"][:80] for q in queries.captured_queries]
