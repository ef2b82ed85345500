from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from accounts.models import User


class TokenFactors:
    """What accounts asks about a user's factors (accounts/factors.py), answered by this app."""

    def has_factor(self, user: "User") -> bool:
        from tokens.services import has_factor

        return has_factor(user)

    def has_fallback_phone(self, user: "User") -> bool:
        from tokens.selectors import has_fallback_phone

        return has_fallback_phone(user)

    def delete_all(self, *, user: "User") -> None:
        from tokens.services import delete_all_tokens

        delete_all_tokens(user=user)


class TokensConfig(AppConfig):
    name = "tokens"
    verbose_name = "Second-factor tokens"

    def ready(self) -> None:
        # accounts asks about factors through its port; it never imports tokens.
        from accounts import factors

        factors.register(TokenFactors())
