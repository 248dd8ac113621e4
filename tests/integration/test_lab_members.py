"""One service group member out of service and back (``servicegroup?action=disable|enable``
naming ``servername`` and ``port``), and ``stat/servicegroupmember``: the contract, then the
data plane honouring it (no new requests, in-flight ones finish, then OUT OF SERVICE)."""

from __future__ import annotations

import threading

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, free_port, wait_until  # noqa: F401

from adcml.gateway import converge, load_spec

MEMBER = "servicegroup_servicegroupmember_binding"


@pytest.fixture
def group(api):
    api.must_add("servicegroup", {"servicegroupname": "sg", "servicetype": "HTTP"})
    for ip in ("127.0.1.1", "127.0.1.2"):
        api.must_add(MEMBER, {"servicegroupname": "sg", "ip": ip, "port": 8000})
    return "sg"


def states(api) -> dict[str, str]:
    rows = api.ok(api.get(MEMBER, "sg"))[MEMBER]
    return {r["servername"]: (r.get("state", "ENABLED"), r["svrstate"]) for r in rows}


def test_disable_and_enable_one_member(api, group):
    body = {"servicegroupname": "sg", "servername": "127.0.1.1", "port": 8000,
            "graceful": "YES", "delay": 5}
    api.ok(api.act("servicegroup", "disable", body))
    assert states(api) == {"127.0.1.1": ("DISABLED", "OUT OF SERVICE"), "127.0.1.2": ("ENABLED", "UP")}
    assert api.one("servicegroup", "sg")["state"] == "ENABLED"  # the group itself stays in service
    api.ok(api.act("servicegroup", "disable", body))  # again: nothing to do, no error
    api.ok(api.act("servicegroup", "enable", {"servicegroupname": "sg", "servername": "127.0.1.1",
                                              "port": "8000"}))  # numbers as strings, as some send
    assert states(api) == {"127.0.1.1": ("ENABLED", "UP"), "127.0.1.2": ("ENABLED", "UP")}


def test_disable_the_whole_group_still_works_with_graceful(api, group):
    api.ok(api.act("servicegroup", "disable", {"servicegroupname": "sg", "graceful": "no"}))
    assert api.one("servicegroup", "sg")["state"] == "DISABLED"
    assert {s for s, _ in states(api).values()} == {"ENABLED"}


@pytest.mark.parametrize("body, status, code, fragment", [
    ({"servicegroupname": "sg", "servername": "127.0.1.9", "port": 8000}, 404, 258, "127.0.1.9"),
    ({"servicegroupname": "sg", "servername": "127.0.1.1", "port": 9}, 404, 258, "not a member of sg"),
    ({"servicegroupname": "nope", "servername": "127.0.1.1", "port": 8000}, 404, 258, "nope"),
    ({"servicegroupname": "sg", "servername": "127.0.1.1"}, 599, 1095, "port"),
    ({"servicegroupname": "sg", "port": 8000}, 599, 1095, "servername"),
    ({"servicegroupname": "sg", "servername": "127.0.1.1", "port": 70000}, 599, 1097, "port"),
    ({"servicegroupname": "sg", "servername": "127.0.1.1", "port": 8000, "graceful": "maybe"},
     599, 1097, "graceful"),
    ({"servicegroupname": "sg", "servername": "127.0.1.1", "port": 8000, "delay": -1}, 599, 1097, "delay"),
    ({"servicegroupname": "sg", "ip": "127.0.1.1", "port": 8000}, 599, 278, "ip"),
])
def test_bad_member_actions_are_refused(api, group, body, status, code, fragment):
    api.fails(api.act("servicegroup", "disable", body), status, code, fragment)
    assert {s for s, _ in states(api).values()} == {"ENABLED"}


def test_enable_takes_no_drain_options(api, group):
    body = {"servicegroupname": "sg", "servername": "127.0.1.1", "port": 8000, "graceful": "YES"}
    api.fails(api.act("servicegroup", "enable", body), 599, 278, "graceful")


