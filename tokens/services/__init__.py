"""Every write on second-factor tokens, by concern:

- ``verification``: the login's code step and a token's test, inside the lock and back-off wrapper
  around django-otp's own checks;
- ``enrolment``: making a device a token (authenticator app, hardware token, a confirmed number or
  address, backup codes);
- ``delivery``: sending codes to the kinds that receive them;
- ``passkeys``: enrolling a passkey from the browser's attestation, and the login's assertion check;
- ``lifecycle``: enable, disable, describe, unlock, resynchronise, delete, and what is left after;
- ``base``: the domain error, the audit record and deleting a token with its device.

Callers import from here (``from tokens import services``); the modules are the map.
"""

from tokens.services.base import TokenError
from tokens.services.delivery import send_code, send_token_code
from tokens.services.enrolment import (
    BACKUP_CODE_COUNT,
    confirm_destination,
    confirm_totp,
    enrol_hotp,
    generate_backup_codes,
    parse_secret,
    start_destination,
    start_totp,
)
from tokens.services.lifecycle import (
    delete_all_tokens,
    delete_token,
    has_factor,
    leaves_no_active_token,
    leaves_no_factor,
    leaves_nothing_usable,
    resync_hotp,
    set_enabled,
    unlock,
    update_description,
)
from tokens.services.passkeys import enrol_passkey, login_passkeys, verify_login_passkey
from tokens.services.verification import (
    CodeCheck,
    Verification,
    manages,
    test_token,
    verify_device,
    verify_login_code,
)

__all__ = [
    "BACKUP_CODE_COUNT",
    "CodeCheck",
    "TokenError",
    "Verification",
    "confirm_destination",
    "confirm_totp",
    "delete_all_tokens",
    "delete_token",
    "enrol_hotp",
    "enrol_passkey",
    "generate_backup_codes",
    "has_factor",
    "leaves_no_active_token",
    "leaves_no_factor",
    "leaves_nothing_usable",
    "login_passkeys",
    "manages",
    "parse_secret",
    "resync_hotp",
    "send_code",
    "send_token_code",
    "set_enabled",
    "start_destination",
    "start_totp",
    "test_token",
    "unlock",
    "update_description",
    "verify_device",
    "verify_login_code",
    "verify_login_passkey",
]
