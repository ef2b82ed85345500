"""Memory stays flat however many tokens there are (SPEC §6, issue #6): measured on PostgreSQL.

A reader that fetched every row at once, or a file built in memory, would hold well over 50 MB
for this many rows; the extract streams them through one chunk at a time.
"""

import csv
import gzip
import io
import tracemalloc

import pyrage
import pytest
from django.db import connections
from pyrage import x25519

from extracts import services
from extracts.models import Status
from tests.extracts.conftest import BOTH_DATABASES, read_extract

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases=BOTH_DATABASES)]

ROWS = 250_000
LIMIT = 50 * 1024 * 1024


@pytest.fixture
def postgres_vault():
    if connections["vault"].vendor != "postgresql":
        pytest.skip("needs a PostgreSQL vault: set VAULT_DATABASE_URL=postgres://…")


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
def test_extract_of_250000_tokens_keeps_peak_memory_growth_under_50_mb(
    postgres_vault, owner, outsider, vault_table, django_capture_on_commit_callbacks, encrypted
):
    """Encrypted to the organisation's age key too: the ciphertext streams as the gzip does."""
    identity = x25519.Identity.generate()
    if encrypted:
        services.set_extract_key(acting_user=owner, recipient=str(identity.to_public()))
    with connections["vault"].cursor() as cursor:
        cursor.execute(
            "INSERT INTO vault_tokens (org_public_id, token, created_at) "
            "SELECT %s, 'tok_' || md5(g::text) || md5((g + 1)::text), now() - g * interval '1 second' "
            "FROM generate_series(1, %s) AS g",
            [owner.organisation.public_id, ROWS],
        )
        cursor.execute(
            "INSERT INTO vault_tokens (org_public_id, token) SELECT %s, 'other_' || g FROM generate_series(1, 1000) g",
            [outsider.organisation.public_id],
        )

    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with django_capture_on_commit_callbacks(execute=True):
            extract = services.request_extract(acting_user=owner)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    extract.refresh_from_db()
    assert extract.status == Status.DONE, extract.failure_reason
    assert extract.rows_written == ROWS
    growth = peak - before
    assert growth < LIMIT, f"peak memory grew by {growth / 1_048_576:.1f} MB"
    if encrypted:
        with extract.file.file.open("rb") as handle:
            text = gzip.decompress(pyrage.decrypt(handle.read(), [identity])).decode()
        rows = list(csv.reader(io.StringIO(text, newline="")))
    else:
        _, rows = read_extract(extract.file)
    assert len(rows) == ROWS + 1
    assert not any(token.startswith("other_") for token, _ in rows[1:])
