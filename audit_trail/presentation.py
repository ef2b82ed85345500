"""One audit event as people read it, the same on the page and in the CSV export.

Times are UTC: the CSV has them to the second (``time``); the page shows ``at`` in the portal's
one date-time format (portal/formats), with that exact second in its title. Actions read as
labels (audit/actions.py); "Account" is whose account or token the event touched, by the email
it had then.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from audit.actions import label
from audit.models import AuditEvent

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# The portal acting on its own (a periodic task) and someone not logged in (a login page) are both
# stored without an actor; the address of the request tells them apart.
NOBODY_LOGGED_IN = "Not logged in"
THE_PORTAL = "The portal (automatic)"


@dataclass(frozen=True)
class EventRow:
    at: datetime
    time: str
    who: str
    what: str
    on: str
    account: str
    ip_address: str

    def cells(self) -> list[str]:
        return [self.time, self.who, self.what, self.on, self.account, self.ip_address]


CSV_HEADER = ["time (UTC)", "who", "action", "target", "account", "ip_address"]


def _who(event: AuditEvent) -> str:
    if event.actor_id is not None or event.actor_label != "system":
        return event.actor_label
    return NOBODY_LOGGED_IN if event.ip_address else THE_PORTAL


def _account(event: AuditEvent) -> str:
    if event.subject_label:
        return event.subject_label
    # Events recorded before the label was kept: the account as it is now, if it still exists.
    return event.subject_user.email if event.subject_user is not None else ""


def present(event: AuditEvent) -> EventRow:
    """``event`` needs its ``subject_user`` loaded with it (select_related) for older rows."""
    return EventRow(
        at=event.at,
        time=event.at.astimezone(UTC).strftime(TIME_FORMAT),
        who=_who(event),
        what=label(event.action),
        on=event.target_label,
        account=_account(event),
        ip_address=event.ip_address or "",
    )
