"""What the data plane tells the control plane: monitored states in NITRO GETs, ``stat`` rows,
and the passphrases of encrypted keys it must remember.

When the data plane runs, an LB vserver's ``curstate`` is what its monitors say (UP when a
member is UP), a member binding's ``svrstate`` is the member's monitored state, and a service
group's ``servicegroupeffectivestate`` follows its members. Without a running data plane, the
config-derived states of ``adcml.lab.behaviours`` stay. This is done by wrapping the store's
behaviours for those resources (delegating everything else to them), not by changing them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.resources import ErrorCode

if TYPE_CHECKING:
    from adcml.lab.emulators.adc.dataplane.engine import DataPlane


class _Wrapped:
    """A behaviour that delegates to ``inner`` except for what a subclass overrides."""

    def __init__(self, inner: Any, plane: DataPlane):
        self._inner = inner
        self._plane = plane

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class LiveVserver(_Wrapped):
    def computed(self, store, part, res, row):
        out = self._inner.computed(store, part, res, row)
        plane = self._plane
        if plane.running and res.name == "lbvserver":
            state, up, total = plane.lb_state(part.name, row["name"])
            if row.get("state", "ENABLED") == "DISABLED":
                state = "OUT OF SERVICE"
            out.update(curstate=state, effectivestate=state, status=1 if state == "UP" else 0,
                       health=str(up * 100 // total if total else 0))
        return out


class LiveGroup(_Wrapped):
    def computed(self, store, part, res, row):
        out = self._inner.computed(store, part, res, row)
        plane = self._plane
        if plane.running and row.get("state", "ENABLED") == "ENABLED":
            members = [m for k, m in plane.members.items()
                       if k[0] == part.name and k[1] == row["servicegroupname"]]
            states = {m.state for m in members}
            if not members or states == {"UP"}:
                effective = "UP" if members else "DOWN"
            elif "UP" in states:
                effective = "PARTIAL-UP"
            else:
                effective = "DOWN"
            out.update(servicegroupeffectivestate=effective,
                       numofconnections=sum(m.active for m in members))
        return out


class LiveMember(_Wrapped):
    def computed(self, store, part, res, row):
        out = self._inner.computed(store, part, res, row)
        plane = self._plane
        if plane.running:
            member = plane.member(part.name, row["servicegroupname"], row["servername"], row["port"])
            if member is not None:
                out["svrstate"] = member.state
        return out


class KeepPassphrase(_Wrapped):
    """sslcertkey: remember ``passplain`` (in memory only) before the store drops it."""

    def prepare_add(self, store, part, res, obj):
        self._inner.prepare_add(store, part, res, obj)
        self._remember(part, obj["certkey"], obj.get("passplain"))

    def update_files(self, store, part, res, body):
        self._inner.update_files(store, part, res, body)
        self._remember(part, body["certkey"], body.get("passplain"))

    def _remember(self, part, certkey: str, passphrase: str | None) -> None:
        key = (part.name, certkey)
        if passphrase:
            self._plane.passphrases[key] = passphrase
        else:
            self._plane.passphrases.pop(key, None)


WRAPPERS = {
    "lbvserver": LiveVserver,
    "servicegroup": LiveGroup,
    "servicegroup_servicegroupmember_binding": LiveMember,
    "sslcertkey": KeepPassphrase,
}


def install(plane: DataPlane) -> None:
    """Wrap the store's behaviours of the resources the data plane reports on."""
    behaviours = plane.store.behaviours
    for name, wrapper in WRAPPERS.items():
        inner = behaviours.get(name)
        if inner is not None and not isinstance(inner, _Wrapped):
            behaviours[name] = wrapper(inner, plane)


# --- stat ---------------------------------------------------------------------------------------
def stat_rows(plane: DataPlane, store, part, resource: str, name: str | None) -> list[dict]:
    """``stat/lbvserver``, ``stat/csvserver``, ``stat/servicegroup`` from live state.

    Numbers are strings, as an appliance returns most numbers."""
    from adcml.resources import SCHEMA

    res = SCHEMA[resource]
    rows = store.get(part, res, name, {})
    out = []
    for row in rows:
        if resource in ("lbvserver", "csvserver"):
            vs = plane.vstats(resource, part.name, row["name"])
            entry = {"name": row["name"], "type": row["servicetype"],
                     "primaryipaddress": row.get("ipv46", "0.0.0.0"),
                     "primaryport": row.get("port", 0),
                     "totalrequests": str(vs.requests), "totalresponses": str(vs.responses),
                     "state": row.get("curstate", "DOWN")}
            if resource == "lbvserver":
                state, up, total = plane.lb_state(part.name, row["name"])
                if row.get("curstate") == "OUT OF SERVICE":
                    state = "OUT OF SERVICE"
                entry.update(state=state, vslbhealth=str(up * 100 // total if total else 0),
                             actsvcs=str(up), inactsvcs=str(total - up))
            else:
                entry["hits"] = {k: str(v) for k, v in sorted(vs.hits.items())}
            out.append(entry)
        else:
            gname = row["servicegroupname"]
            members = []
            for key, m in sorted(plane.members.items()):
                if key[0] != part.name or key[1] != gname:
                    continue
                members.append({
                    "servicegroupname": gname, "servername": key[2], "ip": m.spec.ip,
                    "port": key[3], "svrstate": m.state, "totalrequests": str(m.requests),
                    "curclntconnections": str(m.active), "lastresponse": m.lastresponse,
                })
            out.append({"servicegroupname": gname, "state": row.get("state", "ENABLED"),
                        "servicetype": row["servicetype"],
                        "servicegroupeffectivestate": row.get("servicegroupeffectivestate"),
                        "servicegroupmember": members})
    return out


def not_a_stat(resource: str) -> NitroFault:
    return NitroFault(ErrorCode.INVALID_OBJECT_NAME, f"stat/{resource}", status=404)
