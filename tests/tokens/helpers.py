"""Shared pieces of the token tests: the RFC test seed, HOTP written out from the RFC, and time
passing for django-otp's throttling."""

import hashlib
import hmac
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

from django.http import HttpRequest
from django.utils import timezone
from django_otp.plugins.otp_email.models import EmailDevice
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from audit.context import current_ip
from audit.models import AuditEvent
from common.ip import client_ip
from tokens import services
from tokens.models import SmsDevice, Token

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
