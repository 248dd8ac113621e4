"""What particular resources do beyond the schema's generic rules.

The store handles every resource the same way; a Behaviour adds what one resource does
differently on an appliance: objects that exist implicitly (an SSL vserver's sslvserver),
implicit servers for members bound by IP, monitor units, singletons, and the states an
appliance monitors (from ``store.observed`` while traffic is carried, else from the config).
The security and policy resources' behaviours live in ``policies``, integrated caching's in
``caching``, files' and certificates' in ``certificates``; ``registry`` says which resource
has which.

Behaviours are handed the store (``ConfigStore``) they belong to; they do not import it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.partition import Partition, identity
from adcml.resources import SCHEMA, ErrorCode, Resource

E = ErrorCode
VERSION = "NetScaler NS14.1: Build 43.50.nc, Date: Oct 1 2026, 10:00:00   (64-bit) [adcml lab ADC]"
SSL_TYPES = {"SSL", "SSL_TCP", "SSL_BRIDGE"}


class Behaviour:
    """Default behaviour: a plain named object in its own table."""

    exists_code = E.ALREADY_EXISTS

    def seed(self, store, part: Partition) -> None:
        """Objects a fresh appliance already has."""

    def lookup(self, store, part, res: Resource, name: str, hints: dict) -> dict | None:
        return part.table(res.name).get((name,))

    def list_objects(self, store, part, res: Resource, args: dict) -> Iterator[dict]:
        return store.iter_objects(part, res)

    def implicit_objects(self, store, part) -> Iterator[dict]:
        return iter(())

    def prepare_add(self, store, part, res: Resource, obj: dict) -> None:
        """Check and complete ``obj`` before it is stored; raise NitroFault to refuse."""

    def insert(self, store, part, res: Resource, obj: dict) -> None:
        row = {k: v for k, v in obj.items() if not _write_only(res, k)}
        part.table(res.name)[identity(res, row)] = row

    def apply_update(self, store, part, res: Resource, row: dict, changes: dict) -> None:
        row.update({k: v for k, v in changes.items() if not _write_only(res, k)})

    def check_delete(self, store, part, res: Resource, row: dict, args: dict) -> None:
        """Refuse a removal (or unbind) the appliance would refuse, beyond references: by
        default, delete arguments (canonical values) that do not describe ``row``."""
        for key, value in args.items():
            if value != row.get(key, res.attr(key).default):
                raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{key}, {value}")

    def remove(self, store, part, res: Resource, row: dict) -> None:
        name = row[res.key]
        del part.table(res.name)[(name,)]
        store.remove_bindings_of(part, res.name, name)

    def renamed(self, store, part, res: Resource, old: str, new: str) -> None:
        """Follow-up of a rename (implicit objects named after the renamed one)."""

    def prepare_unbind(self, store, part, res: Resource, probe: dict) -> None:
        """Complete the identity of a binding named in DELETE args."""

    def computed(self, store, part, res: Resource, row: dict) -> dict:
        """Read-only attributes shown by GET."""
        return {}

    def render_singleton(self, store, part) -> dict:
        raise NitroFault(E.NOT_PERMITTED)

    def set_singleton(self, store, part, res: Resource, body: dict) -> None:
        """PUT on a singleton (without a name): its settings."""
        raise NitroFault(E.NOT_PERMITTED, f"{res.name} cannot be updated")

    def unset_singleton(self, store, part, res: Resource, body: dict) -> None:
        raise NitroFault(E.NOT_PERMITTED, f"{res.name} cannot be unset")


def _write_only(res: Resource, key: str) -> bool:
    attr = res.attr(key)
    return attr is not None and attr.write_only


class ImplicitSsl(Behaviour):
    """sslvserver / sslservicegroup: one exists for every SSL vserver / service group."""

    def __init__(self, resource: str, owners: tuple[str, ...]):
        self.resource = resource
        self.owners = owners

    def _owner(self, part, name: str) -> dict | None:
        for owner in self.owners:
            row = part.table(owner).get((name,))
            if row is not None and row.get("servicetype") in SSL_TYPES:
                return row
        return None

    def lookup(self, store, part, res, name, hints):
        if self._owner(part, name) is None:
            return None
        return part.table(res.name).setdefault((name,), {res.key: name})

    def implicit_objects(self, store, part):
        key = SCHEMA[self.resource].key
        for owner in self.owners:
            for row in list(part.table(owner).values()):
                if row.get("servicetype") in SSL_TYPES:
                    name = row[SCHEMA[owner].key]
                    yield part.table(self.resource).setdefault((name,), {key: name})


class Owner(Behaviour):
    """A vserver or service group; SSL ones carry an implicit SSL object and its bindings."""

    def __init__(self, implicit: str):
        self.implicit = implicit

    def remove(self, store, part, res, row):
        super().remove(store, part, res, row)
        name = row[res.key]
        part.table(self.implicit).pop((name,), None)
        store.remove_bindings_of(part, self.implicit, name)

    def renamed(self, store, part, res, old, new):
        table = part.table(self.implicit)
        if (old,) in table:
            implicit_res = SCHEMA[self.implicit]
            row = table.pop((old,))
            row[implicit_res.key] = new
            table[(new,)] = row
        for bres in SCHEMA.values():
            if bres.is_binding and bres.parent == self.implicit:
                btable = part.table(bres.name)
                for key in [k for k, r in btable.items() if r[bres.key] == old]:
                    row = btable.pop(key)
                    row[bres.key] = new
                    btable[(new, *key[1:])] = row


class Vserver(Owner):
    """An LB or CS vserver: UP when it has an enabled member (a CS vserver always), or as its
    monitors say while traffic is carried (an LB vserver, with its ``health``). An LB vserver
    held down by ``disableprimaryondown`` reads disabled until it is enabled again."""

    def computed(self, store, part, res, row):
        disabled = row.get("state", "ENABLED") == "DISABLED"
        monitored = store.observed.lb_state(part.name, row["name"]) if res.name == "lbvserver" else None
        if monitored is not None:
            state, up, total = monitored
            state = "OUT OF SERVICE" if disabled else state
            out = {"curstate": state, "effectivestate": state, "status": 1 if state == "UP" else 0,
                   "health": str(up * 100 // total if total else 0)}
            if store.observed.held_down(part.name, row["name"]):
                out["state"] = "DISABLED"
            return out
        if disabled:
            state = "OUT OF SERVICE"
        elif res.name == "csvserver" or self._has_members(part, row[res.key]):
            state = "UP"
        else:
            state = "DOWN"
        return {"curstate": state, "effectivestate": state, "status": 1 if state == "UP" else 0}

    @staticmethod
    def _has_members(part, name: str) -> bool:
        groups = {
            b["servicegroupname"] for b in part.table("lbvserver_servicegroup_binding").values()
            if b["name"] == name
        }
        return any(
            m["servicegroupname"] in groups and m.get("state", "ENABLED") == "ENABLED"
            for m in part.table("servicegroup_servicegroupmember_binding").values()
        )


class ServiceGroup(Owner):
    """A service group: its effective state follows its members' while traffic is carried."""

    def computed(self, store, part, res, row):
        enabled = row.get("state", "ENABLED") == "ENABLED"
        out = {
            "servicegroupeffectivestate": "UP" if enabled else "OUT OF SERVICE",
            "monstate": "ENABLED",
            "numofconnections": 0,
        }
        members = store.observed.group_members(part.name, row["servicegroupname"]) if enabled else None
        if members is not None:
            states = {m.state for _, m in members}
            if not members or states == {"UP"}:
                effective = "UP" if members else "DOWN"
            elif "UP" in states:
                effective = "PARTIAL-UP"
            else:
                effective = "DOWN"
            out.update(servicegroupeffectivestate=effective,
                       numofconnections=sum(m.active for _, m in members))
        return out


