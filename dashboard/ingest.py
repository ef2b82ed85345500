"""Validation of what the platform posts to the portal (SPEC §4): usage batches and vault counts.

Every problem is reported under its place in the body (``events[3].at``), so whoever maintains
the sender can fix it from the answer alone. Unknown fields are refused rather than ignored: a
misspelt ``"eror"`` would otherwise silently drop an error's details. Nothing is stored unless the
whole body is valid; the writes are in ``dashboard.services``.
"""

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import compress
from operator import itemgetter, methodcaller
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.utils import timezone

from accounts.models import Organisation
from dashboard.models import ERROR_MESSAGE_MAX_LENGTH, bucket_start

MAX_REPORTED_PROBLEMS = 100
FUTURE_TOLERANCE = timedelta(days=1)
BIGINT_MAX = 2**63 - 1
TIME_MESSAGE = "must be an ISO-8601 time with a timezone, e.g. 2025-03-01T12:00:00Z"

METHOD_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# Public ids look like org_0123456789abcdef; anything else cannot name an organisation.
ORG_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
# The visible prefix of a customer's API key (ak_test_0123456789ab), as the platform's keys read gives it.
KEY_PATTERN = re.compile(r"[A-Za-z0-9_]{1,32}")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_CHARACTERS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

USAGE_FIELDS = ("batch_id", "events")
EVENT_FIELDS = ("org", "method", "at", "status", "error", "key", "source_ip")
ERROR_FIELDS = ("code", "message", "request_id", "source_ip")
VAULT_FIELDS = ("org", "at", "token_count")

_MISSING: Any = object()


class PayloadError(Exception):
    """The body is not acceptable; ``problems`` maps each bad field's path to what is wrong."""

    def __init__(self, problems: dict[str, str], *, truncated: bool = False) -> None:
        super().__init__(problems)
        self.problems = problems
        self.truncated = truncated

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"errors": self.problems}
        if self.truncated:
            body["truncated"] = True
        return body


class FailedCall(NamedTuple):
    """One failed call to log; the fields in the order of ErrorLog's columns (services copies them as they are)."""

    organisation_id: int
    at: datetime
    method: str
    code: str
    message: str
    request_id: str
    source_ip: str


@dataclass
class UsageBatch:
    batch_id: str
    events: int
    # (organisation id, method, UTC day) -> [calls, errors]
    counters: dict[tuple[int, str, date], list[int]] = field(default_factory=dict)
    # (organisation id, method, start of the 5-minute slot) -> [calls, errors]; error alarms read these
    buckets: dict[tuple[int, str, datetime], list[int]] = field(default_factory=dict)
    failed_calls: list[FailedCall] = field(default_factory=list)
    # (organisation id, API key prefix, UTC day) -> [calls, time of the last]; apikeys records them
    key_uses: dict[tuple[int, str, date], list[Any]] = field(default_factory=dict)
    # (organisation id, UTC day, source address) -> calls; the whitelist page reads them
    source_calls: dict[tuple[int, date, str], int] = field(default_factory=dict)


@dataclass(frozen=True)
class VaultReading:
    organisation_id: int
    at: datetime
    token_count: int


@dataclass(frozen=True)
class _ErrorDetails:
    code: str
    message: str
    request_id: str
    source_ip: str


@dataclass(frozen=True)
class _Event:
    org: str
    method: str
    at: datetime
    error: _ErrorDetails | None
    key: str | None = None
    source_ip: str | None = None


class _Problems:
    def __init__(self) -> None:
        self.found: dict[str, str] = {}
        self.truncated = False

    def add(self, path: str, message: str) -> None:
        if len(self.found) >= MAX_REPORTED_PROBLEMS:
            self.truncated = True
        else:
            self.found.setdefault(path, message)

    @property
    def full(self) -> bool:
        return self.truncated

    def raise_if_any(self) -> None:
        if self.found:
            raise PayloadError(self.found, truncated=self.truncated)


# --- Entry points ------------------------------------------------------------------------------


