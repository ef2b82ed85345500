"""Brute-force protection on both login steps: django-axes for passwords, django-otp throttling for codes."""

import re
import threading
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.db.models import F, Sum
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.reauth import SESSION_KEY as REAUTH_KEY
from audit.models import AuditEvent
from tests.conftest import log_in, page_text
from tests.factories import PASSWORD
from tests.hashers import FastArgon2PasswordHasher
from tests.race import race
from tokens import backup_codes
from tokens import services as tokens

LOCKED = "Too many failed attempts"
# django-otp's back-off: after one or two wrong codes a plain "wait", from the third "too many".
THROTTLED = re.compile(
    r"(Too many wrong codes\. Wait \d+ seconds?, then try again"
    r"|The last code was not right\. Wait \d+ seconds? before the next try)\."
)
TOO_MANY = re.compile(r"Too many wrong codes\. Wait \d+ seconds?, then try again\.")
LIMIT = settings.AXES_FAILURE_LIMIT


def submit_password(client, email, password, ip="192.0.2.1"):
    return client.post("/login/", {"username": email, "password": password}, REMOTE_ADDR=ip)


def submit_code(client, code, ip="192.0.2.1"):
    return client.post("/login/code/", {"code": code}, REMOTE_ADDR=ip)


def reaches_code_step(response) -> bool:
    return response.status_code == 302 and response.url == "/login/code/"


def fail_passwords(client, emails, ips):
    """One wrong password per (email, ip) pair; returns the last response."""
    response = None
    for email, ip in zip(emails, ips, strict=True):
        response = submit_password(client, email, "not-the-password", ip=ip)
    return response


def ips(count: int, network: str = "198.51.100") -> list[str]:
    return [f"{network}.{i}" for i in range(1, count + 1)]


def let_cool_off_pass() -> None:
    """As if the cool-off period had passed since the failures."""
    cool_off = timedelta(hours=settings.AXES_COOLOFF_TIME)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - cool_off - timedelta(minutes=1))


def test_failure_limit_is_five():
    assert LIMIT == 5


def test_account_is_locked_after_five_wrong_passwords_even_for_the_right_one(client, member):
    # From a different address each time: the account itself is locked, not only one address.
    for attempt, ip in enumerate(ips(LIMIT - 1), start=1):
        response = submit_password(client, member.email, "not-the-password", ip=ip)
        assert response.status_code == 200, f"attempt {attempt} should get the normal message"
        assert "The email or password is not correct." in response.content.decode()

    response = submit_password(client, member.email, "not-the-password", ip="198.51.100.99")
    assert response.status_code == 429
    assert LOCKED in response.content.decode()

    response = submit_password(client, member.email, PASSWORD, ip="203.0.113.50")
    assert response.status_code == 429
    page = response.content.decode()
    assert LOCKED in page
    assert "Try again in 15 minutes" in page
    assert "pending_login" not in client.session
    assert "_auth_user_id" not in client.session


def test_lockout_counts_the_email_whatever_its_case(client, member):
    spellings = ["MEMBER@acme.example", "Member@Acme.Example", "member@ACME.example", "mEmBeR@acme.example"]
    fail_passwords(client, [*spellings, "member@acme.example"], ips(LIMIT))

    response = submit_password(client, member.email, PASSWORD, ip="203.0.113.50")

    assert response.status_code == 429
    assert LOCKED in response.content.decode()


def test_lockout_page_is_the_same_for_an_email_that_does_not_exist(client, member):
    fail_passwords(client, [member.email] * LIMIT, ips(LIMIT, "198.51.100"))
    fail_passwords(client, ["nobody@acme.example"] * LIMIT, ips(LIMIT, "198.51.101"))

    existing = submit_password(client, member.email, PASSWORD, ip="203.0.113.50")
    unknown = submit_password(client, "nobody@acme.example", PASSWORD, ip="203.0.113.51")

    assert (existing.status_code, unknown.status_code) == (429, 429)
    assert existing.content == unknown.content


def test_other_accounts_are_not_locked_by_one_accounts_failures(client, member, owner):
    fail_passwords(client, [member.email] * LIMIT, ips(LIMIT))

    assert reaches_code_step(submit_password(client, owner.email, PASSWORD, ip="203.0.113.50"))


def test_right_password_works_again_after_the_cool_off(client, member):
    fail_passwords(client, [member.email] * LIMIT, ips(LIMIT))
    assert submit_password(client, member.email, PASSWORD, ip="203.0.113.50").status_code == 429

    let_cool_off_pass()

    assert reaches_code_step(submit_password(client, member.email, PASSWORD, ip="203.0.113.50"))


