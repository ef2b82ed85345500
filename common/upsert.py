"""Adding to counters: ``INSERT ... ON CONFLICT DO UPDATE``, on PostgreSQL and SQLite (3.24+).

A read-modify-write would lose counts that two batches add at once; the upsert adds in the
database. Rows go in the order given (callers sort them) so that two batches touching the same
counters lock them in the same order, and no deadlock is possible between them.

On PostgreSQL all the rows go in one statement, as one array per column
(``INSERT ... SELECT ... FROM unnest(...) WITH ORDINALITY ORDER BY ordinality``: still in the
given order); SQLite takes them in statements of at most MAX_PARAMETERS values.
"""

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

# SQLite allows 999 variables per statement; PostgreSQL 65,535.
MAX_PARAMETERS = 990


def add_counts(
    model: type[models.Model],
    *,
    keys: Sequence[str],
    sums: Sequence[str],
    latest: Sequence[str] = (),
    rows: Sequence[tuple[Sequence[Any], Sequence[Any]]],
) -> None:
    """Add ``rows`` of ``(key values, values)`` to ``model``'s table.

    ``keys`` are the columns of the unique constraint that identifies a counter; the values are
    for ``sums`` (added to what is there) then ``latest`` (the greater of the two is kept).
    """
    if not rows:
        return
    connection = connections[DEFAULT_DB_ALIAS]  # the connection itself: no proxy lookup per value
    fields = [model._meta.get_field(name) for name in (*keys, *sums, *latest)]
    columns: list[str] = [field.column for field in fields]  # type: ignore[union-attr,misc]
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    conflict = ", ".join(qn(column) for column in columns[: len(keys)])
    updates = [f"{qn(c)} = {table}.{qn(c)} + EXCLUDED.{qn(c)}" for c in columns[len(keys) : len(keys) + len(sums)]]
    updates += [
        f"{qn(c)} = CASE WHEN EXCLUDED.{qn(c)} > {table}.{qn(c)} THEN EXCLUDED.{qn(c)} ELSE {table}.{qn(c)} END"
        for c in columns[len(keys) + len(sums) :]
    ]
    insert = f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) "
    upsert = f"ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(updates)}"
    if in_one_statement(connection):
        columns_of_rows = zip(*((*key_values, *values) for key_values, values in rows), strict=True)
        arrays = [_prepared(field, column, connection) for field, column in zip(fields, columns_of_rows, strict=True)]
        types = [f"%s::{field.db_type(connection)}[]" for field in fields]  # type: ignore[union-attr]
        names = [f"c{n}" for n in range(len(columns))]
        with connection.cursor() as cursor:
            cursor.execute(
                f"{insert}SELECT {', '.join(names)} FROM unnest({', '.join(types)}) "  # noqa: S608
                f"WITH ORDINALITY AS u ({', '.join(names)}, n) ORDER BY n {upsert}",
                arrays,
            )
        return
    row_placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    per_statement = MAX_PARAMETERS // len(columns)
    with connection.cursor() as cursor:
        for first in range(0, len(rows), per_statement):
            chunk = rows[first : first + per_statement]
            params: list[Any] = []
            for key_values, values in chunk:
                for field, value in zip(fields, (*key_values, *values), strict=True):
                    params.append(field.get_db_prep_value(value, connection))  # type: ignore[union-attr]
            cursor.execute(
                f"{insert}VALUES {', '.join([row_placeholder] * len(chunk))} {upsert}",
                params,
            )


def in_one_statement(connection: BaseDatabaseWrapper) -> bool:
    """Whether the rows go in one statement of arrays (PostgreSQL) or in chunks of VALUES."""
    return connection.vendor == "postgresql"


def _prepared(field: Any, column: Sequence[Any], connection: BaseDatabaseWrapper) -> list[Any]:
    """The column's values as the database takes them; each distinct value prepared once (a batch's
    counters share a few organisations, methods, days and slots)."""
    prepared: dict[Any, Any] = {}
    for value in set(column):
        prepared[value] = field.get_db_prep_value(value, connection)
    return list(map(prepared.__getitem__, column))
