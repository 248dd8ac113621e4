"""Lab ADC contract: array bodies and X-NITRO-ONERROR (exit, continue, rollback)."""

from __future__ import annotations

import pytest

DONE = {"errorcode": 0, "message": "Done", "severity": "NONE"}


def vs(name: str, port: int = 80) -> dict:
    return {"name": name, "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": port}


def bulk_failed(api, response, expected_codes: list[int]) -> list[dict]:
    """Assert a 207 bulk failure; return its ``response`` entries."""
    assert response.status_code == 207, response.text
    body = response.json()
    assert {k: body[k] for k in ("errorcode", "message", "severity")} == {
        "errorcode": 1243, "message": "Bulk operation failed", "severity": "ERROR"}
    entries = body["response"]
    assert [e["errorcode"] for e in entries] == expected_codes
    for entry in entries:
        assert entry == DONE or entry["severity"] == "ERROR"
    return entries


def names(api) -> set[str]:
    return {v["name"] for v in api.all("lbvserver")}


@pytest.fixture
def existing(api):
    api.must_add("lbvserver", vs("dup"))
    return api


def test_all_good_is_201_and_all_applied(api):
    api.ok(api.add("lbvserver", [vs("a"), vs("b"), vs("c")]), 201)
    assert names(api) == {"a", "b", "c"}


def test_default_is_exit_at_the_first_failure(existing):
    response = existing.add("lbvserver", [vs("a"), vs("dup"), vs("c")])
    entries = bulk_failed(existing, response, [0, 273])
    assert "dup" in entries[1]["message"]
    assert names(existing) == {"dup", "a"}


def test_explicit_exit(existing):
    response = existing.add("lbvserver", [vs("dup"), vs("a")], headers={"X-NITRO-ONERROR": "exit"})
    bulk_failed(existing, response, [273])
    assert names(existing) == {"dup"}


def test_continue_attempts_every_entry(existing):
    items = [vs("a"), vs("dup"), {"name": "bad", "servicetype": "GOPHER"}, vs("d")]
    response = existing.add("lbvserver", items, headers={"X-NITRO-ONERROR": "continue"})
    entries = bulk_failed(existing, response, [0, 273, 1097, 0])
    assert "GOPHER" in entries[2]["message"]
    assert names(existing) == {"dup", "a", "d"}


def test_rollback_leaves_nothing_of_the_batch(existing):
    existing.ok(existing.act("nsconfig", "save", {}))
    response = existing.add("lbvserver", [vs("a"), vs("b"), vs("dup")],
                            headers={"X-NITRO-ONERROR": "rollback"})
    bulk_failed(existing, response, [0, 0, 273])
    assert names(existing) == {"dup"}
    assert existing.ok(existing.get("nsconfig"))["nsconfig"]["configchanged"] is False


def test_rollback_of_binds_undoes_implicit_servers_too(api):
    api.must_add("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"})
    members = [
        {"servicegroupname": "pool", "ip": "10.0.0.1", "port": 80},
        {"servicegroupname": "pool", "ip": "10.0.0.2", "port": 80},
        {"servicegroupname": "pool", "servername": "nope", "port": 80},
    ]
    response = api.http.post("/servicegroup_servicegroupmember_binding",
                             json={"servicegroup_servicegroupmember_binding": members},
                             headers={"X-NITRO-ONERROR": "rollback"})
    bulk_failed(api, response, [0, 0, 351])
    assert api.get("servicegroup_servicegroupmember_binding", "pool").json() == DONE
    api.fails(api.get("server", "10.0.0.1"), 404, 351)
    assert api.all("server") == []


def test_rollback_of_uploads_removes_the_files(api):
    good = {"filename": "a.pem", "filelocation": "/nsconfig/ssl/", "filecontent": "YQ=="}
    bad = {"filename": "b.pem", "filelocation": "/nsconfig/ssl/", "filecontent": "%%%"}
    response = api.http.post("/systemfile", json={"systemfile": [good, bad]},
                             headers={"X-NITRO-ONERROR": "rollback"})
    bulk_failed(api, response, [0, 1097])
    query = "?args=filelocation:%2Fnsconfig%2Fssl"
    api.fails(api.get("systemfile", "a.pem", query), 404, 3441)


def test_bulk_bind_and_bulk_update(api):
    api.must_add("lbvserver", vs("web"))
    api.ok(api.add("servicegroup", [{"servicegroupname": g, "servicetype": "HTTP"}
                                    for g in ("g1", "g2")]), 201)
    api.ok(api.bind("lbvserver_servicegroup_binding",
                    [{"name": "web", "servicegroupname": g} for g in ("g1", "g2")], "POST"), 201)
    api.ok(api.bind("lbvserver_servicegroup_binding",
                    [{"name": "web", "servicegroupname": g} for g in ()], "PUT"), 200)
    api.ok(api.http.put("/servicegroup", json={"servicegroup": [
        {"servicegroupname": "g1", "maxclient": 5}, {"servicegroupname": "g2", "maxclient": 6}]}))
    assert [api.one("servicegroup", g)["maxclient"] for g in ("g1", "g2")] == ["5", "6"]


def test_bulk_update_failure_with_rollback_behaves_as_exit(api):
    api.ok(api.add("lbvserver", [vs("a"), vs("b")]), 201)
    response = api.http.put("/lbvserver", json={"lbvserver": [
        {"name": "a", "comment": "one"}, {"name": "missing", "comment": "x"},
        {"name": "b", "comment": "three"}]}, headers={"X-NITRO-ONERROR": "rollback"})
    bulk_failed(api, response, [0, 258])
    assert api.one("lbvserver", "a")["comment"] == "one"
    assert "comment" not in api.one("lbvserver", "b")


def test_bulk_actions(api):
    api.ok(api.add("lbvserver", [vs("a"), vs("b")]), 201)
    api.ok(api.act("lbvserver", "disable", [{"name": "a"}, {"name": "b"}]))
    assert [api.one("lbvserver", n)["state"] for n in "ab"] == ["DISABLED", "DISABLED"]


def test_unknown_onerror_is_refused(api):
    response = api.add("lbvserver", [vs("a")], headers={"X-NITRO-ONERROR": "panic"})
    api.fails(response, 400, 1097, "X-NITRO-ONERROR")
    assert names(api) == set()


def test_an_entry_that_is_not_an_object_fails_alone(api):
    response = api.add("lbvserver", [vs("a"), "b", vs("c")],
                       headers={"X-NITRO-ONERROR": "continue"})
    bulk_failed(api, response, [0, 1233, 0])
    assert names(api) == {"a", "c"}
