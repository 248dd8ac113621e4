"""Gateway spec → the NITRO objects that implement it, each marked as owned by the gateway.

Names: ``<gateway>.cs`` for the content-switching vserver (the VIP), ``<gateway>.<pool>`` for
each pool's lbvserver, service group, monitor, CS action and CS policy (and content group and
cache policy, ``adcml.gateway.caching``), ``<gateway>.tls`` for
the SSL profile, ``<gateway>.cert`` for an uploaded certificate. Objects that have a
``comment`` carry ``adcml:<gateway>`` in it; ownership of the others follows from the
``<gateway>.`` prefix, which gateway names (no dots) cannot collide on.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from adcml.engine import Desired
from adcml.gateway.caching import compile_cache
from adcml.gateway.security import compile_security, frontend_auth
from adcml.gateway.spec import GatewaySpec, Pool
from adcml.policy import parse_rule
from adcml.policy.nodes import quote
from adcml.resources import SCHEMA
from adcml.secret import Secret

SSL_DIR = "/nsconfig/ssl"  # as an appliance reports it: no trailing slash
# CS policy priorities come from each route's specificity, so adding a route does not renumber
# the others (a binding's priority cannot change in place: renumbering means unbind + bind,
# and a route would briefly fall through to the default pool).
PATH_WEIGHT = 1024  # room for 512 routes of the same specificity, with and without a host
MAX_PATH = 4095

# Every resource a gateway may own: what the planner reads.
RESOURCES = (
    "nsfeature", "csvserver", "lbvserver", "servicegroup", "lbmonitor", "csaction", "cspolicy",
    "sslprofile", "sslvserver", "sslcertkey", "systemfile", "servicegroup_servicegroupmember_binding",
    "servicegroup_lbmonitor_binding", "lbvserver_servicegroup_binding",
    "csvserver_cspolicy_binding", "csvserver_lbvserver_binding", "sslvserver_sslcertkey_binding",
    "authenticationvserver", "authenticationoauthaction", "authenticationpolicy",
    "authenticationvserver_authenticationpolicy_binding", "responderaction", "responderpolicy",
    "rewriteaction", "rewritepolicy", "lbvserver_responderpolicy_binding",
    "lbvserver_rewritepolicy_binding", "csvserver_responderpolicy_binding", "streamselector",
    "nslimitidentifier", "auditmessageaction", "cachecontentgroup", "cachepolicy",
    "lbvserver_cachepolicy_binding",
)


def mark(gateway: str) -> str:
    return f"adcml:{gateway}"


def owner(gateway: str):
    """The ownership predicate for ``gateway``: (resource, live attributes) → owned?"""
    prefix, comment = f"{gateway}.", mark(gateway)

    def owned(resource: str, row: dict[str, Any]) -> bool:
        res = SCHEMA[resource]
        name = str(row.get(res.key, ""))
        if not name.startswith(prefix):
            return False
        if res.is_binding or res.attr("comment") is None:
            return True
        return row.get("comment") == comment

    return owned


def compile_gateway(spec: GatewaySpec) -> list[Desired]:
    """The desired NITRO objects of ``spec``, in no particular order (the plan orders them)."""
    gw = spec.name
    cs = f"{gw}.cs"
    fe = spec.frontend
    out: list[Desired] = []

    def add(resource: str, **attrs: Any) -> None:
        if SCHEMA[resource].attr("comment") is not None:
            attrs["comment"] = mark(gw)  # the ownership mark, wherever the resource has room
        out.append(Desired(resource, {k: v for k, v in attrs.items() if v is not None}))

    https = fe.protocol == "https"
    add("csvserver", name=cs, servicetype="SSL" if https else "HTTP", ipv46=fe.vip, port=fe.port,
        clttimeout=fe.client_timeout, **frontend_auth(spec))
    compile_security(add, spec, cs)
    if https:
        profile = fe.ssl_profile
        onoff = {True: "ENABLED", False: "DISABLED"}
        add("sslprofile", name=f"{gw}.tls", sslprofiletype="FrontEnd",
            tls1=onoff[profile.tls1], tls11=onoff[profile.tls11], tls12=onoff[profile.tls12],
            tls13=onoff[profile.tls13], sessreuse=onoff[profile.session_reuse],
            sesstimeout=profile.session_timeout)
        add("sslvserver", vservername=cs, sslprofile=f"{gw}.tls")
        certkey = fe.tls.certkey or _certificate(out, gw, fe.tls)
        add("sslvserver_sslcertkey_binding", vservername=cs, certkeyname=certkey)
    priorities = route_priorities(spec.pools)
    for pool in spec.pools:
        _pool(add, gw, cs, pool, priorities.get(pool.name))
    compile_cache(add, spec)
    if spec.default_pool:
        add("csvserver_lbvserver_binding", name=cs, lbvserver=pool_object_name(gw, spec.default_pool))
    features = sorted({SCHEMA[d.resource].feature for d in out} - {None})
    add("nsfeature", feature=features)  # objects of a disabled feature carry no traffic
    return out


def _certificate(out: list[Desired], gw: str, tls) -> str:
    """Upload cert and key under content-addressed names; a new certificate gets new files,
    and the cert-key is switched to them in place (bindings stay)."""
    cert, key = tls.cert_file.read_bytes(), tls.key_file.read_bytes()
    digest = hashlib.sha256(cert + key).hexdigest()[:10]
    cert_name, key_name = f"{gw}.cert.{digest}.crt", f"{gw}.cert.{digest}.key"
    out.append(Desired("systemfile", {"filename": cert_name, "filelocation": SSL_DIR,
                                      "filecontent": base64.b64encode(cert).decode(),
                                      "fileencoding": "BASE64"}))
    out.append(Desired("systemfile", {"filename": key_name, "filelocation": SSL_DIR,
                                      "filecontent": Secret(base64.b64encode(key).decode()),
                                      "fileencoding": "BASE64"}))
    attrs: dict[str, Any] = {"certkey": f"{gw}.cert", "cert": cert_name, "key": key_name}
    if tls.key_passphrase is not None:
        attrs["passplain"] = Secret(tls.key_passphrase.get_secret_value())
    out.append(Desired("sslcertkey", attrs))
    return f"{gw}.cert"


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
        terms.append(f"HTTP.REQ.URL.PATH.STARTSWITH({quote(pool.match.path_prefix)})")
    if pool.match.host:
        terms.append(f"HTTP.REQ.HOSTNAME.SET_TEXT_MODE(IGNORECASE).EQ({quote(pool.match.host.lower())})")
    rule = " && ".join(terms)
    parse_rule(rule)  # every expression the engine generates is checked before any write
    return rule


def pool_object_name(gateway: str, pool: str) -> str:
    """The name of a pool's lbvserver, service group, monitor, CS action and CS policy."""
    return f"{gateway}.{pool}"


