"""The token pages (tokens/views.py): a user on their own tokens, an org admin on a user's tokens.

The tokens under test belong to ``member``. Most tests run twice, through the ``actor``
fixture: once acted on by the member themselves (``holder``) and once by the organisation's
admin (``admin``, the ``owner`` fixture).
"""

import html
import re
from base64 import b32decode
from datetime import timedelta
from urllib.parse import unquote

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.reauth import SESSION_KEY as REAUTH_KEY
from audit.models import AuditEvent
from tests.conftest import log_in
from tests.factories import PASSWORD
from tokens import services
from tokens.models import SmsDevice, Token, TokenKind, TokenType

# RFC 4226 Appendix D: the test token's secret.
RFC_KEY = b"12345678901234567890"
OLD_NUMBER = "+447400123456"
NEW_NUMBER = "+447400654321"
NEW_FACTOR_SUBJECT = "A new second factor was added to your portal account"


# --- Helpers ----------------------------------------------------------------------------------


def press(counter: int, key: bytes = RFC_KEY) -> str:
    """The code a hardware token with ``key`` shows at ``counter``."""
    return f"{hotp(key, counter):06d}"


def code_matching_no_press(key: bytes = RFC_KEY, window: int = 1100) -> str:
    """Six digits the token shows at no counter in the window: a wrong code that cannot match by chance."""
    shown = {press(c, key) for c in range(window)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in shown)


def authenticator_code(device: TOTPDevice) -> str:
    """The code the authenticator app shows right now."""
    device.refresh_from_db()
    return f"{TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift).token():06d}"


def wrong_authenticator_code(device: TOTPDevice) -> str:
    """Six digits no code of the device's tolerance window is equal to."""
    near = set()
    for drift in range(-3, 4):
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + drift)
        near.add(f"{totp.token():06d}")
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in near)


def page(response) -> str:
    return html.unescape(response.content.decode())


def fresh(token: Token) -> Token:
    return Token.objects.get(pk=token.pk)


def totp_token(user: User) -> Token:
    """The authenticator app the factory gave the user at account set-up."""
    return Token.objects.get(user=user, kind=TokenKind.TOTP)


def add_totp(user: User, description: str = "") -> Token:
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    return Token.objects.create(
        user=user,
        kind=TokenKind.TOTP,
        description=description,
        device_type=ContentType.objects.get_for_model(device),
        device_id=device.pk,
    )


def add_hardware(user: User, *, serial: str = "HW-0001", acting_user: User | None = None, **fields) -> Token:
    """A hardware token with the RFC secret, registered with its first code: the portal expects press(1) next."""
    return services.enrol_hotp(
        user=user,
        serial=serial,
        secret=RFC_KEY.hex(),
        digits=6,
        expires_at=fields.pop("expires_at", None),
        code=press(0),
        description=fields.pop("description", ""),
        acting_user=acting_user or user,
    )


def let_cooldown_pass(device) -> None:
    """As if the last code had been sent an hour ago (django-otp's cooldown between sends)."""
    type(device).objects.filter(pk=device.pk).update(last_generated_timestamp=timezone.now() - timedelta(hours=1))


def add_sms(user: User, number: str = OLD_NUMBER) -> Token:
    device = services.start_sms(user=user, number=number, acting_user=user)
    token = services.confirm_side_channel(user=user, device=device, code=device.token, acting_user=user)
    assert token is not None
    let_cooldown_pass(device)
    return fresh(token)


def add_email(user: User, address: str) -> Token:
    device = services.start_email(user=user, email=address, acting_user=user)
    token = services.confirm_side_channel(user=user, device=device, code=device.token, acting_user=user)
    assert token is not None
    let_cooldown_pass(device)
    return fresh(token)


def hotp_counter(token: Token) -> int:
    return HOTPDevice.objects.get(pk=token.device_id).counter


def actions_since(mark: int) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(id__gt=mark).order_by("id").values_list("action", "actor_label"))


def audit_mark() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def session_state(client: Client) -> tuple:
    session = client.session
    return session.session_key, session.get("_auth_user_id"), session.get(DEVICE_ID_SESSION_KEY)


def start_login(client: Client, user: User):
    response = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/login/code/", page(response)
    return response


def submit_code(client: Client, code: str):
    return client.post("/login/code/", {"code": code})


def let_throttle_pass(user: User) -> None:
    """As if a day had passed since the user's last wrong code: django-otp's back-off is over."""
    a_day_ago = timezone.now() - timedelta(days=1)
    for model in (TOTPDevice, HOTPDevice, StaticDevice, EmailDevice, SmsDevice):
        model.objects.filter(user=user).exclude(throttling_failure_timestamp=None).update(
            throttling_failure_timestamp=a_day_ago
        )


def is_logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def list_url(actor: User, holder: User) -> str:
    return "/tokens/" if actor.pk == holder.pk else f"/users/{holder.pk}/tokens/"


def add_url(actor: User, holder: User, kind: str) -> str:
    return f"{list_url(actor, holder)}add/{kind}/"


def token_urls(token: Token) -> list[str]:
    return [f"/tokens/{token.pk}/{action}" for action in ("", *(f"{a}/" for a in ACTIONS))]


ACTIONS = ["edit", "test", "disable", "enable", "delete", "reset", "unlock"]
KINDS = [kind.value for kind in TokenKind]
# Everything any of the forms reads, so a POST that got through would change something.
ANY_POST = {
    "description": "changed",
    "number": NEW_NUMBER,
    "email": "changed@example.com",
    "code": "123456",
    "first_code": "123456",
    "second_code": "654321",
    "serial": "HW-EVIL",
    "secret": RFC_KEY.hex(),
    "digits": "6",
}


def snapshot() -> list[tuple]:
    """Every token and device as stored, to show that a refused request changed nothing."""
    rows: list[tuple] = [tuple(sorted(Token.objects.values_list("pk", "enabled", "description", "device_id")))]
    for model in (TOTPDevice, HOTPDevice, StaticDevice, EmailDevice, SmsDevice):
        rows.append(tuple(model.objects.order_by("pk").values_list()))
    rows.append((StaticToken.objects.count(),))
    return rows


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(params=["holder", "admin"])
def actor(request, owner, member) -> User:
    """Who acts on the member's tokens: the member, or their organisation's admin."""
    return member if request.param == "holder" else owner


@pytest.fixture
def actor_client(actor) -> Client:
    return log_in(Client(), actor)


@pytest.fixture
def hardware(member, owner) -> Token:
    return add_hardware(member, acting_user=owner)


@pytest.fixture
def sms(member) -> Token:
    return add_sms(member)


