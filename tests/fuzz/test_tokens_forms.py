"""The token forms through their views: enrolment of each kind, the code that confirms a texted or
emailed destination, a new destination, the description, a test code and a hardware resync."""

from base64 import b32encode
from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import event, given
from hypothesis import strategies as st

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import PASSWORD
from tests.fuzz.checks import assert_refused, counts, forget_rate_limits, sent, sent_none_of
from tests.fuzz.sessions import browser, confirm_password_now
from tests.fuzz.strategies import (
    CODE_LIKE,
    DATE_LIKE,
    EMAIL_LIKE,
    FEW,
    FUZZ,
    PHONE_LIKE,
    printable_text,
    submissions,
)
from tests.fuzz.test_accounts_forms import MOBILES, e164, numbers_with_country
from tests.tokens.helpers import enrol_rfc_token
from tests.tokens.webauthn_authenticator import SoftwareAuthenticator, from_b64url, options_in
from tokens import kinds, services
from tokens.models import EmailCodeDevice, PasskeyDevice, SmsDevice, Token, TokenKind

DEVICES = (TOTPDevice, HOTPDevice, StaticDevice, EmailDevice, SmsDevice, PasskeyDevice)
descriptions = printable_text.filter(lambda s: len(s.strip()) <= 120) | st.just("")


def forget_failures(user: User) -> None:
    """Earlier examples' wrong codes would leave django-otp throttling (or the lock) on the user's
    devices, and a right code would then be refused: each example starts without failures."""
    for model in DEVICES:
        model.objects.filter(user=user).update(throttling_failure_count=0, throttling_failure_timestamp=None)


@pytest.fixture
def owner_browser(owner):
    return browser(owner)


def press(device: HOTPDevice, counter: int) -> str:
    return str(hotp(device.bin_key, counter, device.digits)).zfill(device.digits)


# --- Authenticator app: CodeForm and DescriptionForm at /tokens/add/totp/ ------------------------


@FUZZ
@given(
    submission=submissions(
        st.fixed_dictionaries(
            {"code": st.sampled_from(["{code}", " {code} ", "{head} {tail}"]), "description": descriptions}
        ),
        tricky=CODE_LIKE,
    )
)
def test_authenticator_enrolment_adds_exactly_one_token_for_the_right_code(owner, owner_browser, submission):
    confirm_password_now(owner_browser)
    forget_failures(owner)
    device = services.start_totp(user=owner)
    code = f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"
    before = counts(Token, TOTPDevice)

    response = submission.filled(code=code, head=code[:3], tail=code[3:]).post(owner_browser, "/tokens/add/totp/")

    added = response.status_code == 302
    event("added" if added else "refused")
    if added:
        token = Token.objects.latest("id")
        assert response.url == f"/tokens/{token.pk}/"
        assert (token.user, token.kind, token.device_id) == (owner, TokenKind.TOTP, device.pk)
        assert token.description == sent(response, "description").strip()
        assert counts(Token, TOTPDevice) == {**before, "tokens.Token": before["tokens.Token"] + 1}
        assert TOTPDevice.objects.get(pk=device.pk).confirmed
    else:
        assert not submission.pristine, "the app's current code was refused"
        if sent_none_of(response, "code"):
            assert response.status_code == 200
        else:
            assert_refused(response)
        assert counts(Token, TOTPDevice) == before
        assert not TOTPDevice.objects.get(pk=device.pk).confirmed


# --- Hardware token: HardwareTokenForm at /tokens/add/hotp/ -----------------------------------------

SECRET_LIKE = st.sampled_from(
    ["", "00", "zz", "ab" * 9, "ab" * 41, "A" * 16, "=====", "MZXW6YTBOI======", "0x" + "ab" * 20]
)
serial_char = st.characters(exclude_categories=("Cs", "Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp"))
# Short serials as printed on most tokens, and long ones up to the form's 64 characters.
serials = st.text(serial_char, min_size=1, max_size=12) | st.text(serial_char, min_size=56, max_size=64)