def test_support_can_lift_a_lockout(client, member):
    fail_passwords(client, [member.email] * LIMIT, ips(LIMIT))

    reset(username=member.email)

    assert reaches_code_step(submit_password(client, member.email, PASSWORD, ip="203.0.113.50"))


OFFICE = "192.0.2.66"  # one office network behind one address
ADDRESS_LOCKED = "Too many failed logins from your network"


def test_limits_are_five_per_account_and_fifty_per_address():
    assert settings.AXES_LOCKOUT_PARAMETERS == [["username"], ["username", "ip_address"]]
    assert settings.AXES_IP_FAILURE_LIMIT == 50


def test_a_colleague_on_the_same_network_still_logs_in_after_anothers_five_typos(client, member, owner):
    last = fail_passwords(client, [member.email] * LIMIT, [OFFICE] * LIMIT)
    assert last.status_code == 429

    assert reaches_code_step(submit_password(Client(), owner.email, PASSWORD, ip=OFFICE))
    # The account with the typos stays locked, from anywhere.
    assert submit_password(Client(), member.email, PASSWORD, ip="203.0.113.50").status_code == 429


def test_a_signed_in_users_reauthentication_is_not_locked_by_someone_elses_failures(client, member, owner):
    fail_passwords(client, [member.email] * LIMIT, [OFFICE] * LIMIT)
    signed_in = log_in(Client(), owner)
    session = signed_in.session
    del session[REAUTH_KEY]
    session.save()
    target = f"/users/{member.pk}/tokens/add/totp/"

    response = signed_in.post(f"/reauthenticate/?next={target}", {"password": PASSWORD}, REMOTE_ADDR=OFFICE)

    assert (response.status_code, response.url) == (302, target)
    assert signed_in.get(target).status_code == 200


