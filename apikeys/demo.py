"""API keys for the demo organisation (seed_demo), made once: a rerun keeps their secrets."""

from django.conf import settings
from django.utils import timezone

from accounts.models import Organisation, Role
from apikeys.models import ApiKey, PlatformMethod
from apikeys.services import issue_secret

# Name, functions, source addresses (inside the demo whitelist, whitelist/demo.py).
DEMO_KEYS = [
    ("Web shop (tokenize only)", [PlatformMethod.TOKENIZE.value], []),
    ("Back office (detokenize only)", [PlatformMethod.DETOKENIZE.value], ["203.0.113.10/32", "203.0.113.24/32"]),
]


def seed_demo_api_keys(organisation: Organisation) -> None:
    admin = organisation.users.filter(role=Role.ADMIN, is_active=True).order_by("pk").first()
    for name, methods, addresses in DEMO_KEYS:
        key, created = ApiKey.objects.get_or_create(
            organisation=organisation,
            environment=settings.PORTAL_ENVIRONMENT,
            name=name,
            revoked_at__isnull=True,
            defaults={"methods": methods, "addresses": addresses, "created_by": admin},
        )
        if created:
            issue_secret(key, timezone.now())  # nobody sees it: roll the key in the portal for one
