"""The data plane: each endpoint's own TLS listener, on a port chosen at creation and kept.

Its certificate, signed by the lab CA, names the endpoint's host name
(``{id}.{region}.{vendor}.{domain}``) and the listen address, so a client can use the URL
(``https://127.0.0.1:PORT``) or reach the address with SNI and Host set to the name, as an ADC
in front of the real service does. A request is checked in this order, and recorded whatever
its answer (``GET /lab/requests``):

1. the names: SNI (when sent) must be the host name, Host the host name or the address — 421;
2. the token: none for ``public``; otherwise one of the endpoint's namespace — 401, 403;
3. the state: running is proxied to the replica; scaled to zero wakes the endpoint; anything
   else is 503 (with ``X-Scale-Up-Timeout: SECONDS``, a starting endpoint is waited for first,
   as the service's proxy does).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp import web

from adcml.lab.emulators.hf.exceptions import BadGateway, MisdirectedRequest, ServiceError, Unavailable
from adcml.lab.emulators.hf.models.accounts import Tokens
from adcml.lab.emulators.hf.models.endpoint import Endpoint, endpoint_id, timestamp
from adcml.lab.emulators.hf.models.states import DEPLOYED, State
from adcml.lab.emulators.hf.models.traffic import RequestLog, RequestRecord, fingerprint
from adcml.lab.emulators.hf.replicas import Replica
from adcml.lab.services.pki import KeyType, LabCA

log = logging.getLogger("adcml.lab.hf")
MAX_BODY = 8 * 1024 * 1024
MAX_SCALE_UP_WAIT = 600.0
SCALE_UP_POLL_SECONDS = 0.1
SNI_ATTRIBUTE = "adcml_sni"  # where the SNI callback leaves the server name on the SSL object
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
                        "trailer", "transfer-encoding", "upgrade", "host", "authorization",
                        "content-length", "x-scale-up-timeout"})
HOP_BY_HOP_ANSWER = HOP_BY_HOP - {"content-length"}  # the answer is passed on as it comes


class Endpoints(Protocol):
    """What the data plane needs of the backend."""

    tokens: Tokens
    domain: str

    def find(self, namespace: str, name: str) -> Endpoint | None: ...

    def serving(self, endpoint: Endpoint) -> Replica | None:
        """The replica when the endpoint is running, else None."""

    async def wake(self, endpoint: Endpoint) -> None:
        """Start a scaled-to-zero endpoint."""


@dataclass
class _Listener:
    runner: web.AppRunner
    port: int


def _remember_sni(ssl_object: ssl.SSLObject, server_name: str | None, context: ssl.SSLContext) -> None:
    setattr(ssl_object, SNI_ATTRIBUTE, server_name)


def _host_only(host: str) -> str:
    """``name:443`` → ``name``; ``[::1]:443`` → ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _url_address(host: str) -> str:
    """The address in URLs and certificates: the listen address, loopback for a wildcard."""
    try:
        return "127.0.0.1" if ipaddress.ip_address(host).is_unspecified else host
    except ValueError:  # a name, such as localhost
        return host


def _wait_seconds(header: str | None) -> float:
    try:
        return min(max(float(header), 0.0), MAX_SCALE_UP_WAIT) if header else 0.0
    except ValueError:
        return 0.0


