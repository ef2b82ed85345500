"""The accounts forms through their views: login (both steps), password reset, account set-up,
profile, user management and the password confirmation of sudo mode (the company-details change
request is support's: tests/fuzz/test_support_forms.py)."""

import time
from urllib.parse import urlencode, urlsplit

import phonenumbers
import pytest
from django.core import mail
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from hypothesis import event, given
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from accounts.models import PortalPermission, Role, User
from accounts.reauth import SESSION_KEY as REAUTHENTICATED_AT
from audit.models import AuditEvent
from signin import services as signin_services
from signin.views.auth import PENDING_LOGIN
from tests.conftest import log_in
from tests.factories import PASSWORD, UserFactory
from tests.fuzz.checks import assert_refused, counts, forget_rate_limits, sent, sent_none_of
from tests.fuzz.sessions import browser
from tests.fuzz.strategies import (
    CODE_LIKE,
    EMAIL_LIKE,
    FEW,
    FUZZ,
    PHONE_LIKE,
    field_values,
    printable_text,
    submissions,
)
from tokens import backup_codes
from tokens import services as token_services
from tokens.models import SmsDevice, Token, TokenKind

# --- Phone numbers a user may type ---------------------------------------------------------------

REGIONS = ["GB", "IE", "DE", "FR", "ES", "US", "CA", "BR", "IN", "JP", "CN", "AU", "NG", "EG", "IL", "SA"]
FACTOR_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def _examples(kind: int) -> list[phonenumbers.PhoneNumber]:
    found = (phonenumbers.example_number_for_type(region, kind) for region in REGIONS)
    return [n for n in found if n is not None and phonenumbers.number_type(n) in FACTOR_TYPES]


MOBILES = _examples(PhoneNumberType.MOBILE)
LANDLINES = _examples(PhoneNumberType.FIXED_LINE)
UK_MOBILES = st.integers(min_value=0, max_value=999_999).map(lambda n: phonenumbers.parse(f"+44 7400 {n:06d}", "GB"))


@st.composite
def typed_numbers(draw: st.DrawFn, numbers: st.SearchStrategy[phonenumbers.PhoneNumber]) -> str:
    number = draw(numbers)
    style = draw(st.sampled_from([PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164]))
    typed = phonenumbers.format_number(number, style)
    return draw(st.sampled_from([typed, f" {typed} ", typed.replace(" ", "-")]))


@st.composite
def numbers_with_country(
    draw: st.DrawFn, field: str, numbers: st.SearchStrategy[phonenumbers.PhoneNumber]
) -> dict[str, str]:
    """``field`` and the country chosen beside it: a number typed nationally in its own country,
    or with its country code (the country selector then says anything)."""
    number = draw(numbers)
    if draw(st.booleans()):
        region = phonenumbers.region_code_for_number(number) or "GB"
        typed = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
        return {field: draw(st.sampled_from([typed, f" {typed} "])), f"{field}_country": region}
    return {field: draw(typed_numbers(st.just(number))), f"{field}_country": draw(st.sampled_from(REGIONS))}


def e164(typed: str, region: str = "") -> str:
    """What the form stores for a number typed in ``region`` (none posted: PHONENUMBER_DEFAULT_REGION, GB)."""
    return phonenumbers.format_number(phonenumbers.parse(typed, region or "GB"), PhoneNumberFormat.E164)


# --- Login, step one: LoginForm ------------------------------------------------------------------


@st.composite
def logins(draw: st.DrawFn) -> dict[str, str]:
    email = draw(st.sampled_from(["owner@acme.example", "OWNER@Acme.Example", "  owner@acme.example "]))
    return {"username": email, "password": PASSWORD}


