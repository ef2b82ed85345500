"""Account set-up (SPEC §2): welcome email, temporary password, password, authenticator, fallback number."""

import html
import re
from base64 import b32encode
from datetime import timedelta

import phonenumbers
import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core import mail
from django.db.models import F
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from phonenumbers import PhoneNumberType

from accounts import services
from accounts.models import Role, User
from tests.conftest import log_in
from tests.factories import PASSWORD, UserFactory
from tokens.models import SmsDevice, Token, TokenKind

NEW_PASSWORD = "plum orchard lantern 42"
MOBILE = "+44 7400 123456"
MOBILE_E164 = "+447400123456"
PORTAL_PAGES = ["/", "/profile/", "/users/", "/admin/"]


def submit_password(client, email, password):
    return client.post("/login/", {"username": email, "password": password})


def temporary_password_in(message: mail.EmailMessage) -> str:
    match = re.search(r"Temporary password: (\S+)", str(message.body))
    assert match is not None, message.body
    return match.group(1)


def authenticator_code(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def texted_code(output: str) -> str:
    match = re.search(r"security code is (\d{6})", output)
    assert match is not None, output
    return match.group(1)


@pytest.fixture
def newcomer(organisation, owner, django_capture_on_commit_callbacks) -> User:
    """A user the owner has just added: the welcome email is in the outbox."""
    with django_capture_on_commit_callbacks(execute=True):
        user = services.add_user(
            organisation=organisation,
            email="nina.new@acme.example",
            full_name="Nina New",
            role=Role.USER,
            acting_user=owner,
        )
    return user


@pytest.fixture
def temporary_password(newcomer) -> str:
    (message,) = mail.outbox
    return temporary_password_in(message)


@pytest.fixture
def password_step_client(client, newcomer, temporary_password):
    """Logged in with the temporary password: the first set-up step."""
    response = submit_password(client, newcomer.email, temporary_password)
    assert response.status_code == 302
    return client


@pytest.fixture
def chose_password(organisation):
    """Has chosen a password, has no authenticator yet."""
    return UserFactory(organisation=organisation, email="pat@acme.example", onboarded_at=None)


@pytest.fixture
def authenticator_step_client(client, chose_password):
    response = submit_password(client, chose_password.email, PASSWORD)
    assert response.url == "/"
    return client


@pytest.fixture
def enrolled(organisation):
    """Has a password and a confirmed authenticator; the fallback number step is left."""
    user = UserFactory(organisation=organisation, email="erin@acme.example")
    User.objects.filter(pk=user.pk).update(onboarded_at=None)
    user.refresh_from_db()
    return user


@pytest.fixture
def phone_step_client(client, enrolled):
    return log_in(client, enrolled)


@pytest.fixture
def post_and_text(django_capture_on_commit_callbacks):
    """Post a form that texts a code: the text goes out once the request's transaction commits."""

    def post(client, url, data=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data or {}, **kwargs)

    return post


def test_new_user_sets_up_the_account_and_reaches_home(client, newcomer, capsys, post_and_text):
    # 1. The welcome email.
    (welcome,) = mail.outbox
    assert welcome.to == ["nina.new@acme.example"]
    assert f"{settings.PORTAL_BASE_URL}/login/" in welcome.body
    assert "expires in 24 hours" in welcome.body
    temporary = temporary_password_in(welcome)

    # 2. Log in with the temporary password: no code is asked, there is no factor yet.
    response = submit_password(client, newcomer.email, temporary)
    assert response.status_code == 302
    response = client.get(response.url)
    assert response.url == "/setup/password/"

    # 3. Choose a password.
    page = client.get("/setup/password/").content.decode()
    assert "step 1 of 3" in page
    response = client.post("/setup/password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.url == "/setup/authenticator/"
    newcomer.refresh_from_db()
    assert newcomer.check_password(NEW_PASSWORD)
    assert not newcomer.must_change_password

    # 4. Enrol an authenticator app and confirm it with a code.
    page = client.get("/setup/authenticator/").content.decode()
    device = TOTPDevice.objects.get(user=newcomer)
    assert not device.confirmed
    assert "<svg" in page
    assert b32encode(device.bin_key).decode()[:4] in page
    response = client.post("/setup/authenticator/", {"token": authenticator_code(device)})
    assert response.url == "/setup/phone/"
    device.refresh_from_db()
    assert device.confirmed
    assert Token.objects.get(user=newcomer, kind=TokenKind.TOTP).device == device
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id  # the session is verified

    # 5. Add a fallback mobile number and confirm it with the texted code.
    assert "step 3 of 3" in client.get("/setup/phone/").content.decode()
    response = post_and_text(client, "/setup/phone/", {"number": MOBILE})
    assert response.url == "/setup/phone/"
    phone = SmsDevice.objects.get(user=newcomer)
    assert (str(phone.number), phone.confirmed) == (MOBILE_E164, False)
    code = texted_code(capsys.readouterr().out)
    response = client.post("/setup/phone/", {"token": code})
    assert response.url == "/"

    home = client.get("/")
    assert home.status_code == 200
    page = home.content.decode()
    assert "Welcome, Nina New" in page
    assert "Your fallback number is confirmed" in page
    assert "Add a fallback mobile number" not in page
    newcomer.refresh_from_db()
    phone.refresh_from_db()
    assert phone.confirmed
    assert Token.objects.get(user=newcomer, kind=TokenKind.SMS).device == phone
    assert str(newcomer.mobile) == MOBILE_E164
    assert newcomer.onboarded_at is not None
    assert client.get("/profile/").status_code == 200


def redirects(client, pages: list[str]) -> dict[str, str]:
    return {page: client.get(page).headers.get("Location", "(no redirect)") for page in pages}


def test_user_who_has_not_chosen_a_password_reaches_no_other_page(password_step_client):
    pages = [*PORTAL_PAGES, "/setup/authenticator/", "/setup/phone/"]

    assert redirects(password_step_client, pages) == dict.fromkeys(pages, "/setup/password/")
    assert password_step_client.post("/setup/phone/later/").url == "/setup/password/"


def test_user_without_authenticator_reaches_no_other_page(authenticator_step_client):
    pages = [*PORTAL_PAGES, "/setup/password/", "/setup/phone/"]

    assert redirects(authenticator_step_client, pages) == dict.fromkeys(pages, "/setup/authenticator/")


def test_user_without_fallback_decision_reaches_no_other_page(phone_step_client):
    pages = [*PORTAL_PAGES, "/setup/password/", "/setup/authenticator/"]

    assert redirects(phone_step_client, pages) == dict.fromkeys(pages, "/setup/phone/")


@pytest.mark.parametrize(
    ("password1", "password2", "message"),
    [
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The two password fields didn\u2019t match."),
        ("Pl4ce-t0o", "Pl4ce-t0o", "This password is too short. It must contain at least 12 characters."),
        ("password1234", "password1234", "This password is too common."),
        ("nina.new.acme", "nina.new.acme", "The password is too similar to the email address."),
    ],
)
def test_bad_new_password_is_refused_with_a_message(password_step_client, newcomer, password1, password2, message):
    response = password_step_client.post("/setup/password/", {"new_password1": password1, "new_password2": password2})

    assert response.status_code == 200
    assert message in response.content.decode()
    newcomer.refresh_from_db()
    assert not newcomer.has_usable_password()
    assert newcomer.must_change_password
    assert password_step_client.get("/").url == "/setup/password/"


def test_authenticator_page_shows_a_qr_code_and_the_secret(authenticator_step_client, chose_password):
    page = authenticator_step_client.get("/setup/authenticator/").content.decode()

    device = TOTPDevice.objects.get(user=chose_password, confirmed=False)
    secret = b32encode(device.bin_key).decode()
    grouped = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
    assert '<div class="qr" role="img"' in page
    assert "<svg" in page
    assert grouped in page
    # Reloading the page keeps the same secret: what the user already scanned stays valid.
    assert grouped in authenticator_step_client.get("/setup/authenticator/").content.decode()
    assert TOTPDevice.objects.filter(user=chose_password).count() == 1


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("", "This field is required."),
        ("12345", "Ensure this value has at least 6 characters (it has 5)."),
        ("abcdef", "The code is made of digits only."),
    ],
)
def test_malformed_authenticator_code_is_refused(authenticator_step_client, chose_password, code, message):
    authenticator_step_client.get("/setup/authenticator/")

    response = authenticator_step_client.post("/setup/authenticator/", {"token": code})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not TOTPDevice.objects.filter(user=chose_password, confirmed=True).exists()


