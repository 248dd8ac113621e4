"""People in browsers sign in at the ADC (``login``): what the spec accepts, what it refuses at
the field, and what it compiles to — the browsers' own frontend in NetScaler's forms mode, the
code-flow OAuth action, the session settings — all offline."""

from __future__ import annotations

import pytest

from adcml.gateway import SpecError, compile_gateway, load_spec

CERT_KEY = "gw.cert"
OIDC = {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
        "token_endpoint": "http://127.0.0.1:5556/oauth2/token", "audience": "lab",
        "client_id": "gw-client", "client_secret": "gw-client-secret-1"}
LOGIN = {"host": "web.lab.test", "port": 9443, "pools": ["ui", "embed"],
         "authorization_endpoint": "http://127.0.0.1:5556/oauth2/authorize", "session_minutes": 20}


def spec(**login) -> dict:
    return {
        "name": "gw", "frontend": {"vip": "127.0.0.10", "port": 8443, "protocol": "https",
                                   "tls": {"certkey": "lab-gw"}},
        "auth": {"oidc": OIDC},
        "pools": [{"name": "ui", "match": {"path_prefix": "/ui"},
                   "members": [{"host": "127.0.0.1", "port": 9001}], "require_groups": ["ml-trusted"]},
                  {"name": "embed", "members": [{"host": "127.0.0.1", "port": 9002}]}],
        "default_pool": "embed",
        "rate_limit": {"requests": 20, "key": "user"},
        "login": {**LOGIN, **login},
    }


def objects(data) -> dict[tuple[str, str], dict]:
    out = {}
    for obj in compile_gateway(load_spec(data)):
        attrs = obj.attrs
        key = next(str(attrs[k]) for k in ("name", "policyname", "vservername", "servicegroupname",
                                           "monitorname", "limitidentifier", "selectorname", "feature")
                   if k in attrs)
        if obj.resource.endswith("_binding"):
            key += "/" + str(attrs.get("policyname") or attrs.get("policy") or attrs.get("lbvserver")
                             or attrs.get("certkeyname") or "")
        out[obj.resource, key] = attrs
    return out


def problems(data) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as err:
        load_spec(data)
    return err.value.problems


def test_browsers_get_a_frontend_of_their_own_in_forms_mode_with_the_code_flow():
    built = objects(spec())
    web = built["csvserver", "gw.web"]
    assert (web["servicetype"], web["ipv46"], web["port"]) == ("SSL", "127.0.0.10", 9443)
    assert (web["authentication"], web["authnprofile"]) == ("ON", "gw.web") and "authn401" not in web
    assert built["csvserver", "gw.cs"]["authn401"] == "ON"  # the API frontend keeps bearer tokens
    assert built["sslvserver_sslcertkey_binding", "gw.web/lab-gw"]["certkeyname"] == "lab-gw"
    action = built["authenticationoauthaction", "gw.web"]
    assert (action["granttype"], action["pkce"], action["tokenendpointauthmethod"]) == (
        "CODE", "ENABLED", "client_secret_post")
    assert action["authorizationendpoint"] == LOGIN["authorization_endpoint"]
    assert (action["clientid"], action["audience"]) == ("gw-client", "gw-client")
    assert action["usernamefield"] == "sub"
    assert action["clientsecret"].reveal() == "gw-client-secret-1"
    profile = built["authenticationauthnprofile", "gw.web"]
    assert (profile["authnvsname"], profile["authenticationhost"]) == ("gw.web.auth", "web.lab.test")
    session = built["tmsessionaction", "gw.web"]
    assert (session["sesstimeout"], session["defaultauthorizationaction"]) == (20, "ALLOW")
    assert built["csaction", "gw.web.auth"] == {"name": "gw.web.auth", "targetvserver": "gw.web.auth",
                                                "comment": "adcml:gw"}
    assert "/cgi/tm" in built["cspolicy", "gw.web.auth"]["rule"] and "/oauth/login" in built[
        "cspolicy", "gw.web.auth"]["rule"]
    # the pools browsers reach, with their routes; the same rate limit on both frontends
    assert built["csvserver_cspolicy_binding", "gw.web/gw.ui"]["priority"] == built[
        "csvserver_cspolicy_binding", "gw.cs/gw.ui"]["priority"]
    assert ("csvserver_cspolicy_binding", "gw.web/gw.web.auth") in built
    assert ("csvserver_responderpolicy_binding", "gw.web/gw.rl") in built
    assert ("csvserver_rewritepolicy_binding", "gw.web/gw.id.user") in built


@pytest.mark.parametrize("change, at, fragment", [
    ({"auth": None}, "login", "needs auth.oidc"),
    ({"auth": {"oidc": {k: v for k, v in OIDC.items() if k != "client_secret"}}}, "auth.oidc.client_secret",
     "client secret"),
    ({"login": {**LOGIN, "port": 8443}}, "login.port", "frontend's port"),
    ({"login": {**LOGIN, "pools": ["ui", "nope"]}}, "login.pools[1]", "not one of the pools"),
    ({"login": {**LOGIN, "host": "not a host"}}, "login.host", ""),
    ({"login": {**LOGIN, "session_minutes": 0}}, "login.session_minutes", ""),
])
def test_bad_login_settings_are_refused_at_the_field(change, at, fragment):
    data = {**spec(), **change}
    if data.get("auth") is None:
        data.pop("auth")
        data.pop("rate_limit")
        data["pools"][0].pop("require_groups")
    found = problems(data)
    assert any(where == at and fragment in what for where, what in found), found