def test_many_accounts_failing_from_one_address_lock_that_address(client, member, owner):
    limit = settings.AXES_IP_FAILURE_LIMIT
    accounts = [f"person{n}@stuffing.example" for n in range(limit // LIMIT)]
    for email in accounts:
        fail_passwords(client, [email] * LIMIT, [OFFICE] * LIMIT)
    assert AccessAttempt.objects.filter(ip_address=OFFICE).aggregate(n=Sum("failures_since_start"))["n"] == limit

    from_that_address = submit_password(Client(), owner.email, PASSWORD, ip=OFFICE)
    from_elsewhere = submit_password(Client(), owner.email, PASSWORD, ip="192.0.2.67")

    assert from_that_address.status_code == 429
    page = page_text(from_that_address)
    assert ADDRESS_LOCKED in page
    assert "Try again in 15 minutes" in page
    assert reaches_code_step(from_elsewhere)
    assert audit_rows("login.locked_out") == [(owner.email, OFFICE, {"reason": "address"})]


def test_fewer_failures_across_accounts_do_not_lock_the_address(client, owner):
    limit = settings.AXES_IP_FAILURE_LIMIT
    for n in range(limit // LIMIT):
        attempts = LIMIT if n else LIMIT - 1
        fail_passwords(client, [f"person{n}@stuffing.example"] * attempts, [OFFICE] * attempts)

    assert reaches_code_step(submit_password(Client(), owner.email, PASSWORD, ip=OFFICE))


def test_the_address_lock_lifts_after_the_cool_off(client, owner):
    for n in range(settings.AXES_IP_FAILURE_LIMIT // LIMIT):
        fail_passwords(client, [f"person{n}@stuffing.example"] * LIMIT, [OFFICE] * LIMIT)
    assert submit_password(Client(), owner.email, PASSWORD, ip=OFFICE).status_code == 429

    let_cool_off_pass()

    assert reaches_code_step(submit_password(Client(), owner.email, PASSWORD, ip=OFFICE))


def audit_rows(action: str) -> list[tuple[str, str | None, dict]]:
    return list(
        AuditEvent.objects.filter(action=action).order_by("pk").values_list("target_label", "ip_address", "details")
    )


def test_a_refused_login_during_a_lock_is_audited_as_refused_not_as_a_wrong_password(client, member):
    fail_passwords(client, [member.email] * LIMIT, [OFFICE] * LIMIT)

    refused = submit_password(client, member.email, PASSWORD, ip=OFFICE)

    assert refused.status_code == 429
    assert audit_rows("login.failed") == [(member.email, OFFICE, {})] * LIMIT
    assert audit_rows("login.locked_out") == [(member.email, OFFICE, {"reason": "account"})]
    (event,) = AuditEvent.objects.filter(action="login.locked_out")
    assert event.organisation == member.organisation
    # Refused, not checked: the lock is not extended by the account holder trying again.
    assert AccessAttempt.objects.aggregate(n=Sum("failures_since_start"))["n"] == LIMIT


def test_a_signed_in_users_wrong_reauthentication_is_theirs_in_the_trail(owner):
    signed_in = log_in(Client(), owner)
    session = signed_in.session
    del session[REAUTH_KEY]
    session.save()

    signed_in.post("/reauthenticate/?next=/", {"password": "not-the-password"}, REMOTE_ADDR=OFFICE)

    (event,) = AuditEvent.objects.filter(action="login.failed")
    assert (event.actor, event.target_label, event.ip_address) == (owner, owner.email, OFFICE)


def test_a_signed_in_users_wrong_reauthentications_lock_their_own_account(owner, member):
    signed_in = log_in(Client(), owner)
    session = signed_in.session
    del session[REAUTH_KEY]
    session.save()

    responses = [
        signed_in.post("/reauthenticate/?next=/", {"password": "not-the-password"}, REMOTE_ADDR=OFFICE)
        for _ in range(LIMIT)
    ]

    assert [r.status_code for r in responses] == [400] * (LIMIT - 1) + [429]
    assert submit_password(Client(), owner.email, PASSWORD, ip="203.0.113.50").status_code == 429
    assert reaches_code_step(submit_password(Client(), member.email, PASSWORD, ip=OFFICE))


class CountingHasher(FastArgon2PasswordHasher):
    """The tests' Argon2, counting the passwords it checks (threads share the count)."""

    checked = 0
    _lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with CountingHasher._lock:
            CountingHasher.checked += 1
        return super().verify(password, encoded)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_passwords_are_checked_no_more_often_than_the_limit(settings, member):
    """Twenty wrong passwords for one account at the same moment, each from its own browser.

    django-axes alone checks the count, then the password, then records the failure: all twenty
    saw no failure yet and had their password checked. The gate in front lets at most five through.
    It can let one fewer through, never one more: a check whose failure is already recorded but
    whose place in the Redis count is not yet given back is seen twice by a request arriving in that
    instant (accounts/lockout.py takes the place before reading the failures for exactly this reason:
    the other order could miss it and admit one too many).
    """
    settings.PASSWORD_HASHERS = ["tests.accounts.test_lockout.CountingHasher"]
    CountingHasher.checked = 0
    attempts = 20
    responses, errors = race(
        [lambda: submit_password(Client(), member.email, "not-the-password", ip=OFFICE) for _ in range(attempts)]
    )
    assert not errors, errors
    statuses = [r.status_code for r in responses]  # the status of each answer

    checked = CountingHasher.checked
    assert len(statuses) == attempts
    assert set(statuses) <= {200, 429}
    assert LIMIT - 1 <= checked <= LIMIT
    assert statuses.count(429) >= attempts - checked
    # Every checked password is a recorded failure and a login.failed; every other one was refused unchecked.
    assert AccessAttempt.objects.aggregate(n=Sum("failures_since_start"))["n"] == checked
    assert AuditEvent.objects.filter(action="login.failed").count() == checked
    assert AuditEvent.objects.filter(action="login.locked_out").count() == attempts - checked
    # Up to the limit, one at a time; then the account holder is refused too, without a check.
    for _ in range(LIMIT - checked):
        submit_password(Client(), member.email, "not-the-password", ip=OFFICE)
    assert CountingHasher.checked == LIMIT
    assert submit_password(Client(), member.email, PASSWORD, ip="203.0.113.50").status_code == 429
    assert CountingHasher.checked == LIMIT


def test_successful_login_clears_earlier_failures(client, member):
    fail_passwords(client, [member.email] * (LIMIT - 1), ["192.0.2.1"] * (LIMIT - 1))
    assert reaches_code_step(submit_password(client, member.email, PASSWORD))
    assert submit_code(client, authenticator_code(member.totpdevice_set.get())).url == "/"
    client.post("/logout/")

    fail_passwords(client, [member.email] * (LIMIT - 1), ["192.0.2.1"] * (LIMIT - 1))

    assert reaches_code_step(submit_password(client, member.email, PASSWORD))


def test_right_password_without_the_code_does_not_clear_failures(client, member):
    fail_passwords(client, [member.email] * (LIMIT - 1), ["192.0.2.1"] * (LIMIT - 1))
    assert reaches_code_step(submit_password(client, member.email, PASSWORD))

    response = submit_password(client, member.email, "not-the-password")

    assert response.status_code == 429


# --- Second step: guessing codes ----------------------------------------------------------------


def authenticator_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def wrong_code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    near = {f"{totp(device.bin_key, drift=d):06d}" for d in range(-3, 4)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def wait_out_the_throttle(user) -> None:
    """As if the attacker had waited exactly as long as the throttle asks before the next guess.

    A code is tried against each of the user's tokens, so each of their devices is throttled.
    """
    for token in user.tokens.all():
        device = token.device
        if device.throttling_failure_timestamp is not None:
            delay = settings.OTP_TOTP_THROTTLE_FACTOR * 2 ** (device.throttling_failure_count - 1)
            type(device).objects.filter(pk=device.pk).update(
                throttling_failure_timestamp=timezone.now() - timedelta(seconds=delay + 1)
            )


@pytest.fixture
def member_at_code_step(client, member):
    assert reaches_code_step(submit_password(client, member.email, PASSWORD))
    return member


def test_wrong_codes_throttle_the_authenticator_even_for_the_right_code(client, member_at_code_step):
    device = member_at_code_step.totpdevice_set.get()
    for expected_failures in range(1, 5):
        wait_out_the_throttle(member_at_code_step)
        response = submit_code(client, wrong_code(device))
        assert "That code is not right" in response.content.decode()
        device.refresh_from_db()
        assert device.throttling_failure_count == expected_failures

    allowed, details = device.verify_is_allowed()
    assert not allowed
    assert details["failure_count"] == 4

    response = submit_code(client, authenticator_code(device))

    assert response.status_code == 400
    assert THROTTLED.search(response.content.decode())
    assert "_auth_user_id" not in client.session


def test_guessing_without_waiting_does_not_get_more_tries(client, member_at_code_step):
    device = member_at_code_step.totpdevice_set.get()
    submit_code(client, wrong_code(device))

    responses = [submit_code(client, code) for code in ("123456", "654321", authenticator_code(device))]

    assert all(THROTTLED.search(r.content.decode()) for r in responses)
    assert not any("Too many" in r.content.decode() for r in responses)  # one slip is not "too many"
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # throttled tries are not even checked


def test_one_wrong_code_is_never_called_too_many_but_the_third_in_a_row_is(client, member_at_code_step):
    device = member_at_code_step.totpdevice_set.get()
    submit_code(client, wrong_code(device))

    retry = submit_code(client, authenticator_code(device)).content.decode()

    assert "The last code was not right. Wait 1 second before the next try." in retry
    assert "Too many" not in retry
    for _ in range(2):
        wait_out_the_throttle(member_at_code_step)
        submit_code(client, wrong_code(device))

    third = submit_code(client, authenticator_code(device)).content.decode()

    assert TOO_MANY.search(third)
    assert "_auth_user_id" not in client.session
    assert "_auth_user_id" not in client.session


def test_starting_the_login_again_does_not_reset_the_throttle(client, member_at_code_step):
    device = member_at_code_step.totpdevice_set.get()
    for _ in range(3):
        wait_out_the_throttle(member_at_code_step)
        submit_code(client, wrong_code(device))

    assert client.get("/login/").status_code == 200  # "Start again"
    assert reaches_code_step(submit_password(client, member_at_code_step.email, PASSWORD))
    response = submit_code(client, authenticator_code(device))

    assert TOO_MANY.search(response.content.decode())
    assert "_auth_user_id" not in client.session
    device.refresh_from_db()
    assert device.throttling_failure_count == 3


def test_right_code_works_once_the_throttle_delay_has_passed(client, member_at_code_step):
    device = member_at_code_step.totpdevice_set.get()
    for _ in range(3):
        wait_out_the_throttle(member_at_code_step)
        submit_code(client, wrong_code(device))

    wait_out_the_throttle(member_at_code_step)
    response = submit_code(client, authenticator_code(device))

    assert response.url == "/"
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_wrong_backup_codes_are_throttled_too(client, member_at_code_step):
    code, *_ = tokens.generate_backup_codes(user=member_at_code_step, acting_user=member_at_code_step)
    for _ in range(3):
        wait_out_the_throttle(member_at_code_step)
        submit_code(client, "wrong-guess")

    response = submit_code(client, code)

    assert THROTTLED.search(response.content.decode())
    assert "_auth_user_id" not in client.session
    assert StaticToken.objects.filter(
        token=backup_codes.digest(code)
    ).exists()  # the real code is not spent by a refused try


def test_token_locks_after_too_many_wrong_codes(client, member_at_code_step):
    device = member_at_code_step.totpdevice_set.get()
    for _ in range(settings.TOKEN_LOCK_AFTER_FAILURES):
        wait_out_the_throttle(member_at_code_step)
        submit_code(client, wrong_code(device))

    wait_out_the_throttle(member_at_code_step)
    response = submit_code(client, authenticator_code(device))

    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert member_at_code_step.tokens.get().is_locked
