"""What each recorded action is called where people read the trail (the audit page, its CSV).

The trail stores a short code (``token.enrolled``) so that filters and queries stay stable; people
read the label ("Token enrolled"). Every action a service records has a label here
(tests/audit/test_action_labels.py finds them in the source); an action recorded without one
still reads as words, never as the code.
"""

LABELS: dict[str, str] = {
    # Logging in and out.
    "login.failed": "Wrong password at login",
    "login.locked_out": "Login refused: too many wrong passwords",
    "login.password_only": "Logged in with a password to set up the account",
    "login.temporary_password": "Logged in with a temporary password",
    "login.refused_no_factor": "Login refused: no second factor left",
    "login.second_factor": "Logged in",
    "login.second_factor_failed": "Wrong code at login",
    "login.refused_token": "Login refused: token not usable",
    "logout": "Logged out",
    # Passwords.
    "password.changed": "Password chosen at account set-up",
    "password.reset_requested": "Password reset requested",
    "password.reset": "Password reset with an emailed link",
    # People and the organisation.
    "user.added": "User added",
    "user.added_support_staff": "Support staff added",
    "user.welcome_resent": "Welcome email sent again",
    "user.role_changed": "Role or permissions changed",
    "user.deactivated": "User deactivated",
    "user.reactivated": "User reactivated",
    "user.removed": "User removed",
    "user.factors_reset": "Second factors reset",
    "profile.numbers_changed": "Contact numbers changed",
    "organisation.verified": "Organisation verified by support",
    "organisation.unverified": "Organisation no longer verified",
    "company.change_requested": "Change of company details requested",
    "company.details_changed": "Company details changed",
    # Second-factor tokens.
    "token.enrolled": "Token enrolled",
    "token.changed": "Token's phone number or email address changed",
    "token.edited": "Token description changed",
    "token.enabled": "Token enabled",
    "token.disabled": "Token disabled",
    "token.deleted": "Token deleted",
    "token.locked": "Token locked after wrong codes",
    "token.clone_suspected": "Passkey refused: signature counter went back (possible copy)",
    "token.unlocked": "Token unlocked",
    "token.test_passed": "Token tested: code accepted",
    "token.test_failed": "Token tested: code refused",
    "token.resync": "Hardware token resynchronised",
    "token.resync_failed": "Hardware token resynchronisation failed",
    # Whitelist.
    "whitelist.added": "Whitelist entry added",
    "whitelist.removed": "Whitelist entry removed",
    "whitelist.changed": "Whitelist entry changed (description, owner or expiry)",
    # Files and invoices.
    "file.uploaded": "File uploaded",
    "file.downloaded": "File downloaded",
    "file.reviewed": "File reviewed by support",
    "file.deleted": "File deleted",
    "invoice.published": "Invoice published",
    "invoice.status_changed": "Invoice status changed",
    # Token extracts.
    "extract.requested": "Token extract requested",
    "extract.retried": "Token extract retried",
    "extract.restarted": "Token extract restarted after an interruption",
    "extract.done": "Token extract ready",
    "extract.failed": "Token extract failed",
    "extract.expired": "Token extract file deleted after its retention period",
    "extract.schedule_set": "Extract schedule set",
    "extract.schedule_cancelled": "Extract schedule cancelled",
    "extract.key_set": "Extract encryption key set",
    "extract.key_replaced": "Extract encryption key replaced",
    "extract.key_removed": "Extract encryption key removed",
    # Tickets (``ticket.<status>`` for each status a ticket can be set to).
    "ticket.opened": "Ticket opened",
    "ticket.commented": "Ticket answered by the customer",
    "ticket.answered": "Ticket answered by support",
    "ticket.open": "Ticket reopened",
    "ticket.waiting_customer": "Ticket waiting on the customer",
    "ticket.waiting_support": "Ticket waiting on support",
    "ticket.closed": "Ticket closed",
    "ticket.assigned": "Ticket assigned",
    "ticket.participants_changed": "Ticket participants changed",
    # Whitelist: a range that took the place of the entries it covers.
    "whitelist.replaced": "Whitelist entries replaced by a range",
    # Compliance documents.
    "file.expiry_set": "Compliance document type or expiry set",
    # Error alarms and the webhook.
    "alarm.created": "Alarm added",
    "alarm.changed": "Alarm changed",
    "alarm.deleted": "Alarm removed",
    "webhook.added": "Webhook added",
    "webhook.changed": "Webhook address changed",
    "webhook.secret_rotated": "Webhook secret rotated",
    "webhook.removed": "Webhook removed",
    "webhook.test_sent": "Webhook test event sent",
    # Customers' API keys.
    "api_key.created": "API key created",
    "api_key.rolled": "API key rolled",
    "api_key.changed": "API key changed",
    "api_key.revoked": "API key revoked",
    # The platform and the trail itself.
    "platform_key.issued": "Platform key issued",
    "platform_key.revoked": "Platform key revoked",
    "platform_key.used": "Platform key used",
    "audit.retention": "Old audit events deleted",
}


def label(action: str) -> str:
    """The words for ``action``; an unknown code is turned into words rather than shown as is."""
    known = LABELS.get(action)
    if known is not None:
        return known
    words = action.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]
