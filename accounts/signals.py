"""Logins and failed logins go into the trail; the password never does.

The client's address comes from the audit context (audit/context.py), as for every other event.
"""

from typing import Any

from django.contrib.auth.signals import user_logged_out, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.lockout import REASON
from accounts.models import User, normalise_email
from audit.services import record


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    email = normalise_email(str(credentials.get("username") or ""))
    known = User.objects.filter(email__iexact=email).select_related("organisation").first() if email else None
    # A signed-in user re-authenticating is the actor; at the login page nobody is yet.
    signed_in = getattr(request, "user", None)
    actor = signed_in if isinstance(signed_in, User) and signed_in.is_authenticated else None
    # Refused by a lock before any password check: not a wrong password (accounts.lockout).
    reason = getattr(request, REASON, None)
    record(
        action="login.locked_out" if reason else "login.failed",
        actor=actor,
        organisation=known.organisation if known else None,
        subject_user=known,
        target=email[:254],
        **({"reason": reason} if reason else {}),
    )


@receiver(user_logged_out)
def _logged_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        record(action="logout", actor=user)
