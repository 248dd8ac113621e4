"""Load-balancing methods over the members of one LB vserver.

- ROUNDROBIN: smooth weighted round robin (each member's share is its weight, interleaved);
- LEASTCONNECTION: fewest active requests per unit of weight (an appliance's
  ``active * 10000 / weight``), ties broken round robin;
- SOURCEIPHASH / URLHASH: a stable hash of the client address / URL over the usable members;
- any other method (LEASTRESPONSETIME, TOKEN, CUSTOMLOAD ...) falls back to ROUNDROBIN.

A member is usable when it is UP and below its ``maxclient`` (0: no limit).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from adcml.lab.emulators.adc.dataplane.tables import MemberSpec


@dataclass(eq=False)
class Member:
    """A member's live state: health, load and counters; survives config changes."""

    spec: MemberSpec
    up: bool = False
    active: int = 0
    requests: int = 0
    failures: int = 0
    lastresponse: str = "Probe not yet sent."
    last_failure: str | None = None  # why the last request to it failed (TLS verification ...)
    judged: bool = False  # UP/DOWN known (every monitor has probed it, or it needs no probe)

    @property
    def state(self) -> str:
        if self.spec.out_of_service:
            # Disabled with requests still in flight: they finish, nothing new arrives.
            return "GOING OUT OF SERVICE" if self.active else "OUT OF SERVICE"
        return "UP" if self.up else "DOWN"

    @property
    def usable(self) -> bool:
        limit = self.spec.maxclient
        return self.up and not self.spec.out_of_service and (not limit or self.active < limit)

    @property
    def ip(self) -> str | None:
        return self.spec.ip

    @property
    def address(self) -> str:
        ip = self.spec.ip or "?"
        return f"[{ip}]:{self.spec.port}" if ":" in ip else f"{ip}:{self.spec.port}"


@dataclass(eq=False)
class Balancer:
    """Picks a member of one LB vserver."""

    method: str
    members: Sequence[Member]
    _current: dict[int, int] = field(default_factory=dict)
    _turn: int = 0

    def pick(self, exclude: Sequence[Member] = (), client_ip: str = "", url: str = "") -> Member | None:
        candidates = [m for m in self.members if m.usable and m not in exclude]
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        method = self.method
        if method == "LEASTCONNECTION":
            return self._least(candidates)
        if method in ("SOURCEIPHASH", "URLHASH"):
            text = client_ip if method == "SOURCEIPHASH" else url
            ordered = sorted(candidates, key=lambda m: m.spec.key)
            return ordered[zlib.crc32(text.encode()) % len(ordered)]
        return self._round_robin(candidates)

    def _round_robin(self, candidates: list[Member]) -> Member:
        current = self._current
        total, best, best_score = 0, candidates[0], None
        for m in candidates:
            weight = m.spec.weight
            total += weight
            score = current.get(id(m), 0) + weight
            current[id(m)] = score
            if best_score is None or score > best_score:
                best, best_score = m, score
        current[id(best)] -= total
        return best

    def _least(self, candidates: list[Member]) -> Member:
        self._turn += 1
        n = len(candidates)
        start = self._turn % n
        best, best_load = None, None
        for i in range(n):
            m = candidates[(start + i) % n]
            load = m.active * 10000 // max(m.spec.weight, 1)
            if best_load is None or load < best_load:
                best, best_load = m, load
        return best  # type: ignore[return-value]

    @property
    def health(self) -> tuple[int, int]:
        """(UP members, members not out of service)."""
        live = [m for m in self.members if not m.spec.out_of_service]
        return sum(1 for m in live if m.up), len(live)
