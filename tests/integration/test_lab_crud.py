"""Lab ADC contract: add, get, update, delete for every configurable resource of the schema,
and the validation every write goes through."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from adcml.resources import SCHEMA, ResourceKind
from adcml.resources.catalog_cache import CACHE_RESOURCES
from adcml.resources.catalog_security import SECURITY_RESOURCES

LB = {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}


@dataclass
class Case:
    """One resource's life: what to add, how it reads back, one change, its missing code."""

    resource: str
    obj: dict
    shown: dict  # attributes as GET returns them (subset)
    change: dict
    changed: dict  # the change as GET returns it
    missing: int
    needs: tuple[tuple[str, dict], ...] = ()
    delete_args: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        return SCHEMA[self.resource].key

    @property
    def name(self) -> str:
        return self.obj[self.key]


CASES = [
    Case("nspartition", {"partitionname": "tenant1", "maxconn": 2048},
         {"partitionname": "tenant1", "maxconn": "2048", "maxbandwidth": "10240"},
         {"maxmemlimit": 20}, {"maxmemlimit": "20"}, 258),
    Case("server", {"name": "db1", "ipaddress": "10.0.1.1"},
         {"name": "db1", "ipaddress": "10.0.1.1", "state": "ENABLED", "td": 0},
         {"comment": "primary"}, {"comment": "primary"}, 351),
    Case("server", {"name": "db-by-name", "domain": "db.example.test"},
         {"name": "db-by-name", "domain": "db.example.test"},
         {"state": "disabled"}, {"state": "DISABLED"}, 351),
    Case("lbvserver", {**LB, "lbmethod": "roundrobin"},
         {**LB, "lbmethod": "ROUNDROBIN", "persistencetype": "NONE", "timeout": "2",
          "clttimeout": 180, "state": "ENABLED", "curstate": "DOWN"},
         {"persistencetype": "COOKIEINSERT", "timeout": 30},
         {"persistencetype": "COOKIEINSERT", "timeout": "30"}, 258),
    Case("servicegroup", {"servicegroupname": "pool", "servicetype": "http", "maxclient": 10},
         {"servicegroupname": "pool", "servicetype": "HTTP", "maxclient": "10",
          "healthmonitor": "YES", "servicegroupeffectivestate": "UP", "monstate": "ENABLED",
          "state": "ENABLED"},
         {"usip": "yes", "svrtimeout": 60}, {"usip": "YES", "svrtimeout": 60}, 258),
    Case("lbmonitor", {"monitorname": "health", "type": "http", "httprequest": "GET /health"},
         {"monitorname": "health", "type": "HTTP", "interval": "5", "units3": "SEC",
          "resptimeout": "2", "downtime": "30", "retries": "3"},
         {"respcode": ["200-299"], "retries": 5}, {"respcode": ["200-299"], "retries": "5"},
         258, delete_args={"type": "HTTP"}),
    Case("csvserver", {"name": "front", "servicetype": "SSL", "ipv46": "10.0.0.20", "port": 443},
         {"name": "front", "servicetype": "SSL", "port": 443, "curstate": "UP"},
         {"comment": "edge"}, {"comment": "edge"}, 258),
    Case("csaction", {"name": "to-web", "targetlbvserver": "web"},
         {"name": "to-web", "targetlbvserver": "web"},
         {"comment": "route"}, {"comment": "route"}, 258, needs=(("lbvserver", LB),)),
    Case("cspolicy", {"policyname": "v1", "rule": 'HTTP.REQ.URL.PATH.STARTSWITH("/v1")'},
         {"policyname": "v1", "rule": 'HTTP.REQ.URL.PATH.STARTSWITH("/v1")'},
         {"rule": "true"}, {"rule": "true"}, 2054),
    Case("sslprofile", {"name": "modern", "tls1": "disabled"},
         {"name": "modern", "sslprofiletype": "FrontEnd", "tls1": "DISABLED",
          "sesstimeout": "120", "sessreuse": "ENABLED"},
         {"tls13": "ENABLED", "sesstimeout": 300}, {"tls13": "ENABLED", "sesstimeout": "300"},
         3248),
]

