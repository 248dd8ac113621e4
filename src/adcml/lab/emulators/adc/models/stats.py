"""``GET /nitro/v1/stat/...``: an appliance's statistics, from the config and observed traffic.

While traffic is carried (``store.observed.observing``), states and counters are what the data
plane observed: ``stat/lbvserver``, ``stat/csvserver``, ``stat/servicegroup`` (with its
members), ``stat/servicegroupmember``, ``stat/cachecontentgroup`` and ``stat/cache``. Without
traffic, the states derive from the config, counters are zero, and ``stat/csvserver`` is not
there (as before the data plane existed). Numbers are strings, as an appliance returns most
numbers.
"""

from __future__ import annotations

import math

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.caching import LAB_MEMORY
from adcml.lab.emulators.adc.models.members import GROUP, MEMBER, member_value
from adcml.lab.emulators.adc.models.partition import Partition, value
from adcml.lab.emulators.adc.models.store import ConfigStore
from adcml.lab.emulators.adc.models.traffic import CacheCounts, GroupCounts, Traffic, VsCounts
from adcml.resources import SCHEMA, ErrorCode

E = ErrorCode
MEMBER_ARGS = ("servicegroupname", "servername", "ip", "port")


def stat(store: ConfigStore, part: Partition, resource: str, name: str | None,
         args: dict[str, str]) -> list[dict] | dict:
    """The rows of ``stat/<resource>[/<name>]`` (``stat/cache``: one object)."""
    live = store.observed
    if resource == "cache":
        if name is not None:
            raise _not_a_stat(f"cache/{name}")
        return cache_row(live.cache_totals(part.name))
    if resource == "cachecontentgroup":
        res = SCHEMA[resource]
        names = [r[res.key] for r in store.get(part, res, name, {})]  # 404 when missing
        return [group_row(n, part.table(resource)[(n,)], live.cache_group(part.name, n))
                for n in names]
    if resource == "servicegroupmember":
        return member_rows(store, part, name, args)
    if live.observing and resource in ("lbvserver", "csvserver"):
        return _vserver_rows(store, live, part, resource, name)
    if live.observing and resource == "servicegroup":
        return _group_rows(store, live, part, name)
    if resource == "lbvserver":
        return [_configured_vserver(row) for row in store.get(part, SCHEMA[resource], name, {})]
    if resource == "servicegroup":
        return [{"servicegroupname": row["servicegroupname"], "state": row["state"],
                 "servicetype": row["servicetype"]}
                for row in store.get(part, SCHEMA[resource], name, {})]
    raise _not_a_stat(resource)


def _configured_vserver(row: dict) -> dict:
    up = row.get("curstate") == "UP"
    return {"name": row["name"], "state": row["curstate"], "type": row["servicetype"],
            "vslbhealth": "100" if up else "0", "totalrequests": "0", "actsvcs": "1" if up else "0",
            **_spillover_fields(row, VsCounts())}


def _spillover_fields(row: dict, counts: VsCounts) -> dict:
    """An LB vserver's spillover counters, as ``stat lbvserver`` names them."""
    return {"sothreshold": str(row.get("sothreshold", 0)),
            "curclntconnections": str(counts.active), "totspillovers": str(counts.spillovers),
            "totvserverdownbackuphits": str(counts.down_backup_hits)}


