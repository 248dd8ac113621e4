"""Shorthands for writing the catalog's attribute tables (``catalog``, ``catalog_security``)."""

from __future__ import annotations

from adcml.resources.model import Attr, Kind

ONOFF = ("ON", "OFF")
ENABLED = ("ENABLED", "DISABLED")
YESNO = ("YES", "NO")
NAME_MAX = 127


def key_attr(attr: str, **kw) -> Attr:
    """A required name attribute (an object's key, or a binding's parent name)."""
    kw.setdefault("max_len", NAME_MAX)
    return Attr(attr, required=True, **kw)


def str_attr(attr: str, **kw) -> Attr:
    return Attr(attr, Kind.STR, **kw)


def int_attr(attr: str, default=None, lo=None, hi=None, **kw) -> Attr:
    return Attr(attr, Kind.INT, default=default, min=lo, max=hi, **kw)


def enum_attr(attr: str, choices: tuple[str, ...], default=None, **kw) -> Attr:
    return Attr(attr, Kind.ENUM, default=default, choices=choices, **kw)


def ro_attr(attr: str, kind: Kind = Kind.STR, **kw) -> Attr:
    return Attr(attr, kind, readonly=True, **kw)


COMMENT = str_attr("comment", max_len=256)
ADMIN_STATE = enum_attr("state", ENABLED, default="ENABLED", operational=True)
"""ENABLED/DISABLED as set by the ``enable``/``disable`` actions."""
STATE = ro_attr("curstate")
