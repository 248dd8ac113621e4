"""A string that prints masked: passwords, client secrets, private keys, tokens.

``Secret`` keeps its value out of ``repr``, ``str``, f-strings, ``%``-formatting, logging and
exception messages; the only way to the value is an explicit ``reveal()``, done where the value
is sent (the NITRO client's JSON encoder). ``fingerprint()`` compares secrets without showing
them, e.g. to tell whether a rotation changed anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any, overload

MASK = "***"


class Secret:
    """An immutable secret string; every textual form of it is ``***``."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value._value
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, got {type(value).__name__}")
        object.__setattr__(self, "_value", value)

    @overload
    @classmethod
    def wrap(cls, value: None) -> None: ...
    @overload
    @classmethod
    def wrap(cls, value: str | Secret) -> Secret: ...
    @classmethod
    def wrap(cls, value: str | Secret | None) -> Secret | None:
        """Return ``value`` as a Secret: a Secret unchanged, a str wrapped, None as None."""
        if value is None or isinstance(value, Secret):
            return value
        return cls(value)

    def reveal(self) -> str:
        """The clear value. Call it only where the value leaves the process."""
        return self._value

    def fingerprint(self, length: int = 12) -> str:
        """A short SHA-256 hex digest, to compare or log identity without the value."""
        return hashlib.sha256(self._value.encode("utf-8")).hexdigest()[:length]

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        # Pickling and deepcopy are deliberate acts (a worker process needs the credentials);
        # only the textual forms above are guarded.
        return (Secret, (self._value,))


# PEM blocks of private keys (and anything else PEM-armoured that names a KEY), or OpenSSH keys.
_KEY_MATERIAL = re.compile(r"-----BEGIN [A-Z0-9 ]*(PRIVATE KEY|KEY)[A-Z0-9 ]*-----|"
                           r"-----BEGIN OPENSSH PRIVATE KEY-----|PuTTY-User-Key-File-")


def looks_like_key_material(value: object) -> bool:
    """Whether ``value`` holds key material (PEM or OpenSSH private key text) rather than, say,
    a file path: such text is a secret wherever it turns up, and is never echoed back."""
    return isinstance(value, str | bytes) and bool(
        _KEY_MATERIAL.search(value.decode("latin-1") if isinstance(value, bytes) else value))
