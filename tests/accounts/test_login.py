"""Logging in: email + password at /login/, then at /login/code/ a code from any of the user's tokens."""

import re
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp.oath import TOTP, hotp, totp
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.middleware import LAST_ACTIVITY_SESSION_KEY
from accounts.models import User
from tests.factories import PASSWORD, UserFactory
from tokens import services as tokens
from tokens.backup_codes import digest as backup_code_digest
from tokens.models import SmsDevice, Token, TokenKind

BAD_LOGIN = "The email or password is not correct."
NOT_RIGHT = "That code is not right, or it has been used already."
TIMED_OUT = "Your login timed out. Please start again."
FALLBACK_NUMBER = "+447400123456"
CODE_FIELD = 'name="code"'


def submit_password(client, email, password, next_url=""):
    return client.post("/login/" + (f"?next={next_url}" if next_url else ""), {"username": email, "password": password})


def submit_code(client, code):
    return client.post("/login/code/", {"code": code})


def ask_for_code(client, token: Token, django_capture_on_commit_callbacks):
    """Press the button that texts or emails a code; the message goes out once the request commits."""
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/login/code/", {"send": str(token.pk)}, follow=True)


def reaches_code_step(response) -> bool:
    return response.status_code == 302 and response.url == "/login/code/"


def authenticator_code(device: TOTPDevice) -> str:
    """The code the user's authenticator app shows right now."""
    device.refresh_from_db()
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def wrong_code(device: TOTPDevice) -> str:
    """Six digits that match no code the device would accept now (it tolerates one step either way)."""
    device.refresh_from_db()
    near = {f"{totp(device.bin_key, drift=d):06d}" for d in range(-3, 4)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def texted_code(output: str) -> str:
    match = re.search(r"security code is (\d{6})", output)
    assert match is not None, output
    return match.group(1)


def add_token(user: User, kind: TokenKind, device) -> Token:
    return Token.objects.create(
        user=user, kind=kind, device_type=ContentType.objects.get_for_model(device), device_id=device.pk
    )


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def log_out(client) -> None:
    client.post("/logout/")
    assert not is_logged_in(client)


def test_member_logs_in_with_password_and_authenticator_code(client, member):
    response = submit_password(client, member.email, PASSWORD)
    assert reaches_code_step(response)
    assert not is_logged_in(client)  # a password alone is not a login
    page = client.get("/login/code/").content.decode()
    assert CODE_FIELD in page

    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.status_code == 302
    assert response.url == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome, Max Member" in home.content.decode()


def test_email_is_case_insensitive_at_login(client, member):
    response = submit_password(client, "  MEMBER@Acme.Example ", PASSWORD)
    assert reaches_code_step(response)

    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.url == "/"
    assert client.get("/").status_code == 200


def test_login_returns_to_the_page_asked_for(client, member):
    assert client.get("/profile/").url == "/login/?next=/profile/"
    submit_password(client, member.email, PASSWORD, next_url="/profile/")

    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.url == "/profile/"


def test_login_never_redirects_to_another_site(client, member):
    submit_password(client, member.email, PASSWORD, next_url="https://evil.example/")

    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.url == "/"


def test_wrong_password_is_refused(client, member):
    response = submit_password(client, member.email, "not-the-password")

    assert response.status_code == 200
    page = response.content.decode()
    assert BAD_LOGIN in page
    assert "pending_login" not in client.session
    assert client.get("/login/code/").url == "/login/"
    assert not is_logged_in(client)


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, member):
    wrong_password = without_csrf(submit_password(client, member.email, "not-the-password").content.decode())
    unknown_email = without_csrf(submit_password(client, "nobody@acme.example", "not-the-password").content.decode())

    assert BAD_LOGIN in unknown_email
    # Apart from the address typed into the form, the two pages are identical: no account enumeration.
    assert unknown_email.replace("nobody@acme.example", member.email) == wrong_password


def test_deactivated_user_gets_the_same_answer_as_a_wrong_password(client, member):
    member.is_active = False
    member.save()

    response = submit_password(client, member.email, PASSWORD)

    assert BAD_LOGIN in response.content.decode()
    assert not is_logged_in(client)


