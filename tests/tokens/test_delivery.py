"""Codes sent by text message and email: what arrives, how long it is good for, how often one may
be sent, and delivery through Celery with Twilio's retries.

Text messages go through the real Twilio client; only its HTTP layer is the recording stand-in
from the SMS tests (``common.sms.twilio_http_client``). Emails land in ``mail.outbox``. Both are
sent after commit, so each sending call runs inside ``django_capture_on_commit_callbacks``.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_otp.plugins.otp_email.models import EmailDevice

from accounts.models import User
from common.ratelimit import RateLimited
from portal.celery import app as celery_app
from tests.factories import UserFactory
from tests.tokens.helpers import let_throttle_pass, settings_under_environment
from tests.twilio_http import RecordingTwilioHttp
from tokens import kinds, services
from tokens.forms import EmailAddressForm
from tokens.models import SmsDevice, Token, TokenKind

NUMBER = "+44 7400 123456"
E164 = "+447400123456"
ADDRESS = "max.alt@acme.example"
CODE_IN_TEXT = re.compile(r"security code is (\S+?)\. ")


@pytest.fixture
def worker_like():
    """Eager tasks that retry in place instead of raising Retry to the caller, as a worker would."""
    # The Django-namespaced name: Celery looks it up before `task_eager_propagates`.
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.CELERY_TASK_EAGER_PROPAGATES = False
    yield
    celery_app.conf.CELERY_TASK_EAGER_PROPAGATES = propagates


@dataclass
class Channel:
    """One way of receiving codes, with what the person at the other end has received so far."""

    kind: str
    twilio: RecordingTwilioHttp
    capture: Callable[..., Any]

    def start(self, user: User) -> SmsDevice | EmailDevice:
        with self.capture(execute=True):
            if self.kind == "sms":
                return services.start_destination(user=user, spec=kinds.SMS, destination=NUMBER, acting_user=user)
            return services.start_destination(user=user, spec=kinds.EMAIL, destination=ADDRESS, acting_user=user)

    def send_again(self, device: SmsDevice | EmailDevice, user: User) -> None:
        device.refresh_from_db()
        with self.capture(execute=True):
            services.send_code(device=device, user=user)

    def texts(self) -> list[str]:
        if self.kind == "sms":
            return [str(r["data"]["Body"]) for r in self.twilio.sent]  # type: ignore[index]
        return [str(m.body) for m in mail.outbox]

    def recipients(self) -> list[str]:
        if self.kind == "sms":
            return [str(r["data"]["To"]) for r in self.twilio.sent]  # type: ignore[index]
        return [address for m in mail.outbox for address in m.to]

    def codes(self) -> list[str]:
        found = [CODE_IN_TEXT.search(text) for text in self.texts()]
        assert all(found), f"a message without a code: {self.texts()}"
        return [m.group(1) for m in found if m]


@pytest.fixture(params=["sms", "email"])
def channel(request, twilio, django_capture_on_commit_callbacks) -> Channel:
    return Channel(request.param, twilio, django_capture_on_commit_callbacks)


def let_cooldown_pass(device: SmsDevice | EmailDevice, seconds: int) -> None:
    type(device).objects.filter(pk=device.pk).update(
        last_generated_timestamp=timezone.now() - timedelta(seconds=seconds + 1)
    )


def confirm(user: User, device: SmsDevice | EmailDevice, code: str) -> Token | None:
    device.refresh_from_db()
    return services.confirm_destination(user=user, device=device, code=code, acting_user=user)


def wait_in(exc: RateLimited) -> int:
    found = re.search(r"wait (\d+) seconds", exc.message)
    assert found, f"the refusal does not say how many seconds to wait: {exc.message!r}"
    return int(found.group(1))


# --- The code and its life ----------------------------------------------------------------------


def test_code_is_six_digits_sent_to_the_new_number_or_address(channel, member):
    channel.start(member)

    (code,) = channel.codes()
    assert re.fullmatch(r"\d{6}", code)
    assert channel.recipients() == [E164 if channel.kind == "sms" else ADDRESS]
    assert "It expires in 10 minutes." in channel.texts()[0]


def test_code_is_valid_for_at_most_ten_minutes(channel, member):
    device = channel.start(member)

    device.refresh_from_db()
    remaining = (device.valid_until - timezone.now()).total_seconds()
    assert 590 < remaining <= 600


def test_code_is_refused_once_ten_minutes_have_passed(channel, member):
    device = channel.start(member)
    (code,) = channel.codes()
    type(device).objects.filter(pk=device.pk).update(valid_until=timezone.now() - timedelta(seconds=1))

    assert confirm(member, device, code) is None
    assert not Token.objects.filter(user=member, kind=channel.kind).exists()


def test_code_confirms_the_new_token_and_is_then_spent(channel, member):
    device = channel.start(member)
    (code,) = channel.codes()

    token = confirm(member, device, code)

    assert token is not None
    assert token.kind == channel.kind
    let_throttle_pass(member)
    assert services.verify_login_code(user=member, code=code).token is None


def test_code_is_valid_for_no_longer_than_ten_minutes_whatever_the_environment():
    assert settings_under_environment(TOKEN_CODE_VALID_SECONDS="3600")["valid"] == 600
    assert settings_under_environment(TOKEN_CODE_VALID_SECONDS="300")["valid"] == 300


def test_email_address_is_stored_as_typed_without_case_or_spaces(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.start_destination(
            user=member, spec=kinds.EMAIL, destination="  Max.Alt@Acme.EXAMPLE ", acting_user=member
        )

    (message,) = mail.outbox
    assert message.to == [ADDRESS]
    assert message.subject == "Your security code"


# --- Asking again -------------------------------------------------------------------------------


def test_asking_again_within_the_cooldown_says_how_many_seconds_to_wait(channel, member, settings):
    device = channel.start(member)

    with pytest.raises(RateLimited) as refused:
        channel.send_again(device, member)

    assert 1 <= wait_in(refused.value) <= settings.TOKEN_SEND_COOLDOWN_SECONDS
    assert refused.value.retry_after == wait_in(refused.value)
    assert len(channel.texts()) == 1
    (code,) = channel.codes()
    assert confirm(member, device, code) is not None, "the code already sent stopped working"


def test_cooldown_length_comes_from_settings(channel, member, settings):
    settings.TOKEN_SEND_COOLDOWN_SECONDS = 120
    device = channel.start(member)

    with pytest.raises(RateLimited) as refused:
        channel.send_again(device, member)

    wait = wait_in(refused.value)
    assert 60 < wait <= 120, (
        f"with TOKEN_SEND_COOLDOWN_SECONDS=120 the {channel.kind} refusal says wait {wait} seconds "
        "(django-otp's EmailDevice takes its cooldown from OTP_EMAIL_COOLDOWN_DURATION, default 60)"
    )


def test_after_the_cooldown_a_new_code_replaces_the_old_one(channel, member, settings):
    device = channel.start(member)
    let_cooldown_pass(device, settings.TOKEN_SEND_COOLDOWN_SECONDS)

    channel.send_again(device, member)

    old, new = channel.codes()
    if new == old:
        pytest.skip("the two random codes happen to be equal")
    assert confirm(member, device, old) is None
    let_throttle_pass(member)
    assert confirm(member, device, new) is not None


def test_entering_the_number_or_address_again_within_the_cooldown_sends_nothing(channel, member):
    channel.start(member)

    try:
        channel.start(member)
    except RateLimited as refused:
        assert wait_in(refused) >= 1
    assert len(channel.texts()) == 1, (
        f"starting {channel.kind} enrolment again right away, with the same number or address, sent a second "
        f"code: the cooldown lives on the pending device, which start_{channel.kind} deletes and recreates"
    )


def test_hourly_limit_per_user(channel, member, settings):
    settings.TOKEN_SENDS_PER_USER_PER_HOUR = 2
    device = channel.start(member)
    let_cooldown_pass(device, settings.TOKEN_SEND_COOLDOWN_SECONDS)
    channel.send_again(device, member)
    let_cooldown_pass(device, settings.TOKEN_SEND_COOLDOWN_SECONDS)

    with pytest.raises(RateLimited) as refused:
        channel.send_again(device, member)

    assert "Too many codes sent to you in the last hour" in refused.value.message
    assert "Try again in" in refused.value.message
    assert len(channel.texts()) == 2
    assert confirm(member, device, channel.codes()[-1]) is not None, "the last code sent stopped working"


def test_hourly_limit_per_organisation(channel, member, outsider, settings):
    settings.TOKEN_SENDS_PER_ORGANISATION_PER_HOUR = 2
    colleagues = [UserFactory.create(organisation=member.organisation) for _ in range(2)]
    channel.start(member)
    channel.start(colleagues[0])

    with pytest.raises(RateLimited) as refused:
        channel.start(colleagues[1])

    assert "Too many codes sent for your organisation in the last hour" in refused.value.message
    assert len(channel.texts()) == 2
    channel.start(outsider)
    assert len(channel.texts()) == 3


def test_refused_new_number_keeps_the_code_already_sent(twilio, member, settings, django_capture_on_commit_callbacks):
    # Two codes this hour: the second, for the pending number, is the one the member will type.
    settings.TOKEN_SENDS_PER_USER_PER_HOUR = 2
    sms_channel = Channel("sms", twilio, django_capture_on_commit_callbacks)
    device = sms_channel.start(member)
    let_cooldown_pass(device, settings.TOKEN_SEND_COOLDOWN_SECONDS)
    sms_channel.send_again(device, member)
    let_cooldown_pass(device, settings.TOKEN_SEND_COOLDOWN_SECONDS)

    with pytest.raises(RateLimited):
        sms_channel.start(member)

    pending = SmsDevice.objects.filter(user=member, confirmed=False)
    assert [d.pk for d in pending] == [device.pk], (
        "a start_destination refused by the hourly limit deleted the pending number (and its valid code) and left a "
        "new pending number that was never sent a code"
    )
    assert confirm(member, device, sms_channel.codes()[-1]) is not None


def test_cooldown_is_per_token(channel, member):
    channel.start(member)
    other = Channel("email" if channel.kind == "sms" else "sms", channel.twilio, channel.capture)

    other.start(member)

    assert len(channel.texts()) == 1
    assert len(other.texts()) == 1


# --- Bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["not a number", "+44 800 123 4567", "+44 20 7946"])
def test_unusable_number_is_refused_and_nothing_is_sent(twilio, member, number, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ValidationError):
        services.start_destination(user=member, spec=kinds.SMS, destination=number, acting_user=member)

    assert not SmsDevice.objects.filter(user=member).exists()
    assert twilio.sent == []


@pytest.mark.parametrize("address", ["not an email", "max@", "max.alt@acme.example\nBcc: x@evil.example"])
def test_email_form_refuses_an_address_that_cannot_receive_codes(address):
    # start_destination trusts its caller: the form is where a typed address is checked.
    form = EmailAddressForm({"email": address})

    assert not form.is_valid()
    assert list(form.errors) == ["email"]


# --- Codes for a confirmed token at login -------------------------------------------------------


def confirmed_token(channel: Channel, user: User, settings) -> Token:
    device = channel.start(user)
    token = confirm(user, device, channel.codes()[-1])
    assert token is not None
    let_cooldown_pass(device, settings.TOKEN_SEND_COOLDOWN_SECONDS)
    return Token.objects.get(pk=token.pk)


def test_login_code_sent_to_a_confirmed_token_logs_in_once(channel, member, settings):
    token = confirmed_token(channel, member, settings)

    with channel.capture(execute=True):
        services.send_token_code(token=token)

    code = channel.codes()[-1]
    result = services.verify_login_code(user=member, code=code)
    assert result.token is not None and result.token.pk == token.pk
    let_throttle_pass(member)
    assert services.verify_login_code(user=member, code=code).token is None


def test_disabled_token_is_sent_no_code(channel, member, owner, settings):
    token = confirmed_token(channel, member, settings)
    services.set_enabled(token=token, enabled=False, acting_user=owner)

    with channel.capture(execute=True), pytest.raises(ValidationError, match="disabled"):
        services.send_token_code(token=Token.objects.get(pk=token.pk))

    assert len(channel.texts()) == 1


def test_authenticator_is_sent_no_code(member):
    with pytest.raises(ValidationError, match="shows its own codes"):
        services.send_token_code(token=Token.objects.get(user=member, kind=TokenKind.TOTP))


# --- Delivery through Celery --------------------------------------------------------------------


def test_texted_code_arrives_after_twilio_fails_once(twilio, worker_like, member, django_capture_on_commit_callbacks):
    twilio.fail_next(503)

    device = Channel("sms", twilio, django_capture_on_commit_callbacks).start(member)

    assert len(twilio.sent) == 2, f"expected one failed and one successful request, got {len(twilio.sent)}"
    first, last = twilio.sent
    device.refresh_from_db()
    assert device.token is not None
    assert last["data"]["To"] == E164
    assert f"security code is {device.token}." in str(last["data"]["Body"])
    assert first["data"] == last["data"]
    assert confirm(member, device, device.token) is not None


def test_emailed_code_goes_through_the_mail_task(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        device = services.start_destination(user=member, spec=kinds.EMAIL, destination=ADDRESS, acting_user=member)
    assert mail.outbox == []  # sent by the task queued on commit
    for callback in callbacks:
        callback()

    (message,) = mail.outbox
    device.refresh_from_db()
    assert f"security code is {device.token}." in message.body


def test_hourly_limits_lift_in_the_next_hour(channel, member, settings, time_machine):
    settings.TOKEN_SENDS_PER_USER_PER_HOUR = 1
    device = channel.start(member)
    let_cooldown_pass(device, settings.TOKEN_SEND_COOLDOWN_SECONDS)
    with pytest.raises(RateLimited):
        channel.send_again(device, member)

    time_machine.move_to(timezone.now() + timedelta(hours=1))  # the next hour's window
    channel.send_again(device, member)

    assert len(channel.texts()) == 2
    assert confirm(member, device, channel.codes()[-1]) is not None
