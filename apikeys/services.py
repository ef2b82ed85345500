"""Every write of API keys: created, rolled and revoked; validated, audited and emailed to the admins.

A secret is 256 random bits after a visible prefix. Only its SHA-256 is stored: with that much
entropy nothing can be guessed from the hash, so a slow password hash would buy nothing and cost
the gateway a password hash on every API call (docs/security.md, "API keys").
"""

import ipaddress
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organisation, User
from accounts.permissions import MANAGE_API_KEYS, require
from accounts.selectors import active_admins
from apikeys.check import SECRET_SCHEME, hash_secret
from apikeys.models import (
    ALL_METHODS,
    NAME_MAX_LENGTH,
    OVERLAP_DURATIONS,
    ApiKey,
    ApiKeyDailyUse,
    ApiKeySecret,
    Overlap,
    PlatformMethod,
)
from audit.services import record
from common.mail import portal_url, queue_templated_email
from common.upsert import add_counts
from whitelist.selectors import networks_for_platform
from whitelist.services import parse_network

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Keys that work (neither revoked nor expired) per organisation and environment: every one is in
# the document each gateway polls, so the list stays short enough to read.
MAX_ACTIVE_KEYS = 25
# The environment as it appears in a secret: "ak_live_…" cannot be mistaken for a test key.
ENVIRONMENT_TAGS = {"production": "live", "test": "test"}
PREFIX_ATTEMPTS = 3
# How many bad addresses one message lists before it stops.
NAMED_PROBLEMS = 5

NAME_REQUIRED = "Give the key a name, so everyone knows which servers use it."
METHODS_REQUIRED = "Choose the functions the key may call, or “All functions”."
ALL_AND_SOME = "Choose either “All functions” or the functions the key may call, not both."


def _field_error(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _is_support(acting_user: User | None) -> bool:
    """The demo data (None), or support staff in the admin (who may only revoke there)."""
    return acting_user is None or (acting_user.is_staff and acting_user.organisation_id is None)


def _check_may_change(acting_user: User | None, organisation: Organisation) -> None:
    if acting_user is None or _is_support(acting_user):
        return
    require(acting_user, MANAGE_API_KEYS, organisation_id=organisation.pk)


# --- Checking what was typed ------------------------------------------------------------------


def _clean_name(name: str) -> str:
    text = name.strip()
    if not text:
        raise _field_error("name", NAME_REQUIRED, "required")
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in text):
        raise _field_error("name", "Keep the name to one line of plain text.", "control_characters")
    if len(text) > NAME_MAX_LENGTH:
        raise _field_error("name", f"Keep the name to {NAME_MAX_LENGTH} characters (it has {len(text)}).", "max_length")
    return text


def clean_methods(methods: Iterable[str]) -> list[str]:
    """``["*"]``, or the chosen functions in the platform's order."""
    chosen = set(methods)
    known = {m.value for m in PlatformMethod}
    unknown = chosen - known - {ALL_METHODS}
    if unknown:
        raise _field_error("methods", f"{sorted(unknown)[0][:64]} is not a function of the platform.", "invalid")
    if not chosen:
        raise _field_error("methods", METHODS_REQUIRED, "required")
    if ALL_METHODS in chosen:
        if len(chosen) > 1:
            raise _field_error("methods", ALL_AND_SOME, "all_and_some")
        return [ALL_METHODS]
    return [m.value for m in PlatformMethod if m.value in chosen]


def _clean_expiry(expires_on: date | None, now: datetime) -> datetime | None:
    if expires_on is None:
        return None
    if expires_on <= now.astimezone(UTC).date():
        raise _field_error(
            "expires_on",
            "Choose a day after today (UTC): the key stops working at 00:00 UTC on that day.",
            "past",
        )
    return datetime.combine(expires_on, time.min, tzinfo=UTC)


def _whitelisted(organisation: Organisation) -> list[Network]:
    """The organisation's whitelist, read as the platform's gateways read it."""
    return [ipaddress.ip_network(n["network"]) for n in networks_for_platform(organisation)["networks"]]


