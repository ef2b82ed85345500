"""Load the demo organisation (idempotently) and print the demo logins."""

import hashlib
import os
from base64 import b32encode
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import Organisation, PortalPermission, Role, User
from accounts.roles import support_group
from apikeys.demo import seed_demo_api_keys
from billing.demo import seed_demo_invoices
from dashboard.demo import seed_demo_usage
from extracts.vault import ensure_demo_vault
from support.demo import seed_resource_links
from tokens import backup_codes
from tokens.models import Token, TokenKind
from whitelist.demo import seed_demo_whitelist

DEMO_PASSWORD = "demo-portal-password"
DEMO_ORGANISATION = {
    "name": "Acme Payments Ltd",
    "registration_number": "12345678",
    "vat_number": "GB123456789",
    "address": "1 Demo Street\nLondon EC1A 1AA",
    "country": "United Kingdom",
}
DEMO_USERS = [
    ("alice@acme.example", "Alice Admin", Role.ADMIN, []),
    ("bob@acme.example", "Bob Builder", Role.USER, [PortalPermission.VIEW_BILLING]),
]
PENDING_USER = ("carol@acme.example", "Carol Newcomer")
SUPPORT_USER = ("support@portal.example", "Sam Support")


def demo_secret(email: str) -> str:
    """A fixed TOTP key per demo user, so re-running keeps authenticator apps working."""
    return hashlib.sha256(f"demo-totp:{email}".encode()).hexdigest()[:40]


def demo_backup_codes(email: str) -> list[str]:
    digest = hashlib.sha256(f"demo-backup:{email}".encode()).hexdigest()
    return [digest[i : i + 8] for i in range(0, 40, 8)]


class Command(BaseCommand):
    help = "Create the demo organisation, its users and a support user; print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--i-know",
            action="store_true",
            help="Seed even with DJANGO_DEBUG=0 (known demo passwords and a superuser: never in production).",
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        # Checked before handle() opens its transaction: nothing is written when refused. The
        # environment is read as portal/settings.py reads it, not settings.DEBUG, which pytest-django
        # turns off in every test (where a throw-away database is seeded on purpose).
        debug = os.environ.get("DJANGO_DEBUG", "").strip().lower() in {"", "1", "true", "yes", "on"}
        if not debug and not options.get("i_know"):
            raise CommandError(
                "seed_demo creates users with published passwords and second factors; it refuses to run "
                "with DJANGO_DEBUG=0. Pass --i-know if this really is a demo or test deployment."
            )
        return super().execute(*args, **options)

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        org, _ = Organisation.objects.get_or_create(name=DEMO_ORGANISATION["name"], defaults=DEMO_ORGANISATION)
        logins = []
        for email, name, role, permissions in DEMO_USERS:
            user = self._ready_user(email, name, organisation=org, role=role)
            if role == Role.USER:
                services._set_permissions(user, permissions)
            logins.append(user)
        support = self._ready_user(*SUPPORT_USER, organisation=None, role=Role.USER)
        # Staff in the Support group, as support staff are in production; not a superuser.
        support.is_staff, support.is_superuser = True, False
        support.save(update_fields=["is_staff", "is_superuser"])
        support.groups.add(support_group())
        logins.append(support)
        seed_demo_usage(organisation=org)
        seed_demo_whitelist(org)
        seed_demo_api_keys(org)
        ensure_demo_vault(organisation=org)
        seed_resource_links()
        seed_demo_invoices(org)

        pending = User.objects.filter(email=PENDING_USER[0]).first()
        if pending is None:
            pending = User.objects.create_user(
                email=PENDING_USER[0], full_name=PENDING_USER[1], organisation=org, role=Role.USER
            )
        temporary = None
        if not pending.has_usable_password():
            temporary = services.issue_temporary_password(user=pending)

        self._print(org, logins, pending, temporary)

    def _ready_user(self, email: str, name: str, *, organisation: Organisation | None, role: Role) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(
                email=email, full_name=name, organisation=organisation, role=role, password=DEMO_PASSWORD
            )
        if not user.onboarded_at:
            user.onboarded_at = timezone.now()
            user.save(update_fields=["onboarded_at"])
        totp, _ = TOTPDevice.objects.update_or_create(
            user=user, name="authenticator", defaults={"key": demo_secret(email), "confirmed": True}
        )
        self._token(user, TokenKind.TOTP, totp, description="Demo authenticator")
        static, _ = StaticDevice.objects.get_or_create(user=user, name="backup", defaults={"confirmed": True})
        # The printed codes, usable again on every run; stored as digests (tokens/backup_codes.py).
        wanted = [backup_codes.digest(code) for code in demo_backup_codes(email)]
        static.token_set.exclude(token__in=wanted).delete()
        existing = set(static.token_set.values_list("token", flat=True))
        StaticToken.objects.bulk_create(StaticToken(device=static, token=d) for d in wanted if d not in existing)
        self._token(user, TokenKind.BACKUP, static)
        return user

    def _token(self, user: User, kind: TokenKind, device: Any, **fields: Any) -> None:
        Token.objects.get_or_create(
            device_type=ContentType.objects.get_for_model(device),
            device_id=device.pk,
            defaults={"user": user, "kind": kind, **fields},
        )

    def _print(self, org: Organisation, logins: list[User], pending: User, temporary: str | None) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS(f"Demo organisation: {org.name} ({org.public_id})"))
        out(f"Every demo login uses the password: {DEMO_PASSWORD}")
        out("Second factor: add the key to an authenticator app (time-based, 6 digits),")
        out("or use one of the single-use backup codes ('Use a backup code' on the login page).")
        for user in logins:
            key = b32encode(bytes.fromhex(demo_secret(user.email))).decode()
            role = "support staff (/admin/)" if user.is_staff else user.get_role_display()
            out(f"  {user.email:<26} {role:<24} authenticator key {key}")
            out(f"  {'':<26} backup codes: {' '.join(demo_backup_codes(user.email))}")
        if temporary:
            out(f"  {pending.email:<26} not set up yet: temporary password {temporary} (valid 24 h)")
        elif services.next_onboarding_step(pending) is None:
            out(f"  {pending.email:<26} has finished account set-up")
        else:
            out(f"  {pending.email:<26} chose a password and is part-way through account set-up")
