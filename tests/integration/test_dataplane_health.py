"""Monitors of the lab's data plane: real probes drive member, vserver and stat states."""

from __future__ import annotations

import asyncio
import time

import httpx
from dataplane_kit import backends_fixture, dplab_fixture, fast_monitor, free_port, wait_until  # noqa: F401

from adcml.gateway import converge, load_spec
from adcml.lab.emulators.adc.dataplane.health import MonitorSpec, MonitorState, probe
from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy

VIP = "127.0.0.11"


def test_a_killed_member_goes_down_within_interval_times_retries_and_comes_back(dplab, backends):
    a, b = backends.start("a", "127.0.3.1"), backends.start("b", "127.0.3.2")
    port = free_port(VIP)
    spec = load_spec({"name": "gw", "frontend": {"vip": VIP, "port": port, "protocol": "http"},
                      "pools": [{"name": "p", "members": [a.member, b.member],
                                 "lb_method": "ROUNDROBIN"}], "default_pool": "p"})
    base = f"http://{VIP}:{port}"
    with dplab.client() as c:
        converge(c, spec)
        fast_monitor(c, "gw.p", interval_ms=100, retries=3, downtime_ms=200)
        dplab.settle()
        assert dplab.member(a.ip, a.port)["state"] == "UP"

        backends.kill(a)
        killed = time.monotonic()
        wait_until(lambda: dplab.member(a.ip, a.port)["state"] == "DOWN", timeout=3)
        took = time.monotonic() - killed
        assert took <= 0.1 * 3 + 1.0, took  # interval x retries, and slack for a busy machine
        assert dplab.member(a.ip, a.port)["lastresponse"].startswith("Failure")
        members = c.bindings("servicegroup", "gw.p")[0]["servicegroup_servicegroupmember_binding"]
        assert {m["ip"]: m["svrstate"] for m in members} == {a.ip: "DOWN", b.ip: "UP"}
        stat = c.stat("lbvserver", "gw.p")[0]
        assert (stat["state"], stat["vslbhealth"], stat["actsvcs"]) == ("UP", "50", "1")
        assert c.find("servicegroup", "gw.p")["servicegroupeffectivestate"] == "PARTIAL-UP"
        with httpx.Client(base_url=base) as http:
            assert {http.get("/x").json()["name"] for _ in range(6)} == {"b"}

        backends.kill(b)
        wait_until(lambda: c.find("lbvserver", "gw.p")["curstate"] == "DOWN", timeout=3)
        assert httpx.get(base).status_code == 503
        assert c.stat("lbvserver", "gw.p")[0]["state"] == "DOWN"

        backends.revive(a)
        wait_until(lambda: dplab.member(a.ip, a.port)["state"] == "UP", timeout=3)
        assert c.find("lbvserver", "gw.p")["curstate"] == "UP"
        assert httpx.get(f"{base}/x").json()["name"] == "a"


def test_a_failing_health_endpoint_is_down_and_a_member_without_monitor_is_up(dplab, backends):
    sick, plain = backends.start("sick", "127.0.3.3"), backends.start("plain", "127.0.3.4")
    sick.health = 503
    with dplab.client() as c:
        c.enable_features(["LB"])
        c.add("servicegroup", [{"servicegroupname": "mon", "servicetype": "HTTP"},
                               {"servicegroupname": "nomon", "servicetype": "HTTP"}])
        c.add("lbmonitor", {"monitorname": "ecv", "type": "HTTP-ECV", "send": "GET /health",
                            "recv": "health", "interval": 100, "units3": "MSEC",
                            "resptimeout": 50, "units4": "MSEC"})
        c.add("lbmonitor", {"monitorname": "h", "type": "HTTP", "httprequest": "GET /health",
                            "interval": 100, "units3": "MSEC", "resptimeout": 50, "units4": "MSEC"})
        c.bind("servicegroup_lbmonitor_binding", {"servicegroupname": "mon", "monitor_name": "h"})
        c.bind("servicegroup_servicegroupmember_binding", [
            {"servicegroupname": "mon", "ip": sick.ip, "port": sick.port},
            {"servicegroupname": "nomon", "ip": plain.ip, "port": plain.port}])
        dplab.settle()
        assert dplab.member(sick.ip, sick.port)["state"] == "DOWN"
        assert "503" in dplab.member(sick.ip, sick.port)["lastresponse"]
        assert dplab.member(plain.ip, plain.port)["state"] == "UP"
        assert "default TCP monitor" in dplab.member(plain.ip, plain.port)["lastresponse"]
        # HTTP-ECV matches the body, not the status: the 503 page says "health".
        c.unbind("servicegroup_lbmonitor_binding", "mon", args={"monitor_name": "h"})
        c.bind("servicegroup_lbmonitor_binding", {"servicegroupname": "mon", "monitor_name": "ecv"})
        wait_until(lambda: dplab.member(sick.ip, sick.port)["state"] == "UP", timeout=3)


def run_probe(spec: MonitorSpec, ip: str, port: int) -> tuple[bool, str]:
    result = asyncio.run(probe(spec, ip, port, AddressPolicy()))
    return result.ok, result.response


def test_probe_types_and_the_state_machine(backends):
    up = backends.start("up", "127.0.3.5")
    assert run_probe(MonitorSpec("t", "TCP"), up.ip, up.port)[0]
    assert run_probe(MonitorSpec("p", "PING"), up.ip, up.port)[0]  # a TCP connect: no ICMP
    ok, why = run_probe(MonitorSpec("t", "TCP"), "127.0.3.6", free_port("127.0.3.6"))
    assert not ok and "reset" in why
    sick = MonitorSpec("h", "HTTP", httprequest="POST /health", respcodes=((300, 399),))
    ok, why = run_probe(sick, up.ip, up.port)
    assert not ok and "200" in why
    ok, why = run_probe(MonitorSpec("t", "TCP"), "192.0.2.1", 80)
    assert not ok and "policy" in why

    spec = MonitorSpec("m", retries=3, successretries=2, failureretries=2)
    state = MonitorState()
    assert not state.record(spec, True, "ok") and not state.up  # 1 of 2 successes
    assert state.record(spec, True, "ok") and state.up
    assert not state.record(spec, False, "no") and state.up
    assert state.record(spec, False, "no") and not state.up  # 2 failures of the last 3
    assert state.marked_down  # next probe after downtime
