"""The secure inference path, compiled: bearer-token authentication, group requirements,
backend credential injection, per-client rate limits and audit messages.

Objects (``<gw>`` is the gateway name):

- ``<gw>.auth`` authentication vserver (non-addressable) with policy ``<gw>.oidc`` → OAuth
  action ``<gw>.oidc`` validating JWTs against the IdP's JWKS, issuer and audience; the CS
  vserver answers 401 itself (``authn401 ON``) and delegates to it (``authnvsname``).
- ``<gw>.deny`` responder action (403) and per pool ``<gw>.<pool>.authz`` responder policy on
  the pool's LB vserver: callers lacking every required group are refused.
- per pool with a backend token: rewrite policies ``<gw>.<pool>.noauth`` (drop the client's
  Authorization) and ``<gw>.<pool>.cred`` (insert ``Authorization: Bearer <token>``) on the
  pool's LB vserver. The token is a Secret: masked in plans, compared by value.
- ``<gw>.rl`` stream selector + limit identifier, ``<gw>.toomany`` (429) responder action and
  ``<gw>.rl`` responder policy on the CS vserver.
- ``<gw>.audit`` audit message action, the ``logaction`` of every access-decision policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adcml.gateway.spec import GatewaySpec, Pool
from adcml.policy import parse_rule, parse_string_builder
from adcml.policy.nodes import quote
from adcml.secret import Secret

Add = Callable[..., None]
AUTH_PRIORITY = 100
RATE_LIMIT_PRIORITY = 10  # before anything else on the CS vserver
AUTHZ_PRIORITY = 100
NOAUTH_PRIORITY, CRED_PRIORITY = 100, 110
FORBIDDEN = ('"HTTP/1.1 403 Forbidden\\r\\nContent-Type: application/json\\r\\n\\r\\n'
             '{\\"error\\":\\"forbidden\\"}"')
TOO_MANY = ('"HTTP/1.1 429 Too Many Requests\\r\\nContent-Type: application/json\\r\\n\\r\\n'
            '{\\"error\\":\\"rate limited\\"}"')
AUDIT_LINE = ('"adcml gateway=" + {gw} + " client=" + CLIENT.IP.SRC + " user=" + HTTP.REQ.USER.NAME'
              ' + " " + HTTP.REQ.METHOD + " " + HTTP.REQ.URL.PATH + " decision=" + {decision}')


def frontend_auth(spec: GatewaySpec) -> dict[str, Any]:
    """Attributes the CS vserver needs to require a bearer token."""
    if spec.auth is None:
        return {}
    return {"authentication": "ON", "authn401": "ON", "authnvsname": f"{spec.name}.auth"}


def compile_security(add: Add, spec: GatewaySpec, cs: str) -> None:
    gw = spec.name
    audit = f"{gw}.audit" if spec.audit and spec.audit.enabled else None
    if audit:
        add("auditmessageaction", name=audit, loglevel="INFORMATIONAL",
            stringbuilderexpr=_checked_sb(AUDIT_LINE.format(gw=quote(gw), decision='"refused"')))
    if spec.auth is not None:
        _authentication(add, spec)
    if any(p.require_groups for p in spec.pools):
        add("responderaction", name=f"{gw}.deny", type="respondwith", target=_checked_sb(FORBIDDEN))
    for pool in spec.pools:
        _pool_policies(add, spec, pool, audit)
    if spec.rate_limit is not None:
        _rate_limit(add, spec, cs, audit)


def _authentication(add: Add, spec: GatewaySpec) -> None:
    gw, oidc = spec.name, spec.auth.oidc
    add("authenticationvserver", name=f"{gw}.auth", servicetype="SSL", ipv46="0.0.0.0", port=0,
        authentication="ON")
    action = {
        "name": f"{gw}.oidc", "oauthtype": "GENERIC", "certendpoint": oidc.jwks_url,
        "issuer": oidc.issuer, "audience": oidc.audience, "tokenendpoint": oidc.token_endpoint,
        "clientid": oidc.client_id, "skewtime": oidc.skew_minutes,
        "refreshinterval": oidc.refresh_minutes, "allowedalgorithms": list(oidc.algorithms),
        "attributes": ",".join(oidc.claims),
    }
    if oidc.client_secret is not None:
        action["clientsecret"] = Secret(oidc.client_secret.get_secret_value())
    add("authenticationoauthaction", **action)
    add("authenticationpolicy", name=f"{gw}.oidc", rule=checked_rule("true"), action=f"{gw}.oidc")
    add("authenticationvserver_authenticationpolicy_binding", name=f"{gw}.auth", policy=f"{gw}.oidc",
        priority=AUTH_PRIORITY)


def _pool_policies(add: Add, spec: GatewaySpec, pool: Pool, audit: str | None) -> None:
    gw, lb = spec.name, f"{spec.name}.{pool.name}"
    if pool.require_groups:
        claim = quote(spec.auth.oidc.groups_claim)
        allowed = " || ".join(f"HTTP.REQ.USER.ATTRIBUTE({claim}).EQ({quote(g)})"
                              for g in pool.require_groups)
        add("responderpolicy", name=f"{lb}.authz", rule=checked_rule(f"!({allowed})"),
            action=f"{gw}.deny", logaction=audit)
        add("lbvserver_responderpolicy_binding", name=lb, policyname=f"{lb}.authz",
            priority=AUTHZ_PRIORITY, gotopriorityexpression="END", bindpoint="REQUEST")
    if pool.backend_token is not None:
        token = pool.backend_token.get_secret_value()
        add("rewriteaction", name=f"{lb}.noauth", type="delete_http_header", target="Authorization")
        add("rewriteaction", name=f"{lb}.cred", type="insert_http_header", target="Authorization",
            stringbuilderexpr=Secret(_checked_sb(quote(f"Bearer {token}"), secret=True)))
        add("rewritepolicy", name=f"{lb}.noauth", rule=checked_rule("true"), action=f"{lb}.noauth")
        add("rewritepolicy", name=f"{lb}.cred", rule=checked_rule("true"), action=f"{lb}.cred",
            logaction=None)
        add("lbvserver_rewritepolicy_binding", name=lb, policyname=f"{lb}.noauth",
            priority=NOAUTH_PRIORITY, gotopriorityexpression="NEXT", bindpoint="REQUEST")
        add("lbvserver_rewritepolicy_binding", name=lb, policyname=f"{lb}.cred",
            priority=CRED_PRIORITY, gotopriorityexpression="END", bindpoint="REQUEST")


def _rate_limit(add: Add, spec: GatewaySpec, cs: str, audit: str | None) -> None:
    gw, limit = spec.name, spec.rate_limit
    key = "CLIENT.IP.SRC" if limit.key == "client_ip" else "HTTP.REQ.USER.NAME"
    add("streamselector", name=f"{gw}.rl", rule=[key])
    add("nslimitidentifier", limitidentifier=f"{gw}.rl", threshold=limit.requests,
        timeslice=limit.per_ms, mode="REQUEST_RATE", limittype="SMOOTH" if limit.smooth else "BURSTY",
        selectorname=f"{gw}.rl")
    add("responderaction", name=f"{gw}.toomany", type="respondwith", target=_checked_sb(TOO_MANY))
    add("responderpolicy", name=f"{gw}.rl", rule=checked_rule(f"SYS.CHECK_LIMIT({quote(gw + '.rl')})"),
        action=f"{gw}.toomany", logaction=audit)
    add("csvserver_responderpolicy_binding", name=cs, policyname=f"{gw}.rl",
        priority=RATE_LIMIT_PRIORITY, gotopriorityexpression="END", bindpoint="REQUEST")


def checked_rule(text: str) -> str:
    """Every expression the engine generates is parsed before any write."""
    parse_rule(text)
    return text


def _checked_sb(text: str, *, secret: bool = False) -> str:
    try:
        parse_string_builder(text)
    except ValueError as exc:
        if secret:  # the message would quote the token
            raise ValueError("the backend token does not form a valid expression") from None
        raise ValueError(str(exc)) from exc
    return text
