"""Checking codes: the login's code step, a token's test, and the lock and back-off around both.

django-otp's devices verify (``verify_token``: TOTP drift, the HOTP counter and look-ahead, a
sent code's expiry, a backup code's digest). Around them the portal keeps one wrapper: every
check takes the user's row lock (``serialise_code_checks``), refuses unchecked while a token is
locked or in django-otp's back-off (``refused_unchecked``), and says why in one place
(``CodeCheck``).
"""

import copy
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format
from django_otp.models import Device
from django_otp.oath import hotp

from accounts.models import User
from accounts.permissions import MANAGE_OTHERS_TOKENS, may
from audit.services import record
from tokens import kinds, selectors
from tokens.models import Token, locked_after_failures
from tokens.services.base import TokenError, audit, audit_label

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


def serialise_code_checks(user_id: int) -> None:
    """Take the user's row lock for the rest of the transaction.

    Every path that checks a code (login, onboarding, test, resync) takes it before reading a
    device's failure count, so concurrent guesses queue up: each checked code is counted on rows
    read under the lock, and none is checked once the count reaches the lock. Without it, N
    requests read the same count, all check their code, and all write count + 1.
    """
    list(User.objects.select_for_update().filter(pk=user_id).values_list("pk", flat=True))


def locked_out(device: Device) -> bool:
    """A confirmed device (a token) refuses every code after TOKEN_LOCK_AFTER_FAILURES failures."""
    return bool(device.confirmed) and locked_after_failures(device)


def refused_unchecked(device: Device) -> CodeCheck | None:
    """The answer for any code while the device refuses to look at one (the portal's lock, then
    django-otp's back-off), or None when a code would be checked. Every refusal is worded from it."""
    if locked_out(device):
        return CodeCheck(False, locked=True)
    if (wait := throttle_wait(device)) is not None:
        return CodeCheck(False, wait=wait, failures=failures_of(device))
    return None


def verify_device(device: Device, code: str) -> CodeCheck:
    """Check a code with django-otp's throttling and the portal's lock, atomically.

    The device is read again under the user's lock (see ``serialise_code_checks``), so the same
    code sent twice at once passes once and concurrent wrong codes are each counted.
    """
    with transaction.atomic():
        serialise_code_checks(device.user_id)
        device = type(device).objects.select_for_update().get(pk=device.pk)
        if (refused := refused_unchecked(device)) is not None:
            return refused
        failures_before = getattr(device, "throttling_failure_count", 0)
        if device.verify_token(kinds.of_device(device).stored_code(device, code)):
            if hasattr(device, "throttle_reset"):
                device.throttle_reset(commit=False)
            if hasattr(device, "set_last_used_timestamp"):
                device.set_last_used_timestamp(commit=False)
            device.save()
            return CodeCheck(True)
        if hasattr(device, "throttle_increment") and device.throttling_failure_count == failures_before:
            device.throttle_increment(commit=True)
        return CodeCheck(False)


def manages(acting_user: User | None, token: Token) -> bool:
    """Whether ``acting_user`` is an admin of the token's organisation (and so can fix it themselves)."""
    return acting_user is not None and may(
        acting_user, MANAGE_OTHERS_TOKENS, organisation_id=token.user.organisation_id
    )


def unusable_reason(token: Token, *, acting_user: User | None = None) -> str | None:
    """Why this token cannot be used right now, or None; worded for ``acting_user`` when one is given."""
    admin = manages(acting_user, token)
    if not token.enabled:
        then = "Enable it on its page." if admin else "Ask an admin of your organisation to enable it."
        return f"This token is disabled. {then}"
    if token.is_expired:
        then = "Add a new token to replace it." if admin else "Use another token, or ask an admin for a replacement."
        return f"This token expired on {date_format(timezone.localtime(token.expires_at))}. {then}"
    if token.is_locked:
        return locked_message(admin=admin)
    return None


def failures_of(device: Device) -> int:
    return int(getattr(device, "throttling_failure_count", 0))


