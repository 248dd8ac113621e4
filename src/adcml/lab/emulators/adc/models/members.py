"""One service group member taken out of (and put back into) service, and its statistics.

An appliance disables a single member with the service group's own action, naming the member:

    POST /nitro/v1/config/servicegroup?action=disable
    {"servicegroup": {"servicegroupname": "llm.embed", "servername": "10.0.1.21", "port": 8000,
                      "graceful": "YES", "delay": 30}}

(``enable`` takes the same three keys). The member binding's ``state`` becomes DISABLED: no new
request goes to it, and requests already sent to it finish. Its statistics come from
``GET /nitro/v1/stat/servicegroupmember?args=servicegroupname:G,servername:S,port:P``, whose
``curclntconnections`` says how many are still in flight; ``state`` reads GOING OUT OF SERVICE
until they are done, then OUT OF SERVICE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.resources import SCHEMA, ErrorCode
from adcml.resources.values import BadValue, canonical

if TYPE_CHECKING:
    from adcml.lab.emulators.adc.dataplane.engine import DataPlane
    from adcml.lab.emulators.adc.models.store import ConfigStore

E = ErrorCode
GROUP = SCHEMA["servicegroup"]
MEMBER = SCHEMA["servicegroup_servicegroupmember_binding"]
# What the action accepts besides the group's name (a real appliance's servicegroup_disable).
ACTION_KEYS = {"enable": {"servername", "port"}, "disable": {"servername", "port", "delay", "graceful"}}


def names_member(payload: Any) -> bool:
    """Whether an enable/disable body on ``servicegroup`` names one member (not the group)."""
    return isinstance(payload, dict) and ("servername" in payload or "port" in payload)


def check_drain_options(payload: dict) -> None:
    """``delay`` (seconds, a number ≥ 0) and ``graceful`` (YES|NO), as the appliance checks them."""
    delay = payload.get("delay")
    if delay is not None:
        try:
            ok = float(delay) >= 0
        except (TypeError, ValueError):
            ok = False
        if not ok or isinstance(delay, bool):
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"delay, {delay}: expected seconds, at least 0")
    graceful = payload.get("graceful")
    if graceful is not None and (not isinstance(graceful, str) or graceful.upper() not in ("YES", "NO")):
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"graceful, {graceful}: expected YES or NO")


def set_member_state(store: ConfigStore, part, action: str, payload: dict) -> None:
    """``servicegroup?action=enable|disable`` naming ``servername`` and ``port``."""
    allowed = {GROUP.key} | ACTION_KEYS[action]
    for key in payload:
        if key not in allowed:
            raise NitroFault(E.INVALID_ARGUMENT, key)
    check_drain_options(payload)
    group = _value(GROUP.attr(GROUP.key), payload.get(GROUP.key), GROUP.key)
    server = _value(MEMBER.attr("servername"), payload.get("servername"), "servername")
    port = _value(MEMBER.attr("port"), payload.get("port"), "port")
    if store.behaviour(GROUP).lookup(store, part, GROUP, group, {}) is None:
        raise NitroFault(GROUP.missing, f"servicegroupname, {group}", status=404)
    row = part.table(MEMBER.name).get((group, server, port))
    if row is None:
        raise NitroFault(MEMBER.missing, f"servername, {server}, port, {port}: not a member of {group}",
                         status=404)
    row["state"] = action.upper() + "D"
    store.changed = True


def _value(attr, value: Any, name: str) -> Any:
    if value is None:
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, name)
    try:
        return canonical(attr, value)
    except BadValue as exc:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{name}, {value}: {exc}") from None


def member_stats(plane: DataPlane | None, store: ConfigStore, part, name: str | None,
                 args: dict[str, str]) -> list[dict]:
    """``stat/servicegroupmember``: the members of one group (``servicegroupname``, as an arg
    or the name in the path), narrowed to one by ``servername`` or ``ip`` and ``port``."""
    for key in args:
        if key.lower() not in ("servicegroupname", "servername", "ip", "port"):
            raise NitroFault(E.INVALID_ARGUMENT, key)
    args = {k.lower(): v for k, v in args.items()}
    group = name or args.get("servicegroupname")
    if group is None:
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "servicegroupname")
    if "servername" in args and "ip" in args:
        raise NitroFault(E.BOTH_SPECIFIED, "ip, servername")
    who = args.get("servername") or args.get("ip")
    port = _value(MEMBER.attr("port"), args["port"], "port") if "port" in args else None
    if (who is None) != (port is None):
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "port" if port is None else "servername")
    if store.behaviour(GROUP).lookup(store, part, GROUP, group, {}) is None:
        raise NitroFault(GROUP.missing, f"servicegroupname, {group}", status=404)
    servers = part.table("server")
    grow = part.table("servicegroup").get((group,), {})
    out = []
    for row in part.table(MEMBER.name).values():
        if row["servicegroupname"] != group:
            continue
        ip = servers.get((row["servername"],), {}).get("ipaddress")
        if who is not None and (who not in (row["servername"], ip) or row["port"] != port):
            continue
        live = plane.member(part.name, group, row["servername"], row["port"]) if (
            plane is not None and plane.running) else None
        if live is not None:
            state, active, requests = live.state, live.active, live.requests
        else:  # no data plane: the configured state, and no traffic
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
