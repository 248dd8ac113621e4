"""The lab ADC's backend: one appliance's state and behaviour, without HTTP.

``LabADC`` holds the running config (``models.store``) and the saved one, sessions, the test
controls, statistics, and with ``data_plane`` the data plane that carries the traffic the
config describes (built from the store, its state directory and where it may connect). The
wire layer (``responses``, ``control_responses``) reads requests and calls these methods;
``server.LabServer`` serves them.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from adcml.lab.emulators.adc.dataplane.engine import DataPlane
from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy
from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.behaviours import now
from adcml.lab.emulators.adc.models.controls import Controls
from adcml.lab.emulators.adc.models.files import FileStore
from adcml.lab.emulators.adc.models.members import check_drain_options, names_member, set_member_state
from adcml.lab.emulators.adc.models.operations import Change, Outcome, Query, Verb, read
from adcml.lab.emulators.adc.models.partition import Partition
from adcml.lab.emulators.adc.models.registry import behaviours
from adcml.lab.emulators.adc.models.sessions import ADMIN_USER, Session, Sessions
from adcml.lab.emulators.adc.models.stats import stat
from adcml.lab.emulators.adc.models.store import ConfigStore, coerce, name_in, resource_for
from adcml.resources import ErrorCode, Resource
from adcml.resources.values import BadValue, canonical

E = ErrorCode
SAVED_CONFIG = "ns.conf.json"


class LabADC:
    """State and behaviour of one lab ADC, independent of how it is served. With ``data_plane``
    it carries traffic, to the addresses ``policy`` allows (loopback by default); the data
    plane is then what the store observes traffic through (``ConfigStore.traffic``)."""

    def __init__(self, state_dir: Path | None = None, password: str = "nsroot",
                 save_delay: float = 0.05, data_plane: bool = False,
                 policy: AddressPolicy | None = None):
        self.state_dir = Path(state_dir) if state_dir else None
        self.save_delay = save_delay
        files = FileStore(self.state_dir / "files" if self.state_dir else None)
        self.store = ConfigStore(behaviours(), files)
        self.sessions = Sessions(password)
        self.controls = Controls()
        self._saving = False
        # The data plane (traffic per the running config) runs on the server's event loop.
        self.dataplane: DataPlane | None = None
        if data_plane:
            self.dataplane = DataPlane(self.store, self.state_dir, policy)
            self.store.traffic = self.dataplane
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
        """``nsconfig?action=save``: the running config becomes the saved one (293 while a
        save runs)."""
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

    def reset(self) -> None:
        """``POST /lab/reset``: an empty running config, no fault rules, no counters."""
        self.store.reset()
        self.store.changed = False
        self.controls.rules.clear()
        self.controls.counters.clear()

    def partition(self, session: Session) -> Partition:
        """The admin partition ``session`` works in."""
        return self.store.partition(session.partition)

    # --- reads ------------------------------------------------------------------------------
    def get(self, part: Partition, resource: str, name: str | None, query: Query) -> list[dict]:
        """The rows of a GET (see ``operations.read``)."""
        return read(self.store, part, resource, name, query)

    def stats(self, part: Partition, resource: str, name: str | None,
              args: dict[str, str] | None = None) -> list[dict] | dict:
        """``stat/<resource>[/<name>]`` (see ``models.stats``)."""
        return stat(self.store, part, resource, name, args or {})

    # --- writes -----------------------------------------------------------------------------
    def delete(self, part: Partition, resource: str, name: str | None, args: dict[str, str]) -> None:
        """Remove object ``name`` (or unbind, per the ``args``)."""
        res = resource_for(resource)
        if name is None:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, res.key)
        self.store.delete(part, res, name, args)

    def write(self, part: Partition, session: Session, res: Resource, change: Change,
              payload: Any) -> tuple[Outcome, str | None]:
        """Apply one item; returns what it came to and a feature warning, if any."""
        store = self.store
        if change.action is not None:
            self.act(part, session, res, change.action, payload)
            return Outcome.DONE, None
        if isinstance(payload, dict) and change.name and res.key not in payload:
            payload = {**payload, res.key: change.name}
        if res.is_binding:
            store.bind(part, res, payload)
            return Outcome.BOUND, None
        if change.verb is Verb.UPDATE:
            store.update(part, res, payload)
            return Outcome.UPDATED, None
        added = store.add(part, res, payload, idempotent=change.idempotent)
        warning = None
        if res.feature and res.feature not in store.features:
            warning = f"1067 - Feature(s) not enabled [{res.feature}]"
        return (Outcome.UPDATED if added == "updated" else Outcome.ADDED), warning

    def write_all(self, part: Partition, session: Session, res: Resource, change: Change,
                  items: list, onerror: str) -> list[NitroFault | None]:
        """A bulk request: each item's fault (None: done). ``onerror`` (X-NITRO-ONERROR) says
        whether to stop at the first failure (``exit``), go on (``continue``), or stop and undo
        them all (``rollback``, for adds and binds)."""
        store = self.store
        saved = store.clone() if onerror == "rollback" and change.adds(res.is_binding) else None
        results: list[NitroFault | None] = []
        for item in items:
            try:
                self.write(part, session, res, change, item)
                results.append(None)
            except NitroFault as fault:
                results.append(fault)
                if onerror != "continue":
                    break
        if saved is not None and any(results):
            store.rollback(saved)
        return results

    # --- actions ----------------------------------------------------------------------------
    def act(self, part: Partition, session: Session, res: Resource, action: str, payload: Any) -> None:
        """``?action=<action>`` on ``res`` (enable, disable, rename, unset, switch, flush...)."""
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
            name = name_in(res, payload)
            store.update(part, res, {res.key: name, "state": action.upper() + "D"})
            if res.name == "lbvserver" and action == "enable":
                store.observed.vserver_enabled(part.name, name)
        elif action == "rename":
            store.rename(part, res, payload)
        elif action == "unset":
            store.unset(part, res, payload)
        elif res.name == "cachecontentgroup" and action in ("flush", "expire"):
            # Objects go (expired objects are not kept); the running config does not change.
            name = name_in(res, payload)
            if store.behaviour(res).lookup(store, part, res, name, {}) is None:
                raise NitroFault(res.missing, f"{res.key}, {name}", status=404)
            store.observed.flush_cache(part.name, name)
        elif res.name == "sslcertkey" and action in ("update", "link", "unlink"):
            certkey = store.behaviour(res)
            handler = {"update": certkey.update_files, "link": certkey.link,
                       "unlink": certkey.unlink}[action]
            handler(store, part, res, coerce(res, payload, adding=False))
            store.changed = True
        else:
            raise NitroFault(E.INVALID_ACTION, f"{action} on {res.name}", status=400)


def _write_atomic(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


__all__ = ["ADMIN_USER", "LabADC"]