def test_wrong_authenticator_code_is_refused(client, member):
    device = member.totpdevice_set.get()
    submit_password(client, member.email, PASSWORD)

    response = submit_code(client, wrong_code(device))

    assert response.status_code == 400
    assert NOT_RIGHT in response.content.decode()
    assert not is_logged_in(client)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "This field is required."),
        ("12$456", "A code is made of digits (or letters and digits for a backup code)."),
        ("1" * 17, "Ensure this value has at most 16 characters (it has 17)."),
    ],
)
def test_malformed_code_is_refused_with_a_message(client, member, code, message):
    submit_password(client, member.email, PASSWORD)

    response = submit_code(client, code)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not is_logged_in(client)
    device = member.totpdevice_set.get()
    assert device.throttling_failure_count == 0  # a malformed code is not a guess


def test_authenticator_code_cannot_be_used_twice(client, member):
    device = member.totpdevice_set.get()
    code = authenticator_code(device)
    submit_password(client, member.email, PASSWORD)
    assert submit_code(client, code).url == "/"
    log_out(client)

    submit_password(client, member.email, PASSWORD)
    response = submit_code(client, code)

    assert response.status_code == 400
    assert NOT_RIGHT in response.content.decode()
    assert not is_logged_in(client)


def test_disabled_authenticator_is_refused_with_the_reason(client, member):
    token = member.tokens.get()
    token.enabled = False
    token.save()
    submit_password(client, member.email, PASSWORD)

    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.status_code == 400
    assert "This token is disabled. Ask an admin of your organisation to enable it." in response.content.decode()
    assert not is_logged_in(client)


def test_member_logs_in_with_a_hardware_token_code(client, member):
    device = HOTPDevice.objects.create(user=member, name="hardware", key="3132333435363738393031323334353637383930")
    add_token(member, TokenKind.HOTP, device)
    submit_password(client, member.email, PASSWORD)

    response = submit_code(client, f"{hotp(device.bin_key, 0):06d}")

    assert response.url == "/"
    device.refresh_from_db()
    assert device.counter == 1  # the code pressed is spent


# --- Backup codes -----------------------------------------------------------------------------


@pytest.fixture
def backup_codes(member) -> list[str]:
    return tokens.generate_backup_codes(user=member, acting_user=member)


def test_backup_code_logs_in_once(client, member, backup_codes):
    code = backup_codes[3]
    submit_password(client, member.email, PASSWORD)
    assert "A backup code works too, once." in client.get("/login/code/").content.decode()

    response = submit_code(client, code)

    assert response.url == "/"
    assert client.get("/").status_code == 200
    assert not StaticToken.objects.filter(token=backup_code_digest(code)).exists()
    assert StaticToken.objects.filter(device__user=member).count() == len(backup_codes) - 1

    log_out(client)
    submit_password(client, member.email, PASSWORD)
    response = submit_code(client, code)
    assert response.status_code == 400
    assert NOT_RIGHT in response.content.decode()
    assert not is_logged_in(client)


def test_backup_code_is_accepted_with_spaces_typed(client, member, backup_codes):
    code = backup_codes[0]
    submit_password(client, member.email, PASSWORD)

    response = submit_code(client, f" {code[:4]} {code[4:]} ")

    assert response.url == "/"


def test_logging_in_with_a_backup_code_does_not_count_against_the_authenticator(client, member, backup_codes):
    """A code is tried against every token; the ones it was not meant for must not count a failure.

    Otherwise each login by backup code (or texted code) throttles the authenticator app, and after
    TOKEN_LOCK_AFTER_FAILURES such logins it is locked until an admin unlocks it.
    """
    device = member.totpdevice_set.get()
    submit_password(client, member.email, PASSWORD)
    assert submit_code(client, backup_codes[0]).url == "/"
    log_out(client)

    device.refresh_from_db()
    assert device.throttling_failure_count == 0, (
        "tokens.services.verify_login_code counted the backup code as a wrong authenticator code"
    )
    submit_password(client, member.email, PASSWORD)
    assert submit_code(client, authenticator_code(device)).url == "/"


# --- Codes sent by text message or email ------------------------------------------------------


