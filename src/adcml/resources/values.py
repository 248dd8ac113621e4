"""Attribute values: from what a client sends or an appliance returns, to one canonical form.

An appliance returns ``"weight": "1"`` for a weight sent as ``1``, ``"ROUNDROBIN"`` for
``roundrobin``, and ``true`` or ``"true"`` for booleans. ``canonical`` turns any of these into
one Python value per attribute kind (int, upper-case enum, bool, list); ``wire`` turns a
canonical value into what an appliance returns. The lab ADC, the NITRO client and the engine's
diff all use these two functions, so they agree on what "equal" means.
"""

from __future__ import annotations

from typing import Any

from adcml.resources.model import Attr, Kind


class BadValue(ValueError):
    """A value that does not fit its attribute; the message says why."""


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def canonical(attr: Attr, value: Any) -> Any:
    """The canonical form of ``value`` for ``attr``; raises BadValue if it does not fit."""
    if value is None:
        return None
    kind = attr.kind
    if kind is Kind.INT:
        return _int(attr, value)
    if kind is Kind.BOOL:
        return _bool(value)
    if kind is Kind.ENUM:
        return _choice(attr, value)
    if kind in (Kind.LIST, Kind.FLAGS):
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(i, str | int) and not isinstance(i, bool) for i in items):
            raise BadValue(f"expected a list of strings, got {value!r}")
        if kind is Kind.FLAGS:
            return sorted({_choice(attr, i) for i in items})
        return [str(i) for i in items]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadValue(f"expected a string, got {type(value).__name__}")
    text = str(value)
    if attr.max_len is not None and len(text) > attr.max_len:
        raise BadValue(f"longer than {attr.max_len} characters")
    return text


def wire(attr: Attr, value: Any) -> Any:
    """What an appliance returns for the canonical ``value``: most numbers as strings."""
    if attr.kind is Kind.INT and not attr.wire_int and value is not None:
        return str(value)
    return value


def _int(attr: Attr, value: Any) -> int:
    if isinstance(value, bool):
        raise BadValue(f"expected an integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise BadValue(f"expected an integer, got {value!r}")
    if attr.min is not None and value < attr.min:
        raise BadValue(f"must be at least {attr.min}, got {value}")
    if attr.max is not None and value > attr.max:
        raise BadValue(f"must be at most {attr.max}, got {value}")
    return value


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    raise BadValue(f"expected true or false, got {value!r}")


def _choice(attr: Attr, value: Any) -> str:
    if not isinstance(value, str):
        raise BadValue(f"expected one of {', '.join(attr.choices)}, got {value!r}")
    for choice in attr.choices:
        if choice.upper() == value.upper():
            return choice
    raise BadValue(f"expected one of {', '.join(attr.choices)}, got {value!r}")
