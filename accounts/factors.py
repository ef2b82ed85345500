"""A user's second factors as the accounts app sees them: a port the tokens app fills at ready().

accounts sits below tokens (pyproject.toml, [tool.importlinter]): it never imports tokens. Yet
removing a user or resetting their factors deletes the factors, and the onboarding steps ask
whether the user has one. Those questions go through this port; tokens registers its answers in
``TokensConfig.ready()`` (tokens/apps.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from accounts.models import User


class SecondFactors(Protocol):
    def has_factor(self, user: User) -> bool:
        """Whether the login must ask this user for a second factor."""
        ...

    def has_fallback_phone(self, user: User) -> bool:
        """Whether the user has a text-message factor (a fallback number)."""
        ...

    def delete_all(self, *, user: User) -> None:
        """Delete every factor of the user, inside the caller's transaction."""
        ...


_registered: SecondFactors | None = None


def register(factors: SecondFactors) -> None:
    global _registered
    _registered = factors


def second_factors() -> SecondFactors:
    if _registered is None:
        raise ImproperlyConfigured("No second factors registered: is the tokens app in INSTALLED_APPS?")
    return _registered
