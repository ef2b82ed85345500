"""Tickets: open, comment, attach, close and reopen; everyone included hears about it. A request to
change the company details is a ticket too: requested here, applied or rejected by support."""

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts
from accounts.models import ChangeRequestStatus, CompanyDetailsChangeRequest, Organisation, User
from audit.services import record
from common.mail import portal_url, queue_templated_email
from common.ratelimit import enforce_hourly_limit
from files.services import storing_files
from files.upload_handlers import too_big_together_message, too_many_message
from files.uploads import KINDS, CheckedUpload, check_upload
from support.models import Attachment, Category, Comment, Status, Ticket

if TYPE_CHECKING:
    from dashboard.models import ErrorLog


def check_attachments(files: Sequence[UploadedFile]) -> list[tuple[UploadedFile, CheckedUpload]]:
    """Every file checked before anything is stored; the first refusal names the file.

    A request's files were already held to these limits while they streamed in
    (files/upload_handlers.py); this is for callers that hand files over some other way.
    """
    if len(files) > settings.FILES_MAX_PER_REQUEST:
        raise ValidationError(too_many_message(settings.FILES_MAX_PER_REQUEST))
    if sum(upload.size or 0 for upload in files) > settings.FILES_MAX_REQUEST_BYTES:
        raise ValidationError(too_big_together_message(settings.FILES_MAX_REQUEST_BYTES))
    checked = []
    for upload in files:
        try:
            checked.append((upload, check_upload(upload)))
        except ValidationError as exc:
            raise ValidationError(f"{upload.name}: {' '.join(exc.messages)}") from exc
    return checked


def _enforce_limits(*, user: User, key: str, per_user: int, per_organisation: int, what: str) -> None:
    """Hourly limits on what a customer sends support (each one emails support), per user and per
    organisation; the counters are in Redis, so they hold across processes and concurrent requests.
    Raises RateLimited saying how long to wait."""
    enforce_hourly_limit(f"{key}-user:{user.pk}", per_user, what)
    enforce_hourly_limit(
        f"{key}-organisation:{user.organisation_id}", per_organisation, f"{what} from your organisation"
    )


def _store_attachments(
    ticket: Ticket, comment: Comment | None, checked: list[tuple[UploadedFile, CheckedUpload]], user: User | None
) -> None:
    with storing_files() as keep:  # nothing half-written: stored objects go if a row fails
        for upload, info in checked:
            attachment = Attachment(
                ticket=ticket,
                comment=comment,
                name=info.name,
                size=info.size,
                sha256=info.sha256,
                content_type=info.content_type,
                uploaded_by=user,
            )
            keep(attachment, upload, KINDS[info.kind][0])
            record(
                action="file.uploaded",
                actor=user,
                organisation=ticket.organisation,
                target=f"{info.name} (ticket #{ticket.pk})",
                sha256=info.sha256,
            )


PARTICIPANTS_ELSEWHERE = "Participants must be users of the organisation the ticket is for."
PARTICIPANTS_INACTIVE = "Participants must be active users of the organisation the ticket is for."


def check_participants(participants: Iterable[User], *, organisation_id: int, active_only: bool) -> None:
    """Everyone included reads the ticket and gets its emails: only users of the ticket's organisation
    (another organisation's would read this one's data). A new ticket's are active users too; a
    ticket kept in the admin may still include someone deactivated since."""
    people = list(participants)
    if any(p.organisation_id != organisation_id for p in people):
        raise ValidationError(PARTICIPANTS_ELSEWHERE, code="participants")
    if active_only and not all(p.is_active for p in people):
        raise ValidationError(PARTICIPANTS_INACTIVE, code="participants")


def included(ticket: Ticket) -> set[User]:
    people = set(ticket.participants.filter(is_active=True))
    if ticket.opened_by is not None and ticket.opened_by.is_active and not ticket.opened_by_support:
        people.add(ticket.opened_by)
    return people


