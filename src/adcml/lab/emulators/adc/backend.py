"""The lab ADC process: running and saved config, NITRO and lab-control endpoints, listeners.

``LabADC`` holds the state; ``LabServer`` runs it on an event loop in a thread (tests) or in
the foreground (``adcml lab-adc``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import ssl
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.mgmt_cert import management_certificate
from adcml.lab.emulators.adc.models.behaviours import behaviours, now
from adcml.lab.emulators.adc.models.certificates import FileStore
from adcml.lab.emulators.adc.models.controls import Controls
from adcml.lab.emulators.adc.models.members import (
    check_drain_options,
    member_stats,
    names_member,
    set_member_state,
)
from adcml.lab.emulators.adc.models.store import ConfigStore, coerce, name_in
from adcml.lab.emulators.adc.responses import MAX_REQUEST_BODY, NitroAPI
from adcml.resources import SCHEMA, ErrorCode, Resource, ResourceKind
from adcml.resources.values import BadValue, canonical

if TYPE_CHECKING:
    from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy

E = ErrorCode
log = logging.getLogger("adcml.lab")
SAVED_CONFIG = "ns.conf.json"
ADMIN_USER = "nsroot"


class LabADC:
    """State and behaviour of one lab ADC, independent of how it is served. With ``data_plane``
    it carries traffic, to the addresses ``policy`` allows (loopback by default)."""

    def __init__(self, state_dir: Path | None = None, password: str = "nsroot",
                 save_delay: float = 0.05, data_plane: bool = False,
                 policy: AddressPolicy | None = None):
        self.state_dir = Path(state_dir) if state_dir else None
        self._password = password
        self.save_delay = save_delay
        files = FileStore(self.state_dir / "files" if self.state_dir else None)
        self.store = ConfigStore(behaviours(), files)
        self.controls = Controls()
        self.api = NitroAPI(self)
        self._saving = False
        # The data plane (traffic per the running config) runs on the server's event loop.
        self.dataplane = None
        if data_plane:
            from adcml.lab.emulators.adc.dataplane import DataPlane

            self.dataplane = DataPlane(self, policy)
        self.load()

    # --- persistence --------------------------------------------------------------------------
    @property
    def saved_path(self) -> Path | None:
        return self.state_dir / SAVED_CONFIG if self.state_dir else None

    def load(self) -> None:
        """Load the saved config, as an appliance does when it boots."""
        path = self.saved_path
        if path is not None and path.exists():
            self.store.restore(json.loads(path.read_text()))
        self.store.changed = False

    async def save(self) -> None:
        if self._saving:
            raise NitroFault(E.IN_PROGRESS)
        self._saving = True
        try:
            snapshot = self.store.snapshot()
            self.store.changed = False
            await asyncio.sleep(self.save_delay)  # an appliance takes a while to write ns.conf
            if self.saved_path is not None:
                await asyncio.to_thread(_write_atomic, self.saved_path, snapshot)
            self.store.behaviours["nsconfig"].last_saved = now()
        finally:
            self._saving = False

    def check_password(self, username: str, password: str) -> bool:
        return hmac.compare_digest(username.encode(), ADMIN_USER.encode()) and hmac.compare_digest(
            password.encode(), self._password.encode()
        )

    # --- actions ----------------------------------------------------------------------------
    def act(self, part, session, res: Resource, action: str, payload: Any) -> None:
        store = self.store
        if action not in res.actions:
            raise NitroFault(E.INVALID_ACTION, f"{action} on {res.name}", status=400)
        if not isinstance(payload, dict):
            raise NitroFault(E.INVALID_JSON, f"{res.name}, expected an object", status=400)
        if res.name == "nsconfig" and action == "clear":
            store.reset()
            store.changed = True
        elif res.name == "nsfeature":
            attr = res.attr("feature")
            raw = payload.get("feature")
            if isinstance(raw, str):
                raw = [f.strip() for f in raw.split(",")]
            try:
                features = set(canonical(attr, raw) or [])
            except BadValue as exc:
                raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"feature, {exc}") from None
            if not features:
                raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "feature")
            store.features = (store.features | features) if action == "enable" else (
                store.features - features)
            store.changed = True
        elif res.name == "nspartition" and action == "switch":
            name = name_in(res, payload)
            if name not in store.partitions:
                raise NitroFault(res.missing, f"partitionname, {name}", status=404)
            if not session.token:
                raise NitroFault(E.NOT_PERMITTED, "switching partitions needs a login session")
            session.partition = name
        elif res.name == "servicegroup" and action in ("enable", "disable") and names_member(payload):
            set_member_state(store, part, action, payload)
        elif action in ("enable", "disable"):
            if res.name == "servicegroup" and action == "disable":
                check_drain_options(payload)
            if res.attr("state") is None:
                raise NitroFault(E.INVALID_ACTION, f"{action} on {res.name}", status=400)
            store.update(part, res, {res.key: name_in(res, payload), "state": action.upper() + "D"})
        elif action == "rename":
            store.rename(part, res, payload)
        elif action == "unset":
            store.unset(part, res, payload)
        elif res.name == "cachecontentgroup" and action in ("flush", "expire"):
            # Objects go (expired objects are not kept); the running config does not change.
            name = name_in(res, payload)
            if store.behaviour(res).lookup(store, part, res, name, {}) is None:
                raise NitroFault(res.missing, f"{res.key}, {name}", status=404)
            if self.dataplane is not None:
                self.dataplane.cache.flush(part.name, name)
        elif res.name == "sslcertkey" and action in ("update", "link", "unlink"):
            certkey = store.behaviour(res)
            handler = {"update": certkey.update_files, "link": certkey.link,
                       "unlink": certkey.unlink}[action]
            handler(store, part, res, coerce(res, payload, adding=False))
            store.changed = True
        else:
            raise NitroFault(E.INVALID_ACTION, f"{action} on {res.name}", status=400)

    # --- statistics ---------------------------------------------------------------------------
    def stats(self, part, resource: str, name: str | None, args: dict | None = None) -> list[dict] | dict:
        plane = self.dataplane
        if resource in ("cachecontentgroup", "cache"):
            return self._cache_stats(part, resource, name, plane if plane and plane.running else None)
        if resource == "servicegroupmember":
            return member_stats(plane, self.store, part, name, args or {})
        if plane is not None and plane.running:
            if resource not in ("lbvserver", "csvserver", "servicegroup"):
                raise NitroFault(E.INVALID_OBJECT_NAME, f"stat/{resource}", status=404)
            from adcml.lab.emulators.adc.dataplane.state import stat_rows

            return stat_rows(plane, self.store, part, resource, name)
        if resource not in ("lbvserver", "servicegroup"):
            raise NitroFault(E.INVALID_OBJECT_NAME, f"stat/{resource}", status=404)
        res = SCHEMA[resource]
        rows = self.store.get(part, res, name, {})
        out = []
        for row in rows:
            if resource == "lbvserver":
                up = row.get("curstate") == "UP"
                out.append({
                    "name": row["name"], "state": row["curstate"], "type": row["servicetype"],
                    "vslbhealth": "100" if up else "0", "totalrequests": "0",
                    "actsvcs": "1" if up else "0",
                })
            else:
                out.append({
                    "servicegroupname": row["servicegroupname"], "state": row["state"],
                    "servicetype": row["servicetype"],
                })
        return out


    def _cache_stats(self, part, resource: str, name: str | None, plane) -> list[dict] | dict:
        """``stat cachecontentgroup`` (per group) and ``stat cache`` (the partition's totals, an
        object); counters are zero without a running data plane."""
        from adcml.lab.emulators.adc.dataplane.cache import cache_stat, group_stat

        if resource == "cache":
            if name is not None:
                raise NitroFault(E.INVALID_OBJECT_NAME, f"stat/cache/{name}", status=404)
            return plane.cache.cache_stat(part.name) if plane else cache_stat()
        res = SCHEMA[resource]
        names = [r[res.key] for r in self.store.get(part, res, name, {})]  # 404 when missing
        rows = [part.table(resource)[(n,)] for n in names]
        if plane is None:
            return [group_stat(n, row) for n, row in zip(names, rows, strict=True)]
        return [plane.cache.group_stat(part.name, n, row) for n, row in zip(names, rows, strict=True)]


def _write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def build_app(lab: LabADC) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BODY)
    app.router.add_route("*", "/nitro/v1/{tail:.*}", lab.api.handle)
    from adcml.lab.emulators.adc.control_responses import add_admin_routes

    add_admin_routes(app, lab)
    if lab.dataplane is not None:
        from adcml.lab.emulators.adc.dataplane.control import add_dataplane_routes

        add_dataplane_routes(app, lab.dataplane)
    return app


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
    import signal

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


__all__ = ["LabADC", "LabServer", "ResourceKind", "build_app", "serve_forever"]