# --- List -------------------------------------------------------------------------------------


def test_list_shows_each_token_with_its_type_status_description_device_and_expiry(actor, actor_client, member):
    add_hardware(member, serial="HW-LIST-1", description="Desk token", expires_at=timezone.now() + timedelta(days=30))
    add_sms(member)
    disabled = add_totp(member, description="Old phone")
    services.set_enabled(token=disabled, enabled=False, acting_user=member)

    response = actor_client.get(list_url(actor, member))

    assert response.status_code == 200
    text = page(response)
    assert "Hardware token" in text and "Text message (SMS)" in text and "Authenticator app" in text
    assert "HW-LIST-1" in text and "Desk token" in text
    assert "+44 7400 123456" in text
    assert "Old phone" in text
    assert text.count("ACTIVE") == 3 and text.count("DISABLED") == 1
    assert f"{(timezone.localtime() + timedelta(days=30)):%-d %b %Y}" in text
    for token in Token.objects.filter(user=member):
        assert f'href="/tokens/{token.pk}/"' in text


def test_list_shows_the_type_names_support_chose(actor, actor_client, member, hardware):
    TokenType.objects.update_or_create(kind=TokenKind.HOTP, defaults={"display_name": "Key fob"})

    text = page(actor_client.get(list_url(actor, member)))

    assert "Key fob" in text
    assert "Hardware token" not in text


def test_list_shows_only_that_users_tokens(owner, member, owner_client):
    add_hardware(owner, serial="OWNERS-OWN")
    add_hardware(member, serial="MEMBERS-OWN")

    own = page(owner_client.get("/tokens/"))
    members = page(owner_client.get(f"/users/{member.pk}/tokens/"))

    assert "OWNERS-OWN" in own and "MEMBERS-OWN" not in own
    assert "MEMBERS-OWN" in members and "OWNERS-OWN" not in members


def test_list_of_a_user_without_tokens_says_so(owner_client, member):
    Token.objects.filter(user=member).delete()

    response = owner_client.get(f"/users/{member.pk}/tokens/")

    assert response.status_code == 200
    assert "No tokens" in page(response)


def _list_queries(client: Client, url: str) -> CaptureQueriesContext:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return queries


def test_list_issues_the_same_number_of_queries_for_two_and_eight_tokens(actor, actor_client, member):
    url = list_url(actor, member)
    add_hardware(member, serial="HW-Q-0")
    actor_client.get(url)  # warm up: session and per-process caches
    assert Token.objects.filter(user=member).count() == 2
    two = _list_queries(actor_client, url)

    for n in range(1, 4):
        add_hardware(member, serial=f"HW-Q-{n}")
        add_totp(member)
    assert Token.objects.filter(user=member).count() == 8
    eight = _list_queries(actor_client, url)

    assert len(eight) == len(two), "\n".join(q["sql"] for q in eight.captured_queries)


def test_list_of_every_kind_issues_the_same_number_of_queries_when_tokens_double(actor, actor_client, member):
    url = list_url(actor, member)
    add_hardware(member, serial="HW-K-0")
    add_sms(member)
    add_email(member, "max.codes@acme.example")
    services.generate_backup_codes(user=member, acting_user=member)
    actor_client.get(url)
    five = _list_queries(actor_client, url)

    add_hardware(member, serial="HW-K-1")
    add_sms(member, NEW_NUMBER)
    add_email(member, "max.more@acme.example")
    add_totp(member)
    assert Token.objects.filter(user=member).count() == 9
    nine = _list_queries(actor_client, url)

    assert len(nine) == len(five), "\n".join(q["sql"] for q in nine.captured_queries)


# --- Detail -----------------------------------------------------------------------------------


def test_detail_shows_every_fact_of_the_token(actor, actor_client, member):
    expires = timezone.now() + timedelta(days=400)
    token = add_hardware(member, serial="HW-DETAIL", description="Spare", expires_at=expires)

    response = actor_client.get(f"/tokens/{token.pk}/")

    assert response.status_code == 200
    text = page(response)
    for fact in ("Hardware token", "ACTIVE", "Spare", "HW-DETAIL", member.full_name, "Last updated"):
        assert fact in text
    assert f"{timezone.localtime(expires):%-d %b %Y}" in text
    assert "Never" in text  # not used since it was registered
    for action in ("test", "edit", "reset", "disable", "delete"):
        assert f'"/tokens/{token.pk}/{action}/"' in text


def test_detail_shows_when_the_token_was_last_used(actor_client, member, hardware):
    actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})

    text = page(actor_client.get(f"/tokens/{hardware.pk}/"))

    assert f"{timezone.localtime():%-d %b %Y}" in text.split("Last used", 1)[1].split("Last updated", 1)[0]


def test_detail_of_an_expired_token_says_expired(actor_client, member):
    token = add_hardware(member, serial="HW-OLD")
    Token.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(days=1))

    text = page(actor_client.get(f"/tokens/{token.pk}/"))

    assert "EXPIRED" in text
    assert "ACTIVE" not in text


# --- Edit description -------------------------------------------------------------------------


def test_editing_a_description_saves_it(actor, actor_client, member, hardware):
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{hardware.pk}/edit/", {"description": "  Top drawer  "}, follow=True)

    assert response.redirect_chain == [(f"/tokens/{hardware.pk}/", 302)]
    assert "The description is saved." in page(response)
    assert "Top drawer" in page(response)
    assert fresh(hardware).description == "Top drawer"
    assert actions_since(mark) == [("token.edited", actor.email)]


def test_edit_page_shows_the_current_description(actor_client, member):
    token = add_hardware(member, serial="HW-E", description="Blue fob")

    response = actor_client.get(f"/tokens/{token.pk}/edit/")

    assert response.status_code == 200
    assert 'value="Blue fob"' in page(response)


def test_too_long_description_is_refused_and_nothing_is_saved(actor_client, member, hardware):
    before = snapshot()

    response = actor_client.post(f"/tokens/{hardware.pk}/edit/", {"description": "x" * 121})

    assert response.status_code == 400
    assert "at most 120 characters" in page(response)
    assert snapshot() == before


# --- Change an SMS number (or email address) --------------------------------------------------


