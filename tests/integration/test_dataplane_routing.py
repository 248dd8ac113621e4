"""The lab's data plane routes real HTTP the way its running config says: content switching,
load balancing, backups, config changes, stats, audit, and the loopback-only safety rule."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, free_port, wait_until  # noqa: F401

from adcml.gateway import converge, load_spec
from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.dataplane.reach import UNREACHABLE, AddressPolicy, AddressRefused
from adcml.lab.emulators.adc.server import LabServer
from adcml.nitro import NitroClient

VIP = "127.0.0.10"


def gateway(port: int, pools: list[dict], default: str | None, name: str = "gw"):
    return load_spec({"name": name, "frontend": {"vip": VIP, "port": port, "protocol": "http"},
                      "pools": pools, "default_pool": default})


def pool(name: str, *members, match: dict | None = None, method: str = "ROUNDROBIN", **extra) -> dict:
    out = {"name": name, "members": [m if isinstance(m, dict) else m.member for m in members],
           "lb_method": method, **extra}
    if match:
        out["match"] = match
    return out


def who(url: str, **kw) -> str:
    response = httpx.get(url, timeout=5, **kw)
    assert response.status_code == 200, response.text
    return response.json()["name"]


@pytest.fixture
def site(dplab, backends):
    """A gateway: /v1/embeddings → emb, host chat.lab.test → chat, else → gen."""
    emb, chat, gen = (backends.start(n, f"127.0.1.{i}") for i, n in enumerate(("emb", "chat", "gen"), 1))
    port = free_port(VIP)
    spec = gateway(port, [
        pool("emb", emb, match={"path_prefix": "/v1/embeddings"}),
        pool("chat", chat, match={"host": "chat.lab.test"}),
        pool("gen", gen),
    ], "gen")
    with dplab.client() as client:
        converge(client, spec)
    dplab.settle()
    return f"http://{VIP}:{port}", spec


def test_content_switching_by_path_host_and_default(site):
    base, _ = site
    assert who(f"{base}/v1/embeddings/x?q=1") == "emb"
    assert who(f"{base}/v1/chat", headers={"Host": "chat.lab.test:443"}) == "chat"
    assert who(f"{base}/v1/completions") == "gen"
    echoed = httpx.get(f"{base}/v1/embeddings?q=1", headers={"Connection": "keep-alive, X-Hop",
                                                             "X-Hop": "secret", "X-Keep": "1"}).json()
    assert echoed["query"] == "q=1" and echoed["headers"]["X-Keep"] == "1"
    assert "X-Hop" not in echoed["headers"]  # named in Connection: hop-by-hop, not forwarded
    assert echoed["headers"]["X-Forwarded-For"] == "127.0.0.1"
    response = httpx.get(f"{base}/v1/embeddings")
    assert "X-Secret-Hop" not in response.headers


def test_backups_when_the_default_pool_is_down(dplab, backends, site):
    base, _ = site
    spill, hf = backends.start("spill", "127.0.1.7"), backends.start("hf", "127.0.1.8")
    with dplab.client() as c:
        # The LB vserver's own backup: a "Hugging Face" pool taking over gw.emb.
        c.add("lbvserver", {"name": "hf", "servicetype": "HTTP"})
        c.add("servicegroup", {"servicegroupname": "hf", "servicetype": "HTTP"})
        c.bind("servicegroup_servicegroupmember_binding",
               {"servicegroupname": "hf", "ip": hf.ip, "port": hf.port})
        c.bind("lbvserver_servicegroup_binding", {"name": "hf", "servicegroupname": "hf"})
        c.update("lbvserver", {"name": "gw.emb", "backupvserver": "hf"})
        # The CS vserver's backup: another CS vserver whose default is the spill pool.
        c.add("lbvserver", {"name": "spill", "servicetype": "HTTP"})
        c.add("servicegroup", {"servicegroupname": "spill", "servicetype": "HTTP"})
        c.bind("servicegroup_servicegroupmember_binding",
               {"servicegroupname": "spill", "ip": spill.ip, "port": spill.port})
        c.bind("lbvserver_servicegroup_binding", {"name": "spill", "servicegroupname": "spill"})
        c.add("csvserver", {"name": "backup-cs", "servicetype": "HTTP"})
        c.bind("csvserver_lbvserver_binding", {"name": "backup-cs", "lbvserver": "spill"})
        c.update("csvserver", {"name": "gw.cs", "backupvserver": "backup-cs"})
        dplab.settle()
        assert who(f"{base}/v1/completions") == "gen"
        c.action("server", "disable", {"name": "127.0.1.3"})  # gen's only member: out of service
        c.action("server", "disable", {"name": "127.0.1.1"})  # emb's only member
        dplab.settle()
        assert who(f"{base}/v1/completions") == "spill"  # default DOWN → CS backup vserver
        assert who(f"{base}/v1/embeddings") == "hf"  # matched pool DOWN → its backup vserver
        assert c.find("lbvserver", "gw.gen")["curstate"] == "DOWN"
        assert c.bindings("servicegroup", "gw.gen")[0]["servicegroup_servicegroupmember_binding"][0][
            "svrstate"] == "OUT OF SERVICE"
        c.action("csvserver", "unset", {"name": "gw.cs", "backupvserver": True})
        dplab.settle()
        response = httpx.get(f"{base}/v1/completions")
        assert response.status_code == 503  # nothing left: an appliance answers 503


def test_weighted_round_robin(dplab, backends):
    heavy, light = backends.start("heavy", "127.0.2.1"), backends.start("light", "127.0.2.2")
    port = free_port(VIP)
    members = [{**heavy.member, "weight": 3}, {**light.member, "weight": 1}]
    with dplab.client() as c:
        converge(c, gateway(port, [pool("p", *members, method="ROUNDROBIN")], "p"))
    dplab.settle()
    with httpx.Client(base_url=f"http://{VIP}:{port}") as http:
        names = Counter(http.get("/x").json()["name"] for _ in range(40))
    assert names == {"heavy": 30, "light": 10}


def test_least_connection_prefers_the_idle_member(dplab, backends):
    a, b = backends.start("a", "127.0.2.3"), backends.start("b", "127.0.2.4")
    port = free_port(VIP)
    with dplab.client() as c:
        converge(c, gateway(port, [pool("p", a, b, method="LEASTCONNECTION")], "p"))
    dplab.settle()
    base = f"http://{VIP}:{port}"
    slow: list[str] = []
    worker = threading.Thread(target=lambda: slow.append(who(f"{base}/slow?ms=1500")))
    worker.start()
    wait_until(lambda: any(m["active"] for m in dplab.status()["members"]))
    busy = next(m["ip"] for m in dplab.status()["members"] if m["active"])
    quick = Counter(who(f"{base}/fast") for _ in range(6))
    worker.join()
    idle = "b" if busy == a.ip else "a"
    assert quick == {idle: 6}
    assert slow == ["a" if busy == a.ip else "b"]


def test_a_new_pool_is_served_without_restart(dplab, backends):
    old, new = backends.start("old", "127.0.2.5"), backends.start("new", "127.0.2.6")
    port = free_port(VIP)
    base = f"http://{VIP}:{port}"
    with dplab.client() as c:
        converge(c, gateway(port, [pool("old", old)], "old"))
        dplab.settle()
        assert who(f"{base}/v2/new") == "old"
        converge(c, gateway(port, [pool("old", old), pool("new", new, match={"path_prefix": "/v2"})],
                            "old"))
        dplab.settle()
        assert who(f"{base}/v2/new") == "new"
        assert who(f"{base}/v1") == "old"
        # A listener follows its vserver: disabled, it stops listening; enabled, it is back.
        c.action("csvserver", "disable", {"name": "gw.cs"})
        dplab.settle()
        with pytest.raises(httpx.ConnectError):
            httpx.get(base)
        c.action("csvserver", "enable", {"name": "gw.cs"})
        dplab.settle()
        assert who(f"{base}/v1") == "old"


def test_stats_report_requests_and_states(dplab, site):
    base, _ = site
    for _ in range(3):
        who(f"{base}/v1/embeddings")
    who(f"{base}/other")
    with dplab.client() as c:
        emb = {r["name"]: r for r in c.stat("lbvserver")}["gw.emb"]
        assert (emb["state"], emb["totalrequests"], emb["vslbhealth"], emb["actsvcs"]) == (
            "UP", "3", "100", "1")
        cs = c.stat("csvserver", "gw.cs")[0]
        assert cs["totalrequests"] == "4" and cs["hits"] == {"default": "1", "gw.emb": "3"}
        group = c.stat("servicegroup", "gw.emb")[0]
        assert group["servicegroupmember"][0]["svrstate"] == "UP"
        assert group["servicegroupmember"][0]["totalrequests"] == "3"
        assert c.find("lbvserver", "gw.emb")["curstate"] == "UP"


def test_an_off_machine_member_is_never_contacted(dplab, backends):
    local = backends.start("local", "127.0.2.7")
    port = free_port(VIP)
    with dplab.client() as c:
        converge(c, gateway(port, [pool("remote", {"host": "192.0.2.1", "port": 8000},
                                        match={"path_prefix": "/remote"}),
                                   pool("local", local)], "local"))
    status = dplab.settle()
    policy = AddressPolicy()
    assert not policy.allows("192.0.2.1") and policy.allows("127.0.2.7") and policy.allows("::1")
    with pytest.raises(AddressRefused):
        policy.check("192.0.2.1")
    with pytest.raises(AddressRefused):  # the connector refuses before a socket exists
        policy.socket_factory((2, 1, 6, "", ("192.0.2.1", 8000)))
    remote = next(m for m in status["members"] if m["ip"] == "192.0.2.1")
    assert remote["state"] == "DOWN" and remote["unreachable"] == UNREACHABLE
    assert UNREACHABLE in remote["lastresponse"] and remote["requests"] == 0
    plane = dplab.plane
    assert not [k for k in plane.probers if k[1] == "192.0.2.1"]  # no monitor task for it
    response = httpx.get(f"http://{VIP}:{port}/remote/x")
    assert response.status_code == 503
    assert dplab.member("192.0.2.1", 8000)["requests"] == 0
    with dplab.client() as c:
        member = c.stat("servicegroup", "gw.remote")[0]["servicegroupmember"][0]
        assert member["svrstate"] == "DOWN" and UNREACHABLE in member["lastresponse"]
        assert c.find("lbvserver", "gw.remote")["curstate"] == "DOWN"


def test_audit_lines_name_the_decision_and_never_the_credentials(dplab, site, caplog):
    base, _ = site
    with caplog.at_level(logging.INFO, logger="adcml.lab.access"):
        response = httpx.post(f"{base}/v1/embeddings?api_key=hidden", content=b"SECRET-BODY",
                              headers={"Authorization": "Bearer TOPSECRET"})
        assert response.status_code == 200
        httpx.get(f"{base}/x")
    lines = [r.getMessage() for r in caplog.records if r.name == "adcml.lab.access"]
    assert len(lines) == 2
    first = lines[0]
    for part in ("client=127.0.0.1", "vserver=gw.cs", "method=POST", "path=/v1/embeddings",
                 "route=gw.emb", "target=gw.emb", "member=127.0.1.1:", "status=200", "latency_ms="):
        assert part in first, (part, first)
    assert "route=default" in lines[1] and "target=gw.gen" in lines[1]
    on_disk = (dplab.state_dir / "access.log").read_text()
    assert on_disk.count("\n") == 2
    for secret in ("TOPSECRET", "SECRET-BODY", "hidden", "Authorization"):
        assert secret not in on_disk and all(secret not in line for line in lines)


def test_a_failed_member_is_skipped_for_idempotent_requests(dplab, backends):
    good, bad = backends.start("good", "127.0.2.8"), backends.start("bad", "127.0.2.9")
    port = free_port(VIP)
    with dplab.client() as c:
        converge(c, gateway(port, [pool("p", good, bad, method="ROUNDROBIN")], "p"))
    dplab.settle()
    backends.kill(bad)  # its monitor has not noticed yet (5 s interval)
    base = f"http://{VIP}:{port}"
    assert all(who(f"{base}/x") == "good" for _ in range(4))
    assert bad.hits == 0


def test_a_full_pool_spills_over_to_its_backup_or_queues_with_surge_protection(dplab, backends):
    gpu, hf = backends.start("gpu", "127.0.2.10"), backends.start("hf", "127.0.2.11")
    port = free_port(VIP)
    base = f"http://{VIP}:{port}"
    with dplab.client() as c:
        converge(c, gateway(port, [pool("gpu", gpu, max_clients=1), pool("hf", hf,
                                                                        match={"path_prefix": "/hf"})],
                            "gpu"))
        c.update("lbvserver", {"name": "gw.gpu", "backupvserver": "gw.hf"})
        dplab.settle()

        def during_slow_request(check):
            worker = threading.Thread(target=lambda: who(f"{base}/slow?ms=800"))
            worker.start()
            wait_until(lambda: dplab.member(gpu.ip, gpu.port)["active"] == 1)
            try:
                return check()
            finally:
                worker.join()

        # maxclient 1 reached: the next request goes to the backup ("Hugging Face") pool.
        assert during_slow_request(lambda: who(f"{base}/x")) == "hf"
        # With surge protection the request waits for the slot instead.
        c.update("servicegroup", {"servicegroupname": "gw.gpu", "sp": "ON"})
        dplab.settle()
        assert during_slow_request(lambda: who(f"{base}/x")) == "gpu"


def test_stopping_the_lab_stops_its_listeners(tmp_path, backends):
    member = backends.start("m", "127.0.2.12")
    port = free_port(VIP)
    server = LabServer(LabADC(None, data_plane=True), "127.0.0.1:0").start()
    with NitroClient(nsip=server.url.removeprefix("http://"), username="nsroot", password="nsroot",
                     protocol="http") as c:
        converge(c, gateway(port, [pool("p", member)], "p"))
    wait_until(lambda: httpx.get(f"http://{VIP}:{port}/x").status_code == 200)
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{VIP}:{port}/x")


def test_the_cli_serves_traffic_with_data_plane(tmp_path, backends):
    member = backends.start("m", "127.0.2.13")
    port, nitro = free_port(VIP), free_port("127.0.0.1")
    adcml = Path(sys.executable).with_name("adcml")
    proc = subprocess.Popen([str(adcml), "lab-adc", "--listen", f"127.0.0.1:{nitro}", "--data-plane",
                             "--state-dir", str(tmp_path / "state")], stdout=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: _answers(f"http://127.0.0.1:{nitro}/lab/health"), timeout=20)
        with NitroClient(nsip=f"127.0.0.1:{nitro}", username="nsroot", password="nsroot",
                         protocol="http") as c:
            converge(c, gateway(port, [pool("p", member)], "p"))
        wait_until(lambda: _answers(f"http://{VIP}:{port}/x"), timeout=10)
        assert who(f"http://{VIP}:{port}/x") == "m"
    finally:
        proc.terminate()
        proc.wait(20)
    assert "data plane on" in proc.stdout.read()
    assert not _answers(f"http://{VIP}:{port}/x")
    assert "vserver=gw.cs" in (tmp_path / "state" / "access.log").read_text()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_bodies_and_streamed_responses_pass_through(site):
    base, _ = site
    big = b"x" * (2 * 1024 * 1024)
    response = httpx.post(f"{base}/v1/embeddings", content=big, headers={"Expect": "100-continue"})
    assert response.status_code == 200 and response.json()["body"] == len(big)
    with httpx.stream("GET", f"{base}/stream") as streamed:
        assert streamed.headers["Content-Type"].startswith("text/event-stream")
        assert streamed.read().decode().count("data: ") == 3
    assert httpx.post(f"{base}/x", content=b"y" * (17 * 1024 * 1024)).status_code == 413