def _notify(ticket: Ticket, *, author: User | None, what: str, text: str, tell_support: bool) -> None:
    """Everyone included but the author hears about it, one message each (addresses stay private)."""
    context = {"what": what, "text": text, "ticket_url": portal_url(reverse("ticket-detail", args=[ticket.pk]))}
    subject = f"[Ticket #{ticket.pk}] {ticket.subject}"
    recipients = sorted({u.email for u in included(ticket) if author is None or u.pk != author.pk})
    if recipients:
        queue_templated_email(template="support/email/ticket", subject=subject, context=context, to=recipients)
    if tell_support:
        staff = ticket.assigned_to.email if ticket.assigned_to else settings.SUPPORT_EMAIL
        queue_templated_email(
            template="support/email/ticket",
            subject=subject,
            context={**context, "admin_url": portal_url("/admin/support/ticket/")},
            to=[staff],
        )


@transaction.atomic
def open_ticket(
    *,
    acting_user: User,
    subject: str,
    body: str,
    category: str,
    participants: Iterable[User] = (),
    files: Sequence[UploadedFile] = (),
    change_request: CompanyDetailsChangeRequest | None = None,
    error_log: "ErrorLog | None" = None,
) -> Ticket:
    """A customer opens a ticket, including colleagues; support hears about it."""
    assert acting_user.organisation is not None
    if error_log is not None and error_log.organisation_id != acting_user.organisation_id:
        raise ValidationError("That failed call is not one of your organisation's.")
    people = list(participants)
    check_participants(people, organisation_id=acting_user.organisation.pk, active_only=True)
    checked = check_attachments(files)
    _enforce_limits(
        user=acting_user,
        key="tickets",
        per_user=settings.TICKETS_PER_USER_PER_HOUR,
        per_organisation=settings.TICKETS_PER_ORGANISATION_PER_HOUR,
        what="new tickets",
    )
    ticket = Ticket.objects.create(
        organisation=acting_user.organisation,
        subject=subject.strip(),
        body=body.strip(),
        category=category,
        opened_by=acting_user,
        change_request=change_request,
        error_log=error_log,
        error_request_id=error_log.request_id if error_log is not None else "",
    )
    ticket.participants.set([p for p in people if p.pk != acting_user.pk])
    _store_attachments(ticket, None, checked, acting_user)
    about: dict[str, Any] = {"request_id": error_log.request_id} if error_log is not None else {}
    record(action="ticket.opened", actor=acting_user, target=str(ticket), **about)
    _notify(
        ticket,
        author=acting_user,
        what=f"{acting_user.full_name} opened a ticket ({ticket.get_category_display()}).",
        text=ticket.body,
        tell_support=True,
    )
    return ticket


@transaction.atomic
def add_comment(
    *, ticket: Ticket, acting_user: User, body: str, files: Sequence[UploadedFile] = (), from_support: bool = False
) -> Comment:
    text = body.strip()
    if not text and not files:
        raise ValidationError("Write a comment or attach a file.")
    checked = check_attachments(files)
    if not from_support:
        _enforce_limits(
            user=acting_user,
            key="ticket-replies",
            per_user=settings.TICKET_REPLIES_PER_USER_PER_HOUR,
            per_organisation=settings.TICKET_REPLIES_PER_ORGANISATION_PER_HOUR,
            what="replies",
        )
    comment = Comment.objects.create(ticket=ticket, author=acting_user, body=text, from_support=from_support)
    _store_attachments(ticket, comment, checked, acting_user)
    ticket.status = Status.WAITING_CUSTOMER if from_support else Status.WAITING_SUPPORT
    ticket.save(update_fields=["status", "updated_at"])
    who = "Support" if from_support else acting_user.full_name
    record(
        action="ticket.answered" if from_support else "ticket.commented",
        actor=acting_user,
        target=str(ticket),
        organisation=ticket.organisation,
    )
    _notify(ticket, author=acting_user, what=f"{who} wrote on the ticket.", text=text, tell_support=not from_support)
    return comment


