"""API key format and hashing (SPEC §2): `sk_cynsta_{live|test}_<32 base62>`."""

from __future__ import annotations

import hashlib
import re
import secrets
import string

_ALPHABET = string.ascii_letters + string.digits
KEY_RE = re.compile(r"^sk_cynsta_(live|test)_[A-Za-z0-9]{32}$")
DISPLAY_PREFIX_LEN = 20  # "sk_cynsta_live_" + 5 characters


def generate_key(test: bool = False) -> str:
    body = "".join(secrets.choice(_ALPHABET) for _ in range(32))
    return f"sk_cynsta_{'test' if test else 'live'}_{body}"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LEN]


def looks_like_key(key: str) -> bool:
    return bool(KEY_RE.match(key))
