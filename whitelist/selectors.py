"""Reads of the whitelist: the portal's, scoped to the user's organisation, and the platform's."""

import hashlib
import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Organisation, User
from audit.models import AuditEvent
from whitelist.models import WhitelistEntry


def entries_for(*, user: User) -> QuerySet[WhitelistEntry]:
    if user.organisation_id is None:
        return WhitelistEntry.objects.none()
    return WhitelistEntry.objects.filter(organisation_id=user.organisation_id).select_related("added_by")


def access_entry(*, user: User, entry_id: int) -> WhitelistEntry:
    """An entry of the user's organisation, or 404 (whatever the entry's real owner)."""
    entry = entries_for(user=user).filter(pk=entry_id).first()
    if entry is None:
        raise Http404
    return entry


def organisation_by_public_id(public_id: str) -> Organisation | None:
    """For the platform, whose key reads every organisation's whitelist."""
    return Organisation.objects.filter(public_id=public_id).first()


def _sort_key(network: str) -> tuple[int, int, int]:
    parsed = ipaddress.ip_network(network)
    return parsed.version, int(parsed.network_address), parsed.prefixlen


def networks_for_platform(organisation: Organisation) -> dict[str, Any]:
    """The document the platform's gateways poll: networks in address order, and when it last changed."""
    entries = list(
        WhitelistEntry.objects.filter(organisation=organisation)
        .order_by()
        .values_list("network", "description", "added_at")
    )
    entries.sort(key=lambda row: _sort_key(row[0]))
    # A removal leaves no row behind; the audit trail remembers when it happened.
    last_removal = (
        AuditEvent.objects.filter(organisation=organisation, action="whitelist.removed")
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    changes: list[datetime] = [added_at for _, _, added_at in entries]
    if last_removal is not None:
        changes.append(last_removal)
    return {
        "organisation": organisation.public_id,
        "networks": [{"network": network, "description": description} for network, description, _ in entries],
        "updated_at": _utc_iso(max(changes)) if changes else None,
    }


def _utc_iso(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, so two changes in the same millisecond still differ."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def platform_body(document: dict[str, Any]) -> bytes:
    """One canonical serialisation, so equal documents give equal bytes and equal ETags."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def etag_for(body: bytes) -> str:
    """A strong ETag (quoted, RFC 9110): the body's SHA-256, so it changes exactly when the body does."""
    return f'"{hashlib.sha256(body).hexdigest()}"'