def test_wrong_authenticator_code_is_refused(authenticator_step_client, chose_password):
    authenticator_step_client.get("/setup/authenticator/")
    device = TOTPDevice.objects.get(user=chose_password)
    right = authenticator_code(device)
    wrong = "000000" if right != "000000" else "111111"

    response = authenticator_step_client.post("/setup/authenticator/", {"token": wrong})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert authenticator_step_client.get("/").url == "/setup/authenticator/"


def test_guessing_authenticator_codes_is_slowed_down_with_a_message(authenticator_step_client, chose_password):
    authenticator_step_client.get("/setup/authenticator/")
    device = TOTPDevice.objects.get(user=chose_password)
    right = authenticator_code(device)
    wrong = "000000" if right != "000000" else "111111"
    authenticator_step_client.post("/setup/authenticator/", {"token": wrong})

    # Straight after a wrong code django-otp's throttle refuses even the right one, and says why,
    # without calling one slip "too many".
    response = authenticator_step_client.post("/setup/authenticator/", {"token": right})

    assert "The last code was not right. Wait 1 second before the next try." in response.content.decode()
    assert "Too many" not in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed


def voip_example() -> str:
    number = "+44 56 0000 0000"
    assert phonenumbers.number_type(phonenumbers.parse(number)) == PhoneNumberType.VOIP
    return number


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (voip_example(), "it is an internet (VoIP) number"),
        ("+44 800 123 4567", "it is a toll-free number"),
        ("+44 909 876 5432", "it is a premium-rate number"),
        ("+44 123", "This phone number is not valid"),
        ("call me", "This is not a phone number"),
    ],
)
def test_fallback_number_that_cannot_receive_codes_is_refused(
    phone_step_client, enrolled, number, reason, capsys, post_and_text
):
    response = post_and_text(phone_step_client, "/setup/phone/", {"number": number})

    assert response.status_code == 200
    assert reason in response.content.decode()
    assert not SmsDevice.objects.filter(user=enrolled).exists()
    assert not Token.objects.filter(user=enrolled, kind=TokenKind.SMS).exists()
    assert "[SMS to" not in capsys.readouterr().out


