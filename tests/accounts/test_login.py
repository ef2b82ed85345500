"""The login wizard at /login/: email + password, then a code from one of the user's factors."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_otp.oath import TOTP, totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from two_factor.plugins.phonenumber.models import PhoneDevice

from accounts.models import User
from tests.factories import PASSWORD, UserFactory

BAD_LOGIN = "The email or password is not correct."
FALLBACK_NUMBER = "+447400123456"


def submit_password(client, email, password):
    return client.post(
        "/login/",
        {"login_view-current_step": "auth", "auth-username": email, "auth-password": password},
    )


def submit_code(client, code, step="token"):
    return client.post("/login/", {"login_view-current_step": step, f"{step}-otp_token": code})


def authenticator_code(device: TOTPDevice) -> str:
    """The code the user's authenticator app shows right now."""
    device.refresh_from_db()
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def wrong_code(device: TOTPDevice) -> str:
    """Six digits that match no code the device would accept now (it tolerates one step either way)."""
    device.refresh_from_db()
    near = {f"{totp(device.bin_key, drift=d):06d}" for d in range(-3, 4)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def log_out(client) -> None:
    client.post("/logout/")
    assert not is_logged_in(client)


def test_member_logs_in_with_password_and_authenticator_code(client, member):
    response = submit_password(client, member.email, PASSWORD)
    assert response.status_code == 200
    assert 'name="token-otp_token"' in response.content.decode()
    assert not is_logged_in(client)  # a password alone is not a login

    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.status_code == 302
    assert response.url == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Welcome, Max Member" in home.content.decode()


def test_email_is_case_insensitive_at_login(client, member):
    response = submit_password(client, "  MEMBER@Acme.Example ", PASSWORD)
    assert 'name="token-otp_token"' in response.content.decode()

    response = submit_code(client, authenticator_code(member.totpdevice_set.get()))

    assert response.url == "/"
    assert client.get("/").status_code == 200


def test_login_returns_to_the_page_asked_for(client, member):
    client.get("/profile/")
    submit_password(client, member.email, PASSWORD)
    response = client.post(
        "/login/?next=/profile/",
        {
            "login_view-current_step": "token",
            "token-otp_token": authenticator_code(member.totpdevice_set.get()),
        },
    )
    assert response.url == "/profile/"


def test_login_never_redirects_to_another_site(client, member):
    submit_password(client, member.email, PASSWORD)
    response = client.post(
        "/login/?next=https://evil.example/",
        {
            "login_view-current_step": "token",
            "token-otp_token": authenticator_code(member.totpdevice_set.get()),
        },
    )
    assert response.url == "/"


def test_wrong_password_is_refused(client, member):
    response = submit_password(client, member.email, "not-the-password")

    assert response.status_code == 200
    page = response.content.decode()
    assert BAD_LOGIN in page
    assert 'name="token-otp_token"' not in page
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

    assert response.status_code == 200
    assert "Invalid token" in response.content.decode()
    assert not is_logged_in(client)
    assert client.get("/").status_code == 302


def test_authenticator_code_cannot_be_used_twice(client, member):
    device = member.totpdevice_set.get()
    code = authenticator_code(device)
    submit_password(client, member.email, PASSWORD)
    assert submit_code(client, code).url == "/"
    log_out(client)

    submit_password(client, member.email, PASSWORD)
    response = submit_code(client, code)

    assert response.status_code == 200
    assert "Invalid token" in response.content.decode()
    assert not is_logged_in(client)


def test_backup_code_logs_in_once(client, member):
    backup = StaticDevice.objects.create(user=member, name="backup")
    token = StaticToken.random_token()
    backup.token_set.create(token=token)

    page = submit_password(client, member.email, PASSWORD).content.decode()
    assert "Use a backup code" in page
    page = client.post("/login/", {"wizard_goto_step": "backup"}).content.decode()
    assert 'name="backup-otp_token"' in page
    response = submit_code(client, token, step="backup")

    assert response.url == "/"
    assert client.get("/").status_code == 200
    assert not backup.token_set.exists()

    log_out(client)
    submit_password(client, member.email, PASSWORD)
    client.post("/login/", {"wizard_goto_step": "backup"})
    response = submit_code(client, token, step="backup")
    assert response.status_code == 200
    assert "Invalid token" in response.content.decode()
    assert not is_logged_in(client)


@pytest.fixture
def member_with_fallback_phone(member: User) -> User:
    PhoneDevice.objects.create(user=member, name="backup", number=FALLBACK_NUMBER, method="sms", confirmed=True)
    return member


def test_member_can_log_in_with_a_text_message_code(client, member_with_fallback_phone, capsys):
    phone = PhoneDevice.objects.get(user=member_with_fallback_phone)
    page = submit_password(client, member_with_fallback_phone.email, PASSWORD).content.decode()
    assert "Send text message" in page
    assert capsys.readouterr().out == ""  # nothing is texted until the user asks

    page = client.post(
        "/login/", {"login_view-current_step": "token", "challenge_device": phone.persistent_id}
    ).content.decode()

    assert "We sent you a text message" in page
    sent = capsys.readouterr().out
    assert f"[SMS to {FALLBACK_NUMBER}]" in sent
    match = re.search(r"security code is (\d{6})", sent)
    assert match is not None
    response = submit_code(client, match.group(1))
    assert response.url == "/"
    assert client.get("/").status_code == 200


def test_text_message_code_must_be_right(client, member_with_fallback_phone, capsys):
    phone = PhoneDevice.objects.get(user=member_with_fallback_phone)
    submit_password(client, member_with_fallback_phone.email, PASSWORD)
    client.post("/login/", {"login_view-current_step": "token", "challenge_device": phone.persistent_id})
    sent_code = re.search(r"security code is (\d{6})", capsys.readouterr().out).group(1)
    wrong = "000000" if sent_code != "000000" else "111111"

    response = submit_code(client, wrong)

    assert "Invalid token" in response.content.decode()
    assert not is_logged_in(client)


@pytest.mark.parametrize("device_id", ["garbage", "two_factor.phonedevice/1"])
def test_asking_for_a_text_message_before_the_password_starts_the_login_again(
    client, member_with_fallback_phone, capsys, device_id
):
    phone = PhoneDevice.objects.get(user=member_with_fallback_phone)
    device_id = phone.persistent_id if device_id.endswith("/1") else device_id

    response = client.post("/login/", {"challenge_device": device_id})

    assert response.status_code == 200
    assert 'name="auth-password"' in response.content.decode()
    assert "[SMS to" not in capsys.readouterr().out
    assert not is_logged_in(client)


def test_user_who_stopped_before_the_phone_step_is_sent_back_to_it(client, organisation):
    user = UserFactory(organisation=organisation, onboarded_at=None)
    device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)

    submit_password(client, user.email, PASSWORD)
    response = submit_code(client, authenticator_code(device))
    response = client.get(response.url)

    assert response.status_code == 302
    assert response.url == "/setup/phone/"


def test_user_whose_factors_were_reset_is_sent_to_enrol_an_authenticator(client, member):
    member.totpdevice_set.all().delete()
    member.onboarded_at = None
    member.save()

    response = submit_password(client, member.email, PASSWORD)
    assert response.url == "/"  # no factor to ask for yet
    response = client.get("/")

    assert response.url == "/setup/authenticator/"
    assert client.get("/setup/authenticator/").status_code == 200


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


def test_each_request_restarts_the_idle_timeout(member_client):
    assert settings.SESSION_SAVE_EVERY_REQUEST
    session_key = member_client.session.session_key
    # The previous request was 29 minutes ago: one minute of the session left.
    Session.objects.filter(session_key=session_key).update(expire_date=timezone.now() + timedelta(minutes=1))

    assert member_client.get("/").status_code == 200

    expires = Session.objects.get(session_key=session_key).expire_date
    assert expires > timezone.now() + timedelta(minutes=29)
