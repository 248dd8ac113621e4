"""adc_servicegroup_member through ansible-playbook against a lab ADC whose data plane carries
traffic: a member is disabled while a slow request is in flight to it, the module waits for
that request to finish (drain), check mode writes nothing, a re-run changes nothing, a drain
that does not finish in time fails and leaves the member disabled."""

from __future__ import annotations

import threading

import httpx
import pytest
from ansible_harness import HOST, AnsibleProject
from dataplane_kit import backends_fixture, dplab_fixture, free_port, wait_until  # noqa: F401

from adcml.gateway import converge, load_spec

pytestmark = pytest.mark.slow
VIP = "127.0.0.10"


def member_task(name: str, state: str, *, ignore_errors: bool = False, check_mode: bool = False,
                **args) -> dict:
    task = {"name": name, "adc_servicegroup_member": {"gateway": "gw", "pool": "p", "state": state,
                                                      **args}}
    if ignore_errors:
        task["ignore_errors"] = True
    if check_mode:
        task["check_mode"] = True
    return task


class SlowCall:
    """A slow request through the VIP, sent until one lands on ``backend`` (round robin)."""

    def __init__(self, base: str, backend: str, ms: int):
        self.response: httpx.Response | None = None
        self.thread = threading.Thread(target=self._run, args=(base, backend, ms))
        self.thread.start()

    def _run(self, base: str, backend: str, ms: int) -> None:
        while self.response is None or self.response.json()["name"] != backend:
            self.response = httpx.get(f"{base}/slow?ms={ms}", timeout=30)

    def result(self) -> httpx.Response:
        self.thread.join(30)
        return self.response


@pytest.fixture
def pool(dplab, backends):
    one, two = backends.start("one", "127.0.4.1"), backends.start("two", "127.0.4.2")
    port = free_port(VIP)
    spec = load_spec({"name": "gw", "frontend": {"vip": VIP, "port": port, "protocol": "http"},
                      "pools": [{"name": "p", "lb_method": "ROUNDROBIN",
                                 "members": [one.member, two.member]}], "default_pool": "p"})
    with dplab.client() as c:
        converge(c, spec)
    dplab.settle()
    return f"http://{VIP}:{port}", one, two


def in_flight(dplab, backend) -> int:
    with dplab.client() as c:
        row = c.stat("servicegroupmember", args={"servicegroupname": "gw.p", "servername": backend.ip,
                                                 "port": backend.port})[0]
    return int(row["curclntconnections"])


def test_disable_drains_then_enable(dplab, pool, tmp_path):
    base, one, _two = pool
    project = AnsibleProject(tmp_path, nsip=dplab.url.removeprefix("http://"))
    me = {"host": one.ip, "port": one.port}
    playbook = project.write_playbook("member.yml", [
        member_task("check", "disabled", check_mode=True, drain_timeout=20, **me),
        member_task("disable", "disabled", drain_timeout=20, drain_poll=0.2, **me),
        member_task("disable again", "disabled", drain_timeout=20, **me),
        member_task("unknown member", "disabled", ignore_errors=True, host="127.0.4.9", port=one.port),
        member_task("bad host", "disabled", ignore_errors=True, host="not-an-ip", port=one.port),
        {"name": "both names", "adc_servicegroup_member": {
            "gateway": "gw", "pool": "p", "servicegroup": "gw.p", "servername": one.ip,
            "port": one.port, "state": "enabled"}, "ignore_errors": True},
        member_task("enable", "enabled", up_timeout=10, drain_poll=0.1, **me),
        {"name": "enable again", "adc_servicegroup_member": {
            "servicegroup": "gw.p", "servername": one.ip, "port": one.port, "state": "enabled"}},
    ])
    slow = SlowCall(base, "one", 6000)
    wait_until(lambda: in_flight(dplab, one) == 1, timeout=15)
    run = project.playbook(playbook, "--diff")
    assert run.rc == 0, run.explain()
    status = {e["task"]: e["status"] for e in run.results}
    assert status == {"check": "changed", "disable": "changed", "disable again": "ok",
                      "unknown member": "ignored", "bad host": "ignored", "both names": "ignored",
                      "enable": "changed", "enable again": "ok"}, run.explain()
    check = run.result("check")
    assert check["before"] == check["after"] == {"state": "ENABLED", "svrstate": "UP", "connections": 1}
    assert "drain" not in check
    disable = run.result("disable")
    assert disable["member"] == {"servicegroup": "gw.p", "servername": one.ip, "port": one.port}
    assert disable["before"]["state"] == "ENABLED" and disable["before"]["connections"] == 1
    assert disable["drain"]["drained"] and disable["drain"]["waited"] > 0.2, disable["drain"]
    assert disable["after"] == {"state": "DISABLED", "svrstate": "OUT OF SERVICE", "connections": 0}
    # The request in flight when the member was disabled finished on it, with 200.
    response = slow.result()
    assert response.status_code == 200 and response.json()["name"] == "one"
    again = run.result("disable again")["drain"]
    assert again["drained"] and again["connections"] == 0 and again["waited"] < 0.5, again
    assert "127.0.4.9" in run.result("unknown member")["msg"]
    assert f"{one.ip}:{one.port}" in run.result("unknown member")["msg"]  # the members it has
    assert run.result("bad host")["msg"].startswith("invalid member (nothing was sent to the ADC): host:")
    assert "mutually exclusive" in run.result("both names")["msg"]
    enable = run.result("enable")
    assert enable["after"]["state"] == "ENABLED" and enable["up"]["up"] and enable["up"]["state"] == "UP"
    assert f"~ service group gw.p member {one.ip}:{one.port}: state ENABLED -> DISABLED" in run.stdout
    names = {httpx.get(f"{base}/x", timeout=5).json()["name"] for _ in range(4)}
    assert names == {"one", "two"}


def test_a_drain_that_does_not_finish_fails_and_leaves_the_member_disabled(dplab, pool, backends,
                                                                          tmp_path):
    base, one, _two = pool
    project = AnsibleProject(tmp_path, nsip=dplab.url.removeprefix("http://"))
    playbook = project.write_playbook("member.yml", [
        member_task("disable", "disabled", drain_timeout=1, host=one.ip, port=one.port)])
    slow = SlowCall(base, "one", 8000)
    wait_until(lambda: in_flight(dplab, one) == 1, timeout=15)
    run = project.playbook(playbook)
    assert run.rc == 2 and run.recap[HOST]["failed"] == 1, run.explain()
    failed = run.result("disable")
    assert "1 request(s) still in flight after drain_timeout=1 s" in failed["msg"], failed
    assert failed["after"] == {"state": "DISABLED", "svrstate": "GOING OUT OF SERVICE", "connections": 1}
    assert not failed["drain"]["drained"] and failed["drain"]["waited"] >= 1
    assert slow.result().status_code == 200
    # Enabled again while its server is down: the monitor never sees it UP, and that fails.
    backends.kill(one)
    enable = project.write_playbook("enable.yml", [
        member_task("enable", "enabled", up_timeout=2, host=one.ip, port=one.port)])
    run = project.playbook(enable)
    assert run.rc == 2, run.explain()
    failed = run.result("enable")
    assert failed["after"]["state"] == "ENABLED" and failed["up"]["up"] is False
    assert f"enabled, but still {failed['up']['state']} after up_timeout=2 s" in failed["msg"]
    assert failed["up"]["state"] == "DOWN"
