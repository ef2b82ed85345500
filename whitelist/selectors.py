"""Reads of the whitelist: the portal's, scoped to the user's organisation, and the platform's."""

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.db import connections, router
from django.db.models import F, Lookup, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from accounts.models import Organisation, User
from audit.models import AuditEvent
from dashboard.selectors import SourceFailures, failed_calls_by_source
from whitelist.models import DESCRIPTION_MAX_LENGTH, DailySourceCount, WhitelistEntry

# The error code the platform reports for a call refused because its address is not on the
# organisation's whitelist (documented in the OpenAPI document, EventError.code).
REFUSED_CODE = "IP_NOT_ALLOWED"
REFUSED_DAYS = 7
REFUSED_SHOWN = 10
USAGE_DAYS = 30


def entries_for(*, user: User) -> QuerySet[WhitelistEntry]:
    if user.organisation_id is None:
        return WhitelistEntry.objects.none()
    return WhitelistEntry.objects.filter(organisation_id=user.organisation_id).select_related("added_by", "owner")


def owner_choices(*, user: User) -> QuerySet[User]:
    """Who may own an entry: the active users of the user's organisation."""
    if user.organisation_id is None:
        return User.objects.none()
    return User.objects.filter(organisation_id=user.organisation_id, is_active=True).order_by("full_name", "email")


@dataclass(frozen=True)
class RefusedSource:
    """A source address whose calls were refused for not being on the whitelist, and, when an
    entry has allowed it since, that entry."""

    failures: SourceFailures
    allowed_by: WhitelistEntry | None

    @property
    def network(self) -> str:
        """What "Allow" proposes: the single address, /32 or /128."""
        return str(ipaddress.ip_network(self.failures.source_ip))

    @property
    def suggested_description(self) -> str:
        """A start the user edits: what the platform saw calling from there."""
        return f"Calls to {', '.join(self.failures.methods)}"[:DESCRIPTION_MAX_LENGTH]

    @property
    def allow_query(self) -> str:
        """The add form's query string that "Allow" opens it with."""
        return urlencode({"network": self.network, "description": self.suggested_description})


def refused_sources(*, user: User, entries: list[WhitelistEntry], now: datetime | None = None) -> list[RefusedSource]:
    """The addresses with the most refused calls in the last 7 days (one query on PostgreSQL, two
    on SQLite, whatever the error log holds); ``entries`` is the whitelist the page shows."""
    since = (now or timezone.now()) - timedelta(days=REFUSED_DAYS)
    found = failed_calls_by_source(user=user, code=REFUSED_CODE, since=since, limit=REFUSED_SHOWN)
    networks = [(entry, ipaddress.ip_network(entry.network)) for entry in entries]
    return [
        RefusedSource(failures=row, allowed_by=_covering(ipaddress.ip_address(row.source_ip), networks))
        for row in found
    ]


def _covering(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    networks: list[tuple[WhitelistEntry, ipaddress.IPv4Network | ipaddress.IPv6Network]],
) -> WhitelistEntry | None:
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return next((entry for entry, network in networks if address in network), None)


class InNetwork(Lookup):
    """``address <<= 'cidr'``: the address lies in the network (PostgreSQL's inet operator)."""

    lookup_name = "in_network"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: Any) -> tuple[str, list[Any]]:
        return "%s", [str(value)]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} <<= {rhs}::cidr", [*lhs_params, *rhs_params]


def calls_from(*, entry: WhitelistEntry, today: date | None = None) -> int:
    """Calls the platform counted from the entry's addresses in the last 30 days (today included),
    from the per-address daily counts: one query, whatever the number of addresses or days."""
    today = today or timezone.now().astimezone(UTC).date()
    counts = DailySourceCount.objects.filter(
        organisation_id=entry.organisation_id, day__gt=today - timedelta(days=USAGE_DAYS)
    )
    if connections[router.db_for_read(DailySourceCount)].vendor == "postgresql":
        # The column is inet on PostgreSQL: the database filters by network.
        return counts.filter(InNetwork(F("address"), entry.network)).aggregate(total=Sum("calls"))["total"] or 0
    network = ipaddress.ip_network(entry.network)
    per_address = counts.values("address").annotate(total=Sum("calls")).values_list("address", "total")
    return sum(total for address, total in per_address if ipaddress.ip_address(address) in network)


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
    """The document the platform's gateways poll: networks in address order, and when it last changed.

    An entry whose expiry date has come is left out from the first moment of that day, although
    the hourly task (tasks.expire_whitelist_entries) removes its row up to an hour later: access
    ends when the admins were told it would, and the document (so its ETag) changes at midnight.
    """
    today = timezone.localdate()
    entries = list(
        WhitelistEntry.objects.filter(organisation=organisation)
        .order_by()
        .values_list("network", "description", "added_at", "expires_on")
    )
    current = [entry for entry in entries if entry[3] is None or entry[3] > today]
    current.sort(key=lambda row: _sort_key(row[0]))
    # A removal leaves no row behind; the audit trail remembers when it happened.
    last_removal = (
        AuditEvent.objects.filter(organisation=organisation, action="whitelist.removed")
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    changes: list[datetime] = [added_at for _, _, added_at, _ in entries]
    changes += [_start_of(expires_on) for _, _, _, expires_on in entries if expires_on and expires_on <= today]
    if last_removal is not None:
        changes.append(last_removal)
    return {
        "organisation": organisation.public_id,
        "networks": [{"network": network, "description": description} for network, description, _, _ in current],
        "updated_at": _utc_iso(max(changes)) if changes else None,
    }


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _utc_iso(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds, so two changes in the same millisecond still differ."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def platform_body(document: dict[str, Any]) -> bytes:
    """One canonical serialisation, so equal documents give equal bytes and equal ETags."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def etag_for(body: bytes) -> str:
    """A strong ETag (quoted, RFC 9110): the body's SHA-256, so it changes exactly when the body does."""
    return f'"{hashlib.sha256(body).hexdigest()}"'