def throttle_wait(device: Device) -> int | None:
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
def verify_login_code(*, user: User, code: str) -> Verification:
    """Accept the code if it belongs to an ACTIVE, unlocked token of the user.

    The token the code belongs to is found first without side effects, so a code from one
    token never counts as a wrong guess against the others; a code that fits none counts
    against each usable token (django-otp's throttling, and the lock after repeated failures).
    The tokens are read under the user's lock, so concurrent guesses are each counted.
    """
    code = code.strip().replace(" ", "")
    serialise_code_checks(user.pk)
    # A passkey takes no typed code (its own check is services.passkeys): a wrong code is no guess at it.
    tokens = [t for t in Token.objects.filter(user=user).prefetch_related("device") if t.spec.takes_codes]
    usable = [t for t in tokens if unusable_reason(t) is None]
    throttled = [check for t in usable if (check := refused_unchecked(t.device)) is not None]
    if usable and len(throttled) == len(usable):
        # Every usable token is throttled: the code is not even looked at.
        soonest = min(throttled, key=lambda check: (check.wait or 0, check.failures))
        return Verification(None, soonest.refusal or WRONG_CODE)
    candidates = [t for t in usable if refused_unchecked(t.device) is None]
    match = next((t for t in candidates if _matches_without_spending(t, code)), None)
    if match is not None:
        if verify_device(match.device, code):
            record(action="login.second_factor", actor=user, target=audit_label(match))
            return Verification(token=match)
        candidates.remove(match)  # refused after all (spent meanwhile): verify_device counted the failure
    elif not usable and (locked := [t for t in tokens if t.enabled and t.is_locked]):
        # Nothing left to check the code against: say why, without claiming the code was wrong.
        return Verification(None, _locked_tokens_message(locked))
    else:
        refused = next(
            (t for t in tokens if t not in usable and not t.is_locked and _matches_without_spending(t, code)), None
        )
        if refused is not None:
            reason = unusable_reason(refused) or WRONG_CODE
            record(action="login.refused_token", actor=user, target=audit_label(refused), reason=reason)
            return Verification(token=None, error=reason)
    for token in candidates:
        token.device.throttle_increment(commit=True)
        if token.is_locked:
            record(action="token.locked", actor=user, subject_user=user, target=audit_label(token))
    record(action="login.second_factor_failed", actor=user)
    locked = [t for t in tokens if t.enabled and t.is_locked]
    if locked:
        return Verification(None, f"{WRONG_CODE} {_locked_tokens_message(locked)}")
    return Verification(token=None, error=WRONG_CODE)


def _locked_tokens_message(locked: list[Token]) -> str:
    labels = selectors.type_names()
    names = ", ".join(sorted({labels[t.kind] for t in locked}))
    return f"Your {names} is locked after too many wrong codes; an admin can unlock it."


def _matches_without_spending(token: Token, code: str) -> bool:
    """Whether the code is this token's, as its django-otp device judges it (TOTP drift, the HOTP
    look-ahead, a sent code's expiry, a backup code's digest), with nothing spent or counted.

    A copy of the device checks the code inside a savepoint that is then rolled back, so neither
    the row nor the caller's device changes; the back-off is set aside on the copy, since this only
    asks whose code it is (the real check, ``verify_device``, honours it).
    """
    device = copy.copy(token.device)
    if hasattr(device, "throttle_reset"):
        device.throttle_reset(commit=False)
    with transaction.atomic():
        try:
            return bool(device.verify_token(kinds.of_device(device).stored_code(device, code)))
        finally:
            transaction.set_rollback(True)


def test_token(*, token: Token, code: str, acting_user: User) -> bool:
    """Check a code against one token. Never logs anyone in; a code that passes is spent."""
    if (reason := unusable_reason(token, acting_user=acting_user)) is not None:
        raise TokenError(reason)
    check = verify_device(token.device, code.strip().replace(" ", ""))
    if (refusal := check.refusal_for(admin=manages(acting_user, token))) is not None:
        raise TokenError(refusal)
    audit("token.test_passed" if check else "token.test_failed", token, acting_user)
    return check.passed


def find_counter(key: bytes, digits: int, codes: list[str], *, start: int) -> int | None:
    """The first counter in the look-ahead window where ``codes`` appear consecutively.

    django-otp's HOTP device checks one code within its small tolerance; placing a hardware token
    (registered with the code it shows now, or resynchronised after drifting with two codes in a
    row) searches the whole HOTP_RESYNC_WINDOW instead, with django-otp's ``hotp``.
    """
    try:
        values = [int(c.strip()) for c in codes]
    except ValueError:
        return None
    window = settings.HOTP_RESYNC_WINDOW
    for counter in range(start, start + window):
        if all(hotp(key, counter + i, digits) == value for i, value in enumerate(values)):
            return counter
    return None
