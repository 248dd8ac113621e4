"""Lab ADC contract for integrated caching: content groups (built-in ones, one expiry, limits),
cache policies (rule checked when written, content groups that must exist), their vserver
bindings, integrity, feature warnings, flush, and ``stat cachecontentgroup`` / ``stat cache``
(zero without traffic; counted from traffic in test_dataplane_cache)."""

from __future__ import annotations

import pytest

from adcml.resources.catalog_cache import CACHE_RESOURCES

GROUP = {"name": "models", "relexpiry": 60, "maxressize": 256, "memlimit": 64}
POLICY = {"policyname": "models", "rule": 'HTTP.REQ.METHOD.EQ(GET) && HTTP.REQ.URL.PATH.STARTSWITH("/v1")',
          "action": "cache", "storeingroup": "models"}
LB = {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}
CS = {"name": "front", "servicetype": "HTTP", "ipv46": "10.0.0.20", "port": 80}
DONE = {"errorcode": 0, "message": "Done", "severity": "NONE"}


@pytest.fixture
def cached(api):
    """Content group ``models`` and cache policy ``models`` storing into it; nothing bound."""
    api.must_add("cachecontentgroup", GROUP)
    api.must_add("cachepolicy", POLICY)
    return api


def test_every_cache_resource_is_covered():
    tested = {"cacheselector", "cachecontentgroup", "cachepolicy", "lbvserver_cachepolicy_binding",
              "csvserver_cachepolicy_binding"}
    assert tested == {r.name for r in CACHE_RESOURCES}


def test_life_of_a_content_group(api):
    api.ok(api.add("cachecontentgroup", GROUP), 201)
    api.fails(api.add("cachecontentgroup", GROUP), 409, 273, "name, models")
    got = api.one("cachecontentgroup", "models")
    assert got == {"name": "models", "relexpiry": "60", "maxressize": "256", "memlimit": "64",
                   "minressize": "0", "polleverytime": "NO", "ignorereqcachinghdrs": "YES",
                   "insertage": "YES", "removecookies": "YES", "type": "HTTP"}
    api.ok(api.update("cachecontentgroup", {"name": "models", "relexpiry": 300, "maxressize": 512}))
    got = api.one("cachecontentgroup", "models")
    assert (got["relexpiry"], got["maxressize"]) == ("300", "512")
    api.ok(api.act("cachecontentgroup", "unset", {"name": "models", "relexpiry": True}))
    assert "relexpiry" not in api.one("cachecontentgroup", "models")
    api.ok(api.delete("cachecontentgroup", "models"))
    api.fails(api.get("cachecontentgroup", "models"), 404, 258, "name, models")
    api.fails(api.delete("cachecontentgroup", "models"), 404, 258, "name, models")
    api.fails(api.update("cachecontentgroup", GROUP), 404, 258, "name, models")


def test_life_of_a_cache_selector(api):
    selector = {"selectorname": "bodies", "rule": ["HTTP.REQ.URL", "HTTP.REQ.BODY(4096)"]}
    api.ok(api.add("cacheselector", selector), 201)
    api.fails(api.add("cacheselector", selector), 409, 273, "bodies")
    assert api.one("cacheselector", "bodies") == selector
    for rule, fragment in (([], "one to 5"), (["HTTP.REQ.URL"] * 6, "one to 5"),
                           (["HTTP.REQ.BODY(0)"], "BODY(n) needs n >= 1")):
        api.fails(api.add("cacheselector", {"selectorname": "bad", "rule": rule}), 599, 1097, fragment)
    api.fails(api.get("cacheselector", "bad"), 404, 258)
    api.fails(api.add("cachecontentgroup", {"name": "g", "hitselector": "missing"}), 599, 258, "missing")
    api.must_add("cachecontentgroup", {"name": "g", "hitselector": "bodies"})
    assert api.one("cachecontentgroup", "g")["hitselector"] == "bodies"
    api.fails(api.delete("cacheselector", "bodies"), 599, 315, "cachecontentgroup g")
    api.ok(api.update("cacheselector", {"selectorname": "bodies", "rule": ["HTTP.REQ.BODY(100)"]}))
    assert api.one("cacheselector", "bodies")["rule"] == ["HTTP.REQ.BODY(100)"]
    api.ok(api.delete("cachecontentgroup", "g"))
    api.ok(api.delete("cacheselector", "bodies"))
    api.fails(api.delete("cacheselector", "bodies"), 404, 258)


def test_built_in_content_groups_exist_and_stay(api):
    names = {r["name"] for r in api.all("cachecontentgroup")}
    assert names == {"DEFAULT", "BASEFILE", "DELTAJS"}
    for name in names:
        api.fails(api.delete("cachecontentgroup", name), 599, 257, name, "built-in")
    api.ok(api.update("cachecontentgroup", {"name": "DEFAULT", "relexpiry": 30}))
    assert api.one("cachecontentgroup", "DEFAULT")["relexpiry"] == "30"
    api.fails(api.add("cachecontentgroup", {"name": "DEFAULT"}), 409, 273, "DEFAULT")


