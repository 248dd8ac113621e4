"""NitroClient reads, writes, bindings and error mapping against the lab ADC."""

from __future__ import annotations

import pytest

from adcml.nitro import (
    AlreadyExists,
    InvalidArgument,
    InvalidRequest,
    NitroWarning,
    NotFound,
    ResourceInUse,
)


@pytest.fixture
def adc(lab_adc):
    with lab_adc.client() as client:
        client.enable_features(["LB", "CS", "SSL"])
        yield client


def names(rows) -> list[str]:
    return [r["name"] for r in rows]


# -- reads -------------------------------------------------------------------------------------

@pytest.fixture
def many(adc):
    """25 HTTP vservers (web-00..web-24), every fifth one ROUNDROBIN with a comment."""
    adc.add("lbvserver", [
        {"name": f"web-{i:02d}", "servicetype": "HTTP",
         "lbmethod": "ROUNDROBIN" if i % 5 == 0 else "LEASTCONNECTION",
         **({"comment": f"group {i // 5}"} if i % 5 == 0 else {})}
        for i in range(25)
    ])
    return adc


def test_get_all_and_one(many):
    rows = many.get("lbvserver")
    assert names(rows) == [f"web-{i:02d}" for i in range(25)]
    one = many.get("lbvserver", "web-05")
    assert len(one) == 1
    assert one[0]["name"] == "web-05"
    assert one[0]["lbmethod"] == "ROUNDROBIN"
    assert one[0]["comment"] == "group 1"
    assert one[0]["port"] == 0 and one[0]["ipv46"] == "0.0.0.0"


def test_find_returns_the_object_or_none(many):
    assert many.find("lbvserver", "web-07")["lbmethod"] == "LEASTCONNECTION"
    assert many.find("lbvserver", "web-99") is None


def test_count_with_and_without_filter(many):
    assert many.count("lbvserver") == 25
    assert many.count("lbvserver", filter={"lbmethod": "ROUNDROBIN"}) == 5
    assert many.count("lbvserver", filter={"lbmethod": "roundrobin"}) == 5
    assert many.count("csvserver") == 0


def test_filter_and_attrs(many):
    rows = many.get("lbvserver", filter={"lbmethod": "ROUNDROBIN"}, attrs=["lbmethod"])
    assert rows == [{"name": f"web-{i:02d}", "lbmethod": "ROUNDROBIN"} for i in range(0, 25, 5)]
    rows = many.get("lbvserver", filter={"comment": "group 3"})
    assert names(rows) == ["web-15"]


def test_pagination(many):
    pages = [many.get("lbvserver", pagesize=10, pageno=n) for n in (1, 2, 3, 4)]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    assert [n for p in pages for n in names(p)] == [f"web-{i:02d}" for i in range(25)]


def test_singletons_and_stats(adc):
    assert adc.version().release == "14.1"
    assert {"LB", "CS", "SSL"} <= adc.features()
    adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
    stat = adc.stat("lbvserver", "web")
    assert [(s["name"], s["state"]) for s in stat] == [("web", "DOWN")]


# -- writes ------------------------------------------------------------------------------------

def test_add_update_unset_enable_disable_rename_delete(adc):
    adc.add("lbvserver", {"name": "web", "servicetype": "http", "ipv46": "10.0.0.10",
                          "port": 80, "lbmethod": "roundrobin", "timeout": 5})
    web = adc.get("lbvserver", "web")[0]
    assert (web["servicetype"], web["lbmethod"], web["port"], web["timeout"]) == (
        "HTTP", "ROUNDROBIN", 80, "5")

    adc.update("lbvserver", {"name": "web", "lbmethod": "LEASTRESPONSETIME", "comment": "c1"})
    web = adc.get("lbvserver", "web")[0]
    assert (web["lbmethod"], web["comment"]) == ("LEASTRESPONSETIME", "c1")

    adc.action("lbvserver", "unset", {"name": "web", "comment": True, "lbmethod": True})
    web = adc.get("lbvserver", "web")[0]
    assert "comment" not in web
    assert web["lbmethod"] == "LEASTCONNECTION"

    adc.action("lbvserver", "disable", {"name": "web"})
    assert adc.get("lbvserver", "web")[0]["curstate"] == "OUT OF SERVICE"
    adc.action("lbvserver", "enable", {"name": "web"})
    assert adc.get("lbvserver", "web")[0]["state"] == "ENABLED"

    adc.action("lbvserver", "rename", {"name": "web", "newname": "web2"})
    assert adc.find("lbvserver", "web") is None
    assert adc.get("lbvserver", "web2")[0]["ipv46"] == "10.0.0.10"

    adc.delete("lbvserver", "web2")
    assert adc.find("lbvserver", "web2") is None
    assert adc.count("lbvserver") == 0


