"""Load the demo organisation once, and print the demo logins as they stand.

The first run creates the organisation, its people, their second factors, a whitelist and the
Resources page's links. Later runs (every `make run`) leave all of that as people left it -- a
spent backup code stays spent, new codes or tokens someone made stay theirs, a removed user stays
removed, a renamed organisation keeps its name -- and only add what time brings: last month's
invoice, the demo vault's table if it went, usage if there is none yet. To start over, delete the
databases (db.sqlite3, vault.sqlite3).
"""

import hashlib
import os
from base64 import b32encode
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import services
from accounts.models import Organisation, PortalPermission, Role, User
from accounts.roles import support_group
from alarms.demo import seed_demo_alarms
from apikeys.demo import seed_demo_api_keys
from billing.demo import seed_demo_invoices
from dashboard.demo import seed_demo_usage
from extracts.demo import demo_identity, demo_recipient, seed_demo_extract_key
from extracts.models import ExtractKey
from extracts.vault import ensure_demo_vault
from support.demo import seed_demo_error_ticket, seed_resource_links
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
        org = self._demo_organisation()
        first_run = org is None
        if org is None:
            org = self._create_demo(**DEMO_ORGANISATION)
        # What time brings, never what a person changed.
        seed_demo_usage(organisation=org)
        if first_run:  # made once, after the usage they point at; a person may change them later
            admin, member = (User.objects.get(email=email) for email, *_ in DEMO_USERS)
            seed_demo_alarms(organisation=org, admin=admin)
            seed_demo_error_ticket(user=member)
            seed_demo_extract_key(organisation=org, admin=admin)
        ensure_demo_vault(organisation=org)
        seed_demo_invoices(org)

        emails = [email for email, *_ in DEMO_USERS] + [SUPPORT_USER[0]]
        found = {user.email: user for user in User.objects.filter(email__in=[*emails, PENDING_USER[0]])}
        pending = found.get(PENDING_USER[0])
        temporary = None
        if pending is not None and pending.is_active and not pending.has_usable_password():
            temporary = services.issue_temporary_password(user=pending)

        self._print(org, first_run, [(email, found.get(email)) for email in emails], pending, temporary)

    def _demo_organisation(self) -> Organisation | None:
        """The organisation a previous run made: the demo people's, else the one of the demo name."""
        demo_emails = [email for email, *_ in DEMO_USERS] + [PENDING_USER[0]]
        people = User.objects.filter(email__in=demo_emails, organisation__isnull=False).order_by("pk")
        org_id = people.values_list("organisation_id", flat=True).first()
        if org_id is not None:
            return Organisation.objects.get(pk=org_id)
        return Organisation.objects.filter(name=DEMO_ORGANISATION["name"]).order_by("pk").first()

    def _create_demo(self, **details: str) -> Organisation:
        org = Organisation.objects.create(**details)
        for email, name, role, permissions in DEMO_USERS:
            user = self._ready_user(email, name, organisation=org, role=role)
            if role == Role.USER:
                services._set_permissions(user, permissions)
        support = self._ready_user(*SUPPORT_USER, organisation=None, role=Role.USER)
        # Staff in the Support group, as support staff are in production; not a superuser.
        support.is_staff, support.is_superuser = True, False
        support.save(update_fields=["is_staff", "is_superuser"])
        support.groups.add(support_group())
        seed_demo_whitelist(org)
        seed_demo_api_keys(org)
        seed_resource_links()
        if not User.objects.filter(email=PENDING_USER[0]).exists():
            User.objects.create_user(email=PENDING_USER[0], full_name=PENDING_USER[1], organisation=org, role=Role.USER)
        return org

    def _ready_user(self, email: str, name: str, *, organisation: Organisation | None, role: Role) -> User:
        """The demo user with the published password, key and backup codes; an existing account as it is."""
        user = User.objects.filter(email=email).first()
        if user is not None:
            return user
        user = User.objects.create_user(
            email=email, full_name=name, organisation=organisation, role=role, password=DEMO_PASSWORD
        )
        user.onboarded_at = timezone.now()
        user.save(update_fields=["onboarded_at"])
        totp = TOTPDevice.objects.create(user=user, name="authenticator", key=demo_secret(email), confirmed=True)
        self._token(user, TokenKind.TOTP, totp, description="Demo authenticator")
        static = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
        # Stored as digests (tokens/backup_codes.py); printed while they are unused.
        StaticToken.objects.bulk_create(
            StaticToken(device=static, token=backup_codes.digest(code)) for code in demo_backup_codes(email)
        )
        self._token(user, TokenKind.BACKUP, static)
        return user

    def _token(self, user: User, kind: TokenKind, device: Any, **fields: Any) -> None:
        Token.objects.create(
            user=user, kind=kind, device_type=ContentType.objects.get_for_model(device), device_id=device.pk, **fields
        )

    def _print(
        self,
        org: Organisation,
        first_run: bool,
        logins: list[tuple[str, User | None]],
        pending: User | None,
        temporary: str | None,
    ) -> None:
        out = self.stdout.write
        out(self.style.SUCCESS(f"Demo organisation: {org.name} ({org.public_id})"))
        if not first_run:
            out("Loaded before, and kept as people left it: only new monthly invoices are added.")
            out("To start over, delete db.sqlite3 and vault.sqlite3.")
        out(f"The portal: {settings.PORTAL_BASE_URL}/  (support admin: {settings.PORTAL_BASE_URL}/admin/)")
        out(f"Every demo login uses the password: {DEMO_PASSWORD}  (unless someone changed it)")
        out("Second factor: add the key to an authenticator app (time-based, 6 digits), or type one of")
        out("the single-use backup codes into the same code field at login.")
        for email, user in logins:
            for line in self._login_lines(email, user):
                out(line)
        self._print_extract_key(org)
        if pending is None:
            return
        if temporary:
            hours = settings.TEMPORARY_PASSWORD_VALID_HOURS
            out(f"  {pending.email:<26} not set up yet: temporary password {temporary} (valid {hours} h)")
        elif not pending.is_active:
            out(f"  {pending.email:<26} deactivated")
        elif services.next_onboarding_step(pending) is None:
            out(f"  {pending.email:<26} has finished account set-up")
        else:
            out(f"  {pending.email:<26} chose a password and is part-way through account set-up")

    def _print_extract_key(self, org: Organisation) -> None:
        """The demo's age secret key, while extracts are encrypted to it (never print a real one)."""
        out = self.stdout.write
        recipient = ExtractKey.objects.filter(organisation=org).values_list("recipient", flat=True).first()
        if recipient is None:
            out("Token extracts: plain gzip CSV (no encryption key set on /extracts/key/).")
        elif recipient == demo_recipient():
            out(f"Token extracts are encrypted to the demo age key {recipient}. Its secret key (demo only):")
            out(f"  {demo_identity()}")
            out("  Save that line as your-key.txt, then: age -d -i your-key.txt FILE.csv.gz.age > FILE.csv.gz")
        else:
            out(f"Token extracts are encrypted to the age key {recipient}, set on /extracts/key/.")

    def _login_lines(self, email: str, user: User | None) -> list[str]:
        if user is None:
            return [f"  {email:<26} removed since the demo was loaded"]
        role = "support staff (/admin/)" if user.is_staff else user.get_role_display()
        if not user.is_active:
            role = f"{role}, deactivated"
        totp = TOTPDevice.objects.filter(user=user, name="authenticator", confirmed=True, key=demo_secret(email))
        if totp.exists():
            key = b32encode(bytes.fromhex(demo_secret(email))).decode()
            lines = [f"  {email:<26} {role:<24} authenticator key {key}"]
        else:
            lines = [f"  {email:<26} {role:<24} the demo authenticator key was replaced or removed"]
        stored = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
        unused = [code for code in demo_backup_codes(email) if backup_codes.digest(code) in stored]
        if unused:
            lines.append(f"  {'':<26} backup codes: {' '.join(unused)}")
        else:
            lines.append(f"  {'':<26} no demo backup code left (used, or replaced by new ones)")
        return lines
