"""``HFServer``: one ``LabHF`` served over HTTP, on an event loop in a thread (tests: ``start()``
/ ``stop()`` or ``with``) or in the foreground (``adcml lab-hf``: ``serve_forever``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading

from aiohttp import web

from adcml.lab.emulators.hf.backend import LabHF
from adcml.lab.emulators.hf.models.accounts import BUILT_IN
from adcml.lab.emulators.hf.urls import build_app

START_TIMEOUT = 30.0


def split_listen(value: str) -> tuple[str, int]:
    """``127.0.0.1:9180`` / ``[::1]:9180`` → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"listen address {value!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


class HFServer:
    def __init__(self, lab: LabHF, listen: str = "127.0.0.1:0"):
        self.lab = lab
        self.listen = split_listen(listen)
        self.url: str | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def api_base(self) -> str:
        """What ``huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT`` is set to."""
        return f"{self.url}/v2"

    async def start_async(self) -> None:
        await self.lab.start()
        self._runner = web.AppRunner(build_app(self.lab), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, *self.listen)
        await site.start()
        host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.lab.stop()

    # --- on a thread (tests) ------------------------------------------------------------------
    def start(self) -> HFServer:
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=run, name="lab-hf", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT):
            raise RuntimeError(f"the lab HF stand-in did not start within {START_TIMEOUT:.0f} s")
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(60)
            self._loop = None

    def call(self, coroutine):
        """Run ``coroutine`` on the server's loop from another thread; its result."""
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __enter__(self) -> HFServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def serve_forever(server: HFServer) -> None:
    """Run until SIGINT/SIGTERM (``adcml lab-hf`` in the foreground)."""
    await server.start_async()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    lab = server.lab
    if lab.model is None:
        print("lab HF: no model to serve (--model): every endpoint will fail to deploy", flush=True)
    print(f"lab HF: Inference Endpoints API at {server.api_base} (whoami at {server.url}/api/whoami-v2)",
          flush=True)
    print(f"lab HF: endpoints' CA {lab.ca_file}; endpoint names under {lab.domain}", flush=True)
    # A token is a secret even when it is a lab value: the banner names its account only.
    tokens = lab.tokens.path or f"none given: the built-in one of namespace {BUILT_IN.split()[0]}"
    print(f"lab HF: tokens from {tokens}; "
          f"state in {lab.state_dir or '(memory only)'}; data-plane requests at {server.url}/lab/requests",
          flush=True)
    await stop.wait()
    await server.stop_async()


__all__ = ["HFServer", "serve_forever", "split_listen"]