def test_resend_inside_the_cooldown_says_how_long_to_wait(phone_step_client, enrolled, capsys, post_and_text):
    post_and_text(phone_step_client, "/setup/phone/", {"number": MOBILE})
    capsys.readouterr()

    response = post_and_text(phone_step_client, "/setup/phone/resend/", follow=True)

    assert re.search(r"Please wait \d+ seconds before asking for another", response.content.decode())
    assert "[SMS to" not in capsys.readouterr().out


def test_resend_after_the_cooldown_texts_a_new_code(phone_step_client, enrolled, capsys, settings, post_and_text):
    settings.TOKEN_SEND_COOLDOWN_SECONDS = 0
    post_and_text(phone_step_client, "/setup/phone/", {"number": MOBILE})
    capsys.readouterr()

    response = post_and_text(phone_step_client, "/setup/phone/resend/", follow=True)

    assert f"We sent a new code to {MOBILE}" in response.content.decode()
    sent = capsys.readouterr().out
    assert f"[SMS to {MOBILE_E164}]" in sent
    assert phone_step_client.post("/setup/phone/", {"token": texted_code(sent)}).url == "/"


def test_wrong_texted_code_is_refused(phone_step_client, enrolled, capsys, post_and_text):
    post_and_text(phone_step_client, "/setup/phone/", {"number": MOBILE})
    code = texted_code(capsys.readouterr().out)
    wrong = "000000" if code != "000000" else "111111"

    response = phone_step_client.post("/setup/phone/", {"token": wrong})

    assert response.status_code == 200
    assert "That code is not right" in response.content.decode()
    assert not SmsDevice.objects.get(user=enrolled).confirmed
    assert not Token.objects.filter(user=enrolled, kind=TokenKind.SMS).exists()
    enrolled.refresh_from_db()
    assert enrolled.onboarded_at is None


