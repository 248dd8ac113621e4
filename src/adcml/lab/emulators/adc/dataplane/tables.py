"""The running config compiled into routing tables: built once per config change, read per
request.

``build_tables`` is a pure function of the store (and a rule compiler): what listens where,
which CS policies route where (in priority order, rules parsed), which members each LB vserver
balances over (domain-based servers resolved through ``names``, TLS to SSL groups' members per
``member_tls``), which monitors probe them, when each spills over to its backup
(``spillover``), which cache policies each vserver has and the content groups' settings, and
why a vserver is not served. Nothing here opens a socket.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adcml.lab.emulators.adc.dataplane.cache import compile_bank, compile_groups
from adcml.lab.emulators.adc.dataplane.health import MonitorSpec
from adcml.lab.emulators.adc.dataplane.member_tls import MemberTls, member_tls
from adcml.lab.emulators.adc.dataplane.names import AddressRecords
from adcml.lab.emulators.adc.dataplane.reach import UNREACHABLE, AddressPolicy
from adcml.lab.emulators.adc.dataplane.spillover import SpilloverSpec
from adcml.lab.emulators.adc.dataplane.tls import TlsSpec, tls_spec
from adcml.lab.emulators.adc.models.partition import value
from adcml.lab.emulators.adc.models.store import ConfigStore
from adcml.lab.emulators.adc.models.traffic import MemberKey
from adcml.policy import parse

log = logging.getLogger("adcml.lab.dataplane")
SERVED_TYPES = {"HTTP", "SSL"}
VsKey = tuple[str, str]  # partition, vserver name


@dataclass(frozen=True)
class MemberSpec:
    """A service group member as the balancer and the monitors see it."""

    key: MemberKey
    ip: str | None  # the server's address, or its domain's (dnsaddrec)
    port: int
    weight: int
    out_of_service: bool  # member, server or service group disabled
    unreachable: str | None  # why it is never contacted, if so
    monitors: tuple[MonitorSpec, ...]
    maxclient: int
    surge: bool
    cipheader: str | None
    svrtimeout: float
    tls: MemberTls | None = None  # an SSL service group: TLS to the member, as the group says

    @property
    def group(self) -> str:
        return self.key[1]


@dataclass(frozen=True)
class CsRoute:
    priority: int
    policy: str
    rule: Any  # a parsed adcml.policy expression
    target: str | None


@dataclass(frozen=True)
class LbSpec:
    partition: str
    name: str
    method: str
    backup: str | None
    enabled: bool
    members: tuple[MemberKey, ...]
    extras: Any = None  # phase-2 request policies (authentication, rewrite, responder)
    cache: Any = None  # the cache policies bound at REQUEST (a cache.CacheBank)
    spillover: SpilloverSpec | None = None
    hold_down: bool = False  # disableprimaryondown ENABLED
    redirect_url: str | None = None


@dataclass(frozen=True)
class CsSpec:
    partition: str
    name: str
    routes: tuple[CsRoute, ...]
    default: str | None
    backup: str | None
    enabled: bool
    extras: Any = None
    cache: Any = None


@dataclass(frozen=True)
class Frontend:
    """An addressable vserver: where it listens and how."""

    partition: str
    kind: str  # csvserver | lbvserver
    name: str
    ip: str
    port: int
    tls: TlsSpec | None
    clttimeout: int

    @property
    def address(self) -> tuple[str, int]:
        return self.ip, self.port


@dataclass
class Tables:
    """Everything a request needs, by key; ``skipped`` says why vservers are not served."""

    generation: int = 0
    frontends: dict[tuple[str, int], Frontend] = field(default_factory=dict)
    lb: dict[VsKey, LbSpec] = field(default_factory=dict)
    cs: dict[VsKey, CsSpec] = field(default_factory=dict)
    members: dict[MemberKey, MemberSpec] = field(default_factory=dict)
    skipped: dict[VsKey, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    cache_groups: dict = field(default_factory=dict)  # (partition, group) → cache.GroupSpec


RuleCompiler = Callable[[str], Any]


def build_tables(store: ConfigStore, policy: AddressPolicy, compile_rule: RuleCompiler,
                 extras: Callable | None = None) -> Tables:
    """Compile every partition's running config. ``compile_rule`` parses a rule (raising on
    a syntax error); ``extras(store, part, kind, name, compile_rule)`` adds phase-2 policies."""
    tables = Tables()
    features = store.features
    for part in store.partitions.values():
        _members(tables, store, part, policy)
        if "LB" in features:
            _lbvservers(tables, part, extras, store, compile_rule)
        if "CS" in features:
            _csvservers(tables, part, compile_rule, extras, store)
        _frontends(tables, store, part, policy)
    tables.cache_groups = compile_groups(store, parse, tables.problems)
    return tables


def _rows(part, resource: str) -> list[dict]:
    return list(part.table(resource).values())


def _members(tables: Tables, store: ConfigStore, part, policy: AddressPolicy) -> None:
    servers = part.table("server")
    records = AddressRecords(part)
    group_tls: dict[str, MemberTls] = {}
    monitors = part.table("lbmonitor")
    groups = {r["servicegroupname"]: r for r in _rows(part, "servicegroup")}
    bound: dict[str, list[MonitorSpec]] = {}
    for b in _rows(part, "servicegroup_lbmonitor_binding"):
        row = monitors.get((b["monitor_name"],))
        if row is None or value("servicegroup_lbmonitor_binding", b, "monstate") != "ENABLED":
            continue
        if value("lbmonitor", row, "state") != "ENABLED":
            continue  # a disabled monitor does not take anything down
        bound.setdefault(b["servicegroupname"], []).append(MonitorSpec.from_row(row))
    for m in _rows(part, "servicegroup_servicegroupmember_binding"):
        gname = m["servicegroupname"]
        group = groups.get(gname, {})
        server = servers.get((m["servername"],), {})
        ip, unreachable = server.get("ipaddress"), None
        if ip is None and server.get("domain"):
            ip, unreachable = records.resolve(server["domain"])
        if ip is None:
            unreachable = unreachable or "server has neither an address nor a domain"
        elif not policy.allows(ip):
            unreachable = UNREACHABLE
        servicetype = value("servicegroup", group, "servicetype")
        if servicetype not in ("HTTP", "SSL"):
            unreachable = unreachable or "service type not carried by the lab data plane"
        if servicetype == "SSL" and gname not in group_tls:
            group_tls[gname], problems = member_tls(store, part, gname)
            tables.problems.extend(problems)
        out_of_service = not (
            value("servicegroup_servicegroupmember_binding", m, "state") == "ENABLED"
            and value("server", server, "state") == "ENABLED"
            and value("servicegroup", group, "state") == "ENABLED"
        )
        monitored = value("servicegroup", group, "healthmonitor") == "YES"
        cip = value("servicegroup", group, "cip") == "ENABLED"
        key = (part.name, gname, m["servername"], m["port"])
        tables.members[key] = MemberSpec(
            key=key, ip=ip, port=m["port"],
            weight=value("servicegroup_servicegroupmember_binding", m, "weight"),
            out_of_service=out_of_service, unreachable=unreachable,
            monitors=tuple(bound.get(gname, ())) if monitored else (),
            maxclient=value("servicegroup", group, "maxclient") or 0,
            surge=value("servicegroup", group, "sp") == "ON",
            cipheader=(group.get("cipheader") or "client-ip") if cip else None,
            svrtimeout=float(value("servicegroup", group, "svrtimeout") or 0) or 3600.0,
            tls=group_tls.get(gname) if servicetype == "SSL" else None,
        )


def _lbvservers(tables: Tables, part, extras, store, compile_rule) -> None:
    by_vserver: dict[str, list[MemberKey]] = {}
    members_of: dict[str, list[MemberKey]] = {}
    for key in tables.members:
        if key[0] == part.name:
            members_of.setdefault(key[1], []).append(key)
    for b in _rows(part, "lbvserver_servicegroup_binding"):
        by_vserver.setdefault(b["name"], []).extend(members_of.get(b["servicegroupname"], []))
    for row in _rows(part, "lbvserver"):
        name = row["name"]
        tables.lb[(part.name, name)] = LbSpec(
            partition=part.name, name=name, method=value("lbvserver", row, "lbmethod"),
            backup=row.get("backupvserver"),
            enabled=value("lbvserver", row, "state") == "ENABLED",
            members=tuple(by_vserver.get(name, ())),
            extras=extras(store, part, "lbvserver", row, compile_rule) if extras else None,
            cache=_cache(tables, store, part, "lbvserver", name, compile_rule),
            spillover=SpilloverSpec.from_row(row, tables.problems),
            hold_down=value("lbvserver", row, "disableprimaryondown") == "ENABLED",
            redirect_url=row.get("redirecturl"),
        )


def _csvservers(tables: Tables, part, compile_rule: RuleCompiler, extras, store) -> None:
    policies = part.table("cspolicy")
    actions = part.table("csaction")
    routes: dict[str, list[CsRoute]] = {}
    for b in _rows(part, "csvserver_cspolicy_binding"):
        if value("csvserver_cspolicy_binding", b, "bindpoint") != "REQUEST":
            continue
        policy = policies.get((b["policyname"],))
        if policy is None:
            continue
        try:
            rule = compile_rule(policy["rule"])
        except Exception as exc:  # a rule the engine cannot evaluate never matches
            tables.problems.append(f"cspolicy {policy['policyname']}: {exc}")
            continue
        target = b.get("targetlbvserver")
        if target is None and policy.get("action"):
            target = actions.get((policy["action"],), {}).get("targetlbvserver")
        priority = b.get("priority") or 2**31
        routes.setdefault(b["name"], []).append(CsRoute(priority, b["policyname"], rule, target))
    defaults = {b["name"]: b["lbvserver"] for b in _rows(part, "csvserver_lbvserver_binding")}
    for row in _rows(part, "csvserver"):
        name = row["name"]
        tables.cs[(part.name, name)] = CsSpec(
            partition=part.name, name=name,
            routes=tuple(sorted(routes.get(name, ()), key=lambda r: (r.priority, r.policy))),
            default=defaults.get(name), backup=row.get("backupvserver"),
            enabled=value("csvserver", row, "state") == "ENABLED",
            extras=extras(store, part, "csvserver", row, compile_rule) if extras else None,
            cache=_cache(tables, store, part, "csvserver", name, compile_rule),
        )


def _cache(tables: Tables, store, part, kind: str, name: str, compile_rule):
    """The vserver's cache policies; none while feature IC is off (as on an appliance)."""
    if "IC" not in store.features:
        return None
    return compile_bank(part, kind, name, compile_rule, tables.problems)