class DataPlane:
    def __init__(self, endpoints: Endpoints, ca: LabCA, host: str, cert_dir: Path):
        self.endpoints, self.ca, self.host, self.cert_dir = endpoints, ca, host, cert_dir
        self.address = _url_address(host)
        self.requests = RequestLog()
        self._listeners: dict[tuple[str, str], _Listener] = {}
        self._http: aiohttp.ClientSession | None = None

    def url(self, endpoint: Endpoint) -> str:
        address = f"[{self.address}]" if ":" in self.address else self.address
        return f"https://{address}:{endpoint.port}"

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                                           timeout=aiohttp.ClientTimeout(total=None, sock_connect=5))

    async def stop(self) -> None:
        for key in list(self._listeners):
            await self.close(key)
        if self._http is not None:
            await self._http.close()

    async def open(self, endpoint: Endpoint) -> int:
        """Listen for ``endpoint`` on its port (a free one when it has none yet); the port."""
        runner = web.AppRunner(self._app(endpoint.key), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, endpoint.port, ssl_context=self._tls(endpoint))
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._listeners[endpoint.key] = _Listener(runner, port)
        return port

    async def close(self, key: tuple[str, str]) -> None:
        listener = self._listeners.pop(key, None)
        if listener is not None:
            await listener.runner.cleanup()

    def _tls(self, endpoint: Endpoint) -> ssl.SSLContext:
        host_name = endpoint.host_name(self.endpoints.domain)
        issued = self.ca.issue(host_name, sans=(host_name, self.address), key_type=KeyType.EC)
        stem = endpoint_id(*endpoint.key)
        cert, key = self.cert_dir / f"{stem}.pem", self.cert_dir / f"{stem}.key"
        issued.write(cert, key)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        context.sni_callback = _remember_sni
        return context

    def _app(self, key: tuple[str, str]) -> web.Application:
        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(key, request)

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", handle)
        return app

    async def _handle(self, key: tuple[str, str], request: web.Request) -> web.StreamResponse:
        arrived = timestamp()
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        sni = getattr(ssl_object, SNI_ATTRIBUTE, None)
        host = request.headers.get("Host")
        authorization = request.headers.get("Authorization")
        try:
            endpoint = self.endpoints.find(*key)
            if endpoint is None:
                raise Unavailable("Endpoint is being deleted")
            self._check_names(endpoint, sni, host)
            if endpoint.type != "public":
                self.endpoints.tokens.authorize(authorization, endpoint.namespace)
            replica = await self._serving(endpoint, request.headers.get("X-Scale-Up-Timeout"))
            endpoint.last_activity = time.monotonic()
            response = await self._proxy(request, replica)
        except ServiceError as exc:
            response = web.json_response(exc.body(), status=exc.status)
        self.requests.add(RequestRecord(
            time=arrived, namespace=key[0], name=key[1], sni=sni, host=host, method=request.method,
            path=request.raw_path, authorization=fingerprint(authorization), status=response.status))
        return response

    def _check_names(self, endpoint: Endpoint, sni: str | None, host: str | None) -> None:
        host_name = endpoint.host_name(self.endpoints.domain)
        if sni is not None and sni.lower() != host_name:
            raise MisdirectedRequest(f"TLS server name {sni!r} is not this endpoint's ({host_name})")
        if host is not None and _host_only(host).lower() not in (host_name, self.address):
            raise MisdirectedRequest(f"Host {host!r} is not this endpoint's ({host_name} or {self.address})")

    async def _serving(self, endpoint: Endpoint, scale_up_timeout: str | None) -> Replica:
        if endpoint.state is State.SCALED_TO_ZERO:
            await self.endpoints.wake(endpoint)
        deadline = time.monotonic() + _wait_seconds(scale_up_timeout)
        while (replica := self.endpoints.serving(endpoint)) is None:
            if endpoint.state not in DEPLOYED or time.monotonic() >= deadline:
                raise Unavailable(endpoint.message)
            await asyncio.sleep(SCALE_UP_POLL_SECONDS)
        return replica

    async def _proxy(self, request: web.Request, replica: Replica) -> web.StreamResponse:
        assert self._http is not None, "start() first"
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["Authorization"] = f"Bearer {replica.api_key}"
        body = await request.read()
        try:
            upstream = await self._http.request(request.method, replica.url + request.raw_path,
                                                headers=headers, data=body or None)
        except aiohttp.ClientError as exc:
            raise BadGateway(f"the replica did not answer: {exc}") from None
        async with upstream:
            headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP_ANSWER}
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=headers)
            await response.prepare(request)
            with contextlib.suppress(aiohttp.ClientPayloadError):  # the replica went away mid-answer
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            await response.write_eof()
        return response


__all__ = ["DataPlane", "Endpoints"]
