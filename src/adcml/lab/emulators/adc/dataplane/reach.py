"""Where the lab's data plane may connect and listen: loopback, plus what the lab allows.

The lab carries real traffic, so a member address typed by mistake (or a production address
copied from an inventory) must never be probed or connected to from a developer's machine.
Every socket the data plane opens — listeners, proxied requests, health probes, JWKS fetches —
goes through ``AddressPolicy.check``; the proxy's connector checks again just before
``connect()`` so that no code path can bypass it.

>>> policy = AddressPolicy()
>>> policy.allows("127.0.1.5"), policy.allows("192.0.2.1")
(True, False)
>>> policy.allow("10.200.0.0/24"); policy.allows("10.200.0.7")
True
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable

LOOPBACK = ("127.0.0.0/8", "::1/128")
UNREACHABLE = "unreachable by policy"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class AddressRefused(ConnectionRefusedError):
    """An address outside the allow-list: nothing was sent to it."""

    def __init__(self, address: str):
        self.address = address
        super().__init__(f"{address}: {UNREACHABLE} (the lab reaches loopback and the networks "
                         "it created only; hint: AddressPolicy.allow adds a network)")


class AddressPolicy:
    """The networks the data plane may reach: loopback, and those the lab adds (for example
    the subnet of a network namespace it created)."""

    def __init__(self, networks: Iterable[str] = LOOPBACK):
        self._networks: list[Network] = []
        for network in networks:
            self.allow(network)

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self._networks)

    def allow(self, network: str) -> None:
        """Allow ``network`` (CIDR, or one address)."""
        net = ipaddress.ip_network(network, strict=False)
        if net not in self._networks:
            self._networks.append(net)

    def allows(self, address: str) -> bool:
        """Whether ``address`` (an IP literal) may be reached; names are never allowed here."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in net for net in self._networks)

    def check(self, address: str) -> str:
        """``address`` if allowed; raises AddressRefused otherwise."""
        if not self.allows(address):
            raise AddressRefused(address)
        return address

    def socket_factory(self, addr_info: tuple) -> socket.socket:
        """For aiohttp's TCPConnector: refuse before a socket is even created."""
        family, kind, proto, _canon, sockaddr = addr_info
        self.check(sockaddr[0])
        return socket.socket(family=family, type=kind, proto=proto)

    async def open_connection(self, host: str, port: int, *, tls: ssl.SSLContext | None = None,
                              server_hostname: str | None = None):
        """``asyncio.open_connection`` to an allowed address (resolving names first, then
        checking every address they resolve to)."""
        loop = asyncio.get_running_loop()
        if self.allows(host):
            addresses = [host]
        else:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = [info[4][0] for info in infos]
            if not addresses or not all(self.allows(a) for a in addresses):
                raise AddressRefused(host)
        return await asyncio.open_connection(
            addresses[0], port, ssl=tls, server_hostname=server_hostname if tls else None)
