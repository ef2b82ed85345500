"""Believable usage for the demo organisation, so the dashboard has something to show."""

import random
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction

from accounts.models import Organisation
from dashboard import summary
from dashboard.models import DailyMethodCount, ErrorLog, VaultStat
from dashboard.selectors import utc_today

DAYS = 95  # the longest dashboard range (90 days) and a few days before it
VAULT_READINGS_A_DAY = 4  # the platform reports the vault's size several times a day
# Method: typical calls on a weekday.
METHODS = {
    "Tokenize": 42_000,
    "Detokenize": 27_000,
    "Validate": 12_500,
    "Search": 6_200,
    "Delete": 1_300,
    "BatchTokenize": 450,
}
ERROR_CODES = [
    ("INVALID_INPUT", "The value does not match the token format for this field."),
    ("RATE_LIMITED", "Too many requests for this API key; retry after 2 seconds."),
    ("TOKEN_NOT_FOUND", "No token with this value exists in the vault."),
    ("IP_NOT_ALLOWED", "The caller's address is not on the organisation's whitelist."),
    ("VAULT_UNAVAILABLE", "The vault did not answer in time; the call can be retried."),
]
ERROR_ROWS = 200
SOURCE_IPS = ["203.0.113.10", "203.0.113.24", "198.51.100.7", "2001:db8:4000::25"]
# Calls refused for their address (IP_NOT_ALLOWED) come from addresses that are not whitelisted,
# some of them often, so the whitelist page's "Refused calls" has something to allow.
REFUSED_CODE = "IP_NOT_ALLOWED"
REFUSED_SOURCE_IPS = {"192.0.2.44": 6, "198.51.100.200": 3, "2001:db8:beef::7": 1}
REFUSED_RECENT_DAYS = 7


def seed_demo_usage(*, organisation: Organisation, today: date | None = None) -> bool:
    """Fill 95 days of counters, ~200 failed calls in the last 30 and vault counts four times a day
    (a growing vault, for the history chart and its forecast); False if already there."""
    if DailyMethodCount.objects.filter(organisation=organisation).exists():
        return False
    today = today or utc_today()
    rng = random.Random(f"demo-usage:{organisation.public_id}")  # noqa: S311 - demo data, not secrets
    days = [today - timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]

    calls: dict[tuple[str, date], int] = {}
    for day in days:
        shape = 0.35 if day.weekday() >= 5 else 1.0
        growth = 1 + 0.004 * (day - days[0]).days
        for method, weekday_calls in METHODS.items():
            calls[method, day] = int(weekday_calls * shape * growth * rng.uniform(0.85, 1.15))
    # Today is not over: only the part of the day so far.
    elapsed = datetime.now(UTC).hour / 24 if today == utc_today() else 1
    for method in METHODS:
        calls[method, today] = int(calls[method, today] * max(elapsed, 0.05))

    failures = _failures(organisation, days[-30:], calls, rng)
    errors = Counter((row.method, row.at.date()) for row in failures)
    with transaction.atomic():
        DailyMethodCount.objects.bulk_create(
            DailyMethodCount(
                organisation=organisation,
                method=method,
                day=day,
                calls=max(count, errors[method, day]),
                errors=errors[method, day],
            )
            for (method, day), count in calls.items()
        )
        ErrorLog.objects.bulk_create(failures, batch_size=1000)
        VaultStat.objects.bulk_create(_vault_counts(organisation, days, calls, rng))
        summary.bump([organisation.pk])
    return True


def _failures(
    organisation: Organisation, days: list[date], calls: dict[tuple[str, date], int], rng: random.Random
) -> list[ErrorLog]:
    weights = [calls[method, day] for method in METHODS for day in days]
    picks = rng.choices([(method, day) for method in METHODS for day in days], weights=weights, k=ERROR_ROWS)
    now = datetime.now(UTC)
    rows: list[ErrorLog] = []
    for method, day in picks:
        at = datetime.combine(day, time(rng.randrange(24), rng.randrange(60), rng.randrange(60)), tzinfo=UTC)
        at = min(at, now - timedelta(minutes=rng.randrange(1, 120)))
        code, message = rng.choices(ERROR_CODES, weights=[40, 25, 20, 10, 5])[0]
        recent = at >= now - timedelta(days=REFUSED_RECENT_DAYS)
        if recent and len(rows) % 3 == 0:
            code, message = next(pair for pair in ERROR_CODES if pair[0] == REFUSED_CODE)
        if code == REFUSED_CODE:
            source_ip = rng.choices(list(REFUSED_SOURCE_IPS), weights=list(REFUSED_SOURCE_IPS.values()))[0]
        else:
            source_ip = rng.choice(SOURCE_IPS)
        rows.append(
            ErrorLog(
                organisation=organisation,
                at=at,
                method=method,
                code=code,
                message=message,
                request_id=f"req_{rng.getrandbits(64):016x}",
                source_ip=source_ip,
            )
        )
    return rows


def _vault_counts(
    organisation: Organisation, days: list[date], calls: dict[tuple[str, date], int], rng: random.Random
) -> list[VaultStat]:
    count = 1_250_000
    stats = []
    now = datetime.now(UTC)
    hours = 24 // VAULT_READINGS_A_DAY
    for day in days:
        # Roughly: a share of tokenize calls create new tokens, deletes remove some; spread over the day.
        change = int(calls["Tokenize", day] * rng.uniform(0.05, 0.08)) - calls["Delete", day]
        for reading in range(1, VAULT_READINGS_A_DAY + 1):
            at = datetime.combine(day, time(reading * hours - 1, 55), tzinfo=UTC)
            if at > now:  # today's readings so far only
                break
            stats.append(
                VaultStat(
                    organisation=organisation,
                    at=at,
                    token_count=count + change * reading // VAULT_READINGS_A_DAY,
                )
            )
        count += change
    return stats
