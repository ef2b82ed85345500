"""Passkeys: enrolling one from the browser's attestation, and the login's check of a signed assertion.

py_webauthn checks each response as the WebAuthn spec says (the challenge, the origin and RP ID the
browser signed over, user presence, the signature with the stored public key, attestation "none").
The portal keeps around it what it keeps around every code: the user's row lock, django-otp's
back-off and the lock after ``TOKEN_LOCK_AFTER_FAILURES`` failures (``verification``), the audit
trail, and the new-factor email.

The signature counter: the library is handed 0 as the stored count so that it only verifies, and
the count is compared here, after the signature is known to be the key's own. A count that is not
above the stored one (unless both are 0: synced passkeys never count) means two copies of the key
exist; the login is refused, counted as a failure and audited as a possible clone.
"""

import json

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from webauthn import verify_authentication_response, verify_registration_response
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException

from accounts import selectors as account_selectors
from accounts.models import User
from audit.services import record
from common.mail import portal_url, queue_templated_email
from tokens import kinds, passkeys
from tokens.models import PasskeyDevice, Token
from tokens.services.base import TokenError, audit_label
from tokens.services.enrolment import create_token, enrolled
from tokens.services.verification import (
    Verification,
    refused_unchecked,
    serialise_code_checks,
    unusable_reason,
)

NO_CHALLENGE = "The passkey prompt timed out or was already used. Try again."
NOT_ACCEPTED = "That passkey was not accepted. Try again, or use another token."
POSSIBLE_CLONE = (
    "That passkey was refused: its signature counter went back, which happens when a key has been "
    "copied. Use another token, and tell an admin of your organisation."
)


def _known_transports(transports: object) -> list[str]:
    if not isinstance(transports, list):
        return []
    return [str(t)[:20] for t in transports if isinstance(t, str)][:10]


@transaction.atomic
def enrol_passkey(
    *,
    user: User,
    credential: str,
    challenge: bytes | None,
    description: str = "",
    acting_user: User,
) -> Token:
    """Register the credential the browser created for this user's challenge; TokenError says why not."""
    if challenge is None:
        raise TokenError(NO_CHALLENGE)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=passkeys.rp_id(),
            expected_origin=passkeys.origin(),
            require_user_verification=passkeys.REQUIRE_USER_VERIFICATION,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise TokenError("The browser's answer was not a passkey for this portal. Nothing was added.") from exc
    credential_id = bytes_to_base64url(verified.credential_id)
    if PasskeyDevice.objects.filter(credential_id=credential_id).exists():
        raise TokenError("This passkey is already registered.")
    try:
        transports = _known_transports(json.loads(credential)["response"].get("transports"))
    except (ValueError, KeyError, TypeError, AttributeError):
        transports = []
    try:
        with transaction.atomic():
            device = PasskeyDevice.objects.create(
                user=user,
                name=kinds.PASSKEY.device_name,
                confirmed=True,
                credential_id=credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                transports=transports,
            )
    except IntegrityError as exc:  # registered at the same moment by another request
        raise TokenError("This passkey is already registered.") from exc
    token = create_token(user=user, device=device, description=description.strip())
    return enrolled(token, acting_user=acting_user)


def login_passkeys(user: User) -> tuple[list[PasskeyDevice], list[str]]:
    """The devices of the user's passkeys that a login may use now (the login page offers these),
    and why each other one cannot be used (the page says so, instead of a silent absence)."""
    usable, refusals = [], []
    for token in Token.objects.filter(user=user, kind=kinds.PASSKEY.kind).prefetch_related("device"):
        if (reason := unusable_reason(token)) is None:
            usable.append(token.device)
        else:
            name = f"Your passkey “{token.description}”" if token.description else "Your passkey"
            refusals.append(f"{name} cannot be used: {reason}")
    return usable, refusals