class Server(Behaviour):
    def prepare_add(self, store, part, res, obj):
        self._unique_ip(part, obj.get("ipaddress"), obj["name"])

    def apply_update(self, store, part, res, row, changes):
        self._unique_ip(part, changes.get("ipaddress"), row["name"])
        super().apply_update(store, part, res, row, changes)

    @staticmethod
    def _unique_ip(part, ip, name):
        if ip is None:
            return
        for other in part.table("server").values():
            if other.get("ipaddress") == ip and other["name"] != name:
                raise NitroFault(E.SERVER_IP_EXISTS, ip)


class Member(Behaviour):
    """Service group members: bound by IP they get an implicit server named after the IP."""

    def prepare_add(self, store, part, res, obj):
        ip = obj.pop("ip", None)
        if ip is None:
            return
        obj["servername"] = ip
        servers = part.table("server")
        if (ip,) not in servers:
            Server._unique_ip(part, ip, ip)
            servers[(ip,)] = {"name": ip, "ipaddress": ip}
            store.changed = True

    def prepare_unbind(self, store, part, res, probe):
        if probe.get("servername") is None and probe.get("ip") is not None:
            probe["servername"] = probe.pop("ip")

    def computed(self, store, part, res, row):
        server = part.table("server").get((row["servername"],), {})
        up = row.get("state", "ENABLED") == "ENABLED" and server.get("state", "ENABLED") == "ENABLED"
        out = {"svrstate": "UP" if up else "OUT OF SERVICE"}
        monitored = store.observed.member(part.name, row["servicegroupname"], row["servername"],
                                          row["port"])
        if monitored is not None:
            out["svrstate"] = monitored.state
        if server.get("ipaddress"):
            out["ip"] = server["ipaddress"]
        return out


