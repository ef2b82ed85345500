"""The writes of account set-up that enrol a factor: the fallback number (SPEC §2)."""

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from tokens import kinds
from tokens import services as tokens
from tokens.models import SmsDevice


def start_fallback_phone(*, user: User, raw_number: str) -> SmsDevice:
    """Register an unconfirmed fallback number and text it a confirmation code."""
    return tokens.start_destination(user=user, spec=kinds.SMS, destination=raw_number, acting_user=user)


@transaction.atomic
def confirm_fallback_phone(*, user: User, device: SmsDevice, token: str) -> bool:
    confirmed = tokens.confirm_destination(
        user=user, device=device, code=token, description="Fallback number", acting_user=user
    )
    if confirmed is None:
        return False
    user.mobile = device.number
    user.fallback_phone_reminder = False
    user.onboarded_at = user.onboarded_at or timezone.now()
    user.save(update_fields=["mobile", "fallback_phone_reminder", "onboarded_at"])
    return True
