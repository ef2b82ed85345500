"""Every write of the accounts app: organisations, users, onboarding and profile changes."""

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.urls import reverse
from django.utils import timezone

from accounts import selectors
from accounts.factors import second_factors
from accounts.models import (
    DEFAULT_PERMISSIONS,
    Organisation,
    PortalPermission,
    Role,
    User,
    normalise_email,
)
from accounts.roles import support_group
from audit.services import record
from common.mail import deliver_templated_email, portal_url

# Letters and digits that cannot be confused with each other when read from an email.
TEMPORARY_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
TEMPORARY_PASSWORD_LENGTH = 16


class TemporaryPasswordExpired(ValidationError):
    pass


# --- Organisations ----------------------------------------------------------------------------


def lock_organisation(organisation_id: int) -> Organisation:
    """Lock the organisation's row until the transaction ends, and return it fresh.

    Every rule that counts an organisation's rows (its users and admins, whitelist entries, active
    extracts) is checked under this lock, so two requests at once cannot both pass it. Writers
    lock the organisation first, then its other rows: one order, no deadlocks.
    """
    return Organisation.objects.select_for_update().get(pk=organisation_id)


def user_limit_message(organisation: Organisation) -> str:
    """What an admin reads at the user limit, on the add page and when an add is refused."""
    return (
        f"{organisation.name} already has {organisation.user_limit} active users, the most "
        "its plan allows. Deactivate or remove a user first, or ask support to raise the limit."
    )


def check_user_limit(organisation: Organisation) -> None:
    """Raise if the organisation has no room for one more active user (a ValidationError saying so)."""
    if selectors.at_user_limit(organisation=organisation):
        raise ValidationError(user_limit_message(organisation), code="user_limit")


def check_keeps_an_admin(user: User) -> None:
    """Raise if taking ``user`` out of the active admins would leave the organisation with none."""
    if not (user.role == Role.ADMIN and user.is_active) or user.organisation_id is None:
        return
    if not selectors.active_admins(organisation_id=user.organisation_id).exclude(pk=user.pk).exists():
        raise ValidationError(
            f"{user.full_name or user.email} is the organisation's only active admin. "
            "Make another user an admin first.",
            code="last_admin",
        )


def mark_organisation_verified(*, organisation: Organisation, verified: bool, acting_user: User) -> Organisation:
    organisation.is_verified = verified
    organisation.verified_at = timezone.now() if verified else None
    organisation.verified_by = acting_user if verified else None
    organisation.save(update_fields=["is_verified", "verified_at", "verified_by"])
    record(
        action="organisation.verified" if verified else "organisation.unverified",
        actor=acting_user,
        organisation=organisation,
        target=organisation.name,
    )
    return organisation


@transaction.atomic
def update_company_details(
    *,
    organisation: Organisation,
    acting_user: User,
    name: str | None = None,
    registration_number: str | None = None,
    vat_number: str | None = None,
    address: str | None = None,
    country: str | None = None,
) -> Organisation:
    """Change the registered company details (support does, from a customer's request).

    Only the details given (not None) change; the organisation row is locked while they are written.
    """
    org = lock_organisation(organisation.pk)
    changes = {
        "name": name,
        "registration_number": registration_number,
        "vat_number": vat_number,
        "address": address,
        "country": country,
    }
    for field, value in changes.items():
        if value is not None:
            setattr(org, field, value)
    org.save()
    record(action="company.details_changed", actor=acting_user, organisation=org, target=org.name)
    return org


# --- Users ------------------------------------------------------------------------------------


def _set_permissions(user: User, permissions: Iterable[PortalPermission]) -> None:
    codes = [PortalPermission(p).value for p in permissions]
    portal_perms = Permission.objects.filter(
        content_type__app_label="accounts", codename__in=[p.value for p in PortalPermission]
    )
    keep = [p for p in portal_perms if p.codename in codes]
    user.user_permissions.remove(*[p for p in portal_perms if p.codename not in codes])
    user.user_permissions.add(*keep)


