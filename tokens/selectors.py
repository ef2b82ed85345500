"""Reads of tokens, always scoped to the acting user's organisation."""

from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from accounts.permissions import MANAGE_OTHERS_TOKENS, may
from tokens import kinds
from tokens.models import PasskeyDevice, Token, TokenType


def code_senders(*, user: User) -> QuerySet[Token]:
    """The user's usable tokens that receive codes (SMS, e-mail), for the login page."""
    return (
        Token.objects.filter(user=user, enabled=True, kind__in=kinds.SENDERS)
        .unexpired()
        .select_related("user")
        .prefetch_related("device")
    )


def tokens_of(*, user: User) -> list[Token]:
    return list(Token.objects.filter(user=user).select_related("user").prefetch_related("device"))


def type_names() -> dict[str, str]:
    names: dict[str, str] = {spec.kind: spec.label for spec in kinds.KINDS}
    names.update(TokenType.objects.values_list("kind", "display_name"))
    return names


def can_manage_tokens_of(*, actor: User, owner: User) -> bool:
    return actor.pk == owner.pk or may(actor, MANAGE_OTHERS_TOKENS, organisation_id=owner.organisation_id)


def access_token(*, actor: User, token_id: int) -> Token:
    """A token the actor may manage (their own, or any of their organisation's as admin), or 404."""
    if actor.organisation_id is None:
        raise Http404
    token = (
        Token.objects.select_related("user")
        .prefetch_related("device")
        .filter(pk=token_id, user__organisation_id=actor.organisation_id)
        .first()
    )
    if token is None or not can_manage_tokens_of(actor=actor, owner=token.user):
        raise Http404
    return token


def has_fallback_phone(user: User) -> bool:
    """Whether the user has a text-message factor (the fallback number of account set-up)."""
    return Token.objects.filter(user=user, kind=kinds.SMS.kind).exists()


def passkeys_of(*, user: User) -> QuerySet[PasskeyDevice]:
    """The devices of every passkey the user has (a browser is told not to make a second one)."""
    return PasskeyDevice.objects.filter(user=user, confirmed=True)