def test_idempotent_add_updates(adc):
    adc.add("server", {"name": "s1", "ipaddress": "10.0.0.1"})
    adc.add("server", {"name": "s1", "ipaddress": "10.0.0.2"}, idempotent=True)
    assert adc.get("server", "s1")[0]["ipaddress"] == "10.0.0.2"
    with pytest.raises(AlreadyExists):
        adc.add("server", {"name": "s1", "ipaddress": "10.0.0.3"})


def test_delete_with_args(adc):
    adc.add("lbmonitor", {"monitorname": "mon", "type": "HTTP", "interval": 60})
    mon = adc.get("lbmonitor", "mon")[0]
    assert (mon["interval"], mon["units3"]) == ("1", "MIN")
    adc.delete("lbmonitor", "mon", args={"type": "HTTP"})
    assert adc.find("lbmonitor", "mon") is None


def test_feature_warning_is_collected(lab_adc):
    with lab_adc.client() as adc:
        adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
        assert adc.warnings == [NitroWarning(1067, "Feature(s) not enabled [LB]", "lbvserver")]
        assert adc.find("lbvserver", "web") is not None


ODD_BUT_VALID = ["my web vs", "a#b", "v1:api@x=y", "_x.y-z", "trailing space "]


@pytest.mark.parametrize("name", ODD_BUT_VALID)
def test_names_with_special_characters_round_trip(adc, name):
    adc.add("lbvserver", {"name": name, "servicetype": "HTTP"})
    assert names(adc.get("lbvserver", name)) == [name]
    adc.update("lbvserver", {"name": name, "comment": "updated"})
    assert adc.get("lbvserver", name)[0]["comment"] == "updated"
    adc.action("lbvserver", "disable", {"name": name})
    adc.action("lbvserver", "rename", {"name": name, "newname": name + "2"})
    assert names(adc.get("lbvserver", name + "2")) == [name + "2"]
    adc.delete("lbvserver", name + "2")
    assert adc.count("lbvserver") == 0


UNSAFE = ["a/b", "100%", "50%2F", "ca/fé #1", "日本", "a?b&c=d", "..", "x%00y"]


@pytest.mark.parametrize("name", UNSAFE)
def test_names_the_appliance_refuses_still_reach_it_intact(adc, name):
    # The appliance's naming rules refuse '/', '%', '?' and non-ASCII in object names; the
    # name must still travel intact in the path (so the NotFound names it) and in the body.
    with pytest.raises(NotFound) as info:
        adc.get("lbvserver", name)
    assert info.value.errorcode == 258
    assert f"[name, {name}]" in info.value.message
    with pytest.raises(InvalidArgument) as info:
        adc.add("lbvserver", {"name": name, "servicetype": "HTTP"})
    assert info.value.errorcode == 1097
    assert f"name, {name}:" in info.value.message