@transaction.atomic
def add_user(
    *,
    organisation: Organisation,
    email: str,
    full_name: str,
    role: Role,
    permissions: Iterable[PortalPermission] = DEFAULT_PERMISSIONS,
    acting_user: User | None,
) -> User:
    """Add a user to an organisation within its user limit and send the welcome email.

    Without ``permissions`` a user gets ``DEFAULT_PERMISSIONS`` (invoices); pass ``()`` for none.
    """
    org = lock_organisation(organisation.pk)
    check_user_limit(org)
    email = normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "This email address already belongs to a portal account."}, code="duplicate")
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, full_name=full_name.strip(), organisation=org, role=role)
    except IntegrityError as exc:  # the same address added at the same moment elsewhere
        raise ValidationError(
            {"email": "This email address already belongs to a portal account."}, code="duplicate"
        ) from exc
    if role == Role.USER:
        _set_permissions(user, permissions)
    record(
        action="user.added",
        actor=acting_user,
        organisation=org,
        subject_user=user,
        target=user.email,
        role=role,
        permissions=sorted(PortalPermission(p).value for p in permissions) if role == Role.USER else [],
    )
    transaction.on_commit(lambda: _queue_welcome_email(user.pk))
    return user


@transaction.atomic
def add_support_user(*, email: str, full_name: str, acting_user: User | None) -> User:
    """A support staff member: no organisation, the Support group's permissions, admin access after
    setting up a second factor."""
    email = normalise_email(email)
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": "This email address already belongs to a portal account."}, code="duplicate")
    user = User.objects.create_user(email=email, full_name=full_name.strip(), is_staff=True)
    user.groups.add(support_group())
    record(action="user.added_support_staff", actor=acting_user, subject_user=user, target=user.email)
    transaction.on_commit(lambda: _queue_welcome_email(user.pk))
    return user


def _queue_welcome_email(user_id: int, *, after_reset: bool = False) -> None:
    from accounts.tasks import send_welcome_email

    send_welcome_email.delay(user_id, after_reset=after_reset)


def can_resend_welcome(user: User) -> bool:
    return user.is_active and not user.has_usable_password()


def resend_welcome_email(*, user: User, acting_user: User | None) -> None:
    if not can_resend_welcome(user):
        raise ValidationError(
            "This user has already chosen a password; they can use 'Forgot password' instead.",
            code="already_set_up",
        )
    record(action="user.welcome_resent", actor=acting_user, subject_user=user, target=user.email)
    transaction.on_commit(lambda: _queue_welcome_email(user.pk))


def issue_temporary_password(*, user: User) -> str:
    """Store a new temporary password (hashed, valid for the configured hours) and return it."""
    password = "".join(secrets.choice(TEMPORARY_PASSWORD_ALPHABET) for _ in range(TEMPORARY_PASSWORD_LENGTH))
    user.temporary_password = make_password(password)
    user.temporary_password_expires_at = timezone.now() + timedelta(hours=settings.TEMPORARY_PASSWORD_VALID_HOURS)
    user.save(update_fields=["temporary_password", "temporary_password_expires_at"])
    return password


def send_welcome_email(*, user: User, after_reset: bool = False) -> None:
    password = issue_temporary_password(user=user)
    deliver_templated_email(
        template="accounts/email/welcome",
        subject="Your account on the API platform portal",
        context={
            "user": user,
            "after_reset": after_reset,
            "temporary_password": password,
            "valid_hours": settings.TEMPORARY_PASSWORD_VALID_HOURS,
            "login_url": portal_url(reverse("login")),
        },
        to=user.email,
    )


# A spent temporary password's hash, kept a while in the shared cache (Redis) so that trying it again
# says "already used" and what to do instead of "not correct". Nothing else reads it.
SPENT_TEMPORARY_PASSWORD_KEY = "accounts:spent-temporary-password:{pk}"
SPENT_TEMPORARY_PASSWORD_KEPT = timedelta(days=14)


def spent_temporary_password_message(*, email: str, password: str) -> str | None:
    """What to tell someone who logs in with a temporary password they already used, or None."""
    user = User.objects.filter(email__iexact=normalise_email(email), is_active=True).first()
    if user is None:
        return None
    spent = cache.get(SPENT_TEMPORARY_PASSWORD_KEY.format(pk=user.pk))
    if not spent or not check_password(password, spent):
        return None
    if user.has_usable_password():
        then = "Log in with the password you chose at set-up, or use “Forgot your password?” to choose a new one."
    else:
        then = "Ask your organisation's admin or support to send you a new welcome email with a new one."
    return f"This temporary password was already used: it works only once. {then}"


