"""Helpers for the data-plane tests: a lab ADC with its data plane on, tiny model-server
stand-ins (aiohttp backends on 127.0.x.y, over TLS when given a certificate, recording the
server names clients ask for), free ports, waiting, and TLS probes.

A test module gets the fixtures ``dplab`` and ``backends`` by importing ``dplab_fixture`` and
``backends_fixture`` (named apart so that test parameters do not shadow the imports).
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer
from adcml.lab.services.pki import Issued
from adcml.nitro import NitroClient


def free_port(ip: str) -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float = 5.0, step: float = 0.02) -> float:
    """Poll until ``predicate()`` is truthy; returns the seconds it took (fails after timeout)."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


# --- backends ---------------------------------------------------------------------------------
@dataclass(eq=False)
class Backend:
    """A model-server stand-in: ``/health`` answers ``health``, ``/slow?ms=N`` waits, anything
    else echoes the request as JSON (its name, method, path, query, headers — also as a list of
    pairs, repeats kept — body size). Over TLS, ``snis`` lists the server name of each handshake
    (None: none sent)."""

    name: str
    ip: str
    port: int = 0
    health: int = 200
    hits: int = 0
    seen: list[dict] = field(default_factory=list)
    static: dict[str, bytes] = field(default_factory=dict)  # path → JSON answer (a JWKS...)
    reply_headers: dict[str, dict[str, str]] = field(default_factory=dict)  # path → extra headers
    tls: ssl.SSLContext | None = None
    snis: list[str | None] = field(default_factory=list)
    server: asyncio.base_events.Server | None = None
    http: web.Server | None = None

    @property
    def member(self) -> dict:
        return {"host": self.ip, "port": self.port}

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/health":
            return web.Response(status=self.health, text="health\n")
        if request.path in self.static:
            self.hits += 1
            return web.Response(body=self.static[request.path], content_type="application/json",
                                headers=self.reply_headers.get(request.path))
        self.hits += 1
        body = await request.content.read()  # no size limit (request.read() stops at 1 MiB)
        if request.path == "/slow":
            await asyncio.sleep(int(request.query.get("ms", "500")) / 1000)
        info = {"name": self.name, "method": request.method, "path": request.path,
                "query": request.query_string, "headers": dict(request.headers),
                "header_items": [list(item) for item in request.headers.items()],
                "body": len(body)}
        self.seen.append(info)
        if request.path == "/stream":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            for i in range(3):
                await response.write(f"data: {i}\n\n".encode())
            await response.write_eof()
            return response
        return web.Response(text=json.dumps(info), content_type="application/json",
                            headers={"Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1"})


