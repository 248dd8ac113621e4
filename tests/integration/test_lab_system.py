"""Lab ADC contract: nsversion, nsconfig, nsfeature, feature warnings, actions."""

from __future__ import annotations

import re

import pytest

VS = {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}


def test_nsversion_is_an_object_clients_can_parse(api):
    body = api.ok(api.get("nsversion"))
    assert isinstance(body["nsversion"], dict)
    match = re.search(r"NS(\d+\.\d+): Build (\d+\.\d+)", body["nsversion"]["version"])
    assert match is not None and match.groups() == ("14.1", "43.50")


def test_configchanged_is_a_boolean_true_after_a_change_false_after_save(api):
    def changed():
        value = api.ok(api.get("nsconfig"))["nsconfig"]["configchanged"]
        assert isinstance(value, bool)
        return value

    assert changed() is False
    api.ok(api.add("lbvserver", VS), 201)
    assert changed() is True
    api.ok(api.act("nsconfig", "save", {}))
    assert changed() is False
    api.ok(api.update("lbvserver", {"name": "web", "comment": "changed"}))
    assert changed() is True


def test_reads_do_not_mark_the_config_changed(api):
    api.get("lbvserver")
    api.get("nsfeature")
    api.get("lbvserver", "missing")
    assert api.ok(api.get("nsconfig"))["nsconfig"]["configchanged"] is False


def test_features_enable_and_disable_by_list_and_by_comma_string(api):
    def features():
        body = api.ok(api.get("nsfeature"))["nsfeature"]
        assert isinstance(body, dict)
        return body

    assert features()["feature"] == []
    api.ok(api.act("nsfeature", "enable", {"feature": ["lb", "CS", "SSL"]}))
    state = features()
    assert state["feature"] == ["CS", "LB", "SSL"]
    assert (state["lb"], state["cs"], state["ssl"], state["rewrite"]) == (True, True, True, False)
    api.ok(api.act("nsfeature", "disable", {"feature": "LB, cs"}))
    assert features()["feature"] == ["SSL"]


def test_an_unknown_feature_is_refused(api):
    api.fails(api.act("nsfeature", "enable", {"feature": ["LB", "WARP"]}), 599, 1097, "WARP")
    api.fails(api.act("nsfeature", "enable", {"feature": []}), 599, 1095, "feature")
    assert api.ok(api.get("nsfeature"))["nsfeature"]["feature"] == []


def test_feature_warning_is_209_with_x_nitro_warning_only_when_asked(api):
    response = api.add("lbvserver", VS, "?warning=yes")
    api.ok(response, 209)
    assert response.headers["X-NITRO-WARNING"] == "1067 - Feature(s) not enabled [LB]"
    quiet = api.add("lbvserver", {**VS, "name": "quiet"})
    api.ok(quiet, 201)
    assert "X-NITRO-WARNING" not in quiet.headers
    api.enable("LB")
    enabled = api.add("lbvserver", {**VS, "name": "enabled"}, "?warning=YES")
    api.ok(enabled, 201)
    assert "X-NITRO-WARNING" not in enabled.headers


@pytest.mark.parametrize("save, disable", [("save", "disable"), ("SAVE", "DISABLE"),
                                           ("Save", "Disable")])
def test_actions_are_matched_case_insensitively(api, save, disable):
    api.ok(api.add("lbvserver", VS), 201)
    api.ok(api.act("nsconfig", save, {}))
    assert api.ok(api.get("nsconfig"))["nsconfig"]["configchanged"] is False
    api.ok(api.act("lbvserver", disable, {"name": "web"}))
    assert api.one("lbvserver", "web")["state"] == "DISABLED"


def test_an_unknown_action_is_1240(api):
    api.fails(api.act("lbvserver", "explode", {"name": "web"}), 400, 1240, "explode")
    api.fails(api.act("nsconfig", "link", {}), 400, 1240)
    api.fails(api.act("server", "switch", {"name": "x"}), 400, 1240)


def test_nsconfig_clear_empties_the_running_config(api):
    api.ok(api.add("lbvserver", VS), 201)
    api.ok(api.act("nsconfig", "clear", {"level": "basic"}))
    assert api.all("lbvserver") == []
    monitors = {m["monitorname"] for m in api.all("lbmonitor")}
    assert {"http", "tcp", "ping"} <= monitors


def test_singletons_cannot_be_added_or_removed(api):
    api.fails(api.add("nsversion", {"version": "x"}), 599, 257, "nsversion")
    api.fails(api.add("nsconfig", {}), 599, 257)
    api.fails(api.delete("nsconfig", "x"), 599, 257)


def test_an_unknown_resource_is_1232(api):
    api.fails(api.get("lbvservers"), 400, 1232, "lbvservers")
    api.fails(api.add("nosuchthing", {"name": "x"}), 400, 1232)


def test_stat_lbvserver_and_servicegroup(api, lab_adc):
    api.must_add("lbvserver", VS)
    api.must_add("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"})
    stat = f"{lab_adc.url}/nitro/v1/stat"
    [down] = api.ok(api.http.get(f"{stat}/lbvserver/web"))["lbvserver"]
    assert (down["name"], down["state"], down["vslbhealth"], down["actsvcs"]) == (
        "web", "DOWN", "0", "0")
    assert down["totalrequests"] == "0"
    api.must_add("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})
    api.must_add("servicegroup_servicegroupmember_binding",
                 {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 80})
    [up] = api.ok(api.http.get(f"{stat}/lbvserver"))["lbvserver"]
    assert (up["state"], up["vslbhealth"], up["actsvcs"]) == ("UP", "100", "1")
    api.ok(api.act("lbvserver", "disable", {"name": "web"}))
    assert api.ok(api.http.get(f"{stat}/lbvserver/web"))["lbvserver"][0]["state"] == (
        "OUT OF SERVICE")
    [group] = api.ok(api.http.get(f"{stat}/servicegroup/pool"))["servicegroup"]
    assert (group["servicegroupname"], group["state"]) == ("pool", "ENABLED")
    api.fails(api.http.get(f"{stat}/lbvserver/nope"), 404, 258, "nope")
    api.fails(api.http.get(f"{stat}/sslcertkey"), 404, 1232)
    api.fails(api.http.post(f"{stat}/lbvserver", json={"lbvserver": {}}), 405, 257)
