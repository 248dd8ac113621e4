"""What an expression is evaluated against: one HTTP request, as the lab ADC received it."""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

HeaderInput = Mapping[str, str] | Iterable[tuple[str, str]]

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE = re.compile(r"[\r\n\x00]")
_BAD_URL = re.compile(r"[\x00-\x20\x7f]")
_DIGITS = re.compile(r"[0-9]+")


class Headers(Mapping[str, str]):
    """A case-insensitive, multi-valued header mapping that keeps the order received.

    ``headers["x"]`` and ``get`` give all values of a name joined with ``", "`` (RFC 9110's
    combined field value); ``get_all`` gives them one by one. Built from a dict, a list of
    pairs, or anything with ``multi_items()`` (httpx) or multi-valued ``items()`` (aiohttp).
    """

    __slots__ = ("_items", "_index")

    def __init__(self, headers: HeaderInput | Headers | None = None) -> None:
        if headers is None:
            pairs: list[tuple[str, str]] = []
        elif isinstance(headers, Headers):
            pairs = list(headers._items)
        elif hasattr(headers, "multi_items"):
            pairs = list(headers.multi_items())
        elif isinstance(headers, Mapping) or hasattr(headers, "items"):
            pairs = list(headers.items())
        else:
            pairs = list(headers)
        index: dict[str, list[str]] = {}
        for name, value in pairs:
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"header names and values are str, got {name!r}: {value!r}")
            index.setdefault(name.lower(), []).append(value)
        self._items = tuple(pairs)
        self._index = {name: tuple(values) for name, values in index.items()}

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name`` in the order received (empty when absent)."""
        return self._index.get(name.lower(), ())

    def multi_items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def __getitem__(self, name: str) -> str:
        values = self._index.get(name.lower())
        if values is None:
            raise KeyError(name)
        return ", ".join(values)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"


@dataclass(frozen=True)
class RequestContext:
    """One request. ``hostname`` defaults to the Host header without its port.

    ``headers`` may be a dict, a list of pairs or a ``Headers``; it is stored as ``Headers``.
    ``user_attributes`` are the claims authentication extracted (a value is a str or a list of
    str). ``check_limit(name)`` answers SYS.CHECK_LIMIT: True when the named limit is EXCEEDED;
    None means no limits are configured (never exceeded).
    """

    method: str = "GET"
    url: str = "/"
    hostname: str = ""
    headers: Any = field(default_factory=Headers)
    client_ip: str = ""
    user_attributes: Mapping[str, str | list[str]] = field(default_factory=dict)
    authenticated_user: str | None = None
    check_limit: Callable[[str], bool] | None = None
    body: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))
        if not self.hostname and "host" in self.headers:
            object.__setattr__(self, "hostname", _without_port(self.headers.get_all("host")[0]))
        attributes: dict[str, tuple[str, ...]] = {}
        folded: dict[str, tuple[str, ...]] = {}
        for name, value in self.user_attributes.items():
            values = (value,) if isinstance(value, str) else tuple(value)
            attributes[name] = values
            folded.setdefault(name.lower(), values)
        object.__setattr__(self, "_attributes", attributes)
        object.__setattr__(self, "_folded_attributes", folded)

    def attribute(self, name: str) -> tuple[str, ...]:
        """The values of a claim: exact name first, then ignoring case; empty when absent."""
        values = self._attributes.get(name)  # type: ignore[attr-defined]
        if values is None:
            values = self._folded_attributes.get(name.lower(), ())  # type: ignore[attr-defined]
        return values

    @functools.cached_property
    def content_length(self) -> int | None:
        """The Content-Length header as a number: 0 when absent, None (undefined) when it is not
        one non-negative integer (repeated identical values count as one, as RFC 9110 allows)."""
        values = {v.strip() for raw in self.headers.get_all("content-length") for v in raw.split(",")}
        if not values:
            return 0
        if len(values) != 1:
            return None
        (value,) = values
        return int(value) if _DIGITS.fullmatch(value) else None

    @functools.cached_property
    def is_valid(self) -> bool:
        """A well-formed HTTP/1.1 request: a token method, an origin-form (or ``*`` or
        absolute-form) URL without spaces or control characters, token header names, header
        values without CR/LF/NUL, at most one Host header and a usable Content-Length."""
        if not _TOKEN.fullmatch(self.method) or not self.url or _BAD_URL.search(self.url):
            return False
        if not (self.url.startswith("/") or self.url == "*" or self.url.lower().startswith(("http://", "https://"))):
            return False
        for name, value in self.headers.multi_items():
            if not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value):
                return False
        return len(self.headers.get_all("host")) <= 1 and self.content_length is not None


def _without_port(host: str) -> str:
    host = host.strip()
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        return host[:end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@functools.lru_cache(maxsize=1024)
def address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """``text`` as an IP address (an IPv4-mapped IPv6 address as its IPv4 form); None if not one."""
    try:
        parsed = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed
