"""``LabHF``: the stand-in's state and behaviour, without HTTP.

It holds the endpoints of every namespace (``models.endpoint``), starts and stops their replicas
(``replicas``), opens and closes their data-plane listeners (``dataplane``), scales idle ones to
zero, and keeps everything in ``STATE_DIR/endpoints.json`` so that a restart brings back what
ran. Each operation checks the token, the body and the state before it changes anything; the
wire layer (``responses``) only reads requests and writes what these methods return.

Everything runs on one event loop (``server.HFServer``'s); an endpoint's operations take its
lock, so a pause cannot interleave with a wake-up or an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adcml.lab.emulators.hf.dataplane import DataPlane
from adcml.lab.emulators.hf.exceptions import Conflict, NotFound, Unauthorized
from adcml.lab.emulators.hf.hardware import check_quota, provider_listing
from adcml.lab.emulators.hf.models.accounts import Account, Tokens, bearer_token
from adcml.lab.emulators.hf.models.config import instance_of, read_create, read_update, restarts
from adcml.lab.emulators.hf.models.endpoint import Endpoint
from adcml.lab.emulators.hf.models.states import (
    DEPLOYED,
    RELEASED,
    State,
    check_pause,
    check_resume,
    check_scale_to_zero,
)
from adcml.lab.emulators.hf.replicas import Replica, ReplicaFailed
from adcml.lab.services.pki import Issued, LabCA

log = logging.getLogger("adcml.lab.hf")
STATE_FILE = "endpoints.json"
CA_CERT, CA_KEY = "ca.pem", "ca.key"
DEFAULT_DOMAIN = "endpoints.hf.test"
REPLICA_HOST = "127.0.0.1"  # replicas are reached by the data plane only


@dataclass(frozen=True)
class Timings:
    """How long things take. ``minute_seconds`` is the length of a minute of
    ``scaleToZeroTimeout`` (shorter in tests)."""

    pending_seconds: float = 1.0
    minute_seconds: float = 60.0
    ready_timeout: float = 300.0

    @property
    def idle_check_seconds(self) -> float:
        return min(1.0, max(0.05, self.minute_seconds / 10))


@dataclass
class _Runtime:
    """What runs for one endpoint: its replica and the task that brings it up."""

    replica: Replica | None = None
    task: asyncio.Task | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class LabHF:
    def __init__(self, tokens: Tokens, model: str | None, *, state_dir: Path | None = None,
                 ca_cert: Path | None = None, ca_key: Path | None = None, domain: str = DEFAULT_DOMAIN,
                 host: str = "127.0.0.1", timings: Timings = Timings()):
        self.tokens, self.model, self.domain, self.timings = tokens, model, domain, timings
        self.state_dir = Path(state_dir) if state_dir else None
        # Without a state dir, the CA file, certificates and replica logs go to a directory of
        # its own, removed by stop().
        self.work_dir = self.state_dir or Path(tempfile.mkdtemp(prefix="adcml-lab-hf-"))
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.ca, self.ca_file = _lab_ca(self.work_dir, ca_cert, ca_key)
        self.dataplane = DataPlane(self, self.ca, host, self.work_dir / "certs")
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        self._runtime: dict[tuple[str, str], _Runtime] = {}
        self._idle_watch: asyncio.Task | None = None

    # --- lifecycle (on the server's event loop) -----------------------------------------------
    async def start(self) -> None:
        """Listen for every saved endpoint and bring back those that were deployed."""
        await self.dataplane.start()
        for record in self._load():
            endpoint = Endpoint.from_record(record)
            self._add(endpoint)
            await self._listen(endpoint)
            if endpoint.state in DEPLOYED:
                endpoint.set_state(State.INITIALIZING)
                self._bring_up(endpoint)
        self._save()
        self._idle_watch = asyncio.create_task(self._scale_idle_to_zero())

    async def stop(self) -> None:
        """Stop every replica and listener. The saved states are left as they are, so a start
        with the same state dir brings the deployed endpoints back."""
        if self._idle_watch is not None:
            self._idle_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_watch
        for endpoint in list(self._endpoints.values()):
            await self._stop_replica(endpoint)
        await self.dataplane.stop()
        if self.state_dir is None:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    # --- the API: each returns the JSON to answer with. The wire layer has checked the token
    # and that it may act in the namespace (Tokens.authorize); ``account`` is who acts. -------
    def whoami(self, authorization: str | None) -> dict:
        account = self.tokens.lookup(bearer_token(authorization))
        if account is None:
            raise Unauthorized("Invalid credentials in Authorization header")
        return account.whoami()

    def list(self, namespace: str) -> dict:
        return {"items": [self.raw(e) for key, e in sorted(self._endpoints.items()) if key[0] == namespace]}

    def get(self, namespace: str, name: str) -> dict:
        return self.raw(self._existing(namespace, name))

    async def create(self, account: Account, namespace: str, body: Any) -> dict:
        name, config = read_create(body)
        if (namespace, name) in self._endpoints:
            raise Conflict(f"Endpoint {name} already exists in namespace {namespace}")
        self._check_quota(namespace, config)
        endpoint = Endpoint(namespace, name, config, created_by=account.identity)
        await self._listen(endpoint)
        self._add(endpoint)
        self._bring_up(endpoint, pending=True)
        self._save()
        return self.raw(endpoint)

    async def update(self, account: Account, namespace: str, name: str, body: Any) -> dict:
        endpoint = self._existing(namespace, name)
        async with self._runtime[endpoint.key].lock:
            config = read_update(name, endpoint.config, body)
            if endpoint.state not in RELEASED:
                self._check_quota(namespace, config, leaving_out=endpoint)
            restart = restarts(endpoint.config, config) and endpoint.state not in (
                State.PAUSED, State.SCALED_TO_ZERO)  # these take the new settings when they start
            endpoint.config = config
            endpoint.changed_by(account.identity)
            if restart:
                await self._stop_replica(endpoint)
                endpoint.set_state(State.UPDATING)
                self._bring_up(endpoint)
            self._save()
        return self.raw(endpoint)

    async def delete(self, namespace: str, name: str) -> dict:
        endpoint = self._existing(namespace, name)
        async with self._runtime[endpoint.key].lock:
            await self._stop_replica(endpoint)
            await self.dataplane.close(endpoint.key)
            del self._endpoints[endpoint.key], self._runtime[endpoint.key]
            self._save()
        return {}

    async def pause(self, account: Account, namespace: str, name: str) -> dict:
        return await self._stop_as(State.PAUSED, check_pause, account, namespace, name)

    async def scale_to_zero(self, account: Account, namespace: str, name: str) -> dict:
        return await self._stop_as(State.SCALED_TO_ZERO, check_scale_to_zero, account, namespace, name)

    async def resume(self, account: Account, namespace: str, name: str) -> dict:
        endpoint = self._existing(namespace, name)
        async with self._runtime[endpoint.key].lock:
            check_resume(name, endpoint.state)
            self._check_quota(namespace, endpoint.config, leaving_out=endpoint)
            endpoint.set_state(State.INITIALIZING)
            endpoint.changed_by(account.identity)
            self._bring_up(endpoint)
            self._save()
        return self.raw(endpoint)

    def hardware(self, namespace: str) -> dict:
        return provider_listing(self._usage(namespace))

    def requests(self, namespace: str | None = None, name: str | None = None) -> dict:
        return {"items": self.dataplane.requests.select(namespace, name)}

    def raw(self, endpoint: Endpoint) -> dict:
        return endpoint.to_raw(self.dataplane.url(endpoint), endpoint.host_name(self.domain))

    # --- what the data plane asks (dataplane.Endpoints) ---------------------------------------
    def find(self, namespace: str, name: str) -> Endpoint | None:
        return self._endpoints.get((namespace, name))

    def serving(self, endpoint: Endpoint) -> Replica | None:
        runtime = self._runtime.get(endpoint.key)
        return runtime.replica if runtime and endpoint.state is State.RUNNING else None

    async def wake(self, endpoint: Endpoint) -> None:
        async with self._runtime[endpoint.key].lock:
            if endpoint.state is State.SCALED_TO_ZERO:
                endpoint.set_state(State.INITIALIZING)
                self._bring_up(endpoint)
                self._save()

    # --- replicas -----------------------------------------------------------------------------
    def _bring_up(self, endpoint: Endpoint, pending: bool = False) -> None:
        self._runtime[endpoint.key].task = asyncio.create_task(self._replica_up(endpoint, pending))

    async def _replica_up(self, endpoint: Endpoint, pending: bool) -> None:
        runtime = self._runtime[endpoint.key]
        if pending:
            await asyncio.sleep(self.timings.pending_seconds)
            endpoint.set_state(State.INITIALIZING)
            self._save()
        failed = State.UPDATE_FAILED if endpoint.state is State.UPDATING else State.FAILED
        if self.model is None:
            endpoint.set_state(failed, "no model to serve: start adcml lab-hf with --model DIR")
            self._save()
            return
        model = endpoint.config["model"]
        runtime.replica = replica = Replica(
            self.model, served_name=model["repository"], env={**model["env"], **model["secrets"]},
            log_path=self.work_dir / "replicas" / f"{endpoint.namespace}--{endpoint.name}.log",
            host=REPLICA_HOST)
        try:
            await replica.start()
            await replica.wait_ready(self.timings.ready_timeout)
        except (ReplicaFailed, OSError) as exc:
            runtime.replica = None
            await replica.stop()
            endpoint.set_state(failed, str(exc))
        else:
            endpoint.set_state(State.RUNNING)
            endpoint.last_activity = time.monotonic()
        self._save()

    async def _stop_replica(self, endpoint: Endpoint) -> None:
        runtime = self._runtime[endpoint.key]
        task, runtime.task = runtime.task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        replica, runtime.replica = runtime.replica, None
        if replica is not None:
            await replica.stop()

    async def _stop_as(self, state: State, check, account: Account, namespace: str, name: str) -> dict:
        """Pause or scale to zero: the replica stops, the endpoint keeps its listener."""
        endpoint = self._existing(namespace, name)
        async with self._runtime[endpoint.key].lock:
            check(name, endpoint.state)
            await self._stop_replica(endpoint)
            endpoint.set_state(state)
            endpoint.changed_by(account.identity)
            self._save()
        return self.raw(endpoint)

    async def _scale_idle_to_zero(self) -> None:
        """Scale to zero the running endpoints with ``minReplica`` 0 that had no request for
        ``scaleToZeroTimeout`` minutes."""
        while True:
            await asyncio.sleep(self.timings.idle_check_seconds)
            for endpoint in list(self._endpoints.values()):
                try:
                    await self._scale_to_zero_if_idle(endpoint)
                except Exception:  # one endpoint's trouble must not end the watch of all
                    log.exception("endpoint %s/%s: scaling to zero failed", *endpoint.key)

    async def _scale_to_zero_if_idle(self, endpoint: Endpoint) -> None:
        minutes = endpoint.config["compute"]["scaling"]["scaleToZeroTimeout"]
        if endpoint.config["compute"]["scaling"]["minReplica"] != 0 or not self._idle(endpoint, minutes):
            return
        async with self._runtime[endpoint.key].lock:
            if self._idle(endpoint, minutes):  # still: a request may have come while we waited
                await self._stop_replica(endpoint)
                endpoint.set_state(State.SCALED_TO_ZERO, f"no request for {minutes} minutes")
                self._save()

    def _idle(self, endpoint: Endpoint, minutes: int) -> bool:
        idle_for = time.monotonic() - endpoint.last_activity
        return endpoint.state is State.RUNNING and idle_for >= minutes * self.timings.minute_seconds

    # --- endpoints, quota, listeners, persistence ---------------------------------------------
    def _add(self, endpoint: Endpoint) -> None:
        self._endpoints[endpoint.key] = endpoint
        self._runtime[endpoint.key] = _Runtime()

    def _existing(self, namespace: str, name: str) -> Endpoint:
        endpoint = self._endpoints.get((namespace, name))
        if endpoint is None:
            raise NotFound(f"Endpoint {name} not found in namespace {namespace}")
        return endpoint

    def _usage(self, namespace: str, leaving_out: Endpoint | None = None) -> dict[tuple[str, str, str], int]:
        """Accelerators each (vendor, region, instance type) holds in ``namespace``: every replica
        an endpoint may scale to, unless it is paused or failed."""
        used: dict[tuple[str, str, str], int] = defaultdict(int)
        for endpoint in self._endpoints.values():
            if endpoint.namespace == namespace and endpoint is not leaving_out \
                    and endpoint.state not in RELEASED:
                instance = instance_of(endpoint.config)
                replicas = endpoint.config["compute"]["scaling"]["maxReplica"]
                used[instance.quota_key] += instance.units * replicas
        return used

    def _check_quota(self, namespace: str, config: dict, leaving_out: Endpoint | None = None) -> None:
        instance = instance_of(config)
        check_quota(instance, config["compute"]["scaling"]["maxReplica"],
                    self._usage(namespace, leaving_out)[instance.quota_key])

    async def _listen(self, endpoint: Endpoint) -> None:
        try:
            endpoint.port = await self.dataplane.open(endpoint)
        except OSError as exc:
            if not endpoint.port:
                raise
            log.warning("endpoint %s/%s: port %d is taken (%s); it moves to another port",
                        endpoint.namespace, endpoint.name, endpoint.port, exc)
            endpoint.port = 0
            endpoint.port = await self.dataplane.open(endpoint)

    def _load(self) -> list[dict]:
        path = self.state_dir / STATE_FILE if self.state_dir else None
        if path is None or not path.exists():
            return []
        return json.loads(path.read_text())["endpoints"]

    def _save(self) -> None:
        """Write the endpoints (secrets included, so the file is its owner's only), atomically."""
        if self.state_dir is None:
            return
        path = self.state_dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"endpoints": [e.to_record() for e in self._endpoints.values()]}, file, indent=1)
        os.replace(temporary, path)


def _lab_ca(work_dir: Path, ca_cert: Path | None, ca_key: Path | None) -> tuple[LabCA, Path]:
    """The CA that signs the endpoints' certificates, and the file clients trust it by: the one
    given, else the one in the work dir, made there on first use."""
    if (ca_cert is None) != (ca_key is None):
        raise ValueError("give both the CA certificate and its key, or neither")
    if ca_cert is None or ca_key is None:
        ca_cert, ca_key = work_dir / CA_CERT, work_dir / CA_KEY
        if not (ca_cert.exists() and ca_key.exists()):
            ca = LabCA("adcml lab Hugging Face CA")
            Issued(ca.cert_pem, ca.key_pem).write(ca_cert, ca_key)
    return LabCA.from_pem(Path(ca_cert).read_bytes(), Path(ca_key).read_bytes()), Path(ca_cert)


__all__ = ["DEFAULT_DOMAIN", "LabHF", "Timings"]
