"""The token vault: the platform's table of tokens, read through the "vault" connection (SPEC §6).

The portal only ever reads it, with a server-side cursor, in chunks: memory stays flat however
many tokens an organisation has. The demo (seed_demo) and the tests create and fill a small one.
Raw SQL on purpose: the platform owns this table, no portal model or migration touches it.
"""

import hashlib
from collections.abc import Generator
from datetime import timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

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


def iter_token_chunks(
    org_public_id: str, *, chunk_rows: int | None = None
) -> Generator[list[tuple[str, str]], None, None]:
    """The organisation's tokens in id order, ``chunk_rows`` rows at a time, through a server-side cursor.

    Runs in a read-only transaction of the vault connection: PostgreSQL refuses any write in it,
    and a named cursor (DECLARE … CURSOR) sends rows only as they are fetched. SQLite's cursor
    steps through the result as rows are fetched anyway; ``query_only`` refuses writes.
    """
    size = chunk_rows or settings.EXTRACT_CHUNK_ROWS
    connection = vault_connection()
    vendor = _vendor(connection)
    with transaction.atomic(using=VAULT):
        if vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION READ ONLY")
            reader = connection.chunked_cursor()
        else:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA query_only = ON")
            reader = connection.cursor()
        try:
            with reader:
                reader.execute(_SELECT[vendor], [org_public_id])
                while rows := reader.fetchmany(size):
                    yield rows
        finally:
            if vendor == "sqlite":
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA query_only = OFF")