# Resources whose life is tested in other modules (files and certificates, bindings,
# implicit SSL objects, singletons).
ELSEWHERE = {
    "systemfile": "test_lab_ssl", "sslcertkey": "test_lab_ssl",
    "sslvserver": "test_lab_ssl", "sslservicegroup": "test_lab_ssl",
    "sslvserver_sslcertkey_binding": "test_lab_ssl",
    "dnsaddrec": "test_lab_endpoint_objects",
    "nsversion": "test_lab_system", "nsconfig": "test_lab_system", "nsfeature": "test_lab_system",
    **{r.name: "test_lab_security_crud" for r in SECURITY_RESOURCES},
    **{r.name: "test_lab_cache" for r in CACHE_RESOURCES},
}


def test_every_resource_of_the_schema_is_covered():
    bindings = {name for name, res in SCHEMA.items() if res.kind is ResourceKind.BINDING}
    covered = {c.resource for c in CASES} | set(ELSEWHERE) | bindings
    assert covered == set(SCHEMA)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.resource}-{c.name}")
def test_life_of_an_object(api, case: Case):
    for resource, obj in case.needs:
        api.must_add(resource, obj)
    api.ok(api.add(case.resource, case.obj), 201)
    api.fails(api.add(case.resource, case.obj), 409, 273, f"{case.key}, {case.name}")

    got = api.one(case.resource, case.name)
    assert {k: got.get(k) for k in case.shown} == case.shown
    listed = api.all(case.resource)
    assert [r for r in listed if r[case.key] == case.name] == [got]

    api.ok(api.update(case.resource, {case.key: case.name, **case.change}))
    got = api.one(case.resource, case.name)
    assert {k: got.get(k) for k in case.changed} == case.changed
    api.ok(api.update(case.resource, case.change, name=case.name))  # the name in the path only

    api.ok(api.delete(case.resource, case.name, **case.delete_args))
    missing = f"{case.key}, {case.name}"
    api.fails(api.get(case.resource, case.name), 404, case.missing, missing)
    api.fails(api.delete(case.resource, case.name, **case.delete_args), 404, case.missing)
    api.fails(api.update(case.resource, {case.key: case.name, **case.change}), 404,
              case.missing, missing)
    assert [r for r in api.all(case.resource) if r[case.key] == case.name] == []


def test_get_all_is_always_a_list(api):
    api.must_add("lbvserver", LB)
    body = api.ok(api.get("lbvserver"))
    assert isinstance(body["lbvserver"], list) and len(body["lbvserver"]) == 1
    empty = api.ok(api.get("csvserver"))
    assert empty.get("csvserver", []) == []


def test_wire_forms_numbers_strings_ports_ints_enums_upper(api):
    api.must_add("lbvserver", {**LB, "lbmethod": "leastresponsetime", "timeout": "7",
                               "clttimeout": "90"})
    got = api.one("lbvserver", "web")
    assert got["port"] == 80 and got["clttimeout"] == 90 and got["td"] == 0
    assert got["timeout"] == "7"
    assert got["lbmethod"] == "LEASTRESPONSETIME"
    assert got["ipv46"] == "10.0.0.10"


def test_a_non_addressable_vserver_reports_zero_address_and_port(api):
    api.must_add("lbvserver", {"name": "inner", "servicetype": "HTTP"})
    got = api.one("lbvserver", "inner")
    assert (got["ipv46"], got["port"]) == ("0.0.0.0", 0)


@pytest.mark.parametrize("resource, obj, attr, value", [
    ("lbvserver", LB, "servicetype", "TCP"),
    ("lbvserver", LB, "port", 8080),
    ("lbvserver", LB, "td", 3),
    ("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"}, "servicetype", "SSL"),
    ("sslprofile", {"name": "back"}, "sslprofiletype", "BackEnd"),
    ("lbmonitor", {"monitorname": "m", "type": "TCP"}, "type", "HTTP"),
])
def test_immutable_attributes_cannot_change(api, resource, obj, attr, value):
    key = SCHEMA[resource].key
    api.must_add(resource, obj)
    api.fails(api.update(resource, {key: obj[key], attr: value}), 599, 278, attr)
    before = api.one(resource, obj[key])
    same = before[attr]
    api.ok(api.update(resource, {key: obj[key], attr: same}))
    assert api.one(resource, obj[key]) == before


@pytest.mark.parametrize("verb", ["add", "update"])
def test_unknown_attribute_is_278_naming_it(api, verb):
    api.must_add("lbvserver", LB)
    body = {**LB, "name": "web2" if verb == "add" else "web", "frobnicate": 1}
    response = api.add("lbvserver", body) if verb == "add" else api.update("lbvserver", body)
    api.fails(response, 599, 278, "frobnicate")


def test_read_only_attribute_in_a_write_is_278(api):
    api.fails(api.add("lbvserver", {**LB, "curstate": "UP"}), 599, 278, "curstate")