class Backends:
    """Backends on one background event loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="backends", daemon=True)
        self.thread.start()
        self.all: list[Backend] = []

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def start(self, name: str, ip: str, port: int = 0, tls: Issued | None = None) -> Backend:
        """A backend on ip:port (0: any free port); over TLS with ``tls`` (unencrypted key)."""
        backend = Backend(name, ip, port)
        if tls is not None:
            backend.tls = _server_context(tls, backend.snis)
        self._run(self._listen(backend))
        self.all.append(backend)
        return backend

    async def _listen(self, backend: Backend) -> None:
        backend.http = web.Server(backend.handle, access_log=None)
        backend.server = await asyncio.get_running_loop().create_server(
            backend.http, backend.ip, backend.port, reuse_address=True, ssl=backend.tls)
        backend.port = backend.server.sockets[0].getsockname()[1]

    def kill(self, backend: Backend) -> None:
        """Stop listening and drop open connections (a crashed model server)."""
        self._run(self._kill(backend))

    async def _kill(self, backend: Backend) -> None:
        if backend.server is not None:
            backend.server.close()
            await backend.http.shutdown(0.05)
            backend.server = None

    def revive(self, backend: Backend) -> None:
        self._run(self._listen(backend))

    def close(self) -> None:
        for backend in self.all:
            self._run(self._kill(backend))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _server_context(issued: Issued, snis: list[str | None]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        issued.write(cert, key)
        ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda _sslobj, name, _ctx: snis.append(name)
    return ctx


@pytest.fixture(name="backends")
def backends_fixture() -> Iterator[Backends]:
    farm = Backends()
    yield farm
    farm.close()


# --- the lab with its data plane ----------------------------------------------------------------
@dataclass
class DataPlaneLab:
    server: LabServer
    state_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def plane(self):
        return self.server.lab.dataplane

    def client(self) -> NitroClient:
        return NitroClient(nsip=self.url.removeprefix("http://"), username="nsroot",
                           password="nsroot", protocol="http", backoff=0.001)

    def status(self) -> dict:
        return httpx.get(f"{self.url}/lab/dataplane", timeout=10).json()

    def settle(self, timeout: float = 5.0) -> dict:
        """Wait for the last config change to be applied and every member to be probed."""
        def settled():
            status = self.status()
            probed = all(m["lastresponse"] != "Probe not yet sent." for m in status["members"])
            return status if status["settled"] and probed else None

        wait_until(settled, timeout)
        return self.status()

    def member(self, ip: str, port: int) -> dict:
        return next(m for m in self.status()["members"] if m["ip"] == ip and m["port"] == port)


@pytest.fixture(name="dplab")
def dplab_fixture(tmp_path: Path) -> Iterator[DataPlaneLab]:
    """A lab ADC (NITRO over HTTP) whose data plane carries traffic."""
    state = tmp_path / "lab-adc"
    server = LabServer(LabADC(state, data_plane=True), "127.0.0.1:0").start()
    yield DataPlaneLab(server, state)
    server.stop()


def fast_monitor(client: NitroClient, name: str, *, interval_ms: int = 100, retries: int = 2,
                 downtime_ms: int = 200, kind: str = "HTTP") -> None:
    """Make a gateway's monitor quick (the spec's minimum is whole seconds)."""
    client.update("lbmonitor", {
        "monitorname": name, "type": kind, "interval": interval_ms, "units3": "MSEC",
        "resptimeout": max(interval_ms // 2, 10), "units4": "MSEC", "retries": retries,
        "downtime": downtime_ms, "units2": "MSEC",
    })


# --- TLS --------------------------------------------------------------------------------------
@dataclass
class Handshake:
    version: str
    common_name: str
    serial: int
    ticket_lifetime: int | None


def handshake(ip: str, port: int, ca_pem: bytes, server_name: str | None = None,
              max_version: ssl.TLSVersion | None = None) -> Handshake:
    """One TLS handshake verified against ``ca_pem``; what the server presented."""
    ctx = ssl.create_default_context(cadata=ca_pem.decode())
    ctx.check_hostname = False
    if max_version is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = max_version
    with socket.create_connection((ip, port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=server_name) as tls:
        cert = tls.getpeercert()
        der = tls.getpeercert(binary_form=True)
        from cryptography import x509

        serial = x509.load_der_x509_certificate(der).serial_number
        common = dict(item[0] for item in cert["subject"])["commonName"]
        lifetime = None
        if tls.version() == "TLSv1.3":
            tls.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            tls.recv(65536)  # TLS 1.3 tickets arrive after the handshake
            lifetime = tls.session.ticket_lifetime_hint if tls.session else None
        return Handshake(tls.version(), common, serial, lifetime)


# --- configuration over NITRO -----------------------------------------------------------------
def lb_pool(client: NitroClient, name: str, members: list[dict], *, servicetype: str = "HTTP",
            address: tuple[str, int] | None = None, **vserver: object) -> None:
    """Service group ``name`` with ``members`` (``ip`` or ``servername``, ``port`` ...) behind
    LB vserver ``name`` (HTTP; listening on ``address`` when given, else non-addressable)."""
    client.add("servicegroup", {"servicegroupname": name, "servicetype": servicetype})
    for member in members:
        client.bind("servicegroup_servicegroupmember_binding", {"servicegroupname": name, **member})
    where = {"ipv46": address[0], "port": address[1]} if address else {}
    client.add("lbvserver", {"name": name, "servicetype": "HTTP", **where, **vserver})
    client.bind("lbvserver_servicegroup_binding", {"name": name, "servicegroupname": name})