@pytest.mark.parametrize("text", ["a/b %2F 100% #1 ?x&y=z", "café 日本 ünï", "k:v,k2:v2", "\"q\""])
def test_free_text_values_round_trip_in_bodies_and_filters(adc, text):
    adc.add("lbvserver", {"name": "web", "servicetype": "HTTP", "comment": text})
    adc.add("lbvserver", {"name": "other", "servicetype": "HTTP", "comment": "x"})
    assert adc.get("lbvserver", "web")[0]["comment"] == text
    assert names(adc.get("lbvserver", filter={"comment": text})) == ["web"]
    assert adc.count("lbvserver", filter={"comment": text}) == 1


def test_empty_name_and_bad_resource_are_refused_before_sending(lab_adc, adc):
    lab_adc.reset_counters()
    with pytest.raises(InvalidRequest):
        adc.get("lbvserver", "")
    with pytest.raises(InvalidRequest):
        adc.get("lbvserver/../nsconfig")
    with pytest.raises(InvalidRequest):
        adc.add("lbvserver", "web")  # type: ignore[arg-type]
    assert lab_adc.counters()["total"] == 0


# -- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("resource", "code", "args"),
    [
        ("lbvserver", 258, None),
        ("servicegroup", 258, None),
        ("server", 351, None),
        ("sslprofile", 3248, None),
        ("sslcertkey", 1540, None),
        ("cspolicy", 2054, None),
        ("sslvserver", 461, None),
        ("systemfile", 3441, {"filelocation": "/nsconfig/ssl/"}),
    ],
)
def test_not_found_carries_the_resources_own_code(adc, resource, code, args):
    with pytest.raises(NotFound) as info:
        adc.get(resource, "nothere", args=args)
    err = info.value
    assert (err.errorcode, err.status, err.resource, err.name) == (code, 404, resource, "nothere")
    assert "nothere" in err.message
    if resource == "sslvserver":
        return  # implicit (exists with its SSL vserver): never deleted
    with pytest.raises(NotFound) as info:
        adc.delete(resource, "nothere", args=args)
    assert info.value.errorcode == code


def test_update_of_missing_object_is_not_found(adc):
    with pytest.raises(NotFound) as info:
        adc.update("server", {"name": "ghost", "comment": "x"})
    assert info.value.errorcode == 351
    assert info.value.name == "ghost"


def test_already_exists(adc):
    adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
    with pytest.raises(AlreadyExists) as info:
        adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
    assert (info.value.errorcode, info.value.status, info.value.name) == (273, 409, "web")
    adc.add("server", {"name": "s1", "ipaddress": "10.0.0.1"})
    with pytest.raises(AlreadyExists) as info:
        adc.add("server", {"name": "s2", "ipaddress": "10.0.0.1"})
    assert info.value.errorcode == 1335
    assert "10.0.0.1" in info.value.message


@pytest.mark.parametrize(
    ("body", "code", "attribute"),
    [
        ({"name": "web", "servicetype": "HTTP", "lbmethod": "FASTEST"}, 1097, "lbmethod"),
        ({"name": "web", "servicetype": "HTTP", "port": 70000}, 1097, "port"),
        ({"name": "web", "servicetype": "HTTP", "colour": "blue"}, 278, "colour"),
        ({"name": "web"}, 1095, "servicetype"),
    ],
)
def test_invalid_argument_is_a_value_error_naming_the_attribute(adc, body, code, attribute):
    with pytest.raises(ValueError) as info:
        adc.add("lbvserver", body)
    err = info.value
    assert isinstance(err, InvalidArgument)
    assert err.errorcode == code
    assert err.argument == attribute
    assert attribute in str(err)
    assert adc.find("lbvserver", "web") is None


def test_immutable_attribute_is_invalid_argument(adc):
    adc.add("lbvserver", {"name": "web", "servicetype": "HTTP", "port": 80, "ipv46": "10.0.0.1"})
    with pytest.raises(InvalidArgument) as info:
        adc.update("lbvserver", {"name": "web", "port": 8080})
    assert info.value.argument == "port"