@st.composite
def hardware_tokens(draw: st.DrawFn) -> dict[str, str]:
    key = draw(st.binary(min_size=10, max_size=40))
    digits = draw(st.sampled_from([6, 8]))
    counter = draw(st.integers(min_value=0, max_value=20))
    if draw(st.booleans()):
        secret = key.hex()
        secret = draw(
            st.sampled_from([secret, secret.upper(), " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))])
        )
    elif all(ch in "ABCDEF234567" for ch in b32encode(key).decode().rstrip("=")):
        # Base32 that is valid hexadecimal too is read as hexadecimal (as the help text allows both,
        # one reading must win); a secret typed like that is refused with "does not match".
        secret = key.hex()
    else:
        secret = b32encode(key).decode().rstrip("=")
        secret = draw(
            st.sampled_from([secret, secret.lower(), " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))])
        )
    today = timezone.now().date()
    days = draw(st.none() | st.integers(min_value=1, max_value=(date.max - today).days))
    return {
        "serial": draw(serials),
        "secret": secret,
        "digits": str(digits),
        "expires_on": "" if days is None else (today + timedelta(days=days)).isoformat(),
        "description": draw(descriptions),
        "code": str(hotp(key, counter, digits)).zfill(digits),
    }


@FUZZ
@given(submission=submissions(hardware_tokens(), tricky=CODE_LIKE | DATE_LIKE | SECRET_LIKE))
def test_hardware_token_is_registered_whole_or_not_at_all(owner, owner_browser, submission):
    confirm_password_now(owner_browser)
    serial_taken = submission.pristine and Token.objects.filter(serial=submission.data["serial"].strip()).exists()
    before = counts(Token, HOTPDevice, AuditEvent)

    response = submission.post(owner_browser, "/tokens/add/hotp/")

    added = response.status_code == 302
    event("added" if added else "refused")
    if added:
        token = Token.objects.latest("id")
        assert response.url == f"/tokens/{token.pk}/"
        assert counts(Token, HOTPDevice, AuditEvent) == {
            "tokens.Token": before["tokens.Token"] + 1,
            "otp_hotp.HOTPDevice": before["otp_hotp.HOTPDevice"] + 1,
            "audit.AuditEvent": before["audit.AuditEvent"] + 1,
        }
        assert (token.kind, token.serial) == (TokenKind.HOTP, sent(response, "serial").strip())
        expires_on = sent(response, "expires_on").strip()
        assert (token.expires_at.date().isoformat() if token.expires_at else "") == expires_on
        device = HOTPDevice.objects.get(pk=token.device_id)
        assert device.digits == int(sent(response, "digits"))
        assert press(device, device.counter - 1) == sent(response, "code").strip()  # in step with the token
    else:
        assert not submission.pristine or serial_taken, "a hardware token with a right code was refused"
        assert_refused(response)
        assert counts(Token, HOTPDevice, AuditEvent) == before


# --- Texted and emailed codes: SmsNumberForm, EmailAddressForm and CodeForm at /tokens/add/<kind>/ ---

SIDE_CHANNELS = {
    "sms": (
        "number",
        SmsDevice,
        st.sampled_from(["+44 7400 123456", "+447400654321", " +44 7400-111222 "]),
        PHONE_LIKE,
    ),
    "email": (
        "email",
        EmailCodeDevice,
        st.sampled_from(["ann@example.com", "Bob@Example.COM", " cy@bücher.example"]),
        EMAIL_LIKE,
    ),
}


def pending_devices(model: type[SmsDevice] | type[EmailCodeDevice], user: User) -> list[tuple[int, str]]:
    field = "number" if model is SmsDevice else "email"
    return [(pk, str(value)) for pk, value in model.objects.filter(user=user, confirmed=False).values_list("pk", field)]


@pytest.mark.parametrize("kind", sorted(SIDE_CHANNELS))
@FEW
@given(data=st.data())
def test_side_channel_destination_gets_a_code_or_a_reason(owner, owner_browser, kind, data):
    field, model, destinations, tricky = SIDE_CHANNELS[kind]
    valid = st.fixed_dictionaries({field: destinations, "description": descriptions})
    if kind == "sms":  # or typed beside the country chosen
        valid |= st.builds(
            lambda number, description: {**number, "description": description},
            numbers_with_country("number", st.sampled_from(MOBILES)),
            descriptions,
        )
    submission = data.draw(submissions(valid, tricky=tricky))
    confirm_password_now(owner_browser)
    forget_rate_limits()  # codes sent per user and organisation per hour
    model.objects.filter(user=owner, confirmed=False).delete()  # django-otp's cooldown lives on the device
    before_tokens = counts(Token)

    response = submission.post(owner_browser, f"/tokens/add/{kind}/")

    pending = pending_devices(model, owner)
    event("code sent" if pending else "refused")
    if pending:
        assert response.status_code == 302 and response.url == f"/tokens/add/{kind}/"
        ((_, destination),) = pending
        typed = sent(response, field).strip()
        assert destination == (e164(typed, sent(response, "number_country")) if kind == "sms" else typed.lower())
    elif sent_none_of(response, "description", "code", "resend"):
        assert response.status_code == 200
    else:
        assert not submission.pristine, f"a usable {field} was refused"
        assert_refused(response)
    assert counts(Token) == before_tokens  # nothing is a token before its code comes back


@pytest.mark.parametrize("kind", sorted(SIDE_CHANNELS))
@FEW
@given(submission=submissions({"code": "{code}"}, tricky=CODE_LIKE))
def test_side_channel_becomes_a_token_only_with_the_code_sent(owner, owner_browser, kind, submission):
    confirm_password_now(owner_browser)
    forget_rate_limits()
    forget_failures(owner)
    SmsDevice.objects.filter(user=owner, confirmed=False).delete()
    EmailCodeDevice.objects.filter(user=owner, confirmed=False).delete()
    if kind == "sms":
        device = services.start_destination(
            user=owner, spec=kinds.SMS, destination="+44 7400 123456", acting_user=owner
        )
    else:
        device = services.start_destination(
            user=owner, spec=kinds.EMAIL, destination="ann@example.com", acting_user=owner
        )
    before = counts(Token)

    response = submission.filled(code=str(device.token)).post(owner_browser, f"/tokens/add/{kind}/")

    device.refresh_from_db()
    added = response.status_code == 302 and response.url.startswith("/tokens/") and device.confirmed
    event("added" if added else "refused")
    if added:
        token = Token.objects.get(device_id=device.pk, kind=kind)
        assert response.url == f"/tokens/{token.pk}/"
        assert counts(Token) == {"tokens.Token": before["tokens.Token"] + 1}
    else:
        assert not submission.pristine, "the code sent was refused"
        if sent_none_of(response, "description", "code", "resend"):
            assert response.status_code == 200
        else:
            assert_refused(response)
        assert counts(Token) == before
        assert not device.confirmed


# --- A new number or address for a token: /tokens/<id>/edit/ ------------------------------------------


@pytest.fixture
def side_channel_tokens(owner) -> dict[str, Token]:
    made = {}
    for kind, start in (
        (
            "sms",
            lambda: services.start_destination(
                user=owner, spec=kinds.SMS, destination="+447400000001", acting_user=owner
            ),
        ),
        (
            "email",
            lambda: services.start_destination(
                user=owner, spec=kinds.EMAIL, destination="old@example.com", acting_user=owner
            ),
        ),
    ):
        device = start()
        token = services.confirm_destination(user=owner, device=device, code=device.token, acting_user=owner)
        assert token is not None
        made[kind] = token
    return made


def destination_of(token: Token) -> str:
    token = Token.objects.get(pk=token.pk)
    return str(token.device.number) if token.kind == TokenKind.SMS else token.device.email


@pytest.mark.parametrize("kind", sorted(SIDE_CHANNELS))
@FEW
@given(data=st.data())
def test_new_destination_waits_for_its_code_and_a_bad_one_changes_nothing(
    owner, owner_browser, side_channel_tokens, kind, data
):
    field, model, destinations, tricky = SIDE_CHANNELS[kind]
    submission = data.draw(submissions(st.fixed_dictionaries({field: destinations}), tricky=tricky))
    token = side_channel_tokens[kind]
    confirm_password_now(owner_browser)
    forget_rate_limits()
    model.objects.filter(user=owner, confirmed=False).delete()
    before = (destination_of(token), counts(Token))

    response = submission.post(owner_browser, f"/tokens/{token.pk}/edit/")

    pending = pending_devices(model, owner)
    event("code sent" if pending else "refused")
    if pending:
        assert response.status_code == 302 and response.url == f"/tokens/{token.pk}/edit/"
    elif sent_none_of(response, field, "code"):
        assert response.status_code == 200
    else:
        assert not submission.pristine, f"a usable {field} was refused"
        assert_refused(response)
    assert (destination_of(token), counts(Token)) == before  # switched only once the code comes back


@pytest.mark.parametrize("kind", sorted(SIDE_CHANNELS))
@FEW
@given(submission=submissions({"code": "{code}"}, tricky=CODE_LIKE))
def test_new_destination_is_used_only_after_its_code(owner, owner_browser, side_channel_tokens, kind, submission):
    token = side_channel_tokens[kind]
    confirm_password_now(owner_browser)
    forget_rate_limits()
    forget_failures(owner)
    model = SmsDevice if kind == "sms" else EmailCodeDevice
    model.objects.filter(user=owner, confirmed=False).delete()
    old = destination_of(token)
    new = "+447400000002" if old == "+447400000001" else "+447400000001"
    if kind == "email":
        new = "new@example.com" if old == "old@example.com" else "old@example.com"
    pending_name = f"replace-{token.pk}"
    if kind == "sms":
        device = services.start_destination(
            user=owner, spec=kinds.SMS, destination=new, acting_user=owner, pending_name=pending_name
        )
    else:
        device = services.start_destination(
            user=owner, spec=kinds.EMAIL, destination=new, acting_user=owner, pending_name=pending_name
        )
    before = counts(Token)

    response = submission.filled(code=str(device.token)).post(owner_browser, f"/tokens/{token.pk}/edit/")

    switched = destination_of(token) == new
    event("switched" if switched else "refused")
    if switched:
        assert response.status_code == 302 and response.url == f"/tokens/{token.pk}/"
        assert not model.objects.filter(pk=Token.objects.get(pk=token.pk).device_id, confirmed=False).exists()
    else:
        assert not submission.pristine, "the code sent to the new destination was refused"
        assert destination_of(token) == old
        if sent_none_of(response, "number" if kind == "sms" else "email", "code"):
            assert response.status_code == 200
        else:
            assert_refused(response)
    assert counts(Token) == before


# --- DescriptionForm at /tokens/<id>/edit/ (an authenticator app) ------------------------------------


@FUZZ
@given(submission=submissions(st.fixed_dictionaries({"description": descriptions})))
def test_description_is_saved_as_typed_or_refused(owner, owner_client, submission):
    token = Token.objects.get(user=owner, kind=TokenKind.TOTP)
    before = Token.objects.get(pk=token.pk).description

    response = submission.post(owner_client, f"/tokens/{token.pk}/edit/")

    now = Token.objects.get(pk=token.pk).description
    event("saved" if response.status_code == 302 else "refused")
    if response.status_code == 302:
        assert response.url == f"/tokens/{token.pk}/"
        assert now == sent(response, "description").strip()
    else:
        assert not submission.pristine, "a description was refused"
        assert_refused(response)
        assert now == before


# --- TestCodeForm at /tokens/<id>/test/ and ResyncForm at /tokens/<id>/reset/ (a hardware token) -----


@pytest.fixture
def hardware(owner) -> Token:
    return enrol_rfc_token(owner, acting_user=owner)


@FUZZ
@given(
    submission=submissions(
        st.sampled_from(["{code}", " {code} ", "{head} {tail}"]).map(lambda c: {"code": c}), tricky=CODE_LIKE
    )
)
def test_token_test_spends_only_a_right_code_and_logs_nobody_in(owner, owner_client, hardware, submission):
    forget_rate_limits()
    forget_failures(owner)
    device = HOTPDevice.objects.get(pk=hardware.device_id)
    code = press(device, device.counter)
    session_before = _login_state(owner_client)
    before = counts(Token, AuditEvent)

    response = submission.filled(code=code, head=code[:3], tail=code[3:]).post(
        owner_client, f"/tokens/{hardware.pk}/test/"
    )

    counter = HOTPDevice.objects.get(pk=device.pk).counter
    result = response.context["result"] if response.status_code != 302 else None
    event({True: "passed", False: "failed", None: "not checked"}[result])
    if result is True:
        assert response.status_code == 200
        assert counter == device.counter + 1  # the code is spent
    else:
        assert not submission.pristine, "the token's next code failed the test"
        if sent_none_of(response, "code", "send"):
            assert response.status_code == 200
        else:
            assert_refused(response)
        assert counter == device.counter
    # A checked code leaves one audit row, passed or failed; anything else leaves none.
    assert counts(Token, AuditEvent) == {
        "tokens.Token": before["tokens.Token"],
        "audit.AuditEvent": before["audit.AuditEvent"] + (result is not None),
    }
    assert _login_state(owner_client) == session_before  # a test is never a login


def _login_state(client) -> tuple:
    session = client.session
    return session.session_key, session.get("_auth_user_id"), session.get(DEVICE_ID_SESSION_KEY)


@st.composite
def resyncs(draw: st.DrawFn) -> dict[str, str]:
    ahead = draw(st.integers(min_value=0, max_value=60))
    return {"first_code": f"{{press{ahead}}}", "second_code": f"{{press{ahead + 1}}}"}


@FUZZ
@given(submission=submissions(resyncs(), tricky=CODE_LIKE))
def test_resync_moves_the_counter_only_for_two_consecutive_codes(owner, owner_client, hardware, submission):
    # Examples share the token: a refused resync counts as a wrong code, so each example starts
    # with no failures on record (the throttle is tested in tests/tokens/test_code_concurrency.py).
    HOTPDevice.objects.filter(pk=hardware.device_id).update(
        throttling_failure_count=0, throttling_failure_timestamp=None
    )
    device = HOTPDevice.objects.get(pk=hardware.device_id)
    presses = {f"press{n}": press(device, device.counter + n) for n in range(62)}

    response = submission.filled(**presses).post(owner_client, f"/tokens/{hardware.pk}/reset/")

    counter = HOTPDevice.objects.get(pk=device.pk).counter
    event("resynchronised" if response.status_code == 302 else "refused")
    if response.status_code == 302:
        assert response.url == f"/tokens/{hardware.pk}/"
        first, second = sent(response, "first_code").strip(), sent(response, "second_code").strip()
        assert (press(device, counter - 2), press(device, counter - 1)) == (first, second)
    else:
        assert not submission.pristine, "two consecutive codes were refused"
        assert_refused(response)
        assert counter == device.counter


# --- Regressions found by the fuzzing above --------------------------------------------------------


def test_hardware_token_with_a_serial_of_the_full_64_characters_is_registered(owner, owner_browser):
    # The device was named "hardware <serial>": 73 characters for a 64-column name, a 500 on PostgreSQL.
    serial = "S" * 64
    device = HOTPDevice(key=b"12345678901234567890".hex(), digits=6)

    response = owner_browser.post(
        "/tokens/add/hotp/",
        {"serial": serial, "secret": device.key, "digits": "6", "code": press(device, 0)},
    )

    token = Token.objects.get(user=owner, kind=TokenKind.HOTP)
    assert response.status_code == 302 and response.url == f"/tokens/{token.pk}/"
    assert token.serial == serial
    HOTPDevice.objects.get(pk=token.device_id).full_clean()  # the row fits the model's own limits


def test_resend_with_no_number_waiting_says_what_to_do(owner_browser):
    # "Resend code" with nothing waiting (confirmed meanwhile in another tab) showed the page silently.
    response = owner_browser.post("/tokens/add/sms/", {"resend": "1"})

    assert response.status_code == 200
    assert "No new number is waiting to be confirmed" in response.content.decode()


# --- PasskeyForm at /tokens/add/passkey/, and the login's passkey answer ---------------------------

CREDENTIAL_LIKE = st.one_of(
    st.just("{}"),
    st.just('{"id": "", "rawId": "", "response": {}}'),
    st.just('{"rawId": "%%%", "response": {"clientDataJSON": "e30"}}'),
    printable_text,
)


@pytest.fixture
def _portal_address(settings):
    settings.PORTAL_BASE_URL = "http://testserver"  # the passkeys' relying party, as the test client calls it


@FUZZ
@given(
    submission=submissions(
        st.fixed_dictionaries(
            {"description": descriptions.filter(lambda s: s.strip()), "credential": st.just("{answer}")}
        ),
        tricky=CREDENTIAL_LIKE,
    )
)
def test_a_passkey_is_enrolled_only_from_a_genuine_answer(owner, owner_browser, _portal_address, submission):
    url = "/tokens/add/passkey/"
    options = options_in(owner_browser.get(url).content.decode(), "passkey-options")
    answer = SoftwareAuthenticator().create(options)
    before = counts(Token, PasskeyDevice)

    response = submission.filled(answer=answer).post(owner_browser, url)

    event("enrolled" if response.status_code == 302 else "refused")
    if response.status_code == 302:
        token = Token.objects.get(user=owner, kind=TokenKind.PASSKEY, device_id=PasskeyDevice.objects.latest("pk").pk)
        assert response.url == f"/tokens/{token.pk}/"
        assert token.description == sent(response, "description").strip()
        PasskeyDevice.objects.all().delete()
        Token.objects.filter(kind=TokenKind.PASSKEY).delete()
    else:
        assert not submission.pristine, "a genuine passkey was refused"
        assert_refused(response)
        assert counts(Token, PasskeyDevice) == before


@FUZZ
@given(submission=submissions({"passkey": "{answer}"}, tricky=CREDENTIAL_LIKE))
def test_the_login_takes_only_a_genuine_passkey_answer(owner, _portal_address, submission):
    forget_rate_limits()
    key = SoftwareAuthenticator()
    PasskeyDevice.objects.all().delete()
    Token.objects.filter(kind=TokenKind.PASSKEY).delete()
    options = options_in(browser(owner).get("/tokens/add/passkey/").content.decode(), "passkey-options")
    services.enrol_passkey(
        user=owner,
        credential=key.create(options),
        challenge=from_b64url(options["challenge"]),
        description="Key",
        acting_user=owner,
    )
    client = Client()
    assert client.post("/login/", {"username": owner.email, "password": PASSWORD}).url == "/login/code/"
    login_options = options_in(client.get("/login/code/").content.decode(), "passkey-login-options")

    response = submission.filled(answer=key.get(login_options)).post(client, "/login/code/")

    logged_in = "_auth_user_id" in client.session
    event("logged in" if logged_in else "refused")
    if logged_in:
        assert response.status_code == 302 and response.url == "/"
    else:
        assert not submission.pristine, "a genuine passkey answer was refused"
        assert_refused(response)
