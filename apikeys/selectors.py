"""Reads of API keys: the portal's, scoped to the user's organisation and the portal's environment,
and the document the platform's gateways poll."""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, Prefetch, Q, QuerySet, Sum
from django.http import Http404

from accounts.models import Organisation, User
from apikeys.check import HASH_ALGORITHM
from apikeys.models import ApiKey, ApiKeySecret


def keys_for(*, user: User) -> QuerySet[ApiKey]:
    if user.organisation_id is None:
        return ApiKey.objects.none()
    return ApiKey.objects.filter(organisation_id=user.organisation_id, environment=settings.PORTAL_ENVIRONMENT)


def access_key(*, user: User, key_id: int) -> ApiKey:
    """A key of the user's organisation in this environment, or 404 (whatever the key's real owner)."""
    key = keys_for(user=user).select_related("organisation").filter(pk=key_id).first()
    if key is None:
        raise Http404
    return key


# The key list counts calls over the last 30 UTC days (today included), and flags a key in use that
# the platform has not reported for 90 days (or, never used, that is older than that).
RECENT_DAYS = 30
UNUSED_DAYS = 90


@dataclass
class KeyRow:
    """One line of the key list: the key, the secrets that still work, its state, and its use."""

    key: ApiKey
    secrets: list[ApiKeySecret]  # newest first; during an overlap, the one being replaced too
    state: str  # "active", "expired" or "revoked"
    last_used_at: datetime | None = None
    recent_calls: int = 0
    unused: bool = False  # in use, and no call for UNUSED_DAYS

    @property
    def current(self) -> ApiKeySecret | None:
        return self.secrets[0] if self.secrets else None

    @property
    def ending(self) -> list[ApiKeySecret]:
        """Secrets replaced by a roll, still working until their overlap ends."""
        return self.secrets[1:]


def key_rows(*, user: User, now: datetime) -> list[KeyRow]:
    """The organisation's keys, those in use first, in a fixed number of queries."""
    since = now.astimezone(UTC).date() - timedelta(days=RECENT_DAYS - 1)
    keys = (
        keys_for(user=user)
        .annotate(
            last_used=Max("daily_uses__last_used_at"),
            recent_calls=Sum("daily_uses__calls", filter=Q(daily_uses__day__gte=since), default=0),
        )
        .select_related("created_by", "revoked_by")
        .prefetch_related(Prefetch("secrets", queryset=ApiKeySecret.objects.order_by("-created_at", "-id")))
    )
    rows = []
    for key in keys:
        secrets = list(key.secrets.all())
        if key.is_revoked():
            state, working = "revoked", secrets[:1]
        elif key.is_expired(now):
            state, working = "expired", secrets[:1]
        else:
            state = "active"
            working = [s for s in secrets if s.valid_until is None or s.valid_until > now] or secrets[:1]
        last_used: datetime | None = key.last_used
        quiet_since = now - timedelta(days=UNUSED_DAYS)
        rows.append(
            KeyRow(
                key=key,
                secrets=working,
                state=state,
                last_used_at=last_used,
                recent_calls=key.recent_calls,
                unused=state == "active" and (last_used or key.created_at) <= quiet_since,
            )
        )
    order = {"active": 0, "expired": 1, "revoked": 2}
    rows.sort(key=lambda row: order[row.state])
    return rows


def organisation_by_public_id(public_id: str) -> Organisation | None:
    """For the platform, whose key reads every organisation's keys."""
    return Organisation.objects.filter(public_id=public_id).first()


def _utc_iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else None


def keys_for_platform(organisation: Organisation, *, now: datetime) -> dict[str, Any]:
    """What a gateway needs to check a presented key (apikeys/check.py), and never a secret.

    One entry per secret that works now or later: during a roll's overlap a key has two. Revoked
    and expired keys and ended secrets are left out; ``valid_until`` lets the gateway end a
    secret on time between two polls.
    """
    secrets = (
        ApiKeySecret.objects.filter(
            key__organisation=organisation,
            key__environment=settings.PORTAL_ENVIRONMENT,
            key__revoked_at__isnull=True,
        )
        .filter(Q(key__expires_at__isnull=True) | Q(key__expires_at__gt=now))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
        .select_related("key")
        .order_by("prefix")
    )
    return {
        "organisation": organisation.public_id,
        "environment": settings.PORTAL_ENVIRONMENT,
        "hash_algorithm": HASH_ALGORITHM,
        "keys": [
            {
                "name": secret.key.name,
                "prefix": secret.prefix,
                "hash": secret.secret_hash,
                "allowed_methods": secret.key.methods,
                "allowed_addresses": secret.key.addresses or None,
                "valid_from": _utc_iso(secret.created_at),
                "valid_until": _utc_iso(secret.ends_at()),
            }
            for secret in secrets
        ],
    }


def platform_body(document: dict[str, Any]) -> bytes:
    """One canonical serialisation, so equal documents give equal bytes and equal ETags."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def etag_for(body: bytes) -> str:
    """A strong ETag: the body's SHA-256, so it changes exactly when the body does."""
    return f'"{hashlib.sha256(body).hexdigest()}"'
