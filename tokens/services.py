"""Every write on second-factor tokens: enrol, confirm, test, send codes, disable, delete, resync."""

import binascii
import math
import secrets
import time
from base64 import b32decode
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format
from django_otp.models import Device, SideChannelDevice
from django_otp.oath import TOTP, hotp
from django_otp.plugins.otp_hotp.models import HOTPDevice
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.phones import validate_factor_phone_number
from audit.services import record
from common.mail import queue_templated_email
from common.ratelimit import enforce_hourly_limit
from tokens import backup_codes, selectors
from tokens.models import EmailCodeDevice, SmsDevice, Token, TokenKind

BACKUP_CODE_COUNT = 10
CODE_DEVICES = (TOTPDevice, HOTPDevice, StaticDevice)


class TokenError(ValidationError):
    pass


# --- Verification -----------------------------------------------------------------------------


# From this many wrong codes in a row the back-off message says "too many"; before, one slip (and
# django-otp's 1-second back-off after it) is not an accusation.
TOO_MANY_FROM = 3


def wait_message(seconds: int, *, failures: int) -> str:
    """What a code refused unchecked by django-otp's back-off says, after ``failures`` wrong codes."""
    wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    if failures >= TOO_MANY_FROM:
        return f"Too many wrong codes. Wait {wait}, then try again."
    return f"The last code was not right. Wait {wait} before the next try."


def locked_message(*, admin: bool = False) -> str:
    """An admin can unlock the token themselves: they are never told to ask an admin."""
    then = "Unlock it on its page." if admin else "An admin of your organisation can unlock it."
    return f"This token is locked after too many wrong codes. {then}"


LOCKED_MESSAGE = locked_message()
WRONG_CODE = "That code is not right, or it has been used already."


@dataclass(frozen=True)
class CodeCheck:
    """What checking one code against one device gave: passed, wrong, or refused unchecked."""

    passed: bool
    wait: int | None = None  # refused unchecked: django-otp's back-off has this many seconds left
    failures: int = 0  # wrong codes in a row before this one (django-otp's count)
    locked: bool = False  # refused unchecked: the token locked after too many wrong codes

    def __bool__(self) -> bool:
        return self.passed

    @property
    def refusal(self) -> str | None:
        """Why the code was not even looked at, or None if it was checked."""
        return self.refusal_for(admin=False)

    def refusal_for(self, *, admin: bool) -> str | None:
        """``refusal`` worded for the reader: an admin of the token's organisation or not."""
        if self.locked:
            return locked_message(admin=admin)
        if self.wait is not None:
            return wait_message(self.wait, failures=self.failures)
        return None


def _serialise_code_checks(user_id: int) -> None:
    """Take the user's row lock for the rest of the transaction.

    Every path that checks a code (login, onboarding, test, resync) takes it before reading a
    device's failure count, so concurrent guesses queue up: each checked code is counted on rows
    read under the lock, and none is checked once the count reaches the lock. Without it, N
    requests read the same count, all check their code, and all write count + 1.
    """
    list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


def _locked_out(device: Device) -> bool:
    """A confirmed device (a token) refuses every code after TOKEN_LOCK_AFTER_FAILURES failures."""
    failures = getattr(device, "throttling_failure_count", 0)
    return bool(device.confirmed) and failures >= settings.TOKEN_LOCK_AFTER_FAILURES


def verify_device(device: Device, code: str) -> CodeCheck:
    """Check a code with django-otp's throttling and the portal's lock, atomically.

    The device is read again under the user's lock (see ``_serialise_code_checks``), so the same
    code sent twice at once passes once and concurrent wrong codes are each counted.
    """
    with transaction.atomic():
        _serialise_code_checks(device.user_id)
        device = type(device).objects.select_for_update().get(pk=device.pk)
        if _locked_out(device):
            return CodeCheck(False, locked=True)
        if (wait := _throttle_wait(device)) is not None:
            return CodeCheck(False, wait=wait, failures=_failures(device))
        failures_before = getattr(device, "throttling_failure_count", 0)
        if isinstance(device, StaticDevice):
            code = backup_codes.stored_value(device, code)  # kept as digests, see tokens/backup_codes.py
        if device.verify_token(code):
            if hasattr(device, "throttle_reset"):
                device.throttle_reset(commit=False)
            if hasattr(device, "set_last_used_timestamp"):
                device.set_last_used_timestamp(commit=False)
            device.save()
            return CodeCheck(True)
        if hasattr(device, "throttle_increment") and device.throttling_failure_count == failures_before:
            device.throttle_increment(commit=True)
        return CodeCheck(False)


