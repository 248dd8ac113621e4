"""Bulk requests (a list body, X-NITRO-ONERROR) against the lab ADC: BulkError results say,
item by item, what the appliance then holds."""

from __future__ import annotations

import pytest

from adcml.nitro import (
    NOT_ATTEMPTED,
    AlreadyExists,
    BulkError,
    InvalidArgument,
    InvalidRequest,
    NotFound,
    OnError,
)


@pytest.fixture
def adc(lab_adc):
    with lab_adc.client() as client:
        client.enable_features(["LB"])
        client.add("server", {"name": "taken", "ipaddress": "10.9.9.9"})
        yield client


def servers(adc) -> set[str]:
    return {s["name"] for s in adc.get("server")} - {"taken"}


# s0, s1 fine; s2 duplicates an existing name (273); s3 has a bad IP (1097); s4 fine.
ITEMS = [
    {"name": "s0", "ipaddress": "10.0.0.1"},
    {"name": "s1", "ipaddress": "10.0.0.2"},
    {"name": "taken", "ipaddress": "10.0.0.3"},
    {"name": "s3", "ipaddress": "not-an-ip"},
    {"name": "s4", "ipaddress": "10.0.0.5"},
]


def test_bulk_add_all_ok(lab_adc, adc):
    lab_adc.reset_counters()
    adc.add("server", [{"name": f"b{i}", "ipaddress": f"10.1.0.{i}"} for i in range(1, 51)])
    assert lab_adc.counters()["requests"] == {"POST server": 1}  # one request for 50 objects
    assert adc.count("server") == 51
    assert adc.get("server", "b50")[0]["ipaddress"] == "10.1.0.50"


def test_empty_list_sends_nothing(lab_adc, adc):
    lab_adc.reset_counters()
    adc.add("server", [])
    assert lab_adc.counters()["total"] == 0


def test_onerror_exit_stops_at_the_first_failure(adc):
    with pytest.raises(BulkError) as info:
        adc.add("server", ITEMS, onerror="exit")
    err = info.value
    assert (err.errorcode, err.status, err.onerror, err.rolled_back) == (1243, 207, "exit", False)
    assert err.results[:2] == [None, None]
    assert isinstance(err.results[2], AlreadyExists)
    assert (err.results[2].errorcode, err.results[2].name) == (273, "taken")
    assert err.results[3:] == [NOT_ATTEMPTED, NOT_ATTEMPTED]
    assert (err.succeeded, [i for i, _ in err.failed], err.not_attempted) == ([0, 1], [2], [3, 4])
    assert servers(adc) == {"s0", "s1"}
    assert adc.get("server", "taken")[0]["ipaddress"] == "10.9.9.9"  # untouched
    assert "1 of 5 failed, 2 not attempted" in str(err)


def test_default_onerror_is_exit(adc):
    with pytest.raises(BulkError) as info:
        adc.add("server", ITEMS)
    assert info.value.not_attempted == [3, 4]
    assert servers(adc) == {"s0", "s1"}


def test_onerror_continue_attempts_every_item(adc):
    with pytest.raises(BulkError) as info:
        adc.add("server", ITEMS, onerror=OnError.CONTINUE)
    err = info.value
    assert err.onerror == "continue"
    assert [type(r) for r in err.results] == [
        type(None), type(None), AlreadyExists, InvalidArgument, type(None)]
    assert err.results[3].errorcode == 1097
    assert err.results[3].name == "s3"
    assert err.results[3].argument == "ipaddress"
    assert err.not_attempted == []
    assert servers(adc) == {"s0", "s1", "s4"}
    assert "2 of 5 failed" in str(err)


def test_onerror_rollback_undoes_the_applied_items(adc):
    with pytest.raises(BulkError) as info:
        adc.add("server", ITEMS, onerror="ROLLBACK")
    err = info.value
    assert err.onerror == "rollback"
    assert err.rolled_back
    assert isinstance(err.results[2], AlreadyExists)
    assert err.results[3:] == [NOT_ATTEMPTED, NOT_ATTEMPTED]
    assert servers(adc) == set()
    assert "all rolled back" in str(err)


def test_bulk_bind_with_rollback(adc):
    adc.add("servicegroup", {"servicegroupname": "sg", "servicetype": "HTTP"})
    members = [
        {"servicegroupname": "sg", "ip": "10.2.0.1", "port": 80},
        {"servicegroupname": "sg", "servername": "nosuchserver", "port": 80},
    ]
    with pytest.raises(BulkError) as info:
        adc.bind("servicegroup_servicegroupmember_binding", members, onerror="rollback")
    assert info.value.results[0] is None
    assert isinstance(info.value.results[1], NotFound)
    assert info.value.results[1].errorcode == 351
    assert adc.get("servicegroup_servicegroupmember_binding", "sg") == []


def test_bulk_update_with_continue(adc):
    adc.add("server", [ITEMS[0], ITEMS[1]])
    with pytest.raises(BulkError) as info:
        adc.update("server", [
            {"name": "s0", "comment": "one"},
            {"name": "ghost", "comment": "two"},
            {"name": "s1", "comment": "three"},
        ], onerror="continue")
    results = info.value.results
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], NotFound)
    assert (results[1].errorcode, results[1].name) == (351, "ghost")
    assert [s.get("comment") for s in adc.get("server", filter={"ipaddress": "10.0.0.1"})] == [
        "one"]
    assert adc.get("server", "s1")[0]["comment"] == "three"


def test_bad_onerror_is_refused_before_sending(lab_adc, adc):
    adc.add("server", [ITEMS[0], ITEMS[1]])
    lab_adc.reset_counters()
    with pytest.raises(InvalidRequest) as info:
        # The appliance rolls back adds and binds only: an update would be half applied.
        adc.update("server", [{"name": "s0", "comment": "x"}, {"name": "ghost", "comment": "y"}],
                   onerror="rollback")
    assert "add and bind only" in str(info.value)
    with pytest.raises(InvalidRequest):
        adc.action("server", "disable", [{"name": "s0"}], onerror="rollback")
    with pytest.raises(InvalidRequest):
        adc.add("server", ITEMS, onerror="ignore")
    with pytest.raises(InvalidRequest):
        adc.add("server", [{"name": "x", "ipaddress": "10.0.0.1"}, "y"])  # type: ignore[list-item]
    assert lab_adc.counters()["total"] == 0