def usage_batch(body: bytes, *, now: datetime | None = None) -> UsageBatch:
    """The counters and failed calls of a usage batch, or PayloadError naming each bad field.

    A valid batch (the common case) is read column by column (``_valid_usage_batch``); anything
    that path is unsure of goes through the field-by-field checks (``_checked_usage_batch``),
    which name every problem and give the same batch when there is none.
    """
    now = now or timezone.now()
    data = _json_object(body)
    return _valid_usage_batch(data, now=now) or _checked_usage_batch(data, now=now)


def _checked_usage_batch(data: dict[str, Any], *, now: datetime) -> UsageBatch:
    problems = _Problems()
    _refuse_unknown_fields(problems, "", data, USAGE_FIELDS)
    batch_id = _text(problems, "batch_id", data.get("batch_id", _MISSING), max_length=128)
    named_orgs: list[tuple[int, str]] = []
    events = _events(problems, data.get("events", _MISSING), named_orgs, now=now)
    organisations = _organisation_ids(problems, named_orgs, path="events[{}].org")
    problems.raise_if_any()
    assert batch_id is not None

    batch = UsageBatch(batch_id=batch_id, events=len(events))
    for event in events:
        organisation_id = organisations[event.org]
        counter = batch.counters.setdefault((organisation_id, event.method, event.at.date()), [0, 0])
        counter[0] += 1
        bucket = batch.buckets.setdefault((organisation_id, event.method, bucket_start(event.at)), [0, 0])
        bucket[0] += 1
        if event.key is not None:
            use = batch.key_uses.setdefault((organisation_id, event.key, event.at.date()), [0, event.at])
            use[0] += 1
            use[1] = max(use[1], event.at)
        if event.source_ip is not None:
            source = (organisation_id, event.at.date(), event.source_ip)
            batch.source_calls[source] = batch.source_calls.get(source, 0) + 1
        if event.error is not None:
            counter[1] += 1
            bucket[1] += 1
            batch.failed_calls.append(
                FailedCall(
                    organisation_id=organisation_id,
                    at=event.at,
                    method=event.method,
                    code=event.error.code,
                    message=event.error.message,
                    request_id=event.error.request_id,
                    source_ip=event.error.source_ip,
                )
            )
    return batch


# --- The common case, column by column ---------------------------------------------------------

# What the checks below accept, as single patterns: the length limits and "no control characters,
# no lone surrogates" of ``_text`` (a string failing one goes to the field-by-field checks).
_BATCH_ID_OK = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,128}")
_CODE_OK = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,64}")
_REQUEST_ID_OK = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,128}")
_MESSAGE_OK = re.compile(rf"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]{{0,{ERROR_MESSAGE_MAX_LENGTH}}}")
_EVENT_KEYS = frozenset(EVENT_FIELDS)
_ERROR_KEYS = frozenset(ERROR_FIELDS)
_STATUSES = frozenset(("ok", "error"))
_ERROR_COLUMNS = itemgetter("code", "message", "request_id", "source_ip")
_ORG, _METHOD, _AT = itemgetter("org"), itemgetter("method"), itemgetter("at")
_STATUS, _ERROR = itemgetter("status"), itemgetter("error")
_IS_ERROR = "error".__eq__
_HAS_ERROR = methodcaller("__contains__", "error")
_HAS_KEY = methodcaller("__contains__", "key")
_HAS_SOURCE_IP = methodcaller("__contains__", "source_ip")


def _valid_usage_batch(data: dict[str, Any], *, now: datetime) -> UsageBatch | None:
    """The batch, when every field of ``data`` is valid; None when anything is not (or may not be).

    The same batch ``_checked_usage_batch`` gives, computed with one pass over the events per field
    (most of them in C: ``map``, ``set``, ``Counter``) and each distinct org, method, time and
    address checked once, instead of a dozen function calls per event. It never reports a
    problem: the field-by-field checks then run, and name each one.
    """
    batch_id = data.get("batch_id")
    events = data.get("events")
    if len(data) != 2 or type(batch_id) is not str or not _BATCH_ID_OK.fullmatch(batch_id):
        return None
    if type(events) is not list or not 0 < len(events) <= settings.INGEST_MAX_EVENTS_PER_BATCH:
        return None
    try:
        return _valid_events(batch_id, events, now=now)
    except (KeyError, TypeError, ValueError):  # a missing field, a list where a string belongs, no time
        return None


