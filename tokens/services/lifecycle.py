"""A token's life after enrolment: enable, disable, describe, unlock, resynchronise, delete, and
what the warnings before those ask (is anything left to log in with?)."""

from django.db import transaction
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticToken

from accounts.models import User
from audit.services import record
from tokens import kinds
from tokens.models import Token
from tokens.services.base import audit, audit_label, delete_with_device
from tokens.services.verification import CodeCheck, find_counter, locked_out, refused_unchecked, serialise_code_checks


def set_enabled(*, token: Token, enabled: bool, acting_user: User) -> Token:
    token.enabled = enabled
    token.save(update_fields=["enabled", "updated_at"])
    audit("token.enabled" if enabled else "token.disabled", token, acting_user)
    return token


def update_description(*, token: Token, description: str, acting_user: User) -> Token:
    token.description = description.strip()
    token.save(update_fields=["description", "updated_at"])
    audit("token.edited", token, acting_user)
    return token


@transaction.atomic
def unlock(*, token: Token, acting_user: User) -> Token:
    serialise_code_checks(token.user_id)
    # Only the throttle's fields: saving the whole (possibly stale) device could move a hardware
    # token's counter back and let a spent code through again.
    device = type(token.device).objects.select_for_update().get(pk=token.device_id)
    device.throttle_reset(commit=False)
    device.save(update_fields=["throttling_failure_count", "throttling_failure_timestamp"])
    token.device = device
    token.save(update_fields=["updated_at"])
    audit("token.unlocked", token, acting_user)
    return token


@transaction.atomic
def resync_hotp(*, token: Token, first_code: str, second_code: str, acting_user: User) -> CodeCheck:
    """Move the counter past two consecutive codes found in the window; otherwise change nothing
    but count the failure, like any wrong code (a locked or throttled token is not even checked)."""
    serialise_code_checks(token.user_id)
    device = HOTPDevice.objects.select_for_update().get(pk=token.device_id)
    if (refused := refused_unchecked(device)) is not None:
        return refused
    counter = find_counter(device.bin_key, device.digits, [first_code, second_code], start=device.counter)
    if counter is None:
        device.throttle_increment(commit=True)
        audit("token.resync_failed", token, acting_user)
        if locked_out(device):
            audit("token.locked", token, acting_user)
        return CodeCheck(False)
    device.counter = counter + 2
    device.throttle_reset(commit=False)
    device.save()
    token.save(update_fields=["updated_at"])
    audit("token.resync", token, acting_user)
    return CodeCheck(True)


@transaction.atomic
def delete_token(*, token: Token, acting_user: User) -> None:
    label = audit_label(token)
    user = token.user
    delete_with_device(token)
    record(action="token.deleted", actor=acting_user, subject_user=user, target=label)


@transaction.atomic
def delete_all_tokens(*, user: User) -> None:
    for token in Token.objects.filter(user=user):
        delete_with_device(token)
    for spec in kinds.KINDS:  # pending devices too
        spec.device_model.objects.filter(user=user).delete()


def leaves_no_active_token(token: Token) -> bool:
    others = Token.objects.filter(user_id=token.user_id).exclude(pk=token.pk).exclude(kind__in=kinds.BACKUPS)
    return not any(t.is_active for t in others)


def has_factor(user: User) -> bool:
    """Whether the login must ask this user for a second factor: any token they have, disabled,
    expired or locked ones included (the code step says why each is refused), and backup codes
    while any are left. Without one, only a user still in account set-up logs in on a password."""
    if Token.objects.filter(user=user).exclude(kind__in=kinds.BACKUPS).exists():
        return True
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).exists()


def leaves_nothing_usable(token: Token) -> bool:
    """Whether disabling this token leaves its user no active token and no backup code to log in with."""
    if not leaves_no_active_token(token):
        return False
    codes = StaticToken.objects.filter(device__user_id=token.user_id, device__confirmed=True)
    if token.spec.backup:
        codes = codes.exclude(device_id=token.device_id)
    return not codes.exists()


def leaves_no_factor(token: Token) -> bool:
    """Whether deleting this token leaves its user nothing to log in with, backup codes included."""
    if Token.objects.filter(user_id=token.user_id).exclude(pk=token.pk).exclude(kind__in=kinds.BACKUPS).exists():
        return False
    codes = StaticToken.objects.filter(device__user_id=token.user_id, device__confirmed=True)
    if token.spec.backup:
        codes = codes.exclude(device_id=token.device_id)
    return not codes.exists()
