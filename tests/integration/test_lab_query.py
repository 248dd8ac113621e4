"""Lab ADC contract: filter, attrs, count, paging and args on GETs."""

from __future__ import annotations

import pytest

VSERVERS = [
    {"name": f"vs{i}", "servicetype": "HTTP" if i % 2 else "TCP", "ipv46": f"10.0.0.{i}",
     "port": 80 + i, "comment": "team a,b:c" if i < 3 else "other"}
    for i in range(1, 6)
]


@pytest.fixture
def five(api):
    for vs in VSERVERS:
        api.must_add("lbvserver", vs)
    return api


def names(rows: list[dict]) -> list[str]:
    return [r["name"] for r in rows]


def test_filter_matches_attributes(five):
    assert names(five.all("lbvserver", "?filter=servicetype:HTTP")) == ["vs1", "vs3", "vs5"]
    assert names(five.all("lbvserver", "?filter=servicetype:tcp")) == ["vs2", "vs4"]
    assert names(five.all("lbvserver", "?filter=servicetype:HTTP,port:83")) == ["vs3"]
    assert names(five.all("lbvserver", "?filter=port:99")) == []


def test_filter_values_are_percent_decoded_after_splitting(five):
    query = "?filter=" + five.pairs({"comment": "team a,b:c"})
    assert query == "?filter=comment:team%20a%2Cb%3Ac"
    assert names(five.all("lbvserver", query)) == ["vs1", "vs2"]


def test_filter_on_default_and_computed_values(five):
    assert len(five.all("lbvserver", "?filter=lbmethod:LEASTCONNECTION")) == 5
    assert len(five.all("lbvserver", "?filter=curstate:DOWN")) == 5


def test_attrs_selects_fields_and_keeps_the_name(five):
    rows = five.all("lbvserver", "?attrs=port,servicetype")
    assert rows[0] == {"name": "vs1", "port": 81, "servicetype": "HTTP"}
    assert all(set(r) == {"name", "port", "servicetype"} for r in rows)
    one = five.one("lbvserver", "vs2", "?attrs=ipv46")
    assert one == {"name": "vs2", "ipv46": "10.0.0.2"}


def test_count(five):
    body = five.ok(five.get("lbvserver", query="?count=yes"))
    assert body["lbvserver"] == [{"__count": 5}]
    filtered = five.ok(five.get("lbvserver", query="?count=yes&filter=servicetype:TCP"))
    assert filtered["lbvserver"] == [{"__count": 2}]
    none = five.ok(five.get("csvserver", query="?count=yes"))
    assert none["csvserver"] == [{"__count": 0}]


def test_count_of_bindings(five):
    five.must_add("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"})
    for port in (8000, 8001, 8002):
        five.must_add("servicegroup_servicegroupmember_binding",
                      {"servicegroupname": "pool", "ip": "10.0.9.1", "port": port})
    body = five.ok(five.get("servicegroup_servicegroupmember_binding", "pool", "?count=yes"))
    assert body["servicegroup_servicegroupmember_binding"] == [{"__count": 3}]
    member = five.ok(five.get("servicegroup_servicegroupmember_binding", "pool",
                              "?filter=port:8001"))["servicegroup_servicegroupmember_binding"]
    assert [m["port"] for m in member] == [8001]


@pytest.mark.parametrize("query, expected", [
    ("?pagesize=2", ["vs1", "vs2"]),
    ("?pagesize=2&pageno=1", ["vs1", "vs2"]),
    ("?pagesize=2&pageno=2", ["vs3", "vs4"]),
    ("?pagesize=2&pageno=3", ["vs5"]),
    ("?pagesize=2&pageno=4", []),
    ("?pagesize=10", ["vs1", "vs2", "vs3", "vs4", "vs5"]),
    ("?pagesize=1&pageno=2&filter=servicetype:HTTP", ["vs3"]),
])
def test_paging(five, query, expected):
    assert names(five.all("lbvserver", query)) == expected


@pytest.mark.parametrize("query, culprit", [
    ("?pagesize=0", "pagesize"), ("?pagesize=x", "pagesize"), ("?pagesize=2&pageno=0", "pageno"),
    ("?pagesize=2&pageno=-1", "pageno"),
])
def test_bad_paging_is_1097(five, query, culprit):
    five.fails(five.get("lbvserver", query=query), 599, 1097, culprit)


def test_malformed_args_and_filter_are_refused(five):
    five.fails(five.get("lbvserver", query="?filter=justaword"), 599, 278, "justaword")
    five.fails(five.http.delete("/lbmonitor/http?args=type"), 599, 278, "type")
    assert five.one("lbmonitor", "http")["type"] == "HTTP"


def test_args_values_are_percent_encoded(api):
    api.must_add("lbmonitor", {"monitorname": "health", "type": "HTTP-ECV"})
    response = api.http.delete("/lbmonitor/health?args=type:HTTP-ECV")
    api.ok(response)
    api.must_add("lbmonitor", {"monitorname": "health", "type": "HTTP-ECV"})
    api.ok(api.http.delete("/lbmonitor/health?args=type%3AHTTP-ECV"))  # encoded once more
    api.fails(api.get("lbmonitor", "health"), 404, 258)


def test_view_summary_answers_like_detail(five):
    assert five.all("lbvserver", "?view=summary") == five.all("lbvserver")