def _valid_events(batch_id: str, events: list[Any], *, now: datetime) -> UsageBatch | None:
    if set(map(type, events)) != {dict}:
        return None
    # KeyError when an event lacks one of these.
    orgs, methods, ats = list(map(_ORG, events)), list(map(_METHOD, events)), list(map(_AT, events))
    statuses = list(map(_STATUS, events))
    distinct_orgs = set(orgs)
    if not all(type(org) is str and ORG_PATTERN.fullmatch(org) for org in distinct_orgs):
        return None
    if not all(type(method) is str and METHOD_PATTERN.fullmatch(method) for method in set(methods)):
        return None
    if not _STATUSES.issuperset(statuses):
        return None
    read = _valid_times(set(ats), now=now)
    if read is None:
        return None
    times, slots = read
    failed = list(compress(events, map(_IS_ERROR, statuses)))
    # Every event has the four fields above, and each failed one its "error" (``_valid_failures``
    # reads it): when the events hold no other field, none is unknown, no "ok" event has error
    # details, and none names a key or a source address (the usual batch: two passes saved).
    optional_fields = sum(map(len, events)) - 4 * len(events) - len(failed)
    if optional_fields and (
        not all(map(_EVENT_KEYS.issuperset, events)) or sum(map(_HAS_ERROR, events)) != len(failed)
    ):
        return None
    organisation_ids = _known_organisations(distinct_orgs)
    if organisation_ids is None:
        return None

    batch = UsageBatch(batch_id=batch_id, events=len(events))
    addresses: dict[str, str | None] = {}
    errors: Counter[tuple[str, str, datetime]] = Counter()
    sources: Counter[tuple[str, str, str]] = Counter()  # (org, time, address) -> calls
    if failed:
        failures = _valid_failures(failed, organisation_ids, times, addresses)
        if failures is None:
            return None
        batch.failed_calls = failures
        errors.update(
            zip(map(_ORG, failed), map(_METHOD, failed), map(slots.__getitem__, map(_AT, failed)), strict=True)
        )
        # A failed call says where it came from, unless the event names its source itself.
        for call, event in zip(failures, failed, strict=True):
            if "source_ip" not in event:
                sources[event["org"], event["at"], call.source_ip] += 1
    for (org, method, start), calls in Counter(zip(orgs, methods, map(slots.__getitem__, ats), strict=True)).items():
        failures_in_slot = errors[org, method, start]
        organisation_id = organisation_ids[org]
        batch.buckets[organisation_id, method, start] = [calls, failures_in_slot]
        counter = batch.counters.setdefault((organisation_id, method, start.date()), [0, 0])
        counter[0] += calls
        counter[1] += failures_in_slot
    if optional_fields:
        if any(map(_HAS_KEY, events)) and not _add_key_uses(batch, events, organisation_ids, times):
            return None
        if not _add_own_sources(events, sources, addresses):
            return None
    for (org, at, address), calls in sources.items():
        source = (organisation_ids[org], times[at].date(), address)
        batch.source_calls[source] = batch.source_calls.get(source, 0) + calls
    return batch


def _valid_times(values: set[Any], *, now: datetime) -> tuple[dict[str, datetime], dict[str, datetime]] | None:
    """Each distinct time in UTC and the start of its 5-minute slot, or None when one is not valid
    (as ``_parse_time`` reads it). The slot is worked out once per minute of the batch."""
    times: dict[str, datetime] = {}
    slots: dict[str, datetime] = {}
    slot_of_minute: dict[tuple[int, int, int], datetime] = {}
    read, slot_of = datetime.fromisoformat, slot_of_minute.get  # looked up once, not per time
    for value in values:
        at = read(value)  # TypeError for what is no string, ValueError for what is no time
        if at.tzinfo is not UTC or len(value) > 64:
            checked = _parse_time(value, now=now)
            if isinstance(checked, str):
                return None
            at = checked
        times[value] = at
        minute = (at.toordinal(), at.hour, at.minute)
        slot = slot_of(minute)
        if slot is None:
            slot = slot_of_minute[minute] = bucket_start(at)
        slots[value] = slot
    if max(times.values()) > now + FUTURE_TOLERANCE:
        return None
    return times, slots


