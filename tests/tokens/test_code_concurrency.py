"""Wrong codes fired at once are all counted, on every path that checks a code (issue 13, defect 1).

An attacker who passed the password step in many sessions posts a wrong code from all of them at
the same moment. Every code that is checked must count as a failure, atomically, and no code may
be checked once the token has locked after TOKEN_LOCK_AFTER_FAILURES failures, whatever the
server's concurrency. Each thread has its own database connection, so these run against
PostgreSQL's real row locks.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.accounts.test_login import NOT_RIGHT, submit_password, wrong_code
from tests.conftest import log_in, page_text
from tests.factories import PASSWORD
from tests.race import race as race_all
from tests.tokens.helpers import RFC4226_CODES, code_at, enrol_rfc_token
from tokens.models import SmsDevice, Token, TokenKind

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THROTTLED = ("Too many wrong codes. Wait", "The last code was not right. Wait")  # from the 3rd / before
LOCKED = "locked after too many wrong codes"
TEST_FAILED = "Failed: that code is not right for this token."


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    results, errors = race_all(calls)
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def no_backoff(settings, monkeypatch):
    """django-otp's growing delay off, so only the lock after N failures stops the guesses: the
    race then shows whether more than N codes get checked."""
    for kind in ("TOTP", "HOTP", "STATIC", "EMAIL"):
        setattr(settings, f"OTP_{kind}_THROTTLE_FACTOR", 0)
    monkeypatch.setattr(SmsDevice, "get_throttle_factor", lambda self: 0)


def sessions_at_code_step(user, count: int) -> list[Client]:
    clients = []
    for _ in range(count):
        client = Client()
        assert submit_password(client, user.email, PASSWORD).url == "/login/code/"
        clients.append(client)
    return clients


def failures(device) -> int:
    device.refresh_from_db()
    return device.throttling_failure_count


def test_concurrent_wrong_login_codes_are_each_counted(member):
    device = member.totpdevice_set.get()
    code = wrong_code(device)
    clients = sessions_at_code_step(member, 12)

    pages = race([lambda c=c: page_text(c.post("/login/code/", {"code": code})) for c in clients])

    checked = sum(NOT_RIGHT in p for p in pages)
    refused = sum(any(t in p for t in THROTTLED) for p in pages)
    assert checked + refused == len(clients), pages
    assert checked >= 1
    assert failures(device) == checked


def test_no_login_code_is_checked_after_the_lock(member, no_backoff, settings):
    device = member.totpdevice_set.get()
    code = wrong_code(device)
    clients = sessions_at_code_step(member, 25)

    pages = race([lambda c=c: page_text(c.post("/login/code/", {"code": code})) for c in clients])

    checked = sum(NOT_RIGHT in p for p in pages)
    assert checked == settings.TOKEN_LOCK_AFTER_FAILURES, pages
    assert failures(device) == settings.TOKEN_LOCK_AFTER_FAILURES
    assert all(LOCKED in p for p in pages if NOT_RIGHT not in p)
    assert member.tokens.get().is_locked


def test_wrong_codes_on_two_tokens_at_once_are_counted_on_each(member, no_backoff, settings):
    hardware = enrol_rfc_token(member, acting_user=member)
    totp = member.totpdevice_set.get()
    code = wrong_code(totp)  # "000000"-style codes: none of the RFC token's next codes either
    assert code not in RFC4226_CODES
    clients = sessions_at_code_step(member, 20)

    pages = race([lambda c=c: page_text(c.post("/login/code/", {"code": code})) for c in clients])

    checked = sum(NOT_RIGHT in p for p in pages)
    assert checked == settings.TOKEN_LOCK_AFTER_FAILURES, pages
    assert failures(totp) == settings.TOKEN_LOCK_AFTER_FAILURES
    assert failures(HOTPDevice.objects.get(pk=hardware.device_id)) == settings.TOKEN_LOCK_AFTER_FAILURES


def test_no_test_page_code_is_checked_after_the_lock(member, no_backoff, settings):
    token = member.tokens.get(kind=TokenKind.TOTP)
    code = wrong_code(member.totpdevice_set.get())
    clients = [log_in(Client(), member) for _ in range(25)]

    pages = race([lambda c=c: page_text(c.post(f"/tokens/{token.pk}/test/", {"code": code})) for c in clients])

    wrong = sum(TEST_FAILED in p for p in pages)
    assert failures(member.totpdevice_set.get()) == settings.TOKEN_LOCK_AFTER_FAILURES
    assert wrong == settings.TOKEN_LOCK_AFTER_FAILURES, pages
    assert all(LOCKED in p for p in pages if TEST_FAILED not in p)


def test_concurrent_wrong_resyncs_are_counted_and_stop_at_the_lock(member, no_backoff, settings):
    hardware = enrol_rfc_token(member, acting_user=member)
    clients = [log_in(Client(), member) for _ in range(25)]
    # Two codes that follow each other, but far beyond the look-ahead window: a wrong pair.
    first, second = code_at(5000), code_at(5001)

    pages = race(
        [
            lambda c=c: page_text(c.post(f"/tokens/{hardware.pk}/reset/", {"first_code": first, "second_code": second}))
            for c in clients
        ]
    )

    device = HOTPDevice.objects.get(pk=hardware.device_id)
    assert failures(device) == settings.TOKEN_LOCK_AFTER_FAILURES
    assert sum("do not follow each other" in p for p in pages) == settings.TOKEN_LOCK_AFTER_FAILURES, pages
    assert Token.objects.get(pk=hardware.pk).is_locked


def test_concurrent_wrong_onboarding_codes_are_each_counted(organisation):
    from tests.factories import NewUserFactory

    user = NewUserFactory(organisation=organisation)
    user.set_password(PASSWORD)
    user.must_change_password = False
    user.save()
    clients = [log_in(Client(), user) for _ in range(10)]
    clients[0].get("/setup/authenticator/")  # the pending secret is made once
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    code = wrong_code(device)

    pages = race([lambda c=c: page_text(c.post("/setup/authenticator/", {"token": code})) for c in clients])

    checked = sum("That code is not right" in p for p in pages)
    assert checked + sum(any(t in p for t in THROTTLED) for p in pages) == len(clients), pages
    assert failures(device) == checked


def test_concurrent_requests_for_a_code_send_exactly_one(member, settings, capsys):
    from tokens.services import enrolment

    device = SmsDevice.objects.create(user=member, name="sms", number="+447400123456", confirmed=True)
    token = enrolment.create_token(user=member, device=device)  # the kind follows from the device
    clients = [log_in(Client(), member) for _ in range(8)]
    capsys.readouterr()

    race([lambda c=c: c.post(f"/tokens/{token.pk}/test/", {"send": "1"}) for c in clients])

    sent = capsys.readouterr().out.count("security code is")
    assert sent == 1