def test_new_number_is_used_only_after_its_code_comes_back(
    actor, actor_client, member, sms, capsys, django_capture_on_commit_callbacks
):
    old_device_id = sms.device_id
    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": NEW_NUMBER, "description": ""}, follow=True)
    assert response.redirect_chain == [(f"/tokens/{sms.pk}/edit/", 302)]
    assert "We sent a code to the new destination" in page(response)
    assert f"[SMS to {NEW_NUMBER}]" in capsys.readouterr().out
    pending = SmsDevice.objects.get(user=member, confirmed=False)
    assert str(pending.number) == NEW_NUMBER

    # Until confirmed, the token still texts the old number, and the new number's code logs nobody in.
    assert fresh(sms).device_id == old_device_id
    assert "+44 7400 123456" in page(actor_client.get(f"/tokens/{sms.pk}/"))
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, pending.token).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        visitor.post("/login/code/", {"send": str(sms.pk)})
    sent = capsys.readouterr().out
    assert f"[SMS to {OLD_NUMBER}]" in sent and NEW_NUMBER not in sent

    mark = audit_mark()
    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"code": pending.token}, follow=True)

    assert response.redirect_chain == [(f"/tokens/{sms.pk}/", 302)]
    assert "Confirmed: codes now go to the new destination." in page(response)
    assert "+44 7400 654321" in page(response)
    token = fresh(sms)
    assert token.device_id == pending.pk and str(token.device.number) == NEW_NUMBER
    assert not SmsDevice.objects.filter(pk=old_device_id).exists()
    assert actions_since(mark) == [("token.changed", actor.email)]


def test_wrong_code_for_a_new_number_keeps_the_old_one(actor_client, member, sms):
    actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": NEW_NUMBER, "description": ""})
    pending = SmsDevice.objects.get(user=member, confirmed=False)
    wrong = next(c for c in ("000000", "111111", "222222") if c != pending.token)

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"code": wrong})

    assert response.status_code == 400
    assert "That code is not right, or it has expired." in page(response)
    assert str(fresh(sms).device.number) == OLD_NUMBER


@pytest.mark.parametrize(
    ("number", "message"),
    [
        ("+448001234567", "toll-free"),
        ("12", "This phone number is not valid"),
        ("", "This field is required."),
    ],
    ids=["toll-free", "invalid", "empty"],
)
def test_unusable_new_number_is_refused_with_a_reason(actor_client, member, sms, number, message):
    before = snapshot()

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": number, "description": ""})

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before


def test_code_sent_with_no_new_number_waiting_gets_a_message(actor_client, member, sms):
    before = snapshot()

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"code": "123456"})

    assert response.status_code == 400
    assert "No new number is waiting to be confirmed" in page(response)
    assert snapshot() == before


def test_new_email_address_is_confirmed_before_use(
    actor, actor_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    token = add_email(member, "max.codes@acme.example")
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(f"/tokens/{token.pk}/edit/", {"email": "max.new@acme.example", "description": ""})
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["max.new@acme.example"]]
    assert fresh(token).device.email == "max.codes@acme.example"
    code = re.search(r"security code is (\d+)", mailoutbox[0].body)
    assert code is not None

    response = actor_client.post(f"/tokens/{token.pk}/edit/", {"code": code.group(1)})

    assert response.status_code == 302
    assert fresh(token).device.email == "max.new@acme.example"


def test_changing_a_number_asks_for_the_password_again(actor, actor_client, member, sms):
    session = actor_client.session
    del session[REAUTH_KEY]
    session.save()

    response = actor_client.post(f"/tokens/{sms.pk}/edit/", {"number": NEW_NUMBER, "description": ""})

    assert response.status_code == 302
    assert response.url == f"/reauthenticate/?next=%2Ftokens%2F{sms.pk}%2Fedit%2F"
    assert not SmsDevice.objects.filter(user=member, confirmed=False).exists()


# --- Test -------------------------------------------------------------------------------------


def _assert_nobody_was_logged_in(client: Client, before: tuple, member: User, last_login) -> None:
    assert session_state(client) == before, "testing a token changed the acting session"
    anonymous = Client()
    response = anonymous.get("/tokens/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert User.objects.get(pk=member.pk).last_login == last_login
    assert not AuditEvent.objects.filter(action__startswith="login.").exists()


def test_right_code_shows_success_and_logs_nobody_in(actor, actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    token = totp_token(member)
    before = session_state(actor_client)
    last_login = User.objects.get(pk=member.pk).last_login
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{token.pk}/test/", {"code": authenticator_code(device)})

    assert response.status_code == 200
    assert "Success: the code is right." in page(response)
    assert actions_since(mark) == [("token.test_passed", actor.email)]
    _assert_nobody_was_logged_in(actor_client, before, member, last_login)


def test_wrong_code_shows_failure(actor, actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    token = totp_token(member)
    before = session_state(actor_client)
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{token.pk}/test/", {"code": wrong_authenticator_code(device)})

    assert response.status_code == 400
    assert "Failed: that code is not right for this token." in page(response)
    assert "Success" not in page(response)
    assert actions_since(mark) == [("token.test_failed", actor.email)]
    assert session_state(actor_client) == before


def test_right_code_while_throttled_is_told_to_wait_not_that_it_is_wrong(actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    token = totp_token(member)
    actor_client.post(f"/tokens/{token.pk}/test/", {"code": wrong_authenticator_code(device)})

    response = actor_client.post(f"/tokens/{token.pk}/test/", {"code": authenticator_code(device)})

    assert response.status_code == 400
    assert re.search(r"The last code was not right\. Wait \d+ seconds? before the next try\.", page(response))
    assert "Failed: that code is not right" not in page(response)
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # refused unchecked: not counted again


def test_code_used_in_a_test_is_spent(actor_client, member, hardware):
    assert "Success" in page(actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)}))

    again = actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})
    assert again.status_code == 400
    assert "Failed" in page(again)

    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(1)).status_code == 400
    assert not is_logged_in(visitor)


def test_authenticator_code_used_in_a_test_cannot_log_in(actor_client, member):
    device = TOTPDevice.objects.get(user=member, confirmed=True)
    code = authenticator_code(device)
    assert "Success" in page(actor_client.post(f"/tokens/{totp_token(member).pk}/test/", {"code": code}))

    visitor = Client()
    start_login(visitor, member)
    response = submit_code(visitor, code)

    assert response.status_code == 400
    assert not is_logged_in(visitor)