@pytest.fixture
def phone_token(member: User) -> Token:
    device = SmsDevice.objects.create(user=member, name="sms", number=FALLBACK_NUMBER, confirmed=True)
    return add_token(member, TokenKind.SMS, device)


@pytest.fixture
def member_at_code_step(client, member):
    assert reaches_code_step(submit_password(client, member.email, PASSWORD))
    return member


def test_member_can_log_in_with_a_text_message_code(
    client, member, phone_token, capsys, django_capture_on_commit_callbacks
):
    submit_password(client, member.email, PASSWORD)
    page = client.get("/login/code/").content.decode()
    assert "Text a code to •••• •• 3456" in page  # masked: only the password is proven so far
    assert "7400 123456" not in page and FALLBACK_NUMBER not in page
    assert f'name="send" value="{phone_token.pk}"' in page
    assert capsys.readouterr().out == ""  # nothing is texted until the user asks

    response = ask_for_code(client, phone_token, django_capture_on_commit_callbacks)

    assert response.redirect_chain == [("/login/code/", 302)]
    assert "We sent a code to •••• •• 3456." in response.content.decode()
    sent = capsys.readouterr().out
    assert f"[SMS to {FALLBACK_NUMBER}]" in sent
    response = submit_code(client, texted_code(sent))
    assert response.url == "/"
    assert client.get("/").status_code == 200


def test_text_message_code_must_be_right(
    client, member_at_code_step, phone_token, capsys, django_capture_on_commit_callbacks
):
    ask_for_code(client, phone_token, django_capture_on_commit_callbacks)
    sent_code = texted_code(capsys.readouterr().out)
    wrong = "000000" if sent_code != "000000" else "111111"

    response = submit_code(client, wrong)

    assert response.status_code == 400
    assert NOT_RIGHT in response.content.decode()
    assert not is_logged_in(client)


def test_texted_code_works_once(client, member_at_code_step, phone_token, capsys, django_capture_on_commit_callbacks):
    ask_for_code(client, phone_token, django_capture_on_commit_callbacks)
    code = texted_code(capsys.readouterr().out)
    assert submit_code(client, code).url == "/"
    log_out(client)

    submit_password(client, member_at_code_step.email, PASSWORD)
    response = submit_code(client, code)

    assert response.status_code == 400
    assert NOT_RIGHT in response.content.decode()
    assert not is_logged_in(client)


def test_texted_code_is_refused_after_ten_minutes(
    client, member_at_code_step, phone_token, capsys, django_capture_on_commit_callbacks
):
    ask_for_code(client, phone_token, django_capture_on_commit_callbacks)
    code = texted_code(capsys.readouterr().out)
    device = SmsDevice.objects.get(pk=phone_token.device_id)
    assert settings.TOKEN_CODE_VALID_SECONDS == 600
    assert timedelta(minutes=9) < device.valid_until - timezone.now() <= timedelta(minutes=10)

    SmsDevice.objects.filter(pk=device.pk).update(valid_until=timezone.now() - timedelta(seconds=1))
    response = submit_code(client, code)

    assert response.status_code == 400
    assert NOT_RIGHT in response.content.decode()
    assert not is_logged_in(client)


def test_asking_again_inside_the_cooldown_says_how_long_to_wait(
    client, member_at_code_step, phone_token, capsys, django_capture_on_commit_callbacks
):
    ask_for_code(client, phone_token, django_capture_on_commit_callbacks)
    capsys.readouterr()

    response = ask_for_code(client, phone_token, django_capture_on_commit_callbacks)

    assert re.search(r"Please wait \d+ seconds before asking for another", response.content.decode())
    assert "[SMS to" not in capsys.readouterr().out


def test_member_can_log_in_with_an_emailed_code(client, member_at_code_step, django_capture_on_commit_callbacks):
    device = EmailDevice.objects.create(
        user=member_at_code_step, name="email", email="max@home.example", confirmed=True
    )
    token = add_token(member_at_code_step, TokenKind.EMAIL, device)
    assert "Email a code to max@home.example" in client.get("/login/code/").content.decode()

    response = ask_for_code(client, token, django_capture_on_commit_callbacks)

    assert "We sent a code to max@home.example." in response.content.decode()
    (message,) = mail.outbox
    assert message.to == ["max@home.example"]
    response = submit_code(client, texted_code(message.body))
    assert response.url == "/"


