from collections.abc import Iterable

from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User
from accounts.permissions import SEE_ALL_TICKETS, may
from support.models import Attachment, ResourceLink, Ticket


def tickets_for(*, user: User) -> QuerySet[Ticket]:
    """Admins see all of their organisation's tickets; others those they opened or are included in."""
    if user.organisation_id is None:
        return Ticket.objects.none()
    tickets = Ticket.objects.filter(organisation_id=user.organisation_id)
    if not may(user, SEE_ALL_TICKETS):
        tickets = tickets.filter(Q(opened_by=user) | Q(participants=user)).distinct()
    return tickets.select_related("opened_by").order_by("-updated_at", "-id")


def tickets_about_errors(*, user: User, error_ids: Iterable[int]) -> list[tuple[int, int]]:
    """(error-log row id, ticket id) of the tickets ``user`` may read about these rows, oldest ticket first."""
    rows = tickets_for(user=user).filter(error_log_id__in=list(error_ids)).order_by("id")
    return [(error_id, ticket_id) for error_id, ticket_id in rows.values_list("error_log_id", "id")]


def access_ticket(*, user: User, ticket_id: int) -> Ticket:
    ticket = (
        tickets_for(user=user)
        # A LEFT JOIN: the row comes back as None once the error log's retention deleted it.
        .select_related("assigned_to", "organisation", "error_log")
        .prefetch_related("participants", "comments__author", "comments__attachments", "attachments")
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None:
        raise Http404
    return ticket


def access_attachment(*, user: User, ticket_id: int, attachment_id: int) -> Attachment:
    ticket = access_ticket(user=user, ticket_id=ticket_id)
    attachment = Attachment.objects.filter(ticket=ticket, pk=attachment_id).first()
    if attachment is None:
        raise Http404
    return attachment


def resource_groups() -> dict[str, list[ResourceLink]]:
    groups: dict[str, list[ResourceLink]] = {}
    for link in ResourceLink.objects.all():
        groups.setdefault(link.group, []).append(link)
    return groups
