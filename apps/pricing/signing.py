"""Ed25519 signing of the price list, in exactly the canonical form the sidecar verifies (SPEC §5).

The signature covers the UTF-8 bytes of `json.dumps(doc_without_signature, sort_keys=True,
separators=(",", ":"), ensure_ascii=False, allow_nan=False)`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings

ALGORITHM = "ed25519"


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    public_raw: bytes

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode()

    @property
    def key_id(self) -> str:
        # Short and stable: lets an operator see which key signed a document at a glance.
        return hashlib.sha256(self.public_raw).hexdigest()[:16]

    def sign(self, document: dict[str, Any]) -> dict[str, Any]:
        """Return a copy of `document` with `signature` over everything else."""
        unsigned = {k: v for k, v in document.items() if k != "signature"}
        signature = self.private.sign(canonical_json(unsigned))
        return {**unsigned, "signature": base64.b64encode(signature).decode()}


@lru_cache(maxsize=4)
def key_for(private_b64: str) -> SigningKey:
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(private_b64, validate=True))
    return SigningKey(private=private, public_raw=private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def signing_key() -> SigningKey:
    """The configured key (settings validated its shape at start-up)."""
    return key_for(settings.PRICING_SIGNING_PRIVATE_KEY)


def generate_private_key_b64() -> str:
    # A raw Ed25519 private key is 32 random bytes.
    return base64.b64encode(os.urandom(32)).decode()
