"""Fixtures shared by the support tests: files in a per-test folder, support staff, a colleague."""

import pytest
from django.core import mail

from accounts.models import User
from tests.factories import UserFactory
from tests.support import use_private_folder


@pytest.fixture(autouse=True)
def private_root(settings, monkeypatch, tmp_path):
    return use_private_folder(settings, monkeypatch, tmp_path / "private")


@pytest.fixture
def colleague(organisation) -> User:
    return UserFactory.create(organisation=organisation, email="cleo@acme.example", full_name="Cleo Colleague")


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)
