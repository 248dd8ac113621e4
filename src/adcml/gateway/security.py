"""The secure inference path — the ``auth``, ``rate_limit`` and ``audit`` sections and each
pool's ``require_groups`` and ``backend_token`` — compiled, and gathered back.

Objects (``<gw>`` is the gateway name):

- ``<gw>.auth`` authentication vserver (non-addressable) with policy ``<gw>.oidc`` → OAuth
  action ``<gw>.oidc`` validating JWTs against the IdP's JWKS, issuer and audience; the CS
  vserver answers 401 itself (``authn401 ON``) and delegates to it (``authnvsname``). The
  action's ``attributes`` list the kept claims, the groups claim first.
- ``<gw>.deny`` responder action (403) and per pool ``<gw>.<pool>.authz`` responder policy on
  the pool's LB vserver: callers lacking every required group are refused.
- per pool with a backend token: rewrite policies ``<gw>.<pool>.noauth`` (drop the client's
  Authorization) and ``<gw>.<pool>.cred`` (insert ``Authorization: Bearer <token>``, the token
  in literals of at most 255 bytes joined with ``+``) on the pool's LB vserver. The token is a
  Secret: masked in plans, compared by value; a gathered spec shows the marker that keeps it.
- ``<gw>.rl`` stream selector + limit identifier, ``<gw>.toomany`` (429) responder action and
  ``<gw>.rl`` responder policy on the CS vserver.
- ``<gw>.audit`` audit message action, the ``logaction`` of every access-decision policy.
- with ``auth.identity_headers``, on the CS vserver (so for every pool): rewrite policies
  ``<gw>.id.nouser`` and ``<gw>.id.nogroups`` (drop the client's copies of the two headers),
  then ``<gw>.id.user`` and ``<gw>.id.groups`` (insert ``HTTP.REQ.USER.NAME`` and the groups
  claim). Bound with ``NEXT``, so the pools' own rewrite policies still run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from adcml.engine import KEEP_LIVE
from adcml.gateway.names import Add, GatherError, LiveGateway, cs_name, pool_object_name
from adcml.gateway.spec import MAX_LITERAL, SECRET_KEPT, GatewaySpec, Pool, is_kept
from adcml.policy.nodes import quote
from adcml.secret import Secret

AUTH_PRIORITY = 100
RATE_LIMIT_PRIORITY = 10  # before anything else on the CS vserver
AUTHZ_PRIORITY = 100
NOAUTH_PRIORITY, CRED_PRIORITY = 100, 110
IDENTITY_PRIORITY = 100  # on the CS vserver: the deletes, then the inserts
FORBIDDEN = ('"HTTP/1.1 403 Forbidden\\r\\nContent-Type: application/json\\r\\n\\r\\n'
             '{\\"error\\":\\"forbidden\\"}"')
TOO_MANY = ('"HTTP/1.1 429 Too Many Requests\\r\\nContent-Type: application/json\\r\\n\\r\\n'
            '{\\"error\\":\\"rate limited\\"}"')
AUDIT_LINE = ('"adcml gateway=" + {gw} + " client=" + CLIENT.IP.SRC + " user=" + HTTP.REQ.USER.NAME'
              ' + " " + HTTP.REQ.METHOD + " " + HTTP.REQ.URL.PATH + " decision=" + {decision}')
RATE_KEYS = {"client_ip": "CLIENT.IP.SRC", "user": "HTTP.REQ.USER.NAME"}
_GROUP = re.compile(r'HTTP\.REQ\.USER\.ATTRIBUTE\("([^"\\]*)"\)\.EQ\("([^"\\]*)"\)')


def frontends(spec: GatewaySpec) -> list[str]:
    """The gateway's CS vservers: the API frontend, and the browsers' with ``login``."""
    return [cs_name(spec.name)] + ([f"{spec.name}.web"] if spec.login is not None else [])


def vserver_auth(spec: GatewaySpec) -> dict[str, Any]:
    """Attributes the CS vserver needs to require a bearer token."""
    if spec.auth is None:
        return {}
    return {"authentication": "ON", "authn401": "ON", "authnvsname": f"{spec.name}.auth"}


def compile_security(add: Add, spec: GatewaySpec, cs: str) -> None:
    gw = spec.name
    audit = f"{gw}.audit" if spec.audit and spec.audit.enabled else None
    if audit:
        add("auditmessageaction", "audit", name=audit, loglevel="INFORMATIONAL",
            stringbuilderexpr=AUDIT_LINE.format(gw=quote(gw), decision='"refused"'))
    if spec.auth is not None:
        _authentication(add, spec)
        if spec.auth.identity_headers is not None:
            _identity(add, spec, cs)
    if any(p.require_groups for p in spec.pools):
        add("responderaction", "pools", name=f"{gw}.deny", type="respondwith", target=FORBIDDEN)
    for i, pool in enumerate(spec.pools):
        _pool_policies(add, spec, pool, f"pools[{i}]", audit)
    if spec.rate_limit is not None:
        _rate_limit(add, spec, cs, audit)


def _authentication(add: Add, spec: GatewaySpec) -> None:
    gw, oidc = spec.name, spec.auth.oidc
    at = "auth.oidc"
    add("authenticationvserver", "auth", name=f"{gw}.auth", servicetype="SSL", ipv46="0.0.0.0", port=0,
        authentication="ON")
    secret = oidc.client_secret
    add("authenticationoauthaction",
        {"": at, "certendpoint": f"{at}.jwks_url", "issuer": f"{at}.issuer",
         "audience": f"{at}.audience", "tokenendpoint": f"{at}.token_endpoint",
         "clientid": f"{at}.client_id", "clientsecret": f"{at}.client_secret",
         "skewtime": f"{at}.skew_minutes", "refreshinterval": f"{at}.refresh_minutes",
         "allowedalgorithms": f"{at}.algorithms", "attributes": f"{at}.claims"},
        name=f"{gw}.oidc", oauthtype="GENERIC", certendpoint=oidc.jwks_url, issuer=oidc.issuer,
        audience=oidc.audience, tokenendpoint=oidc.token_endpoint, clientid=oidc.client_id,
        skewtime=oidc.skew_minutes, refreshinterval=oidc.refresh_minutes,
        allowedalgorithms=list(oidc.algorithms), attributes=",".join(oidc.claims),
        clientsecret=secret_value(secret))
    add("authenticationpolicy", "auth", name=f"{gw}.oidc", rule="true", action=f"{gw}.oidc")
    add("authenticationvserver_authenticationpolicy_binding", "auth", name=f"{gw}.auth",
        policy=f"{gw}.oidc", priority=AUTH_PRIORITY)


def _identity(add: Add, spec: GatewaySpec, cs: str) -> None:
    gw, headers, at = spec.name, spec.auth.identity_headers, "auth.identity_headers"
    claim = quote(spec.auth.oidc.groups_claim)
    steps = (("nouser", "delete_http_header", headers.user, None),
             ("nogroups", "delete_http_header", headers.groups, None),
             ("user", "insert_http_header", headers.user, "HTTP.REQ.USER.NAME"),
             ("groups", "insert_http_header", headers.groups, f"HTTP.REQ.USER.ATTRIBUTE({claim})"))
    for offset, (what, kind, header, value) in enumerate(steps):
        name = f"{gw}.id.{what}"
        add("rewriteaction", f"{at}.{'user' if 'user' in what else 'groups'}", name=name, type=kind,
            target=header, stringbuilderexpr=value)
        add("rewritepolicy", at, name=name, rule="true", action=name)
        for frontend in frontends(spec):
            add("csvserver_rewritepolicy_binding", at, name=frontend, policyname=name,
                priority=IDENTITY_PRIORITY + offset, gotopriorityexpression="NEXT", bindpoint="REQUEST")


def gather_identity(live: LiveGateway) -> dict[str, Any] | None:
    """``auth.identity_headers`` (the header names), or None when not forwarded."""
    user, groups = (live.obj("rewriteaction", f"{live.name}.id.{what}") for what in ("user", "groups"))
    if user is None or groups is None:
        return None
    return {"user": user.get("target"), "groups": groups.get("target")}


def secret_value(value, form: Callable[[str], str] = str) -> Any:
    """A spec secret as a desired value (``form`` of the clear text, as the appliance holds
    it): the marker keeps the live value."""
    if value is None:
        return None
    return KEEP_LIVE if is_kept(value) else Secret(form(value.get_secret_value()))


def _pool_policies(add: Add, spec: GatewaySpec, pool: Pool, at: str, audit: str | None) -> None:
    gw, lb = spec.name, pool_object_name(spec.name, pool.name)
    if pool.require_groups:
        claim = quote(spec.auth.oidc.groups_claim)
        allowed = " || ".join(f"HTTP.REQ.USER.ATTRIBUTE({claim}).EQ({quote(g)})"
                              for g in pool.require_groups)
        add("responderpolicy", f"{at}.require_groups", name=f"{lb}.authz", rule=f"!({allowed})",
            action=f"{gw}.deny", logaction=audit)
        add("lbvserver_responderpolicy_binding", f"{at}.require_groups", name=lb,
            policyname=f"{lb}.authz", priority=AUTHZ_PRIORITY, gotopriorityexpression="END",
            bindpoint="REQUEST")
    if pool.backend_token is not None:
        at = f"{at}.backend_token"
        add("rewriteaction", at, name=f"{lb}.noauth", type="delete_http_header", target="Authorization")
        add("rewriteaction", at, name=f"{lb}.cred", type="insert_http_header", target="Authorization",
            stringbuilderexpr=secret_value(pool.backend_token, bearer_expression))
        add("rewritepolicy", at, name=f"{lb}.noauth", rule="true", action=f"{lb}.noauth")
        add("rewritepolicy", at, name=f"{lb}.cred", rule="true", action=f"{lb}.cred", logaction=None)
        add("lbvserver_rewritepolicy_binding", at, name=lb, policyname=f"{lb}.noauth",
            priority=NOAUTH_PRIORITY, gotopriorityexpression="NEXT", bindpoint="REQUEST")
        add("lbvserver_rewritepolicy_binding", at, name=lb, policyname=f"{lb}.cred",
            priority=CRED_PRIORITY, gotopriorityexpression="END", bindpoint="REQUEST")


def bearer_expression(token: str) -> str:
    """``"Bearer <token>"`` as a string builder expression: literals of at most 255 bytes (an
    appliance's limit for one literal) joined with ``+``, so long tokens (JWTs) fit."""
    text = f"Bearer {token}"
    return " + ".join(quote(text[i:i + MAX_LITERAL]) for i in range(0, len(text), MAX_LITERAL))


def _rate_limit(add: Add, spec: GatewaySpec, cs: str, audit: str | None) -> None:
    gw, limit = spec.name, spec.rate_limit
    add("streamselector", "rate_limit.key", name=f"{gw}.rl", rule=[RATE_KEYS[limit.key]])
    add("nslimitidentifier", {"": "rate_limit", "threshold": "rate_limit.requests",
                              "timeslice": "rate_limit.per_ms"},
        limitidentifier=f"{gw}.rl", threshold=limit.requests, timeslice=limit.per_ms,
        mode="REQUEST_RATE", limittype="SMOOTH" if limit.smooth else "BURSTY", selectorname=f"{gw}.rl")
    add("responderaction", "rate_limit", name=f"{gw}.toomany", type="respondwith", target=TOO_MANY)
    add("responderpolicy", "rate_limit", name=f"{gw}.rl", rule=f"SYS.CHECK_LIMIT({quote(gw + '.rl')})",
        action=f"{gw}.toomany", logaction=audit)
    for frontend in frontends(spec):
        add("csvserver_responderpolicy_binding", "rate_limit", name=frontend, policyname=f"{gw}.rl",
            priority=RATE_LIMIT_PRIORITY, gotopriorityexpression="END", bindpoint="REQUEST")


def gather_auth(live: LiveGateway) -> dict[str, Any] | None:
    """The ``auth`` section; the client secret, which an appliance never returns, as the
    marker that keeps the live one."""
    action = live.obj("authenticationoauthaction", f"{live.name}.oidc")
    if action is None:
        return None
    claims = [c for c in str(action.get("attributes") or "").split(",") if c]

    def value(attr: str, default: Any = None) -> Any:
        return live.value("authenticationoauthaction", action, attr, default)

    return {"oidc": {
        "issuer": value("issuer"), "jwks_url": value("certendpoint"),
        "token_endpoint": value("tokenendpoint"), "audience": value("audience"),
        "algorithms": value("allowedalgorithms"), "skew_minutes": value("skewtime"),
        "claims": claims, "groups_claim": claims[0] if claims else "groups",
        "client_id": value("clientid"), "client_secret": SECRET_KEPT,
        "refresh_minutes": value("refreshinterval"),
    }, "identity_headers": gather_identity(live)}


def gather_pool_access(live: LiveGateway, pool: str) -> dict[str, Any]:
    """A pool's ``require_groups`` and ``backend_token`` (as the marker that keeps it)."""
    lb = pool_object_name(live.name, pool)
    out: dict[str, Any] = {}
    authz = live.obj("responderpolicy", f"{lb}.authz")
    if authz is not None:
        out["require_groups"] = [group for _, group in _GROUP.findall(str(authz.get("rule", "")))]
    if live.obj("rewriteaction", f"{lb}.cred") is not None:
        out["backend_token"] = SECRET_KEPT
    return out


def gather_rate_limit(live: LiveGateway) -> dict[str, Any] | None:
    limit = live.obj("nslimitidentifier", f"{live.name}.rl")
    selector = live.obj("streamselector", f"{live.name}.rl")
    if limit is None or selector is None:
        return None
    rule = live.value("streamselector", selector, "rule", [])
    return {"requests": live.value("nslimitidentifier", limit, "threshold"),
            "per_ms": live.value("nslimitidentifier", limit, "timeslice"),
            "key": _rate_key(selector, rule),
            "smooth": live.value("nslimitidentifier", limit, "limittype") == "SMOOTH"}


def _rate_key(selector: dict[str, Any], rule: list[str]) -> str:
    keys = {expression: key for key, expression in RATE_KEYS.items()}
    if len(rule) != 1 or rule[0] not in keys:
        raise GatherError(f"streamselector {selector.get('name')}: its rule is not one adcml writes "
                          f"(changed by hand?): {rule}")
    return keys[rule[0]]


def gather_audit(live: LiveGateway) -> dict[str, Any] | None:
    return {"enabled": True} if live.obj("auditmessageaction", f"{live.name}.audit") else None