@FUZZ
@given(submission=submissions(logins(), tricky=EMAIL_LIKE))
def test_login_form_lets_only_the_right_password_through(owner, submission):
    forget_rate_limits()  # axes would lock the account after five wrong passwords from here
    client = Client()
    before = counts(User, Token)
    password_hash = owner.password

    response = submission.post(client, "/login/")

    passed = response.status_code == 302
    event("password accepted" if passed else "refused")
    if passed:
        assert response.url == "/login/code/"
        assert sent(response, "password") == PASSWORD
        assert client.session[PENDING_LOGIN]["user_id"] == owner.pk
    else:
        assert not submission.pristine, "the right email and password were refused"
        assert_refused(response)
        assert PENDING_LOGIN not in client.session
    assert "_auth_user_id" not in client.session  # the second factor is still to come
    assert counts(User, Token) == before
    owner.refresh_from_db()
    assert owner.password == password_hash


# --- Login, step two: CodeForm -------------------------------------------------------------------


@pytest.fixture
def backup_device(owner) -> StaticDevice:
    token_services.generate_backup_codes(user=owner, acting_user=owner)
    return StaticDevice.objects.get(user=owner)


@FUZZ
@given(
    submission=submissions(
        st.sampled_from(["{code}", "{code}", " {code} ", "{head}-{tail}", "{head} {tail}"]).map(lambda c: {"code": c}),
        tricky=CODE_LIKE,
    ),
    fresh_code=st.text("abcdef0123456789", min_size=8, max_size=8),
)
def test_login_code_form_logs_in_only_with_a_right_code(owner, backup_device, submission, fresh_code):
    forget_rate_limits()
    # Earlier examples' wrong codes would leave the tokens throttled: each example starts afresh.
    for model in (TOTPDevice, StaticDevice):
        model.objects.filter(user=owner).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    StaticToken.objects.filter(device=backup_device).delete()
    StaticToken.objects.create(device=backup_device, token=backup_codes.digest(fresh_code))
    client = Client()
    assert client.post("/login/", {"username": owner.email, "password": PASSWORD}).url == "/login/code/"
    before = counts(User, Token, StaticToken)

    response = submission.filled(code=fresh_code, head=fresh_code[:4], tail=fresh_code[4:]).post(client, "/login/code/")

    logged_in = "_auth_user_id" in client.session
    event("logged in" if logged_in else "refused")
    if logged_in:
        assert response.status_code == 302 and response.url == "/"
        spent = before["otp_static.StaticToken"] - 1
        assert counts(User, Token, StaticToken) == {**before, "otp_static.StaticToken": spent}
    else:
        assert not submission.pristine, "a right backup code was refused"
        assert_refused(response)
        assert counts(User, Token, StaticToken) == before


# --- Forgot password: QueuedPasswordResetForm ----------------------------------------------------


@st.composite
def reset_requests(draw: st.DrawFn) -> dict[str, str]:
    known = st.sampled_from(["owner@acme.example", "Member@ACME.example", " owner@acme.example"])
    unknown = st.from_regex(
        r"[a-z0-9]{1,12}(\.[a-z0-9]{1,8})?@(example\.com|acme\.example|bücher\.example)", fullmatch=True
    )
    return {"email": draw(known | unknown)}


@FUZZ
@given(submission=submissions(reset_requests(), tricky=EMAIL_LIKE))
def test_password_reset_answers_the_same_and_mails_only_an_existing_account(
    owner, member, django_capture_on_commit_callbacks, submission
):
    forget_rate_limits()  # ten requests an hour per address, three per email
    mail.outbox.clear()
    before = counts(User)

    with django_capture_on_commit_callbacks(execute=True):
        response = submission.post(Client(), "/password/reset/")

    answered = response.status_code == 302
    event("answered" if answered else "refused")
    if answered:
        assert response.url == "/password/reset/sent/"
        typed = sent(response, "email").strip().lower()
        expected = [[u.email] for u in (owner, member) if u.email == typed]  # one email, or none
        assert [m.to for m in mail.outbox] == expected
    else:
        assert not submission.pristine, "a well-formed address was refused"
        assert_refused(response)
        assert mail.outbox == []
    assert counts(User) == before


# --- Account set-up: TokenForm (authenticator), PhoneNumberForm and TokenForm (fallback number) ------


def current_code(device: TOTPDevice) -> str:
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


