"""Objects of the owner's organisation for the isolation matrix (tests/portal/test_isolation_matrix.py).

Each builder makes one fresh target in organisation A (the owner's) and returns the URL arguments
that reach it, the texts only people allowed to see it may ever read, and a snapshot function
that shows whether a request changed it. Every target carries a unique marker in the places a
page or a download would show it (a subject, a description, a file name, the file's content),
so a page that leaks the object to the wrong visitor is caught by a plain substring search.
"""

import gzip
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Organisation, User
from alarms import services as alarms
from apikeys import services as apikeys
from apikeys.models import ApiKey
from billing.models import Status as InvoiceStatus
from extracts.models import ExtractRequest
from extracts.models import Status as ExtractStatus
from files import services as files
from files.models import StoredFile
from support import services as support
from support.models import Attachment, Ticket
from support.models import Status as TicketStatus
from tests.billing.helpers import make_invoice
from tests.factories import NewUserFactory, UserFactory
from tests.tokens.helpers import code_at, enrol_rfc_token
from tokens.models import Token, TokenKind
from whitelist import services as whitelist
from whitelist.models import WhitelistEntry

State = Callable[[], object]


@dataclass
class World:
    """The people of one matrix test: organisation A (owner, member, newcomer) and the outsider."""

    organisation: Organisation
    owner: User
    member: User
    newcomer: User
    outsider: User
    platform_key: str
    _numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def number(self) -> int:
        return next(self._numbers)

    def marker(self) -> str:
        """A text no page shows unless it shows this very object."""
        return f"Quokka{self.number():03d}Zed"

    def person(self, role: str) -> User:
        return {"owner": self.owner, "member": self.member}[role]


@dataclass
class Target:
    kwargs: dict[str, Any]
    # Texts that only visitors allowed to see the object may ever read in a response.
    secrets: tuple[str, ...]
    # A text an allowed GET page shows: proves the secrets check looks at the right place.
    shown: str | None
    state: State
    # Another organisation's data that no response of this URL may ever contain.
    foreign: tuple[str, ...] = ()


Builder = Callable[[World], Target]