@pytest.mark.parametrize("whose", ["outsider", "own authenticator", "garbage"])
def test_sending_a_code_to_a_token_that_cannot_receive_one_is_refused(
    client, member_at_code_step, outsider, capsys, django_capture_on_commit_callbacks, whose
):
    device = SmsDevice.objects.create(user=outsider, name="sms", number="+447400999888", confirmed=True)
    outsiders_phone = add_token(outsider, TokenKind.SMS, device)
    token_id = {
        "outsider": str(outsiders_phone.pk),
        "own authenticator": str(member_at_code_step.tokens.get().pk),
        "garbage": "1; DROP TABLE",
    }[whose]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/login/code/", {"send": token_id}, follow=True)

    assert "That token cannot receive codes." in response.content.decode()
    assert "[SMS to" not in capsys.readouterr().out
    device.refresh_from_db()
    assert device.token is None
    assert not is_logged_in(client)


@pytest.mark.parametrize("token_id", ["garbage", "phone"])
def test_asking_for_a_text_message_before_the_password_starts_the_login_again(
    client, member, phone_token, capsys, django_capture_on_commit_callbacks, token_id
):
    token_id = str(phone_token.pk) if token_id == "phone" else token_id

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/login/code/", {"send": token_id})

    assert response.status_code == 302
    assert response.url == "/login/"
    assert "[SMS to" not in capsys.readouterr().out
    assert not is_logged_in(client)


# --- The code step's own rules ----------------------------------------------------------------


def test_code_step_without_the_password_step_goes_to_the_login_page(client, member):
    response = client.get("/login/code/", follow=True)

    assert response.redirect_chain == [("/login/", 302)]
    page = response.content.decode()
    assert 'name="password"' in page
    assert TIMED_OUT not in page  # nothing was started, so nothing timed out


def test_code_step_without_the_password_step_accepts_no_code(client, member):
    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.url == "/login/"
    assert not is_logged_in(client)


def backdate_password_step(client, seconds: float) -> None:
    session = client.session
    session["pending_login"]["at"] = time.time() - seconds
    session.save()


def test_code_step_times_out(client, member_at_code_step):
    backdate_password_step(client, settings.LOGIN_CODE_STEP_SECONDS + 1)

    response = client.post(
        "/login/code/", {"code": authenticator_code(member_at_code_step.totpdevice_set.get())}, follow=True
    )

    assert response.redirect_chain == [("/login/", 302)]
    assert TIMED_OUT in response.content.decode()
    assert not is_logged_in(client)
    assert "pending_login" not in client.session
    assert client.get("/login/code/").url == "/login/"


def test_code_step_still_works_just_before_it_times_out(client, member_at_code_step):
    backdate_password_step(client, settings.LOGIN_CODE_STEP_SECONDS - 5)

    response = submit_code(client, authenticator_code(member_at_code_step.totpdevice_set.get()))

    assert response.url == "/"
    assert is_logged_in(client)


def test_user_deactivated_between_the_two_steps_is_not_logged_in(client, member_at_code_step):
    User.objects.filter(pk=member_at_code_step.pk).update(is_active=False)

    response = submit_code(client, authenticator_code(member_at_code_step.totpdevice_set.get()))

    assert response.url == "/login/"
    assert not is_logged_in(client)


# --- Users part-way through set-up ------------------------------------------------------------


def test_user_who_stopped_before_the_phone_step_is_sent_back_to_it(client, organisation):
    user = UserFactory(organisation=organisation)  # password and authenticator app...
    User.objects.filter(pk=user.pk).update(onboarded_at=None)  # ...but no decision on a fallback number

    submit_password(client, user.email, PASSWORD)
    response = submit_code(client, authenticator_code(user.totpdevice_set.get()))
    response = client.get(response.url)

    assert response.status_code == 302
    assert response.url == "/setup/phone/"


