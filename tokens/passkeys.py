"""The WebAuthn side of passkeys (py_webauthn): the relying party, the options a page hands the
browser, and the challenges those options carry.

The relying party is the portal's own address, derived from ``PORTAL_BASE_URL`` (never from the
request's ``Host``): its host name is the RP ID every credential is bound to, its scheme, host and
port the one origin an assertion may come from. A page on another address (a phishing copy) gets
no assertion the browser would sign for this RP ID, and a response relayed from one carries that
other origin in its signed client data, which the check refuses.

Challenges are kept server-side in the session, one per ceremony (enrolment, login), valid for
``CHALLENGE_VALID_SECONDS`` and taken out when a response is checked, so each is used once.
"""

import json
import secrets
import time
from collections.abc import Iterable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from django.conf import settings
from webauthn import generate_authentication_options, generate_registration_options, options_to_json
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

if TYPE_CHECKING:
    from accounts.models import User
    from tokens.models import PasskeyDevice

CHALLENGE_VALID_SECONDS = 300
TIMEOUT_MS = 120_000  # how long the browser's prompt waits
# A passkey is the second factor after the password: the key's presence (a touch) is required,
# verification (PIN, fingerprint) is asked for where the authenticator can, never required.
USER_VERIFICATION = UserVerificationRequirement.PREFERRED
REQUIRE_USER_VERIFICATION = False
ENROL = "passkey-enrol"
LOGIN = "passkey-login"


def rp_id() -> str:
    return urlsplit(settings.PORTAL_BASE_URL).hostname or "localhost"


def origin() -> str:
    parts = urlsplit(settings.PORTAL_BASE_URL)
    return f"{parts.scheme}://{parts.netloc}"


def _remember(session: MutableMapping[str, Any], purpose: str, challenge: bytes, user: "User") -> None:
    session[purpose] = {"challenge": bytes_to_base64url(challenge), "user": user.pk, "at": time.time()}


def take_challenge(session: MutableMapping[str, Any], purpose: str, *, user: "User") -> bytes | None:
    """The challenge this session was given for ``purpose``, once; None if none, expired, or another user's."""
    kept = session.pop(purpose, None)
    if not isinstance(kept, dict) or kept.get("user") != user.pk:
        return None
    if time.time() - float(kept.get("at", 0)) > CHALLENGE_VALID_SECONDS:
        return None
    return base64url_to_bytes(kept["challenge"])


def _descriptors(devices: Iterable["PasskeyDevice"]) -> list[PublicKeyCredentialDescriptor]:
    known = {t.value for t in AuthenticatorTransport}
    return [
        PublicKeyCredentialDescriptor(
            id=base64url_to_bytes(device.credential_id),
            transports=[AuthenticatorTransport(t) for t in device.transports if t in known] or None,
        )
        for device in devices
    ]


def registration_options(
    session: MutableMapping[str, Any], *, user: "User", existing: Iterable["PasskeyDevice"]
) -> str:
    """The JSON for ``navigator.credentials.create``; the user's passkeys are excluded (no second copy)."""
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=rp_id(),
        rp_name=settings.OTP_TOTP_ISSUER,
        user_id=f"portal-user-{user.pk}".encode(),
        user_name=user.email,
        user_display_name=user.full_name or user.email,
        challenge=challenge,
        timeout=TIMEOUT_MS,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=USER_VERIFICATION
        ),
        exclude_credentials=_descriptors(existing),
    )
    _remember(session, ENROL, challenge, user)
    return options_to_json(options)


def authentication_options(
    session: MutableMapping[str, Any], *, user: "User", devices: Iterable["PasskeyDevice"]
) -> str:
    """The JSON for ``navigator.credentials.get``, allowing only this user's usable passkeys."""
    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=rp_id(),
        challenge=challenge,
        timeout=TIMEOUT_MS,
        allow_credentials=_descriptors(devices),
        user_verification=USER_VERIFICATION,
    )
    _remember(session, LOGIN, challenge, user)
    return options_to_json(options)


def credential_id_of(credential: str) -> str | None:
    """The credential id a browser's response names (base64url), or None if it is not one."""
    try:
        data = json.loads(credential)
    except ValueError:
        return None
    raw = data.get("rawId") or data.get("id") if isinstance(data, dict) else None
    if not isinstance(raw, str) or not raw or len(raw) > 1400:
        return None
    try:
        return bytes_to_base64url(base64url_to_bytes(raw))
    except ValueError:
        return None
