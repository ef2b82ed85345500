"""The extract's bytes are the same CSV whichever database formats it (SPEC §6).

On PostgreSQL the rows come from `COPY … TO STDOUT WITH (FORMAT csv)`, on SQLite through Python's
csv.writer: the file must read byte for byte as csv.writer writes it (\\r\\n line ends, minimal
quoting, the header first), in chunks or not, even for a value that needs quoting.
"""

import csv
import gzip
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from extracts import runner, services
from extracts.models import ExtractRequest, Status
from files.models import StoredFile
from tests.extracts.conftest import BOTH_DATABASES, private_files

pytestmark = pytest.mark.django_db(databases=BOTH_DATABASES)

START = datetime(2026, 3, 1, 23, 59, 58, tzinfo=UTC)


def put_tokens(org_public_id: str, tokens: list[str]) -> list[tuple[str, str]]:
    """The tokens in the vault, a second apart from START; returns the rows an extract should list."""
    rows = [(org_public_id, token, START + timedelta(seconds=n)) for n, token in enumerate(tokens)]
    with connections["vault"].cursor() as cursor:
        cursor.executemany("INSERT INTO vault_tokens (org_public_id, token, created_at) VALUES (%s, %s, %s)", rows)
    return [(token, f"{at:%Y-%m-%dT%H:%M:%SZ}") for _, token, at in rows]


def as_csv_writer_writes(rows: list[tuple[str, str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["token", "created_at"])
    writer.writerows(rows)
    return text.getvalue().encode()


def run_extract_of(owner, capture) -> bytes:
    with capture(execute=True):
        extract = services.request_extract(acting_user=owner)
    extract.refresh_from_db()
    assert extract.status == Status.DONE, extract.failure_reason
    assert extract.file is not None
    with extract.file.file.open("rb") as handle:
        return gzip.decompress(handle.read())


def test_extract_bytes_are_what_csv_writer_writes_across_several_chunks(
    owner, outsider, vault_table, settings, django_capture_on_commit_callbacks
):
    settings.EXTRACT_CHUNK_ROWS = 7
    expected = put_tokens(owner.organisation.public_id, [f"tok_{n:024x}" for n in range(30)])
    put_tokens(outsider.organisation.public_id, ["tok_theirs"])

    content = run_extract_of(owner, django_capture_on_commit_callbacks)

    assert content == as_csv_writer_writes(expected)
    assert content.startswith(b"token,created_at\r\ntok_000000000000000000000000,2026-03-01T23:59:58Z\r\n")
    assert content.endswith(b"tok_00000000000000000000001d,2026-03-02T00:00:27Z\r\n")


def test_token_with_a_line_break_comma_and_quote_is_quoted_like_csv_writer_and_counted_once(
    owner, vault_table, settings, django_capture_on_commit_callbacks
):
    settings.EXTRACT_CHUNK_ROWS = 2
    odd = 'tok_line\nbreak, "quoted"'
    expected = put_tokens(owner.organisation.public_id, ["tok_a", odd, "tok_b", "tok_c\r\nd"])

    content = run_extract_of(owner, django_capture_on_commit_callbacks)

    assert content == as_csv_writer_writes(expected)
    assert b'"tok_line\nbreak, ""quoted""",' in content
    rows = list(csv.reader(io.StringIO(content.decode(), newline="")))
    assert [row[0] for row in rows[1:]] == ["tok_a", odd, "tok_b", "tok_c\r\nd"]
    extract = ExtractRequest.objects.get(organisation=owner.organisation)
    assert extract.rows_written == extract.rows_total == 4


def test_disk_full_while_compressing_fails_the_extract_and_keeps_nothing(
    owner, vault_table, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.EXTRACT_CHUNK_ROWS = 10
    put_tokens(owner.organisation.public_id, [f"tok_{n}" for n in range(100)])
    real_write = runner._Digesting.write
    written = []

    def fills_the_disk_after_the_first_block(self, data):
        if written:
            raise OSError(28, "No space left on device")
        written.append(len(data))
        return real_write(self, data)

    monkeypatch.setattr(runner._Digesting, "write", fills_the_disk_after_the_first_block)

    with django_capture_on_commit_callbacks(execute=True):
        extract = services.request_extract(acting_user=owner)
    extract.refresh_from_db()

    assert extract.status == Status.FAILED
    assert extract.failure_reason.startswith("Failed while reading the vault (OSError). Nothing was kept")
    assert extract.file is None
    assert not StoredFile.objects.exists()
    assert private_files() == []