@FEW
@given(
    submission=submissions(
        st.sampled_from(["{code}", " {code} ", "{head} {tail}"]).map(lambda c: {"token": c}), tricky=CODE_LIKE
    )
)
def test_setup_authenticator_confirms_only_the_code_the_app_shows(organisation, submission):
    user = UserFactory.create(organisation=organisation, onboarded_at=None)  # password chosen, no factor yet
    client = log_in(Client(), user)
    device = token_services.start_totp(user=user)  # the secret the set-up page shows
    code = current_code(device)

    response = submission.filled(code=code, head=code[:3], tail=code[3:]).post(client, "/setup/authenticator/")

    tokens = list(Token.objects.filter(user=user))
    event("confirmed" if tokens else "refused")
    if tokens:
        assert response.status_code == 302 and response.url == "/setup/phone/"
        assert [t.kind for t in tokens] == [TokenKind.TOTP]
        assert TOTPDevice.objects.get(user=user, confirmed=True).pk == device.pk
    else:
        assert not submission.pristine, "the app's current code was refused"
        assert_refused(response)
        assert not TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def _on_phone_step(organisation) -> tuple[User, Client]:
    """Password and authenticator done; the fallback number is the last set-up step."""
    user = UserFactory.create(organisation=organisation)
    User.objects.filter(pk=user.pk).update(onboarded_at=None)
    user.refresh_from_db()
    return user, log_in(Client(), user)


@FEW
@given(
    submission=submissions(
        typed_numbers(st.sampled_from(MOBILES) | UK_MOBILES).map(lambda n: {"number": n})
        | numbers_with_country("number", st.sampled_from(MOBILES) | UK_MOBILES),
        tricky=PHONE_LIKE,
    )
)
def test_setup_fallback_number_texts_a_code_only_to_a_usable_number(organisation, submission):
    forget_rate_limits()
    user, client = _on_phone_step(organisation)

    response = submission.post(client, "/setup/phone/")

    pending = list(SmsDevice.objects.filter(user=user))
    event("code sent" if pending else "refused")
    if pending:
        assert response.status_code == 302 and response.url == "/setup/phone/"
        (device,) = pending
        assert not device.confirmed
        assert str(device.number) == e164(sent(response, "number"), sent(response, "number_country"))
    elif sent_none_of(response, "number", "token"):
        assert response.status_code == 200
    else:
        assert not submission.pristine, "a mobile number was refused"
        assert_refused(response)
    assert not Token.objects.filter(user=user, kind=TokenKind.SMS).exists()
    user.refresh_from_db()
    assert user.onboarded_at is None


@FEW
@given(submission=submissions({"token": "{code}"}, tricky=CODE_LIKE))
def test_setup_fallback_code_finishes_set_up_only_with_the_texted_code(organisation, submission):
    forget_rate_limits()
    user, client = _on_phone_step(organisation)
    device = signin_services.start_fallback_phone(user=user, raw_number="+44 7400 123456")

    response = submission.filled(code=str(device.token)).post(client, "/setup/phone/")

    user.refresh_from_db()
    tokens = list(Token.objects.filter(user=user, kind=TokenKind.SMS))
    event("set up" if tokens else "refused")
    if tokens:
        assert response.status_code == 302 and response.url == "/"
        assert str(user.mobile) == "+447400123456"
        assert user.onboarded_at is not None
    else:
        assert not submission.pristine, "the texted code was refused"
        if sent_none_of(response, "number", "token"):
            assert response.status_code == 200
        else:
            assert_refused(response)
        assert user.onboarded_at is None
        assert not SmsDevice.objects.filter(user=user, confirmed=True).exists()


# --- Profile: ContactNumbersForm ------------------------------------------------------------------


@st.composite
def contact_numbers(draw: st.DrawFn) -> dict[str, str]:
    numbers = st.sampled_from(MOBILES + LANDLINES) | UK_MOBILES
    data = {"save_numbers": "1"}
    for field, blanks in (("telephone", ["", "  "]), ("mobile", [""])):
        typed = {field: draw(typed_numbers(numbers))}
        blank = {field: draw(st.sampled_from(blanks)), f"{field}_country": "GB"}
        data.update(draw(st.sampled_from([typed, blank]) | numbers_with_country(field, numbers)))
    return data


