"""Backup codes are kept as keyed digests, never as the codes themselves.

django-otp's ``StaticToken`` holds the value a code is compared with (16 characters at most).
We store the first 16 hex characters (64 bits) of HMAC-SHA256 of the code, keyed with the
project's secret key: a copy of the database alone tells nothing about the codes, and with
8-hex-character codes an unkeyed hash would be reversed in seconds. Codes made under a secret
key being rotated out (``SECRET_KEY_FALLBACKS``) keep working until it is dropped.
"""

from django.conf import settings
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice

SALT = "tokens.backup-code"
DIGEST_LENGTH = 16  # StaticToken.token's max_length


def normalise(code: str) -> str:
    return code.strip().replace(" ", "").replace("-", "").lower()


def digest(code: str, *, secret: str | bytes | None = None) -> str:
    return salted_hmac(SALT, normalise(code), secret=secret, algorithm="sha256").hexdigest()[:DIGEST_LENGTH]


def candidates(code: str) -> list[str]:
    """The code's digest under the current secret key, then under each fallback key."""
    return [digest(code, secret=key) for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]]


def stored_value(device: StaticDevice, code: str) -> str:
    """What django-otp should look for in the device's tokens: the digest it holds, if any."""
    options = candidates(code)
    found = device.token_set.filter(token__in=options).values_list("token", flat=True).first()
    return found or options[0]