def _valid_failures(
    failed: list[dict[str, Any]],
    organisation_ids: dict[str, int],
    times: dict[str, datetime],
    addresses: dict[str, str | None],
) -> list[FailedCall] | None:
    """The failed calls of the events with status "error", or None when one's details are not valid."""
    details = list(map(_ERROR, failed))
    if set(map(type, details)) != {dict} or not all(keys == _ERROR_KEYS for keys in map(dict.keys, details)):
        return None
    codes, messages, request_ids, source_ips = zip(*map(_ERROR_COLUMNS, details), strict=True)
    if not (
        all(map(_CODE_OK.fullmatch, set(codes)))
        and all(map(_MESSAGE_OK.fullmatch, messages))
        and all(map(_REQUEST_ID_OK.fullmatch, request_ids))
    ):
        return None
    for value in set(source_ips):
        address = addresses[value] = _address(value)
        if address is None:
            return None
    return list(
        map(
            FailedCall,
            map(organisation_ids.__getitem__, map(_ORG, failed)),
            map(times.__getitem__, map(_AT, failed)),
            map(_METHOD, failed),
            codes,
            messages,
            request_ids,
            map(addresses.__getitem__, source_ips),
        )
    )


def _known_organisations(public_ids: Iterable[str]) -> dict[str, int] | None:
    """Primary keys by public id, or None when one is not an organisation's."""
    public_ids = sorted(public_ids)
    known: dict[str, int] = {}
    for start in range(0, len(public_ids), 500):
        chunk = public_ids[start : start + 500]
        known.update(Organisation.objects.filter(public_id__in=chunk).values_list("public_id", "id"))
    return known if len(known) == len(public_ids) else None


def _add_key_uses(
    batch: UsageBatch, events: list[dict[str, Any]], organisation_ids: dict[str, int], times: dict[str, datetime]
) -> bool:
    for event in compress(events, map(_HAS_KEY, events)):
        key = event["key"]
        if type(key) is not str or not KEY_PATTERN.fullmatch(key):
            return False
        at = times[event["at"]]
        use = batch.key_uses.setdefault((organisation_ids[event["org"]], key, at.date()), [0, at])
        use[0] += 1
        use[1] = max(use[1], at)
    return True


def _add_own_sources(
    events: list[dict[str, Any]], sources: Counter[tuple[str, str, str]], addresses: dict[str, str | None]
) -> bool:
    """Count the events that name their ``source_ip`` in ``sources``; False when one is no address."""
    for event in compress(events, map(_HAS_SOURCE_IP, events)):
        value = event["source_ip"]
        address = addresses.get(value, _MISSING) if type(value) is str else None
        if address is _MISSING:
            address = addresses[value] = _address(value)
        if address is None:
            return False
        sources[event["org"], event["at"], address] += 1
    return True


def vault_reading(body: bytes, *, now: datetime | None = None) -> VaultReading:
    """The vault's token count at a time, or PayloadError naming each bad field."""
    now = now or timezone.now()
    data = _json_object(body)
    problems = _Problems()
    _refuse_unknown_fields(problems, "", data, VAULT_FIELDS)
    org = _org(problems, "org", data.get("org", _MISSING))
    at = _time(problems, "at", data.get("at", _MISSING), now=now)
    token_count = _count(problems, "token_count", data.get("token_count", _MISSING))
    organisations = _organisation_ids(problems, [(0, org)] if org else [], path="org")
    problems.raise_if_any()
    assert org is not None and at is not None and token_count is not None
    return VaultReading(organisation_id=organisations[org], at=at, token_count=token_count)


