"""The foundation's acceptance script: one NITRO session over plain HTTP against
`adcml lab-adc` run as a real process, checking the codes and bodies nitro-facts.md describes,
and that the saved config survives a restart of the process."""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from adcml.lab.services.pki import LabCA

PROCESS_START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LabProcess:
    """`adcml lab-adc` in a child process, restartable on the same state dir."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/nitro/v1/config"

    def start(self) -> None:
        cmd = [sys.executable, "-m", "adcml.cli", "lab-adc", "--listen", f"127.0.0.1:{self.port}",
               "--state-dir", str(self.state_dir)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + PROCESS_START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{self.port}/lab/health", timeout=1)
                return
            except httpx.TransportError:
                assert self.proc.poll() is None, self.proc.stdout.read()
                time.sleep(0.1)
        raise AssertionError("lab ADC did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)


@pytest.fixture
def lab_process(tmp_path):
    lab = LabProcess(tmp_path / "state")
    lab.start()
    yield lab
    lab.stop()


def envelope(response: httpx.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    response = client.post("/login", json={"login": {"username": "nsroot", "password": "nsroot"}})
    body = envelope(response)
    assert response.status_code == 201
    assert body["errorcode"] == 0 and body["sessionid"]
    assert response.cookies["NITRO_AUTH_TOKEN"] == body["sessionid"]
    return client


def test_scripted_session_over_plain_http(lab_process: LabProcess) -> None:
    nitro = login(lab_process.url)

    vserver = {"name": "llm-frontend", "servicetype": "HTTP", "ipv46": "127.0.0.10", "port": 80}
    r = nitro.post("/lbvserver", json={"lbvserver": vserver})
    assert (r.status_code, envelope(r)) == (201, {"errorcode": 0, "message": "Done", "severity": "NONE"})

    r = nitro.post("/lbvserver", json={"lbvserver": vserver})
    assert r.status_code == 409
    assert envelope(r) == {
        "errorcode": 273, "message": "Resource already exists [name, llm-frontend]",
        "severity": "ERROR",
    }

    r = nitro.get("/lbvserver/no-such-vserver")
    assert r.status_code == 404 and envelope(r)["errorcode"] == 258
    assert envelope(r)["severity"] == "ERROR"

    r = nitro.post("/servicegroup", json={"servicegroup": {"servicegroupname": "llm-pool",
                                                           "servicetype": "HTTP"}})
    assert r.status_code == 201
    r = nitro.put("/servicegroup_servicegroupmember_binding", json={
        "servicegroup_servicegroupmember_binding": {"servicegroupname": "llm-pool",
                                                    "ip": "127.0.0.21", "port": 8000, "weight": 2}})
    assert r.status_code == 200
    r = nitro.post("/lbvserver_servicegroup_binding", json={
        "lbvserver_servicegroup_binding": {"name": "llm-frontend", "servicegroupname": "llm-pool"}})
    assert r.status_code == 201
    member = envelope(nitro.get("/servicegroup_servicegroupmember_binding/llm-pool"))[
        "servicegroup_servicegroupmember_binding"][0]
    assert member["servername"] == member["ip"] == "127.0.0.21"
    assert member["port"] == 8000 and member["weight"] == "2"

    r = nitro.delete("/servicegroup/llm-pool")
    assert r.status_code == 599 and envelope(r)["errorcode"] == 315
    assert "llm-frontend" in envelope(r)["message"]
    assert nitro.get("/servicegroup/llm-pool").status_code == 200

    r = nitro.post("/lbvserver", json={"lbvserver": [
        {"name": "bulk-a", "servicetype": "HTTP"},
        {"name": "bulk-b", "servicetype": "NOT-A-TYPE"},
        {"name": "bulk-c", "servicetype": "HTTP"},
    ]})
    body = envelope(r)
    assert r.status_code == 207 and body["errorcode"] == 1243
    assert [item["errorcode"] for item in body["response"]] == [0, 1097]
    assert "servicetype" in body["response"][1]["message"]
    assert nitro.get("/lbvserver/bulk-a").status_code == 200
    assert nitro.get("/lbvserver/bulk-c").status_code == 404

    ca = LabCA()
    first = ca.issue("llm.lab.test", sans=("llm.lab.test",))
    second = ca.issue("llm.lab.test", sans=("llm.lab.test",))
    for filename, data in (("llm.pem", first.cert_pem), ("llm.key", first.key_pem),
                           ("llm-2.pem", second.cert_pem), ("llm-2.key", second.key_pem)):
        r = nitro.post("/systemfile", json={"systemfile": {
            "filename": filename, "filelocation": "/nsconfig/ssl/",
            "filecontent": base64.b64encode(data).decode(), "fileencoding": "BASE64"}})
        assert r.status_code == 201, r.text
    r = nitro.post("/sslcertkey", json={"sslcertkey": {"certkey": "llm-cert", "cert": "llm.pem",
                                                       "key": "llm.key"}})
    assert r.status_code == 201, r.text
    cert = envelope(nitro.get("/sslcertkey/llm-cert"))["sslcertkey"][0]
    assert re.fullmatch(r"[0-9A-Fa-f]+", cert["serial"])
    assert "CN=llm.lab.test" in cert["subject"] and cert["status"] == "Valid"
    assert isinstance(cert["daystoexpiration"], int) and cert["daystoexpiration"] > 0

    r = nitro.post("/lbvserver", json={"lbvserver": {"name": "llm-tls", "servicetype": "SSL",
                                                     "ipv46": "127.0.0.11", "port": 443}})
    assert r.status_code == 201
    r = nitro.put("/sslvserver_sslcertkey_binding", json={"sslvserver_sslcertkey_binding": {
        "vservername": "llm-tls", "certkeyname": "llm-cert"}})
    assert r.status_code == 200
    r = nitro.post("/sslcertkey?action=update", json={"sslcertkey": {
        "certkey": "llm-cert", "cert": "llm-2.pem", "key": "llm-2.key", "nodomaincheck": True}})
    assert r.status_code == 200, r.text
    rotated = envelope(nitro.get("/sslcertkey/llm-cert"))["sslcertkey"][0]
    assert rotated["serial"] != cert["serial"]
    assert envelope(nitro.get("/sslvserver_sslcertkey_binding/llm-tls"))[
        "sslvserver_sslcertkey_binding"][0]["certkeyname"] == "llm-cert"

    assert envelope(nitro.get("/nsconfig"))["nsconfig"]["configchanged"] is True
    r = nitro.post("/nsconfig?action=save", json={"nsconfig": {}})
    assert r.status_code == 200 and envelope(r)["errorcode"] == 0
    assert envelope(nitro.get("/nsconfig"))["nsconfig"]["configchanged"] is False
    r = nitro.post("/lbvserver", json={"lbvserver": {"name": "unsaved", "servicetype": "HTTP"}})
    assert r.status_code == 201

    lab_process.stop()
    lab_process.start()
    r = nitro.get("/lbvserver/llm-frontend")
    assert r.status_code == 401 and envelope(r)["errorcode"] == 444  # sessions do not survive
    nitro = login(lab_process.url)
    names = {v["name"] for v in envelope(nitro.get("/lbvserver"))["lbvserver"]}
    assert names == {"llm-frontend", "bulk-a", "llm-tls"}  # the unsaved one is gone
    assert envelope(nitro.get("/sslcertkey/llm-cert"))["sslcertkey"][0]["serial"] == rotated["serial"]
    assert envelope(nitro.get("/lbvserver_servicegroup_binding/llm-frontend"))[
        "lbvserver_servicegroup_binding"][0]["servicegroupname"] == "llm-pool"

    r = nitro.post("/logout", json={"logout": {}})
    assert r.status_code == 200 and envelope(r)["errorcode"] == 0
    r = nitro.get("/lbvserver")
    assert r.status_code == 401 and envelope(r)["errorcode"] == 444