@transaction.atomic
def open_ticket_for_customer(
    *,
    organisation: Organisation,
    subject: str,
    body: str,
    category: str,
    status: str,
    assigned_to: User | None,
    participants: Iterable[User],
    acting_user: User,
    notify: bool = True,
) -> Ticket:
    """Support opens a ticket for an organisation (the support admin); those included hear about it,
    unless ``notify`` is False because support's first reply follows at once and tells them."""
    people = list(participants)
    check_participants(people, organisation_id=organisation.pk, active_only=False)
    ticket = Ticket.objects.create(
        organisation=organisation,
        subject=subject.strip(),
        body=body.strip(),
        category=category,
        status=status,
        assigned_to=assigned_to,
        opened_by=acting_user,
        opened_by_support=True,
    )
    ticket.participants.set(people)
    record(action="ticket.opened", actor=acting_user, target=str(ticket), organisation=organisation)
    if notify:
        _notify(
            ticket, author=acting_user, what="Support opened a ticket for you.", text=ticket.body, tell_support=False
        )
    return ticket


def set_status(*, ticket: Ticket, status: Status, acting_user: User) -> Ticket:
    ticket.status = status
    ticket.save(update_fields=["status", "updated_at"])
    record(action=f"ticket.{status}", actor=acting_user, target=str(ticket), organisation=ticket.organisation)
    return ticket


@transaction.atomic
def close_or_reopen(*, ticket: Ticket, close: bool, acting_user: User) -> Ticket:
    """Close a ticket, or reopen it (it then waits on support); everyone else included hears of it.

    A real close or reopen emails every included user but the actor, and support when a
    customer did it; it counts against the actor's reply limits, as a reply does. Closing a
    closed ticket changes nothing; "reopening" one that is not closed only puts it back with
    support, quietly, as before. The ticket's row lock makes two clicks at once one change.
    """
    locked = (
        Ticket.objects.select_for_update(of=("self",)).select_related("organisation", "assigned_to").get(pk=ticket.pk)
    )
    was_closed = locked.status == Status.CLOSED
    if close and was_closed:
        return locked
    changes = close != was_closed
    by_customer = not acting_user.is_staff
    if changes and by_customer:
        _enforce_limits(
            user=acting_user,
            key="ticket-replies",
            per_user=settings.TICKET_REPLIES_PER_USER_PER_HOUR,
            per_organisation=settings.TICKET_REPLIES_PER_ORGANISATION_PER_HOUR,
            what="replies and status changes",
        )
    set_status(ticket=locked, status=Status.CLOSED if close else Status.WAITING_SUPPORT, acting_user=acting_user)
    if changes:
        who = (acting_user.full_name or acting_user.email) if by_customer else "Support"
        what = f"{who} closed the ticket." if close else f"{who} reopened the ticket: it waits on support again."
        _notify(locked, author=acting_user, what=what, text="", tell_support=by_customer)
    return locked


@transaction.atomic
def update_ticket_as_support(
    *,
    ticket: Ticket,
    status: Status,
    assigned_to: User | None,
    participants: Iterable[User],
    acting_user: User,
) -> Ticket:
    """Support's change of a ticket in the admin: its status, who works it and who is included.

    Each change is audited. Closing and reopening tell everyone included, as in the portal; a
    newly assigned colleague and newly included customers are told they are on the ticket. Other
    status changes are quiet: a reply (``add_comment``) is how support tells customers something.
    """
    locked = (
        Ticket.objects.select_for_update(of=("self",)).select_related("organisation", "assigned_to").get(pk=ticket.pk)
    )
    wanted = set(participants)
    check_participants(wanted, organisation_id=locked.organisation_id, active_only=False)
    ticket_url = portal_url(reverse("ticket-detail", args=[locked.pk]))
    subject = f"[Ticket #{locked.pk}] {locked.subject}"
    if assigned_to != locked.assigned_to:
        locked.assigned_to = assigned_to
        locked.save(update_fields=["assigned_to", "updated_at"])
        record(
            action="ticket.assigned",
            actor=acting_user,
            target=str(locked),
            organisation=locked.organisation,
            assigned_to=assigned_to.email if assigned_to else "",
        )
        if assigned_to is not None and assigned_to.pk != acting_user.pk:
            queue_templated_email(
                template="support/email/ticket",
                subject=subject,
                context={
                    "what": f"{acting_user.full_name or acting_user.email} assigned the ticket to you.",
                    "text": "",
                    "ticket_url": ticket_url,
                    "admin_url": portal_url(reverse("admin:support_ticket_change", args=[locked.pk])),
                },
                to=[assigned_to.email],
            )
    before = set(locked.participants.all())
    if wanted != before:
        added, removed = wanted - before, before - wanted
        locked.participants.set(wanted)
        record(
            action="ticket.participants_changed",
            actor=acting_user,
            target=str(locked),
            organisation=locked.organisation,
            added=sorted(u.email for u in added),
            removed=sorted(u.email for u in removed),
        )
        told = sorted(u.email for u in added if u.is_active)
        if told:
            context = {"what": "Support included you in this ticket.", "text": locked.body, "ticket_url": ticket_url}
            queue_templated_email(template="support/email/ticket", subject=subject, context=context, to=told)
    if status != locked.status:
        closes, reopens = status == Status.CLOSED, locked.status == Status.CLOSED
        set_status(ticket=locked, status=status, acting_user=acting_user)
        if closes or reopens:
            what = "Support closed the ticket." if closes else "Support reopened the ticket."
            _notify(locked, author=acting_user, what=what, text="", tell_support=False)
    return locked


