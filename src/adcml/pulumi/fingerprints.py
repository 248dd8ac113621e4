"""What the providers keep of a secret in Pulumi's state: a salted scrypt fingerprint, never
the value. A changed secret is found by fingerprinting the new value with the salt kept.

The fingerprint is slow to compute on purpose (scrypt, n=2**14): a state file that leaks does
not make a short password easy to guess. Inputs marked secret stay encrypted in the state by
Pulumi; these fingerprints are for the outputs, which a dynamic provider writes itself.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Any

PREFIX = "scrypt"


def fingerprint(value: str, salt: str | None = None) -> str:
    """``scrypt:<salt hex>:<digest hex>`` of ``value`` (a fresh salt unless given)."""
    salt = salt or os.urandom(8).hex()
    digest = hashlib.scrypt(value.encode(), salt=bytes.fromhex(salt), n=2**14, r=8, p=1, dklen=16)
    return f"{PREFIX}:{salt}:{digest.hex()}"


def is_fingerprint(text: Any) -> bool:
    return isinstance(text, str) and text.startswith(f"{PREFIX}:") and text.count(":") == 2


def matches(value: str, kept: str) -> bool:
    """Whether ``value`` is the secret ``kept`` was made from."""
    if not is_fingerprint(kept):
        return False
    salt = kept.split(":")[1]
    return hmac.compare_digest(fingerprint(value, salt), kept)


def salt_of(data: Any) -> str | None:
    """The salt of the first fingerprint found in ``data`` (to fingerprint the same way again)."""
    if is_fingerprint(data):
        return data.split(":")[1]
    children = data.values() if isinstance(data, dict) else data if isinstance(data, list) else ()
    for child in children:
        found = salt_of(child)
        if found:
            return found
    return None


def scrub(data: Any, secret_keys: Iterable[str], salt: str | None = None) -> Any:
    """``data`` with everything under a key in ``secret_keys`` (anywhere in it: a string, or
    every string of a mapping such as an endpoint's ``secrets``) replaced by fingerprints (salted
    with ``salt``, or a fresh salt)."""
    keys, salt = frozenset(secret_keys), salt or os.urandom(8).hex()

    def hide(value: Any) -> Any:
        if isinstance(value, str):
            return value if is_fingerprint(value) else fingerprint(value, salt)
        if isinstance(value, dict):
            return {k: hide(v) for k, v in value.items()}
        if isinstance(value, list):
            return [hide(v) for v in value]
        return value

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: hide(v) if k in keys else walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(data)


def secrets_in(data: Any, secret_keys: Iterable[str]) -> list[str]:
    """The strings under the keys in ``secret_keys``, anywhere in ``data``."""
    keys, found = frozenset(secret_keys), []

    def collect(value: Any) -> None:
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict | list):
            for v in value.values() if isinstance(value, dict) else value:
                collect(v)

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                (collect if k in keys else walk)(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(data)
    return found


__all__ = ["fingerprint", "is_fingerprint", "matches", "salt_of", "scrub", "secrets_in"]