def manages(actor: User | None, token: Token) -> bool:
    """Whether ``actor`` is an admin of the token's organisation (and so can fix it themselves)."""
    return actor is not None and actor.is_org_admin and actor.organisation_id == token.user.organisation_id


def _refusal(token: Token, *, actor: User | None = None) -> str | None:
    """Why this token cannot be used right now, or None; worded for ``actor`` when one is given."""
    admin = manages(actor, token)
    if not token.enabled:
        then = "Enable it on its page." if admin else "Ask an admin of your organisation to enable it."
        return f"This token is disabled. {then}"
    if token.expires_at is not None and token.expires_at <= timezone.now():
        then = "Add a new token to replace it." if admin else "Use another token, or ask an admin for a replacement."
        return f"This token expired on {date_format(timezone.localtime(token.expires_at))}. {then}"
    if token.is_locked:
        return locked_message(admin=admin)
    return None


def _failures(device: Device) -> int:
    return int(getattr(device, "throttling_failure_count", 0))


def _throttle_wait(device: Device) -> int | None:
    allowed, info = device.verify_is_allowed()
    if allowed:
        return None
    until = (info or {}).get("locked_until")
    return max(1, math.ceil((until - timezone.now()).total_seconds())) if until else 1


@dataclass
class Verification:
    token: Token | None
    error: str = ""


@transaction.atomic
def verify_login_code(*, user: User, code: str, request: HttpRequest | None = None) -> Verification:
    """Accept the code if it belongs to an ACTIVE, unlocked token of the user.

    The token the code belongs to is found first without side effects, so a code from one
    token never counts as a wrong guess against the others; a code that fits none counts
    against each usable token (django-otp's throttling, and the lock after repeated failures).
    The tokens are read under the user's lock, so concurrent guesses are each counted.
    """
    code = code.strip().replace(" ", "")
    _serialise_code_checks(user.pk)
    tokens = list(Token.objects.filter(user=user).prefetch_related("device"))
    usable = [t for t in tokens if _refusal(t) is None]
    waits = [(w, _failures(t.device)) for t in usable if (w := _throttle_wait(t.device)) is not None]
    if usable and len(waits) == len(usable):
        # Every usable token is throttled: the code is not even looked at.
        seconds, failures = min(waits)
        return Verification(None, wait_message(seconds, failures=failures))
    candidates = [t for t in usable if _throttle_wait(t.device) is None]
    match = next((t for t in candidates if _matches_without_spending(t, code)), None)
    if match is not None:
        if verify_device(match.device, code):
            record(action="login.second_factor", actor=user, request=request, target=_label(match))
            return Verification(token=match)
        candidates.remove(match)  # a replayed code: verify_device counted the failure
    elif not usable and (locked := [t for t in tokens if t.enabled and t.is_locked]):
        # Nothing left to check the code against: say why, without claiming the code was wrong.
        return Verification(None, _locked_message(locked))
    else:
        refused = next(
            (t for t in tokens if t not in usable and not t.is_locked and _matches_without_spending(t, code)), None
        )
        if refused is not None:
            reason = _refusal(refused) or WRONG_CODE
            record(action="login.refused_token", actor=user, request=request, target=_label(refused), reason=reason)
            return Verification(token=None, error=reason)
    for token in candidates:
        token.device.throttle_increment(commit=True)
        if token.is_locked:
            record(action="token.locked", actor=user, request=request, subject_user=user, target=_label(token))
    record(action="login.second_factor_failed", actor=user, request=request)
    locked = [t for t in tokens if t.enabled and t.is_locked]
    if locked:
        return Verification(None, f"{WRONG_CODE} {_locked_message(locked)}")
    return Verification(token=None, error=WRONG_CODE)


def _locked_message(locked: list[Token]) -> str:
    labels = selectors.type_names()
    names = ", ".join(sorted({labels[t.kind] for t in locked}))
    return f"Your {names} is locked after too many wrong codes; an admin can unlock it."