@FUZZ
@given(submission=submissions(contact_numbers(), tricky=PHONE_LIKE))
def test_contact_numbers_are_saved_in_e164_or_refused_with_a_reason(owner, owner_client, submission):
    before = (owner.telephone, owner.mobile, counts(AuditEvent))

    response = submission.post(owner_client, "/profile/")

    owner.refresh_from_db()
    saved = response.status_code == 302
    event("saved" if saved else "refused")
    if saved:
        assert response.url == "/profile/"
        for field in ("telephone", "mobile"):
            typed = sent(response, field).strip()
            stored = e164(typed, sent(response, f"{field}_country")) if typed else ""
            assert str(getattr(owner, field) or "") == stored
        assert counts(AuditEvent)["audit.AuditEvent"] == before[2]["audit.AuditEvent"] + 1
    elif sent_none_of(response, "save_numbers"):
        assert response.status_code == 200
        assert (owner.telephone, owner.mobile, counts(AuditEvent)) == before
    else:
        assert not submission.pristine, "valid numbers were refused"
        assert_refused(response)
        assert (owner.telephone, owner.mobile, counts(AuditEvent)) == before


# --- User management: AddUserForm and ChangeUserForm ----------------------------------------------

PERMISSIONS = [p.value for p in PortalPermission]


@st.composite
def new_users(draw: st.DrawFn) -> dict[str, object]:
    local = draw(st.from_regex(r"[a-z0-9]{1,10}([._+-][a-z0-9]{1,6})?", fullmatch=True))
    domain = draw(st.sampled_from(["acme.example", "Acme.Example", "例え.jp", "bücher.example"]))
    data: dict[str, object] = {
        "full_name": draw(printable_text),
        "email": f"{local}@{domain}",
        "role": draw(st.sampled_from([Role.USER.value, Role.ADMIN.value])),
    }
    granted = draw(st.lists(st.sampled_from(PERMISSIONS), unique=True))
    if granted:
        data["permissions"] = granted
    return data


@FUZZ
@given(submission=submissions(new_users(), tricky=EMAIL_LIKE))
def test_adding_a_user_stores_exactly_that_user_or_nothing(
    organisation, owner, owner_client, django_capture_on_commit_callbacks, submission
):
    organisation.user_limit = 1000  # room for every example: the limit has tests of its own
    organisation.save(update_fields=["user_limit"])
    mail.outbox.clear()
    taken = submission.pristine and User.objects.filter(email__iexact=submission.data["email"].strip()).exists()
    before = counts(User)

    with django_capture_on_commit_callbacks(execute=True):  # the welcome email goes out too
        response = submission.post(owner_client, "/users/add/")

    added = response.status_code == 302
    event("added" if added else "refused")
    if added:
        assert counts(User) == {"accounts.User": before["accounts.User"] + 1}
        user = User.objects.get(email=sent(response, "email").strip().lower())
        assert response.url == f"/users/{user.pk}/"
        assert user.organisation == organisation
        assert user.full_name == sent(response, "full_name").strip()
        assert user.role == sent(response, "role")
        granted = response.wsgi_request.POST.getlist("permissions") if user.role == Role.USER else []
        assert sorted(p.value for p in user.granted_permissions) == sorted(set(granted))
        assert [m.to for m in mail.outbox] == [[user.email]]
    else:
        assert not submission.pristine or taken, "a new user was refused"
        assert_refused(response)
        assert counts(User) == before
        assert mail.outbox == []


@st.composite
def role_changes(draw: st.DrawFn) -> dict[str, object]:
    data: dict[str, object] = {"role": draw(st.sampled_from([Role.USER.value, Role.ADMIN.value]))}
    granted = draw(st.lists(st.sampled_from(PERMISSIONS), unique=True))
    if granted:
        data["permissions"] = granted
    return data