def close_for_change_request(*, change_request: CompanyDetailsChangeRequest, acting_user: User, applied: bool) -> None:
    ticket = Ticket.objects.filter(change_request=change_request).first()
    if ticket is None:
        return
    changes = ", ".join(f"{k}: {v}" for k, v in change_request.requested_changes().items())
    text = f"The change was applied ({changes})." if applied else "The change was not applied."
    add_comment(ticket=ticket, acting_user=acting_user, body=text, from_support=True)
    set_status(ticket=ticket, status=Status.CLOSED, acting_user=acting_user)


def company_change_ticket_body(change_request: CompanyDetailsChangeRequest) -> str:
    lines = [f"- {field.replace('_', ' ')}: {value}" for field, value in change_request.requested_changes().items()]
    message = change_request.message or "(no message)"
    return "Please change our registered company details to:\n" + "\n".join(lines) + f"\n\nMessage: {message}"


# --- Company-details change requests ----------------------------------------------------------


@transaction.atomic
def request_company_details_change(
    *, acting_user: User, changes: dict[str, str], message: str, files: Sequence[UploadedFile] = ()
) -> CompanyDetailsChangeRequest:
    """Stored for support as a company-details ticket (with any supporting documents)."""
    assert acting_user.organisation is not None
    changes = {k: v.strip() for k, v in changes.items() if v and v.strip()}
    if not changes:
        raise ValidationError("Fill in at least one detail you want changed.", code="empty")
    change_request = CompanyDetailsChangeRequest.objects.create(
        organisation=acting_user.organisation, requested_by=acting_user, message=message.strip(), **changes
    )
    record(
        action="company.change_requested",
        actor=acting_user,
        target=acting_user.organisation.name,
        fields=sorted(changes),
    )
    open_ticket(
        acting_user=acting_user,
        subject=f"Change of company details for {acting_user.organisation.name}",
        body=company_change_ticket_body(change_request),
        category=Category.COMPANY_DETAILS,
        files=files,
        change_request=change_request,
    )
    return change_request


@transaction.atomic
def apply_change_request(*, change_request: CompanyDetailsChangeRequest, acting_user: User) -> Organisation:
    change_request = CompanyDetailsChangeRequest.objects.select_for_update().get(pk=change_request.pk)
    if change_request.status != ChangeRequestStatus.OPEN:
        raise ValidationError("This request has already been handled.", code="handled")
    org = accounts.update_company_details(
        organisation=change_request.organisation, acting_user=acting_user, **change_request.requested_changes()
    )
    change_request.status = ChangeRequestStatus.APPLIED
    change_request.handled_by = acting_user
    change_request.handled_at = timezone.now()
    change_request.save(update_fields=["status", "handled_by", "handled_at"])
    close_for_change_request(change_request=change_request, acting_user=acting_user, applied=True)
    return org


@transaction.atomic
def reject_change_request(*, change_request: CompanyDetailsChangeRequest, acting_user: User) -> None:
    change_request.status = ChangeRequestStatus.REJECTED
    change_request.handled_by = acting_user
    change_request.handled_at = timezone.now()
    change_request.save(update_fields=["status", "handled_by", "handled_at"])
    close_for_change_request(change_request=change_request, acting_user=acting_user, applied=False)
