from django.http import HttpRequest

from accounts.models import User


class AuthenticatedRequest(HttpRequest):
    """A request behind the login: ``user`` is the portal's user, never anonymous."""

    user: User


def acting_user(request: HttpRequest) -> User:
    """The logged-in portal user of a request that has passed the login checks."""
    user = request.user
    assert isinstance(user, User), "only called behind the login"
    return user