def test_sms_token_test_sends_a_code_then_checks_it(
    actor_client, member, sms, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(f"/tokens/{sms.pk}/test/", {"send": "1"}, follow=True)
    assert "We sent a code to +44 7400 123456." in page(response)
    texted = re.search(r"\[SMS to \+447400123456\] .*security code is (\d+)", capsys.readouterr().out)
    assert texted is not None
    code = texted.group(1)

    assert "Success" in page(actor_client.post(f"/tokens/{sms.pk}/test/", {"code": code}))
    again = actor_client.post(f"/tokens/{sms.pk}/test/", {"code": code})
    assert "Failed" in page(again)


def test_asking_twice_at_once_for_a_code_says_to_wait(
    actor_client, member, sms, capsys, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        actor_client.post(f"/tokens/{sms.pk}/test/", {"send": "1"})
        response = actor_client.post(f"/tokens/{sms.pk}/test/", {"send": "1"}, follow=True)

    assert re.search(r"A code was just sent\. Please wait \d+ seconds before asking for another\.", page(response))
    assert capsys.readouterr().out.count("[SMS to") == 1


def test_email_token_test_sends_a_code_then_checks_it(
    actor_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    token = add_email(member, "max.codes@acme.example")

    with django_capture_on_commit_callbacks(execute=True):
        actor_client.post(f"/tokens/{token.pk}/test/", {"send": "1"})
    assert [m.to for m in mailoutbox] == [["max.codes@acme.example"]]
    code = re.search(r"security code is (\d+)", mailoutbox[0].body)
    assert code is not None

    assert "Success" in page(actor_client.post(f"/tokens/{token.pk}/test/", {"code": code.group(1)}))


def test_testing_a_disabled_token_says_it_is_disabled(actor, actor_client, member, hardware):
    services.set_enabled(token=hardware, enabled=False, acting_user=member)

    response = actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})

    assert response.status_code == 400
    assert "This token is disabled." in page(response)
    assert "Success" not in page(response)
    assert hotp_counter(hardware) == 1
    # An admin can enable it themselves: they are never told to ask an admin.
    if actor == member:
        assert "Ask an admin of your organisation to enable it." in page(response)
    else:
        assert "Enable it on its page." in page(response)
        assert "Ask an admin" not in page(response)


def test_admin_testing_a_locked_or_expired_token_is_told_what_to_do_not_to_ask_an_admin(owner_client, member, hardware):
    _lock(hardware)
    locked = page(owner_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)}))
    assert "This token is locked after too many wrong codes. Unlock it on its page." in locked
    assert "ask an admin" not in locked.lower() and "an admin of your organisation" not in locked.lower()

    expired = add_totp(member, description="Old phone")
    Token.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    text = page(owner_client.post(f"/tokens/{expired.pk}/test/", {"code": "123456"}))
    assert "Add a new token to replace it." in text
    assert "ask an admin" not in text.lower()


def test_test_page_names_the_token_and_its_owner(actor, actor_client, member):
    token = add_hardware(member, serial="HW-NAMED", description="Desk token")

    text = page(actor_client.get(f"/tokens/{token.pk}/test/"))

    assert "Test Hardware token “Desk token”" in text
    assert ("Your token" if actor == member else f"Token of {member.full_name}") in text
    assert "HW-NAMED" in text


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("totp", "The 6-digit code your authenticator app shows"),
        ("hotp", "Press the token's button"),
        ("sms", "the code from the text message"),
    ],
)
def test_test_page_shows_only_the_hint_for_its_kind_of_token(actor_client, member, kind, hint):
    token = {"totp": totp_token, "hotp": add_hardware, "sms": add_sms}[kind](member)

    text = page(actor_client.get(f"/tokens/{token.pk}/test/"))

    hints = [
        "The 6-digit code your authenticator app shows",
        "Press the token's button",
        "the code from the text message",
    ]
    assert hint in text
    assert [h for h in hints if h in text] == [hint]
    assert "backup code" not in text.lower()


def test_malformed_test_code_gets_a_message(actor_client, member, hardware):
    response = actor_client.post(f"/tokens/{hardware.pk}/test/", {"code": "12-34!"})

    assert response.status_code == 400
    assert "letters and digits only" in page(response)
    assert hotp_counter(hardware) == 1


# --- Disable / enable -------------------------------------------------------------------------


def test_disabled_token_cannot_log_in_until_enabled(actor, actor_client, member, hardware):
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{hardware.pk}/disable/", follow=True)

    assert response.redirect_chain == [(f"/tokens/{hardware.pk}/", 302)]
    assert "The token is disabled: it cannot be used." in page(response)
    assert "DISABLED" in page(response)
    assert not fresh(hardware).enabled
    visitor = Client()
    start_login(visitor, member)
    refused = submit_code(visitor, press(1))
    assert refused.status_code == 400
    assert "This token is disabled." in page(refused)

    response = actor_client.post(f"/tokens/{hardware.pk}/enable/", follow=True)

    assert "The token is enabled." in page(response)
    assert fresh(hardware).enabled
    assert submit_code(visitor, press(1)).status_code == 302
    assert is_logged_in(visitor)
    assert actions_since(mark)[0] == ("token.disabled", actor.email)
    assert ("token.enabled", actor.email) in actions_since(mark)


def test_disable_asks_first_and_changes_nothing_until_confirmed(actor_client, member, hardware):
    detail = page(actor_client.get(f"/tokens/{hardware.pk}/"))
    assert "Disable…" in detail
    before = snapshot()

    response = actor_client.get(f"/tokens/{hardware.pk}/disable/")

    assert response.status_code == 200
    text = page(response)
    assert "Disable Hardware token?" in text
    assert "cannot be used to log in, or tested, until it is enabled again" in text
    # Another active token (the authenticator app the member logged in with) remains: no warning.
    assert "last active token" not in text
    assert "last usable second factor" not in text
    assert "Disable token" in text
    assert snapshot() == before


def test_disable_page_warns_when_the_last_active_token_would_go(actor_client, member):
    services.generate_backup_codes(user=member, acting_user=member)

    text = page(actor_client.get(f"/tokens/{totp_token(member).pk}/disable/"))

    assert f"This is the last active token of {member.full_name}." in text
    assert "with backup codes they can still log in" in text


def test_disable_page_warns_when_nothing_usable_would_be_left(actor, actor_client, member, hardware):
    services.set_enabled(token=hardware, enabled=False, acting_user=member)

    text = page(actor_client.get(f"/tokens/{totp_token(member).pk}/disable/"))

    whose = (
        "your last usable second factor" if actor == member else f"the last usable second factor of {member.full_name}"
    )
    assert f"This is {whose}." in text
    assert "cannot log in at all" in text
    assert fresh(totp_token(member)).enabled


@pytest.mark.parametrize("action", ["enable", "unlock"])
def test_state_changes_need_a_post(owner_client, member, hardware, action):
    before = snapshot()

    response = owner_client.get(f"/tokens/{hardware.pk}/{action}/")

    assert response.status_code == 405
    assert snapshot() == before


# --- Delete -----------------------------------------------------------------------------------


