"""``LabServer``: one ``LabADC`` served over HTTP (and HTTPS, with a management certificate), on
an event loop in a thread (tests) or in the foreground (``adcml lab-adc``, ``serve_forever``).
With a data plane, it starts and stops the data plane with the server."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import threading
from pathlib import Path

from aiohttp import web

from adcml.lab.emulators.adc.backend import ADMIN_USER, LabADC
from adcml.lab.emulators.adc.mgmt_cert import management_certificate
from adcml.lab.emulators.adc.urls import build_app


def parse_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:8080`` / ``[::1]:8080`` / ``localhost:0`` → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"listen address {value!r}: expected HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


class LabServer:
    """Serves one LabADC over HTTP (and HTTPS) on its own event loop thread."""

    def __init__(self, lab: LabADC, listen: str = "127.0.0.1:0", tls_listen: str | None = None,
                 cert_dir: Path | None = None):
        self.lab = lab
        self.listen = parse_listen(listen)
        self.tls_listen = parse_listen(tls_listen) if tls_listen else None
        self.cert_dir = cert_dir
        self.url: str | None = None
        self.tls_url: str | None = None
        self.ca_file: Path | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._stopped = asyncio.Event()

    async def start_async(self) -> None:
        self._runner = web.AppRunner(build_app(self.lab), access_log=None)
        await self._runner.setup()
        host, port = self.listen
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.url = _url("http", site)
        if self.tls_listen:
            cert_dir = self.cert_dir or (self.lab.state_dir or Path.cwd()) / "mgmt"
            cert, key = management_certificate(cert_dir)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            host, port = self.tls_listen
            tls_site = web.TCPSite(self._runner, host, port, ssl_context=context)
            await tls_site.start()
            self.tls_url = _url("https", tls_site)
            self.ca_file = cert
        if self.lab.dataplane is not None:
            await self.lab.dataplane.start()

    async def stop_async(self) -> None:
        if self.lab.dataplane is not None:
            await self.lab.dataplane.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    # --- in a thread (tests) ------------------------------------------------------------------
    def start(self) -> LabServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # reported to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="lab-adc", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
            self._loop = None

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _url(scheme: str, site: web.TCPSite) -> str:
    sock = site._server.sockets[0]  # type: ignore[union-attr]
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}:{port}"


async def serve_forever(server: LabServer) -> None:
    """Run until SIGINT/SIGTERM (``adcml lab-adc`` in the foreground)."""
    await server.start_async()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    print(f"lab ADC: NITRO at {server.url}/nitro/v1 (user {ADMIN_USER})", flush=True)
    if server.tls_url:
        print(f"lab ADC: NITRO over TLS at {server.tls_url}/nitro/v1 "
              f"(CA bundle {server.ca_file})", flush=True)
    print(f"lab ADC: state in {server.lab.state_dir or '(memory only)'}; "
          f"test controls at {server.url}/lab/", flush=True)
    if server.lab.dataplane is not None:
        print(f"lab ADC: data plane on (vservers listen on their VIPs; status at "
              f"{server.url}/lab/dataplane)", flush=True)
    await stop.wait()
    await server.stop_async()


__all__ = ["LabServer", "parse_listen", "serve_forever"]
