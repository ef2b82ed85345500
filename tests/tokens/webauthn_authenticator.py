"""A software authenticator for the server-side passkey tests: what a browser and its passkey send.

It answers the options the portal's pages hand the browser with the JSON a browser posts back:
a "none" attestation at enrolment (WebAuthn §8.7), a signed assertion at login (§6.3.3), each over
client data naming the origin the "browser" is on. The key is an ECDSA P-256 key made with
``cryptography``; nothing here comes from py_webauthn, the library under test.
"""

import hashlib
import html
import json
import os
import re
import struct
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40  # authenticator data flags: user present, verified, attested data
AAGUID = bytes(16)  # "none" attestation: all zero


def b64url(data: bytes) -> str:
    return urlsafe_b64encode(data).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return urlsafe_b64decode(text + "=" * (-len(text) % 4))


def options_in(page: str, element_id: str) -> dict[str, Any]:
    """The options a page hands the browser (its json_script data block, the JSON text of them)."""
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', page, re.S)
    assert match, f"no {element_id} on the page"
    return dict(json.loads(json.loads(html.unescape(match.group(1)))))


@dataclass
class SoftwareAuthenticator:
    origin: str = "http://testserver"
    user_verified: bool = True
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    sign_count: int = 0

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")})

    def _flags(self) -> int:
        return UP | (UV if self.user_verified else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data, separators=(",", ":")).encode()

    def create(self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None) -> str:
        """The browser's JSON answer to ``navigator.credentials.create`` with these options."""
        rp_hash = hashlib.sha256((rp_id or options["rp"]["id"]).encode()).digest()
        attested = AAGUID + struct.pack(">H", len(self.credential_id)) + self.credential_id + self.cose_public_key()
        auth_data = rp_hash + bytes([self._flags() | AT]) + struct.pack(">I", self.sign_count) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "cross-platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "attestationObject": b64url(attestation),
                    "transports": ["usb"],
                },
            }
        )

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        signing_key: ec.EllipticCurvePrivateKey | None = None,
    ) -> str:
        """The browser's JSON answer to ``navigator.credentials.get``; the counter goes up by one
        unless ``sign_count`` says what to report (a clone reports what its copy has)."""
        if sign_count is None:
            self.sign_count += 1
            sign_count = self.sign_count
        rp_hash = hashlib.sha256((rp_id or options["rpId"]).encode()).digest()
        auth_data = rp_hash + bytes([self._flags()]) + struct.pack(">I", sign_count)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = (signing_key or self.private_key).sign(signed, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                "id": b64url(self.credential_id),
                "rawId": b64url(self.credential_id),
                "type": "public-key",
                "authenticatorAttachment": "cross-platform",
                "clientExtensionResults": {},
                "response": {
                    "clientDataJSON": b64url(client_data),
                    "authenticatorData": b64url(auth_data),
                    "signature": b64url(signature),
                    "userHandle": None,
                },
            }
        )
