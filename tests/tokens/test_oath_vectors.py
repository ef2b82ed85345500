"""The published OATH test vectors, checked through the portal's own enrolment and login code.

RFC 4226 Appendix D (HOTP) and RFC 6238 Appendix B (TOTP, SHA-1) use the ASCII seed
"12345678901234567890". Hardware tokens are registered with ``enrol_hotp`` exactly as an admin
types the secret; the authenticator app is confirmed with ``confirm_totp``. Codes are then given
to ``verify_login_code`` (the login page's check) and ``test_token`` (the token page's test).
The RFC's moments are reached by moving the clock (time-machine), which django-otp's TOTP reads.
"""

import pytest
import time_machine

from tests.factories import UserFactory
from tests.tokens.helpers import (
    RFC4226_CODES,
    RFC_SEED,
    SEED_BASE32,
    SEED_HEX,
    code_at,
    enrol_rfc_token,
    fresh,
    let_throttle_pass,
    rfc4226,
)
from tokens import services
from tokens.models import Token, TokenKind

# RFC 6238 Appendix B, SHA-1 column: (Unix time, 8-digit code).
RFC6238_SHA1 = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


@pytest.fixture
def person(organisation):
    """A user whose only token is the one a test gives them."""
    return UserFactory.create(organisation=organisation, email="person@acme.example", totp=False)


def clock_at(unix_time: int) -> time_machine.travel:
    return time_machine.travel(float(unix_time), tick=False)


def test_independent_hotp_reproduces_rfc4226_vectors():
    # The resync and lifecycle tests compute codes with this helper; it must match the RFC too.
    assert [rfc4226(RFC_SEED, counter) for counter in range(10)] == RFC4226_CODES


def spaced(text: str) -> str:
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@pytest.mark.parametrize(
    "secret",
    [SEED_HEX, SEED_HEX.upper(), spaced(SEED_HEX), SEED_BASE32, spaced(SEED_BASE32.lower())],
    ids=["hex", "hex-upper", "hex-spaced", "base32", "base32-lower-spaced"],
)
def test_hardware_token_accepts_rfc4226_codes_in_order_once_each(person, owner, secret):
    token = enrol_rfc_token(person, acting_user=owner, secret=secret, code=RFC4226_CODES[0])

    for index, code in enumerate(RFC4226_CODES[1:], start=1):
        if index % 2:
            result = services.verify_login_code(user=person, code=code)
            assert result.token is not None, f"RFC 4226 code {code} (counter {index}) refused: {result.error}"
            assert result.token.pk == token.pk
        else:
            assert services.test_token(token=fresh(token), code=code, acting_user=person), (
                f"RFC 4226 code {code} (counter {index}) failed the token test"
            )

    replay = services.verify_login_code(user=person, code=RFC4226_CODES[-1])
    assert replay.token is None
    assert "used already" in replay.error
    let_throttle_pass(person)
    assert not services.test_token(token=fresh(token), code=RFC4226_CODES[-1], acting_user=person)


def test_code_accepted_by_the_token_test_is_refused_at_login(person, owner):
    token = enrol_rfc_token(person, acting_user=owner)

    assert services.test_token(token=fresh(token), code=RFC4226_CODES[1], acting_user=person)

    replay = services.verify_login_code(user=person, code=RFC4226_CODES[1])
    assert replay.token is None
    assert "used already" in replay.error


def test_enrolment_with_a_later_code_moves_past_it(person, owner):
    # The admin pressed the button a few times before typing the code (counter 3).
    enrol_rfc_token(person, acting_user=owner, code=RFC4226_CODES[3])

    earlier = services.verify_login_code(user=person, code=RFC4226_CODES[2])
    assert earlier.token is None
    let_throttle_pass(person)
    assert services.verify_login_code(user=person, code=RFC4226_CODES[4]).token is not None


def test_hardware_token_refuses_the_enrolment_code_at_login(person, owner):
    enrol_rfc_token(person, acting_user=owner, code=RFC4226_CODES[0])

    assert services.verify_login_code(user=person, code=RFC4226_CODES[0]).token is None


def test_hardware_token_accepts_a_code_a_few_presses_ahead(person, owner):
    # Button pressed without logging in: django-otp looks a few counters ahead.
    enrol_rfc_token(person, acting_user=owner)

    assert services.verify_login_code(user=person, code=code_at(4)).token is not None
    assert services.verify_login_code(user=person, code=code_at(5)).token is not None


def rfc_authenticator(user) -> Token:
    """An authenticator app holding the RFC 6238 seed, confirmed through the enrolment service."""
    device = services.start_totp(user=user)
    device.key = SEED_HEX
    device.digits = 8
    device.save()
    first_time, first_code = RFC6238_SHA1[0]
    with clock_at(first_time):
        token = services.confirm_totp(user=user, device=device, code=first_code, acting_user=user)
    assert token is not None, f"RFC 6238 code {first_code} at t={first_time} did not confirm the authenticator"
    assert token.kind == TokenKind.TOTP
    return token


def test_authenticator_accepts_rfc6238_codes_at_their_times_once_each(person):
    token = rfc_authenticator(person)

    for index, (at, code) in enumerate(RFC6238_SHA1[1:]):
        with clock_at(at):
            if index % 2:
                ok = services.test_token(token=fresh(token), code=code, acting_user=person)
            else:
                result = services.verify_login_code(user=person, code=code)
                ok = result.token is not None and result.token.pk == token.pk
        assert ok, f"RFC 6238 code {code} refused at t={at}"

    last_time, last_code = RFC6238_SHA1[-1]
    with clock_at(last_time):
        replay = services.verify_login_code(user=person, code=last_code)
    assert replay.token is None
    assert "used already" in replay.error


@pytest.mark.parametrize(("at", "code"), RFC6238_SHA1[1:], ids=[str(t) for t, _ in RFC6238_SHA1[1:]])
def test_authenticator_accepts_each_rfc6238_code_at_login(person, at, code):
    rfc_authenticator(person)

    with clock_at(at):
        result = services.verify_login_code(user=person, code=code)

    assert result.token is not None, f"RFC 6238 code {code} refused at t={at}: {result.error}"


@pytest.mark.parametrize(("at", "code"), RFC6238_SHA1[3:], ids=[str(t) for t, _ in RFC6238_SHA1[3:]])
def test_authenticator_refuses_an_rfc6238_code_far_from_its_time(person, at, code):
    rfc_authenticator(person)

    with clock_at(RFC6238_SHA1[1][0]):
        result = services.verify_login_code(user=person, code=code)

    assert result.token is None
    assert "not right" in result.error


def test_authenticator_refuses_the_code_of_an_earlier_step(person):
    # 1111111109 and 1111111111 fall in consecutive 30-second steps.
    rfc_authenticator(person)
    with clock_at(1111111111):
        assert services.verify_login_code(user=person, code="14050471").token is not None

        earlier = services.verify_login_code(user=person, code="07081804")

    assert earlier.token is None