def test_texted_code_older_than_ten_minutes_is_refused(phone_step_client, enrolled, capsys, post_and_text):
    post_and_text(phone_step_client, "/setup/phone/", {"number": MOBILE})
    code = texted_code(capsys.readouterr().out)
    SmsDevice.objects.filter(user=enrolled).update(valid_until=timezone.now() - timedelta(seconds=1))

    response = phone_step_client.post("/setup/phone/", {"token": code})

    assert response.status_code == 200
    assert "That code is not right, or it has expired. Ask for a new one." in response.content.decode()
    assert not Token.objects.filter(user=enrolled, kind=TokenKind.SMS).exists()


def test_remind_me_later_shows_a_reminder_on_home_until_a_number_is_confirmed(
    phone_step_client, enrolled, capsys, post_and_text
):
    response = phone_step_client.post("/setup/phone/later/")
    assert response.url == "/"
    home = phone_step_client.get("/").content.decode()
    assert "Add a fallback mobile number" in home
    # Still shown on later visits.
    assert "Add a fallback mobile number" in phone_step_client.get("/").content.decode()

    post_and_text(phone_step_client, "/setup/phone/", {"number": MOBILE})
    assert "Add a fallback mobile number" in phone_step_client.get("/").content.decode()  # not yet confirmed
    phone_step_client.post("/setup/phone/", {"token": texted_code(capsys.readouterr().out)})

    assert "Add a fallback mobile number" not in phone_step_client.get("/").content.decode()


def test_temporary_password_works_only_once(client, newcomer, temporary_password):
    assert submit_password(client, newcomer.email, temporary_password).status_code == 302
    client.post("/logout/")

    response = submit_password(client, newcomer.email, temporary_password)

    assert response.status_code == 200
    page = response.content.decode()
    # Said as it is, and what to do: no password was chosen yet, so a new welcome email.
    assert "This temporary password was already used: it works only once." in page
    assert "send you a new welcome email" in page
    assert "The email or password is not correct." not in page
    assert "_auth_user_id" not in client.session


def test_used_temporary_password_after_set_up_points_to_the_chosen_password(
    password_step_client, newcomer, temporary_password
):
    client = password_step_client
    client.post("/setup/password/", {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    client.post("/logout/")

    response = submit_password(client, newcomer.email, temporary_password)

    page = html.unescape(response.content.decode())
    assert "This temporary password was already used: it works only once." in page
    assert "Log in with the password you chose at set-up, or use “Forgot your password?”" in page
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_still_says_not_correct_after_a_temporary_one_was_used(client, newcomer, temporary_password):
    assert submit_password(client, newcomer.email, temporary_password).status_code == 302
    client.post("/logout/")

    response = submit_password(client, newcomer.email, "not-the-temporary-one")

    assert "The email or password is not correct." in response.content.decode()
    assert "already used" not in response.content.decode()


def test_expired_temporary_password_says_to_ask_admin_or_support(client, newcomer, temporary_password):
    User.objects.filter(pk=newcomer.pk).update(temporary_password_expires_at=timezone.now() - timedelta(minutes=1))

    response = submit_password(client, newcomer.email, temporary_password)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Your temporary password has expired." in page
    assert "admin or support" in page
    assert "_auth_user_id" not in client.session


def test_resent_welcome_email_replaces_the_temporary_password(
    client, newcomer, temporary_password, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.resend_welcome_email(user=newcomer, acting_user=owner)
    new_temporary = temporary_password_in(mail.outbox[-1])

    assert submit_password(client, newcomer.email, temporary_password).status_code == 200
    assert submit_password(client, newcomer.email, new_temporary).status_code == 302


def test_guessing_a_temporary_password_locks_the_account_until_the_cool_off(client, newcomer, temporary_password):
    """The welcome email's password goes through the same login form, so django-axes counts its guesses."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", {"username": newcomer.email, "password": f"guess-{n}"}, REMOTE_ADDR=f"198.51.100.{n}")

    refused = client.post(
        "/login/", {"username": newcomer.email, "password": temporary_password}, REMOTE_ADDR="203.0.113.5"
    )
    assert refused.status_code == 429
    assert "Too many failed attempts" in refused.content.decode()

    cool_off = timedelta(hours=settings.AXES_COOLOFF_TIME)
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - cool_off - timedelta(minutes=1))
    allowed = client.post(
        "/login/", {"username": newcomer.email, "password": temporary_password}, REMOTE_ADDR="203.0.113.5"
    )
    assert allowed.status_code == 302
    assert allowed.url != "/login/"