def test_resource_in_use_on_deleting_a_bound_servicegroup(adc):
    adc.add("servicegroup", {"servicegroupname": "sg", "servicetype": "HTTP"})
    adc.add("lbvserver", {"name": "web", "servicetype": "HTTP"})
    adc.bind("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "sg"})
    with pytest.raises(ResourceInUse) as info:
        adc.delete("servicegroup", "sg")
    assert info.value.errorcode == 315
    assert info.value.name == "sg"
    assert adc.find("servicegroup", "sg") is not None
    adc.unbind("lbvserver_servicegroup_binding", "web", args={"servicegroupname": "sg"})
    adc.delete("servicegroup", "sg")
    assert adc.find("servicegroup", "sg") is None


# -- bindings ----------------------------------------------------------------------------------

@pytest.fixture
def bound(adc):
    adc.add("servicegroup", {"servicegroupname": "sg", "servicetype": "HTTP"})
    adc.add("lbvserver", [{"name": "web", "servicetype": "HTTP"},
                          {"name": "lonely", "servicetype": "HTTP"}])
    adc.bind("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "sg",
                                                "weight": 40})
    adc.bind("servicegroup_servicegroupmember_binding", [
        {"servicegroupname": "sg", "ip": "10.0.1.1", "port": 8080, "weight": 2},
        {"servicegroupname": "sg", "ip": "10.0.1.2", "port": 8080},
    ])
    return adc


def test_bind_with_args_and_read_back(bound):
    rows = bound.get("lbvserver_servicegroup_binding", "web")
    assert [(r["servicegroupname"], r["weight"]) for r in rows] == [("sg", "40")]
    members = bound.get("servicegroup_servicegroupmember_binding", "sg")
    assert [(m["ip"], m["servername"], m["port"], m["weight"]) for m in members] == [
        ("10.0.1.1", "10.0.1.1", 8080, "2"), ("10.0.1.2", "10.0.1.2", 8080, "1")]
    assert bound.get("lbvserver", "web")[0]["curstate"] == "UP"


def test_bindings_aggregate_of_one_object(bound):
    agg = bound.bindings("lbvserver", "web")
    assert len(agg) == 1
    assert agg[0]["name"] == "web"
    assert [b["servicegroupname"] for b in agg[0]["lbvserver_servicegroup_binding"]] == ["sg"]
    sg = bound.bindings("servicegroup_binding", "sg")
    assert [m["port"] for m in sg[0]["servicegroup_servicegroupmember_binding"]] == [8080, 8080]


def test_bindings_aggregate_of_all_objects(bound):
    agg = {entry["name"]: entry for entry in bound.bindings("lbvserver")}
    assert set(agg) == {"web", "lonely"}
    assert len(agg["web"]["lbvserver_servicegroup_binding"]) == 1
    assert "lbvserver_servicegroup_binding" not in agg["lonely"]


def test_empty_bindings(bound):
    assert bound.get("lbvserver_servicegroup_binding", "lonely") == []
    assert bound.bindings("lbvserver", "lonely") == [{"name": "lonely"}]
    with pytest.raises(NotFound):
        bound.bindings("lbvserver", "ghost")


def test_unbind_with_args(bound):
    bound.unbind("servicegroup_servicegroupmember_binding", "sg",
                 args={"ip": "10.0.1.1", "port": 8080})
    members = bound.get("servicegroup_servicegroupmember_binding", "sg")
    assert [m["ip"] for m in members] == ["10.0.1.2"]
    bound.unbind("lbvserver_servicegroup_binding", "web", args={"servicegroupname": "sg"})
    assert bound.get("lbvserver_servicegroup_binding", "web") == []
    with pytest.raises(NotFound):
        bound.unbind("lbvserver_servicegroup_binding", "web", args={"servicegroupname": "sg"})


def test_bind_twice_and_bind_to_missing(bound):
    with pytest.raises(AlreadyExists):
        bound.bind("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "sg"})
    with pytest.raises(NotFound) as info:
        bound.bind("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "nosg"})
    assert info.value.errorcode == 258
    with pytest.raises(InvalidRequest):
        bound.bind("lbvserver", {"name": "web"})
