"""Tickets about failed API calls, as the error log shows them (dashboard/error_tickets.py, the port).

Registered in SupportConfig.ready(): each error-log row links to "Ask support" (a ticket prefilled
from the row) and to the tickets about it that the viewer may read; the admin's error-log page
links to every ticket about the row.
"""

from collections.abc import Iterable

from django.urls import reverse

from accounts.models import User
from dashboard import error_tickets
from dashboard.error_tickets import TicketLink
from support import selectors
from support.models import Ticket


class ErrorTicketLinks:
    def ask_url(self, error_id: int) -> str:
        return reverse("ticket-new-for-error", args=[error_id])

    def for_rows(self, *, user: User, error_ids: Iterable[int]) -> dict[int, list[TicketLink]]:
        links: dict[int, list[TicketLink]] = {}
        for error_id, ticket_id in selectors.tickets_about_errors(user=user, error_ids=error_ids):
            links.setdefault(error_id, []).append(
                TicketLink(label=f"Ticket #{ticket_id}", url=reverse("ticket-detail", args=[ticket_id]))
            )
        return links

    def for_admin(self, *, error_id: int) -> list[TicketLink]:
        ids = Ticket.objects.filter(error_log_id=error_id).order_by("id").values_list("id", flat=True)
        return [TicketLink(label=f"Ticket #{pk}", url=reverse("admin:support_ticket_change", args=[pk])) for pk in ids]


def register() -> None:
    error_tickets.register(ErrorTicketLinks())
