"""The demo organisation's extract key (seed_demo), set once: its token extracts are encrypted.

The matching secret key is derived from a fixed seed, so every demo install has the same one and
seed_demo can print it for decrypting what the demo admin downloads. Never do this with a real
key: a secret key belongs on its owner's computer only, and the portal only ever sees public keys.
"""

import hashlib

from django.utils import timezone
from pyrage import x25519

from accounts.models import Organisation, User
from extracts.models import ExtractKey

_SEED = b"portal demo: token extract key"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _polymod(values: list[int]) -> int:
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i, generator in enumerate(_GENERATOR):
            check ^= generator if (top >> i) & 1 else 0
    return check


def _bech32(hrp: str, data: bytes) -> str:
    """BIP 173 Bech32 (what age keys are written in), without BIP 173's 90-character limit, as age does."""
    accumulator, bits, groups = 0, 0, []
    for byte in data:
        accumulator, bits = (accumulator << 8) | byte, bits + 8
        while bits >= 5:
            bits -= 5
            groups.append((accumulator >> bits) & 31)
    if bits:
        groups.append((accumulator << (5 - bits)) & 31)
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _polymod(expanded + groups + [0] * 6) ^ 1
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[g] for g in groups + checksum)


def demo_identity() -> x25519.Identity:
    """The demo's age identity (secret key); the same on every install."""
    return x25519.Identity.from_str(_bech32("age-secret-key-", hashlib.sha256(_SEED).digest()).upper())


def demo_recipient() -> str:
    return str(demo_identity().to_public())


def seed_demo_extract_key(*, organisation: Organisation, admin: User) -> None:
    ExtractKey.objects.get_or_create(
        organisation=organisation,
        defaults={"recipient": demo_recipient(), "set_by": admin, "set_at": timezone.now()},
    )
