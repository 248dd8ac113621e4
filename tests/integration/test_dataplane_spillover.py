"""Spillover from a primary LB vserver (the local GPU pool) to its backup (a Hugging Face pool)
through the lab's data plane: over a connection threshold under concurrent load, by health,
failback, spillover persistence, ``disableprimaryondown`` and ``sobackupaction`` — counted in
``stat lbvserver`` and shown in the audit line. Every write goes through the lab's NITRO API."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import httpx
import pytest
from dataplane_kit import (  # noqa: F401
    backends_fixture,
    dplab_fixture,
    fast_monitor,
    free_port,
    lb_pool,
    wait_until,
)

VIP = "127.0.0.15"
SLOW = "/slow?ms=400"


def burst(url: str, n: int) -> list[httpx.Response | Exception]:
    """``n`` concurrent GETs of ``url``, each on its own connection."""
    async def run():
        limits = httpx.Limits(max_connections=n, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=10, limits=limits) as http:
            return await asyncio.gather(*(http.get(url) for _ in range(n)), return_exceptions=True)

    return asyncio.run(run())


def served_by(responses) -> Counter:
    assert all(isinstance(r, httpx.Response) and r.status_code == 200 for r in responses), responses
    return Counter(r.json()["name"] for r in responses)


def who(url: str) -> str:
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["name"]


class Site:
    """LB vserver ``gpu`` on VIP (members given) with backup ``hf`` (one member)."""

    def __init__(self, dplab, backends, gpus: int = 1, **primary):
        self.dplab = dplab
        self.gpus = [backends.start(f"gpu{i}", f"127.0.8.{i}") for i in range(1, gpus + 1)]
        self.hf = backends.start("hf", "127.0.8.100")
        port = free_port(VIP)
        self.base = f"http://{VIP}:{port}"
        with dplab.client() as c:
            c.enable_features(["LB"])
            lb_pool(c, "hf", [{"ip": self.hf.ip, "port": self.hf.port}])
            lb_pool(c, "gpu", [{"ip": b.ip, "port": b.port} for b in self.gpus],
                    address=(VIP, port), lbmethod="ROUNDROBIN", backupvserver="hf", **primary)
        dplab.settle()

    def stat(self, name: str = "gpu") -> dict:
        with self.dplab.client() as c:
            [row] = c.stat("lbvserver", name)
        return row

    def monitor(self) -> None:
        with self.dplab.client() as c:
            c.add("lbmonitor", {"monitorname": "gpu", "type": "HTTP", "httprequest": "GET /health"})
            fast_monitor(c, "gpu")
            c.bind("servicegroup_lbmonitor_binding", {"servicegroupname": "gpu", "monitor_name": "gpu"})
        self.dplab.settle()

    def member_state(self, backend) -> str:
        return self.dplab.member(backend.ip, backend.port)["state"]


@pytest.mark.parametrize("method", ["CONNECTION", "DYNAMICCONNECTION"])
def test_over_the_threshold_new_requests_spill_and_come_back(dplab, backends, caplog, method):
    settings = {"somethod": method}
    if method == "CONNECTION":
        settings["sothreshold"] = 5
    site = Site(dplab, backends, **settings)
    if method == "DYNAMICCONNECTION":  # the threshold is the UP members' maxclient
        with dplab.client() as c:
            c.update("servicegroup", {"servicegroupname": "gpu", "maxclient": 5})
        dplab.settle()
    with caplog.at_level(logging.INFO, logger="adcml.lab.access"):
        names = served_by(burst(site.base + SLOW, 40))
    assert names["gpu1"] >= 5 and names["hf"] >= 1 and names["gpu1"] + names["hf"] == 40
    stat = site.stat()
    assert stat["totspillovers"] == str(names["hf"]) and stat["curclntconnections"] == "0"
    assert stat["totvserverdownbackuphits"] == "0"
    lines = [r.getMessage() for r in caplog.records if r.name == "adcml.lab.access"]
    assert sum("target=gpu>spillover:hf " in line for line in lines) == names["hf"]
    # failback: under the threshold again, the primary serves
    assert [who(f"{site.base}/x") for _ in range(3)] == ["gpu1"] * 3


def test_health_spillover_while_members_are_down(dplab, backends):
    site = Site(dplab, backends, gpus=2, somethod="HEALTH", sothreshold=75)
    site.monitor()
    assert {who(f"{site.base}/x") for _ in range(4)} == {"gpu1", "gpu2"}
    backends.kill(site.gpus[1])
    wait_until(lambda: site.member_state(site.gpus[1]) == "DOWN")
    # gpu1 is UP, but 50% of the weight is below 75%: everything spills
    assert {who(f"{site.base}/x") for _ in range(4)} == {"hf"}
    assert site.stat()["totspillovers"] == "4" and site.stat()["vslbhealth"] == "50"
    backends.revive(site.gpus[1])
    wait_until(lambda: site.member_state(site.gpus[1]) == "UP")
    assert {who(f"{site.base}/x") for _ in range(4)} == {"gpu1", "gpu2"}


def test_spillover_persistence_keeps_a_spilled_client_on_the_backup(dplab, backends):
    site = Site(dplab, backends, somethod="CONNECTION", sothreshold=1, sopersistence="ENABLED",
                sopersistencetimeout=2)
    assert served_by(burst(site.base + SLOW, 2)) == {"gpu1": 1, "hf": 1}
    # the load is gone, but this client spilled within the last 2 minutes
    assert [who(f"{site.base}/x") for _ in range(3)] == ["hf"] * 3
    with dplab.client() as c:
        c.update("lbvserver", {"name": "gpu", "sopersistence": "DISABLED"})
    dplab.settle()
    assert who(f"{site.base}/x") == "gpu1"


def test_a_primary_that_went_down_stays_down_until_enabled(dplab, backends):
    site = Site(dplab, backends, disableprimaryondown="ENABLED")
    site.monitor()
    assert who(f"{site.base}/x") == "gpu1"
    backends.kill(site.gpus[0])
    wait_until(lambda: site.member_state(site.gpus[0]) == "DOWN")
    assert who(f"{site.base}/x") == "hf"
    backends.revive(site.gpus[0])
    wait_until(lambda: site.member_state(site.gpus[0]) == "UP")
    assert who(f"{site.base}/x") == "hf"  # its member is UP, the vserver is still held down
    with dplab.client() as c:
        got = c.find("lbvserver", "gpu")
        assert (got["state"], got["curstate"]) == ("DISABLED", "OUT OF SERVICE")
        assert site.stat()["totvserverdownbackuphits"] == "2"
        c.action("lbvserver", "enable", {"name": "gpu"})
        dplab.settle()
        assert c.find("lbvserver", "gpu")["curstate"] == "UP"
    assert who(f"{site.base}/x") == "gpu1"


def test_without_disableprimaryondown_the_primary_fails_back_by_itself(dplab, backends):
    site = Site(dplab, backends)
    site.monitor()
    backends.kill(site.gpus[0])
    wait_until(lambda: site.member_state(site.gpus[0]) == "DOWN")
    assert who(f"{site.base}/x") == "hf"
    backends.revive(site.gpus[0])
    wait_until(lambda: site.member_state(site.gpus[0]) == "UP")
    assert who(f"{site.base}/x") == "gpu1"


@pytest.mark.parametrize("action", ["ACCEPT", "DROP", "REDIRECT"])
def test_when_the_backup_cannot_take_the_spillover(dplab, backends, action):
    busy = "https://status.lab.test/busy"
    site = Site(dplab, backends, somethod="CONNECTION", sothreshold=1, sobackupaction=action,
                redirecturl=busy)
    with dplab.client() as c:
        c.action("lbvserver", "disable", {"name": "hf"})
    dplab.settle()
    responses = burst(site.base + SLOW, 4)
    statuses = Counter(r.status_code if isinstance(r, httpx.Response) else "closed"
                       for r in responses)
    expected = {"ACCEPT": {200: 4}, "DROP": {200: 1, "closed": 3}, "REDIRECT": {200: 1, 302: 3}}
    assert statuses == expected[action], responses
    if action == "REDIRECT":
        assert {r.headers["Location"] for r in responses if r.status_code == 302} == {busy}
    assert site.stat()["totspillovers"] == "0"
