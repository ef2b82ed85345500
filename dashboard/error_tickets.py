"""The error log's links to support tickets: a port support fills at ready().

Each error-log row offers "Ask support" (a ticket prefilled with the row's request id, method,
code, time and message) and shows the tickets already opened about it; the admin's error-log
page shows them too. Tickets are support's, and support already depends on dashboard (a ticket
links to the row through ``dashboard.selectors.access_error``), so dashboard never imports
support: ``SupportConfig.ready()`` (support/apps.py) registers the functions below. Without them
the error log simply shows no links.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class TicketLink:
    label: str  # "Ticket #12"
    url: str


class TicketsPort(Protocol):
    def ask_url(self, error_id: int) -> str:
        """Where to open a ticket about this row."""

    def for_rows(self, *, user: "User", error_ids: Iterable[int]) -> dict[int, list[TicketLink]]:
        """The tickets ``user`` may see about each row, in one query."""

    def for_admin(self, *, error_id: int) -> list[TicketLink]:
        """Every ticket about the row, linked to its admin page."""


_port: TicketsPort | None = None


def register(port: TicketsPort) -> None:
    global _port
    _port = port


@dataclass(frozen=True)
class RowSupport:
    ask_url: str | None
    tickets: list[TicketLink]


def for_rows(*, user: "User", error_ids: list[int]) -> dict[int, RowSupport]:
    """Per row id, its "Ask support" address and the tickets about it (none without support)."""
    if _port is None:
        return {error_id: RowSupport(ask_url=None, tickets=[]) for error_id in error_ids}
    tickets = _port.for_rows(user=user, error_ids=error_ids) if error_ids else {}
    return {
        error_id: RowSupport(ask_url=_port.ask_url(error_id), tickets=tickets.get(error_id, []))
        for error_id in error_ids
    }


def for_admin(*, error_id: int) -> list[TicketLink]:
    return [] if _port is None else _port.for_admin(error_id=error_id)