def clean_addresses(raw: Iterable[str], *, organisation: Organisation) -> list[str]:
    """Normalised networks, each inside the organisation's whitelist, or a ValidationError on ``addresses``.

    Each is read by the whitelist's own rules (``whitelist.services.parse_network``: host bits,
    zone ids, loopback and the like are refused with the same words).
    """
    typed = [text.strip() for text in raw if text.strip()]
    if not typed:
        return []
    limit = settings.WHITELIST_MAX_ENTRIES
    if len(typed) > limit:
        raise _field_error(
            "addresses", f"A key can name at most {limit} addresses or ranges (this list has {len(typed)}).", "limit"
        )
    problems: list[str] = []
    parsed: list[Network] = []
    for text in typed:
        try:
            network = parse_network(text)
        except ValidationError as exc:
            problems.append(" ".join(exc.messages))
            continue
        for other in parsed:
            if other.version == network.version and (other == network or network.subnet_of(other)):  # type: ignore[arg-type]
                problems.append(f"{network} is already in the list (as {other}): list each address once.")
                break
            if other.version == network.version and other.subnet_of(network):  # type: ignore[arg-type]
                problems.append(f"{network} holds {other}, also listed: keep only one of them.")
                break
        else:
            parsed.append(network)
        if len(problems) >= NAMED_PROBLEMS:
            break
    if not problems:
        whitelist = _whitelisted(organisation)
        if not whitelist:
            problems.append(
                f"The whitelist of {organisation.name} is empty, so the platform accepts no calls yet. "
                "Add your servers to the whitelist first; a key's addresses can only narrow it."
            )
        for network in parsed if whitelist else []:
            if not any(n.version == network.version and network.subnet_of(n) for n in whitelist):  # type: ignore[arg-type]
                problems.append(
                    f"{network} is not inside the organisation's whitelist, so the platform would refuse its "
                    "calls whatever the key allows. Add it to the whitelist first, or enter an address inside it."
                )
    if problems:
        raise ValidationError({"addresses": [ValidationError(p, code="invalid") for p in problems[:NAMED_PROBLEMS]]})
    order = sorted(parsed, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    return [str(network) for network in order]


def _clean_input(
    *,
    organisation: Organisation,
    name: str,
    methods: Iterable[str],
    addresses: Iterable[str],
    expires_on: date | None,
    now: datetime,
) -> dict[str, Any]:
    """Every field checked, so a form shows every problem at once."""
    errors: dict[str, list[ValidationError]] = {}
    cleaned: dict[str, Any] = {}
    checks = {
        "name": lambda: _clean_name(name),
        "methods": lambda: clean_methods(methods),
        "addresses": lambda: clean_addresses(addresses, organisation=organisation),
        "expires_at": lambda: _clean_expiry(expires_on, now),
    }
    for field, check in checks.items():
        try:
            cleaned[field] = check()
        except ValidationError as exc:
            errors.update(exc.error_dict)
    if errors:
        raise ValidationError(errors)
    return cleaned


# --- Secrets --------------------------------------------------------------------------------


def issue_secret(key: ApiKey, now: datetime) -> tuple[ApiKeySecret, str]:
    """A new secret for ``key``: stored as its hash; the plain text is returned once."""
    tag = ENVIRONMENT_TAGS.get(key.environment, key.environment)
    for attempt in range(PREFIX_ATTEMPTS):
        prefix = f"{SECRET_SCHEME}_{tag}_{secrets.token_hex(6)}"
        plain = f"{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():  # a savepoint: a prefix taken already (1 in 2^48) just tries again
                stored = ApiKeySecret.objects.create(
                    key=key, prefix=prefix, secret_hash=hash_secret(plain), created_at=now
                )
        except IntegrityError:
            if attempt == PREFIX_ATTEMPTS - 1:
                raise
            continue
        return stored, plain
    raise AssertionError("unreachable")


# --- The writes -------------------------------------------------------------------------------


def _check_room(organisation: Organisation, environment: str, now: datetime) -> None:
    active = (
        ApiKey.objects.filter(organisation=organisation, environment=environment, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .count()
    )
    if active >= MAX_ACTIVE_KEYS:
        raise ValidationError(
            f"{organisation.name} already has {MAX_ACTIVE_KEYS} API keys in use, the most allowed. "
            "Revoke a key that is no longer needed first.",
            code="limit",
        )


def _check_name_free(organisation: Organisation, environment: str, name: str, other_than: ApiKey | None = None) -> None:
    """Names tell a key from the others in use: a revoked key's name may be taken again."""
    in_use = ApiKey.objects.filter(
        organisation=organisation, environment=environment, name=name, revoked_at__isnull=True
    )
    if other_than is not None:
        in_use = in_use.exclude(pk=other_than.pk)
    if in_use.exists():
        raise _field_error("name", f"Another key is already called “{name}”: choose another name.", "duplicate")


@transaction.atomic
def create_key(
    *,
    organisation: Organisation,
    name: str,
    methods: Iterable[str],
    addresses: Iterable[str] = (),
    expires_on: date | None = None,
    acting_user: User | None,
    now: datetime | None = None,
) -> tuple[ApiKey, str]:
    """A new key for the portal's environment and its secret's plain text, which is never shown again.

    Raises a ValidationError keyed by form field (``name``, ``methods``, ``addresses``,
    ``expires_on``) or without a field for the organisation's maximum, and stores nothing then.
    """
    _check_may_change(acting_user, organisation)
    # Names and the maximum are checked under the organisation's row lock, so two admins
    # creating at the same moment cannot pass the maximum or take the same name twice.
    org = Organisation.objects.select_for_update().get(pk=organisation.pk)
    now = now or timezone.now()  # read under the lock: what this write sees came before it
    environment = settings.PORTAL_ENVIRONMENT
    cleaned = _clean_input(
        organisation=org, name=name, methods=methods, addresses=addresses, expires_on=expires_on, now=now
    )
    _check_room(org, environment, now)
    _check_name_free(org, environment, cleaned["name"])
    key = ApiKey.objects.create(
        organisation=org, environment=environment, created_by=acting_user, created_at=now, **cleaned
    )
    secret, plain = issue_secret(key, now)
    record(
        action="api_key.created",
        actor=acting_user,
        organisation=org,
        target=_label(key, secret),
        prefix=secret.prefix,
        environment=environment,
        methods=key.methods,
        addresses=key.addresses,
        expires_at=key.expires_at.isoformat() if key.expires_at else None,
    )
    _notify_admins(key, change="created", acting_user=acting_user, at=now, secret=secret)
    return key, plain


EDITABLE = ("name", "methods", "addresses", "expires_at")


@transaction.atomic
def update_key(
    *,
    key: ApiKey,
    name: str,
    methods: Iterable[str],
    addresses: Iterable[str] = (),
    expires_on: date | None = None,
    acting_user: User | None,
    now: datetime | None = None,
) -> tuple[ApiKey, list[str]]:
    """Change what a key may do, where from, until when, or its name; the secrets stay the same.

    Returns the key and the fields that changed (none: nothing saved, nobody told). The same
    checks as ``create_key``, with the same ValidationErrors, and nothing stored on any of them. The
    gateways apply the change at their next read of the keys.
    """
    _check_may_change(acting_user, key.organisation)
    # The key's lock first, as a roll or a revoke takes it (their audit rows then wait for the
    # organisation's lock, so the other order deadlocks); then the organisation's, as create_key
    # takes it, so a key created or renamed at the same moment cannot take the new name.
    key = _locked(key)
    org = Organisation.objects.select_for_update().get(pk=key.organisation_id)
    now = now or timezone.now()
    _check_usable(key, now, "changed")
    cleaned = _clean_input(
        organisation=org, name=name, methods=methods, addresses=addresses, expires_on=expires_on, now=now
    )
    _check_name_free(org, key.environment, cleaned["name"], other_than=key)
    changed = [field for field in EDITABLE if getattr(key, field) != cleaned[field]]
    if not changed:
        return key, []
    before = {field: _audited(getattr(key, field)) for field in changed}
    for field in changed:
        setattr(key, field, cleaned[field])
    key.save(update_fields=changed)
    secret = key.secrets.order_by("-created_at", "-id").first()
    record(
        action="api_key.changed",
        actor=acting_user,
        organisation=org,
        target=_label(key, secret),
        before=before,
        after={field: _audited(getattr(key, field)) for field in changed},
    )
    _notify_admins(key, change="changed", acting_user=acting_user, at=now, secret=secret)
    return key, changed


def _audited(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _locked(key: ApiKey) -> ApiKey:
    return ApiKey.objects.select_for_update().select_related("organisation").get(pk=key.pk)


def _label(key: ApiKey, secret: ApiKeySecret | None) -> str:
    return f"{key.name} ({secret.prefix}…)" if secret else key.name


@transaction.atomic
def roll_key(
    *, key: ApiKey, overlap: Overlap | str, acting_user: User | None, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new secret for the key; the ones it replaces keep working for ``overlap``, then stop by themselves.

    A secret already ending sooner (rolled a moment ago) keeps its earlier end.
    """
    try:
        overlap = Overlap(overlap)
    except ValueError:
        raise _field_error("overlap", "Choose how long the current secret keeps working.", "invalid") from None
    key = _locked(key)
    # Read under the key's lock: a roll that went just before is then entirely in the past, and
    # its secret is among those this one replaces.
    now = now or timezone.now()
    _check_may_change(acting_user, key.organisation)
    _check_usable(key, now, "rolled")
    ends = now + OVERLAP_DURATIONS[overlap]
    replaced = list(key.secrets.exclude(valid_until__lte=ends))
    ApiKeySecret.objects.filter(pk__in=[s.pk for s in replaced]).update(valid_until=ends)
    secret, plain = issue_secret(key, now)
    record(
        action="api_key.rolled",
        actor=acting_user,
        organisation=key.organisation,
        target=_label(key, secret),
        prefix=secret.prefix,
        replaced=[s.prefix for s in replaced],
        overlap=overlap.value,
        previous_valid_until=ends.isoformat(),
    )
    _notify_admins(
        key, change="rolled", acting_user=acting_user, at=now, secret=secret, overlap=overlap, replaced_until=ends
    )
    return key, plain


@transaction.atomic
def revoke_key(*, key: ApiKey, acting_user: User | None, now: datetime | None = None) -> ApiKey:
    """Every secret of the key stops working now (at the gateways' next poll, which drops it)."""
    key = _locked(key)
    now = now or timezone.now()
    _check_may_change(acting_user, key.organisation)
    if key.is_revoked():
        raise ValidationError(f"“{key.name}” was already revoked.", code="revoked")
    key.revoked_at = now
    key.revoked_by = acting_user
    key.save(update_fields=["revoked_at", "revoked_by"])
    secret = key.secrets.order_by("-created_at", "-id").first()
    record(
        action="api_key.revoked",
        actor=acting_user,
        organisation=key.organisation,
        target=_label(key, secret),
        prefixes=list(key.secrets.values_list("prefix", flat=True)),
    )
    _notify_admins(key, change="revoked", acting_user=acting_user, at=now, secret=secret)
    return key


def _check_usable(key: ApiKey, now: datetime, change: str) -> None:
    if key.is_revoked():
        raise ValidationError(f"“{key.name}” was revoked: it cannot be {change}.", code="revoked")
    if key.is_expired(now):
        raise ValidationError(
            f"“{key.name}” has expired: it cannot be {change}. Create a new key instead.", code="expired"
        )


def _notify_admins(
    key: ApiKey,
    *,
    change: str,
    acting_user: User | None,
    at: datetime,
    secret: ApiKeySecret | None,
    overlap: Overlap | None = None,
    replaced_until: datetime | None = None,
) -> None:
    """Every active admin hears about every change: a key opens the organisation's data to a server."""
    organisation = key.organisation
    admins = active_admins(organisation_id=organisation.pk)
    for admin in admins:
        queue_templated_email(
            template="apikeys/email/changed",
            subject=f"API key “{key.name}” of {organisation.name} {change}",
            context={
                "admin": admin,
                "organisation": organisation,
                "key": key,
                "prefix": secret.prefix if secret else "",
                "change": change,
                "environment": key.environment,
                "methods": describe_methods(key.methods),
                "by": _by(acting_user),
                "at": timezone.localtime(at),
                "overlap": overlap,
                "replaced_until": timezone.localtime(replaced_until) if replaced_until else None,
                "list_url": portal_url(reverse("api-keys")),
            },
            to=[admin.email],
        )


def _by(acting_user: User | None) -> str:
    if acting_user is None or _is_support(acting_user):
        return "Support"
    return f"{acting_user.full_name} ({acting_user.email})"


def describe_methods(methods: list[str]) -> str:
    if ALL_METHODS in methods:
        return "all functions"
    return ", ".join(methods)


# --- What the platform reports ----------------------------------------------------------------


def record_key_use(*, uses: Mapping[tuple[int, str, date], Sequence[Any]]) -> int:
    """Add a usage batch's calls per key prefix and UTC day to the keys' daily use; returns the rows touched.

    ``uses`` maps (organisation id, secret prefix, day) to (calls, time of the last call), as
    dashboard.ingest aggregates a batch. A prefix that is not a key of that organisation counts
    for no key (the calls still count on the dashboard); the secrets of one key add up. Called
    inside the batch's transaction: a duplicate batch records nothing here either.
    """
    if not uses:
        return 0
    prefixes = sorted({prefix for _, prefix, _ in uses})
    owners = {
        prefix: (key_id, organisation_id)
        for prefix, key_id, organisation_id in ApiKeySecret.objects.filter(prefix__in=prefixes).values_list(
            "prefix", "key_id", "key__organisation_id"
        )
    }
    per_key: dict[tuple[int, date], list[Any]] = {}
    for (organisation_id, prefix, day), (calls, last_at) in uses.items():
        owner = owners.get(prefix)
        if owner is None or owner[1] != organisation_id:
            continue
        row = per_key.setdefault((owner[0], day), [0, last_at])
        row[0] += calls
        row[1] = max(row[1], last_at)
    _add_to_daily_use(per_key)
    return len(per_key)


def _add_to_daily_use(rows: dict[tuple[int, date], list[Any]]) -> None:
    add_counts(
        ApiKeyDailyUse, keys=("key", "day"), sums=("calls",), latest=("last_used_at",), rows=sorted(rows.items())
    )