def authenticate_with_temporary_password(*, email: str, password: str) -> User | None:
    """Check a temporary password and spend it; raise TemporaryPasswordExpired when too old."""
    with transaction.atomic():
        user = (
            User.objects.select_for_update()
            .filter(email__iexact=normalise_email(email), is_active=True)
            .exclude(temporary_password="")
            .first()
        )
        if user is None or not check_password(password, user.temporary_password):
            return None
        if user.temporary_password_expired():
            raise TemporaryPasswordExpired(
                "Your temporary password has expired. Ask your organisation's admin or support to send you a new one.",
                code="temporary_password_expired",
            )
        # Remembered at once, not on commit: if this transaction rolled back, the password would
        # still log in (the backends run before the message is looked up), so no one is misled.
        cache.set(
            SPENT_TEMPORARY_PASSWORD_KEY.format(pk=user.pk),
            user.temporary_password,
            SPENT_TEMPORARY_PASSWORD_KEPT.total_seconds(),
        )
        user.temporary_password = ""
        user.temporary_password_expires_at = None
        user.must_change_password = True
        user.save(update_fields=["temporary_password", "temporary_password_expires_at", "must_change_password"])
        record(action="login.temporary_password", actor=user)
        return user


def _lock_users_organisation(user: User) -> Organisation | None:
    """Lock the user's organisation (support staff have none) and reload the user under the lock."""
    organisation = lock_organisation(user.organisation_id) if user.organisation_id is not None else None
    user.refresh_from_db()
    return organisation


def _portal_permissions_held(user: User) -> set[PortalPermission]:
    codes = user.user_permissions.filter(
        content_type__app_label="accounts", codename__in=PortalPermission.values
    ).values_list("codename", flat=True)
    return {PortalPermission(code) for code in codes}


@transaction.atomic
def change_role_and_permissions(
    *, user: User, role: Role, permissions: Iterable[PortalPermission], acting_user: User
) -> User:
    _lock_users_organisation(user)
    if role != Role.ADMIN:
        check_keeps_an_admin(user)
    user.role = role
    user.save(update_fields=["role"])
    granted = [] if role == Role.ADMIN else sorted(PortalPermission(p).value for p in permissions)
    _set_permissions(user, [PortalPermission(p) for p in granted])
    record(
        action="user.role_changed",
        actor=acting_user,
        subject_user=user,
        target=user.email,
        role=role,
        permissions=granted,
    )
    return user


def _end_sessions(user: User) -> None:
    user.session_epoch += 1


def check_may_deactivate(*, user: User, acting_user: User) -> None:
    """Raise unless ``acting_user`` may deactivate ``user``: never oneself, never the last active admin."""
    if user.pk == acting_user.pk:
        raise ValidationError("You cannot deactivate your own account.", code="self")
    check_keeps_an_admin(user)


@transaction.atomic
def deactivate_user(*, user: User, acting_user: User) -> User:
    _lock_users_organisation(user)
    check_may_deactivate(user=user, acting_user=acting_user)
    user.is_active = False
    _end_sessions(user)
    user.save(update_fields=["is_active", "session_epoch"])
    record(action="user.deactivated", actor=acting_user, subject_user=user, target=user.email)
    return user


@transaction.atomic
def reactivate_user(*, user: User, acting_user: User) -> User:
    organisation = _lock_users_organisation(user)
    if user.is_active:
        return user
    if organisation is not None:
        check_user_limit(organisation)
    user.is_active = True
    user.save(update_fields=["is_active"])
    record(action="user.reactivated", actor=acting_user, subject_user=user, target=user.email)
    return user


