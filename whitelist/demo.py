"""Whitelist entries for the demo organisation (seed_demo), added once."""

from accounts.models import Organisation
from accounts.selectors import active_admins
from whitelist.models import WhitelistEntry

DEMO_ENTRIES = [
    ("203.0.113.0/24", "Payment servers, London data centre"),
    ("198.51.100.7/32", "Batch tokenisation job"),
    ("2001:db8:4000::/48", "Payment servers, IPv6"),
]


def seed_demo_whitelist(organisation: Organisation) -> None:
    admin = active_admins(organisation_id=organisation.pk).order_by("pk").first()
    for network, description in DEMO_ENTRIES:
        WhitelistEntry.objects.get_or_create(
            organisation=organisation, network=network, defaults={"description": description, "added_by": admin}
        )
