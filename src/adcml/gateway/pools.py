"""The ``pools`` and ``default_pool`` sections: per pool an LB vserver, service group, HTTP
monitor and members (``<gw>.<pool>``), and a route on the CS vserver (CS action, policy and
binding) — compiled, and gathered back.

CS policy priorities come from each route's specificity (longer path prefixes first, then
host matches), so adding a route does not renumber the others: a binding's priority cannot
change in place, and renumbering means unbind + bind, during which a route would briefly fall
through to the default pool.
"""

from __future__ import annotations

import re
from typing import Any

from adcml.gateway.endpoints import compile_endpoint, endpoint_monitor, gather_endpoint
from adcml.gateway.names import Add, GatherError, LiveGateway, cs_name, pool_object_name
from adcml.gateway.spec import GatewaySpec, Pool
from adcml.policy.nodes import quote

PATH_WEIGHT = 1024  # room for 512 routes of the same specificity, with and without a host
MAX_PATH = 4095
PATH_TERM = "HTTP.REQ.URL.PATH.STARTSWITH({})"
HOST_TERM = "HTTP.REQ.HOSTNAME.SET_TEXT_MODE(IGNORECASE).EQ({})"
# A route's rule exactly as rule_for writes it (spec paths and hosts need no escapes).
_ROUTE = re.compile(r'(?:HTTP\.REQ\.URL\.PATH\.STARTSWITH\("(?P<path>[^"\\]*)"\))?(?: && )?'
                    r'(?:HTTP\.REQ\.HOSTNAME\.SET_TEXT_MODE\(IGNORECASE\)\.EQ\("(?P<host>[^"\\]*)"\))?')


def compile_pools(add: Add, spec: GatewaySpec) -> None:
    gw, cs = spec.name, cs_name(spec.name)
    priorities = route_priorities(spec.pools)
    for i, pool in enumerate(spec.pools):
        _pool(add, gw, cs, pool, f"pools[{i}]", priorities.get(pool.name))
    if spec.default_pool:
        add("csvserver_lbvserver_binding", "default_pool", name=cs,
            lbvserver=pool_object_name(gw, spec.default_pool))