def _vserver_rows(store: ConfigStore, live: Traffic, part: Partition, resource: str,
                  name: str | None) -> list[dict]:
    out = []
    for row in store.get(part, SCHEMA[resource], name, {}):
        counts = live.vstats(resource, part.name, row["name"])
        entry = {"name": row["name"], "type": row["servicetype"],
                 "primaryipaddress": row.get("ipv46", "0.0.0.0"), "primaryport": row.get("port", 0),
                 "totalrequests": str(counts.requests), "totalresponses": str(counts.responses),
                 "state": row.get("curstate", "DOWN")}
        if resource == "lbvserver":
            state, up, total = live.lb_state(part.name, row["name"]) or ("DOWN", 0, 0)
            if row.get("curstate") == "OUT OF SERVICE":
                state = "OUT OF SERVICE"
            entry.update(state=state, vslbhealth=str(up * 100 // total if total else 0),
                         actsvcs=str(up), inactsvcs=str(total - up), **_spillover_fields(row, counts))
        else:
            entry["hits"] = {k: str(v) for k, v in sorted(counts.hits.items())}
        out.append(entry)
    return out


def _group_rows(store: ConfigStore, live: Traffic, part: Partition, name: str | None) -> list[dict]:
    out = []
    for row in store.get(part, GROUP, name, {}):
        group = row["servicegroupname"]
        members = [{"servicegroupname": group, "servername": key[2], "ip": m.ip, "port": key[3],
                    "svrstate": m.state, "totalrequests": str(m.requests),
                    "curclntconnections": str(m.active), "lastresponse": m.lastresponse}
                   for key, m in live.group_members(part.name, group) or ()]
        out.append({"servicegroupname": group, "state": row.get("state", "ENABLED"),
                    "servicetype": row["servicetype"],
                    "servicegroupeffectivestate": row.get("servicegroupeffectivestate"),
                    "servicegroupmember": members})
    return out


def member_rows(store: ConfigStore, part: Partition, name: str | None,
                args: dict[str, str]) -> list[dict]:
    """``stat/servicegroupmember``: the members of one group (``servicegroupname``, as an arg
    or the name in the path), narrowed to one by ``servername`` or ``ip`` and ``port``."""
    for key in args:
        if key.lower() not in MEMBER_ARGS:
            raise NitroFault(E.INVALID_ARGUMENT, key)
    args = {k.lower(): v for k, v in args.items()}
    group = name or args.get("servicegroupname")
    if group is None:
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "servicegroupname")
    if "servername" in args and "ip" in args:
        raise NitroFault(E.BOTH_SPECIFIED, "ip, servername")
    who = args.get("servername") or args.get("ip")
    port = member_value(MEMBER.attr("port"), args["port"], "port") if "port" in args else None
    if (who is None) != (port is None):
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "port" if port is None else "servername")
    if store.behaviour(GROUP).lookup(store, part, GROUP, group, {}) is None:
        raise NitroFault(GROUP.missing, f"servicegroupname, {group}", status=404)
    live = store.observed
    servers = part.table("server")
    grow = part.table("servicegroup").get((group,), {})
    out = []
    for row in part.table(MEMBER.name).values():
        if row["servicegroupname"] != group:
            continue
        ip = servers.get((row["servername"],), {}).get("ipaddress")
        if who is not None and (who not in (row["servername"], ip) or row["port"] != port):
            continue
        seen = live.member(part.name, group, row["servername"], row["port"])
        if seen is not None:
            state, active, requests = seen.state, seen.active, seen.requests
            ip = ip or seen.ip  # a domain-based server's resolved address
        else:  # no traffic: the configured state
            enabled = row.get("state", "ENABLED") == "ENABLED"
            state, active, requests = ("UP" if enabled else "OUT OF SERVICE"), 0, 0
        out.append({
            "servicegroupname": group, "primaryipaddress": ip or "0.0.0.0",
            "primaryport": row["port"], "servicetype": grow.get("servicetype", "HTTP"),
            "state": state, "totalrequests": str(requests), "totalresponses": str(requests - active),
            "curclntconnections": str(active), "cursrvrconnections": str(active), "surgecount": "0",
        })
    if who is not None and not out:
        raise NitroFault(MEMBER.missing, f"servername, {who}, port, {port}: not a member of {group}",
                         status=404)
    return out


def group_row(name: str, row: dict, counts: GroupCounts) -> dict:
    """``stat cachecontentgroup`` of one group: memory in KB (maxmemory is the group's
    memlimit). The lab answers 304s never, and keeps no marker objects."""
    return {"name": name, "groupnon304hit": str(counts.hits), "group304hit": "0",
            "totcell": str(counts.cells), "totmarkercell": "0", "timesflushed": str(counts.flushed),
            "totmemory": str(math.ceil(counts.memory / 1024)),
            "maxmemory": str(value("cachecontentgroup", row, "memlimit") * 1024)}


def cache_row(counts: CacheCounts) -> dict:
    """``stat cache`` of one partition."""
    return {"cachetothits": str(counts.hits), "cachetotmisses": str(counts.misses),
            "cachetotrequests": str(counts.hits + counts.misses),
            "cachetotnon304hits": str(counts.hits), "cachetot304hits": "0",
            "cachetotstoreablemisses": str(counts.storable),
            "cachetotnonstoreablemisses": str(counts.non_storable),
            "cachenumcached": str(counts.cached),
            "cacheutilizedmemorykb": str(math.ceil(counts.memory / 1024)),
            "cachemaxmemorykb": str(LAB_MEMORY // 1024)}


def _not_a_stat(what: str) -> NitroFault:
    return NitroFault(E.INVALID_OBJECT_NAME, f"stat/{what}", status=404)
