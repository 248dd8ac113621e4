"""Live state → gateway spec: what ``state: gathered`` returns and what verification compares.

The inverse of compile: reads the objects a gateway owns and rebuilds the spec they implement.
A certificate uploaded from files comes back as ``tls.certkey: <gateway>.cert`` (the files'
paths on the control node are not on the appliance).
"""

from __future__ import annotations

import re
from typing import Any

from adcml.engine import read_live
from adcml.gateway.compile import RESOURCES, owner
from adcml.gateway.spec import load_spec
from adcml.nitro import NitroClient

_PATH = re.compile(r'HTTP\.REQ\.URL\.PATH\.STARTSWITH\("([^"]*)"\)')
_HOST = re.compile(r'HTTP\.REQ\.HOSTNAME\.EQ\("([^"]*)"\)')


def gather(client: NitroClient, gateway: str) -> dict[str, Any] | None:
    """The gateway named ``gateway`` as a validated spec dict, or None if it does not exist."""
    live = read_live(client, RESOURCES)
    owned = owner(gateway)
    mine = {res: {_key(res, r): r for r in rows.values() if owned(res, r)}
            for res, rows in live.items()}
    cs = mine["csvserver"].get(f"{gateway}.cs")
    if cs is None:
        return None
    https = cs["servicetype"] == "SSL"
    frontend: dict[str, Any] = {"vip": cs["ipv46"], "port": int(cs["port"]),
                                "protocol": "https" if https else "http",
                                "client_timeout": int(cs.get("clttimeout", 180))}
    if https:
        frontend["tls"] = {"certkey": _certkey(live, f"{gateway}.cs")}
        profile = mine["sslprofile"].get(f"{gateway}.tls")
        if profile:
            frontend["ssl_profile"] = {
                **{v: profile.get(v, "DISABLED") == "ENABLED" for v in ("tls1", "tls11", "tls12", "tls13")},
                "session_reuse": profile.get("sessreuse") == "ENABLED",
                "session_timeout": int(profile.get("sesstimeout", 120)),
            }
    prefix = f"{gateway}."
    pools = [_pool(live, mine, name, name.removeprefix(prefix)) for name in sorted(mine["lbvserver"])]
    spec: dict[str, Any] = {"name": gateway, "frontend": frontend, "pools": pools}
    default = [b for b in live["csvserver_lbvserver_binding"].values() if b["name"] == cs["name"]]
    if default:
        spec["default_pool"] = default[0]["lbvserver"].removeprefix(prefix)
    return load_spec(spec).model_dump(mode="json")


def _key(resource: str, row: dict) -> Any:
    from adcml.resources import schema

    return row.get(schema(resource).key)


def _certkey(live, vserver: str) -> str | None:
    for binding in live["sslvserver_sslcertkey_binding"].values():
        if binding["vservername"] == vserver and not binding.get("snicert"):
            return binding["certkeyname"]
    return None


def _pool(live, mine, name: str, short: str) -> dict[str, Any]:
    lb = mine["lbvserver"][name]
    group = mine["servicegroup"].get(name, {})
    members = [
        {"host": m.get("ip") or m["servername"], "port": int(m["port"]), "weight": int(m.get("weight", 1))}
        for m in live["servicegroup_servicegroupmember_binding"].values()
        if m["servicegroupname"] == name
    ]
    pool: dict[str, Any] = {
        "name": short, "lb_method": lb.get("lbmethod", "LEASTCONNECTION"),
        "members": sorted(members, key=lambda m: (m["host"], m["port"])),
        "max_clients": int(group.get("maxclient", 0)), "surge_protection": group.get("sp") == "ON",
    }
    monitor = mine["lbmonitor"].get(name)
    if monitor:
        interval = int(monitor.get("interval", 5)) * (60 if monitor.get("units3") == "MIN" else 1)
        pool["health"] = {
            "path": str(monitor.get("httprequest", "GET /health")).split(" ", 1)[-1],
            "interval": interval, "timeout": int(monitor.get("resptimeout", 2)),
            "retries": int(monitor.get("retries", 3)),
            "expect_status": [int(c) for c in monitor.get("respcode", ["200"])],
        }
    policy = mine["cspolicy"].get(name)
    if policy:
        path, host = _PATH.search(policy["rule"]), _HOST.search(policy["rule"])
        pool["match"] = {"path_prefix": path.group(1) if path else None,
                         "host": host.group(1) if host else None}
    group, cache = mine["cachecontentgroup"].get(name), mine["cachepolicy"].get(name)
    if group and cache:
        pool["cache"] = {"ttl_seconds": int(group.get("relexpiry", 60)),
                         "max_object_kb": int(group.get("maxressize", 80)),
                         "memory_mb": int(group.get("memlimit", 64)),
                         "paths": _PATH.findall(cache["rule"])}
    return pool
