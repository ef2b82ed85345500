"""Resetting a hardware token that drifted: two consecutive codes, in order, within the window.

The member's token holds the RFC 4226 seed and was registered at counter 0, so the portal expects
counter 1 next; the member then pressed the button hundreds of times away from the portal.
"""

import pytest
from django_otp.plugins.otp_hotp.models import HOTPDevice

from tests.tokens.helpers import audit_mark, audit_since, code_at, enrol_rfc_token, fresh, let_throttle_pass
from tokens import services
from tokens.models import Token


@pytest.fixture
def hardware(member, owner) -> Token:
    return enrol_rfc_token(member, acting_user=owner, serial="HW-RESYNC")


def counter_of(token: Token) -> int:
    return HOTPDevice.objects.get(pk=token.device_id).counter


def logs_in(user, code: str) -> bool:
    let_throttle_pass(user)
    return services.verify_login_code(user=user, code=code).token is not None


def resync(token: Token, first: str, second: str, acting_user) -> bool:
    check = services.resync_hotp(token=fresh(token), first_code=first, second_code=second, acting_user=acting_user)
    return check.passed


def test_drifted_token_is_refused_before_resync(member, hardware):
    assert not logs_in(member, code_at(502))


def test_two_consecutive_codes_far_ahead_resynchronise_the_token(member, hardware):
    assert resync(hardware, code_at(500), code_at(501), member)

    assert counter_of(hardware) == 502
    assert logs_in(member, code_at(502))


def test_codes_used_for_resync_are_spent(member, hardware):
    assert resync(hardware, code_at(500), code_at(501), member)

    assert not logs_in(member, code_at(501))
    assert not logs_in(member, code_at(500))
    assert not resync(hardware, code_at(500), code_at(501), member)
    assert counter_of(hardware) == 502


def test_admin_can_resynchronise_a_members_token(member, owner, hardware):
    assert resync(hardware, code_at(700), code_at(701), owner)

    assert logs_in(member, code_at(702))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (500, 502),  # not consecutive
        (501, 500),  # reversed
        (500, 500),  # the same code twice
        (1500, 1501),  # beyond the 1000-step look-ahead window
    ],
    ids=["gap", "reversed", "same-code", "beyond-window"],
)
def test_codes_that_are_not_consecutive_in_the_window_change_nothing(member, owner, hardware, first, second):
    assert not resync(hardware, code_at(first), code_at(second), owner)

    assert counter_of(hardware) == 1, "a failed resync moved the counter"
    assert logs_in(member, code_at(1)), "after a failed resync the token's next code no longer works"


@pytest.mark.parametrize(("first", "second"), [("", ""), ("abcdef", "ghijkl"), ("12345", "")])
def test_malformed_codes_fail_the_resync_without_an_error(member, hardware, first, second):
    assert not resync(hardware, first, second, member)

    assert counter_of(hardware) == 1


def test_look_ahead_window_comes_from_settings(member, hardware, settings):
    settings.HOTP_RESYNC_WINDOW = 100

    assert not resync(hardware, code_at(150), code_at(151), member)
    assert counter_of(hardware) == 1
    let_throttle_pass(member)  # a failed resync counts as a wrong code, like any other
    assert resync(hardware, code_at(50), code_at(51), member)
    assert counter_of(hardware) == 52


def test_default_look_ahead_window_is_1000(settings):
    assert settings.HOTP_RESYNC_WINDOW == 1000


def test_resync_writes_one_audit_row(member, owner, hardware):
    mark = audit_mark()

    resync(hardware, code_at(500), code_at(501), owner)

    (event,) = audit_since(mark)
    assert event.action == "token.resync"
    assert event.actor == owner
    assert event.subject_user == member
    assert event.organisation == member.organisation
    assert f"#{hardware.pk}" in event.target_label
    assert "HW-RESYNC" in event.target_label


def test_failed_resync_writes_one_audit_row(member, owner, hardware):
    mark = audit_mark()

    resync(hardware, code_at(500), code_at(502), owner)

    (event,) = audit_since(mark)
    assert event.action == "token.resync_failed"
    assert event.actor == owner
    assert event.subject_user == member
    assert f"#{hardware.pk}" in event.target_label