def _matches_without_spending(token: Token, code: str) -> bool:
    """Whether the code is this token's current one, without using it up or counting a failure."""
    device = token.device
    if isinstance(device, StaticDevice):
        return device.token_set.filter(token__in=backup_codes.candidates(code)).exists()
    if isinstance(device, SideChannelDevice):
        return device.token is not None and device.token == code and timezone.now() < device.valid_until
    if not code.isdecimal():  # isdigit() would let "²" through, which int() refuses
        return False
    if isinstance(device, TOTPDevice):
        totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
        totp.time = time.time()  # read the clock as django-otp's TOTPDevice does
        for offset in range(-device.tolerance, device.tolerance + 1):
            totp.drift = device.drift + offset
            if totp.token() == int(code):
                return True
        return False
    if isinstance(device, HOTPDevice):
        return any(
            hotp(device.bin_key, c, device.digits) == int(code)
            for c in range(device.counter, device.counter + device.tolerance + 1)
        )
    return False


# --- Helpers ----------------------------------------------------------------------------------


def _label(token: Token) -> str:
    text = f"{token.get_kind_display()} #{token.pk}"
    detail = token.device_label if token.kind != TokenKind.BACKUP else ""
    return f"{text} ({detail})" if detail else text


def _audit(action: str, token: Token, acting_user: User, request: HttpRequest | None) -> None:
    record(action=action, actor=acting_user, request=request, subject_user=token.user, target=_label(token))


def _create_token(*, user: User, kind: TokenKind, device: Model, **fields: object) -> Token:
    return Token.objects.create(
        user=user,
        kind=kind,
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


def _enrolled(token: Token, *, acting_user: User, request: HttpRequest | None) -> Token:
    _audit("token.enrolled", token, acting_user, request)
    _notify_new_factor(token.user, token, acting_user)
    return token


# --- Enrolment --------------------------------------------------------------------------------


def start_totp(*, user: User) -> TOTPDevice:
    """An unconfirmed authenticator secret, reused until confirmed with a code."""
    device = TOTPDevice.objects.filter(user=user, name="pending", confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="pending", confirmed=False)


def _confirm_pending(device: TOTPDevice | SmsDevice | EmailCodeDevice, *, user: User, code: str, name: str) -> bool:
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
    device.name = name
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
    request: HttpRequest | None = None,
) -> Token | None:
    if not _confirm_pending(device, user=user, code=code, name="authenticator"):
        return None
    token = _create_token(user=user, kind=TokenKind.TOTP, device=device, description=description)
    return _enrolled(token, acting_user=acting_user, request=request)


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
    request: HttpRequest | None = None,
) -> Token:
    """Register a hardware token; the code it shows now proves the secret was typed right."""
    key = parse_secret(secret)
    serial = serial.strip()
    same_serial = Token.objects.filter(user__organisation=user.organisation, kind=TokenKind.HOTP, serial=serial)
    if same_serial.exists():
        raise TokenError({"serial": "A hardware token with this serial number is already registered."})
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError({"expires_at": "The expiry date must be in the future."})
    counter = _find_counter(bytes.fromhex(key), digits, [code], start=0)
    if counter is None:
        raise TokenError(
            {"code": "That code does not match this secret. Press the token's button and enter the new code."}
        )
    # The serial may fill the form's 64 characters; the device's name column holds 64 in all.
    name = f"hardware {serial}"[: HOTPDevice._meta.get_field("name").max_length]
    device = HOTPDevice.objects.create(
        user=user, name=name, key=key, digits=digits, counter=counter + 1, confirmed=True
    )
    token = _create_token(
        user=user,
        kind=TokenKind.HOTP,
        device=device,
        serial=serial,
        expires_at=expires_at,
        description=description,
    )
    return _enrolled(token, acting_user=acting_user, request=request)


def _find_counter(key: bytes, digits: int, codes: list[str], *, start: int) -> int | None:
    """The first counter in the look-ahead window where ``codes`` appear consecutively."""
    try:
        values = [int(c.strip()) for c in codes]
    except ValueError:
        return None
    window = settings.HOTP_RESYNC_WINDOW
    for counter in range(start, start + window):
        if all(hotp(key, counter + i, digits) == value for i, value in enumerate(values)):
            return counter
    return None