def test_stat_servicegroupmember_without_data_plane(api, group):
    api.ok(api.act("servicegroup", "disable", {"servicegroupname": "sg", "servername": "127.0.1.2",
                                               "port": 8000}))
    query = "?args=" + api.pairs({"servicegroupname": "sg", "servername": "127.0.1.2", "port": 8000})
    row, = _stat(api, query)
    assert row == {"servicegroupname": "sg", "primaryipaddress": "127.0.1.2", "primaryport": 8000,
                   "servicetype": "HTTP", "state": "OUT OF SERVICE", "totalrequests": "0",
                   "totalresponses": "0", "curclntconnections": "0", "cursrvrconnections": "0",
                   "surgecount": "0"}
    both = _stat(api, "?args=" + api.pairs({"servicegroupname": "sg"}))
    assert [r["primaryipaddress"] for r in both] == ["127.0.1.1", "127.0.1.2"]
    by_ip = _stat(api, "/sg?args=" + api.pairs({"ip": "127.0.1.1", "port": 8000}))
    assert [r["state"] for r in by_ip] == ["UP"]


@pytest.mark.parametrize("query, status, code", [
    ("", 599, 1095),
    ("?args=servicegroupname:sg,servername:127.0.1.1", 599, 1095),
    ("?args=servicegroupname:sg,servername:127.0.1.1,ip:127.0.1.1,port:8000", 599, 1092),
    ("?args=servicegroupname:sg,servername:127.0.1.7,port:8000", 404, 258),
    ("?args=servicegroupname:other", 404, 258),
    ("?args=servicegroupname:sg,colour:red", 599, 278),
])
def test_stat_servicegroupmember_refusals(api, group, query, status, code):
    response = api.http.get(_stat_url(api, query))
    api.fails(response, status, code)


def _stat_url(api, query: str) -> str:
    return str(api.http.base_url).replace("/nitro/v1/config", "/nitro/v1/stat") + "servicegroupmember" + query


def _stat(api, query: str) -> list[dict]:
    return api.ok(api.http.get(_stat_url(api, query)))["servicegroupmember"]


# --- the data plane ---------------------------------------------------------------------------
def test_a_disabled_member_takes_no_new_request_and_finishes_those_in_flight(dplab, backends):
    """A slow request in flight to the member when it is disabled completes with 200; while
    it runs the member is GOING OUT OF SERVICE with one connection; every request after the
    disable goes to the other member; once it is done the member is OUT OF SERVICE."""
    one, two = backends.start("one", "127.0.3.1"), backends.start("two", "127.0.3.2")
    vip, port = "127.0.0.10", free_port("127.0.0.10")
    spec = load_spec({"name": "gw", "frontend": {"vip": vip, "port": port, "protocol": "http"},
                      "pools": [{"name": "p", "lb_method": "ROUNDROBIN",
                                 "members": [one.member, two.member]}], "default_pool": "p"})
    base = f"http://{vip}:{port}"
    args = {"servicegroupname": "gw.p", "servername": one.ip, "port": one.port}
    with dplab.client() as c:
        converge(c, spec)
        dplab.settle()
        slow: dict[str, httpx.Response] = {}

        def call_slow() -> None:  # round robin: send until one lands on member "one"
            while "r" not in slow or slow["r"].json()["name"] != "one":
                slow["r"] = httpx.get(f"{base}/slow?ms=1500", timeout=10)

        thread = threading.Thread(target=call_slow)
        thread.start()
        wait_until(lambda: c.stat("servicegroupmember", args=args)[0]["curclntconnections"] == "1",
                   timeout=10)
        c.action("servicegroup", "disable", {**args, "graceful": "YES"})
        dplab.settle()
        row = c.stat("servicegroupmember", args=args)[0]
        assert (row["state"], row["curclntconnections"]) == ("GOING OUT OF SERVICE", "1"), row
        before = one.hits
        names = [httpx.get(f"{base}/x", timeout=5).json()["name"] for _ in range(6)]
        assert names == ["two"] * 6 and one.hits == before
        thread.join(10)
        assert slow["r"].status_code == 200 and slow["r"].json()["name"] == "one"
        row = c.stat("servicegroupmember", args=args)[0]
        assert (row["state"], row["curclntconnections"]) == ("OUT OF SERVICE", "0"), row
        c.action("servicegroup", "enable", args)
        dplab.settle()
        names = {httpx.get(f"{base}/x", timeout=5).json()["name"] for _ in range(4)}
        assert names == {"one", "two"}
