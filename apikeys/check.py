"""The reference check: how the platform's gateway verifies a key a caller presents.

The gateway polls ``GET /api/platform/v1/keys/<organisation>`` (the document
``apikeys.selectors.keys_for_platform`` builds) and, for each API call, decides with exactly the
steps below. This module is that contract in executable form: it reads only the documents the
portal serves, imports nothing from Django, and its tests (tests/apikeys/test_check.py) run it
against documents the portal really served.

1. Find the entry by the secret's visible prefix (``ak_<environment>_<12 hex digits>``).
2. Compare the SHA-256 of the whole secret with the entry's hash in constant time
   (``hmac.compare_digest``): an unknown prefix and a wrong secret get the same answer.
3. The time is within ``[valid_from, valid_until)``; a rolled secret ends with its overlap
   whether or not the gateway has polled since.
4. The method is allowed (``"*"``: every method, also ones added later).
5. The caller's address is inside one of the key's addresses (when it has any) and, when the
   organisation's whitelist document is given, inside one of its networks too: a key's
   addresses narrow the whitelist, never widen it.
"""

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

HASH_ALGORITHM = "sha256"
SECRET_SCHEME = "ak"
ALL_METHODS = "*"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

OK = "ok"
UNKNOWN_KEY = "unknown_key"
NOT_YET_VALID = "not_yet_valid"
EXPIRED = "expired"
METHOD_NOT_ALLOWED = "method_not_allowed"
ADDRESS_NOT_ALLOWED = "address_not_allowed"


def hash_secret(secret: str) -> str:
    """The stored form of a secret: SHA-256 of its UTF-8 bytes, in lower-case hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def prefix_of(secret: str) -> str | None:
    """The visible prefix of ``ak_<environment>_<id>_<random>``, or None for anything else."""
    parts = secret.split("_", 3)
    if len(parts) != 4 or parts[0] != SECRET_SCHEME or not all(parts):
        return None
    return "_".join(parts[:3])


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # OK or one of the refusals above
    name: str | None = None  # the key's name, once the secret matched
    prefix: str | None = None


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # the whitelist stores ::ffff:a.b.c.d ranges as IPv4
    return address


def _inside(address: Address, networks: Iterable[str]) -> bool:
    return any(address in ipaddress.ip_network(network) for network in networks)


def check_key(
    keys_document: Mapping[str, Any],
    *,
    presented: str,
    method: str,
    source_ip: str,
    now: datetime,
    whitelist_document: Mapping[str, Any] | None = None,
) -> Decision:
    """Whether a call with the ``presented`` secret may go through, and if not, why."""
    prefix = prefix_of(presented)
    entry = next((k for k in keys_document.get("keys", []) if prefix is not None and k["prefix"] == prefix), None)
    if entry is None or not hmac.compare_digest(entry["hash"], hash_secret(presented)):
        return Decision(allowed=False, reason=UNKNOWN_KEY)
    refused = lambda reason: Decision(allowed=False, reason=reason, name=entry["name"], prefix=prefix)  # noqa: E731
    if now < _time(entry["valid_from"]):
        return refused(NOT_YET_VALID)
    if entry["valid_until"] is not None and now >= _time(entry["valid_until"]):
        return refused(EXPIRED)
    methods = entry["allowed_methods"]
    if ALL_METHODS not in methods and method not in methods:
        return refused(METHOD_NOT_ALLOWED)
    address = _address(source_ip)
    if address is None:
        return refused(ADDRESS_NOT_ALLOWED)
    if entry["allowed_addresses"] is not None and not _inside(address, entry["allowed_addresses"]):
        return refused(ADDRESS_NOT_ALLOWED)
    if whitelist_document is not None and not _inside(address, (n["network"] for n in whitelist_document["networks"])):
        return refused(ADDRESS_NOT_ALLOWED)
    return Decision(allowed=True, reason=OK, name=entry["name"], prefix=prefix)
