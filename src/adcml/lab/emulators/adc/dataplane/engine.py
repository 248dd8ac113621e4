"""The data plane: listeners, routing, balancing, monitors and stats of one lab ADC.

Reconciliation. The store tells the data plane that the running config changed (a tiny hook
in ``ConfigStore``); the data plane schedules one reconcile on its event loop, so a bulk
request of 600 objects costs one rebuild. A reconcile compiles the whole config into
``Tables`` (pure: ``build_tables``), then brings the running parts in line: member state
objects (kept across rebuilds, with their counters), one monitor task per member and bound
monitor, one balancer per LB vserver, one listener per addressable vserver (started, stopped,
or given a new TLS spec in place). Requests read ``self.tables`` — replaced whole, never
mutated — so a request sees one consistent config.

The request path (``handle``): read the body, run the vserver's request policies (phase 2:
authentication, responder, rewrite), content switch (CS policies in priority order, then the
default LB vserver, then the CS vserver's backup), run the LB vserver's request policies,
consult the integrated cache (``cache``: a hit is answered there), pick a member (the LB
vserver's method over UP members, or its backup vserver chain when it is DOWN or spills
over), forward, relay (and store in the cache when its policy says so), count, and write one
audit line. The routing itself is ``routing.Routing``; what sends a request to the backup chain
is ``spillover``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from pathlib import Path

from aiohttp import web

from adcml.lab.emulators.adc.dataplane.access import AccessLog, AccessRecord
from adcml.lab.emulators.adc.dataplane.balance import Balancer, Member
from adcml.lab.emulators.adc.dataplane.cache import ObjectCache
from adcml.lab.emulators.adc.dataplane.flow import Flow, answer
from adcml.lab.emulators.adc.dataplane.health import Prober
from adcml.lab.emulators.adc.dataplane.listeners import Listener
from adcml.lab.emulators.adc.dataplane.proxy import Forwarder
from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy
from adcml.lab.emulators.adc.dataplane.routing import Routing
from adcml.lab.emulators.adc.dataplane.rules import RequestPolicies
from adcml.lab.emulators.adc.dataplane.spillover import Backups
from adcml.lab.emulators.adc.dataplane.tables import Tables, VsKey, build_tables
from adcml.lab.emulators.adc.models.store import ConfigStore
from adcml.lab.emulators.adc.models.traffic import CacheCounts, GroupCounts, MemberKey, VsCounts
from adcml.policy import parse_rule

log = logging.getLogger("adcml.lab.dataplane")
MAX_BODY = 16 * 1024 * 1024  # a larger request body is answered 413
NO_MONITOR = "No monitor bound: UP (an appliance would probe with its default TCP monitor)."


@functools.lru_cache(maxsize=4096)
def _compile_rule(text: str):
    return parse_rule(text)


class DataPlane(Routing):
    """Carries traffic for the running config in ``store`` (``adcml lab-adc --data-plane``), to
    the addresses ``policy`` allows (loopback by default); its audit log goes to
    ``<state_dir>/access.log`` when there is a state directory.

    It is also what the store observes traffic through (``models.traffic.Traffic``): monitored
    states and counters for NITRO GETs and stat, while it runs (``observing``).
    """

    def __init__(self, store: ConfigStore, state_dir: Path | None = None,
                 policy: AddressPolicy | None = None):
        self.store = store
        self.policy = policy or AddressPolicy()
        self.tables = Tables()
        self.members: dict[tuple, Member] = {}
        self.balancers: dict[VsKey, Balancer] = {}
        self.probers: dict[tuple, Prober] = {}
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.listen_errors: dict[tuple[str, int], str] = {}
        self.stats: dict[tuple[str, str, str], VsCounts] = {}
        self.forwarder = Forwarder(self.policy)
        self.access = AccessLog(Path(state_dir) / "access.log" if state_dir else None)
        self.running = False
        self.applied_generation = -1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dirty = False
        self._reconciling: asyncio.Task | None = None
        self._slot_freed = asyncio.Event()
        self.extras = RequestPolicies(self.policy)  # authentication, responder, rewrite, limits
        self.cache = ObjectCache()  # integrated caching: content groups' objects and counters
        self.backups = Backups()  # spillover persistence, vservers held down

    # --- lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._slot_freed = asyncio.Event()
        await self.forwarder.start()
        self.access.open()
        self.running = True
        self.store.listeners.append(self._changed)
        await self.reconcile()

    async def stop(self) -> None:
        self.running = False
        with contextlib.suppress(ValueError):
            self.store.listeners.remove(self._changed)
        if self._reconciling is not None:
            self._reconciling.cancel()
            with contextlib.suppress(BaseException):
                await self._reconciling
        for prober in self.probers.values():
            prober.stop()
        self.probers.clear()
        await asyncio.gather(*(lst.stop(grace=1.0) for lst in self.listeners.values()))
        self.listeners.clear()
        await self.forwarder.close()
        await self.extras.close()
        self.access.close()

    def _changed(self) -> None:
        """Called by the store after every write (on its thread): reconcile soon, once."""
        loop = self._loop
        if loop is None or not self.running:
            return
        self._dirty = True
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._kick()
        else:
            loop.call_soon_threadsafe(self._kick)

    def _kick(self) -> None:
        if self._reconciling is None or self._reconciling.done():
            self._reconciling = asyncio.get_running_loop().create_task(self._reconcile_loop())

    async def _reconcile_loop(self) -> None:
        while self._dirty and self.running:
            self._dirty = False
            try:
                await self.reconcile()
            except Exception:  # a lab bug must not stop later reconciles
                log.exception("data plane: reconcile failed")
                self.applied_generation = self.store.generation

    @property
    def settled(self) -> bool:
        """Whether the last config change has been applied."""
        return (self.applied_generation == self.store.generation and not self._dirty
                and (self._reconciling is None or self._reconciling.done()))

    # --- reconcile --------------------------------------------------------------------------
    async def reconcile(self) -> None:
        generation = self.store.generation
        try:
            problems = self.extras.rebuild(self.store)
            tables = build_tables(self.store, self.policy, _compile_rule, self.extras.compile)
            tables.problems[:0] = problems
        except Exception:
            log.exception("data plane: the running config could not be compiled; keeping the last")
            self.applied_generation = generation
            return
        tables.generation = generation
        for problem in tables.problems:
            log.warning("data plane: %s", problem)
        self._reconcile_members(tables)
        self.balancers = {
            key: Balancer(spec.method, list(dict.fromkeys(self.members[k] for k in spec.members)))
            for key, spec in tables.lb.items()
        }
        self.cache.reconcile(tables.cache_groups)
        self.tables = tables
        self.backups.observe(tables.lb.values(), self.members)
        await self._reconcile_listeners(tables)
        self.applied_generation = generation

    def _reconcile_members(self, tables: Tables) -> None:
        for key in set(self.members) - set(tables.members):
            del self.members[key]
        for key, spec in tables.members.items():
            member = self.members.get(key)
            if member is None:
                member = self.members[key] = Member(spec)
            member.spec = spec
        wanted = {}
        for key, spec in tables.members.items():
            if spec.unreachable or spec.out_of_service:
                continue
            for monitor in spec.monitors:
                wanted[(key, spec.ip, monitor.name)] = monitor
        for pkey in set(self.probers) - set(wanted):
            self.probers.pop(pkey).stop()
        for pkey, monitor in wanted.items():
            prober = self.probers.get(pkey)
            spec = self.members[pkey[0]].spec
            if prober is None:
                prober = Prober(monitor, spec.ip, spec.port, self.policy,
                                functools.partial(self._refresh, pkey[0]), spec.tls)
                self.probers[pkey] = prober
                prober.start()
            else:
                prober.update(monitor, spec.tls)
        for key in self.members:
            self._refresh(key)

    def _refresh(self, key: tuple) -> None:
        """Recompute a member's UP/DOWN from its monitors."""
        member = self.members.get(key)
        if member is None:
            return
        spec = member.spec
        member.judged = True
        if spec.unreachable:
            member.up, member.lastresponse = False, f"Failure - {spec.unreachable}; never probed."
            return
        if spec.out_of_service:
            member.up, member.lastresponse = False, "Not probed: out of service (disabled)."
            return
        if not spec.monitors:
            member.up, member.lastresponse = True, NO_MONITOR
            return
        states = [p.state for (k, _ip, _m), p in self.probers.items() if k == key]
        member.up = bool(states) and all(s.up for s in states)
        member.judged = bool(states) and all(s.probed for s in states)
        failing = [s for s in states if not s.up]
        member.lastresponse = (failing or states)[0].lastresponse if states else "Probe not yet sent."
        if member.up:
            self._free_slot()
        self.backups.observe(self.tables.lb.values(), self.members)

    async def _reconcile_listeners(self, tables: Tables) -> None:
        stops = []
        for address, listener in list(self.listeners.items()):
            frontend = tables.frontends.get(address)
            if frontend is None or (frontend.tls is not None) != listener.secure:
                stops.append(self.listeners.pop(address).stop())
        if stops:
            await asyncio.gather(*stops)
        for address, frontend in tables.frontends.items():
            listener = self.listeners.get(address)
            try:
                if listener is None:
                    listener = Listener(frontend, functools.partial(self.handle, address))
                    await listener.start()
                    self.listeners[address] = listener
                    log.info("data plane: %s %s listening on %s", frontend.kind, frontend.name,
                             listener)
                elif listener.tls is not None and frontend.tls is not None:
                    listener.tls.apply(frontend.tls)
                self.listen_errors.pop(address, None)
            except Exception as exc:  # a bad certificate or a busy port: report, carry on
                self.listen_errors[address] = f"{type(exc).__name__}: {exc}"
                log.warning("data plane: %s %s cannot listen on %s:%s: %s", frontend.kind,
                            frontend.name, *address, exc)
        for address in set(self.listen_errors) - set(tables.frontends):
            del self.listen_errors[address]

    # --- what it observes (models.traffic.Traffic) -------------------------------------------
    @property
    def observing(self) -> bool:
        return self.running

    def vstats(self, kind: str, partition: str, name: str) -> VsCounts:
        key = (kind, partition, name)
        found = self.stats.get(key)
        if found is None:
            found = self.stats[key] = VsCounts()
        return found

    def lb_state(self, partition: str, name: str) -> tuple[str, int, int]:
        """(state, UP members, members) of an LB vserver as monitored."""
        spec = self.tables.lb.get((partition, name))
        balancer = self.balancers.get((partition, name))
        if spec is None or balancer is None:
            return "DOWN", 0, 0
        if not spec.enabled or (partition, name) in self.backups.held:
            return "OUT OF SERVICE", 0, balancer.health[1]
        up, total = balancer.health
        return ("UP" if up else "DOWN"), up, total

    def held_down(self, partition: str, name: str) -> bool:
        return (partition, name) in self.backups.held

    def vserver_enabled(self, partition: str, name: str) -> None:
        self.backups.release((partition, name))

    def group_members(self, partition: str, group: str) -> list[tuple[MemberKey, Member]]:
        return [(k, m) for k, m in sorted(self.members.items()) if k[0] == partition and k[1] == group]

    def member(self, partition: str, group: str, server: str, port: int) -> Member | None:
        return self.members.get((partition, group, server, port))

    def cache_group(self, partition: str, group: str) -> GroupCounts:
        return self.cache.group_counts(partition, group)

    def cache_totals(self, partition: str) -> CacheCounts:
        return self.cache.totals_counts(partition)

    def flush_cache(self, partition: str, group: str) -> None:
        self.cache.flush(partition, group)

    # --- requests ---------------------------------------------------------------------------
    async def handle(self, address: tuple[str, int], request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        frontend = self.tables.frontends.get(address)
        client = request.remote or "-"
        record = AccessRecord(started, client, frontend.name if frontend else "-", request.method,
                              request.path)
        try:
            response = await self._serve(frontend, request, record)
        except asyncio.CancelledError:
            record.status, record.note = 499, "client went away"
            raise
        finally:
            if not record.status:
                record.status = 500
            self.access.write(record, (time.perf_counter() - started) * 1000)
        return response

    async def _serve(self, frontend, request: web.BaseRequest, record: AccessRecord):
        if frontend is None:
            record.status = 503
            return answer(503)
        length = request.content_length
        if length is not None and length > MAX_BODY:
            record.status = 413
            return answer(413)
        if request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await _read_body(request) if request.body_exists else b""
        if body is None:
            record.status = 413
            return answer(413)
        flow = Flow(request, body, record, frontend.partition, self.extras.authenticator,
                    self.extras.limits, self.access)
        try:
            if frontend.kind == "csvserver":
                response = await self._content_switch(flow, frontend.name)
            else:
                response = await self._load_balance(flow, frontend.name)
        finally:
            for kind, name in flow.touched:  # every vserver the request went through
                stats = self.vstats(kind, frontend.partition, name)
                stats.requests += 1
                stats.responses += 1
        record.status = response.status
        if flow.lab_answered and flow.touched:
            self.vstats(flow.touched[0][0], frontend.partition, flow.touched[0][1]).errors += 1
        return response

async def _read_body(request: web.BaseRequest) -> bytes | None:
    """The whole request body, or None when it is larger than MAX_BODY."""
    chunks, size = [], 0
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["DataPlane"]