class GroupBinding(Behaviour):
    """lbvserver_servicegroup_binding reports the group as servicename too."""

    def computed(self, store, part, res, row):
        return {"servicename": row["servicegroupname"]}


BUILTIN_MONITORS = {
    "ping-default": "PING", "tcp-default": "TCP", "ping": "PING", "tcp": "TCP", "http": "HTTP",
    "http-ecv": "HTTP-ECV", "tcp-ecv": "TCP-ECV",
}


class Monitor(Behaviour):
    def seed(self, store, part):
        for name, mtype in BUILTIN_MONITORS.items():
            part.table("lbmonitor")[(name,)] = {"monitorname": name, "type": mtype, "_builtin": True}

    def prepare_add(self, store, part, res, obj):
        _minutes(obj)

    def apply_update(self, store, part, res, row, changes):
        if row.get("_builtin"):
            raise NitroFault(E.NOT_PERMITTED, f"monitorname, {row['monitorname']}: built-in monitor")
        merged = {**row, **changes}
        _minutes(merged)
        row.update(merged)

    def check_delete(self, store, part, res, row, args):
        if "type" not in args:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "type")
        if row.get("_builtin"):
            raise NitroFault(E.NOT_PERMITTED, f"monitorname, {row['monitorname']}: built-in monitor")
        super().check_delete(store, part, res, row, args)


def _minutes(obj: dict) -> None:
    """An appliance stores a whole number of minutes given in seconds as minutes."""
    interval = obj.get("interval")
    if obj.get("units3", "SEC") == "SEC" and interval and interval >= 60 and interval % 60 == 0:
        obj["interval"], obj["units3"] = interval // 60, "MIN"


class NsConfig(Behaviour):
    def __init__(self):
        self.last_saved = "never"

    def render_singleton(self, store, part):
        return {
            "configchanged": store.changed,
            "lastconfigsavetime": self.last_saved,
            "systemtype": "Stand-alone",
        }


class NsVersion(Behaviour):
    def render_singleton(self, store, part):
        return {"version": VERSION, "mode": 1}


class NsFeature(Behaviour):
    def render_singleton(self, store, part):
        flags = SCHEMA["nsfeature"].attr("feature").choices
        out: dict[str, Any] = {f.lower(): f in store.features for f in flags}
        out["feature"] = sorted(store.features)
        return out


class NsPartition(Behaviour):
    def insert(self, store, part, res, obj):
        if part.name != "default":
            raise NitroFault(E.NOT_PERMITTED, "partitions are managed from the default partition")
        super().insert(store, part, res, obj)
        store.partitions[obj["partitionname"]] = Partition(obj["partitionname"])

    def remove(self, store, part, res, row):
        super().remove(store, part, res, row)
        store.partitions.pop(row["partitionname"], None)


def now() -> str:
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
