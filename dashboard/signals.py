"""Bump the versions of the home page's cached account cards when what they show changes.

Receivers on the models, not calls in the services, so that every writer counts: the portal,
the support admin, django-otp itself (a failed code raises a device's failure count, which is
how a token shows LOCKED). Writes that bypass the ORM's save/delete (bulk SQL) are caught by the
fragments' 60-second timeout.
"""

from typing import Any

from django.apps import apps
from django.db.models.signals import post_delete, post_save
from django_otp.models import Device

from accounts.models import CompanyDetailsChangeRequest, Organisation, User
from common import fragments
from dashboard import summary
from tokens.models import Token, TokenType


def _user_changed(sender: type, instance: User, **kwargs: Any) -> None:
    names = [summary.account_version(instance.pk)]
    if instance.organisation_id is not None:  # colleagues see the name on requests with support
        names.append(summary.organisation_version(instance.organisation_id))
    fragments.bump(names)


def _organisation_changed(sender: type, instance: Organisation, **kwargs: Any) -> None:
    fragments.bump([summary.organisation_version(instance.pk)])


def _change_request_changed(sender: type, instance: CompanyDetailsChangeRequest, **kwargs: Any) -> None:
    fragments.bump([summary.organisation_version(instance.organisation_id)])


def _factor_changed(sender: type, instance: Token | Device, **kwargs: Any) -> None:
    if instance.user_id is not None:
        fragments.bump([summary.account_version(instance.user_id)])


def _token_type_changed(sender: type, instance: TokenType, **kwargs: Any) -> None:
    fragments.bump([summary.TOKEN_TYPES_VERSION])


def connect() -> None:
    for signal in (post_save, post_delete):
        signal.connect(_user_changed, sender=User, dispatch_uid=f"home-user-{signal}")
        signal.connect(_organisation_changed, sender=Organisation, dispatch_uid=f"home-org-{signal}")
        signal.connect(
            _change_request_changed, sender=CompanyDetailsChangeRequest, dispatch_uid=f"home-change-{signal}"
        )
        signal.connect(_factor_changed, sender=Token, dispatch_uid=f"home-token-{signal}")
        signal.connect(_token_type_changed, sender=TokenType, dispatch_uid=f"home-token-type-{signal}")
        for model in apps.get_models():
            if issubclass(model, Device):
                signal.connect(_factor_changed, sender=model, dispatch_uid=f"home-{model._meta.label}-{signal}")