@FUZZ
@given(submission=submissions(role_changes()))
def test_changing_a_role_saves_exactly_what_was_chosen_or_nothing(owner, member, owner_client, submission):
    member.refresh_from_db()
    before = (member.role, sorted(p.value for p in User.objects.get(pk=member.pk).granted_permissions))

    response = submission.post(owner_client, f"/users/{member.pk}/")

    changed = User.objects.get(pk=member.pk)
    now = (changed.role, sorted(p.value for p in changed.granted_permissions))
    event("saved" if response.status_code == 302 else "refused")
    if response.status_code == 302:
        assert response.url == f"/users/{member.pk}/"
        role = sent(response, "role")
        granted = response.wsgi_request.POST.getlist("permissions") if role == Role.USER else []
        assert now == (role, sorted(set(granted)))
    else:
        assert not submission.pristine, "a valid role change was refused"
        assert_refused(response)
        assert now == before
    assert User.objects.filter(organisation=owner.organisation, role=Role.ADMIN, is_active=True).exists()


# --- Sudo mode: ReauthenticateForm ----------------------------------------------------------------

NEXT_TARGETS = st.one_of(
    st.sampled_from(
        [
            "/tokens/add/totp/",
            "/profile/?x=1",
            "//evil.example/",
            "https://evil.example/",
            "http://testserver.evil.example/",
            "/\\evil.example",
            "\\\\evil.example",
            "javascript:alert(1)",
            "/%0d%0aSet-Cookie:x=1",
            "",
        ]
    ),
    field_values.map(str),
)


def stays_on_the_site(location: str) -> bool:
    """A relative address, read as leniently as browsers do (backslashes as slashes, controls dropped)."""
    cleaned = "".join(ch for ch in location if ch.isprintable()).strip().replace("\\", "/")
    parts = urlsplit(cleaned)
    return not parts.scheme and not parts.netloc and not cleaned.startswith("//")


@FUZZ
@given(submission=submissions({"password": PASSWORD}), target=NEXT_TARGETS)
def test_password_confirmation_accepts_only_the_password_and_stays_on_the_site(owner, submission, target):
    forget_rate_limits()  # wrong passwords here count towards the axes lockout as well
    client = browser(owner)
    session = client.session
    session[REAUTHENTICATED_AT] = time.time() - 3600
    session.save()

    response = submission.post(client, f"/reauthenticate/?{urlencode({'next': target})}")

    confirmed = time.time() - client.session[REAUTHENTICATED_AT] < 60
    event("confirmed" if confirmed else "refused")
    if confirmed:
        assert response.status_code == 302
        assert sent(response, "password") == PASSWORD
        assert stays_on_the_site(response["Location"]), response["Location"]
    else:
        assert not submission.pristine, "the right password was refused"
        assert_refused(response)


# --- Regressions found by the fuzzing above --------------------------------------------------------


def test_login_code_in_superscript_digits_is_refused_not_a_server_error(owner):
    # "²³⁴⁵⁶⁷" passes str.isdigit() but not int(): checking it against the authenticator was a 500.
    client = Client()
    client.post("/login/", {"username": owner.email, "password": PASSWORD})

    response = client.post("/login/code/", {"code": "²³⁴⁵⁶⁷"})

    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sending_a_code_to_a_superscript_token_id_says_it_cannot_receive_codes(owner):
    # The "send me a code" button's value went to a primary-key lookup after isdigit(): a 500.
    client = Client()
    client.post("/login/", {"username": owner.email, "password": PASSWORD})

    response = client.post("/login/code/", {"send": "²"}, follow=True)

    assert response.redirect_chain == [("/login/code/", 302)]
    assert "That token cannot receive codes." in response.content.decode()


def test_fallback_code_with_no_number_waiting_says_to_enter_the_number_first(organisation):
    # The code form was checked only when a number was waiting: otherwise the page came back silent.
    user, client = _on_phone_step(organisation)

    response = client.post("/setup/phone/", {"token": "123456"})

    assert response.status_code == 200
    assert "Enter your mobile number first" in response.content.decode()
    user.refresh_from_db()
    assert user.onboarded_at is None
    assert not SmsDevice.objects.filter(user=user).exists()