def _frontends(tables: Tables, store: ConfigStore, part, policy: AddressPolicy) -> None:
    features = store.features
    # CS vservers first: an address claimed twice goes to the content switch.
    for kind, feature in (("csvserver", "CS"), ("lbvserver", "LB")):
        for row in sorted(_rows(part, kind), key=lambda r: r["name"]):
            name, key = row["name"], (part.name, row["name"])
            ip, port = value(kind, row, "ipv46"), value(kind, row, "port")
            if ip in ("0.0.0.0", "::") or not port:
                continue  # non-addressable: reached through a CS vserver only
            reason = None
            servicetype = row.get("servicetype")
            if feature not in features:
                reason = f"feature {feature} is not enabled"
            elif value(kind, row, "state") != "ENABLED":
                reason = "disabled (OUT OF SERVICE)"
            elif servicetype not in SERVED_TYPES:
                reason = f"service type {servicetype} is not carried by the lab data plane"
            elif servicetype == "SSL" and "SSL" not in features:
                reason = "feature SSL is not enabled"
            elif not policy.allows(ip):
                reason = f"{ip} is not an address the lab may listen on ({UNREACHABLE})"
            elif (ip, port) in tables.frontends:
                other = tables.frontends[(ip, port)]
                reason = f"{ip}:{port} is already served by {other.kind} {other.name}"
            tls = None
            if reason is None and servicetype == "SSL":
                tls, reason = tls_spec(store, part, name)
            if reason is not None:
                tables.skipped[key] = reason
                continue
            tables.frontends[(ip, port)] = Frontend(
                partition=part.name, kind=kind, name=name, ip=ip, port=port, tls=tls,
                clttimeout=value(kind, row, "clttimeout"))
