"""Fixtures for the token extracts: a vault table in the test database of the "vault" alias.

Tests that touch the vault declare ``databases=["default", "vault"]``; pytest-django then makes
a test database for the vault too (SQLite in memory by default, PostgreSQL when
VAULT_DATABASE_URL points there).
"""

import csv
import gzip
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.db import connections

from accounts.models import Organisation
from extracts.vault import add_demo_tokens, create_vault_table, demo_token
from files.models import StoredFile

BOTH_DATABASES = ["default", "vault"]


@pytest.fixture
def vault_table():
    """The vault's table, gone again after the test (a rollback removes it, or DROP when there is none)."""
    create_vault_table()
    yield
    connection = connections["vault"]
    if not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS vault_tokens")


def give_tokens(organisation: Organisation, count: int) -> list[str]:
    """``count`` tokens for the organisation in the vault, in the order an extract lists them."""
    add_demo_tokens(organisation.public_id, start=0, count=count)
    return [demo_token(organisation.public_id, n) for n in range(count)]


def read_extract(stored: StoredFile) -> tuple[bytes, list[list[str]]]:
    """The stored file's bytes and its CSV rows (header first), decompressed."""
    with stored.file.open("rb") as handle:
        data = handle.read()
    text = gzip.decompress(data).decode("utf-8")
    return data, list(csv.reader(io.StringIO(text, newline="")))


def private_files() -> list[Path]:
    """Every object in the private storage folder of this test."""
    root = Path(settings.STORAGES["private"]["OPTIONS"]["location"])
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.fixture
def published() -> Iterator[list[tuple[str, str]]]:
    """Task name and id of every message sent to the broker."""
    tasks: list[tuple[str, str]] = []

    def on_publish(sender: str, headers: dict[str, Any], **kwargs: Any) -> None:
        tasks.append((sender, headers["id"]))

    before_task_publish.connect(on_publish, weak=False)
    yield tasks
    before_task_publish.disconnect(on_publish)