@transaction.atomic
def resync_hotp(
    *, token: Token, first_code: str, second_code: str, acting_user: User, request: HttpRequest | None = None
) -> CodeCheck:
    """Move the counter past two consecutive codes found in the window; otherwise change nothing
    but count the failure, like any wrong code (a locked or throttled token is not even checked)."""
    _serialise_code_checks(token.user_id)
    device = HOTPDevice.objects.select_for_update().get(pk=token.device_id)
    if _locked_out(device):
        return CodeCheck(False, locked=True)
    if (wait := _throttle_wait(device)) is not None:
        return CodeCheck(False, wait=wait)
    counter = _find_counter(device.bin_key, device.digits, [first_code, second_code], start=device.counter)
    if counter is None:
        device.throttle_increment(commit=True)
        _audit("token.resync_failed", token, acting_user, request)
        if _locked_out(device):
            _audit("token.locked", token, acting_user, request)
        return CodeCheck(False)
    device.counter = counter + 2
    device.throttle_reset(commit=False)
    device.save()
    token.save(update_fields=["updated_at"])
    _audit("token.resync", token, acting_user, request)
    return CodeCheck(True)


@transaction.atomic
def start_sms(*, user: User, number: str, acting_user: User, pending_name: str = "pending") -> SmsDevice:
    """Text a code to a number not yet confirmed; the same number again reuses its cooldown."""
    e164 = validate_factor_phone_number(number)
    device = SmsDevice.objects.filter(user=user, name=pending_name, confirmed=False).first()
    if device is None or str(device.number) != e164:
        SmsDevice.objects.filter(user=user, name=pending_name, confirmed=False).delete()
        device = SmsDevice.objects.create(user=user, name=pending_name, number=e164, confirmed=False)
    send_code(device=device, user=user)
    return device


@transaction.atomic
def start_email(*, user: User, email: str, acting_user: User, pending_name: str = "pending") -> EmailCodeDevice:
    """E-mail a code to an address not yet confirmed; the same address again reuses its cooldown."""
    address = email.strip().lower()
    device = EmailCodeDevice.objects.filter(user=user, name=pending_name, confirmed=False).first()
    if device is None or device.email != address:
        EmailCodeDevice.objects.filter(user=user, name=pending_name, confirmed=False).delete()
        device = EmailCodeDevice.objects.create(user=user, name=pending_name, email=address, confirmed=False)
    send_code(device=device, user=user)
    return device


@transaction.atomic
def confirm_side_channel(
    *,
    user: User,
    device: SmsDevice | EmailCodeDevice,
    code: str,
    description: str = "",
    replaces: Token | None = None,
    acting_user: User,
    request: HttpRequest | None = None,
) -> Token | None:
    """Confirm a number or address with the code sent to it; it then becomes (or replaces) a token."""
    if not _confirm_pending(device, user=user, code=code, name="sms" if isinstance(device, SmsDevice) else "email"):
        return None
    kind = TokenKind.SMS if isinstance(device, SmsDevice) else TokenKind.EMAIL
    if replaces is not None:
        old_device = replaces.device
        replaces.device_id = device.pk
        replaces.save(update_fields=["device_id", "updated_at"])
        old_device.delete()
        _audit("token.changed", replaces, acting_user, request)
        return replaces
    token = _create_token(user=user, kind=kind, device=device, description=description)
    return _enrolled(token, acting_user=acting_user, request=request)


@transaction.atomic
def generate_backup_codes(*, user: User, acting_user: User, request: HttpRequest | None = None) -> list[str]:
    """A fresh set of single-use backup codes; any earlier set stops working."""
    for token in Token.objects.filter(user=user, kind=TokenKind.BACKUP):
        _delete(token)
    device = StaticDevice.objects.create(user=user, name="backup", confirmed=True)
    codes = [secrets.token_hex(4) for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=backup_codes.digest(c)) for c in codes)
    token = _create_token(user=user, kind=TokenKind.BACKUP, device=device)
    _enrolled(token, acting_user=acting_user, request=request)
    return codes


# --- Sending codes ----------------------------------------------------------------------------


@transaction.atomic
def send_code(*, device: SmsDevice | EmailCodeDevice, user: User) -> None:
    """Generate a code for an SMS or e-mail device and hand it to Celery, within the limits.

    The device row is locked and read again first, so of several requests at once after the
    cooldown exactly one sends; the others see its cooldown.
    """
    list(type(device).objects.select_for_update().filter(pk=device.pk).values_list("pk", flat=True))
    device.refresh_from_db()  # the caller's object then holds the code sent
    allowed, info = device.generate_is_allowed()
    if not allowed and info and info.get("next_generation_at"):
        from common.ratelimit import RateLimited

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
    from django.template.loader import render_to_string

    from common.tasks import send_sms

    if isinstance(device, SmsDevice):
        to = str(device.number)
        text = render_to_string("tokens/sms/security_code.txt", message).strip()
        transaction.on_commit(lambda: send_sms.delay(to=to, body=text))
    else:
        address = device.email or user.email
        queue_templated_email(
            template="tokens/email/security_code", subject="Your security code", context=message, to=[address]
        )