def test_user_whose_factors_were_reset_is_sent_to_enrol_an_authenticator(
    client, member, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.reset_second_factors(user=member, acting_user=owner)
    # The old password no longer works (a password alone must never enrol a factor): set-up
    # starts again from the temporary password emailed with the reset.
    assert BAD_LOGIN in submit_password(client, member.email, PASSWORD).content.decode()
    temporary = re.search(r"Temporary password: (\S+)", mail.outbox[-1].body).group(1)
    response = submit_password(client, member.email, temporary)
    assert response.url == "/"  # no factor to ask for yet
    new_password = "another-long-passphrase-7"
    client.post("/setup/password/", {"new_password1": new_password, "new_password2": new_password})
    response = client.get("/")

    assert response.url == "/setup/authenticator/"
    assert client.get("/setup/authenticator/").status_code == 200


# --- Sessions ---------------------------------------------------------------------------------


def test_session_without_second_factor_is_logged_out(client, member):
    client.force_login(member, backend="accounts.backends.EmailBackend")  # password only

    response = client.get("/profile/")

    assert response.status_code == 302
    assert response.url == "/login/"
    assert not is_logged_in(client)
    assert client.get("/profile/").url == "/login/?next=/profile/"


def test_logging_out_ends_the_session(member_client):
    assert member_client.get("/").status_code == 200

    response = member_client.post("/logout/")

    assert response.status_code == 302
    assert response.url == "/login/"
    assert "You are logged out." in member_client.get(response.url).content.decode()
    assert member_client.get("/").url == "/login/?next=/"


def test_session_cookie_is_named_for_the_environment(client, member):
    submit_password(client, member.email, PASSWORD)
    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert settings.SESSION_COOKIE_NAME == "portal-test-session"
    assert "portal-test-session" in response.cookies
    assert response.cookies["portal-test-session"]["httponly"]


def test_session_ends_after_30_minutes_without_a_request(member_client):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    session = member_client.session
    session.set_expiry(-1)  # the last request was longer ago than the idle timeout
    session.save()

    response = member_client.get("/profile/")

    assert response.status_code == 302
    assert response.url == "/login/?next=/profile/"


def _last_activity_minutes_ago(client, minutes: int) -> str:
    session = client.session
    session[LAST_ACTIVITY_SESSION_KEY] = int(time.time()) - minutes * 60
    session.save()
    # The previous save was that long ago too: this many minutes of the 30 are used up.
    Session.objects.filter(session_key=session.session_key).update(
        expire_date=timezone.now() + timedelta(minutes=30 - minutes)
    )
    cache.clear()  # the cached_db engine would otherwise answer from its cached copy
    return session.session_key


def test_a_request_after_a_minute_restarts_the_idle_timeout(member_client):
    session_key = _last_activity_minutes_ago(member_client, 29)

    assert member_client.get("/").status_code == 200

    expires = Session.objects.get(session_key=session_key).expire_date
    assert expires > timezone.now() + timedelta(minutes=29)


def test_requests_within_a_minute_do_not_write_the_session(member_client):
    session_key = member_client.session.session_key
    member_client.get("/")  # restarts the timeout and notes when
    expires = Session.objects.get(session_key=session_key).expire_date

    with CaptureQueriesContext(connection) as queries:
        assert member_client.get("/").status_code == 200

    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert not [sql for sql in writes if "django_session" in sql]
    assert Session.objects.get(session_key=session_key).expire_date == expires


def test_an_unknown_session_cookie_creates_no_session(client, member):
    client.cookies[settings.SESSION_COOKIE_NAME] = "no-such-session-key-0123456789abcdef"

    response = client.get("/login/")

    assert response.status_code == 200
    assert not Session.objects.exists()


@pytest.mark.django_db
def test_an_address_longer_than_any_email_is_refused_with_a_message_not_a_server_error(client):
    from axes.models import AccessAttempt, AccessFailureLog

    too_long = "x" * 250 + "@example.com"  # 262 characters: the fuzzer's case (it was a 500)

    response = client.post("/login/", {"username": too_long, "password": "anything"})

    assert response.status_code == 200
    assert "at most 254 characters" in response.content.decode()
    assert not AccessAttempt.objects.exists() and not AccessFailureLog.objects.exists()
