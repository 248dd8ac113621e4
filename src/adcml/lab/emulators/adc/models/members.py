"""One service group member taken out of (and put back into) service, and its statistics.

An appliance disables a single member with the service group's own action, naming the member:

    POST /nitro/v1/config/servicegroup?action=disable
    {"servicegroup": {"servicegroupname": "llm.embed", "servername": "10.0.1.21", "port": 8000,
                      "graceful": "YES", "delay": 30}}

(``enable`` takes the same three keys). The member binding's ``state`` becomes DISABLED: no new
request goes to it, and requests already sent to it finish. Its statistics
(``stats.member_rows``) come from
``GET /nitro/v1/stat/servicegroupmember?args=servicegroupname:G,servername:S,port:P``, whose
``curclntconnections`` says how many are still in flight; ``state`` reads GOING OUT OF SERVICE
until they are done, then OUT OF SERVICE.
"""

from __future__ import annotations

from typing import Any

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.partition import Partition
from adcml.lab.emulators.adc.models.store import ConfigStore
from adcml.resources import SCHEMA, ErrorCode
from adcml.resources.values import BadValue, canonical

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


def set_member_state(store: ConfigStore, part: Partition, action: str, payload: dict) -> None:
    """``servicegroup?action=enable|disable`` naming ``servername`` and ``port``."""
    allowed = {GROUP.key} | ACTION_KEYS[action]
    for key in payload:
        if key not in allowed:
            raise NitroFault(E.INVALID_ARGUMENT, key)
    check_drain_options(payload)
    group = member_value(GROUP.attr(GROUP.key), payload.get(GROUP.key), GROUP.key)
    server = member_value(MEMBER.attr("servername"), payload.get("servername"), "servername")
    port = member_value(MEMBER.attr("port"), payload.get("port"), "port")
    if store.behaviour(GROUP).lookup(store, part, GROUP, group, {}) is None:
        raise NitroFault(GROUP.missing, f"servicegroupname, {group}", status=404)
    row = part.table(MEMBER.name).get((group, server, port))
    if row is None:
        raise NitroFault(MEMBER.missing, f"servername, {server}, port, {port}: not a member of {group}",
                         status=404)
    row["state"] = action.upper() + "D"
    store.changed = True


def member_value(attr, value: Any, name: str) -> Any:
    """``value`` of request key ``name`` as a canonical value of ``attr`` (1095 / 1097)."""
    if value is None:
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, name)
    try:
        return canonical(attr, value)
    except BadValue as exc:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{name}, {value}: {exc}") from None
