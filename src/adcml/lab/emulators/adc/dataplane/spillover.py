"""When an LB vserver hands a new request to its backup vserver chain, and when it takes
requests again: DOWN, spillover, spillover persistence and ``disableprimaryondown``.

Per request, at each vserver of the chain (``verdict``):

- **DOWN** — disabled, held down (below), or no member UP: the request goes to the backup
  (counted in ``totvserverdownbackuphits``); no backup, or nothing usable down the chain: 503.
- **SPILL** — the vserver could serve, but its ``somethod`` says it is over ``sothreshold``:
  ``CONNECTION``: requests in flight at the vserver ≥ sothreshold; ``DYNAMICCONNECTION``:
  requests in flight ≥ the sum of the UP members' ``maxclient`` (a service group's maxclient is
  each member's; a member without one means no limit, so no spillover); ``HEALTH``: the UP
  members' share of the weight, in percent, below sothreshold. A client that spilled keeps
  spilling while ``sopersistence ENABLED`` remembers it (per client address, for
  ``sopersistencetimeout`` minutes after its last spilled request) as long as the chain can
  take it. The request goes down the chain (counted in ``totspillovers``) when the chain can
  take it; otherwise ``sobackupaction``:
  ``ACCEPT`` serves it here anyway, ``REDIRECT`` answers 302 to the vserver's ``redirecturl``
  (closes the connection without one), ``DROP`` closes the connection; unset, as REDIRECT.
- **SERVE** — otherwise. Failback is immediate: the next request below the threshold, or after
  a member is UP again, is served here.

``BANDWIDTH`` is not carried (never spills; a problem is reported). In-flight requests count
from the verdict (before any await) to the end of the response, so a burst of concurrent
requests cannot all slip under the threshold.

``disableprimaryondown ENABLED`` on a vserver with a backup: once the vserver goes from UP to
DOWN it is held down — state DISABLED, OUT OF SERVICE, its backup taking everything — until
``lbvserver?action=enable``, even after its members are UP again. The hold lives in the data
plane (not in the saved config).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from adcml.lab.emulators.adc.models.partition import value

VsKey = tuple[str, str]  # partition, vserver name
SPILLING_METHODS = ("CONNECTION", "DYNAMICCONNECTION", "HEALTH")
MAX_REMEMBERED = 100_000  # persisted clients kept per data plane (expired ones go first)


class Verdict(Enum):
    SERVE = "serve"
    DOWN = "down"
    SPILL = "spill"


@dataclass(frozen=True)
class SpilloverSpec:
    """An LB vserver's spillover settings (only for a method that spills)."""

    method: str
    threshold: int | None
    persistence_timeout: float | None  # seconds; None: sopersistence DISABLED
    backup_action: str  # DROP ACCEPT REDIRECT

    @classmethod
    def from_row(cls, row: dict, problems: list[str]) -> SpilloverSpec | None:
        method = value("lbvserver", row, "somethod")
        if method == "BANDWIDTH":
            problems.append(f"lbvserver {row['name']}: somethod BANDWIDTH is not carried by the "
                            "lab data plane (it never spills)")
        if method not in SPILLING_METHODS:
            return None
        threshold = row.get("sothreshold")
        if threshold is None and method != "DYNAMICCONNECTION":
            problems.append(f"lbvserver {row['name']}: somethod {method} without sothreshold "
                            "never spills")
            return None
        persistent = value("lbvserver", row, "sopersistence") == "ENABLED"
        timeout = value("lbvserver", row, "sopersistencetimeout") * 60.0 if persistent else None
        return cls(method, threshold, timeout, row.get("sobackupaction") or "REDIRECT")


def over_threshold(spec: SpilloverSpec, active: int, members: Sequence) -> bool:
    """Whether a vserver with ``active`` requests in flight over ``members`` must spill."""
    live = [m for m in members if not m.spec.out_of_service]
    if spec.method == "CONNECTION":
        return active >= spec.threshold
    if spec.method == "DYNAMICCONNECTION":
        limits = [m.spec.maxclient for m in live if m.up]
        return bool(limits) and 0 not in limits and active >= sum(limits)
    total = sum(m.spec.weight for m in live)
    up = sum(m.spec.weight for m in live if m.up)
    return total > 0 and up * 100 < spec.threshold * total


def verdict(lb, members: Sequence, active: int, held: bool) -> Verdict:
    """What LB vserver ``lb`` (a ``tables.LbSpec``) does with a new request, by its state and
    load (a client persisted to the backup chain is the caller's business)."""
    if not lb.enabled or held or not any(m.up and not m.spec.out_of_service for m in members):
        return Verdict.DOWN
    spill = lb.spillover
    if spill is not None and over_threshold(spill, active, members):
        return Verdict.SPILL
    surge = any(m.up and m.spec.surge for m in members)
    return Verdict.SERVE if surge or any(m.usable for m in members) else Verdict.DOWN


class Backups:
    """What the backup decisions remember: clients persisted to the backup chain, and the
    vservers held down by ``disableprimaryondown`` (with whether each was UP last time)."""

    def __init__(self) -> None:
        self._persisted: dict[tuple[VsKey, str], float] = {}  # → expiry (monotonic)
        self.held: set[VsKey] = set()
        self._was_up: dict[VsKey, bool] = {}

    # --- spillover persistence -----------------------------------------------------------
    def persisted(self, key: VsKey, client: str) -> bool:
        expiry = self._persisted.get((key, client))
        return expiry is not None and expiry > time.monotonic()

    def remember(self, key: VsKey, client: str, timeout: float) -> None:
        now = time.monotonic()
        if len(self._persisted) >= MAX_REMEMBERED:
            self._persisted = {k: t for k, t in self._persisted.items() if t > now}
            if len(self._persisted) >= MAX_REMEMBERED:
                self._persisted.pop(next(iter(self._persisted)))
        self._persisted[(key, client)] = now + timeout

    # --- disableprimaryondown ------------------------------------------------------------
    def observe(self, specs: Iterable, members: dict) -> None:
        """After member states changed: hold down each vserver with ``hold_down`` that went
        from UP to DOWN. ``specs``: the LB specs; ``members``: member key → Member."""
        seen = set()
        for lb in specs:
            key = (lb.partition, lb.name)
            seen.add(key)
            if not (lb.hold_down and lb.backup and lb.enabled):
                self._was_up.pop(key, None)
                continue
            live = [members[k] for k in lb.members
                    if k in members and not members[k].spec.out_of_service]
            if not all(m.judged for m in live):
                continue  # a monitor has not probed yet: no transition to see
            up = any(m.up for m in live)
            if self._was_up.get(key) and not up:
                self.held.add(key)
            self._was_up[key] = up
        for key in set(self._was_up) - seen:
            del self._was_up[key]
        self.held &= seen

    def release(self, key: VsKey) -> None:
        """``lbvserver?action=enable``: a held-down vserver takes requests again."""
        self.held.discard(key)
