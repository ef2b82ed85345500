"""Issuing, revoking and checking the platform's bearer keys."""

import hashlib
import hmac
import secrets
from datetime import timedelta

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
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_PRECISION:
        PlatformKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
