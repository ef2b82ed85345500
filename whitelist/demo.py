"""Whitelist entries for the demo organisation (seed_demo), added once, with the calls counted per
address and day for the last 30 days (what the platform's usage batches report)."""

import random
from datetime import UTC, timedelta

from django.utils import timezone

from accounts.models import Organisation, Role, User
from accounts.selectors import active_admins
from whitelist.models import DailySourceCount, WhitelistEntry

DEMO_ENTRIES = [
    ("203.0.113.0/24", "Payment servers, London data centre"),
    ("198.51.100.7/32", "Batch tokenisation job"),
    ("2001:db8:4000::/48", "Payment servers, IPv6"),
]
# Owned by a colleague, removed by the periodic task 5 days after the first run (warned at once).
DEMO_EXPIRING = ("198.51.100.50/32", "Penetration test by Example Security, until their report is in", 5)
# Calls per day from addresses inside the entries (the delete confirmation counts them).
DEMO_SOURCES = {
    "203.0.113.10": 38_000,
    "203.0.113.24": 21_000,
    "198.51.100.7": 6_500,
    "2001:db8:4000::25": 12_000,
    "198.51.100.50": 900,
}
SOURCE_DAYS = 30


def seed_demo_whitelist(organisation: Organisation) -> None:
    admin = active_admins(organisation_id=organisation.pk).order_by("pk").first()
    colleague = (
        User.objects.filter(organisation=organisation, role=Role.USER, is_active=True).order_by("pk").first() or admin
    )
    for network, description in DEMO_ENTRIES:
        WhitelistEntry.objects.get_or_create(
            organisation=organisation,
            network=network,
            defaults={"description": description, "added_by": admin, "owner": admin},
        )
    today = timezone.localdate()
    network, description, days = DEMO_EXPIRING
    WhitelistEntry.objects.get_or_create(
        organisation=organisation,
        network=network,
        defaults={
            "description": description,
            "added_by": admin,
            "owner": colleague,
            "expires_on": today + timedelta(days=days),
        },
    )
    _seed_source_counts(organisation)


def _seed_source_counts(organisation: Organisation) -> None:
    if DailySourceCount.objects.filter(organisation=organisation).exists():
        return
    rng = random.Random(f"demo-sources:{organisation.public_id}")  # noqa: S311 - demo data, not secrets
    today = timezone.now().astimezone(UTC).date()
    DailySourceCount.objects.bulk_create(
        DailySourceCount(
            organisation=organisation,
            day=today - timedelta(days=ago),
            address=address,
            calls=int(calls * (0.35 if (today - timedelta(days=ago)).weekday() >= 5 else 1) * rng.uniform(0.85, 1.15)),
        )
        for address, calls in DEMO_SOURCES.items()
        for ago in range(SOURCE_DAYS)
    )
