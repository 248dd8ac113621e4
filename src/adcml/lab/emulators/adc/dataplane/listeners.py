"""One listening socket per addressable vserver, served by aiohttp's low-level HTTP server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from adcml.lab.emulators.adc.dataplane.tables import Frontend
from adcml.lab.emulators.adc.dataplane.tls import TlsTerminator

log = logging.getLogger("adcml.lab.dataplane")
Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
BACKLOG = 1024


class Listener:
    """A vserver's address:port; ``tls`` terminates TLS when the vserver is SSL."""

    def __init__(self, frontend: Frontend, handler: Handler):
        self.address = frontend.address
        self.secure = frontend.tls is not None
        self.tls = TlsTerminator(frontend.tls) if frontend.tls else None
        self.http = web.Server(handler, access_log=None, auto_decompress=False,
                               keepalive_timeout=float(frontend.clttimeout or 180))
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        host, port = self.address
        self.server = await loop.create_server(
            self.http, host, port, ssl=self.tls.context if self.tls else None,
            reuse_address=True, backlog=BACKLOG)

    async def stop(self, grace: float = 2.0) -> None:
        """Stop accepting; let requests in flight finish (up to ``grace`` seconds)."""
        if self.server is None:
            return
        self.server.close()
        self.http.pre_shutdown()  # idle keep-alive connections close now, busy ones when done
        with contextlib.suppress(Exception):
            await self.http.shutdown(grace)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), grace)
        self.server = None

    def __str__(self) -> str:
        host, port = self.address
        return f"{'https' if self.secure else 'http'}://{host}:{port}"
