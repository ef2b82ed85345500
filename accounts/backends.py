from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied, AxesBackendRequestParameterRequired
from axes.helpers import get_credentials, toggleable
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts import lockout, services
from accounts.models import User, normalise_email


def axes_username(request: HttpRequest | None, credentials: dict[str, Any] | None = None) -> str | None:
    """The login email as django-axes counts it (``AXES_USERNAME_CALLABLE``).

    Lower-cased: changing the case of an address must not start a fresh count.
    """
    credentials = credentials or {}
    raw = credentials.get("username")
    if not raw and request is not None:
        raw = request.POST.get("username")
    return normalise_email(str(raw)) if raw else None


class LoginGateBackend(AxesStandaloneBackend):
    """First in ``AUTHENTICATION_BACKENDS``: refuses a login under a lock before any password is
    checked, and holds this check's place under the limits (``accounts.lockout``)."""

    @toggleable
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            raise AxesBackendRequestParameterRequired("The login gate needs the request.")
        reason = lockout.admit(request, get_credentials(username=username, password=password, **kwargs))
        if reason is None:
            return None
        # Read by axes (no failure recorded, the lockout page), the audit trail and the page.
        request.axes_locked_out = True  # type: ignore[attr-defined]
        setattr(request, lockout.REASON, reason)
        raise AxesBackendPermissionDenied(f"Login refused: the {reason} is locked.")


class EmailBackend(ModelBackend):
    """Email + password, the email matched case-insensitively."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if username is None or password is None:
            return None
        user = User.objects.filter(email__iexact=username.strip()).first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            lockout.release(request)  # a right password: not a failure
            return user
        return None

    def get_user(self, user_id: Any) -> User | None:
        # Every portal page shows the organisation's name: load it with the user, in one query.
        user = User.objects.select_related("organisation").filter(pk=user_id).first()
        return user if user is not None and self.user_can_authenticate(user) else None


class TemporaryPasswordBackend(ModelBackend):
    """The one-time password from the welcome email; spent on first successful use."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if not username or not password:
            return None
        try:
            user = services.authenticate_with_temporary_password(email=username, password=password)
        except Exception:
            lockout.release(request)  # right but expired: no failure is recorded
            raise
        if user is not None:
            lockout.release(request)
        return user
