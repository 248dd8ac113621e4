"""URL encoding of NITRO paths and query strings: pure functions, no I/O.

- The object name path segment is URL-encoded twice (the appliance decodes it twice), so a
  name with ``/``, ``%``, spaces or non-ASCII survives any proxy that decodes once; the names
  ``.`` and ``..`` are encoded too, so that no URL normalisation takes them for dot-segments.
- ``args=`` and ``filter=`` are ``k:v,k2:v2`` lists whose keys and values are percent-encoded
  (``,`` ``:`` ``/`` ``%`` and non-ASCII included), so a server that splits the *raw* query on
  ``,`` and then on the first ``:`` and decodes each part gets the values back.
- ``attrs=`` is a comma list of attribute names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any
from urllib.parse import quote, unquote

from adcml.nitro.errors import InvalidRequest
from adcml.secret import Secret

_RESOURCE = re.compile(r"^[a-z][a-z0-9_]*$")


def quote_name(name: str) -> str:
    """The double-encoded path segment for an object name.

    ``quote`` leaves ``.`` alone, so a name ``.`` or ``..`` would be a dot-segment that URL
    normalisation removes (``/lbvserver/..`` becomes ``/config``); its dots are encoded too.
    """
    text = str(name)
    if text in (".", ".."):
        return "%252E" * len(text)
    return quote(quote(text, safe=""), safe="")


def unquote_name(segment: str) -> str:
    """Inverse of :func:`quote_name` (what the appliance does with the raw segment)."""
    return unquote(unquote(segment))


def format_value(value: Any) -> str:
    """A query value as NITRO spells it: booleans lower case, enums by value."""
    if isinstance(value, Secret):
        raise TypeError("a Secret cannot be put in a URL")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str | int | float):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__} in a NITRO query")


def quote_value(value: Any) -> str:
    return quote(format_value(value), safe="")


def encode_pairs(pairs: Mapping[str, Any]) -> str:
    """``{"k": "a,b", "k2": 1}`` → ``k:a%2Cb,k2:1`` (for ``args=`` and ``filter=``)."""
    if not isinstance(pairs, Mapping):
        raise TypeError(f"args/filter must be a mapping, got {type(pairs).__name__}")
    return ",".join(f"{quote(str(k), safe='')}:{quote_value(v)}" for k, v in pairs.items())


def decode_pairs(text: str) -> dict[str, str]:
    """Inverse of :func:`encode_pairs` on the raw (still encoded) query value."""
    out: dict[str, str] = {}
    for part in text.split(","):
        if not part:
            continue
        key, _, value = part.partition(":")
        out[unquote(key)] = unquote(value)
    return out


def encode_attrs(attrs: Iterable[str]) -> str:
    if isinstance(attrs, str):
        attrs = [attrs]
    return ",".join(quote(a, safe="") for a in attrs)


def build_query(
    *,
    args: Mapping[str, Any] | None = None,
    filter: Mapping[str, Any] | None = None,
    attrs: Iterable[str] | None = None,
    **params: Any,
) -> str:
    """The raw query string (without ``?``); parameters whose value is None are left out."""
    parts: list[str] = []
    if args:
        parts.append("args=" + encode_pairs(args))
    if filter:
        parts.append("filter=" + encode_pairs(filter))
    if attrs:
        parts.append("attrs=" + encode_attrs(attrs))
    parts.extend(f"{k}={quote_value(v)}" for k, v in params.items() if v is not None)
    return "&".join(parts)


def check_resource(resource: str) -> str:
    """Reject anything that is not a plain NITRO resource name (keeps it out of the path)."""
    if not isinstance(resource, str) or not _RESOURCE.match(resource):
        raise InvalidRequest(
            f"resource: expected a NITRO resource name like 'lbvserver', got {resource!r}"
        )
    return resource


def resource_path(kind: str, resource: str, name: str | None = None) -> str:
    """``/nitro/v1/<kind>/<resource>[/<double-encoded name>]``."""
    path = f"/nitro/v1/{kind}/{check_resource(resource)}"
    if name is not None:
        if str(name) == "":
            raise InvalidRequest(f"{resource}: the object name is empty")
        path += "/" + quote_name(name)
    return path