def route_priorities(pools: list[Pool]) -> dict[str, int]:
    """Pool name → CS policy priority: longer path prefixes first, then host matches, stable
    under additions except among routes of exactly the same specificity."""
    groups: dict[int, list[str]] = {}
    for pool in pools:
        if pool.match is None:
            continue
        length = min(len(pool.match.path_prefix or ""), MAX_PATH)
        base = (MAX_PATH + 1 - length) * PATH_WEIGHT + (0 if pool.match.host else PATH_WEIGHT // 2)
        groups.setdefault(base, []).append(pool.name)
    return {name: base + i for base, names in groups.items() for i, name in enumerate(sorted(names))}


def rule_for(pool: Pool) -> str:
    terms = []
    if pool.match.path_prefix:
        terms.append(PATH_TERM.format(quote(pool.match.path_prefix)))
    if pool.match.host:
        terms.append(HOST_TERM.format(quote(pool.match.host)))
    return " && ".join(terms)


def _pool(add: Add, gw: str, cs: str, pool: Pool, at: str, priority: int | None) -> None:
    name = pool_object_name(gw, pool.name)
    add("lbvserver", {"": at, "lbmethod": f"{at}.lb_method", "backupvserver": f"{at}.spillover.to",
                      "sothreshold": f"{at}.spillover.connections_over"},
        name=name, servicetype="HTTP", ipv46="0.0.0.0", port=0, lbmethod=pool.lb_method,
        **_spillover(gw, pool))
    health = pool.health
    if pool.endpoint is not None:
        group = compile_endpoint(add, name, pool.endpoint, at)
        monitor = endpoint_monitor(name)
    else:
        group = {"servicetype": "HTTP"}
        monitor = {"monitorname": name, "type": "HTTP", "httprequest": f"GET {health.path}",
                   "respcode": [str(code) for code in health.expect_status]}
        for j, member in enumerate(pool.members):
            add("servicegroup_servicegroupmember_binding", f"{at}.members[{j}]", servicegroupname=name,
                ip=member.host, port=member.port, weight=member.weight)
    add("servicegroup", {"": at, "maxclient": f"{at}.max_clients", "sp": f"{at}.surge_protection"},
        servicegroupname=name, maxclient=pool.max_clients, sp="ON" if pool.surge_protection else "OFF",
        **group)
    interval, units = _interval(health.interval)
    add("lbmonitor", {"": f"{at}.health", "monitorname": f"{at}.name"}, **monitor,
        interval=interval, units3=units, resptimeout=health.timeout, retries=health.retries)
    add("servicegroup_lbmonitor_binding", f"{at}.health", servicegroupname=name, monitor_name=name)
    add("lbvserver_servicegroup_binding", at, name=name, servicegroupname=name)
    if pool.match is not None:
        add("csaction", f"{at}.match", name=name, targetlbvserver=name)
        add("cspolicy", f"{at}.match", policyname=name, rule=rule_for(pool), action=name)
        add("csvserver_cspolicy_binding", f"{at}.match", name=cs, policyname=name, priority=priority)


def _spillover(gw: str, pool: Pool) -> dict[str, Any]:
    """The LB vserver's backup and spillover: requests go to the backup vserver when the pool
    is down or over ``connections_over`` (then, if the backup cannot take them either, the pool
    keeps them: ``sobackupaction ACCEPT``)."""
    spill = pool.spillover
    if spill is None:
        return {}
    out: dict[str, Any] = {"backupvserver": pool_object_name(gw, spill.to)}
    if spill.connections_over is not None:
        out |= {"somethod": "CONNECTION", "sothreshold": spill.connections_over, "sobackupaction": "ACCEPT"}
    return out


def _interval(seconds: int) -> tuple[int, str]:
    """An appliance stores whole minutes as minutes (60 s reads back as 1 MIN)."""
    return (seconds // 60, "MIN") if seconds >= 60 and seconds % 60 == 0 else (seconds, "SEC")


def gather_pools(live: LiveGateway) -> list[dict[str, Any]]:
    """Every pool of the gateway (its own section's fields), in name order."""
    prefix = f"{live.name}."
    return [gather_pool(live, name) for name in live.names("lbvserver")
            if "." not in name.removeprefix(prefix)]


def gather_pool(live: LiveGateway, name: str) -> dict[str, Any]:
    lb = live.obj("lbvserver", name)
    group = live.obj("servicegroup", name) or {}
    members = [{"host": m.get("ip") or m["servername"],
                "port": live.value("servicegroup_servicegroupmember_binding", m, "port"),
                "weight": live.value("servicegroup_servicegroupmember_binding", m, "weight", 1)}
               for m in live.bound("servicegroup_servicegroupmember_binding", name)]
    endpoint = gather_endpoint(live, name)
    pool: dict[str, Any] = {
        "name": name.removeprefix(f"{live.name}."),
        "lb_method": live.value("lbvserver", lb, "lbmethod", "LEASTCONNECTION"),
        "members": [] if endpoint else sorted(members, key=lambda m: (m["host"], m["port"])),
        "max_clients": live.value("servicegroup", group, "maxclient", 0),
        "surge_protection": live.value("servicegroup", group, "sp") == "ON",
    }
    if endpoint:
        pool["endpoint"] = endpoint
    spillover = gather_spillover(live, lb)
    if spillover:
        pool["spillover"] = spillover
    monitor = live.obj("lbmonitor", name)
    if monitor:
        minutes = live.value("lbmonitor", monitor, "units3") == "MIN"
        pool["health"] = {
            "interval": live.value("lbmonitor", monitor, "interval", 5) * (60 if minutes else 1),
            "timeout": live.value("lbmonitor", monitor, "resptimeout", 2),
            "retries": live.value("lbmonitor", monitor, "retries", 3),
        }
        if not endpoint:
            pool["health"] |= {
                "path": str(monitor.get("httprequest", "GET /health")).split(" ", 1)[-1],
                "expect_status": [int(c) for c in live.value("lbmonitor", monitor, "respcode", ["200"])]}
    policy = live.obj("cspolicy", name)
    if policy:
        pool["match"] = parse_route(name, policy["rule"])
    return pool


def gather_spillover(live: LiveGateway, lb: dict[str, Any]) -> dict[str, Any] | None:
    backup = lb.get("backupvserver")
    if not backup:
        return None
    spill: dict[str, Any] = {"to": str(backup).removeprefix(f"{live.name}.")}
    if live.value("lbvserver", lb, "somethod") == "CONNECTION":
        spill["connections_over"] = live.value("lbvserver", lb, "sothreshold")
    return spill


def parse_route(name: str, rule: str) -> dict[str, Any]:
    """The ``match`` of a route's rule, as ``rule_for`` wrote it."""
    found = _ROUTE.fullmatch(rule)
    if found is None or not (found["path"] or found["host"]):
        raise GatherError(f"cspolicy {name}: its rule is not one adcml writes (changed by hand?): {rule}")
    return {"path_prefix": found["path"], "host": found["host"]}


def gather_default_pool(live: LiveGateway, cs: dict[str, Any]) -> str | None:
    bound = live.bound("csvserver_lbvserver_binding", cs["name"])
    return bound[0]["lbvserver"].removeprefix(f"{live.name}.") if bound else None
