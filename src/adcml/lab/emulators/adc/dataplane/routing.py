"""The request path past the front door: content switching, then an LB vserver and its backup
chain (DOWN, spillover: ``spillover``), the LB vserver's request policies, the integrated
cache, a member, and the forwarding itself.

``Routing`` is the part of ``engine.DataPlane`` that routes; it reads what the data plane's
reconcile built (``tables``, ``balancers``, ``members``) and counts into its ``vstats``.

The audit line's ``target`` is the LB vserver chain the request went down: ``a>b`` when ``a``
was DOWN, ``a>spillover:b`` when ``a`` spilled over to ``b``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiohttp import web

from adcml.lab.emulators.adc.dataplane.balance import Balancer, Member
from adcml.lab.emulators.adc.dataplane.flow import Flow
from adcml.lab.emulators.adc.dataplane.proxy import IDEMPOTENT, BackendError, relay
from adcml.lab.emulators.adc.dataplane.spillover import Verdict, verdict
from adcml.lab.emulators.adc.dataplane.tables import CsSpec, LbSpec, VsKey
from adcml.lab.emulators.adc.models.traffic import VsCounts
from adcml.policy import evaluate

log = logging.getLogger("adcml.lab.dataplane")
MAX_HOPS = 4  # backup vserver chains longer than this are cut (an appliance refuses loops)
SURGE_WAIT = 10.0
BACKUP_UNUSABLE = "spillover: no usable backup vserver"


class Routing:
    """Content switching, load balancing over the backup chain, and forwarding."""

    # --- content switching ------------------------------------------------------------------
    async def _content_switch(self, flow: Flow, name: str, hops: int = 0):
        cs: CsSpec | None = self.tables.cs.get((flow.partition, name))
        flow.touched.append(("csvserver", name))
        if cs is None or not cs.enabled:
            return flow.error(503, "CS vserver gone or disabled")
        if cs.extras is not None:
            early = await cs.extras.on_request(flow)
            if early is not None:
                return early
        if cs.cache is not None:  # consulted on the LB vserver, after its policies too
            flow.cache_bank = cs.cache
        target, route = cs.default, "default"
        if cs.routes:
            ctx = flow.context()
            for r in cs.routes:
                if r.target and _evaluate(r.rule, ctx):
                    target, route = r.target, r.policy
                    break
        self.vstats("csvserver", flow.partition, name).hits[route] += 1
        flow.record.route = route if hops == 0 else f"{flow.record.route}>backup:{name}:{route}"
        if target is not None:
            lb_key = (flow.partition, target)
            if self._usable(lb_key, set()) or cs.backup is None or hops >= MAX_HOPS:
                return await self._load_balance(flow, target)
        if cs.backup is not None and hops < MAX_HOPS:
            return await self._content_switch(flow, cs.backup, hops + 1)
        return flow.error(503, "no target")

    def _usable(self, key: VsKey, seen: set) -> bool:
        """Whether LB vserver ``key`` (or its backup chain) has a member to send to."""
        if key in seen or len(seen) > MAX_HOPS:
            return False
        seen.add(key)
        spec = self.tables.lb.get(key)
        balancer = self.balancers.get(key)
        if spec is None or balancer is None:
            return False
        if spec.enabled and key not in self.backups.held and any(m.usable for m in balancer.members):
            return True
        return spec.backup is not None and self._usable((key[0], spec.backup), seen)

    # --- load balancing ---------------------------------------------------------------------
    async def _load_balance(self, flow: Flow, name: str) -> web.StreamResponse:
        """Down the backup chain from LB vserver ``name`` to the first that serves."""
        key: VsKey = (flow.partition, name)
        target, hops, first = name, 0, None
        while True:
            spec: LbSpec | None = self.tables.lb.get(key)
            balancer = self.balancers.get(key)
            if spec is None or balancer is None:
                break
            first = first or spec
            flow.touched.append(("lbvserver", key[1]))
            stats = self.vstats("lbvserver", *key)
            spill = spec.spillover
            persisted = (spill is not None and spill.persistence_timeout is not None
                         and self.backups.persisted(key, flow.client_ip))
            decision = verdict(spec, balancer.members, stats.active, key in self.backups.held)
            backup = (key[0], spec.backup) if spec.backup and hops < MAX_HOPS else None
            spilling = decision is Verdict.SPILL or (decision is Verdict.SERVE and persisted)
            if spilling and backup is not None and self._usable(backup, {key}):
                stats.spillovers += 1
                if spill.persistence_timeout is not None:
                    self.backups.remember(key, flow.client_ip, spill.persistence_timeout)
                key, hops, target = backup, hops + 1, f"{target}>spillover:{backup[1]}"
                continue
            if decision is Verdict.SPILL:
                flow.record.target = target
                if spill.backup_action != "ACCEPT":
                    if spill.backup_action == "REDIRECT" and spec.redirect_url:
                        return flow.redirect(spec.redirect_url, BACKUP_UNUSABLE)
                    return flow.drop(BACKUP_UNUSABLE)
                decision = Verdict.SERVE  # sobackupaction ACCEPT: served here anyway
            if decision is Verdict.SERVE:
                flow.record.target = target
                response = await self._serve_at(flow, spec, balancer, stats)
                if response is not None:
                    return response
            if backup is None:
                break
            stats.down_backup_hits += 1
            key, hops, target = backup, hops + 1, f"{target}>{backup[1]}"
        flow.record.target = target
        if first is not None and first.redirect_url:
            return flow.redirect(first.redirect_url, "no UP member: the vserver's redirect URL")
        return flow.error(503, "no UP member")

    async def _serve_at(self, flow: Flow, spec: LbSpec, balancer: Balancer,
                        stats: VsCounts) -> web.StreamResponse | None:
        """Serve at one LB vserver: its request policies, the cache, a member. None when no
        member could take the request (the caller goes on down the chain)."""
        stats.active += 1  # in flight here from the verdict on, before any await (spillover)
        try:
            if spec.extras is not None:
                early = await spec.extras.on_request(flow)
                if early is not None:
                    return early
            pending = None
            if spec.cache is not None or flow.cache_bank is not None:
                # Integrated caching: after every request policy, before a member.
                banks = tuple(b for b in (flow.cache_bank, spec.cache) if b is not None)
                pending = self.cache.begin(flow, banks)
                if isinstance(pending, web.StreamResponse):
                    return pending  # a hit
            # Picked and counted active with no await in between: maxclient holds.
            member = balancer.pick((), flow.client_ip, flow.request.raw_path)
            if member is None and any(m.up and m.spec.surge for m in balancer.members):
                member = await self._wait_for_slot(balancer, flow)
            if member is None:
                return None
            response = await self._forward(flow, balancer, member)
            if pending is not None:
                self.cache.finish(pending, flow, response)
            return response
        finally:
            stats.active -= 1

    async def _wait_for_slot(self, balancer: Balancer, flow: Flow) -> Member | None:
        """Surge protection: queue until a member has room (or give up after SURGE_WAIT)."""
        deadline = time.monotonic() + SURGE_WAIT
        while (left := deadline - time.monotonic()) > 0:
            event = self._slot_freed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), left)
            member = balancer.pick((), flow.client_ip, flow.request.raw_path)
            if member is not None:
                return member
        return None

    def _free_slot(self) -> None:
        event, self._slot_freed = self._slot_freed, asyncio.Event()
        event.set()

    # --- forwarding -------------------------------------------------------------------------
    async def _forward(self, flow: Flow, balancer: Balancer, member: Member):
        request = flow.request
        tried: list[Member] = []
        while True:
            spec = member.spec
            flow.record.member = member.address
            member.active += 1
            member.requests += 1
            try:
                headers = flow.backend_headers(spec.cipheader)
                try:
                    upstream = await self.forwarder.send(
                        request, spec.ip, spec.port, flow.path or request.raw_path, headers,
                        flow.body, tls=spec.tls, timeout=spec.svrtimeout)
                except BackendError as exc:
                    member.failures += 1
                    member.last_failure = exc.reason
                    tried.append(member)
                    retry = not exc.sent or request.method in IDEMPOTENT
                    nxt = balancer.pick(tried, flow.client_ip, request.raw_path) if (
                        retry and len(tried) < 2) else None
                    if nxt is None:
                        return flow.error(502 if exc.sent else 503, f"member failed: {exc.reason}")
                    member = nxt
                    continue
                member.last_failure = None
                return await relay(request, upstream)
            finally:
                member.active -= 1
                if spec.maxclient:
                    self._free_slot()


def _evaluate(rule, ctx) -> bool:
    try:
        return bool(evaluate(rule, ctx))
    except Exception:  # evaluation is documented not to raise; a lab bug must not be a 500
        log.exception("data plane: rule evaluation failed")
        return False
