"""What every token service shares: its domain error, the audit record it writes, and deleting a
token with its device."""

from django.core.exceptions import ValidationError

from accounts.models import User
from audit.services import record
from tokens.models import Token


class TokenError(ValidationError):
    pass


def audit_label(token: Token) -> str:
    text = f"{token.get_kind_display()} #{token.pk}"
    detail = token.device_label if token.spec.audit_names_device else ""
    return f"{text} ({detail})" if detail else text


def audit(action: str, token: Token, acting_user: User) -> None:
    record(action=action, actor=acting_user, subject_user=token.user, target=audit_label(token))


def delete_with_device(token: Token) -> None:
    device = token.device
    token.delete()
    if device is not None:
        device.delete()
