"""Lab ADC contract: bindings, aggregates, unbind, referential integrity, implicit objects,
monitors."""

from __future__ import annotations

import pytest

LB = {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}
CS = {"name": "front", "servicetype": "HTTP", "ipv46": "10.0.0.20", "port": 80}
GROUP = {"servicegroupname": "pool", "servicetype": "HTTP"}
DONE = {"errorcode": 0, "message": "Done", "severity": "NONE"}


@pytest.fixture
def lb(api):
    """An lbvserver ``web`` and a service group ``pool`` (not bound)."""
    api.must_add("lbvserver", LB)
    api.must_add("servicegroup", GROUP)
    return api


def bound(api, resource: str, name: str) -> list[dict]:
    return api.ok(api.get(resource, name)).get(resource, [])


def test_post_binds_with_201_and_put_with_200(lb):
    lb.ok(lb.bind("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"},
                  "POST"), 201)
    lb.must_add("servicegroup", {**GROUP, "servicegroupname": "pool2"})
    lb.ok(lb.bind("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool2"},
                  "PUT"), 200)
    groups = [b["servicegroupname"] for b in bound(lb, "lbvserver_servicegroup_binding", "web")]
    assert groups == ["pool", "pool2"]


@pytest.mark.parametrize("resource, body, code, culprit", [
    ("lbvserver_servicegroup_binding", {"name": "nope", "servicegroupname": "pool"}, 258, "nope"),
    ("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "nope"}, 258, "nope"),
    ("servicegroup_servicegroupmember_binding",
     {"servicegroupname": "nope", "ip": "10.0.0.5", "port": 80}, 258, "nope"),
    ("servicegroup_servicegroupmember_binding",
     {"servicegroupname": "pool", "servername": "nope", "port": 80}, 351, "nope"),
    ("servicegroup_lbmonitor_binding", {"servicegroupname": "nope", "monitor_name": "http"},
     351, "nope"),
    ("servicegroup_lbmonitor_binding", {"servicegroupname": "pool", "monitor_name": "nope"},
     258, "nope"),
    ("csvserver_lbvserver_binding", {"name": "nope", "lbvserver": "web"}, 258, "nope"),
    ("csvserver_cspolicy_binding", {"name": "front", "policyname": "nope", "priority": 10},
     2054, "nope"),
])
def test_binding_to_a_missing_parent_or_child_is_refused(lb, resource, body, code, culprit):
    lb.must_add("csvserver", CS)
    lb.fails(lb.bind(resource, body, "POST"), 599, code, culprit)
    lb.fails(lb.bind(resource, body, "PUT"), 599, code, culprit)


def test_duplicate_bind_is_409(lb):
    body = {"name": "web", "servicegroupname": "pool"}
    lb.ok(lb.bind("lbvserver_servicegroup_binding", body), 200)
    lb.fails(lb.bind("lbvserver_servicegroup_binding", body), 409, 273, "web", "pool")
    member = {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 8080}
    lb.must_add("servicegroup_servicegroupmember_binding", member)
    lb.fails(lb.add("servicegroup_servicegroupmember_binding", member), 409, 273, "10.0.0.5")
    same_by_name = {"servicegroupname": "pool", "servername": "10.0.0.5", "port": 8080}
    lb.fails(lb.add("servicegroup_servicegroupmember_binding", same_by_name), 409, 273)


def test_member_bound_by_ip_reads_back_with_servername_ip_and_port(lb):
    lb.must_add("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 8080})
    [member] = bound(lb, "servicegroup_servicegroupmember_binding", "pool")
    assert member["servername"] == "10.0.0.5" and member["ip"] == "10.0.0.5"
    assert member["port"] == 8080 and member["weight"] == "1"
    assert (member["state"], member["svrstate"]) == ("ENABLED", "UP")
    server = lb.one("server", "10.0.0.5")
    assert server["ipaddress"] == "10.0.0.5"


def test_member_bound_by_server_name_shows_the_servers_ip(lb):
    lb.must_add("server", {"name": "gpu-1", "ipaddress": "10.0.2.1"})
    lb.must_add("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pool", "servername": "gpu-1", "port": 8000, "weight": 40})
    [member] = bound(lb, "servicegroup_servicegroupmember_binding", "pool")
    assert (member["servername"], member["ip"], member["port"], member["weight"]) == (
        "gpu-1", "10.0.2.1", 8000, "40")


def test_member_with_ip_and_servername_is_1092(lb):
    body = {"servicegroupname": "pool", "ip": "10.0.0.5", "servername": "x", "port": 80}
    lb.fails(lb.add("servicegroup_servicegroupmember_binding", body), 599, 1092,
             "ip", "servername")
    lb.fails(lb.add("servicegroup_servicegroupmember_binding",
                    {"servicegroupname": "pool", "port": 80}), 599, 1095, "ip or servername")
    lb.fails(lb.add("servicegroup_servicegroupmember_binding",
                    {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 0}), 599, 1097, "port")
    assert bound(lb, "servicegroup_servicegroupmember_binding", "pool") == []


def test_group_binding_accepts_servicename_and_returns_both(lb):
    lb.ok(lb.bind("lbvserver_servicegroup_binding", {"name": "web", "servicename": "pool"}), 200)
    [binding] = bound(lb, "lbvserver_servicegroup_binding", "web")
    assert (binding["name"], binding["servicegroupname"], binding["servicename"]) == (
        "web", "pool", "pool")


def test_zero_bindings_is_a_bare_envelope(lb):
    for resource, name in [("lbvserver_servicegroup_binding", "web"),
                           ("servicegroup_servicegroupmember_binding", "pool"),
                           ("servicegroup_lbmonitor_binding", "pool")]:
        response = lb.get(resource, name)
        assert response.status_code == 200
        assert response.json() == DONE


def test_binding_get_of_a_missing_parent_is_404(lb):
    lb.fails(lb.get("lbvserver_servicegroup_binding", "nope"), 404, 258, "nope")
    lb.fails(lb.get("servicegroup_lbmonitor_binding", "nope"), 404, 351, "nope")
    lb.fails(lb.get("lbvserver_binding", "nope"), 404, 258, "nope")


def test_binding_get_without_a_name_needs_bulkbindings(lb):
    lb.fails(lb.get("lbvserver_servicegroup_binding"), 599, 1095, "bulkbindings")
    lb.fails(lb.get("lbvserver_binding"), 599, 1095, "bulkbindings")


def test_aggregate_of_one_object_and_bulkbindings_of_all(lb):
    lb.must_add("lbvserver", {**LB, "name": "idle", "port": 81})
    lb.must_add("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})
    aggregate = lb.ok(lb.get("lbvserver_binding", "web"))
    assert aggregate["lbvserver_binding"] == [{
        "name": "web",
        "lbvserver_servicegroup_binding": [
            {"name": "web", "servicegroupname": "pool", "servicename": "pool"}],
    }]
    everything = lb.ok(lb.get("lbvserver_binding", query="?bulkbindings=yes"))
    by_name = {entry["name"]: entry for entry in everything["lbvserver_binding"]}
    assert set(by_name) == {"web", "idle"}
    assert by_name["idle"] == {"name": "idle"}
    members = lb.ok(lb.get("lbvserver_servicegroup_binding", query="?bulkbindings=yes"))
    assert [b["name"] for b in members["lbvserver_servicegroup_binding"]] == ["web"]


def test_servicegroup_aggregate_has_members_and_monitors(lb):
    lb.must_add("lbmonitor", {"monitorname": "health", "type": "HTTP"})
    lb.must_add("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 80})
    lb.must_add("servicegroup_lbmonitor_binding", {"servicegroupname": "pool",
                                                   "monitor_name": "health"})
    [entry] = lb.ok(lb.get("servicegroup_binding", "pool"))["servicegroup_binding"]
    assert entry["servicegroupname"] == "pool"
    assert [m["ip"] for m in entry["servicegroup_servicegroupmember_binding"]] == ["10.0.0.5"]
    [monitor] = entry["servicegroup_lbmonitor_binding"]
    assert (monitor["monitor_name"], monitor["weight"], monitor["monstate"]) == (
        "health", "1", "ENABLED")


@pytest.mark.parametrize("args", [
    {"servername": "fd00::5", "port": 8080},
    {"ip": "fd00::5", "port": 8080},
])
def test_unbind_member_with_encoded_args(lb, args):
    lb.must_add("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pool", "ip": "fd00::5", "port": 8080})
    lb.must_add("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pool", "ip": "fd00::5", "port": 8081})
    lb.ok(lb.delete("servicegroup_servicegroupmember_binding", "pool", **args))
    ports = [m["port"] for m in bound(lb, "servicegroup_servicegroupmember_binding", "pool")]
    assert ports == [8081]
    lb.fails(lb.delete("servicegroup_servicegroupmember_binding", "pool", **args), 404, 258)


def test_unbind_needs_the_member_key(lb):
    lb.must_add("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 80})
    lb.fails(lb.delete("servicegroup_servicegroupmember_binding", "pool", ip="10.0.0.5"),
             599, 1095, "port")
    lb.fails(lb.delete("servicegroup_servicegroupmember_binding", "pool"), 599, 1095)
    lb.fails(lb.delete("servicegroup_servicegroupmember_binding", "pool",
                       ip="10.0.0.5", port="x"), 599, 1097, "port")
    assert len(bound(lb, "servicegroup_servicegroupmember_binding", "pool")) == 1


def test_unbind_with_a_name_that_needs_encoding(lb):
    lb.must_add("servicegroup", {**GROUP, "servicegroupname": "pool #2: a=b"})
    lb.must_add("lbvserver_servicegroup_binding",
                {"name": "web", "servicegroupname": "pool #2: a=b"})
    lb.ok(lb.delete("lbvserver_servicegroup_binding", "web", servicegroupname="pool #2: a=b"))
    assert lb.get("lbvserver_servicegroup_binding", "web").json() == DONE


def test_unbind_monitor_and_policy(lb):
    lb.must_add("lbmonitor", {"monitorname": "health", "type": "HTTP"})
    lb.must_add("servicegroup_lbmonitor_binding", {"servicegroupname": "pool",
                                                   "monitor_name": "health"})
    lb.ok(lb.delete("servicegroup_lbmonitor_binding", "pool", monitor_name="health"))
    assert bound(lb, "servicegroup_lbmonitor_binding", "pool") == []
    lb.must_add("csvserver", CS)
    lb.must_add("cspolicy", {"policyname": "v1", "rule": "true"})
    lb.must_add("csvserver_cspolicy_binding", {"name": "front", "policyname": "v1",
                                               "priority": 100, "targetlbvserver": "web"})
    [policy] = bound(lb, "csvserver_cspolicy_binding", "front")
    assert (policy["priority"], policy["gotopriorityexpression"], policy["bindpoint"]) == (
        "100", "END", "REQUEST")
    lb.fails(lb.bind("csvserver_cspolicy_binding", {"name": "front", "policyname": "v1",
                                                    "priority": 200}), 409, 273)
    lb.fails(lb.update("csvserver_cspolicy_binding", {"name": "front", "policyname": "v1",
                                                      "priority": 200}, name="front"), 409, 273)
    lb.ok(lb.delete("csvserver_cspolicy_binding", "front", policyname="v1", priority=100))
    assert bound(lb, "csvserver_cspolicy_binding", "front") == []


@pytest.mark.parametrize("setup, victim, user", [
    ([("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})],
     ("servicegroup", "pool", {}), "lbvserver_servicegroup_binding web"),
    ([("lbmonitor", {"monitorname": "health", "type": "HTTP"}),
      ("servicegroup_lbmonitor_binding", {"servicegroupname": "pool",
                                          "monitor_name": "health"})],
     ("lbmonitor", "health", {"type": "HTTP"}), "servicegroup_lbmonitor_binding pool"),
    ([("server", {"name": "gpu-1", "ipaddress": "10.0.2.1"}),
      ("servicegroup_servicegroupmember_binding",
       {"servicegroupname": "pool", "servername": "gpu-1", "port": 80})],
     ("server", "gpu-1", {}), "servicegroup_servicegroupmember_binding pool"),
    ([("csaction", {"name": "to-web", "targetlbvserver": "web"})],
     ("lbvserver", "web", {}), "csaction to-web"),
    ([("csvserver", CS), ("csvserver_lbvserver_binding", {"name": "front", "lbvserver": "web"})],
     ("lbvserver", "web", {}), "csvserver_lbvserver_binding front"),
    ([("lbvserver", {**LB, "name": "main", "port": 81, "backupvserver": "web"})],
     ("lbvserver", "web", {}), "lbvserver main"),
    ([("csaction", {"name": "to-web", "targetlbvserver": "web"}),
      ("cspolicy", {"policyname": "v1", "rule": "true", "action": "to-web"})],
     ("csaction", "to-web", {}), "cspolicy v1"),
    ([("csvserver", CS), ("cspolicy", {"policyname": "v1", "rule": "true"}),
      ("csvserver_cspolicy_binding", {"name": "front", "policyname": "v1", "priority": 1})],
     ("cspolicy", "v1", {}), "csvserver_cspolicy_binding front"),
])
def test_deleting_what_is_bound_or_referenced_is_refused(lb, setup, victim, user):
    for resource, body in setup:
        lb.must_add(resource, body)
    resource, name, args = victim
    lb.fails(lb.delete(resource, name, **args), 599, 315, name, user)
    assert lb.one(resource, name)


def test_deleting_a_parent_removes_its_own_bindings(lb):
    lb.must_add("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})
    lb.must_add("servicegroup_servicegroupmember_binding",
                {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 80})
    lb.ok(lb.delete("lbvserver", "web"))
    everything = lb.ok(lb.get("lbvserver_servicegroup_binding", query="?bulkbindings=yes"))
    assert everything == DONE
    lb.ok(lb.delete("servicegroup", "pool"))
    members = lb.get("servicegroup_servicegroupmember_binding", query="?bulkbindings=yes")
    assert members.json() == DONE
    lb.ok(lb.delete("server", "10.0.0.5"))  # the implicit server stayed, now unused


def test_a_recreated_parent_does_not_inherit_old_bindings(lb):
    lb.must_add("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})
    lb.ok(lb.delete("lbvserver", "web"))
    lb.must_add("lbvserver", LB)
    assert lb.get("lbvserver_servicegroup_binding", "web").json() == DONE


def test_bindings_cannot_be_updated_in_place(lb):
    lb.must_add("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})
    lb.fails(lb.bind("lbvserver_servicegroup_binding",
                     {"name": "web", "servicegroupname": "pool", "weight": 5}), 409, 273)
    assert "weight" not in bound(lb, "lbvserver_servicegroup_binding", "web")[0]


def test_ssl_vserver_has_an_implicit_sslvserver(api):
    api.must_add("lbvserver", {**LB, "name": "api", "servicetype": "SSL", "port": 443})
    api.must_add("lbvserver", LB)
    got = api.one("sslvserver", "api")
    assert (got["vservername"], got["sessreuse"], got["sesstimeout"]) == ("api", "ENABLED", "120")
    assert [s["vservername"] for s in api.all("sslvserver")] == ["api"]
    api.ok(api.update("sslvserver", {"vservername": "api", "sesstimeout": 300, "tls13": "enabled"}))
    got = api.one("sslvserver", "api")
    assert (got["sesstimeout"], got["tls13"]) == ("300", "ENABLED")
    api.fails(api.get("sslvserver", "web"), 404, 461, "web")
    api.fails(api.add("sslvserver", {"vservername": "other"}), 599, 257)
    api.fails(api.delete("sslvserver", "api"), 599, 257)
    api.fails(api.update("sslvserver", {"vservername": "api", "sslprofile": "nope"}), 599,
              3248, "nope")

    api.ok(api.delete("lbvserver", "api"))
    api.fails(api.get("sslvserver", "api"), 404, 461, "api")
    api.fails(api.update("sslvserver", {"vservername": "api", "sesstimeout": 60}), 404, 461)


def test_sslvserver_settings_go_with_the_vserver(api):
    api.must_add("lbvserver", {**LB, "name": "api", "servicetype": "SSL", "port": 443})
    api.ok(api.update("sslvserver", {"vservername": "api", "sesstimeout": 300}))
    api.ok(api.act("lbvserver", "rename", {"name": "api", "newname": "api2"}))
    assert api.one("sslvserver", "api2")["sesstimeout"] == "300"
    api.ok(api.delete("lbvserver", "api2"))
    api.must_add("lbvserver", {**LB, "name": "api2", "servicetype": "SSL", "port": 443})
    assert api.one("sslvserver", "api2")["sesstimeout"] == "120"


def test_ssl_servicegroup_has_an_implicit_sslservicegroup(api):
    api.must_add("servicegroup", {"servicegroupname": "tls-pool", "servicetype": "SSL"})
    api.ok(api.update("sslservicegroup", {"servicegroupname": "tls-pool",
                                          "serverauth": "ENABLED", "commonname": "gpu.internal"}))
    got = api.one("sslservicegroup", "tls-pool")
    assert (got["serverauth"], got["commonname"]) == ("ENABLED", "gpu.internal")
    api.must_add("servicegroup", GROUP)
    api.fails(api.get("sslservicegroup", "pool"), 404, 463, "pool")


def test_monitor_delete_needs_its_type(api):
    api.must_add("lbmonitor", {"monitorname": "health", "type": "HTTP"})
    api.fails(api.delete("lbmonitor", "health"), 599, 1095, "type")
    api.fails(api.delete("lbmonitor", "health", type="TCP"), 599, 1097, "type")
    api.ok(api.delete("lbmonitor", "health", type="http"))
    api.fails(api.get("lbmonitor", "health"), 404, 258)


@pytest.mark.parametrize("interval, units, shown", [
    (60, None, ("1", "MIN")), (120, "SEC", ("2", "MIN")), (90, None, ("90", "SEC")),
    (5, None, ("5", "SEC")), (500, "MSEC", ("500", "MSEC")), (3, "MIN", ("3", "MIN")),
])
def test_monitor_interval_units(api, interval, units, shown):
    body = {"monitorname": "health", "type": "HTTP", "interval": interval}
    if units:
        body["units3"] = units
    api.must_add("lbmonitor", body)
    got = api.one("lbmonitor", "health")
    assert (got["interval"], got["units3"]) == shown


def test_monitor_interval_update_to_minutes(api):
    api.must_add("lbmonitor", {"monitorname": "health", "type": "HTTP"})
    api.ok(api.update("lbmonitor", {"monitorname": "health", "interval": 180}))
    got = api.one("lbmonitor", "health")
    assert (got["interval"], got["units3"]) == ("3", "MIN")


@pytest.mark.parametrize("name, mtype", [("http", "HTTP"), ("tcp", "TCP"), ("ping", "PING"),
                                         ("ping-default", "PING"), ("tcp-default", "TCP")])
def test_builtin_monitors_exist_and_cannot_be_removed(api, name, mtype):
    assert api.one("lbmonitor", name)["type"] == mtype
    api.fails(api.delete("lbmonitor", name, type=mtype), 599, 257, name)
    api.fails(api.update("lbmonitor", {"monitorname": name, "interval": 10}), 599, 257, name)
    api.fails(api.add("lbmonitor", {"monitorname": name, "type": mtype}), 409, 273)
    assert api.one("lbmonitor", name)["type"] == mtype
