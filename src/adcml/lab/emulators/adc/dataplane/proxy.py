"""Forwarding one request to one member and the response back.

One aiohttp ``ClientSession`` keeps a pool of keep-alive connections per member (host, port,
and for SSL groups the TLS settings and server name); its connector creates sockets only for
addresses the ``AddressPolicy`` allows. TLS to members follows their group's ``MemberTls``
(SNI, verification). No cookie jar, no automatic headers, no decompression, no redirects: the
lab forwards what it receives.
"""

from __future__ import annotations

import ssl

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from adcml.lab.emulators.adc.dataplane.member_tls import MemberTls
from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
    "trailers", "transfer-encoding", "upgrade", "proxy-connection",
})
BUFFER_LIMIT = 1024 * 1024  # responses up to this size (with a length) are sent in one piece
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class BackendError(Exception):
    """The member could not be used; ``sent`` says whether the request may have reached it."""

    def __init__(self, reason: str, sent: bool):
        self.reason, self.sent = reason, sent
        super().__init__(reason)


def forward_headers(headers, client_ip: str, cipheader: str | None) -> CIMultiDict:
    """Request headers for the member: hop-by-hop ones removed, X-Forwarded-For appended."""
    drop = set(HOP_BY_HOP)
    for value in headers.getall("Connection", ()):
        drop.update(token.strip().lower() for token in value.split(","))
    out = CIMultiDict()
    for name, val in headers.items():
        lower = name.lower()
        if lower in drop or lower in ("content-length", "expect"):
            continue
        out.add(name, val)
    previous = out.popall("X-Forwarded-For", None)
    out["X-Forwarded-For"] = ", ".join([*previous, client_ip]) if previous else client_ip
    if cipheader:
        out[cipheader] = client_ip
    return out


def response_headers(headers) -> CIMultiDict:
    drop = set(HOP_BY_HOP) | {"content-length"}
    for value in headers.getall("Connection", ()):
        drop.update(token.strip().lower() for token in value.split(","))
    return CIMultiDict((k, v) for k, v in headers.items() if k.lower() not in drop)


class Forwarder:
    """Sends requests to members over pooled connections."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, keepalive_timeout=30, use_dns_cache=False,
            socket_factory=self.policy.socket_factory, happy_eyeballs_delay=None)
        self.session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
        )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def send(self, request: web.BaseRequest, ip: str, port: int, path: str,
                   headers: CIMultiDict, body: bytes, *, tls: MemberTls | None,
                   timeout: float) -> aiohttp.ClientResponse:
        """Open the member's response (headers read); raises BackendError."""
        self.policy.check(ip)
        host = f"[{ip}]" if ":" in ip else ip
        url = URL(f"{'https' if tls else 'http'}://{host}:{port}{path}", encoded=True)
        assert self.session is not None, "Forwarder.start() first"
        try:
            context = tls.context() if tls is not None else False
        except ssl.SSLError as exc:
            raise BackendError(f"TLS to the member cannot be set up: {exc}", sent=False) from None
        try:
            return await self.session.request(
                request.method, url, headers=headers, data=body or None, allow_redirects=False,
                ssl=context, server_hostname=tls.sni if tls is not None else None, compress=None,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=timeout),
            )
        except aiohttp.ClientConnectorError as exc:
            raise BackendError(f"connect failed: {exc.os_error or exc}", sent=False) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise BackendError(f"{type(exc).__name__}: {exc}", sent=True) from None


async def relay(request: web.BaseRequest, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    """Send ``upstream`` back to the client: small bodies whole, others streamed (SSE too)."""
    headers = response_headers(upstream.headers)
    length = upstream.content_length
    try:
        if request.method == "HEAD" or upstream.status in (204, 304) or (
                length is not None and length <= BUFFER_LIMIT):
            body = await upstream.read()
            response = web.Response(status=upstream.status, reason=upstream.reason,
                                    headers=headers, body=body)
            if request.method == "HEAD" and length is not None:
                response.headers["Content-Length"] = str(length)
            return response
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                      headers=headers)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
        except (aiohttp.ClientError, ConnectionError):
            # The member broke off mid-body: the client must not take the rest as complete.
            if request.transport is not None:
                request.transport.abort()
        return response
    finally:
        upstream.release()
