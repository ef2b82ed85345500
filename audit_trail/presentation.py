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


# The columns an event is presented from, as the CSV export reads them (values_list: no model per row).
FIELDS = (
    "at",
    "actor_id",
    "actor_label",
    "action",
    "target_label",
    "subject_label",
    "subject_user__email",
    "ip_address",
)


def present_values(
    at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_label: str,
    subject_label: str,
    subject_email: str | None,
    ip_address: str | None,
) -> EventRow:
    """One event from its FIELDS, in that order."""
    if actor_id is not None or actor_label != "system":
        who = actor_label
    else:
        # The portal acting on its own and someone not logged in: the request's address tells them apart.
        who = NOBODY_LOGGED_IN if ip_address else THE_PORTAL
    return EventRow(
        at=at,
        time=at.astimezone(UTC).strftime(TIME_FORMAT),
        who=who,
        what=label(action),
        on=target_label,
        # Events recorded before the label was kept: the account as it is now, if it still exists.
        account=subject_label or subject_email or "",
        ip_address=ip_address or "",
    )


def present(event: AuditEvent) -> EventRow:
    """``event`` needs its ``subject_user`` loaded with it (select_related) for older rows."""
    subject = event.subject_user if not event.subject_label and event.subject_user_id is not None else None
    return present_values(
        event.at,
        event.actor_id,
        event.actor_label,
        event.action,
        event.target_label,
        event.subject_label,
        subject.email if subject is not None else None,
        event.ip_address,
    )