@transaction.atomic
def change_access(
    *, user: User, role: Role, is_active: bool, permissions: Iterable[PortalPermission], acting_user: User
) -> User:
    """Role, portal permissions and active flag in one go (the support admin's user form).

    Each change goes through its own service above, so it keeps its rule, lock and audit event;
    what is unchanged is neither written nor recorded. Reactivation comes first (it needs room
    under the user limit) and deactivation last (the role change may need the user active).
    """
    wanted = {PortalPermission(p) for p in permissions}
    if is_active and not user.is_active:
        reactivate_user(user=user, acting_user=acting_user)
    if role != user.role or (role != Role.ADMIN and wanted != _portal_permissions_held(user)):
        change_role_and_permissions(user=user, role=role, permissions=wanted, acting_user=acting_user)
    if not is_active and user.is_active:
        deactivate_user(user=user, acting_user=acting_user)
    return user


@transaction.atomic
def remove_user(*, user: User, acting_user: User) -> None:
    assert user.organisation_id is not None
    if user.pk == acting_user.pk:
        raise ValidationError("You cannot remove your own account.", code="self")
    lock_organisation(user.organisation_id)
    user.refresh_from_db()
    check_keeps_an_admin(user)
    second_factors().delete_all(user=user)
    record(action="user.removed", actor=acting_user, organisation=user.organisation, target=user.email)
    try:
        user.delete()
    except ProtectedError as exc:  # records that must keep their author, e.g. a change request
        raise ValidationError(
            f"{user.full_name or user.email} has requests with support on record, so the account "
            "cannot be removed. Deactivate it instead.",
            code="protected",
        ) from exc


@transaction.atomic
def reset_second_factors(*, user: User, acting_user: User) -> None:
    """Remove every factor and restart account set-up through a new temporary password.

    The user's own password stops working: set-up without a second factor must start from the
    emailed temporary password, so a leaked password alone can never enrol a new factor.
    Ends every session of the user.
    """
    if user.pk == acting_user.pk:
        raise ValidationError(
            "You cannot reset your own second factors. Add a new token from your Tokens page first, "
            "or ask another admin or support.",
            code="self",
        )
    second_factors().delete_all(user=user)
    record(action="user.factors_reset", actor=acting_user, subject_user=user, target=user.email)
    user.onboarded_at = None
    user.fallback_phone_reminder = False
    user.set_unusable_password()
    _end_sessions(user)
    user.save(update_fields=["onboarded_at", "fallback_phone_reminder", "password", "session_epoch"])
    transaction.on_commit(lambda: _queue_welcome_email(user.pk, after_reset=True))


# --- Onboarding -------------------------------------------------------------------------------


def next_onboarding_step(user: User) -> str | None:
    """The URL name of the setup step the user must complete next, or None when done."""
    if user.must_change_password or not user.has_usable_password():
        return "onboarding-password"
    if not second_factors().has_factor(user):
        # Only during set-up: a user who finished it and has lost every factor since cannot add
        # one without a second factor; an admin resets their factors (a new temporary password).
        return "onboarding-authenticator" if user.onboarded_at is None else None
    if user.onboarded_at is None:
        return "onboarding-phone"
    return None


def postpone_fallback_phone(*, user: User) -> None:
    user.fallback_phone_reminder = True
    user.onboarded_at = user.onboarded_at or timezone.now()
    user.save(update_fields=["fallback_phone_reminder", "onboarded_at"])


def has_fallback_phone(user: User) -> bool:
    return second_factors().has_fallback_phone(user)


# --- Profile ----------------------------------------------------------------------------------


def update_contact_numbers(*, user: User, telephone: str, mobile: str) -> User:
    user.telephone = telephone
    user.mobile = mobile
    user.save(update_fields=["telephone", "mobile"])
    record(action="profile.numbers_changed", actor=user, subject_user=user, target=user.email)
    return user


# --- Password reset ---------------------------------------------------------------------------


def record_password_reset_requested(*, user: User) -> None:
    """A reset link was emailed for ``user``'s account. Nobody is logged in: the trail names no
    actor, only the account and the address the request came from."""
    record(action="password.reset_requested", actor=None, subject_user=user, target=user.email)


@transaction.atomic
def reset_password(*, user: User, password: str) -> User:
    """The password chosen through an emailed reset link (the link's token is already checked)."""
    user.set_password(password)
    user.save()
    record(action="password.reset", actor=user, subject_user=user, target=user.email)
    return user
