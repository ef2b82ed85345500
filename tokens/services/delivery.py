"""Sending codes to the kinds that receive them, within django-otp's cooldown and the hourly limits."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device

from accounts.models import User
from common.ratelimit import RateLimited, enforce_hourly_limit
from tokens import kinds
from tokens.models import Token
from tokens.services.base import TokenError
from tokens.services.verification import unusable_reason


@transaction.atomic
def send_code(*, device: Device, user: User) -> None:
    """Generate a code for an SMS or e-mail device and hand it to Celery, within the limits.

    The device row is locked and read again first, so of several requests at once after the
    cooldown exactly one sends; the others see its cooldown.
    """
    list(type(device).objects.select_for_update().filter(pk=device.pk).values_list("pk", flat=True))
    device.refresh_from_db()  # the caller's object then holds the code sent
    allowed, info = device.generate_is_allowed()
    if not allowed and info and info.get("next_generation_at"):
        wait = max(1, int((info["next_generation_at"] - timezone.now()).total_seconds()) + 1)
        raise RateLimited(f"A code was just sent. Please wait {wait} seconds before asking for another.", wait)
    enforce_hourly_limit(f"codes-user:{user.pk}", settings.TOKEN_SENDS_PER_USER_PER_HOUR, "codes sent to you")
    if user.organisation_id is not None:
        enforce_hourly_limit(
            f"codes-org:{user.organisation_id}",
            settings.TOKEN_SENDS_PER_ORGANISATION_PER_HOUR,
            "codes sent for your organisation",
        )
    device.cooldown_set(commit=False)
    device.generate_token(valid_secs=settings.TOKEN_CODE_VALID_SECONDS, commit=True)
    message = {
        "issuer": settings.OTP_TOTP_ISSUER,
        "code": device.token,
        "minutes": settings.TOKEN_CODE_VALID_SECONDS // 60,
    }
    destination = kinds.of_device(device).destination
    assert destination is not None, "a device that receives codes"
    destination.deliver(device, user, message)


def send_token_code(*, token: Token, acting_user: User | None = None) -> None:
    if not token.sends_codes:
        raise TokenError("This token shows its own codes.")
    if (reason := unusable_reason(token, acting_user=acting_user)) is not None:
        raise TokenError(reason)
    send_code(device=token.device, user=token.user)
