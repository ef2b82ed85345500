"""Every write of the API IP whitelist (SPEC §5): validated, audited, and emailed to the admins."""

import ipaddress
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts import permissions, selectors
from accounts.models import Organisation, User
from accounts.services import lock_organisation
from audit.services import record
from common.mail import portal_url, queue_templated_email
from common.upsert import add_counts
from whitelist.models import DESCRIPTION_MAX_LENGTH, DailySourceCount, ExpiryNotice, WhitelistEntry

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longer input cannot be an address: refuse it before handing it to ipaddress.
RAW_MAX_LENGTH = 100
# Ranges shorter than these prefixes need an explicit confirmation.
BROAD_PREFIX = {4: 16, 6: 32}
IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
CONFIRM_BROAD_LABEL = "I understand this allows a very broad range"
NETWORK_REQUIRED = "Enter an IPv4 or IPv6 address or range."
DESCRIPTION_REQUIRED = "Add a description, so everyone knows what calls the API from this address."
# How many overlapping entries a message names before it says "and N more".
NAMED_IN_MESSAGE = 5
# The admins are emailed this many days before an entry's expiry date, once.
EXPIRY_NOTICE_DAYS = 7


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _normalise(network: Network) -> Network:
    """An IPv4-mapped IPv6 range (::ffff:203.0.113.0/120) is stored as the IPv4 range it means."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(IPV4_MAPPED):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def parse_network(raw: str) -> Network:
    """The normalised network a user typed, or a ValidationError on ``network`` saying what is wrong."""
    text = raw.strip()
    if not text:
        raise _field_error("network", NETWORK_REQUIRED, "required")
    if len(text) > RAW_MAX_LENGTH:
        raise _field_error(
            "network",
            "That is not an IPv4 or IPv6 address or range: it is far too long.",
            "invalid",
        )
    if "%" in text:
        # A zone id (fe80::1%eth0) names an interface of one machine: meaningless to the platform.
        raise _field_error(
            "network",
            f"“{text}” has a zone id (the part from “%”): it only means something on one machine. "
            "Enter the address without it.",
            "zone_id",
        )
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise _field_error(
                "network",
                f"“{text}” is not an IPv4 or IPv6 address or range. "
                "Enter an address such as 203.0.113.7 or a range such as 203.0.113.0/24.",
                "invalid",
            ) from None
        raise _field_error(
            "network",
            f"{text} has host bits set; did you mean {_normalise(loose)}?",
            "host_bits",
        ) from None
    network = _normalise(network)
    _refuse_special_purpose(network)
    return network


def _refuse_special_purpose(network: Network) -> None:
    """Addresses no request to the platform can come from; adding them would only mislead."""
    if network.prefixlen == network.max_prefixlen and network.network_address.is_unspecified:
        reason = "is the unspecified address, which no request comes from"
    elif network.is_loopback:
        reason = "is a loopback address: it only ever reaches the same machine"
    elif network.is_link_local:
        reason = "is a link-local address: it never leaves the local network segment"
    elif network.is_multicast:
        reason = "is a multicast address, which never sends requests"
    else:
        return
    raise _field_error(
        "network",
        f"{network} {reason}. Enter the public address your servers call the platform from.",
        "special_purpose",
    )


def is_broad(network: Network) -> bool:
    return network.prefixlen < BROAD_PREFIX[network.version]


def _clean_description(description: str) -> str:
    text = description.strip()
    if not text:
        raise _field_error("description", DESCRIPTION_REQUIRED, "required")
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise _field_error("description", "Keep the description to one line of plain text.", "control_characters")
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise _field_error(
            "description",
            f"Keep the description to {DESCRIPTION_MAX_LENGTH} characters (it has {len(text)}).",
            "max_length",
        )
    return text


def _check_owner(organisation: Organisation, owner: User | None) -> None:
    if owner is None:  # support tools and the demo data may leave an entry without owner
        return
    if owner.organisation_id != organisation.pk or not owner.is_active:
        raise _field_error(
            "owner",
            f"{owner.full_name or owner.email} is not an active user of {organisation.name}: "
            "choose the owner among its users.",
            "not_a_colleague",
        )


def _check_expiry(expires_on: date | None) -> None:
    if expires_on is None:
        return
    today = timezone.localdate()
    if expires_on <= today:
        raise _field_error(
            "expires_on",
            f"Choose an expiry date after today ({date_format(today)}): the entry is removed on that date. "
            "Leave it empty to keep the entry until someone removes it.",
            "not_in_future",
        )


def _clean_details(
    description: str, organisation: Organisation, owner: User | None, expires_on: date | None
) -> tuple[str, dict[str, list[ValidationError]]]:
    """The cleaned description, and every error of the description, owner and expiry date at once."""
    errors: dict[str, list[ValidationError]] = {}
    text = ""
    try:
        text = _clean_description(description)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    for check in (lambda: _check_owner(organisation, owner), lambda: _check_expiry(expires_on)):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.error_dict)
    return text, errors


def _clean_input(
    raw: str, description: str, organisation: Organisation, owner: User | None, expires_on: date | None
) -> tuple[Network, str]:
    """Every field checked, so a form shows every problem at once."""
    network: Network | None = None
    text, errors = _clean_details(description, organisation, owner, expires_on)
    try:
        network = parse_network(raw)
    except ValidationError as exc:
        errors = {**exc.error_dict, **errors}
    if errors:
        raise ValidationError(errors)
    assert network is not None
    return network, text


def _owner_and_expiry(entry: WhitelistEntry) -> dict[str, Any]:
    return {
        "owner": entry.owner.email if entry.owner else None,
        "expires_on": entry.expires_on.isoformat() if entry.expires_on else None,
    }


def _named(entries: list[WhitelistEntry]) -> str:
    names = [f"{e.network} ({e.description})" for e in entries[:NAMED_IN_MESSAGE]]
    more = len(entries) - NAMED_IN_MESSAGE
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


class CoversEntries(ValidationError):
    """The new range covers existing entries: the user may replace exactly these (by id) in one change."""

    def __init__(self, message: str, *, covered: list[WhitelistEntry]) -> None:
        super().__init__(message, code="covers_existing")
        self.covered_ids = sorted(entry.pk for entry in covered)


def _covers_error(network: Network, covered: list[WhitelistEntry]) -> CoversEntries:
    one = len(covered) == 1
    which = "entry" if one else f"{len(covered)} entries"
    return CoversEntries(
        f"{network} would cover the existing {which} {_named(covered)}. "
        f"Tick “{replace_label(len(covered))}” to add {network} and remove {'it' if one else 'them'} "
        "in one change (the addresses stay allowed throughout), or remove "
        f"{'it' if one else 'them'} first.",
        covered=covered,
    )


def replace_label(count: int) -> str:
    return "Replace the entry it covers" if count == 1 else f"Replace the {count} entries it covers"


def _check_overlaps(network: Network, existing: list[WhitelistEntry]) -> list[WhitelistEntry]:
    """Refuse duplicates and ranges inside an entry; return the entries the new range would swallow.

    CIDR ranges either nest or do not touch, so these three cases are every overlap. A new
    range covering existing entries is never merged silently: it replaces them only when the
    user agreed to replace exactly those entries, so nothing disappears from the list without
    someone choosing it.
    """
    same_family = [(e, ipaddress.ip_network(e.network)) for e in existing]
    same_family = [(e, n) for e, n in same_family if n.version == network.version]
    for entry, other in same_family:
        if other == network:
            raise _field_error(
                "network",
                f"{network} is already on the whitelist ({entry.description}).",
                "duplicate",
            )
    for entry, other in same_family:
        if network.subnet_of(other):  # type: ignore[arg-type]  # same family, checked above
            raise _field_error(
                "network",
                f"{network} is already covered by {entry.network} ({entry.description}): it is allowed already.",
                "covered",
            )
    return [entry for entry, other in same_family if other.subnet_of(network)]  # type: ignore[arg-type]


def _check_room(organisation: Organisation, *, freed: int = 0) -> None:
    limit = settings.WHITELIST_MAX_ENTRIES
    if WhitelistEntry.objects.filter(organisation=organisation).count() - freed >= limit:
        raise ValidationError(
            f"{organisation.name} already has {limit} whitelist entries, the most allowed. "
            "Remove an entry first, or replace several addresses with the range that holds them.",
            code="limit",
        )


def _check_may_change(acting_user: User | None, organisation: Organisation) -> None:
    if acting_user is None:  # support tools and the demo data
        return
    permissions.require(acting_user, permissions.MANAGE_WHITELIST, organisation_id=organisation.pk)


@transaction.atomic
def add_entry(
    *,
    organisation: Organisation,
    raw: str,
    description: str,
    confirm_broad: bool = False,
    replace: Collection[int] = (),
    owner: User | None = None,
    expires_on: date | None = None,
    acting_user: User | None,
) -> WhitelistEntry:
    """Add a network to the organisation's whitelist, or raise a ValidationError and store nothing.

    A range that covers existing entries replaces them when ``replace`` holds exactly their
    ids (what the user was shown and agreed to): they are deleted and the range added in this
    one transaction, so the platform's read sees the old entries or the range, never neither.
    Otherwise the ``network`` error is a CoversEntries naming them.

    The owner is the adder unless another user of the organisation is named; ``expires_on``, when
    given, must be after today (the entry is removed on that date).

    Errors are keyed by form field (``network``, ``description``, ``owner``, ``expires_on``,
    ``confirm_broad``), or have no field for the organisation-wide maximum.
    """
    _check_may_change(acting_user, organisation)
    owner = owner or acting_user
    network, clean_description = _clean_input(raw, description, organisation, owner, expires_on)
    # Count and overlaps are checked under the organisation's row lock, so two admins adding
    # at the same moment cannot pass the maximum or add the same range twice.
    org = lock_organisation(organisation.pk)
    covered = _check_overlaps(network, list(WhitelistEntry.objects.filter(organisation=org)))
    _check_room(org, freed=len(covered))
    errors: dict[str, ValidationError] = {}
    if covered and sorted(replace) != sorted(entry.pk for entry in covered):
        errors["network"] = _covers_error(network, covered)
    if is_broad(network) and not confirm_broad:
        errors["confirm_broad"] = ValidationError(_broad_message(network), code="broad")
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            WhitelistEntry.objects.filter(organisation=org, pk__in=[entry.pk for entry in covered]).delete()
            entry = WhitelistEntry.objects.create(
                organisation=org,
                network=str(network),
                description=clean_description,
                added_by=acting_user,
                owner=owner,
                expires_on=expires_on,
            )
    except IntegrityError as exc:  # cannot happen under the lock; kept as the database's last word
        raise _field_error("network", f"{network} is already on the whitelist.", "duplicate") from exc
    details: dict[str, Any] = {"description": entry.description, **_owner_and_expiry(entry)}
    if covered:
        details["replaced"] = [{"network": e.network, "description": e.description} for e in covered]
    record(
        action="whitelist.replaced" if covered else "whitelist.added",
        actor=acting_user,
        organisation=org,
        target=entry.network,
        **details,
    )
    _notify_admins(org, entry, change="added", acting_user=acting_user, at=entry.added_at, replaced=covered)
    return entry


def _broad_message(network: Network) -> str:
    if network.prefixlen == 0:
        size = f"every IPv{network.version} address on the internet"
    elif network.version == 4:
        size = f"{network.num_addresses:,} addresses"
    else:
        size = "more addresses than most providers hold in total"
    return (
        f"{network} is a very broad range: it allows {size} to call the API for your organisation. "
        f"Tick “{CONFIRM_BROAD_LABEL}” to add it anyway."
    )


@transaction.atomic
def remove_entry(*, entry: WhitelistEntry, acting_user: User | None, expired_by: date | None = None) -> None:
    """Remove the entry; with ``expired_by`` (the periodic task, no acting user) only if its expiry
    date is still on or before that day, so an expiry moved later a moment ago is respected."""
    org = lock_organisation(entry.organisation_id)
    _check_may_change(acting_user, org)
    rows = WhitelistEntry.objects.filter(pk=entry.pk, organisation=org)
    if expired_by is not None:
        rows = rows.filter(expires_on__lte=expired_by)
    deleted, _ = rows.delete()
    if not deleted:  # removed by someone else a moment ago (or no longer expired)
        raise ValidationError(f"{entry.network} is no longer on the whitelist.", code="gone")
    details: dict[str, Any] = {"description": entry.description}
    if expired_by is not None:
        details["expired_on"] = entry.expires_on.isoformat() if entry.expires_on else None
    record(action="whitelist.removed", actor=acting_user, organisation=org, target=entry.network, **details)
    _notify_admins(
        org, entry, change="removed", acting_user=acting_user, at=timezone.now(), expired=expired_by is not None
    )


@transaction.atomic
def change_entry(
    *,
    entry: WhitelistEntry,
    description: str,
    owner: User | None,
    expires_on: date | None,
    acting_user: User | None,
) -> WhitelistEntry:
    """Change an entry's description (its reason), owner or expiry date; the network stays.

    The same checks as adding, except that an expiry date left as it was is not checked again.
    Nothing changed: nothing audited, nobody emailed.
    """
    org = lock_organisation(entry.organisation_id)
    _check_may_change(acting_user, org)
    current = WhitelistEntry.objects.filter(pk=entry.pk, organisation=org).select_related("owner").first()
    if current is None:
        raise ValidationError(f"{entry.network} is no longer on the whitelist.", code="gone")
    text, errors = _clean_details(description, org, owner, expires_on if expires_on != current.expires_on else None)
    if errors:
        raise ValidationError(errors)
    before = {"description": current.description, **_owner_and_expiry(current)}
    current.description, current.owner, current.expires_on = text, owner, expires_on
    after = {"description": current.description, **_owner_and_expiry(current)}
    changes = {field: [before[field], after[field]] for field in before if before[field] != after[field]}
    if not changes:
        return current
    current.save(update_fields=["description", "owner", "expires_on"])
    record(action="whitelist.changed", actor=acting_user, organisation=org, target=current.network, changes=changes)
    _notify_admins(org, current, change="changed", acting_user=acting_user, at=timezone.now(), changes=changes)
    return current


def remove_expired_entries(*, today: date) -> int:
    """Remove every entry whose expiry date has come, as a manual removal does (audited with the
    system as actor, every admin emailed, the platform's read changes); returns how many.

    Two runs at once remove each entry once: the second waits for the organisation's lock, then
    finds the row gone and moves on.
    """
    due = list(
        WhitelistEntry.objects.filter(expires_on__lte=today).select_related("owner").order_by("expires_on", "pk")
    )
    removed = 0
    for entry in due:
        try:
            remove_entry(entry=entry, acting_user=None, expired_by=today)
        except ValidationError:
            continue
        removed += 1
    return removed


def send_expiry_notices(*, today: date) -> int:
    """Email each organisation's active admins about its entries expiring within 7 days, once per
    entry and expiry date; returns how many notices were sent.

    The notice row is inserted first: the unique constraint lets only one of two runs at the same
    moment insert it (the other waits on the row, then gets an IntegrityError and sends nothing).
    The email goes after that commit.
    """
    due = (
        WhitelistEntry.objects.filter(expires_on__gt=today, expires_on__lte=today + timedelta(days=EXPIRY_NOTICE_DAYS))
        .select_related("organisation", "owner")
        .order_by("expires_on", "pk")
    )
    sent = 0
    for entry in due:
        assert entry.expires_on is not None
        try:
            with transaction.atomic():
                ExpiryNotice.objects.create(entry=entry, expires_on=entry.expires_on)
                _email_expiring(entry, today=today)
        except IntegrityError:
            continue  # sent already, by an earlier run or one running now
        sent += 1
    return sent


def _email_expiring(entry: WhitelistEntry, *, today: date) -> None:
    assert entry.expires_on is not None
    organisation = entry.organisation
    for admin in selectors.active_admins(organisation_id=organisation.pk):
        queue_templated_email(
            template="whitelist/email/expiring",
            subject=f"API whitelist of {organisation.name}: {entry.network} expires on {date_format(entry.expires_on)}",
            context={
                "admin": admin,
                "organisation": organisation,
                "entry": entry,
                "days_left": (entry.expires_on - today).days,
                "edit_url": portal_url(reverse("whitelist-edit", args=[entry.pk])),
            },
            to=[admin.email],
        )


def _notify_admins(
    organisation: Organisation,
    entry: WhitelistEntry,
    *,
    change: str,
    acting_user: User | None,
    at: datetime,
    replaced: Sequence[WhitelistEntry] = (),
    expired: bool = False,
    changes: Mapping[str, list[Any]] | None = None,
) -> None:
    """Every active admin hears about every change: a whitelist entry opens the API to a network."""
    admins = selectors.active_admins(organisation_id=organisation.pk)
    count = WhitelistEntry.objects.filter(organisation=organisation).count()
    subject = f"API whitelist of {organisation.name}: {entry.network} {'expired and removed' if expired else change}"
    if replaced:
        subject += ", replacing the entry it covers" if len(replaced) == 1 else f", replacing {len(replaced)} entries"
    for admin in admins:
        queue_templated_email(
            template="whitelist/email/changed",
            subject=subject,
            context={
                "replaced": replaced,
                "admin": admin,
                "organisation": organisation,
                "entry": entry,
                "change": change,
                "by": f"{acting_user.full_name} ({acting_user.email})" if acting_user else "Support",
                "expired": expired,
                "changes": _worded_changes(changes or {}),
                "at": timezone.localtime(at),
                "count": count,
                "limit": settings.WHITELIST_MAX_ENTRIES,
                "list_url": portal_url(reverse("whitelist")),
            },
            to=[admin.email],
        )


CHANGE_LABELS = {"description": "Description", "owner": "Owner", "expires_on": "Expiry date"}


def _worded_changes(changes: Mapping[str, list[Any]]) -> list[tuple[str, str, str]]:
    """(label, before, after) for the email, with "none" where a value was empty."""
    return [(CHANGE_LABELS[field], before or "none", after or "none") for field, (before, after) in changes.items()]


def record_source_calls(*, calls: Mapping[tuple[int, date, str], int]) -> None:
    """Add a usage batch's calls per (organisation id, UTC day, source address), as dashboard.ingest
    aggregates them, to the daily counts. Called inside the batch's transaction: a duplicate batch
    records nothing here either."""
    add_counts(
        DailySourceCount,
        keys=("organisation", "day", "address"),
        sums=("calls",),
        rows=[(key, (count,)) for key, count in sorted(calls.items())],
    )