def test_one_way_of_expiry_at_a_time(api):
    api.fails(api.add("cachecontentgroup", {**GROUP, "relexpirymillisec": 500}), 599, 1092,
              "relexpiry", "relexpirymillisec")
    api.must_add("cachecontentgroup", GROUP)
    api.ok(api.update("cachecontentgroup", {"name": "models", "relexpirymillisec": 500}))
    got = api.one("cachecontentgroup", "models")
    assert got["relexpirymillisec"] == "500" and "relexpiry" not in got


@pytest.mark.parametrize("obj, code, fragment", [
    ({**GROUP, "relexpiry": 31536001}, 1097, "relexpiry"),
    ({**GROUP, "maxressize": -1}, 1097, "maxressize"),
    ({**GROUP, "type": "FTP"}, 1097, "type"),
    ({**GROUP, "polleverytime": "sometimes"}, 1097, "polleverytime"),
    ({**GROUP, "hitselector": "sel"}, 258, "hitselector, sel"),  # no such selector
    ({**GROUP, "hitparams": ["q"]}, 278, "hitparams"),  # parameterized hits are not emulated
    ({"name": "bad/name"}, 1097, "name"),
])
def test_invalid_content_groups_are_refused(api, obj, code, fragment):
    api.fails(api.add("cachecontentgroup", obj), 599, code, fragment)
    assert {r["name"] for r in api.all("cachecontentgroup")} == {"DEFAULT", "BASEFILE", "DELTAJS"}


def test_type_of_a_content_group_cannot_change(api):
    api.must_add("cachecontentgroup", GROUP)
    api.fails(api.update("cachecontentgroup", {"name": "models", "type": "MYSQL"}), 599, 278, "type")
    api.ok(api.update("cachecontentgroup", {"name": "models", "type": "http"}))


def test_life_of_a_cache_policy(cached):
    api = cached
    got = api.one("cachepolicy", "models")
    assert {k: got[k] for k in ("rule", "action", "storeingroup")} == {
        "rule": POLICY["rule"], "action": "CACHE", "storeingroup": "models"}
    api.fails(api.add("cachepolicy", POLICY), 409, 273, "policyname, models")
    api.ok(api.update("cachepolicy", {"policyname": "models", "action": "may_cache",
                                      "rule": "HTTP.REQ.METHOD.EQ(HEAD)", "undefaction": "reset"}))
    got = api.one("cachepolicy", "models")
    assert (got["action"], got["rule"], got["undefaction"]) == (
        "MAY_CACHE", "HTTP.REQ.METHOD.EQ(HEAD)", "RESET")
    api.ok(api.act("cachepolicy", "rename", {"policyname": "models", "newname": "models-v2"}))
    api.ok(api.delete("cachepolicy", "models-v2"))
    api.fails(api.get("cachepolicy", "models-v2"), 404, 2054, "policyname, models-v2")
    api.fails(api.delete("cachepolicy", "models-v2"), 404, 2054, "models-v2")


@pytest.mark.parametrize("obj, code, fragment", [
    ({**POLICY, "storeingroup": "nope"}, 258, "storeingroup, nope"),
    ({**POLICY, "rule": "HTTP.REQ.METHOD.EQ(GET) &&"}, 1097, "rule, expression error at position 26"),
    ({**POLICY, "rule": "HTTP.REQ.URL"}, 1097, "rule, expression error at position 0"),
    ({**POLICY, "action": "STORE"}, 1097, "action"),
    ({"policyname": "p", "rule": "true"}, 1095, "action"),
    ({"policyname": "p", "rule": "true", "action": "INVAL"}, 1095, "invalgroups, needed by action INVAL"),
    ({"policyname": "p", "rule": "true", "action": "INVAL", "invalgroups": ["nope"]}, 258, "nope"),
    ({**POLICY, "undefaction": "CACHE"}, 1097, "undefaction"),
])
def test_invalid_cache_policies_are_refused_and_nothing_is_stored(cached, obj, code, fragment):
    api = cached
    api.ok(api.delete("cachepolicy", "models"))
    api.fails(api.add("cachepolicy", obj), 599, code, fragment)
    assert api.all("cachepolicy") == []


def test_a_rule_error_on_update_keeps_the_old_rule(cached):
    api = cached
    api.fails(api.update("cachepolicy", {"policyname": "models", "rule": 'HTTP.REQ.URL.EQ("/x"'}),
              599, 1097, "rule, expression error at position")
    assert api.one("cachepolicy", "models")["rule"] == POLICY["rule"]


def test_a_content_group_in_use_cannot_be_removed(cached):
    api = cached
    api.fails(api.delete("cachecontentgroup", "models"), 599, 315, "used by cachepolicy models")
    api.must_add("cachecontentgroup", {"name": "stale"})
    api.must_add("cachepolicy", {"policyname": "refresh", "rule": "HTTP.REQ.METHOD.EQ(POST)",
                                 "action": "INVAL", "invalgroups": ["stale", "models"]})
    api.fails(api.delete("cachecontentgroup", "stale"), 599, 315, "cachepolicy refresh")
    api.ok(api.delete("cachepolicy", "refresh"))
    api.ok(api.delete("cachecontentgroup", "stale"))


