"""Shared pieces of the token tests: the RFC test seed, HOTP written out from the RFC, time
passing for django-otp's throttling, and what the page tests use to add tokens and read pages."""

import hashlib
import hmac
import html
import json
import os
import struct
import subprocess
import sys
from base64 import b32encode
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.context import current_ip
from audit.models import AuditEvent
from common.ip import client_ip
from tests.factories import PASSWORD
from tokens import kinds, services
from tokens.models import SmsDevice, Token, TokenKind

BASE_DIR = Path(__file__).resolve().parents[2]

# RFC 4226 Appendix D and RFC 6238 Appendix B share this ASCII seed.
RFC_SEED = b"12345678901234567890"
SEED_HEX = RFC_SEED.hex()
SEED_BASE32 = b32encode(RFC_SEED).decode()
RFC4226_CODES = [
    "755224",
    "287082",
    "359152",
    "969429",
    "338314",
    "254676",
    "287922",
    "162583",
    "399871",
    "520489",
]


def rfc4226(key: bytes, counter: int, digits: int = 6) -> str:
    """HOTP as RFC 4226 §5.3 writes it, independent of django-otp, zero-padded as a token shows it."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def code_at(counter: int) -> str:
    """The code the RFC test token shows at this counter."""
    return rfc4226(RFC_SEED, counter)


def code_outside(codes: set[str]) -> str:
    """A six-digit code that is none of ``codes``: a wrong code that cannot match by chance."""
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in codes)


def let_throttle_pass(user: User) -> None:
    """As if a day had passed since the user's last wrong code: django-otp's back-off delay is
    over, while the count of consecutive failures stays."""
    a_day_ago = timezone.now() - timedelta(days=1)
    for model in (TOTPDevice, HOTPDevice, StaticDevice, EmailDevice, SmsDevice):
        model.objects.filter(user=user).exclude(throttling_failure_timestamp=None).update(
            throttling_failure_timestamp=a_day_ago
        )


def fresh(token: Token) -> Token:
    """The token and its device as stored now (a Token caches its device)."""
    return Token.objects.get(pk=token.pk)


def enrol_rfc_token(
    user: User,
    *,
    acting_user: User,
    code: str = RFC4226_CODES[0],
    serial: str = "HW-0001",
    secret: str = SEED_HEX,
    expires_at: datetime | None = None,
) -> Token:
    """A hardware token with the RFC seed, registered with the code it shows at counter 0."""
    return services.enrol_hotp(
        user=user,
        serial=serial,
        secret=secret,
        digits=6,
        expires_at=expires_at,
        code=code,
        acting_user=acting_user,
    )


@contextmanager
def during(request: HttpRequest) -> Iterator[None]:
    """Run code as inside ``request``: the audit context holds its client's address, as
    audit.context.AuditContextMiddleware sets it for every request."""
    reset = current_ip.set(client_ip(request))
    try:
        yield
    finally:
        current_ip.reset(reset)


def audit_mark() -> int:
    """The id of the newest audit row, to compare against after an action."""
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def audit_since(mark: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=mark).order_by("id"))


def settings_under_environment(**env: str) -> dict[str, int]:
    """The token limits portal/settings.py reads from this environment, in a fresh interpreter."""
    script = (
        "import json; from django.conf import settings; "
        "print(json.dumps({'lock': settings.TOKEN_LOCK_AFTER_FAILURES, 'valid': settings.TOKEN_CODE_VALID_SECONDS}))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", **env}
    run = subprocess.run(
        [sys.executable, "-c", script], env=environment, cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


# --- The token pages ---------------------------------------------------------------------------


# RFC 4226 Appendix D: the test token's secret.
RFC_KEY = b"12345678901234567890"


OLD_NUMBER = "+447400123456"


NEW_NUMBER = "+447400654321"


NEW_FACTOR_SUBJECT = "A new second factor was added to your portal account"


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
    device = services.start_destination(user=user, spec=kinds.SMS, destination=number, acting_user=user)
    token = services.confirm_destination(user=user, device=device, code=device.token, acting_user=user)
    assert token is not None
    let_cooldown_pass(device)
    return fresh(token)


def add_email(user: User, address: str) -> Token:
    device = services.start_destination(user=user, spec=kinds.EMAIL, destination=address, acting_user=user)
    token = services.confirm_destination(user=user, device=device, code=device.token, acting_user=user)
    assert token is not None
    let_cooldown_pass(device)
    return fresh(token)


def hotp_counter(token: Token) -> int:
    return HOTPDevice.objects.get(pk=token.device_id).counter


def actions_since(mark: int) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(id__gt=mark).order_by("id").values_list("action", "actor_label"))


def session_state(client: Client) -> tuple:
    session = client.session
    return session.session_key, session.get("_auth_user_id"), session.get(DEVICE_ID_SESSION_KEY)


def start_login(client: Client, user: User):
    response = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/login/code/", page(response)
    return response


def submit_code(client: Client, code: str):
    return client.post("/login/code/", {"code": code})


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


def lock(token: Token) -> None:
    HOTPDevice.objects.filter(pk=token.device_id).update(
        throttling_failure_count=settings.TOKEN_LOCK_AFTER_FAILURES, throttling_failure_timestamp=timezone.now()
    )


def hardware_form(**changes) -> dict[str, str]:
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
