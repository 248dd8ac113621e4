"""Lab ADC contract for the security and policy resources: the life of each object (add, get
with defaults, update, delete, missing codes), validation, secrets, built-in actions and
feature warnings. Bindings, integrity and expressions: test_lab_security_policies."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adcml.resources import SCHEMA
from adcml.resources.catalog_security import SECURITY_RESOURCES

LIMIT_RULE = 'HTTP.REQ.URL.PATH.STARTSWITH("/v1") && SYS.CHECK_LIMIT("burst")'
RESPOND_429 = '"HTTP/1.1 429 Too Many Requests\\r\\n\\r\\n"'
OAUTH = {"name": "idp", "tokenendpoint": "https://idp.example.test/token", "clientid": "adcml",
         "clientsecret": "s3cr3t-client", "certendpoint": "https://idp.example.test/jwks",
         "issuer": "https://idp.example.test", "audience": "adcml-api"}
SYSLOG = {"name": "siem", "serverip": "10.0.5.1", "loglevel": ["informational", "error"]}
SELECTOR = {"name": "per-client", "rule": ["CLIENT.IP.SRC"]}
LIMIT = {"limitidentifier": "burst", "threshold": 100, "selectorname": "per-client"}
REWRITE = {"name": "inject-key", "type": "insert_http_header", "target": "Authorization",
           "stringbuilderexpr": '"Bearer s3cr3t-backend"'}
RESPOND = {"name": "too-many", "type": "respondwith", "target": RESPOND_429}
AUTH_VS = {"name": "auth", "servicetype": "SSL"}
SESSION = {"name": "web", "sesstimeout": 30, "defaultauthorizationaction": "allow"}


@dataclass
class Case:
    resource: str
    obj: dict
    shown: dict  # attributes as GET returns them (subset)
    change: dict
    changed: dict
    missing: int
    needs: tuple[tuple[str, dict], ...] = ()
    hidden: tuple[str, ...] = ()  # never returned

    @property
    def key(self) -> str:
        return SCHEMA[self.resource].key

    @property
    def name(self) -> str:
        return self.obj[self.key]


CASES = [
    Case("auditmessageaction",
         {"name": "access", "loglevel": "informational", "stringbuilderexpr": '"access " + HTTP.REQ.URL'},
         {"loglevel": "INFORMATIONAL", "logtofile": "NO", "stringbuilderexpr": '"access " + HTTP.REQ.URL'},
         {"logtofile": "yes"}, {"logtofile": "YES"}, 258),
    Case("auditsyslogaction", SYSLOG,
         {"serverip": "10.0.5.1", "serverport": 514, "transport": "UDP",
          "loglevel": ["ERROR", "INFORMATIONAL"], "userdefinedauditlog": "NO"},
         {"userdefinedauditlog": "yes", "serverport": 6514, "transport": "tcp"},
         {"userdefinedauditlog": "YES", "serverport": 6514, "transport": "TCP"}, 258),
    Case("auditsyslogpolicy", {"name": "all", "rule": "true", "action": "siem"},
         {"rule": "true", "action": "siem"},
         {"rule": 'HTTP.REQ.URL.PATH.STARTSWITH("/v1")'},
         {"rule": 'HTTP.REQ.URL.PATH.STARTSWITH("/v1")'}, 2054,
         needs=(("auditsyslogaction", SYSLOG),)),
    Case("streamselector", SELECTOR, {"rule": ["CLIENT.IP.SRC"]},
         {"rule": ["CLIENT.IP.SRC", "HTTP.REQ.URL"]}, {"rule": ["CLIENT.IP.SRC", "HTTP.REQ.URL"]}, 258),
    Case("nslimitidentifier", LIMIT,
         {"threshold": "100", "timeslice": "1000", "mode": "REQUEST_RATE", "limittype": "BURSTY",
          "selectorname": "per-client", "maxbandwidth": "0"},
         {"limittype": "smooth", "threshold": 50, "timeslice": 500},
         {"limittype": "SMOOTH", "threshold": "50", "timeslice": "500"}, 258,
         needs=(("streamselector", SELECTOR),)),
    Case("rewriteaction", REWRITE,
         {"type": "insert_http_header", "target": "Authorization", "bypasssafetycheck": "NO",
          "stringbuilderexpr": '"Bearer s3cr3t-backend"'},  # returned, as an appliance does
         {"comment": "backend key"}, {"comment": "backend key"}, 538),
    Case("rewritepolicy", {"name": "inject", "rule": "true", "action": "inject-key"},
         {"rule": "true", "action": "inject-key"},
         {"action": "norewrite", "undefaction": "reset"},
         {"action": "NOREWRITE", "undefaction": "RESET"}, 2054,
         needs=(("rewriteaction", REWRITE),)),
    Case("responderaction", RESPOND, {"type": "respondwith", "target": RESPOND_429},
         {"comment": "rate limited"}, {"comment": "rate limited"}, 538),
    Case("responderpolicy", {"name": "limit", "rule": LIMIT_RULE, "action": "too-many"},
         {"rule": LIMIT_RULE, "action": "too-many"},
         {"undefaction": "drop", "rule": "true"}, {"undefaction": "DROP", "rule": "true"}, 2054,
         needs=(("responderaction", RESPOND), ("streamselector", SELECTOR),
                ("nslimitidentifier", LIMIT))),
    Case("authenticationvserver", AUTH_VS,
         {"servicetype": "SSL", "ipv46": "0.0.0.0", "port": 0, "authentication": "ON",
          "state": "ENABLED", "curstate": "UP"},
         {"authenticationdomain": "example.test"}, {"authenticationdomain": "example.test"}, 258),
    Case("authenticationoauthaction", OAUTH,
         {"oauthtype": "GENERIC", "skewtime": "5", "refreshinterval": "1440", "pkce": "ENABLED",
          "allowedalgorithms": ["HS256", "RS256", "RS512"], "granttype": "CODE",
          "tokenendpointauthmethod": "client_secret_post", "certendpoint": OAUTH["certendpoint"],
          "issuer": OAUTH["issuer"], "audience": "adcml-api", "clientid": "adcml"},
         {"allowedalgorithms": ["rs256"], "skewtime": 2, "attributes": "groups,email"},
         {"allowedalgorithms": ["RS256"], "skewtime": "2", "attributes": "groups,email"}, 258,
         hidden=("clientsecret",)),
    Case("authenticationpolicy",
         {"name": "bearer", "rule": 'HTTP.REQ.HEADER("Authorization").EXISTS', "action": "idp"},
         {"rule": 'HTTP.REQ.HEADER("Authorization").EXISTS', "action": "idp"},
         {"rule": "true"}, {"rule": "true"}, 2054, needs=(("authenticationoauthaction", OAUTH),)),
    Case("authenticationauthnprofile",
         {"name": "api-authn", "authnvsname": "auth", "authenticationhost": "auth.example.test"},
         {"authnvsname": "auth", "authenticationhost": "auth.example.test",
          "authenticationlevel": "0"},
         {"authenticationlevel": 10}, {"authenticationlevel": "10"}, 258,
         needs=(("authenticationvserver", AUTH_VS),)),
    Case("tmsessionaction", SESSION,
         {"sesstimeout": "30", "defaultauthorizationaction": "ALLOW", "httponlycookie": "YES",
          "sso": "OFF"},
         {"sesstimeout": 10, "persistentcookie": "on", "persistentcookievalidity": 60},
         {"sesstimeout": "10", "persistentcookie": "ON", "persistentcookievalidity": "60"}, 258),
    Case("tmsessionpolicy", {"name": "web", "rule": "true", "action": "web"},
         {"rule": "true", "action": "web"},
         {"rule": 'HTTP.REQ.HOSTNAME.EQ("web.lab.test")'},
         {"rule": 'HTTP.REQ.HOSTNAME.EQ("web.lab.test")'}, 2054,
         needs=(("tmsessionaction", SESSION),)),
]


def test_every_security_resource_is_covered():
    bindings = {r.name for r in SECURITY_RESOURCES if r.is_binding}
    singletons = {"tmsessionparameter"}  # test_tm_session_parameters_are_global_settings
    assert {c.resource for c in CASES} | bindings | singletons == {r.name for r in SECURITY_RESOURCES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.resource)
def test_life_of_an_object(api, case: Case):
    for resource, obj in case.needs:
        api.must_add(resource, obj)
    api.ok(api.add(case.resource, case.obj), 201)
    api.fails(api.add(case.resource, case.obj), 409, 273, f"{case.key}, {case.name}")

    got = api.one(case.resource, case.name)
    assert {k: got.get(k) for k in case.shown} == case.shown
    assert [r for r in api.all(case.resource) if r[case.key] == case.name] == [got]
    for secret in case.hidden:
        assert secret not in got

    api.ok(api.update(case.resource, {case.key: case.name, **case.change}))
    got = api.one(case.resource, case.name)
    assert {k: got.get(k) for k in case.changed} == case.changed

    api.ok(api.delete(case.resource, case.name))
    missing = f"{case.key}, {case.name}"
    api.fails(api.get(case.resource, case.name), 404, case.missing, missing)
    api.fails(api.delete(case.resource, case.name), 404, case.missing, missing)
    api.fails(api.update(case.resource, {case.key: case.name, **case.change}), 404, case.missing)


def test_the_client_secret_is_never_returned(api):
    api.must_add("authenticationoauthaction", OAUTH)
    for rows in (api.all("authenticationoauthaction"),
                 api.all("authenticationoauthaction", "?attrs=clientsecret,clientid"),
                 [api.one("authenticationoauthaction", "idp")]):
        assert rows and all("clientsecret" not in r for r in rows)
        assert all("s3cr3t-client" not in str(r) for r in rows)
    api.fails(api.add("authenticationoauthaction", {**OAUTH, "name": "x", "oauthstatus": "up"}),
              599, 278, "oauthstatus")


@pytest.mark.parametrize("resource, obj, code, fragment", [
    ("authenticationoauthaction", {"name": "x", "clientid": "c"}, 1095,
     "authorizationendpoint or tokenendpoint"),
    ("authenticationoauthaction", {**OAUTH, "allowedalgorithms": ["HS256", "ES256"]}, 1097,
     "allowedalgorithms"),
    ("authenticationoauthaction", {**OAUTH, "oauthtype": "OKTA"}, 1097, "oauthtype"),
    ("authenticationvserver", {"name": "a", "servicetype": "HTTP"}, 1097, "servicetype"),
    ("authenticationvserver", {"name": "a", "ipv46": "auth.example"}, 1097, "ipv46"),
    ("auditsyslogaction", {**SYSLOG, "serverdomainname": "siem.example.test"}, 1092, "serverip"),
    ("auditsyslogaction", {"name": "s", "loglevel": ["ALL"]}, 1095, "serverip or serverdomainname"),
    ("auditsyslogaction", {**SYSLOG, "serverip": "10.0.5"}, 1097, "serverip"),
    ("auditsyslogaction", {"name": "s", "serverip": "10.0.5.1"}, 1095, "loglevel"),
    ("auditsyslogaction", {**SYSLOG, "loglevel": ["CHATTY"]}, 1097, "loglevel"),
    ("auditmessageaction", {"name": "m", "loglevel": "ALL", "stringbuilderexpr": '"x"'}, 1097,
     "loglevel"),
    ("nslimitidentifier", {"limitidentifier": "x" * 32}, 1097, "limitidentifier"),
    ("nslimitidentifier", {"limitidentifier": "l", "timeslice": 15}, 1097, "multiple of 10"),
    ("nslimitidentifier", {"limitidentifier": "l", "timeslice": 0}, 1097, "timeslice"),
    ("nslimitidentifier", {"limitidentifier": "l", "threshold": 0}, 1097, "threshold"),
    ("nslimitidentifier", {"limitidentifier": "l", "mode": "TOKENS"}, 1097, "mode"),
    ("nslimitidentifier", {"limitidentifier": "l", "selectorname": "nope"}, 258, "nope"),
    ("streamselector", {"name": "s", "rule": ["CLIENT.IP.SRC"] * 6}, 1097, "one to 5"),
    ("streamselector", {"name": "s", "rule": []}, 1097, "one to 5"),
    ("rewriteaction", {**REWRITE, "type": "rot13"}, 1097, "type"),
    ("rewriteaction", {"name": "r", "type": "insert_http_header", "target": "X-Key"}, 1095,
     "stringbuilderexpr, needed by type insert_http_header"),
    ("rewriteaction", {"name": "r", "type": "delete_http_header"}, 1095, "target"),
    ("rewriteaction", {"name": "r", "type": "delete_http_header", "target": "X Key:"}, 1097,
     "not an HTTP header name"),
    ("rewriteaction", {"name": "r", "type": "replace_all", "target": "HTTP.REQ.URL",
                       "stringbuilderexpr": '"x"'}, 1095, "search"),
    ("responderaction", {"name": "r", "type": "redirect"}, 1095, "target, needed by type redirect"),
    ("responderaction", {**RESPOND, "responsestatuscode": 600}, 1097, "responsestatuscode"),
    ("responderpolicy", {"name": "p", "rule": "true"}, 1095, "action"),
    ("tmsessionaction", {"name": "s", "sesstimeout": 0}, 1097, "sesstimeout"),
    ("tmsessionaction", {"name": "s", "defaultauthorizationaction": "MAYBE"}, 1097,
     "defaultauthorizationaction"),
    ("tmsessionaction", {"name": "s", "persistentcookievalidity": 60}, 1093,
     "persistentcookievalidity, needs persistentcookie ON"),
    ("tmsessionaction", {"name": "s", "persistentcookie": "OFF", "persistentcookievalidity": 5},
     1093, "persistentcookie ON"),
    ("tmsessionpolicy", {"name": "p", "rule": "true", "action": "nope"}, 258, "action, nope"),
    ("tmsessionpolicy", {"name": "p", "action": "nope"}, 1095, "rule"),
    ("rewritepolicy", {"name": "p", "action": "NOREWRITE"}, 1095, "rule"),
    ("rewritepolicy", {"name": "p", "rule": "true", "action": "NOREWRITE", "undefaction": "NOOP"},
     1097, "undefaction"),
])
def test_invalid_objects_are_refused_and_nothing_is_stored(api, resource, obj, code, fragment):
    api.fails(api.add(resource, obj), 599, code, fragment)
    assert api.all(resource) == []


def test_type_of_an_action_cannot_change(api):
    api.must_add("rewriteaction", REWRITE)
    api.fails(api.update("rewriteaction", {"name": "inject-key", "type": "delete_http_header"}),
              599, 278, "type")
    api.must_add("responderaction", RESPOND)
    api.fails(api.update("responderaction", {"name": "too-many", "type": "noop"}), 599, 278, "type")
    api.ok(api.update("responderaction", {"name": "too-many", "type": "respondwith"}))


def test_an_update_is_checked_against_the_actions_type(api):
    api.must_add("rewriteaction", REWRITE)
    api.fails(api.update("rewriteaction", {"name": "inject-key", "target": "Bad Header"}),
              599, 1097, "target")
    assert api.one("rewriteaction", "inject-key")["target"] == "Authorization"
    api.fails(api.act("rewriteaction", "unset", {"name": "inject-key", "type": True}), 599, 278)


@pytest.mark.parametrize("resource, builtins, action", [
    ("rewritepolicy", ("NOREWRITE", "RESET", "DROP"), "rewriteaction"),
    ("responderpolicy", ("NOOP", "RESET", "DROP"), "responderaction"),
])
def test_built_in_actions_need_no_object_and_are_reserved(api, resource, builtins, action):
    for i, builtin in enumerate(builtins):
        api.must_add(resource, {"name": f"p{i}", "rule": "true", "action": builtin.lower()})
        assert api.one(resource, f"p{i}")["action"] == builtin
        api.fails(api.get(action, builtin), 404, 538, builtin)
        body = {"name": builtin, "type": "noop"}
        api.fails(api.add(action, body), 409, 273, builtin)
    assert api.all(action) == []
    other = "NOOP" if resource == "rewritepolicy" else "NOREWRITE"
    api.fails(api.add(resource, {"name": "x", "rule": "true", "action": other}), 599, 538, other)


@pytest.mark.parametrize("resource, obj, feature", [
    ("rewriteaction", REWRITE, "REWRITE"),
    ("responderaction", RESPOND, "RESPONDER"),
    ("authenticationvserver", AUTH_VS, "AAA"),
    ("authenticationoauthaction", OAUTH, "AAA"),
])
def test_feature_warnings_name_the_resources_feature(api, resource, obj, feature):
    response = api.add(resource, obj, "?warning=yes")
    api.ok(response, 209)
    assert response.headers["X-NITRO-WARNING"] == f"1067 - Feature(s) not enabled [{feature}]"


@pytest.mark.parametrize("resource, obj", [
    ("streamselector", SELECTOR), ("auditsyslogaction", SYSLOG),
    ("auditmessageaction", {"name": "m", "loglevel": "NOTICE", "stringbuilderexpr": '"x"'}),
])
def test_rate_limits_and_audit_have_no_feature_flag(api, resource, obj):
    response = api.add(resource, obj, "?warning=yes")
    api.ok(response, 201)
    assert "X-NITRO-WARNING" not in response.headers
    api.fails(api.act("nsfeature", "enable", {"feature": ["RL"]}), 599, 1097, "RL")


def test_renaming_an_action_follows_its_policies(api):
    api.must_add("rewriteaction", REWRITE)
    api.must_add("rewritepolicy", {"name": "inject", "rule": "true", "action": "inject-key"})
    api.ok(api.act("rewriteaction", "rename", {"name": "inject-key", "newname": "inject-key-v2"}))
    assert api.one("rewritepolicy", "inject")["action"] == "inject-key-v2"


def test_tm_session_parameters_are_global_settings(api):
    defaults = {"sesstimeout": "30", "defaultauthorizationaction": "DENY", "httponlycookie": "YES",
                "persistentcookie": "OFF", "sso": "OFF"}
    got = api.ok(api.get("tmsessionparameter"))["tmsessionparameter"]
    assert {k: got.get(k) for k in defaults} == defaults
    api.ok(api.update("tmsessionparameter", {"sesstimeout": 15, "defaultauthorizationaction": "allow"}))
    got = api.ok(api.get("tmsessionparameter"))["tmsessionparameter"]
    assert (got["sesstimeout"], got["defaultauthorizationaction"]) == ("15", "ALLOW")
    api.fails(api.update("tmsessionparameter", {"sesstimeout": 0}), 599, 1097, "sesstimeout")
    api.fails(api.update("tmsessionparameter", {"persistentcookievalidity": 5}), 599, 1093,
              "persistentcookie ON")
    api.fails(api.update("tmsessionparameter", {"colour": "blue"}), 599, 278, "colour")
    api.ok(api.act("tmsessionparameter", "unset", {"sesstimeout": True, "defaultauthorizationaction": True}))
    got = api.ok(api.get("tmsessionparameter"))["tmsessionparameter"]
    assert (got["sesstimeout"], got["defaultauthorizationaction"]) == ("30", "DENY")
    api.fails(api.add("tmsessionparameter", {"sesstimeout": 5}), 599, 257, "cannot be added")


def test_a_session_action_in_use_cannot_be_removed(api):
    api.must_add("authenticationvserver", AUTH_VS)
    api.must_add("tmsessionaction", SESSION)
    api.must_add("tmsessionpolicy", {"name": "web", "rule": "true", "action": "web"})
    api.fails(api.delete("tmsessionaction", "web"), 599, 315, "tmsessionpolicy web")
    binding = {"name": "auth", "policy": "web", "priority": 100}
    api.ok(api.bind("authenticationvserver_tmsessionpolicy_binding", binding), 200)
    got = api.all("authenticationvserver_tmsessionpolicy_binding", "/auth")
    assert [(b["policy"], b["priority"]) for b in got] == [("web", "100")]
    api.fails(api.delete("tmsessionpolicy", "web"), 599, 315, "authenticationvserver_tmsessionpolicy_binding")
    api.fails(api.bind("authenticationvserver_tmsessionpolicy_binding", {**binding, "policy": "nope"}),
              599, 2054, "nope")
    api.ok(api.delete("authenticationvserver_tmsessionpolicy_binding", "auth", policy="web"))
    api.ok(api.delete("tmsessionpolicy", "web"))
    api.ok(api.delete("tmsessionaction", "web"))


def test_a_cs_action_targets_an_lb_vserver_or_an_authentication_vserver(api):
    api.must_add("lbvserver", {"name": "pool", "servicetype": "HTTP"})
    api.must_add("authenticationvserver", AUTH_VS)
    api.fails(api.add("csaction", {"name": "a"}), 599, 1095, "targetlbvserver or targetvserver")
    api.fails(api.add("csaction", {"name": "a", "targetlbvserver": "pool", "targetvserver": "auth"}),
              599, 1092, "targetlbvserver, targetvserver")
    api.fails(api.add("csaction", {"name": "a", "targetvserver": "nope"}), 599, 258, "targetvserver, nope")
    api.must_add("csaction", {"name": "a", "targetvserver": "auth"})
    assert api.one("csaction", "a")["targetvserver"] == "auth"
    api.fails(api.delete("authenticationvserver", "auth"), 599, 315, "csaction a")
    api.fails(api.update("csaction", {"name": "a", "targetlbvserver": "pool"}), 599, 1092)