def send_token_code(*, token: Token, acting_user: User | None = None) -> None:
    if not token.sends_codes:
        raise TokenError("This token shows its own codes.")
    if (reason := _refusal(token, actor=acting_user)) is not None:
        raise TokenError(reason)
    send_code(device=token.device, user=token.user)


# --- Lifecycle --------------------------------------------------------------------------------


def test_token(*, token: Token, code: str, acting_user: User, request: HttpRequest | None = None) -> bool:
    """Check a code against one token. Never logs anyone in; a code that passes is spent."""
    if (reason := _refusal(token, actor=acting_user)) is not None:
        raise TokenError(reason)
    check = verify_device(token.device, code.strip().replace(" ", ""))
    if (refusal := check.refusal_for(admin=manages(acting_user, token))) is not None:
        raise TokenError(refusal)
    _audit("token.test_passed" if check else "token.test_failed", token, acting_user, request)
    return check.passed


def set_enabled(*, token: Token, enabled: bool, acting_user: User, request: HttpRequest | None = None) -> Token:
    token.enabled = enabled
    token.save(update_fields=["enabled", "updated_at"])
    _audit("token.enabled" if enabled else "token.disabled", token, acting_user, request)
    return token


def update_description(
    *, token: Token, description: str, acting_user: User, request: HttpRequest | None = None
) -> Token:
    token.description = description.strip()
    token.save(update_fields=["description", "updated_at"])
    _audit("token.edited", token, acting_user, request)
    return token


@transaction.atomic
def unlock(*, token: Token, acting_user: User, request: HttpRequest | None = None) -> Token:
    _serialise_code_checks(token.user_id)
    # Only the throttle's fields: saving the whole (possibly stale) device could move a hardware
    # token's counter back and let a spent code through again.
    device = type(token.device).objects.select_for_update().get(pk=token.device_id)
    device.throttle_reset(commit=False)
    device.save(update_fields=["throttling_failure_count", "throttling_failure_timestamp"])
    token.device = device
    token.save(update_fields=["updated_at"])
    _audit("token.unlocked", token, acting_user, request)
    return token


def _delete(token: Token) -> None:
    device = token.device
    token.delete()
    if device is not None:
        device.delete()


def leaves_no_active_token(token: Token) -> bool:
    others = Token.objects.filter(user_id=token.user_id).exclude(pk=token.pk).exclude(kind=TokenKind.BACKUP)
    return not any(t.is_active for t in others)


@transaction.atomic
def delete_token(*, token: Token, acting_user: User, request: HttpRequest | None = None) -> None:
    label = _label(token)
    user = token.user
    _delete(token)
    record(action="token.deleted", actor=acting_user, request=request, subject_user=user, target=label)


@transaction.atomic
def delete_all_tokens(*, user: User) -> None:
    for token in Token.objects.filter(user=user):
        _delete(token)
    for model in (TOTPDevice, HOTPDevice, StaticDevice, SmsDevice, EmailCodeDevice):
        model.objects.filter(user=user).delete()


def has_factor(user: User) -> bool:
    """Whether the login must ask this user for a second factor: any token they have, disabled,
    expired or locked ones included (the code step says why each is refused), and backup codes
    while any are left. Without one, only a user still in account set-up logs in on a password."""
    if Token.objects.filter(user=user).exclude(kind=TokenKind.BACKUP).exists():
        return True
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).exists()


def leaves_nothing_usable(token: Token) -> bool:
    """Whether disabling this token leaves its user no active token and no backup code to log in with."""
    if not leaves_no_active_token(token):
        return False
    codes = StaticToken.objects.filter(device__user_id=token.user_id, device__confirmed=True)
    if token.kind == TokenKind.BACKUP:
        codes = codes.exclude(device_id=token.device_id)
    return not codes.exists()


def leaves_no_factor(token: Token) -> bool:
    """Whether deleting this token leaves its user nothing to log in with, backup codes included."""
    if Token.objects.filter(user_id=token.user_id).exclude(pk=token.pk).exclude(kind=TokenKind.BACKUP).exists():
        return False
    codes = StaticToken.objects.filter(device__user_id=token.user_id, device__confirmed=True)
    if token.kind == TokenKind.BACKUP:
        codes = codes.exclude(device_id=token.device_id)
    return not codes.exists()
