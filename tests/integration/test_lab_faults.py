"""Lab ADC test controls: fault injection, counters; and concurrent clients."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

LB = {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}


def test_error_fault_answers_the_nth_matching_request(lab_adc, api):
    api.must_add("lbvserver", LB)
    lab_adc.fault(method="GET", resource="lbvserver", nth=2, kind="error", status=503,
                  errorcode=444, message="Session expired or killed (injected)")
    api.one("lbvserver", "web")
    api.ok(api.get("nsversion"))  # does not match: not counted
    response = api.get("lbvserver", "web")
    assert response.status_code == 503
    assert response.json() == {"errorcode": 444, "severity": "ERROR",
                               "message": "Session expired or killed (injected)"}
    api.one("lbvserver", "web")  # fired once only


def test_error_fault_times(lab_adc, api):
    lab_adc.fault(method="POST", resource="lbvserver", times=2, kind="error", status=599,
                  errorcode=257)
    for _ in range(2):
        assert api.add("lbvserver", LB).status_code == 599
    assert api.all("lbvserver") == []
    api.must_add("lbvserver", LB)


def test_drop_applies_nothing(lab_adc, api):
    lab_adc.fault(method="POST", resource="lbvserver", kind="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        api.add("lbvserver", LB)
    assert api.all("lbvserver") == []


def test_drop_after_applies_then_closes(lab_adc, api):
    lab_adc.fault(method="POST", resource="lbvserver", kind="drop_after")
    with pytest.raises(httpx.RemoteProtocolError):
        api.add("lbvserver", LB)
    assert api.one("lbvserver", "web")["port"] == 80
    api.fails(api.add("lbvserver", LB), 409, 273)


def test_latency(lab_adc, api):
    lab_adc.fault(method="GET", resource="nsversion", kind="latency", latency_ms=400)
    started = time.monotonic()
    api.ok(api.get("nsversion"))
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    api.ok(api.get("nsversion"))
    assert time.monotonic() - started < 0.4


def test_a_request_the_client_gave_up_on_is_still_carried_out(lab_adc, api):
    lab_adc.fault(method="POST", resource="lbvserver", kind="latency", latency_ms=500)
    with pytest.raises(httpx.ReadTimeout):
        api.http.post("/lbvserver", json={"lbvserver": LB}, timeout=0.2)
    deadline = time.monotonic() + 3
    while api.get("lbvserver", "web").status_code == 404:
        assert time.monotonic() < deadline, "the add was never carried out"
        time.sleep(0.05)
    assert api.one("lbvserver", "web")["port"] == 80
    assert lab_adc.counters()["requests"]["POST lbvserver"] == 1


def test_write_matches_post_put_delete_but_not_login_or_reads(lab_adc, api, connect):
    api.must_add("lbvserver", LB)
    lab_adc.fault(method="WRITE", kind="error", status=503, times=3)
    connect(lab_adc.url)  # login is not a write
    api.one("lbvserver", "web")
    assert api.add("lbvserver", {**LB, "name": "x"}).status_code == 503
    assert api.update("lbvserver", {"name": "web", "comment": "c"}).status_code == 503
    assert api.delete("lbvserver", "web").status_code == 503
    assert "comment" not in api.one("lbvserver", "web")
    api.ok(api.delete("lbvserver", "web"))


def test_action_filter(lab_adc, api):
    api.must_add("lbvserver", LB)
    lab_adc.fault(method="POST", resource="nsconfig", action="SAVE", kind="error", status=503)
    api.ok(api.act("lbvserver", "disable", {"name": "web"}))
    assert api.act("nsconfig", "save", {}).status_code == 503
    api.ok(api.act("nsconfig", "save", {}))


def test_counters_per_method_and_resource(lab_adc, api):
    lab_adc.reset_counters()
    api.must_add("lbvserver", LB)
    api.get("lbvserver", "web")
    api.get("lbvserver")
    api.delete("lbvserver", "web")
    api.act("nsconfig", "save", {})
    report = lab_adc.counters()
    assert report["requests"] == {"POST lbvserver": 1, "GET lbvserver": 2,
                                  "DELETE lbvserver": 1, "POST nsconfig": 1}
    assert report["total"] == 5
    lab_adc.reset_counters()
    assert lab_adc.counters()["total"] == 0


def test_fault_rules_are_reported_and_cleared(lab_adc, api):
    rule = lab_adc.fault(method="GET", resource="nsversion", kind="error", status=500)
    assert api.get("nsversion").status_code == 500
    [reported] = lab_adc.counters()["faults"]
    assert (reported["id"], reported["seen"], reported["fired"]) == (rule, 1, 1)
    lab_adc.fault(method="GET", resource="nsversion", kind="error", status=500, nth=1, times=5)
    lab_adc.control("DELETE", "faults")
    api.ok(api.get("nsversion"))


@pytest.mark.parametrize("rule", [{"kind": "explode"}, {"nth": 0}, {"flavour": "x"},
                                  {"times": -1}])
def test_bad_fault_rules_are_refused(lab_adc, rule):
    response = httpx.post(f"{lab_adc.url}/lab/faults", json=rule)
    assert response.status_code == 400
    assert response.json()["error"]


def test_many_threads_adding_at_once(lab_adc, connect):
    clients = [connect(lab_adc.url) for _ in range(8)]

    def add_many(index: int) -> list[int]:
        api = clients[index]
        return [api.add("lbvserver", {**LB, "name": f"vs-{index}-{i}", "port": 1000 + i})
                .status_code for i in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = [s for batch in pool.map(add_many, range(8)) for s in batch]
    assert statuses == [201] * 200
    api = clients[0]
    assert api.ok(api.get("lbvserver", query="?count=yes"))["lbvserver"] == [{"__count": 200}]
    names = {v["name"] for v in api.all("lbvserver")}
    assert names == {f"vs-{t}-{i}" for t in range(8) for i in range(25)}


def test_many_threads_racing_for_one_name(lab_adc, connect):
    clients = [connect(lab_adc.url) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda api: api.add("lbvserver", LB).status_code, clients))
    assert sorted(statuses) == [201] + [409] * 7