@pytest.mark.parametrize("attr, value", [
    ("lbmethod", "FASTEST"), ("port", 70000), ("port", "eighty"), ("port", -1),
    ("timeout", 1441), ("ipv46", "999.1.1.1"), ("ipv46", "web.example"),
    ("state", True), ("servicetype", "GOPHER"), ("comment", "x" * 257), ("clttimeout", 1.5),
    ("persistencetype", ["NONE"]), ("name", {"nested": "object"}),
])
def test_wrong_type_choice_or_range_is_1097_naming_attribute_and_value(api, attr, value):
    body = {**LB, attr: value}
    message = api.fails(api.add("lbvserver", body), 599, 1097, attr)["message"]
    shown = str(value)[:20] if not isinstance(value, dict | list) else ""
    assert shown in message
    assert api.all("lbvserver") == []


@pytest.mark.parametrize("resource, obj, attr", [
    ("lbvserver", {"name": "web"}, "servicetype"),
    ("lbvserver", {"servicetype": "HTTP"}, "name"),
    ("servicegroup", {"servicegroupname": "pool"}, "servicetype"),
    ("csaction", {"name": "a"}, "targetlbvserver"),
    ("cspolicy", {"policyname": "p"}, "rule"),
    ("lbmonitor", {"monitorname": "m"}, "type"),
    ("server", {"name": "s"}, "ipaddress or domain"),
])
def test_required_attribute_missing_is_1095(api, resource, obj, attr):
    api.fails(api.add(resource, obj), 599, 1095, attr)


def test_update_without_a_name_is_1095(api):
    api.fails(api.update("lbvserver", {"comment": "who?"}), 599, 1095, "name")


def test_server_with_both_ip_and_domain_is_1092(api):
    body = {"name": "s", "ipaddress": "10.0.0.1", "domain": "s.example.test"}
    api.fails(api.add("server", body), 599, 1092, "ipaddress", "domain")


def test_two_servers_cannot_share_an_ip(api):
    api.must_add("server", {"name": "a", "ipaddress": "10.0.0.1"})
    api.fails(api.add("server", {"name": "b", "ip": "10.0.0.1"}), 409, 1335, "10.0.0.1")
    api.must_add("server", {"name": "b", "ipaddress": "10.0.0.2"})
    api.fails(api.update("server", {"name": "b", "ipaddress": "10.0.0.1"}), 409, 1335)
    assert api.one("server", "b")["ipaddress"] == "10.0.0.2"


def test_server_ip_alias_reads_back_as_ipaddress(api):
    api.must_add("server", {"name": "a", "ip": "10.0.0.1"})
    got = api.one("server", "a")
    assert got["ipaddress"] == "10.0.0.1" and "ip" not in got


@pytest.mark.parametrize("name", ["web tier #1", "a.b:c@d=e-f_g", "_x", "9lives", "n" * 127,
                                  "fe80::1"])
def test_names_with_allowed_punctuation_round_trip_double_encoded(api, name):
    api.ok(api.add("lbvserver", {**LB, "name": name}), 201)
    assert api.one("lbvserver", name)["name"] == name
    api.ok(api.update("lbvserver", {"comment": "found"}, name=name))
    assert api.one("lbvserver", name)["comment"] == "found"
    api.ok(api.delete("lbvserver", name))
    api.fails(api.get("lbvserver", name), 404, 258, f"name, {name}")


@pytest.mark.parametrize("name", ["meta-llama/Llama-3", "50%off", "50%25off", "café", "模型",
                                  " lead", "-dash", "tab\tname", "line\n", "a&b", "a?b", "",
                                  "n" * 128])
def test_names_outside_the_appliance_rule_are_refused(api, name):
    api.fails(api.add("lbvserver", {**LB, "name": name}), 599, 1097, "name")
    assert api.all("lbvserver") == []


@pytest.mark.parametrize("name", ["meta-llama/Llama-3", "50%off", "50%25off", "café", "a#b c",
                                  "a+b", "x?y=z&w"])
def test_path_names_are_decoded_exactly_twice(api, name):
    api.fails(api.get("lbvserver", name), 404, 258, f"name, {name}]")
    api.fails(api.get("server", name), 404, 351, f"name, {name}]")


