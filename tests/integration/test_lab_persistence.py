"""Lab ADC contract: running vs saved config, restarts, concurrent saves, partitions."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer

LB = {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}


def test_saved_changes_survive_a_restart(lab_adc, api, connect, ca):
    api.enable("LB", "SSL")
    api.must_add("lbvserver", LB)
    api.must_add("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"})
    api.must_add("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"})
    api.must_add("servicegroup_servicegroupmember_binding",
                 {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 8080})
    api.must_add("lbmonitor", {"monitorname": "health", "type": "HTTP", "interval": 60})
    issued = ca.issue("web.example.test")
    api.ok(api.upload("web.pem", issued.cert_pem), 201)
    api.ok(api.upload("web.key", issued.key_pem), 201)
    api.must_add("sslcertkey", {"certkey": "web", "cert": "web.pem", "key": "web.key"})
    before = {res: api.all(res) for res in ("lbvserver", "servicegroup", "server", "lbmonitor",
                                            "sslcertkey")}
    api.ok(api.act("nsconfig", "save", {}))

    fresh = connect(lab_adc.restart().url)
    after = {res: fresh.all(res) for res in before}
    assert after == before
    assert fresh.ok(fresh.get("nsfeature"))["nsfeature"]["feature"] == ["LB", "SSL"]
    [member] = fresh.ok(fresh.get("servicegroup_servicegroupmember_binding", "pool"))[
        "servicegroup_servicegroupmember_binding"]
    assert (member["ip"], member["port"]) == ("10.0.0.5", 8080)
    assert fresh.ok(fresh.get("nsconfig"))["nsconfig"]["configchanged"] is False


def test_unsaved_changes_are_lost_on_restart(lab_adc, api, connect):
    api.must_add("lbvserver", LB)
    api.ok(api.act("nsconfig", "save", {}))
    api.must_add("lbvserver", {**LB, "name": "unsaved"})
    api.ok(api.update("lbvserver", {"name": "web", "comment": "unsaved edit"}))

    fresh = connect(lab_adc.restart().url)
    assert [v["name"] for v in fresh.all("lbvserver")] == ["web"]
    assert "comment" not in fresh.one("lbvserver", "web")
    fresh.fails(fresh.get("lbvserver", "unsaved"), 404, 258)


def test_without_any_save_a_restart_is_a_fresh_appliance(lab_adc, api, connect):
    api.must_add("lbvserver", LB)
    api.enable("CS")
    fresh = connect(lab_adc.restart().url)
    assert fresh.all("lbvserver") == []
    assert fresh.ok(fresh.get("nsfeature"))["nsfeature"]["feature"] == []
    assert {"http", "tcp", "ping"} <= {m["monitorname"] for m in fresh.all("lbmonitor")}


def test_restart_does_not_duplicate_builtin_monitors(lab_adc, api, connect):
    count = len(api.all("lbmonitor"))
    api.ok(api.act("nsconfig", "save", {}))
    fresh = connect(lab_adc.restart().url)
    fresh.fails(fresh.delete("lbmonitor", "http", type="HTTP"), 599, 257)
    assert len(fresh.all("lbmonitor")) == count


def test_saved_file_is_complete_json_and_no_temporary_is_left(lab_adc, api):
    api.must_add("lbvserver", LB)
    api.ok(api.act("nsconfig", "save", {}))
    saved = lab_adc.state_dir / "ns.conf.json"
    data = json.loads(saved.read_text())
    assert [v["name"] for v in data["partitions"]["default"]["lbvserver"]] == ["web"]
    assert list(lab_adc.state_dir.rglob("*.tmp")) == []


@pytest.fixture
def slow_saver(tmp_path: Path):
    """A lab ADC whose save takes half a second."""
    with LabServer(LabADC(tmp_path / "slow", save_delay=0.5)) as server:
        yield server


def test_concurrent_save_is_293(slow_saver, connect):
    first, second = connect(slow_saver.url), connect(slow_saver.url)
    first.must_add("lbvserver", LB)
    results: dict[str, httpx.Response] = {}

    def save(label, api):
        results[label] = api.act("nsconfig", "save", {})

    threads = [threading.Thread(target=save, args=(n, a)) for n, a in
               (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200, 599]
    [busy] = [r for r in results.values() if r.status_code == 599]
    first.fails(busy, 599, 293)
    assert busy.json()["message"] == "Operation already in progress"
    first.ok(first.act("nsconfig", "save", {}))  # free again afterwards


def test_a_change_during_a_save_stays_unsaved(slow_saver, connect, tmp_path):
    api = connect(slow_saver.url)
    api.must_add("lbvserver", LB)
    saver = threading.Thread(target=api.act, args=("nsconfig", "save", {}))
    other = connect(slow_saver.url)
    saver.start()
    time.sleep(0.2)  # the save (0.5 s) is under way
    other.must_add("lbvserver", {**LB, "name": "late"})
    saver.join(10)
    assert other.ok(other.get("nsconfig"))["nsconfig"]["configchanged"] is True
    saved = json.loads((tmp_path / "slow" / "ns.conf.json").read_text())
    assert [v["name"] for v in saved["partitions"]["default"]["lbvserver"]] == ["web"]


def test_partitions_are_per_session(api, lab_adc, connect):
    api.must_add("lbvserver", LB)
    api.ok(api.add("nspartition", {"partitionname": "tenant1"}), 201)
    tenant = connect(lab_adc.url)
    tenant.ok(tenant.act("nspartition", "Switch", {"partitionname": "tenant1"}))
    assert tenant.all("lbvserver") == []
    tenant.must_add("lbvserver", {**LB, "name": "t1-only"})
    tenant.must_add("lbvserver", LB)  # the same name lives apart in each partition
    assert sorted(v["name"] for v in tenant.all("lbvserver")) == ["t1-only", "web"]
    assert [v["name"] for v in api.all("lbvserver")] == ["web"]
    api.fails(api.get("lbvserver", "t1-only"), 404, 258)

    tenant.ok(tenant.act("nspartition", "switch", {"partitionname": "default"}))
    assert [v["name"] for v in tenant.all("lbvserver")] == ["web"]


def test_switch_to_a_missing_partition_is_refused(api):
    api.fails(api.act("nspartition", "switch", {"partitionname": "nope"}), 404, 258, "nope")
    api.fails(api.act("nspartition", "switch", {}), 599, 1095, "partitionname")
    api.must_add("lbvserver", LB)
    assert [v["name"] for v in api.all("lbvserver")] == ["web"]


def test_switch_needs_a_session(api, lab_adc):
    api.ok(api.add("nspartition", {"partitionname": "tenant1"}), 201)
    headers = {"X-NITRO-USER": "nsroot", "X-NITRO-PASS": "nsroot"}
    response = httpx.post(f"{lab_adc.url}/nitro/v1/config/nspartition?action=switch",
                          json={"nspartition": {"partitionname": "tenant1"}}, headers=headers)
    api.fails(response, 599, 257, "session")


def test_partitions_are_added_from_default_only(api):
    api.ok(api.add("nspartition", {"partitionname": "tenant1"}), 201)
    api.ok(api.act("nspartition", "switch", {"partitionname": "tenant1"}))
    api.fails(api.add("nspartition", {"partitionname": "tenant2"}), 599, 257, "default")


def test_partitions_and_their_objects_survive_a_saved_restart(api, lab_adc, connect):
    api.ok(api.add("nspartition", {"partitionname": "tenant1"}), 201)
    api.ok(api.act("nspartition", "switch", {"partitionname": "tenant1"}))
    api.must_add("lbvserver", {**LB, "name": "t1-only"})
    api.ok(api.act("nsconfig", "save", {}))
    fresh = connect(lab_adc.restart().url)
    assert fresh.one("nspartition", "tenant1")["partitionname"] == "tenant1"
    assert fresh.all("lbvserver") == []
    fresh.ok(fresh.act("nspartition", "switch", {"partitionname": "tenant1"}))
    assert [v["name"] for v in fresh.all("lbvserver")] == ["t1-only"]
