"""Take one pool member out of service and back, draining it first: the ADC half of a rolling
update of model servers.

    ref = MemberRef.of_pool("llm", "embed", host="10.0.1.21", port=8000)
    set_member_state(client, ref, enabled=False)        # no new requests; in-flight ones finish
    result = drain(client, ref, timeout=60)              # until curclntconnections is 0
    ...update the model server, wait for its /health...
    set_member_state(client, ref, enabled=True)

A gateway binds its members by IP, so the member's server name is its IP (as an appliance
names the implicit server) and the service group is ``<gateway>.<pool>``
(:func:`adcml.gateway.compile.pool_object_name`). NITRO calls: the service group's own
``enable``/``disable`` action naming ``servername`` and ``port`` (with ``graceful``/``delay``
when disabling), the group's member bindings for the configured state, and
``stat/servicegroupmember`` for the requests in flight.

The gateway engine leaves a member's ``state`` alone in every state (``Attr.operational``), so a
converge that runs during a rolling update does not put the member being updated back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from adcml.gateway.names import pool_object_name
from adcml.gateway.spec import Member
from adcml.nitro import NitroClient

BINDING = "servicegroup_servicegroupmember_binding"
ENABLED, DISABLED = "ENABLED", "DISABLED"


class MemberNotFound(LookupError):
    """The service group has no member with that server name and port."""

    def __init__(self, ref: MemberRef, members: list[str]):
        self.ref = ref
        self.members = members
        have = ", ".join(members) if members else "none"
        super().__init__(f"{ref}: no such member (the group's members: {have})")


@dataclass(frozen=True)
class MemberRef:
    """One member of a service group, as NITRO identifies it."""

    servicegroup: str
    servername: str
    port: int

    @classmethod
    def of_pool(cls, gateway: str, pool: str, host: str, port: int) -> MemberRef:
        """The member ``host:port`` of a gateway's pool (``host`` as written in the spec)."""
        try:
            member = Member(host=host, port=port)
        except ValidationError as exc:
            problem = exc.errors()[0]
            field = ".".join(str(p) for p in problem["loc"]) or "host"
            raise ValueError(f"{field}: {problem['msg']}") from None
        return cls(pool_object_name(gateway, pool), member.host, member.port)

    def __str__(self) -> str:
        return f"service group {self.servicegroup} member {self.servername}:{self.port}"

    def body(self) -> dict[str, Any]:
        return {"servicegroupname": self.servicegroup, "servername": self.servername,
                "port": self.port}


@dataclass(frozen=True)
class MemberStatus:
    """``state``: configured (ENABLED/DISABLED); ``svrstate``: as the ADC sees it (UP, DOWN,
    GOING OUT OF SERVICE, OUT OF SERVICE); ``connections``: requests in flight to it."""

    state: str
    svrstate: str
    connections: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MemberChange:
    """What enabling or disabling did (or, in check mode, would do)."""

    ref: MemberRef
    before: MemberStatus
    wanted: str  # ENABLED | DISABLED

    @property
    def changed(self) -> bool:
        return self.before.state != self.wanted

    def render(self) -> str:
        if not self.changed:
            return f"  {self.ref}: already {self.wanted}\n"
        return f"~ {self.ref}: state {self.before.state} -> {self.wanted}\n"


@dataclass(frozen=True)
class DrainResult:
    drained: bool
    waited: float  # seconds
    connections: int  # still in flight at the end

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def member_status(client: NitroClient, ref: MemberRef) -> MemberStatus:
    """The member's configured state, monitored state and requests in flight (2 requests)."""
    rows = client.get(BINDING, ref.servicegroup)
    row = next((r for r in rows if str(r.get("servername")) == ref.servername
                and int(r.get("port", 0)) == ref.port), None)
    if row is None:
        raise MemberNotFound(ref, [f"{r.get('servername')}:{r.get('port')}" for r in rows])
    stat = _stat(client, ref)
    return MemberStatus(state=str(row.get("state") or ENABLED).upper(),
                        svrstate=str(stat.get("state") or row.get("svrstate") or "UNKNOWN").upper(),
                        connections=_connections(stat))


def set_member_state(client: NitroClient, ref: MemberRef, *, enabled: bool, graceful: bool = True,
                     delay: float | None = None, check: bool = False) -> MemberChange:
    """Enable or disable the member unless it already is; ``check``: only say what would change.

    Disabling sends ``graceful`` (YES: the appliance finishes what is in flight before the
    member is out of service) and ``delay`` (seconds of grace, when given)."""
    change = MemberChange(ref, member_status(client, ref), ENABLED if enabled else DISABLED)
    if change.changed and not check:
        body = ref.body()
        if not enabled:
            body["graceful"] = "YES" if graceful else "NO"
            if delay is not None:
                body["delay"] = delay
        client.action("servicegroup", "enable" if enabled else "disable", body)
    return change


def drain(client: NitroClient, ref: MemberRef, timeout: float, *, interval: float = 0.5,
          clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> DrainResult:
    """Wait until no request is in flight to the member (``curclntconnections`` 0), at most
    ``timeout`` seconds; polls ``stat/servicegroupmember`` every ``interval``."""
    start = clock()
    while True:
        connections = _connections(_stat(client, ref))
        waited = clock() - start
        if connections == 0:
            return DrainResult(True, round(waited, 3), 0)
        if waited >= timeout:
            return DrainResult(False, round(waited, 3), connections)
        sleep(min(interval, max(timeout - waited, 0)))


def wait_up(client: NitroClient, ref: MemberRef, timeout: float, *, interval: float = 0.5,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> tuple[bool, float, str]:
    """Wait until the appliance's monitor sees the member UP, at most ``timeout`` seconds;
    returns (up, seconds waited, last state). Before the next member of a rolling update
    is taken out, this one must carry traffic again."""
    start = clock()
    while True:
        state = str(_stat(client, ref).get("state") or "UNKNOWN").upper()
        waited = clock() - start
        if state == "UP" or waited >= timeout:
            return state == "UP", round(waited, 3), state
        sleep(min(interval, max(timeout - waited, 0)))


def _stat(client: NitroClient, ref: MemberRef) -> dict[str, Any]:
    rows = client.stat("servicegroupmember", args=ref.body())
    return rows[0] if rows else {}


def _connections(stat: dict[str, Any]) -> int:
    # Numbers come back as strings; a queued (surge) request will reach the member too.
    return sum(int(float(stat.get(key) or 0)) for key in ("curclntconnections", "surgecount"))


__all__ = ["DrainResult", "MemberChange", "MemberNotFound", "MemberRef", "MemberStatus", "drain",
           "member_status", "set_member_state", "wait_up"]