def test_rename_moves_the_object_and_its_references(api):
    api.must_add("lbvserver", LB)
    api.must_add("csvserver", {"name": "front", "servicetype": "HTTP", "ipv46": "10.0.0.20",
                               "port": 80})
    api.must_add("csaction", {"name": "to-web", "targetlbvserver": "web"})
    api.must_add("csvserver_lbvserver_binding", {"name": "front", "lbvserver": "web"})
    api.must_add("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"})
    api.must_add("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})

    api.ok(api.act("lbvserver", "rename", {"name": "web", "newname": "web v2"}))
    api.fails(api.get("lbvserver", "web"), 404, 258)
    assert api.one("lbvserver", "web v2")["port"] == 80
    assert api.one("csaction", "to-web")["targetlbvserver"] == "web v2"
    default = api.ok(api.get("csvserver_lbvserver_binding", "front"))
    assert default["csvserver_lbvserver_binding"][0]["lbvserver"] == "web v2"
    bound = api.ok(api.get("lbvserver_servicegroup_binding", "web v2"))
    assert [b["servicegroupname"] for b in bound["lbvserver_servicegroup_binding"]] == ["pool"]


def test_rename_refusals(api):
    api.must_add("lbvserver", LB)
    api.must_add("lbvserver", {**LB, "name": "other"})
    api.fails(api.act("lbvserver", "rename", {"name": "web", "newname": "other"}), 409, 273)
    api.fails(api.act("lbvserver", "rename", {"name": "gone", "newname": "x"}), 404, 258, "gone")
    api.fails(api.act("lbvserver", "rename", {"name": "web"}), 599, 1095, "newname")
    api.fails(api.act("lbvserver", "rename", {"name": "web", "newname": "bad/name"}), 599,
              1097, "bad/name")
    assert {v["name"] for v in api.all("lbvserver")} == {"web", "other"}


def test_unset_returns_attributes_to_their_defaults(api):
    api.must_add("lbvserver", {**LB, "lbmethod": "ROUNDROBIN", "comment": "temp", "timeout": 9})
    api.ok(api.act("lbvserver", "unset", {"name": "web", "lbmethod": True, "comment": True,
                                          "timeout": True}))
    got = api.one("lbvserver", "web")
    assert (got["lbmethod"], got["timeout"]) == ("LEASTCONNECTION", "2")
    assert "comment" not in got


@pytest.mark.parametrize("attr, code", [("servicetype", 278), ("bogus", 278),
                                        ("curstate", 278)])
def test_unset_refusals(api, attr, code):
    api.must_add("lbvserver", LB)
    api.fails(api.act("lbvserver", "unset", {"name": "web", attr: True}), 599, code, attr)


def test_unset_of_a_missing_object_is_its_missing_code(api):
    api.fails(api.act("server", "unset", {"name": "nope", "comment": True}), 404, 351, "nope")


def test_enable_and_disable(api):
    api.must_add("lbvserver", LB)
    api.must_add("server", {"name": "db", "ipaddress": "10.0.1.1"})
    api.ok(api.act("lbvserver", "disable", {"name": "web"}))
    got = api.one("lbvserver", "web")
    assert (got["state"], got["curstate"], got["effectivestate"]) == (
        "DISABLED", "OUT OF SERVICE", "OUT OF SERVICE")
    api.ok(api.act("lbvserver", "enable", {"name": "web"}))
    assert api.one("lbvserver", "web")["state"] == "ENABLED"
    api.ok(api.act("server", "disable", {"name": "db"}))
    assert api.one("server", "db")["state"] == "DISABLED"
    api.fails(api.act("server", "enable", {"name": "nope"}), 404, 351, "nope")
    api.fails(api.act("csaction", "enable", {"name": "x"}), 400, 1240)


def test_idempotent_add_updates_an_existing_object(api):
    api.must_add("lbvserver", LB)
    api.ok(api.add("lbvserver", {**LB, "comment": "again"}, "?idempotent=yes"))
    assert api.one("lbvserver", "web")["comment"] == "again"
    api.ok(api.add("lbvserver", {**LB, "name": "fresh"}, "?idempotent=yes"), 201)


def test_malformed_bodies_are_1233(api):
    api.fails(api.http.post("/lbvserver", content=b"{not json"), 400, 1233)
    api.fails(api.http.post("/lbvserver", json={"server": {"name": "x"}}), 400, 1233)
    api.fails(api.http.post("/lbvserver", json={"lbvserver": "web"}), 400, 1233)
    api.fails(api.http.put("/lbvserver", json=["lbvserver"]), 400, 1233)
    api.fails(api.http.post("/lbvserver", content=b""), 400, 1233)
