"""Lab ADC contract for policies in use: rewrite/responder/authentication bindings and their
aggregates, referential integrity (policies, actions, limits, AAA references from vservers),
and expression checking (a bad expression is refused with its position, nothing stored)."""

from __future__ import annotations

import pytest

LB = {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}
CS = {"name": "front", "servicetype": "HTTP", "ipv46": "10.0.0.20", "port": 80}
RESPOND_429 = '"HTTP/1.1 429 Too Many Requests\\r\\n\\r\\n"'
OAUTH = {"name": "idp", "tokenendpoint": "https://idp.example.test/token", "clientid": "adcml",
         "clientsecret": "s3cr3t", "certendpoint": "https://idp.example.test/jwks"}
DONE = {"errorcode": 0, "message": "Done", "severity": "NONE"}


@pytest.fixture
def policies(api):
    """Vservers ``web`` (LB) and ``front`` (CS); rewrite policy ``inject`` and responder policy
    ``deny`` with their actions; nothing bound."""
    api.must_add("lbvserver", LB)
    api.must_add("csvserver", CS)
    api.must_add("rewriteaction", {"name": "inject-key", "type": "insert_http_header",
                                   "target": "X-Api-Key", "stringbuilderexpr": '"k-123"'})
    api.must_add("rewritepolicy", {"name": "inject", "rule": "true", "action": "inject-key"})
    api.must_add("responderaction", {"name": "too-many", "type": "respondwith", "target": RESPOND_429})
    api.must_add("responderpolicy", {"name": "deny", "rule": 'HTTP.REQ.URL.PATH.STARTSWITH("/admin")',
                                     "action": "too-many"})
    return api


@pytest.fixture
def aaa(api):
    """An authentication vserver ``auth`` with policy ``bearer`` (OAuth action ``idp``)."""
    api.must_add("authenticationvserver", {"name": "auth", "servicetype": "SSL"})
    api.must_add("authenticationoauthaction", OAUTH)
    api.must_add("authenticationpolicy", {"name": "bearer", "action": "idp",
                                          "rule": 'HTTP.REQ.HEADER("Authorization").EXISTS'})
    return api


def bound(api, resource: str, name: str) -> list[dict]:
    return api.ok(api.get(resource, name)).get(resource, [])


VSERVER_POLICY = [("lbvserver", "web", "rewritepolicy", "inject"),
                  ("lbvserver", "web", "responderpolicy", "deny"),
                  ("csvserver", "front", "rewritepolicy", "inject"),
                  ("csvserver", "front", "responderpolicy", "deny")]


@pytest.mark.parametrize("parent, vs, kind, policy", VSERVER_POLICY)
def test_policy_binding_life(policies, parent, vs, kind, policy):
    api, resource = policies, f"{parent}_{kind}_binding"
    body = {"name": vs, "policyname": policy, "priority": 100}
    api.ok(api.bind(resource, body, "POST"), 201)
    [got] = bound(api, resource, vs)
    assert got == {"name": vs, "policyname": policy, "priority": "100",
                   "gotopriorityexpression": "END", "bindpoint": "REQUEST", "invoke": False}
    api.fails(api.bind(resource, body, "PUT"), 409, 273, vs, policy)
    api.fails(api.bind(resource, {**body, "priority": 200}), 409, 273)  # changes: unbind + bind
    [entry] = api.ok(api.get(f"{parent}_binding", vs))[f"{parent}_binding"]
    assert entry[resource] == [got]

    api.fails(api.delete(kind, policy), 599, 315, f"used by {resource} {vs}")
    api.ok(api.delete(resource, vs, policyname=policy))
    assert api.ok(api.get(resource, vs)) == DONE
    api.fails(api.delete(resource, vs, policyname=policy), 404, 258, policy)
    api.ok(api.bind(resource, {**body, "gotopriorityexpression": "next"}, "PUT"), 200)
    assert bound(api, resource, vs)[0]["gotopriorityexpression"] == "NEXT"
    api.ok(api.delete(parent, vs))  # the vserver takes its bindings with it
    api.ok(api.delete(kind, policy))