def _pool(add, gw: str, cs: str, pool: Pool, priority: int | None) -> None:
    name = pool_object_name(gw, pool.name)
    add("lbvserver", name=name, servicetype="HTTP", ipv46="0.0.0.0", port=0,
        lbmethod=pool.lb_method)
    add("servicegroup", servicegroupname=name, servicetype="HTTP", maxclient=pool.max_clients,
        sp="ON" if pool.surge_protection else "OFF")
    health = pool.health
    interval, units = _interval(health.interval)
    add("lbmonitor", monitorname=name, type="HTTP", httprequest=f"GET {health.path}",
        respcode=[str(code) for code in health.expect_status], interval=interval, units3=units,
        resptimeout=health.timeout, retries=health.retries)
    add("servicegroup_lbmonitor_binding", servicegroupname=name, monitor_name=name)
    for member in pool.members:
        add("servicegroup_servicegroupmember_binding", servicegroupname=name, ip=member.host,
            port=member.port, weight=member.weight)
    add("lbvserver_servicegroup_binding", name=name, servicegroupname=name)
    if pool.match is not None:
        add("csaction", name=name, targetlbvserver=name)
        add("cspolicy", policyname=name, rule=rule_for(pool), action=name)
        add("csvserver_cspolicy_binding", name=cs, policyname=name, priority=priority)


def _interval(seconds: int) -> tuple[int, str]:
    """An appliance stores whole minutes as minutes (60 s reads back as 1 MIN)."""
    return (seconds // 60, "MIN") if seconds >= 60 and seconds % 60 == 0 else (seconds, "SEC")
