"""What carrying traffic observes, as the control plane asks for it.

An appliance's NITRO GETs and ``stat`` report monitored states and counters. In the lab, the
data plane observes them; the lab ADC registers it with its config store when it is built
(``ConfigStore.traffic``), and the store's behaviours and ``stats`` ask it through
``ConfigStore.observed``. While nothing observes traffic (no data plane, or one not running),
``observed`` is ``NO_TRAFFIC``: states then derive from the config alone and counters are
zero, so a GET answers the same whether or not a data plane was ever built or started.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class MemberView(Protocol):
    """One service group member as traffic sees it."""

    @property
    def ip(self) -> str | None: ...

    @property
    def state(self) -> str: ...  # UP, DOWN, GOING OUT OF SERVICE, OUT OF SERVICE

    @property
    def active(self) -> int: ...  # requests in flight

    @property
    def requests(self) -> int: ...

    @property
    def lastresponse(self) -> str: ...  # the last monitor response, in an appliance's words


MemberKey = tuple[str, str, str, int]  # partition, service group, server name, port


@dataclass
class VsCounts:
    """Requests through one vserver; ``hits`` per CS policy taken (or ``default``); for an LB
    vserver the requests in flight there (``active``), and those handed to its backup chain
    because it spilled over or was DOWN."""

    requests: int = 0
    responses: int = 0
    errors: int = 0  # answered by the lab itself (no member, member failed)
    hits: Counter = field(default_factory=Counter)
    active: int = 0
    spillovers: int = 0
    down_backup_hits: int = 0


@dataclass(frozen=True)
class GroupCounts:
    """One content group's objects and hits (memory in bytes)."""

    hits: int = 0
    cells: int = 0
    memory: int = 0
    flushed: int = 0


@dataclass(frozen=True)
class CacheCounts:
    """A partition's integrated-cache totals (memory in bytes)."""

    hits: int = 0
    misses: int = 0
    storable: int = 0
    non_storable: int = 0
    cached: int = 0
    memory: int = 0


class Traffic(Protocol):
    """A provider of observed states and counters (the lab ADC's data plane is one)."""

    @property
    def observing(self) -> bool:
        """Whether traffic is carried now; while it is not, nothing below is asked."""
        ...

    def lb_state(self, partition: str, name: str) -> tuple[str, int, int] | None:
        """(state, UP members, members) of an LB vserver as monitored."""
        ...

    def group_members(self, partition: str, group: str) -> Sequence[tuple[MemberKey, MemberView]] | None:
        """The members of a service group, by key, in key order."""
        ...

    def member(self, partition: str, group: str, server: str, port: int) -> MemberView | None:
        ...

    def vstats(self, kind: str, partition: str, name: str) -> VsCounts:
        ...

    def held_down(self, partition: str, name: str) -> bool:
        """Whether an LB vserver is held down by ``disableprimaryondown``."""
        ...

    def vserver_enabled(self, partition: str, name: str) -> None:
        """``lbvserver?action=enable``: a vserver held down takes requests again."""
        ...

    def cache_group(self, partition: str, group: str) -> GroupCounts:
        ...

    def cache_totals(self, partition: str) -> CacheCounts:
        ...

    def flush_cache(self, partition: str, group: str) -> None:
        """``cachecontentgroup?action=flush|expire``: the group's objects go."""
        ...


class NoTraffic:
    """Nothing observed: the config-derived answer everywhere, counters at zero."""

    observing = False

    def lb_state(self, partition: str, name: str) -> None:
        return None

    def group_members(self, partition: str, group: str) -> None:
        return None

    def member(self, partition: str, group: str, server: str, port: int) -> None:
        return None

    def vstats(self, kind: str, partition: str, name: str) -> VsCounts:
        return VsCounts()

    def held_down(self, partition: str, name: str) -> bool:
        return False

    def vserver_enabled(self, partition: str, name: str) -> None:
        """Nothing is held down."""

    def cache_group(self, partition: str, group: str) -> GroupCounts:
        return GroupCounts()

    def cache_totals(self, partition: str) -> CacheCounts:
        return CacheCounts()

    def flush_cache(self, partition: str, group: str) -> None:
        """No objects to drop."""


NO_TRAFFIC: Traffic = NoTraffic()