@pytest.mark.parametrize("parent, vs, kind, policy", VSERVER_POLICY[:2])
@pytest.mark.parametrize("body, status, code, fragment", [
    ({"name": "nope", "policyname": "{policy}", "priority": 1}, 599, 258, "nope"),
    ({"name": "{vs}", "policyname": "nope", "priority": 1}, 599, 2054, "nope"),
    ({"name": "{vs}", "policyname": "{policy}"}, 599, 1095, "priority"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 0}, 599, 1097, "priority"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 1, "bindpoint": "SIDEWAYS"}, 599, 1097,
     "bindpoint"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 1, "gotopriorityexpression": "NEXT("},
     599, 1097, "gotopriorityexpression, expression error at position"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 1, "labeltype": "reqvserver",
      "labelname": "web"}, 599, 1093, "labeltype, needs invoke"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 1, "invoke": True}, 599, 1095,
     "labeltype"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 1, "invoke": True,
      "labeltype": "policylabel", "labelname": "chain"}, 599, 3087, "chain"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 1, "invoke": True,
      "labeltype": "reqvserver", "labelname": "nope"}, 599, 258, "nope"),
    ({"name": "{vs}", "policyname": "{policy}", "priority": 1, "flavour": "x"}, 599, 278, "flavour"),
])
def test_policy_binding_refusals(policies, parent, vs, kind, policy, body, status, code, fragment):
    resource = f"{parent}_{kind}_binding"
    body = {k: v.format(vs=vs, policy=policy) if isinstance(v, str) else v for k, v in body.items()}
    policies.fails(policies.bind(resource, body), status, code, fragment)
    assert policies.ok(policies.get(resource, vs)) == DONE


def test_responder_binds_at_request_only_and_rewrite_at_either(policies):
    base = {"name": "web", "priority": 10, "bindpoint": "RESPONSE"}
    policies.fails(policies.bind("lbvserver_responderpolicy_binding", {**base, "policyname": "deny"}),
                   599, 1097, "bindpoint")
    policies.ok(policies.bind("lbvserver_rewritepolicy_binding", {**base, "policyname": "inject"}))
    assert bound(policies, "lbvserver_rewritepolicy_binding", "web")[0]["bindpoint"] == "RESPONSE"


def test_invoking_another_vservers_policy_bank(policies):
    policies.must_add("lbvserver", {**LB, "name": "bank", "port": 81})
    body = {"name": "web", "policyname": "deny", "priority": 10, "invoke": True,
            "labeltype": "reqvserver", "labelname": "bank"}
    policies.must_add("lbvserver_responderpolicy_binding", body)
    [got] = bound(policies, "lbvserver_responderpolicy_binding", "web")
    assert (got["invoke"], got["labeltype"], got["labelname"]) == (True, "reqvserver", "bank")


def test_an_action_cannot_go_while_a_policy_uses_it(policies):
    policies.fails(policies.delete("rewriteaction", "inject-key"), 599, 315, "rewritepolicy inject")
    policies.fails(policies.delete("responderaction", "too-many"), 599, 315, "responderpolicy deny")
    policies.must_add("auditmessageaction", {"name": "log", "loglevel": "NOTICE",
                                             "stringbuilderexpr": '"hit " + HTTP.REQ.URL'})
    policies.ok(policies.update("rewritepolicy", {"name": "inject", "logaction": "log"}))
    policies.fails(policies.delete("auditmessageaction", "log"), 599, 315, "rewritepolicy inject")
    policies.fails(policies.update("responderpolicy", {"name": "deny", "logaction": "nope"}),
                   599, 258, "logaction, nope")
    policies.fails(policies.update("rewritepolicy", {"name": "inject", "action": "nope"}),
                   599, 538, "action, nope")
    assert policies.one("rewritepolicy", "inject")["action"] == "inject-key"
    policies.ok(policies.delete("rewritepolicy", "inject"))
    policies.ok(policies.delete("rewriteaction", "inject-key"))


def test_renaming_a_bound_policy_follows_its_bindings(policies):
    policies.must_add("lbvserver_rewritepolicy_binding", {"name": "web", "policyname": "inject",
                                                          "priority": 5})
    policies.ok(policies.act("rewritepolicy", "rename", {"name": "inject", "newname": "inject2"}))
    [got] = bound(policies, "lbvserver_rewritepolicy_binding", "web")
    assert got["policyname"] == "inject2"
    policies.ok(policies.delete("lbvserver_rewritepolicy_binding", "web", policyname="inject2"))


# --- AAA ------------------------------------------------------------------------------------
def test_authentication_binding_uses_policy_not_policyname(aaa):
    resource = "authenticationvserver_authenticationpolicy_binding"
    aaa.fails(aaa.bind(resource, {"name": "auth", "policyname": "bearer", "priority": 10}),
              599, 278, "policyname")
    aaa.ok(aaa.bind(resource, {"name": "auth", "policy": "bearer", "priority": 10}, "POST"), 201)
    [got] = bound(aaa, resource, "auth")
    assert got == {"name": "auth", "policy": "bearer", "priority": "10",
                   "gotopriorityexpression": "END"}
    [entry] = aaa.ok(aaa.get("authenticationvserver_binding", "auth"))["authenticationvserver_binding"]
    assert entry == {"name": "auth", resource: [got]}
    aaa.fails(aaa.bind(resource, {"name": "auth", "policy": "bearer", "priority": 20}), 409, 273)
    aaa.fails(aaa.delete("authenticationpolicy", "bearer"), 599, 315, f"{resource} auth")
    aaa.fails(aaa.delete("authenticationoauthaction", "idp"), 599, 315, "authenticationpolicy bearer")
    aaa.ok(aaa.delete(resource, "auth", policy="bearer"))
    aaa.ok(aaa.delete("authenticationpolicy", "bearer"))
    aaa.ok(aaa.delete("authenticationoauthaction", "idp"))