def test_delete_page_warns_when_the_last_active_token_would_go(actor, actor_client, member):
    token = totp_token(member)

    response = actor_client.get(f"/tokens/{token.pk}/delete/")

    assert response.status_code == 200
    # Nothing at all would be left: the strongest warning (tests/accounts/test_factor_downgrade.py).
    whose = "your last second factor" if actor == member else f"the last second factor of {member.full_name}"
    assert f"This is {whose}." in page(response)
    assert "cannot log in at all" in page(response)
    assert Token.objects.filter(pk=token.pk).exists()


def test_delete_page_warns_when_the_other_tokens_are_disabled_or_backup_codes(actor_client, member, hardware):
    services.set_enabled(token=hardware, enabled=False, acting_user=member)
    services.generate_backup_codes(user=member, acting_user=member)

    text = page(actor_client.get(f"/tokens/{totp_token(member).pk}/delete/"))

    assert "This is the last active token" in text


def test_delete_page_does_not_warn_when_another_active_token_remains(actor_client, member, hardware):
    response = actor_client.get(f"/tokens/{hardware.pk}/delete/")

    assert response.status_code == 200
    assert "Delete Hardware token?" in page(response)
    assert "last active token" not in page(response)


def test_deleting_removes_the_token_and_its_device(actor, actor_client, member, hardware):
    device_id = hardware.device_id
    mark = audit_mark()

    response = actor_client.post(f"/tokens/{hardware.pk}/delete/", follow=True)

    assert response.redirect_chain == [(list_url(actor, member), 302)]
    assert "The token is deleted." in page(response)
    assert "HW-0001" not in page(response)
    assert not Token.objects.filter(pk=hardware.pk).exists()
    assert not HOTPDevice.objects.filter(pk=device_id).exists()
    assert actions_since(mark) == [("token.deleted", actor.email)]
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(1)).status_code == 400


# --- Reset (hardware token resync) ------------------------------------------------------------


def test_reset_with_two_consecutive_codes_brings_the_token_back_in_step(actor, actor_client, member, hardware):
    mark = audit_mark()

    response = actor_client.post(
        f"/tokens/{hardware.pk}/reset/", {"first_code": press(500), "second_code": press(501)}, follow=True
    )

    assert response.redirect_chain == [(f"/tokens/{hardware.pk}/", 302)]
    assert "The token is back in step." in page(response)
    assert hotp_counter(hardware) == 502
    assert actions_since(mark) == [("token.resync", actor.email)]
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(502)).status_code == 302


@pytest.mark.parametrize(
    ("first", "second"),
    [(500, 502), (501, 500), (500, 500), (1500, 1501)],
    ids=["gap", "reversed", "same-code", "beyond-window"],
)
def test_reset_with_codes_that_do_not_follow_each_other_changes_nothing(
    actor, actor_client, member, hardware, first, second
):
    before = snapshot()
    mark = audit_mark()

    response = actor_client.post(
        f"/tokens/{hardware.pk}/reset/", {"first_code": press(first), "second_code": press(second)}
    )

    assert response.status_code == 400
    assert "Those two codes do not follow each other" in page(response)
    assert "Nothing was changed." in page(response)
    # The counter stays; the failure counts like any wrong code (issue 13: every path counts).
    device = HOTPDevice.objects.get(pk=hardware.device_id)
    assert device.throttling_failure_count == 1
    HOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    assert snapshot() == before
    assert actions_since(mark) == [("token.resync_failed", actor.email)]


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"first_code": "abc", "second_code": "123456"}, "The code is made of digits only."),
        ({"first_code": "123456", "second_code": ""}, "This field is required."),
    ],
    ids=["letters", "missing"],
)
def test_reset_with_malformed_codes_gets_a_message(actor_client, member, hardware, form, message):
    before = snapshot()

    response = actor_client.post(f"/tokens/{hardware.pk}/reset/", form)

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before


def test_reset_page_exists_only_for_hardware_tokens(actor_client, member):
    token = totp_token(member)

    assert actor_client.get(f"/tokens/{token.pk}/reset/").status_code == 404
    assert actor_client.post(f"/tokens/{token.pk}/reset/", {"first_code": "1", "second_code": "2"}).status_code == 404


# --- Unlock -----------------------------------------------------------------------------------


def _lock(token: Token) -> None:
    HOTPDevice.objects.filter(pk=token.device_id).update(
        throttling_failure_count=settings.TOKEN_LOCK_AFTER_FAILURES, throttling_failure_timestamp=timezone.now()
    )


def test_admin_unlocks_a_locked_token(owner, owner_client, member, hardware):
    _lock(hardware)
    text = page(owner_client.get(f"/tokens/{hardware.pk}/"))
    assert "LOCKED" in text and f'action="/tokens/{hardware.pk}/unlock/"' in text
    mark = audit_mark()

    response = owner_client.post(f"/tokens/{hardware.pk}/unlock/", follow=True)

    assert "The token is unlocked." in page(response)
    assert "LOCKED" not in page(response)
    assert HOTPDevice.objects.get(pk=hardware.device_id).throttling_failure_count == 0
    assert actions_since(mark) == [("token.unlocked", owner.email)]
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(1)).status_code == 302


def test_member_cannot_unlock_their_own_token(member_client, member, hardware):
    _lock(hardware)
    assert "/unlock/" not in page(member_client.get(f"/tokens/{hardware.pk}/"))

    response = member_client.post(f"/tokens/{hardware.pk}/unlock/")

    assert response.status_code == 403
    assert fresh(hardware).is_locked
    tested = member_client.post(f"/tokens/{hardware.pk}/test/", {"code": press(1)})
    assert "This token is locked after too many wrong codes." in page(tested)
    assert "Success" not in page(tested)


# --- Enrol: authenticator app -----------------------------------------------------------------


def _shown_secret(response) -> bytes:
    found = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page(response))
    assert found is not None, page(response)
    return b32decode(found.group(1).replace(" ", ""))


def test_enrolling_an_authenticator_app_with_the_code_from_the_qr_secret(actor, actor_client, member):
    url = add_url(actor, member, "totp")
    response = actor_client.get(url)
    assert response.status_code == 200
    assert 'aria-label="QR code for the authenticator app"' in page(response)
    key = _shown_secret(response)
    assert _shown_secret(actor_client.get(url)) == key, "the secret changed before it was confirmed"

    response = actor_client.post(url, {"code": f"{TOTP(key).token():06d}", "description": "Work phone"}, follow=True)

    token = Token.objects.filter(user=member, kind=TokenKind.TOTP).latest("pk")
    assert response.redirect_chain == [(f"/tokens/{token.pk}/", 302)]
    assert "Authenticator app added." in page(response)
    assert token.description == "Work phone" and token.device.bin_key == key and token.device.confirmed
    assert Token.objects.filter(user=member, kind=TokenKind.TOTP).count() == 2


