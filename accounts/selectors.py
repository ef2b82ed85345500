"""Reads shared by the accounts views, always scoped to the acting user's organisation."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import CompanyDetailsChangeRequest, Organisation, Role, User


def organisation_users(*, user: User) -> QuerySet[User]:
    if user.organisation_id is None:
        return User.objects.none()
    return (
        User.objects.filter(organisation_id=user.organisation_id)
        .prefetch_related("user_permissions")
        .order_by("role", "full_name", "email")
    )


def at_user_limit(*, organisation: Organisation, active_count: int | None = None) -> bool:
    """The user limit: at most ``user_limit`` active users, admins included.

    ``active_count`` when the caller has counted them already (the users page lists them all).
    """
    if active_count is None:
        active_count = User.objects.filter(organisation=organisation, is_active=True).count()
    return active_count >= organisation.user_limit


def active_admins(*, organisation_id: int) -> QuerySet[User]:
    """The organisation's active admins, by email: who must hear about its security changes, and
    of whom it must always keep one."""
    return User.objects.filter(organisation_id=organisation_id, role=Role.ADMIN, is_active=True).order_by("email")


def access_user(*, user: User, user_id: int) -> User:
    """Another user of the acting user's organisation, or 404."""
    if user.organisation_id is None:
        raise Http404
    try:
        return organisation_users(user=user).get(pk=user_id)
    except User.DoesNotExist as exc:
        raise Http404 from exc


def open_change_requests(*, user: User) -> QuerySet[CompanyDetailsChangeRequest]:
    if user.organisation_id is None:
        return CompanyDetailsChangeRequest.objects.none()
    return CompanyDetailsChangeRequest.objects.filter(
        organisation_id=user.organisation_id, status="open"
    ).select_related("requested_by")
