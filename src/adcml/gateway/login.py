"""The ``login`` section: people in browsers sign in at the ADC, compiled and gathered back.

NetScaler's AAA-TM "forms" mode with an OIDC authorization-code flow (docs/nitro-facts.md,
"Browser sign-in at the ADC"); names ``<gw>.web`` and ``<gw>.web.auth``:

- csvserver ``<gw>.web``: the browsers' frontend (SSL, the frontend's SSL profile and
  certificate), ``authentication ON`` with authnprofile ``<gw>.web`` — not ``authn401``, which
  is the API frontend's: a vserver does one or the other. It routes to ``login.pools`` with the
  pools' own CS policies, and carries the gateway's rate limit, identity headers and audit as
  the API frontend does (``adcml.gateway.security`` binds them to both).
- authenticationvserver ``<gw>.web.auth`` (non-addressable), reached through ``<gw>.web``: CS
  policy and action ``<gw>.web.auth`` switch ``/cgi/tm`` and ``/oauth/login`` to it.
- authenticationoauthaction ``<gw>.web``: the code flow against ``auth.oidc``'s IdP (granttype
  CODE, PKCE, the client secret presented at the token endpoint), its policy, bound to the
  authentication vserver.
- authenticationauthnprofile ``<gw>.web``: the authentication host (``login.host``) and cookie
  domain.
- tmsessionaction / tmsessionpolicy ``<gw>.web`` bound to the authentication vserver: the idle
  timeout, and ``defaultauthorizationaction ALLOW`` — an appliance's default is DENY, which would
  refuse a signed-in user everything; the pools' group checks decide instead.
"""

from __future__ import annotations

from typing import Any

from adcml.gateway.names import Add, LiveGateway, certkey_name, pool_object_name
from adcml.gateway.security import secret_value
from adcml.gateway.spec import GatewaySpec
from adcml.policy.nodes import quote

AUTH_PATHS = ("/cgi/tm", "/oauth/login")
AUTH_ROUTE_PRIORITY = 1  # before every pool's route
LOGIN_PRIORITY = 100


def web_name(gateway: str) -> str:
    return f"{gateway}.web"


def compile_login(add: Add, spec: GatewaySpec, route_priorities: dict[str, int]) -> None:
    if spec.login is None:
        return
    gw, login, oidc = spec.name, spec.login, spec.auth.oidc
    web, auth = web_name(gw), f"{web_name(gw)}.auth"
    fe = spec.frontend
    add("csvserver", {"": "login", "ipv46": "login.vip", "port": "login.port"}, name=web,
        servicetype="SSL", ipv46=login.vip or fe.vip, port=login.port, clttimeout=fe.client_timeout,
        authentication="ON", authnprofile=web)
    add("sslvserver", "login", vservername=web, sslprofile=f"{gw}.tls")
    add("sslvserver_sslcertkey_binding", "login", vservername=web,
        certkeyname=fe.tls.certkey or certkey_name(gw))
    add("authenticationvserver", "login", name=auth, servicetype="SSL", ipv46="0.0.0.0", port=0,
        authentication="ON", authenticationdomain=login.cookie_domain)
    at = "auth.oidc"
    add("authenticationoauthaction",
        {"": "login", "authorizationendpoint": "login.authorization_endpoint",
         "usernamefield": "login.username_claim", "certendpoint": f"{at}.jwks_url",
         "issuer": f"{at}.issuer", "tokenendpoint": f"{at}.token_endpoint", "clientid": f"{at}.client_id",
         "clientsecret": f"{at}.client_secret", "attributes": f"{at}.claims",
         "allowedalgorithms": f"{at}.algorithms", "skewtime": f"{at}.skew_minutes"},
        name=web, oauthtype="GENERIC", authorizationendpoint=login.authorization_endpoint,
        tokenendpoint=oidc.token_endpoint, clientid=oidc.client_id,
        clientsecret=secret_value(oidc.client_secret),
        certendpoint=oidc.jwks_url, issuer=oidc.issuer, audience=oidc.client_id,
        usernamefield=login.username_claim, attributes=",".join(oidc.claims), granttype="CODE",
        pkce="ENABLED", tokenendpointauthmethod="client_secret_post",
        allowedalgorithms=list(oidc.algorithms), skewtime=oidc.skew_minutes)
    add("authenticationpolicy", "login", name=web, rule="true", action=web)
    add("authenticationvserver_authenticationpolicy_binding", "login", name=auth, policy=web,
        priority=LOGIN_PRIORITY)
    add("authenticationauthnprofile", {"": "login", "authenticationhost": "login.host",
                                       "authenticationdomain": "login.cookie_domain"},
        name=web, authnvsname=auth, authenticationhost=login.host,
        authenticationdomain=login.cookie_domain)
    add("tmsessionaction", {"": "login", "sesstimeout": "login.session_minutes"}, name=web,
        sesstimeout=login.session_minutes, defaultauthorizationaction="ALLOW", httponlycookie="YES")
    add("tmsessionpolicy", "login", name=web, rule="true", action=web)
    add("authenticationvserver_tmsessionpolicy_binding", "login", name=auth, policy=web,
        priority=LOGIN_PRIORITY)
    add("csaction", "login", name=auth, targetvserver=auth)
    add("cspolicy", "login", policyname=auth, action=auth,
        rule=" || ".join(f"HTTP.REQ.URL.PATH.STARTSWITH({quote(p)})" for p in AUTH_PATHS))
    add("csvserver_cspolicy_binding", "login", name=web, policyname=auth, priority=AUTH_ROUTE_PRIORITY)
    for i, pool in enumerate(login.pools):
        if pool in route_priorities:
            add("csvserver_cspolicy_binding", f"login.pools[{i}]", name=web,
                policyname=pool_object_name(gw, pool), priority=route_priorities[pool])
    if login.default_pool:
        add("csvserver_lbvserver_binding", "login.default_pool", name=web,
            lbvserver=pool_object_name(gw, login.default_pool))


def gather_login(live: LiveGateway) -> dict[str, Any] | None:
    """The ``login`` section, or None."""
    gw = live.name
    web = live.obj("csvserver", web_name(gw))
    action = live.obj("authenticationoauthaction", web_name(gw))
    profile = live.obj("authenticationauthnprofile", web_name(gw))
    session = live.obj("tmsessionaction", web_name(gw))
    if web is None or action is None or profile is None:
        return None
    routed = {b["policyname"] for b in live.bound("csvserver_cspolicy_binding", web["name"])}
    defaults = live.bound("csvserver_lbvserver_binding", web["name"])
    prefix = f"{gw}."
    out: dict[str, Any] = {
        "host": profile.get("authenticationhost"),
        "vip": web.get("ipv46"),
        "port": live.value("csvserver", web, "port"),
        "pools": sorted(p.removeprefix(prefix) for p in routed if p != f"{web_name(gw)}.auth"),
        "authorization_endpoint": action.get("authorizationendpoint"),
        "username_claim": action.get("usernamefield") or "sub",
        "session_minutes": live.value("tmsessionaction", session, "sesstimeout", 30) if session else 30,
    }
    if defaults:
        out["default_pool"] = str(defaults[0]["lbvserver"]).removeprefix(prefix)
    if profile.get("authenticationdomain"):
        out["cookie_domain"] = profile["authenticationdomain"]
    return out


__all__ = ["AUTH_PATHS", "compile_login", "gather_login", "web_name"]