def test_enrolling_an_authenticator_app_with_a_wrong_code_creates_nothing(actor, actor_client, member):
    url = add_url(actor, member, "totp")
    key = _shown_secret(actor_client.get(url))
    device = TOTPDevice.objects.get(user=member, confirmed=False)
    assert device.bin_key == key
    before = Token.objects.count()

    response = actor_client.post(url, {"code": wrong_authenticator_code(device), "description": ""})

    assert response.status_code == 400
    assert "That code is not right." in page(response)
    assert Token.objects.count() == before
    assert not TOTPDevice.objects.filter(user=member, confirmed=False).exclude(pk=device.pk).exists()


# --- Enrol: hardware token --------------------------------------------------------------------


def _hardware_form(**changes) -> dict[str, str]:
    form = {
        "serial": "HW-NEW-1",
        "secret": RFC_KEY.hex(),
        "digits": "6",
        "expires_on": f"{timezone.localdate() + timedelta(days=365):%Y-%m-%d}",
        "description": "Desk",
        "code": press(0),
    }
    form.update(changes)
    return form


def test_enrolling_a_hardware_token(actor, actor_client, member):
    url = add_url(actor, member, "hotp")
    assert actor_client.get(url).status_code == 200

    response = actor_client.post(url, _hardware_form(), follow=True)

    token = Token.objects.get(user=member, kind=TokenKind.HOTP)
    assert response.redirect_chain == [(f"/tokens/{token.pk}/", 302)]
    assert "Hardware token added." in page(response)
    assert token.serial == "HW-NEW-1" and token.description == "Desk"
    assert timezone.localtime(token.expires_at).date() == timezone.localdate() + timedelta(days=365)
    assert token.device.bin_key == RFC_KEY and token.device.counter == 1
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, press(0)).status_code == 400, "the enrolment code was accepted again"
    let_throttle_pass(member)
    assert submit_code(visitor, press(1)).status_code == 302


def test_hardware_token_secret_in_base32_works(actor, actor_client, member):
    url = add_url(actor, member, "hotp")

    response = actor_client.post(url, _hardware_form(secret="GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", expires_on=""))

    assert response.status_code == 302
    token = Token.objects.get(user=member, kind=TokenKind.HOTP)
    assert token.device.bin_key == RFC_KEY and token.expires_at is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"serial": ""}, "This field is required."),
        ({"serial": "HW 1"}, "Enter the serial number without spaces."),
        ({"serial": "HW-TAKEN"}, "A hardware token with this serial number is already registered."),
        ({"secret": ""}, "This field is required."),
        ({"secret": "not a secret!"}, "The secret must be hexadecimal or base32."),
        ({"secret": "abcdef"}, "The secret must be between 10 and 40 bytes"),
        ({"digits": "7"}, "Select a valid choice."),
        ({"expires_on": "2030-02-31"}, "Enter a valid date."),
        ({"expires_on": "2020-01-01"}, "The expiry date must be in the future."),
        ({"code": ""}, "This field is required."),
        ({"code": "12ab56"}, "The code is made of digits only."),
        ({"code": "wrong"}, "That code does not match this secret."),
        ({"digits": "8"}, "That code does not match this secret."),
    ],
    ids=[
        "serial-missing",
        "serial-with-space",
        "serial-taken-in-organisation",
        "secret-missing",
        "secret-not-hex-or-base32",
        "secret-too-short",
        "digits-not-6-or-8",
        "expiry-not-a-date",
        "expiry-in-the-past",
        "code-missing",
        "code-not-digits",
        "code-wrong",
        "code-of-other-length",
    ],
)
def test_bad_hardware_token_input_gets_a_message_and_creates_nothing(
    actor, actor_client, owner, member, changes, message
):
    add_hardware(owner, serial="HW-TAKEN")  # another user of the same organisation has this one
    if changes.get("code") == "wrong":
        changes = {"code": code_matching_no_press()}
    before = snapshot()

    response = actor_client.post(add_url(actor, member, "hotp"), _hardware_form(**changes))

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before


def test_serial_of_another_organisation_may_be_registered(actor, actor_client, member, outsider):
    add_hardware(outsider, serial="HW-NEW-1")

    response = actor_client.post(add_url(actor, member, "hotp"), _hardware_form())

    assert response.status_code == 302
    assert Token.objects.filter(user=member, serial="HW-NEW-1").exists()


# --- Enrol: SMS and email ---------------------------------------------------------------------


def test_enrolling_an_sms_number_with_the_texted_code(
    actor, actor_client, member, capsys, django_capture_on_commit_callbacks
):
    url = add_url(actor, member, "sms")
    assert actor_client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(url, {"number": "07400 123456", "description": "Work mobile"}, follow=True)
    assert response.redirect_chain == [(url, 302)]
    assert "We sent a code to <strong>+44 7400 123456</strong>" in page(response)
    texted = re.search(r"\[SMS to \+447400123456\] .*security code is (\d+)", capsys.readouterr().out)
    assert texted is not None
    assert not Token.objects.filter(user=member, kind=TokenKind.SMS).exists()
    pending = SmsDevice.objects.get(user=member, confirmed=False)
    assert pending.token == texted.group(1)

    response = actor_client.post(url, {"code": texted.group(1)}, follow=True)

    token = Token.objects.get(user=member, kind=TokenKind.SMS)
    assert response.redirect_chain == [(f"/tokens/{token.pk}/", 302)]
    assert "Text message (SMS) added." in page(response)
    assert token.description == "Work mobile" and str(token.device.number) == OLD_NUMBER


def test_enrolling_an_email_address_with_the_emailed_code(
    actor, actor_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    url = add_url(actor, member, "email")

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(url, {"email": "Max.Codes@acme.example", "description": ""})
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["max.codes@acme.example"]]
    code = re.search(r"security code is (\d+)", mailoutbox[0].body)
    assert code is not None

    response = actor_client.post(url, {"code": code.group(1)})

    token = Token.objects.get(user=member, kind=TokenKind.EMAIL)
    assert response.status_code == 302 and response.url == f"/tokens/{token.pk}/"
    assert token.device.email == "max.codes@acme.example"


