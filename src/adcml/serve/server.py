"""Run the app under uvicorn: in the foreground (``adcml serve``) or on a thread (tests,
benchmarks).

SIGTERM or SIGINT drains: ``/health`` turns 503, the listening socket closes, requests in
flight finish (up to ``drain_timeout`` seconds), the batch streams end, and the process exits
0 — uvicorn alone would re-raise the signal after its own drain and so exit 143.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Iterator
from types import FrameType

import uvicorn

from adcml.serve.api import ModelAPI
from adcml.serve.app import ServerState, create_app
from adcml.serve.settings import ServeSettings

log = logging.getLogger(__name__)


class _Uvicorn(uvicorn.Server):
    """uvicorn's server with signal handling that drains and then returns normally."""

    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.serve_state = state

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl+C: stop waiting for in-flight requests
            return
        log.warning("%s: draining (in flight: %d)", signal.Signals(sig).name, self.serve_state.in_flight)
        self.serve_state.drain()
        self.should_exit = True


class ModelServer:
    """One model server: the app, its state and a uvicorn server on a bound socket."""

    def __init__(self, settings: ServeSettings, *, api: ModelAPI | None = None) -> None:
        self.settings = settings
        self.app, self.state = create_app(settings, api=api)
        self.state.on_failure = self._on_failure
        self.config = uvicorn.Config(
            self.app, host=settings.host, port=settings.port, lifespan="on", access_log=False,
            log_config=None, timeout_graceful_shutdown=settings.drain_timeout,  # type: ignore[arg-type]
            timeout_keep_alive=30, server_header=False,
        )
        self.server = _Uvicorn(self.config, self.state)
        self.socket: socket.socket | None = None
        self.exit_code = 0
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.socket is not None, "not listening yet"
        host, port = self.socket.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def _bind(self) -> socket.socket:
        self.socket = self.config.bind_socket()
        return self.socket

    def _on_failure(self, reason: str) -> None:
        self.exit_code = 1
        self.server.should_exit = True

    def run(self) -> int:
        """Serve in the foreground until a signal (or a failed model load); the exit code."""
        sock = self._bind()
        log.info("listening on %s; loading %s", self.url, self.settings.model)
        self.server.run(sockets=[sock])
        return self.exit_code

    # --- on a thread ------------------------------------------------------------------------------
    def start(self, wait_ready: bool = True, timeout: float = 120.0) -> ModelServer:
        """Serve on a background thread; by default return once ``/health`` would say 200."""
        sock = self._bind()
        self._thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[sock])),
                                        name="adcml-serve-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the model server did not start")
            time.sleep(0.01)
        if wait_ready and not self.state.wait_loaded(max(0.0, deadline - time.monotonic())):
            raise RuntimeError(f"the model server is not ready: {self.state.failure or 'timed out'}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Drain and stop a server started with ``start``."""
        self.state.drain()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)


def serve(settings: ServeSettings) -> int:
    """``adcml serve``: run one model server in the foreground; returns the exit code."""
    return ModelServer(settings).run()
