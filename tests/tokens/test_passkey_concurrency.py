"""Passkey answers fired at once go through the same lock as codes: each checked one is counted, and
none is checked once the passkey has locked (PostgreSQL's real row locks; see tests/race.py).

An attacker who passed the password step in many sessions, and who holds no passkey, posts a forged
assertion from each at the same moment; the passkey must lock after exactly
TOKEN_LOCK_AFTER_FAILURES of them, as it would after that many wrong codes.
"""

import functools

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.test import Client

from tests.tokens.test_code_concurrency import LOCKED, THROTTLED, race
from tests.tokens.test_passkeys import NOT_ACCEPTED, at_code_step, enrolled_passkey
from tokens.models import PasskeyDevice, Token

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _portal_address(settings):
    settings.PORTAL_BASE_URL = "http://testserver"


def forged_answers(member, count: int) -> list[tuple[Client, str]]:
    """Sessions at the code step, each with an assertion for its own challenge signed by the wrong key."""
    _, key = enrolled_passkey(member)
    wrong_key = ec.generate_private_key(ec.SECP256R1())
    answers = []
    for _ in range(count):
        client, options = at_code_step(member)
        answers.append((client, key.get(options, signing_key=wrong_key)))
    return answers


def post_all(answers: list[tuple[Client, str]]) -> list[str]:
    def post(client: Client, answer: str) -> str:
        return client.post("/login/code/", {"passkey": answer}).content.decode()

    return race([functools.partial(post, client, answer) for client, answer in answers])


def test_concurrent_forged_assertions_are_each_counted(member):
    pages = post_all(forged_answers(member, 12))

    checked = sum(NOT_ACCEPTED in p for p in pages)
    refused = sum(any(t in p for t in THROTTLED) for p in pages)
    assert checked + refused == 12, pages
    assert checked >= 1
    assert PasskeyDevice.objects.get().throttling_failure_count == checked


def test_no_assertion_is_checked_after_the_lock(member, settings, monkeypatch):
    settings.TOKEN_LOCK_AFTER_FAILURES = 5
    monkeypatch.setattr(PasskeyDevice, "get_throttle_factor", lambda self: 0)  # only the lock stops them

    pages = post_all(forged_answers(member, 20))

    assert sum(NOT_ACCEPTED in p for p in pages) == 5, pages
    assert all(LOCKED in p for p in pages if NOT_ACCEPTED not in p)
    assert PasskeyDevice.objects.get().throttling_failure_count == 5
    assert Token.objects.get(device_id=PasskeyDevice.objects.get().pk, kind="passkey").is_locked