@pytest.mark.parametrize("kind", ["sms", "email"])
def test_wrong_confirmation_code_creates_no_token(actor, actor_client, member, kind):
    url = add_url(actor, member, kind)
    actor_client.post(url, {"number": OLD_NUMBER, "email": "max.codes@acme.example", "description": ""})
    pending = (SmsDevice if kind == "sms" else EmailDevice).objects.get(user=member, confirmed=False)
    wrong = next(c for c in ("000000", "111111", "222222") if c != pending.token)

    response = actor_client.post(url, {"code": wrong})

    assert response.status_code == 400
    assert "That code is not right, or it has expired." in page(response)
    assert not Token.objects.filter(user=member, kind=kind).exists()


@pytest.mark.parametrize("kind", ["sms", "email"])
def test_code_with_nothing_sent_gets_a_message(actor, actor_client, member, kind):
    before = snapshot()

    response = actor_client.post(add_url(actor, member, kind), {"code": "123456"})

    assert response.status_code == 400
    what = "number" if kind == "sms" else "address"
    assert f"No new {what} is waiting to be confirmed" in page(response)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("kind", "form", "message"),
    [
        ("sms", {"number": "+448001234567"}, "toll-free"),
        ("sms", {"number": "12"}, "This phone number is not valid"),
        ("sms", {"number": "not a number"}, "This is not a phone number."),
        ("email", {"email": "max@"}, "Enter a valid email address."),
        ("email", {"email": ""}, "This field is required."),
    ],
    ids=["sms-toll-free", "sms-invalid", "sms-not-a-number", "email-invalid", "email-missing"],
)
def test_bad_destination_gets_a_message_and_sends_nothing(
    actor, actor_client, member, mailoutbox, capsys, django_capture_on_commit_callbacks, kind, form, message
):
    before = snapshot()

    with django_capture_on_commit_callbacks(execute=True):
        response = actor_client.post(add_url(actor, member, kind), {**form, "description": ""})

    assert response.status_code == 400
    assert message in page(response)
    assert snapshot() == before
    assert mailoutbox == [] and "[SMS to" not in capsys.readouterr().out


# --- Enrol: backup codes ----------------------------------------------------------------------


def _new_backup_codes(client: Client, url: str) -> list[str]:
    """POST for new codes, follow the redirect to the one-time page, read the codes off it."""
    response = client.post(url, follow=True)
    assert response.redirect_chain == [("/tokens/backup-codes/", 302)]
    return re.findall(r"<li>([0-9a-f]{8})</li>", page(response))


def test_backup_codes_are_generated_only_by_a_post_and_shown_once(actor, actor_client, member):
    url = add_url(actor, member, "backup")

    response = actor_client.get(url)
    assert response.status_code == 200
    assert "Generate codes" in page(response)
    assert not StaticDevice.objects.filter(user=member).exists()

    response = actor_client.post(url)

    assert response.status_code == 302
    assert response["Location"] == "/tokens/backup-codes/"
    shown = actor_client.get("/tokens/backup-codes/")
    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    codes = re.findall(r"<li>([0-9a-f]{8})</li>", page(shown))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "this page shows them once" in page(shown)
    assert Token.objects.filter(user=member, kind=TokenKind.BACKUP).count() == 1
    for again in (actor_client.get(url), actor_client.get(list_url(actor, member))):
        assert not any(code in page(again) for code in codes)

    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, codes[3]).status_code == 302
    second = Client()
    start_login(second, member)
    assert submit_code(second, codes[3]).status_code == 400, "a backup code worked twice"


def test_reloading_the_backup_codes_page_says_already_shown_and_keeps_the_codes(actor, actor_client, member):
    codes = _new_backup_codes(actor_client, add_url(actor, member, "backup"))
    digests = sorted(StaticToken.objects.filter(device__user=member).values_list("token", flat=True))

    reloaded = actor_client.get("/tokens/backup-codes/")

    assert reloaded.status_code == 200
    text = page(reloaded)
    assert "These backup codes were already shown" in text
    assert not any(code in text for code in codes)
    assert f'href="{add_url(actor, member, "backup")}"' in reloaded.content.decode()
    # Nothing new was made: the codes on the first screen still work.
    assert sorted(StaticToken.objects.filter(device__user=member).values_list("token", flat=True)) == digests
    # And the session no longer holds them.
    assert not any(code in str(dict(actor_client.session)) for code in codes)
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, codes[0]).status_code == 302


def test_backup_codes_page_offers_copy_print_and_a_txt_download_of_the_same_codes(actor, actor_client, member):
    response = actor_client.post(add_url(actor, member, "backup"), follow=True)
    codes = re.findall(r"<li>([0-9a-f]{8})</li>", page(response))

    body = response.content.decode()
    href = re.search(
        r'<a class="button" href="(data:text/plain;charset=utf-8,[^"]+)" download="backup-codes.txt">', body
    )
    assert href, body
    text = unquote(html.unescape(href.group(1)).split(",", 1)[1])
    assert member.email in text
    assert [line.split(". ")[1] for line in text.splitlines()[3:]] == codes
    assert "data-copy=" in body and "data-print" in body
    assert re.search(r'<script src="/static/js/backup-codes\.js[^"]*" defer></script>', body)
    assert "<script>" not in body  # CSP script-src 'self': no inline script


def test_backup_codes_page_without_fresh_codes_makes_none(member_client, member):
    response = member_client.get("/tokens/backup-codes/")

    assert response.status_code == 200
    assert "These backup codes were already shown" in page(response)
    assert not StaticDevice.objects.filter(user=member).exists()


def test_new_backup_codes_replace_the_old_ones(actor, actor_client, member):
    url = add_url(actor, member, "backup")
    old = _new_backup_codes(actor_client, url)

    _new_backup_codes(actor_client, url)

    assert Token.objects.filter(user=member, kind=TokenKind.BACKUP).count() == 1
    visitor = Client()
    start_login(visitor, member)
    assert submit_code(visitor, old[0]).status_code == 400


def test_unknown_kind_of_token_is_404(actor, actor_client, member):
    assert actor_client.get(add_url(actor, member, "carrier-pigeon")).status_code == 404


# --- Notification of a new factor -------------------------------------------------------------


