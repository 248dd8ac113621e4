"""A replica: one ``adcml serve`` process serving TEI's API (/health, /embed, /info, ...) on a
loopback port of its own, reached only through the endpoint's data plane.

It gets the endpoint's ``env`` and ``secrets`` as environment variables, as the service's
containers do, no network access to the Hub (``HF_HUB_OFFLINE=1``), and an API key of its own
that only the data plane knows, so nothing reaches it around the data plane's checks. Its output
goes to a log file whose tail explains a replica that failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import aiohttp

HEALTH_POLL_SECONDS = 0.1
STOP_GRACE_SECONDS = 10.0
LOG_TAIL_BYTES = 1500


class ReplicaFailed(Exception):
    """The replica did not come up; the message says why (the log's tail included)."""


def _free_port(host: str) -> int:
    # The port is free now; the replica binds it a moment later (a race that loopback in a lab
    # practically never loses, and that ends as a failed replica, not a hang, if it does).
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Replica:
    def __init__(self, model: str, *, served_name: str, env: Mapping[str, str], log_path: Path,
                 host: str = "127.0.0.1"):
        self.model, self.served_name, self.env = model, served_name, dict(env)
        self.log_path, self.host = log_path, host
        self.api_key = secrets.token_urlsafe(24)
        self.port: int | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self.port = _free_port(self.host)
        command = [sys.executable, "-m", "adcml.serve", "--model", self.model, "--host", self.host,
                   "--port", str(self.port), "--served-model-name", self.served_name, "--no-warmup"]
        env = {**os.environ, **self.env,
               "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "ADCML_SERVE_API_KEY": self.api_key}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
            log.flush()
            self._process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT,
                env=env)

    async def wait_ready(self, timeout: float) -> None:
        """Return once ``/health`` answers 200; ReplicaFailed when the process exits first or
        ``timeout`` seconds pass."""
        assert self._process is not None, "start() first"
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while True:
                if self._process.returncode is not None:
                    raise ReplicaFailed(f"the model server exited with code {self._process.returncode}"
                                        f"{self._log_tail()}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"{self.url}/health") as response:
                        if response.status == 200:
                            return
                if time.monotonic() > deadline:
                    raise ReplicaFailed(f"the model server was not ready after {timeout:.0f} s"
                                        f"{self._log_tail()}")
                await asyncio.sleep(HEALTH_POLL_SECONDS)

    async def stop(self) -> None:
        """SIGTERM (the model server drains), then SIGKILL after a grace period."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()

    def _log_tail(self) -> str:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                tail = log.read().decode(errors="replace").strip().splitlines()[-5:]
        except OSError:
            return ""
        return f" (log {self.log_path}: {' | '.join(tail)})" if tail else f" (log {self.log_path})"


__all__ = ["Replica", "ReplicaFailed"]
