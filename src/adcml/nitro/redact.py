"""Masking of secrets in NITRO bodies, headers and messages before they are logged or raised.

An attribute is secret when its name is in ``adcml.resources.SECRET_ATTRS``, the one table of
secret attribute names (compared without regard to case: NITRO names are lower case, but an
echo in a message may not be).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from adcml.resources import SECRET_ATTRS
from adcml.secret import MASK, Secret

_SECRET_HEADERS = frozenset({"x-nitro-pass", "authorization", "proxy-authorization"})
_TOKEN = re.compile(r"(NITRO_AUTH_TOKEN=)[^;,\s]*", re.IGNORECASE)

# Replacing a one- or two-character "secret" everywhere would garble messages beyond use.
_MIN_SECRET_LEN = 3


def is_secret_attr(name: str) -> bool:
    return name.lower() in SECRET_ATTRS


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with every secret attribute's value replaced by ``***``."""
    return _redact(value, SECRET_ATTRS)


def _redact(value: Any, secret: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            k: MASK if str(k).lower() in secret else _redact(v, secret) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, secret) for v in value]
    if isinstance(value, Secret):
        return MASK
    return value


def secret_values(value: Any) -> set[str]:
    """Every clear secret found in a JSON-like value (to scrub it from echoed messages)."""
    found: set[str] = set()

    def walk(v: Any, is_secret: bool) -> None:
        if isinstance(v, Mapping):
            for k, item in v.items():
                walk(item, is_secret or str(k).lower() in SECRET_ATTRS)
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item, is_secret)
        elif isinstance(v, Secret):
            found.add(v.reveal())
        elif is_secret and isinstance(v, str):
            found.add(v)

    walk(value, False)
    return {s for s in found if s}


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Headers with passwords and session tokens masked."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for key, val in items:
        if key.lower() in _SECRET_HEADERS:
            out[key] = MASK
        elif key.lower() in ("cookie", "set-cookie"):
            out[key] = _TOKEN.sub(rf"\g<1>{MASK}", val)
        else:
            out[key] = val
    return out


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values and ``[<secret attr>, <value>]`` echoes in a message."""
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= _MIN_SECRET_LEN:
            text = text.replace(value, MASK)
    text = _TOKEN.sub(rf"\g<1>{MASK}", text)
    return _ECHO.sub(_mask_echo, text)


# The appliance echoes the offending argument: "Invalid argument value [passplain, hunter2]".
_ECHO = re.compile(r"\[\s*([A-Za-z0-9_]+)\s*,\s*([^\]]*)\]")


def _mask_echo(match: re.Match[str]) -> str:
    if is_secret_attr(match.group(1)):
        return f"[{match.group(1)}, {MASK}]"
    return match.group(0)