@pytest.mark.parametrize("body, code, fragment", [
    ({"name": "nope", "policy": "bearer", "priority": 1}, 258, "nope"),
    ({"name": "auth", "policy": "nope", "priority": 1}, 2054, "nope"),
    ({"name": "auth", "policy": "bearer", "priority": 1, "nextfactor": "otp"}, 3087, "otp"),
])
def test_authentication_binding_refusals(aaa, body, code, fragment):
    resource = "authenticationvserver_authenticationpolicy_binding"
    aaa.fails(aaa.bind(resource, body), 599, code, fragment)
    assert aaa.ok(aaa.get(resource, "auth")) == DONE


def test_vservers_reference_real_authentication_objects(aaa):
    aaa.fails(aaa.add("lbvserver", {**LB, "authn401": "ON", "authnvsname": "nope"}), 599, 258,
              "authnvsname, nope")
    aaa.fails(aaa.add("csvserver", {**CS, "authnprofile": "nope"}), 599, 258, "authnprofile, nope")
    assert aaa.all("lbvserver") == [] and aaa.all("csvserver") == []
    aaa.must_add("authenticationauthnprofile", {"name": "api", "authnvsname": "auth"})
    aaa.must_add("lbvserver", {**LB, "authn401": "ON", "authnvsname": "auth"})
    aaa.must_add("csvserver", {**CS, "authentication": "ON", "authnprofile": "api"})
    aaa.fails(aaa.delete("authenticationauthnprofile", "api"), 599, 315, "csvserver front")
    aaa.fails(aaa.delete("authenticationvserver", "auth"), 599, 315)
    aaa.ok(aaa.act("authenticationvserver", "rename", {"name": "auth", "newname": "auth2"}))
    assert aaa.one("lbvserver", "web")["authnvsname"] == "auth2"
    assert aaa.one("authenticationauthnprofile", "api")["authnvsname"] == "auth2"
    aaa.fails(aaa.update("lbvserver", {"name": "web", "authnvsname": "auth"}), 599, 258, "auth")


def test_an_authentication_vserver_is_an_ssl_vserver(api):
    api.must_add("authenticationvserver", {"name": "auth", "ipv46": "10.0.0.30", "port": 443})
    got = api.one("authenticationvserver", "auth")
    assert (got["servicetype"], got["port"], got["curstate"]) == ("SSL", 443, "DOWN")  # no cert
    assert api.one("sslvserver", "auth")["vservername"] == "auth"
    api.fails(api.update("authenticationvserver", {"name": "auth", "port": 8443}), 599, 278, "port")
    api.ok(api.act("authenticationvserver", "disable", {"name": "auth"}))
    assert api.one("authenticationvserver", "auth")["curstate"] == "OUT OF SERVICE"
    api.ok(api.delete("authenticationvserver", "auth"))
    api.fails(api.get("sslvserver", "auth"), 404, 461)


def test_an_authentication_vserver_with_a_certificate_is_up(api, ca):
    issued = ca.issue("auth.example.test")
    api.ok(api.upload("auth.pem", issued.cert_pem), 201)
    api.ok(api.upload("auth.key", issued.key_pem), 201)
    api.must_add("sslcertkey", {"certkey": "auth", "cert": "auth.pem", "key": "auth.key"})
    api.must_add("authenticationvserver", {"name": "auth", "ipv46": "10.0.0.30", "port": 443})
    api.must_add("sslvserver_sslcertkey_binding", {"vservername": "auth", "certkeyname": "auth"})
    assert api.one("authenticationvserver", "auth")["curstate"] == "UP"


# --- expressions ----------------------------------------------------------------------------
BAD_RULE = 'HTTP.REQ.URL.PATH.STARTSWITH("/v1"'  # the ')' is missing at position 34


