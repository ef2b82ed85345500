"""Fixtures of the token page tests: who acts on the member's tokens, and a token of each kind they need."""

import pytest
from django.test import Client

from accounts.models import User
from tests.conftest import log_in
from tests.tokens.helpers import (
    add_hardware,
    add_sms,
)
from tokens.models import Token


@pytest.fixture(params=["holder", "admin"])
def actor(request, owner, member) -> User:
    """Who acts on the member's tokens: the member, or their organisation's admin."""
    return member if request.param == "holder" else owner


@pytest.fixture
def actor_client(actor) -> Client:
    return log_in(Client(), actor)


@pytest.fixture
def hardware(member, owner) -> Token:
    return add_hardware(member, acting_user=owner)


@pytest.fixture
def sms(member) -> Token:
    return add_sms(member)