def test_holder_is_emailed_when_an_admin_adds_a_factor(
    owner, owner_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(f"/users/{member.pk}/tokens/add/hotp/", _hardware_form())
    assert response.status_code == 302

    assert [(m.subject, m.to) for m in mailoutbox] == [(NEW_FACTOR_SUBJECT, [member.email])]
    body = mailoutbox[0].body
    assert "(Hardware token)" in body and owner.full_name in body and owner.email in body


def test_user_is_emailed_when_they_add_a_factor_themselves(
    member_client, member, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        member_client.post("/tokens/add/hotp/", _hardware_form())

    assert [(m.subject, m.to) for m in mailoutbox] == [(NEW_FACTOR_SUBJECT, [member.email])]
    assert "by you" in mailoutbox[0].body


# --- Re-authentication before enrolment -------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_enrolment_without_a_recent_password_asks_for_it_then_returns(actor, actor_client, member, kind):
    session = actor_client.session
    del session[REAUTH_KEY]
    session.save()
    url = add_url(actor, member, kind)
    before = snapshot()

    for method in ("get", "post"):
        response = getattr(actor_client, method)(url)
        assert response.status_code == 302
        assert response.url == "/reauthenticate/?next=" + url.replace("/", "%2F")
    assert snapshot() == before

    wrong = actor_client.post(response.url, {"password": "not-my-password"})
    assert wrong.status_code == 400
    assert "That is not your password." in page(wrong)
    assert actor_client.get(url).status_code == 302

    right = actor_client.post(response.url, {"password": PASSWORD})
    assert right.status_code == 302 and right.url == url
    assert actor_client.get(url).status_code == 200


def test_reauthentication_is_with_the_acting_admins_password(owner_client, owner, member):
    member.set_password("members-own-password-1")
    member.save()
    session = owner_client.session
    del session[REAUTH_KEY]
    session.save()
    target = f"/reauthenticate/?next=/users/{member.pk}/tokens/add/totp/"

    assert owner_client.post(target, {"password": "members-own-password-1"}).status_code == 400
    assert owner_client.post(target, {"password": PASSWORD}).status_code == 302


# --- Who may see and do what ------------------------------------------------------------------


@pytest.fixture
def owners_tokens(owner) -> list[Token]:
    return [totp_token(owner), add_hardware(owner, serial="HW-OWNER"), add_sms(owner)]


@pytest.mark.parametrize("method", ["get", "post"])
def test_member_is_forbidden_the_admins_token_pages(member_client, owner, member, owners_tokens, method):
    before = snapshot()
    mark = audit_mark()
    send = getattr(member_client, method)

    for url in [f"/users/{owner.pk}/tokens/", *(f"/users/{owner.pk}/tokens/add/{kind}/" for kind in KINDS)]:
        assert send(url, ANY_POST if method == "post" else None).status_code == 403, url
    for token in owners_tokens:
        for url in token_urls(token):
            assert send(url, ANY_POST if method == "post" else None).status_code == 404, url

    assert snapshot() == before
    assert actions_since(mark) == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_outsider_gets_404_for_every_token_url_of_another_organisation(
    outsider_client, owner, member, owners_tokens, hardware, sms, method, mailoutbox, django_capture_on_commit_callbacks
):
    tokens = [*owners_tokens, hardware, sms, totp_token(member)]
    before = snapshot()
    mark = audit_mark()
    send = getattr(outsider_client, method)

    with django_capture_on_commit_callbacks(execute=True):
        for person in (owner, member):
            urls = [f"/users/{person.pk}/tokens/", *(f"/users/{person.pk}/tokens/add/{kind}/" for kind in KINDS)]
            for url in urls:
                assert send(url, ANY_POST if method == "post" else None).status_code == 404, url
        for token in tokens:
            for url in token_urls(token):
                response = send(url, ANY_POST if method == "post" else None)
                assert response.status_code == 404, url
                assert "HW-OWNER" not in page(response) and "Max Member" not in page(response)

    assert snapshot() == before
    assert actions_since(mark) == []
    assert mailoutbox == []


def test_anonymous_visitor_is_sent_to_login(owner, member, hardware):
    anonymous = Client()
    urls = [
        "/tokens/",
        *(f"/tokens/add/{kind}/" for kind in KINDS),
        f"/users/{member.pk}/tokens/",
        *(f"/users/{member.pk}/tokens/add/{kind}/" for kind in KINDS),
        *token_urls(hardware),
    ]
    before = snapshot()

    for method in ("get", "post"):
        for url in urls:
            response = getattr(anonymous, method)(url, ANY_POST if method == "post" else None)
            assert response.status_code == 302, url
            assert response.url.startswith("/login/?next="), url

    assert snapshot() == before


# --- Audit trail page -------------------------------------------------------------------------


def test_audit_page_lists_token_actions_for_the_admin(owner, owner_client, member, hardware):
    member_side = log_in(Client(), member)
    owner_client.post(f"/tokens/{hardware.pk}/disable/")
    member_side.post(f"/tokens/{hardware.pk}/edit/", {"description": "Mine"})
    owner_client.post(f"/tokens/{hardware.pk}/delete/")

    response = owner_client.get("/audit/")

    assert response.status_code == 200
    # Who, what (in words), on which token, whose token.
    cells = r"<tr><td[^>]*>.*?</td><td[^>]*>(.*?)</td><td>(.*?)</td>\s*<td[^>]*>(.*?)</td><td[^>]*>(.*?)</td>"
    rows = re.findall(cells, page(response))
    label = f"Hardware token #{hardware.pk} (HW-0001)"
    assert rows[:3] == [
        (owner.email, "Token deleted", label, member.email),
        (member.email, "Token description changed", label, member.email),
        (owner.email, "Token disabled", label, member.email),
    ]
    assert ("owner@acme.example", "Token enrolled", label, member.email) in rows
    assert "127.0.0.1" in page(response)


def test_audit_page_is_forbidden_to_members(member_client):
    response = member_client.get("/audit/")

    assert response.status_code == 403


def test_audit_page_never_shows_another_organisations_events(owner_client, outsider):
    outsiders = log_in(Client(), outsider)
    outsider_token = add_hardware(outsider, serial="GLOBEX-HW")
    outsiders.post(f"/tokens/{outsider_token.pk}/disable/")
    assert AuditEvent.objects.filter(actor=outsider, action="token.disabled").exists()

    text = page(owner_client.get("/audit/"))

    assert "outsider@globex.example" not in text
    assert "GLOBEX-HW" not in text
    assert "token.disabled" not in text


def test_the_label_support_gives_a_type_is_used_on_the_delete_page_and_in_emails(
    actor_client, member, owner, mailoutbox, django_capture_on_commit_callbacks
):
    TokenType.objects.filter(kind=TokenKind.HOTP).update(display_name="YubiKey")

    with django_capture_on_commit_callbacks(execute=True):
        token = add_hardware(member, acting_user=owner, description="Desk key")

    assert "A new second factor (YubiKey) was added" in mailoutbox[-1].body
    assert "Delete YubiKey “Desk key”?" in page(actor_client.get(f"/tokens/{token.pk}/delete/"))