def notify_possible_clone(token: Token) -> None:
    """The passkey's owner and the organisation's admins hear of a possible copy at once: someone
    holds a working copy of the key and knows the password (the login reached its second step)."""
    user = token.user
    admins = account_selectors.active_admins(organisation_id=user.organisation_id) if user.organisation_id else []
    recipients = sorted({user.email, *(admin.email for admin in admins)})
    name = f"“{token.description}”" if token.description else f"#{token.pk}"
    own_page, user_page = portal_url(reverse("tokens")), portal_url(reverse("user-detail", args=[user.pk]))
    for address in recipients:
        queue_templated_email(
            template="tokens/email/passkey_clone",
            subject="A passkey was refused as a possible copy",
            context={
                "user": user,
                "passkey": name,
                "yours": address == user.email,
                "at": timezone.localtime(),
                "manage_url": own_page if address == user.email else user_page,
            },
            to=[address],
        )


def _failed(user: User, token: Token, *, action: str = "login.second_factor_failed", reason: str = "") -> None:
    token.device.throttle_increment(commit=True)
    if action != "login.second_factor_failed":
        record(action=action, actor=user, subject_user=user, target=audit_label(token), reason=reason)
    record(action="login.second_factor_failed", actor=user)
    if token.is_locked:
        record(action="token.locked", actor=user, subject_user=user, target=audit_label(token))


@transaction.atomic
def verify_login_passkey(*, user: User, credential: str, challenge: bytes | None) -> Verification:
    """Accept the assertion if an ACTIVE, unlocked passkey of the user signed this session's challenge.

    Taken under the user's row lock like every code check (``serialise_code_checks``): concurrent
    assertions queue, each failure is counted on rows read under the lock, and none is checked
    once the passkey is in back-off or locked.
    """
    serialise_code_checks(user.pk)
    credential_id = passkeys.credential_id_of(credential)
    tokens = list(Token.objects.filter(user=user, kind=kinds.PASSKEY.kind).prefetch_related("device"))
    token = next((t for t in tokens if t.device.credential_id == credential_id), None)
    if token is None:
        # Not one of this user's passkeys: a wrong answer, counted against each usable one.
        usable = [t for t in tokens if unusable_reason(t) is None]
        throttled = [check for t in usable if (check := refused_unchecked(t.device)) is not None]
        if usable and len(throttled) == len(usable):
            return Verification(None, throttled[0].refusal or NOT_ACCEPTED)
        for other in usable:
            other.device.throttle_increment(commit=True)
            if other.is_locked:
                record(action="token.locked", actor=user, subject_user=user, target=audit_label(other))
        record(action="login.second_factor_failed", actor=user)
        return Verification(None, NOT_ACCEPTED)
    token.device = PasskeyDevice.objects.select_for_update().get(pk=token.device_id)
    device = token.device
    if (reason := unusable_reason(token)) is not None:
        record(action="login.refused_token", actor=user, target=audit_label(token), reason=reason)
        return Verification(None, reason)
    if (refused := refused_unchecked(device)) is not None:
        return Verification(None, refused.refusal or NOT_ACCEPTED)
    if challenge is None:
        return Verification(None, NO_CHALLENGE)  # nothing was checked: not a failure
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=passkeys.rp_id(),
            expected_origin=passkeys.origin(),
            credential_public_key=bytes(device.public_key),
            credential_current_sign_count=0,  # compared below, once the signature is known good
            require_user_verification=passkeys.REQUIRE_USER_VERIFICATION,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError):
        _failed(user, token)
        return Verification(None, NOT_ACCEPTED)
    if (verified.new_sign_count or device.sign_count) and verified.new_sign_count <= device.sign_count:
        reason = f"signature counter {verified.new_sign_count}, last seen {device.sign_count}"
        _failed(user, token, action="token.clone_suspected", reason=reason)
        notify_possible_clone(token)
        return Verification(None, POSSIBLE_CLONE)
    device.sign_count = verified.new_sign_count
    device.throttle_reset(commit=False)
    device.set_last_used_timestamp(commit=False)
    device.save()
    record(action="login.second_factor", actor=user, target=audit_label(token))
    return Verification(token=token)