def test_a_policy_without_a_group_stores_in_default(api):
    api.must_add("cachepolicy", {"policyname": "p", "rule": "true", "action": "CACHE"})
    assert "storeingroup" not in api.one("cachepolicy", "p")
    api.fails(api.delete("cachecontentgroup", "DEFAULT"), 599, 257)


@pytest.mark.parametrize("parent, body", [("lbvserver", LB), ("csvserver", CS)])
def test_cache_policy_binding_life(cached, parent, body):
    api, resource, vs = cached, f"{parent}_cachepolicy_binding", body["name"]
    api.must_add(parent, body)
    binding = {"name": vs, "policyname": "models", "priority": 100}
    api.ok(api.bind(resource, binding, "POST"), 201)
    [got] = api.ok(api.get(resource, vs))[resource]
    assert got == {"name": vs, "policyname": "models", "priority": "100",
                   "gotopriorityexpression": "END", "bindpoint": "REQUEST", "invoke": False}
    api.fails(api.bind(resource, binding, "PUT"), 409, 273, vs, "models")
    [entry] = api.ok(api.get(f"{parent}_binding", vs))[f"{parent}_binding"]
    assert entry[resource] == [got]
    api.fails(api.delete("cachepolicy", "models"), 599, 315, f"used by {resource} {vs}")
    api.ok(api.delete(resource, vs, policyname="models"))
    assert api.ok(api.get(resource, vs)) == DONE
    api.fails(api.delete(resource, vs, policyname="models"), 404, 258, "models")
    api.ok(api.bind(resource, {**binding, "bindpoint": "response", "gotopriorityexpression": "next"}))
    got = api.ok(api.get(resource, vs))[resource][0]
    assert (got["bindpoint"], got["gotopriorityexpression"]) == ("RESPONSE", "NEXT")
    api.ok(api.delete(parent, vs))  # the vserver takes its bindings with it
    api.ok(api.delete("cachepolicy", "models"))


@pytest.mark.parametrize("body, status, code, fragment", [
    ({"name": "nope", "policyname": "models", "priority": 1}, 599, 258, "nope"),
    ({"name": "web", "policyname": "nope", "priority": 1}, 599, 2054, "nope"),
    ({"name": "web", "policyname": "models"}, 599, 1095, "priority"),
    ({"name": "web", "policyname": "models", "priority": 1, "bindpoint": "MQTT"}, 599, 1097, "bindpoint"),
    ({"name": "web", "policyname": "models", "priority": 1, "type": "REQUEST"}, 599, 278, "type"),
])
def test_invalid_bindings_are_refused(cached, body, status, code, fragment):
    api = cached
    api.must_add("lbvserver", LB)
    api.fails(api.bind("lbvserver_cachepolicy_binding", body, "POST"), status, code, fragment)
    assert api.ok(api.get("lbvserver_cachepolicy_binding", "web")) == DONE


@pytest.mark.parametrize("resource, obj", [
    ("cachecontentgroup", GROUP), ("cachepolicy", {**POLICY, "storeingroup": "DEFAULT"}),
])
def test_feature_warnings_name_ic(api, resource, obj):
    response = api.add(resource, obj, "?warning=yes")
    api.ok(response, 209)
    assert response.headers["X-NITRO-WARNING"] == "1067 - Feature(s) not enabled [IC]"
    api.enable("IC")
    assert api.ok(api.get("nsfeature"))["nsfeature"]["ic"] is True
    api.ok(api.update(resource, {k: v for k, v in obj.items() if k != "storeingroup"}), 200)


def test_stats_without_traffic_are_zero(cached, nitro):
    api = cached
    base = str(nitro.base_url).rstrip("/").removesuffix("/config")  # .../nitro/v1
    [row] = api.ok(nitro.get(f"{base}/stat/cachecontentgroup/models"))["cachecontentgroup"]
    assert row == {"name": "models", "groupnon304hit": "0", "group304hit": "0", "totcell": "0",
                   "totmarkercell": "0", "timesflushed": "0", "totmemory": "0",
                   "maxmemory": str(64 * 1024)}
    every = api.ok(nitro.get(f"{base}/stat/cachecontentgroup"))["cachecontentgroup"]
    assert {r["name"] for r in every} == {"models", "DEFAULT", "BASEFILE", "DELTAJS"}
    api.fails(nitro.get(f"{base}/stat/cachecontentgroup/nope"), 404, 258, "nope")
    totals = api.ok(nitro.get(f"{base}/stat/cache"))["cache"]
    assert isinstance(totals, dict)
    assert (totals["cachetothits"], totals["cachetotmisses"], totals["cachenumcached"]) == ("0", "0", "0")


def test_flush_and_expire_a_content_group(cached):
    api = cached
    for action in ("flush", "expire"):
        api.ok(api.act("cachecontentgroup", action, {"name": "models"}))
        api.fails(api.act("cachecontentgroup", action, {"name": "nope"}), 404, 258, "nope")
    api.fails(api.act("cachepolicy", "flush", {"policyname": "models"}), 400, 1240)