def row(obj: models.Model, *, exclude: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The object's row as stored now, or None once it is gone."""
    values = type(obj)._default_manager.filter(pk=obj.pk).values().first()
    if values is None:
        return None
    return {key: value for key, value in values.items() if key not in exclude}


def snapshot(*objects: models.Model, **extra: Callable[[], object]) -> State:
    def state() -> object:
        return [row(obj) for obj in objects], {name: read() for name, read in extra.items()}

    return state


def _tokens_of(person: User) -> list[tuple[Any, ...]]:
    return list(Token.objects.filter(user=person).values_list("pk", "kind", "enabled", "description", "updated_at"))


# --- People ---------------------------------------------------------------------------------------


def colleague(*, active: bool = True, invited: bool = False) -> Builder:
    """Another user of organisation A, the one the admin pages are about."""

    def build(world: World) -> Target:
        marker = world.marker()
        factory = NewUserFactory if invited else UserFactory
        person = factory.create(
            organisation=world.organisation,
            full_name=f"Carla Colleague {marker}",
            email=f"carla.{marker.lower()}@acme.example",
            is_active=active,
        )
        permissions = lambda: sorted(person.user_permissions.values_list("codename", flat=True))  # noqa: E731
        return Target(
            kwargs={"user_id": person.pk},
            secrets=(marker,),
            shown=marker,
            state=snapshot(person, permissions=permissions, tokens=lambda: _tokens_of(person)),
        )

    return build


def token_page(*, of: str, kind: str | None = None) -> Builder:
    """The token list (or an enrolment page) of ``of``; one of their tokens carries the marker."""

    def build(world: World) -> Target:
        person = world.person(of)
        marker = world.marker()
        token = _totp_token(person, description=f"Phone {marker}")
        kwargs: dict[str, Any] = {"user_id": person.pk}
        if kind is not None:
            kwargs["kind"] = kind
        return Target(
            kwargs=kwargs,
            secrets=(marker,),
            # An enrolment page names the person, not their tokens.
            shown=marker if kind is None else person.full_name,
            state=snapshot(token, tokens=lambda: _tokens_of(person)),
        )

    return build


# --- Second-factor tokens -------------------------------------------------------------------------


def _totp_token(person: User, *, description: str, enabled: bool = True, failures: int = 0) -> Token:
    device = TOTPDevice.objects.create(
        user=person, name="authenticator", confirmed=True, throttling_failure_count=failures
    )
    return Token.objects.create(
        user=person,
        kind=TokenKind.TOTP,
        description=description,
        enabled=enabled,
        device_type=ContentType.objects.get_for_model(device),
        device_id=device.pk,
    )


def _token_target(token: Token, marker: str) -> Target:
    device = token.device
    return Target(kwargs={"token_id": token.pk}, secrets=(marker,), shown=marker, state=snapshot(token, device))


def token(*, of: str, enabled: bool = True, locked: bool = False) -> Builder:
    """An authenticator-app token of ``of`` (member or owner), besides the one they logged in with."""

    def build(world: World) -> Target:
        marker = world.marker()
        failures = settings.TOKEN_LOCK_AFTER_FAILURES if locked else 0
        made = _totp_token(world.person(of), description=f"Phone {marker}", enabled=enabled, failures=failures)
        return _token_target(made, marker)

    return build


def hardware_token(*, of: str) -> Builder:
    """A hardware (HOTP) token of ``of`` with the RFC 4226 seed: its next codes are code_at(1), (2)."""

    def build(world: World) -> Target:
        marker = world.marker()
        person = world.person(of)
        made = enrol_rfc_token(person, acting_user=person, serial=f"HW-{marker}")
        made.description = f"Keyring {marker}"
        made.save(update_fields=["description"])
        return _token_target(made, marker)

    return build


HARDWARE_RESYNC = {"first_code": code_at(5), "second_code": code_at(6)}


# --- Tickets --------------------------------------------------------------------------------------


def _ticket(world: World, marker: str, *, include_member: bool, closed: bool) -> Ticket:
    ticket = support.open_ticket(
        acting_user=world.owner,
        subject=f"Invoice question {marker}",
        body=f"Why is the March invoice higher? {marker}",
        category="question",
        participants=[world.member] if include_member else [],
        files=[SimpleUploadedFile(f"usage-{marker}.txt", f"Usage report {marker}\n".encode(), "text/plain")],
    )
    if closed:
        Ticket.objects.filter(pk=ticket.pk).update(status=TicketStatus.CLOSED)
    return ticket


def ticket(*, include_member: bool, closed: bool = False) -> Builder:
    """A ticket the owner opened, with or without the member included."""

    def build(world: World) -> Target:
        marker = world.marker()
        made = _ticket(world, marker, include_member=include_member, closed=closed)
        return Target(
            kwargs={"ticket_id": made.pk},
            secrets=(marker,),
            shown=marker,
            state=snapshot(made, comments=lambda: list(made.comments.values()), attachments=made.attachments.count),
        )

    return build


def ticket_attachment(*, include_member: bool) -> Builder:
    def build(world: World) -> Target:
        marker = world.marker()
        made = _ticket(world, marker, include_member=include_member, closed=False)
        attachment = Attachment.objects.get(ticket=made)
        return Target(
            kwargs={"ticket_id": made.pk, "attachment_id": attachment.pk},
            secrets=(marker,),
            shown=marker,
            state=snapshot(made, attachment),
        )

    return build


def attachment_on_the_outsiders_ticket(world: World) -> Target:
    """Organisation A's attachment id under the outsider's own ticket id: two ids, two organisations."""
    marker = world.marker()
    mine = _ticket(world, marker, include_member=True, closed=False)
    attachment = Attachment.objects.get(ticket=mine)
    theirs = support.open_ticket(
        acting_user=world.outsider, subject="Globex question", body="A question of our own.", category="question"
    )
    return Target(
        kwargs={"ticket_id": theirs.pk, "attachment_id": attachment.pk},
        secrets=(marker,),
        shown=marker,
        state=snapshot(mine, attachment),
    )


# --- Whitelist ------------------------------------------------------------------------------------


def whitelist_entry(world: World) -> Target:
    marker = world.marker()
    entry = whitelist.add_entry(
        organisation=world.organisation,
        raw=f"198.51.100.{world.number()}",
        description=f"Office {marker}",
        confirm_broad=False,
        acting_user=world.owner,
    )
    return Target(kwargs={"entry_id": entry.pk}, secrets=(marker,), shown=marker, state=snapshot(entry))


def platform_whitelist(world: World) -> Target:
    """Organisation A's whitelist as the platform reads it; the outsider's organisation has one too."""
    marker = world.marker()
    theirs = world.marker()
    entry = whitelist.add_entry(
        organisation=world.organisation,
        raw=f"198.51.100.{world.number()}",
        description=f"Office {marker}",
        confirm_broad=False,
        acting_user=world.owner,
    )
    assert world.outsider.organisation is not None
    whitelist.add_entry(
        organisation=world.outsider.organisation,
        raw=f"192.0.2.{world.number()}",
        description=f"Globex office {theirs}",
        confirm_broad=False,
        acting_user=world.outsider,
    )
    return Target(
        kwargs={"public_id": world.organisation.public_id},
        secrets=(marker,),
        shown=marker,
        state=snapshot(entry, entries=lambda: WhitelistEntry.objects.count()),
        foreign=(theirs,),
    )


# --- Error alarms ---------------------------------------------------------------------------------


def alarm(world: World) -> Target:
    """An error alarm of organisation A that emails the member."""
    marker = world.marker()
    made = alarms.create_alarm(
        organisation=world.organisation,
        data=alarms.AlarmInput(
            name=f"Tokenize failing {marker}",
            method="Tokenize",
            metric="error_rate",
            window_minutes=15,
            threshold="5",
            recipient_ids=[world.member.pk],
        ),
        acting_user=world.owner,
    )
    recipients = lambda: sorted(made.recipients.values_list("pk", flat=True))  # noqa: E731
    return Target(
        kwargs={"alarm_id": made.pk},
        secrets=(marker,),
        shown=marker,
        state=snapshot(made, recipients=recipients),
    )


# --- Error log: "Ask support" ---------------------------------------------------------------------


def error_row(world: World) -> Target:
    """A failed call of organisation A in its error log; a POST opens a ticket about it."""
    from dashboard.models import ErrorLog

    marker = world.marker()
    made = ErrorLog.objects.create(
        organisation=world.organisation,
        at=timezone.now(),
        method="Detokenize",
        code="TOKEN_NOT_FOUND",
        message=f"No such token {marker}",
        request_id=f"req-{marker}",
        source_ip="203.0.113.9",
    )
    tickets = lambda: list(Ticket.objects.filter(error_log_id=made.pk).values_list("pk", flat=True))  # noqa: E731
    return Target(kwargs={"error_id": made.pk}, secrets=(marker,), shown=marker, state=snapshot(made, tickets=tickets))


# --- API keys -------------------------------------------------------------------------------------


def _api_key_state(key: ApiKey) -> State:
    return snapshot(key, secrets=lambda: list(key.secrets.order_by("pk").values_list("prefix", "valid_until")))


def api_key(world: World) -> Target:
    """A key of organisation A; its secret is never in any response after the one that showed it."""
    marker = world.marker()
    key, plain = apikeys.create_key(
        organisation=world.organisation, name=f"Web shop {marker}", methods=["Tokenize"], acting_user=world.owner
    )
    return Target(
        kwargs={"key_id": key.pk}, secrets=(marker,), shown=marker, state=_api_key_state(key), foreign=(plain,)
    )


def platform_api_keys(world: World) -> Target:
    """Organisation A's keys as the platform reads them; the outsider's organisation has one too."""
    marker = world.marker()
    theirs = world.marker()
    key, plain = apikeys.create_key(
        organisation=world.organisation, name=f"Web shop {marker}", methods=["Tokenize"], acting_user=world.owner
    )
    assert world.outsider.organisation is not None
    _, their_plain = apikeys.create_key(
        organisation=world.outsider.organisation,
        name=f"Globex shop {theirs}",
        methods=["*"],
        acting_user=world.outsider,
    )
    return Target(
        kwargs={"public_id": world.organisation.public_id},
        secrets=(marker,),
        shown=marker,
        state=_api_key_state(key),
        foreign=(theirs, plain, their_plain),
    )


# --- Invoices -------------------------------------------------------------------------------------


def invoice(*, published: bool = True) -> Builder:
    def build(world: World) -> Target:
        marker = world.marker()
        made = make_invoice(
            world.organisation,
            number=f"INV-{marker}",
            issue_date=date(2025, 2, 1),
            lines=((f"Tokenization API calls {marker}", "1000", "0.0004"),),
            status=InvoiceStatus.ISSUED if published else InvoiceStatus.DRAFT,
            notes=f"Thank you {marker}",
        )
        # The portal caches the PDF it draws on first download: not a change to the invoice.
        return Target(
            kwargs={"invoice_id": made.pk},
            secrets=(marker,),
            shown=marker,
            state=lambda: row(made, exclude=("generated_pdf", "updated_at")),
        )

    return build


# --- Files ----------------------------------------------------------------------------------------


def _file_state(stored: StoredFile) -> State:
    return snapshot(stored, in_storage=lambda: stored.file.storage.exists(stored.file.name))


def stored_file(*, by: str, section: str) -> Builder:
    """A text file ``by`` (owner or member) uploaded to the Compliance or Other files section."""

    def build(world: World) -> Target:
        marker = world.marker()
        upload = SimpleUploadedFile(f"contract-{marker}.txt", f"Contract terms {marker}\n".encode(), "text/plain")
        stored = files.upload_file(acting_user=world.person(by), section=section, upload=upload)
        return Target(kwargs={"file_id": stored.pk}, secrets=(marker,), shown=marker, state=_file_state(stored))

    return build


def token_extract(world: World) -> Target:
    """A finished token extract: its gzip CSV is a file in the admin-only Token extracts section."""
    marker = world.marker()
    content = gzip.compress(f"token,created_at\ntok_{marker},2025-01-01\n".encode())
    stored = files.store_file(
        organisation=world.organisation,
        section="extracts",
        name=f"tokens-{marker}.csv.gz",
        content=ContentFile(content),
        size=len(content),
        sha256="c" * 64,
        content_type="application/gzip",
        uploaded_by=world.owner,
    )
    ExtractRequest.objects.create(
        organisation=world.organisation,
        requested_by=world.owner,
        status=ExtractStatus.DONE,
        rows_written=1,
        rows_total=1,
        progress=100,
        file=stored,
    )
    return Target(kwargs={"file_id": stored.pk}, secrets=(marker,), shown=marker, state=_file_state(stored))


# --- Password reset -------------------------------------------------------------------------------


def reset_link(world: World) -> Target:
    """A password-reset address for the owner's account with a token that is not valid."""
    owner = world.owner
    return Target(
        kwargs={"uidb64": urlsafe_base64_encode(force_bytes(owner.pk)), "token": "c4v-0123456789abcdef"},
        secrets=(owner.email, owner.full_name),
        shown=None,
        state=snapshot(owner),
    )
