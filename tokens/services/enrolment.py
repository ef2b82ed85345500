"""Making a device a token: an authenticator app, a hardware token, a number or address
confirmed with the code sent to it, a set of backup codes; the holder is emailed each time."""

import binascii
import secrets
from base64 import b32decode
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone
from django_otp.models import Device
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from common.mail import queue_templated_email
from tokens import backup_codes, kinds, selectors
from tokens.kinds import KindSpec
from tokens.models import Token
from tokens.services.base import TokenError, audit, delete_with_device
from tokens.services.delivery import send_code
from tokens.services.verification import find_counter, verify_device

BACKUP_CODE_COUNT = 10


def create_token(*, user: User, device: Device, **fields: object) -> Token:
    return Token.objects.create(
        user=user,
        kind=kinds.of_device(device).kind,
        device_type=ContentType.objects.get_for_model(device),
        device_id=device.pk,
        **fields,
    )


def _notify_new_factor(user: User, token: Token, acting_user: User) -> None:
    by = "you" if acting_user.pk == user.pk else f"{acting_user.full_name} ({acting_user.email})"
    queue_templated_email(
        template="tokens/email/new_factor",
        subject="A new second factor was added to your portal account",
        context={"user": user, "type_name": selectors.type_names()[token.kind], "by": by, "at": timezone.localtime()},
        to=[user.email],
    )


def enrolled(token: Token, *, acting_user: User) -> Token:
    audit("token.enrolled", token, acting_user)
    _notify_new_factor(token.user, token, acting_user)
    return token


def start_totp(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator secret, reused until confirmed with a code."""
    device = TOTPDevice.objects.filter(user=user, name="pending", confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="pending", confirmed=False)


def _confirm_pending(device: Device, *, user: User, code: str) -> bool:
    """Confirm the user's pending device if the code is right; False (and nothing changed) if not.

    Raises TokenError saying how long to wait when the code was refused without being checked.
    """
    if device.user_id != user.pk or device.confirmed:
        return False
    check = verify_device(device, code)
    if check.refusal is not None:
        raise TokenError(check.refusal)
    if not check:
        return False
    device.confirmed = True
    device.name = kinds.of_device(device).device_name
    device.save(update_fields=["confirmed", "name"])
    return True


@transaction.atomic
def confirm_totp(
    *,
    user: User,
    device: TOTPDevice,
    code: str,
    description: str = "",
    acting_user: User,
) -> Token | None:
    if not _confirm_pending(device, user=user, code=code):
        return None
    token = create_token(user=user, device=device, description=description)
    return enrolled(token, acting_user=acting_user)


def parse_secret(raw: str) -> str:
    """A hardware token's secret, given in hex or base32, as hex; ValidationError otherwise."""
    text = raw.strip().replace(" ", "").replace("-", "")
    if not text:
        raise TokenError({"secret": "Enter the token's secret."})
    try:
        key = bytes.fromhex(text)
    except ValueError:
        try:
            key = b32decode(text.upper() + "=" * (-len(text) % 8))
        except (binascii.Error, ValueError) as exc:
            raise TokenError({"secret": "The secret must be hexadecimal or base32."}) from exc
    if not 10 <= len(key) <= 40:
        raise TokenError({"secret": "The secret must be between 10 and 40 bytes (80 to 320 bits)."})
    return key.hex()


@transaction.atomic
def enrol_hotp(
    *,
    user: User,
    serial: str,
    secret: str,
    digits: int,
    expires_at: datetime | None,
    code: str,
    description: str = "",
    acting_user: User,
) -> Token:
    """Register a hardware token; the code it shows now proves the secret was typed right."""
    key = parse_secret(secret)
    serial = serial.strip()
    same_serial = Token.objects.filter(user__organisation=user.organisation, kind=kinds.HOTP.kind, serial=serial)
    if same_serial.exists():
        raise TokenError({"serial": "A hardware token with this serial number is already registered."})
    if Token.expiry_passed(expires_at):
        raise TokenError({"expires_at": "The expiry date must be in the future."})
    counter = find_counter(bytes.fromhex(key), digits, [code], start=0)
    if counter is None:
        raise TokenError(
            {"code": "That code does not match this secret. Press the token's button and enter the new code."}
        )
    # The serial may fill the form's 64 characters; the device's name column holds 64 in all.
    name = f"{kinds.HOTP.device_name} {serial}"[: HOTPDevice._meta.get_field("name").max_length]
    device = HOTPDevice.objects.create(
        user=user, name=name, key=key, digits=digits, counter=counter + 1, confirmed=True
    )
    token = create_token(
        user=user,
        device=device,
        serial=serial,
        expires_at=expires_at,
        description=description,
    )
    return enrolled(token, acting_user=acting_user)


@transaction.atomic
def start_destination(
    *, user: User, spec: KindSpec, destination: str, acting_user: User, pending_name: str = "pending"
) -> Device:
    """Send a code to a number or address not yet confirmed; the same one again reuses its cooldown.

    ValidationError says why an unusable destination is refused; RateLimited, how long to wait.
    """
    assert spec.destination is not None, f"{spec.label} receives no codes"
    value = spec.destination.normalise(destination)
    pending = spec.device_model.objects.filter(user=user, name=pending_name, confirmed=False)
    device = pending.first()
    if device is None or str(getattr(device, spec.destination.field)) != value:
        pending.delete()
        device = spec.device_model.objects.create(
            user=user, name=pending_name, confirmed=False, **{spec.destination.field: value}
        )
    send_code(device=device, user=user)
    return device


@transaction.atomic
def confirm_destination(
    *,
    user: User,
    device: Device,
    code: str,
    description: str = "",
    replaces: Token | None = None,
    acting_user: User,
) -> Token | None:
    """Confirm a number or address with the code sent to it; it then becomes (or replaces) a token."""
    if not _confirm_pending(device, user=user, code=code):
        return None
    if replaces is not None:
        old_device = replaces.device
        replaces.device_id = device.pk
        replaces.save(update_fields=["device_id", "updated_at"])
        old_device.delete()
        audit("token.changed", replaces, acting_user)
        return replaces
    token = create_token(user=user, device=device, description=description)
    return enrolled(token, acting_user=acting_user)


@transaction.atomic
def generate_backup_codes(*, user: User, acting_user: User) -> list[str]:
    """A fresh set of single-use backup codes; any earlier set stops working."""
    for token in Token.objects.filter(user=user, kind=kinds.BACKUP.kind):
        delete_with_device(token)
    device = StaticDevice.objects.create(user=user, name=kinds.BACKUP.device_name, confirmed=True)
    codes = [secrets.token_hex(4) for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=backup_codes.digest(c)) for c in codes)
    token = create_token(user=user, device=device)
    enrolled(token, acting_user=acting_user)
    return codes