@pytest.mark.parametrize("resource, body, attr, position", [
    ("cspolicy", {"policyname": "p", "rule": BAD_RULE}, "rule", 34),
    ("rewritepolicy", {"name": "p", "rule": BAD_RULE, "action": "NOREWRITE"}, "rule", 34),
    ("responderpolicy", {"name": "p", "rule": BAD_RULE, "action": "NOOP"}, "rule", 34),
    ("auditsyslogpolicy", {"name": "p", "rule": BAD_RULE, "action": "siem"}, "rule", 34),
    ("authenticationpolicy", {"name": "p", "rule": BAD_RULE, "action": "idp"}, "rule", 34),
    ("responderpolicy", {"name": "p", "rule": "HTTP.REQ.URL", "action": "NOOP"}, "rule", 0),
    ("streamselector", {"name": "s", "rule": ["CLIENT.IP.SRC", "HTTP.REQ.URL.("]}, "rule[1]", 13),
    ("rewriteaction", {"name": "a", "type": "insert_http_header", "target": "X-Key",
                       "stringbuilderexpr": '"Bearer abc" +'}, "stringbuilderexpr", 14),
    ("rewriteaction", {"name": "a", "type": "replace", "target": "HTTP.REQ.URL.PATH(",
                       "stringbuilderexpr": '"/v2"'}, "target", 17),
    ("responderaction", {"name": "a", "type": "respondwith", "target": "true"}, "target", 0),
    ("responderaction", {"name": "a", "type": "redirect", "target": '"https://" + '}, "target", 13),
    ("responderaction", {"name": "a", "type": "respondwith", "target": '"x"',
                         "reasonphrase": '"Slow down'}, "reasonphrase", 0),
    ("auditmessageaction", {"name": "a", "loglevel": "NOTICE", "stringbuilderexpr": "HTTP.REQ.("},
     "stringbuilderexpr", 9),
])
def test_a_bad_expression_is_refused_with_its_position(api, resource, body, attr, position):
    api.must_add("auditsyslogaction", {"name": "siem", "serverip": "10.0.5.1", "loglevel": ["ALL"]})
    api.must_add("authenticationoauthaction", OAUTH)
    message = api.fails(api.add(resource, body), 599, 1097,
                        f"{attr}, expression error at position {position}")["message"]
    assert message.startswith("Invalid argument value [")
    assert api.all(resource) == []


def test_a_bad_expression_in_an_update_changes_nothing(policies):
    policies.fails(policies.update("responderpolicy", {"name": "deny", "rule": BAD_RULE}), 599, 1097,
                   "rule, expression error at position 34")
    assert policies.one("responderpolicy", "deny")["rule"] == 'HTTP.REQ.URL.PATH.STARTSWITH("/admin")'
    policies.fails(policies.update("rewriteaction", {"name": "inject-key", "stringbuilderexpr": '"k-'}),
                   599, 1097, "stringbuilderexpr")
    assert policies.one("rewriteaction", "inject-key")["stringbuilderexpr"] == '"k-123"'


def test_an_error_in_a_string_builder_does_not_echo_its_text(api):
    body = {"name": "a", "type": "insert_http_header", "target": "Authorization",
            "stringbuilderexpr": '"Bearer tok-9f8e7d" + HTTP.REQ.NOPE'}
    message = api.fails(api.add("rewriteaction", body), 599, 1097, "stringbuilderexpr")["message"]
    assert "tok-9f8e7d" not in message


def test_check_limit_needs_an_existing_limit_identifier(api):
    rule = 'HTTP.REQ.URL.PATH.STARTSWITH("/v1") && SYS.CHECK_LIMIT("burst")'
    api.fails(api.add("responderpolicy", {"name": "limit", "rule": rule, "action": "DROP"}),
              599, 258, "limitidentifier burst")
    api.must_add("nslimitidentifier", {"limitidentifier": "burst", "threshold": 10})
    api.must_add("responderpolicy", {"name": "limit", "rule": rule, "action": "DROP"})
    api.fails(api.delete("nslimitidentifier", "burst"), 599, 315, "responderpolicy limit")
    misplaced = 'SYS.CHECK_LIMIT("burst") && HTTP.REQ.URL.PATH.STARTSWITH("/v1")'
    api.fails(api.update("responderpolicy", {"name": "limit", "rule": misplaced}), 599, 1097,
              "rule, expression error at position 0")
    api.ok(api.update("responderpolicy", {"name": "limit", "rule": "true"}))
    api.ok(api.delete("nslimitidentifier", "burst"))


def test_a_stream_selector_in_use_stays(api):
    api.must_add("streamselector", {"name": "per-client", "rule": ["CLIENT.IP.SRC"]})
    api.must_add("nslimitidentifier", {"limitidentifier": "burst", "selectorname": "per-client"})
    api.fails(api.delete("streamselector", "per-client"), 599, 315, "nslimitidentifier burst")
