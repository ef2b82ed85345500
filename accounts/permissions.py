"""The portal's one answer to "may this user do this?": named permissions, their refusals, the
view decorator and what templates ask.

Each permission says who holds it -- an organisation's admins always; a user when an admin has
granted them the matching ``PortalPermission`` -- and the message a refused user reads. Views use
``@requires(P)`` (or ``require(user, P)`` where the object must be scoped first, so another
organisation's id is a 404 before it is a 403), services call ``require`` too, and templates ask
``{% if may.view_billing %}`` (the ``may`` context processor below). Rules about one object (who
may delete a file) stay with their app and build on ``may``.

Support staff are not asked here: they work in the admin, which has Django's own permissions.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseBase

from accounts.models import PortalPermission, User


@dataclass(frozen=True)
class Permission:
    name: str
    refusal: str
    # The grant that gives it to a user; None: the organisation's admins only.
    granted_by: PortalPermission | None = None


MANAGE_USERS = Permission("manage_users", "Only your organisation's admins can manage users.")
READ_AUDIT_TRAIL = Permission("read_audit_trail", "Only your organisation's admins can read the audit trail.")
# An extract is a copy of every vault token of the organisation: admins see, request and schedule them.
TOKEN_EXTRACTS = Permission(
    "token_extracts", "Only your organisation's admins can request token extracts and schedule them."
)
# The public key extracts are encrypted to decides who can read them: admins only, like the extracts.
EXTRACT_KEY = Permission(
    "extract_key", "Only your organisation's admins can set the key token extracts are encrypted to."
)
# Everyone sees the tickets they opened or are included in; this is all of the organisation's.
SEE_ALL_TICKETS = Permission("see_all_tickets", "Only your organisation's admins see all of its tickets.")
MANAGE_OTHERS_TOKENS = Permission(
    "manage_others_tokens", "Only your organisation's admins can manage other users' tokens."
)
UNLOCK_TOKENS = Permission("unlock_tokens", "Only your organisation's admins can unlock a token.")
MANAGE_WHITELIST = Permission(
    "manage_whitelist",
    "Only your organisation's admins, and users they allow to manage the whitelist, can change it.",
    granted_by=PortalPermission.MANAGE_WHITELIST,
)
VIEW_BILLING = Permission(
    "view_billing",
    "Only your organisation's admins, and users they allow to view billing, can see invoices.",
    granted_by=PortalPermission.VIEW_BILLING,
)
MANAGE_FILES = Permission(
    "manage_files",
    "Only your organisation's admins, and users they allow to manage files, can manage other people's files.",
    granted_by=PortalPermission.MANAGE_FILES,
)
MANAGE_API_KEYS = Permission(
    "manage_api_keys",
    "Only your organisation's admins, and users they allow to manage API keys, can change them.",
    granted_by=PortalPermission.MANAGE_API_KEYS,
)
MANAGE_ALARMS = Permission("manage_alarms", "Only your organisation's admins can change its alarms.")

PERMISSIONS: dict[str, Permission] = {
    p.name: p
    for p in (
        MANAGE_USERS,
        READ_AUDIT_TRAIL,
        TOKEN_EXTRACTS,
        EXTRACT_KEY,
        SEE_ALL_TICKETS,
        MANAGE_OTHERS_TOKENS,
        UNLOCK_TOKENS,
        MANAGE_WHITELIST,
        VIEW_BILLING,
        MANAGE_FILES,
        MANAGE_API_KEYS,
        MANAGE_ALARMS,
    )
}


def may(user: object, permission: Permission, *, organisation_id: int | None = None) -> bool:
    """Whether ``user`` holds ``permission`` in their organisation (or, given, in that one only)."""
    if not isinstance(user, User) or not user.is_active or user.organisation_id is None:
        return False
    if organisation_id is not None and user.organisation_id != organisation_id:
        return False
    if user.is_org_admin:
        return True
    return permission.granted_by is not None and user.has_portal_permission(permission.granted_by)


def require(user: object, permission: Permission, *, organisation_id: int | None = None) -> None:
    """Raise PermissionDenied with the permission's refusal unless ``user`` holds it."""
    if not may(user, permission, organisation_id=organisation_id):
        raise PermissionDenied(permission.refusal)


Response = TypeVar("Response", bound=HttpResponseBase)


def requires(permission: Permission) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """A view for holders of ``permission`` only; anyone else gets the 403 page with its refusal."""

    def decorator(view: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> Response:
            require(request.user, permission)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


class Abilities:
    """What a template asks as ``may.<permission name>``; each answer is worked out when asked."""

    def __init__(self, user: object) -> None:
        self._user = user

    def __getitem__(self, name: str) -> bool:
        return may(self._user, PERMISSIONS[name])  # an unknown name: KeyError, and tests list the names used


def abilities(request: HttpRequest) -> dict[str, Abilities]:
    """Context processor: ``may`` for the signed-in user (an anonymous one holds nothing)."""
    return {"may": Abilities(getattr(request, "user", None))}
