"""Domain-based servers (``server`` with ``domain``): their names resolved the lab's way.

An appliance resolves a server's domain through its DNS: name servers it is given, or its own
address records (``dnsaddrec``). The lab asks no name server at all, so a typo or a production
name can never send traffic off this machine: a domain resolves only through the partition's
``dnsaddrec`` records, and only to a loopback address (127.0.0.0/8, ::1). Anything else leaves
the member unreachable, with the reason shown in ``/lab/dataplane``. Names are compared as DNS
compares them: case-insensitively, a trailing dot ignored; a wildcard record ``*.domain``
answers every name below ``domain`` that has no record of its own. Resolution happens when the tables
are rebuilt, that is after every config change (adding or removing a record included).
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple


def _canonical(name: str) -> str:
    return name.strip().rstrip(".").lower()


class Resolution(NamedTuple):
    """What a domain came to: an address, or why there is none."""

    address: str | None
    problem: str | None = None


class AddressRecords:
    """One partition's ``dnsaddrec`` records, by host name."""

    def __init__(self, part) -> None:
        self._records = {_canonical(row["hostname"]): row["ipaddress"]
                         for row in part.table("dnsaddrec").values()}

    def resolve(self, domain: str) -> Resolution:
        address = self._lookup(_canonical(domain))
        if address is None:
            return Resolution(None, f"domain {domain}: no dnsaddrec record (the lab resolves "
                                    "names only through the ADC's own address records)")
        if not _is_loopback(address):
            return Resolution(None, f"domain {domain} resolves to {address} (dnsaddrec), not a "
                                    "loopback address: the lab never contacts it")
        return Resolution(address)


    def _lookup(self, name: str) -> str | None:
        """The record of ``name``, else of the closest wildcard above it (``*.b.c`` answers
        ``a.b.c`` and ``x.a.b.c``, as DNS wildcards do when no closer name exists)."""
        if name in self._records:
            return self._records[name]
        labels = name.split(".")
        for i in range(1, len(labels)):
            wildcard = "*." + ".".join(labels[i:])
            if wildcard in self._records:
                return self._records[wildcard]
        return None


def _is_loopback(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