# --- The parts -------------------------------------------------------------------------------


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _json_object(body: bytes) -> dict[str, Any]:
    """The body's JSON object. orjson reads what it can (most bodies, several times faster); the
    rest (invalid JSON, lone surrogates, NaN, numbers beyond a double) is read again by the standard
    library, whose answers (and messages) are the ones the API has always given."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _json_object_stdlib(body)
    if not isinstance(data, dict):
        raise PayloadError({"body": "must be a JSON object"})
    return data


def _json_object_stdlib(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError({"body": "must be JSON encoded as UTF-8"}) from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise PayloadError({"body": f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"}) from exc
    except (ValueError, RecursionError) as exc:  # NaN, 5,000-digit numbers, absurd nesting
        raise PayloadError({"body": "is not valid JSON"}) from exc
    if not isinstance(data, dict):
        raise PayloadError({"body": "must be a JSON object"})
    return data


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _refuse_unknown_fields(problems: _Problems, path: str, data: dict[str, Any], known: Iterable[str]) -> None:
    for key in data.keys() - set(known):
        problems.add(_join(path, key[:64]), "is not a known field")


def _text(
    problems: _Problems, path: str, value: Any, *, max_length: int, allow_empty: bool = False, lines: bool = False
) -> str | None:
    if value is _MISSING:
        problems.add(path, "is required")
    elif not isinstance(value, str):
        problems.add(path, "must be a string")
    elif not value and not allow_empty:
        problems.add(path, "must not be empty")
    elif len(value) > max_length:
        problems.add(path, f"must be at most {max_length} characters")
    elif (CONTROL_CHARACTERS_BUT_LINES if lines else CONTROL_CHARACTERS).search(value):
        problems.add(path, "must not contain control characters")
    elif not _is_unicode(value):
        problems.add(path, "must be valid Unicode text")
    else:
        return value
    return None


def _is_unicode(value: str) -> bool:
    # JSON can smuggle in lone surrogates ("\ud800"), which no database column accepts.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _org(problems: _Problems, path: str, value: Any) -> str | None:
    if value is _MISSING:
        problems.add(path, "is required")
    elif not isinstance(value, str):
        problems.add(path, "must be an organisation's public id (a string)")
    elif not ORG_PATTERN.fullmatch(value):
        problems.add(path, "unknown organisation")
    else:
        return value
    return None


def _organisation_ids(problems: _Problems, wanted: Iterable[tuple[int, str]], *, path: str) -> dict[str, int]:
    """Resolve public ids to primary keys in a few queries; report each event naming an unknown one."""
    wanted = list(wanted)
    public_ids = sorted({org for _, org in wanted})
    if problems.full or not public_ids:
        return {}
    known: dict[str, int] = {}
    for start in range(0, len(public_ids), 500):
        chunk = public_ids[start : start + 500]
        known.update(Organisation.objects.filter(public_id__in=chunk).values_list("public_id", "id"))
    for index, org in wanted:
        if org not in known:
            problems.add(path.format(index), "unknown organisation")
    return known


def _method(problems: _Problems, path: str, value: Any) -> str | None:
    if value is _MISSING:
        problems.add(path, "is required")
    elif not isinstance(value, str) or not METHOD_PATTERN.fullmatch(value):
        problems.add(path, "must be 1 to 64 letters, digits, dots, underscores or hyphens")
    else:
        return value
    return None


def _time(problems: _Problems, path: str, value: Any, *, now: datetime) -> datetime | None:
    if value is _MISSING:
        problems.add(path, "is required")
        return None
    at = _parse_time(value, now=now)
    if isinstance(at, str):
        problems.add(path, at)
        return None
    return at


def _parse_time(value: Any, *, now: datetime) -> datetime | str:
    """The time in UTC, or what is wrong with it."""
    if not isinstance(value, str) or len(value) > 64:
        return TIME_MESSAGE
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return TIME_MESSAGE
    if at.tzinfo is not UTC:  # "Z" reads as UTC already
        if at.tzinfo is None or at.utcoffset() is None:
            return TIME_MESSAGE
        try:
            at = at.astimezone(UTC)
        except OverflowError:
            return "is out of range"
    if at > now + FUTURE_TOLERANCE:
        return "must not be more than a day in the future"
    return at


def _count(problems: _Problems, path: str, value: Any) -> int | None:
    if value is _MISSING:
        problems.add(path, "is required")
    elif not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= BIGINT_MAX:
        problems.add(path, "must be a whole number of at least 0")
    else:
        return value
    return None


def _source_ip(problems: _Problems, path: str, value: Any) -> str | None:
    if value is _MISSING:
        problems.add(path, "is required")
        return None
    address = _address(value)
    if address is None:
        problems.add(path, "must be an IPv4 or IPv6 address")
    return address


def _address(value: Any) -> str | None:
    """The address in its canonical form, or None when ``value`` is not one."""
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        return None
    # A zone ("fe80::1%eth0") means nothing outside the host that saw it, and databases refuse it.
    if address is None or getattr(address, "scope_id", None):
        return None
    return str(address)


def _events(problems: _Problems, value: Any, named_orgs: list[tuple[int, str]], *, now: datetime) -> list[_Event]:
    """The valid events; ``named_orgs`` collects every well-formed org, to look up even in bad events."""
    limit = settings.INGEST_MAX_EVENTS_PER_BATCH
    if value is _MISSING:
        problems.add("events", "is required")
    elif not isinstance(value, list):
        problems.add("events", "must be a list of events")
    elif not value:
        problems.add("events", "must contain at least one event")
    elif len(value) > limit:
        problems.add("events", f"must contain at most {limit} events; split the batch")
    else:
        events = []
        for index, raw in enumerate(value):
            if problems.full:
                break
            event = _event(problems, f"events[{index}]", raw, now=now)
            if isinstance(raw, dict) and isinstance(raw.get("org"), str) and ORG_PATTERN.fullmatch(raw["org"]):
                named_orgs.append((index, raw["org"]))
            if event is not None:
                events.append(event)
        return events
    return []


def _event(problems: _Problems, path: str, raw: Any, *, now: datetime) -> _Event | None:
    if not isinstance(raw, dict):
        problems.add(path, "must be an object")
        return None
    _refuse_unknown_fields(problems, path, raw, EVENT_FIELDS)
    org = _org(problems, f"{path}.org", raw.get("org", _MISSING))
    method = _method(problems, f"{path}.method", raw.get("method", _MISSING))
    at = _time(problems, f"{path}.at", raw.get("at", _MISSING), now=now)
    status = raw.get("status", _MISSING)
    error = raw.get("error", _MISSING)
    details = None
    if status is _MISSING:
        problems.add(f"{path}.status", "is required")
        return None
    if not isinstance(status, str) or status not in ("ok", "error"):
        problems.add(f"{path}.status", 'must be "ok" or "error"')
        return None
    if status == "error":
        details = _error_details(problems, f"{path}.error", error)
        if details is None:
            return None
    elif error is not _MISSING:
        problems.add(f"{path}.error", 'is only allowed when status is "error"')
        return None
    key = raw.get("key")
    if "key" in raw and not (isinstance(key, str) and KEY_PATTERN.fullmatch(key)):
        problems.add(f"{path}.key", "must be the prefix of an API key: 1 to 32 letters, digits or underscores")
        return None
    source_ip = None
    if "source_ip" in raw:
        source_ip = _source_ip(problems, f"{path}.source_ip", raw["source_ip"])
        if source_ip is None:
            return None
    elif details is not None:
        source_ip = details.source_ip  # a failed call says where it came from
    if org is None or method is None or at is None or raw.keys() - set(EVENT_FIELDS):
        return None
    return _Event(org=org, method=method, at=at, error=details, key=key, source_ip=source_ip)


def _error_details(problems: _Problems, path: str, value: Any) -> _ErrorDetails | None:
    if value is _MISSING:
        problems.add(path, 'is required when status is "error"')
        return None
    if not isinstance(value, dict):
        problems.add(path, "must be an object with code, message, request_id and source_ip")
        return None
    _refuse_unknown_fields(problems, path, value, ERROR_FIELDS)
    code = _text(problems, f"{path}.code", value.get("code", _MISSING), max_length=64)
    message = _text(
        problems,
        f"{path}.message",
        value.get("message", _MISSING),
        max_length=ERROR_MESSAGE_MAX_LENGTH,
        allow_empty=True,
        lines=True,
    )
    request_id = _text(problems, f"{path}.request_id", value.get("request_id", _MISSING), max_length=128)
    source_ip = _source_ip(problems, f"{path}.source_ip", value.get("source_ip", _MISSING))
    if code is None or message is None or request_id is None or source_ip is None:
        return None
    if value.keys() - set(ERROR_FIELDS):
        return None
    return _ErrorDetails(code=code, message=message, request_id=request_id, source_ip=source_ip)
