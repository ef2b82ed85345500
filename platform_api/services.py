"""Issuing, revoking and checking the platform's bearer keys."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from audit.services import record
from platform_api.models import PlatformKey

KEY_PREFIX = "ppk_"
LAST_USED_PRECISION = timedelta(minutes=1)


def _hash(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(*, name: str, acting_user: User | None) -> tuple[PlatformKey, str]:
    """Create a key and return it with its plain text, which is never shown again."""
    prefix = secrets.token_hex(6)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = PlatformKey.objects.create(name=name.strip(), prefix=prefix, key_hash=_hash(plain), created_by=acting_user)
    record(action="platform_key.issued", actor=acting_user, target=str(key))
    return key, plain


def revoke_key(*, key: PlatformKey, acting_user: User | None) -> PlatformKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        record(action="platform_key.revoked", actor=acting_user, target=str(key))
    return key


def authenticate(request: HttpRequest) -> PlatformKey | None:
    """The active key in the request's ``Authorization: Bearer`` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, plain = header.partition(" ")
    if scheme.lower() != "bearer" or not plain.startswith(KEY_PREFIX):
        return None
    prefix = plain[len(KEY_PREFIX) :].split("_", 1)[0]
    key = PlatformKey.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(plain.strip())):
        return None
    return key


def record_use(*, key: PlatformKey, request: HttpRequest) -> None:
    """Keep when the key was last used, to the minute, and audit its use once per key and minute.

    Every call is in the access log with its request id; the audit trail, kept at least 13 months,
    gets the first call of each minute (its method and path) instead of a row per usage batch,
    which at the platform's rates would be millions a year. One conditional UPDATE decides, so two
    calls at once (on any instance) audit the minute once.
    """
    now = timezone.now()
    cutoff = now - LAST_USED_PRECISION
    if key.last_used_at is not None and key.last_used_at > cutoff:
        return  # as read with the key a moment ago: used within the minute, nothing to write
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lte=cutoff)
    if PlatformKey.objects.filter(stale, pk=key.pk).update(last_used_at=now):
        key.last_used_at = now
        record(action="platform_key.used", actor=None, target=f"{key} {request.method} {request.path}")
