"""The token vault: the platform's table of tokens, read through the "vault" connection (SPEC §6).

The portal only ever reads it, with a server-side cursor, in chunks: memory stays flat however
many tokens an organisation has. The demo (seed_demo) and the tests create and fill a small one.
Raw SQL on purpose: the platform owns this table, no portal model or migration touches it.
"""

import csv
import hashlib
import io
from collections.abc import Generator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone
from psycopg import sql as psycopg_sql

from accounts.models import Organisation

VAULT = "vault"
CSV_HEADER = ("token", "created_at")
DEMO_TOKENS = 2_000

_CREATE = {
    "postgresql": [
        "CREATE TABLE IF NOT EXISTS vault_tokens ("
        " id bigserial PRIMARY KEY,"
        " org_public_id text NOT NULL,"
        " token text NOT NULL,"
        " created_at timestamp with time zone NOT NULL DEFAULT now())",
        "CREATE INDEX IF NOT EXISTS vault_tokens_org_id ON vault_tokens (org_public_id, id)",
    ],
    "sqlite": [
        "CREATE TABLE IF NOT EXISTS vault_tokens ("
        " id integer PRIMARY KEY AUTOINCREMENT,"
        " org_public_id text NOT NULL,"
        " token text NOT NULL,"
        " created_at timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP)",
        "CREATE INDEX IF NOT EXISTS vault_tokens_org_id ON vault_tokens (org_public_id, id)",
    ],
}
# The timestamp is formatted by the database, the same on both, so the CSV reads alike and no
# Python code runs per row.
_SELECT = {
    "postgresql": (
        "SELECT token, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') "
        "FROM vault_tokens WHERE org_public_id = %s ORDER BY id"
    ),
    "sqlite": (
        "SELECT token, strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', created_at) "
        "FROM vault_tokens WHERE org_public_id = %s ORDER BY id"
    ),
}
# PostgreSQL formats the CSV itself (no Python object per field); the rows are read as COPY sends them.
# The organisation goes in as a quoted literal: Django's debug cursor (DEBUG=True) takes no parameters.
_COPY = psycopg_sql.SQL(
    "COPY ({}) TO STDOUT WITH (FORMAT csv)".format(_SELECT["postgresql"].replace("%s", "{organisation}"))
)
_COUNT = "SELECT COUNT(*) FROM vault_tokens WHERE org_public_id = %s"


def vault_connection() -> BaseDatabaseWrapper:
    return connections[VAULT]


def _vendor(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor not in _CREATE:
        raise NotImplementedError(f"The vault must be PostgreSQL or SQLite, not {connection.vendor}.")
    return connection.vendor


def create_vault_table() -> None:
    """The demo vault's table and its (organisation, id) index, if missing."""
    connection = vault_connection()
    with transaction.atomic(using=VAULT), connection.cursor() as cursor:
        for statement in _CREATE[_vendor(connection)]:
            cursor.execute(statement)


def count_tokens(org_public_id: str) -> int:
    with transaction.atomic(using=VAULT), vault_connection().cursor() as cursor:
        cursor.execute(_COUNT, [org_public_id])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def demo_token(org_public_id: str, n: int) -> str:
    """A fake token, the same for the same organisation and number, so seeding twice changes nothing."""
    return "tok_" + hashlib.sha256(f"demo-vault:{org_public_id}:{n}".encode()).hexdigest()[:24]


def add_demo_tokens(org_public_id: str, *, start: int, count: int) -> None:
    now = timezone.now()
    rows = [
        (org_public_id, demo_token(org_public_id, n), now - timedelta(minutes=17 * (DEMO_TOKENS - n)))
        for n in range(start, start + count)
    ]
    with transaction.atomic(using=VAULT), vault_connection().cursor() as cursor:
        cursor.executemany(
            "INSERT INTO vault_tokens (org_public_id, token, created_at) VALUES (%s, %s, %s)",
            rows,
        )


def ensure_demo_vault(*, organisation: Organisation, tokens: int = DEMO_TOKENS) -> int:
    """Create the vault table if missing and give the organisation ``tokens`` fake tokens; idempotent.

    Returns how many tokens were added.
    """
    create_vault_table()
    have = count_tokens(organisation.public_id)
    missing = max(tokens - have, 0)
    if missing:
        add_demo_tokens(organisation.public_id, start=have, count=missing)
    return missing


@dataclass(frozen=True)
class CsvBlock:
    """``rows`` rows in CSV as PostgreSQL's COPY sent them, one protocol message per row.

    ``csv_bytes()`` is byte for byte what ``csv.writer`` writes for the same rows.
    """

    data: bytes
    rows: int

    def __len__(self) -> int:
        return self.rows

    def csv_bytes(self) -> bytes:
        """COPY ends a row with \\n, csv.writer with \\r\\n.

        Tokens and timestamps hold no line break, so every \\n of the block ends a row and one
        replace converts them all. Should a field ever hold one (quoted, inside its row), the
        block is read back and written again with the csv module instead.
        """
        if self.data.count(b"\n") == self.rows:
            return self.data.replace(b"\n", b"\r\n")
        text = io.StringIO(newline="")
        csv.writer(text).writerows(csv.reader(io.StringIO(self.data.decode(), newline="")))
        return text.getvalue().encode()


def _copy_blocks(cursor: Any, org_public_id: str, size: int) -> Generator[CsvBlock, None, None]:
    """``size`` rows at a time, gathered in one buffer: nothing per row is kept."""
    with cursor.copy(_COPY.format(organisation=psycopg_sql.Literal(org_public_id))) as copy:
        data = bytearray()
        rows = 0
        for line in copy:
            data += line
            rows += 1
            if rows == size:
                yield CsvBlock(bytes(data), rows)
                data.clear()
                rows = 0
        if rows:
            yield CsvBlock(bytes(data), rows)


def iter_token_chunks(
    org_public_id: str, *, chunk_rows: int | None = None
) -> Generator[list[tuple[str, str]] | CsvBlock, None, None]:
    """The organisation's tokens in id order, ``chunk_rows`` rows at a time.

    Runs in a read-only transaction of the vault connection. PostgreSQL refuses any write in it
    and streams the rows with ``COPY (…) TO STDOUT WITH (FORMAT csv)``: the chunks are CsvBlocks,
    formatted by the server, and only the chunk being read is held. SQLite's cursor steps through
    the result as rows are fetched, in lists of (token, created_at); ``query_only`` refuses writes.
    """
    size = chunk_rows or settings.EXTRACT_CHUNK_ROWS
    connection = vault_connection()
    vendor = _vendor(connection)
    with transaction.atomic(using=VAULT):
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
                with connection.wrap_database_errors:
                    yield from _copy_blocks(cursor, org_public_id, size)
            return
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA query_only = ON")
        try:
            with connection.cursor() as reader:
                reader.execute(_SELECT[vendor], [org_public_id])
                while rows := reader.fetchmany(size):
                    yield rows
        finally:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA query_only = OFF")
