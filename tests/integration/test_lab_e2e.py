"""The README's main job end to end, from a clean state: ``make lab`` stands up the lab ADC, the
lab IdP, the Hugging Face stand-in and two model-server hosts, provisions them with
``playbooks/site.yml`` on ``inventories/local`` (the endpoint, the gateway, roles gpu_host and
model_server), and proves it with an authenticated inference through the TLS frontend, served by
the model servers and, with them disabled, by the endpoint; a second ``make lab`` changes
nothing; ``adcml lab down`` leaves nothing of the lab running.

It uses the lab's default addresses (inventories/local names them), so it needs them free: with
a developer's lab up, it is skipped (``adcml lab down`` first)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from ansible_harness import REPO
from hf_kit import ONLINE
from process_kit import adcml, alive, clean_env, processes_mentioning

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800),  # two make lab runs: minutes
              pytest.mark.skipif(os.geteuid() != 0, reason="the model-server hosts need root")]

LAB_VARS = yaml.safe_load((REPO / "inventories/local/group_vars/all.yml").read_text())
API_KEY, HF_TOKEN = LAB_VARS["lab_model_server_api_key"], LAB_VARS["lab_hf_token"]
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def make_lab(lab_dir: Path) -> subprocess.CompletedProcess:
    # huggingface_hub online (the suite sets it offline): it creates the endpoint on the stand-in
    return subprocess.run(["make", "-s", "lab", f"LAB_DIR={lab_dir}"], cwd=REPO,
                          env=clean_env({"NO_COLOR": "1", **ONLINE}), capture_output=True, text=True,
                          timeout=1200, check=False, stdin=subprocess.DEVNULL)


def model_server_pids() -> set[int]:
    """Processes running a model server from a host's runtime venv (/opt/adcml/venv)."""
    return {pid for pid, cmdline in processes_mentioning("/opt/adcml/venv") if " serve " in cmdline}


def parent(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[1])


def busy(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


@pytest.fixture
def lab_dir(tmp_path):
    if (busy("127.0.0.1", 9080) or busy("127.0.0.1", 5556) or busy("127.0.0.1", 9190)
            or Path("/sys/class/net/adcmlbr0").exists()):
        pytest.skip("a lab already runs on the default addresses (adcml lab down first)")
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    directory = tmp_path / "lab"
    yield directory
    adcml("lab", "down", "--dir", str(directory))  # whatever happened above


def test_make_lab_from_a_clean_state_then_again_then_down(lab_dir):
    first = make_lab(lab_dir)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-6000:]
    # the playbook ran on the ADC and both hosts, the smoke check passed and says how to try it
    recap = {m[0]: m[1:] for m in RECAP.findall(first.stdout)}
    assert set(recap) == {"localhost", "lab-adc", "model-1", "model-2"}, first.stdout[-3000:]
    assert all(unreachable == failed == "0" for _changed, unreachable, failed in recap.values())
    assert "ok  POST https://127.0.0.10:8443/v1/embeddings as ana (ml-trusted): 200" in first.stdout
    assert "an embedding of 384 numbers" in first.stdout
    assert "ok  the same again: 200" in first.stdout and "from the ADC's cache (Age: " in first.stdout
    # the local pool, then the Hugging Face endpoint with its members disabled, then local again
    for line in ("ok  POST /v1/embeddings served by the local pool llm.embed: 200",
                 "ok  POST /v1/embeddings served by the Hugging Face endpoint lab/embedder through "
                 "llm.embed-hf: 200",
                 "ok  llm.embed's members enabled again: POST /v1/embeddings served by the local pool: 200",
                 "ok  the Hugging Face token is in none of the"):
        assert line in first.stdout, first.stdout[-3000:]
    assert "adcml lab token --dir" in first.stdout and "curl --cacert" in first.stdout
    assert API_KEY not in output  # no_log: the model servers' API key never shows
    assert HF_TOKEN not in output  # nor the Hugging Face token, lab value though it is

    report = json.loads(adcml("lab", "status", "--dir", str(lab_dir), "--json").stdout)
    assert report["healthy"], report
    rows = {row["name"]: row for row in report["services"]}
    assert [rows[name]["address"] for name in ("model-1", "model-2")] == [
        "10.231.0.11:8080", "10.231.0.12:8080"]
    assert {m["state"] for m in report["members"] if m["servicegroup"] == "llm.embed"} == {"UP"}
    assert [(e["name"], e["state"] in ("running", "scaledToZero")) for e in report["endpoints"]] == [
        ("embedder", True)], report["endpoints"]

    # a real model answers through the ADC: TLS (the lab CA), a token from the lab IdP, the API
    # key injected by the ADC (the model servers refuse requests without it)
    token = adcml("lab", "token", "--dir", str(lab_dir), "--user", "ana",
                  "--group", "ml-trusted").stdout.strip()
    trust = ssl.create_default_context(cafile=str(lab_dir / "pki" / "ca.pem"))
    with httpx.Client(base_url="https://127.0.0.10:8443", verify=trust, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        reply = http.post("/v1/embeddings", json={"input": ["a cat sat on the mat", "a kitten on a rug",
                                                           "quarterly tax filing deadline"]})
        assert reply.status_code == 200, reply.text
        vectors = np.array([row["embedding"] for row in reply.json()["data"]])
        assert vectors.shape == (3, 384)
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2  # meaning, not noise
        direct = httpx.post("http://10.231.0.11:8080/embed", json={"inputs": "x"}, timeout=10)
        assert direct.status_code == 401  # the host's server wants the key the ADC holds
        # GET /info is cached at the ADC (inventories/local: cache on /info)
        first_info, second_info = http.get("/info"), http.get("/info")
        assert first_info.status_code == second_info.status_code == 200
        assert "age" not in first_info.headers and "age" in second_info.headers
        assert first_info.json() == second_info.json()
        # the hosts run this checkout's wheel, whose version names its sources
        assert first_info.json()["version"] == (lab_dir / "wheelhouse" / "VERSION").read_text().strip()
        assert "+lab." in first_info.json()["version"]

    # a second make lab: a no-op converge everywhere, and the smoke check still passes
    second = make_lab(lab_dir)
    assert second.returncode == 0, (second.stdout + second.stderr)[-6000:]
    recap = {m[0]: m[1:] for m in RECAP.findall(second.stdout)}
    assert {host: changed for host, (changed, _u, _f) in recap.items()} == {
        "localhost": "0", "lab-adc": "0", "model-1": "0", "model-2": "0"}, second.stdout[-3000:]
    assert "an embedding of 384 numbers" in second.stdout

    # the secrets are in no log of the lab: its services', the ADC's access log, the endpoint
    # replica's, the hosts' model servers'
    logs = sorted(p for p in lab_dir.rglob("*.log") if p.is_file())
    names = {p.relative_to(lab_dir).as_posix() for p in logs}
    assert {"logs/adc.log", "logs/hf.log", "adc/access.log", "hf/replicas/lab--embedder.log",
            "hosts/hosts/model-1/private/var/log/adcml/model-server.log"} <= names, names
    assert "/v1/embeddings" in (lab_dir / "adc" / "access.log").read_text()  # the traffic is there
    leaks = [(p.name, secret == HF_TOKEN) for p in logs for secret in (HF_TOKEN, API_KEY)
             if secret in p.read_text(errors="replace")]
    assert not leaks

    # down: nothing of the lab runs, no namespace or bridge is left
    pids = [row["pid"] for row in report["services"] if row["pid"]]
    servers = model_server_pids()
    assert servers, "the model servers should have been running"
    hf_pid = next(row["pid"] for row in report["services"] if row["name"] == "hf")
    replicas = [pid for pid, _ in processes_mentioning("adcml.serve") if parent(pid) == hf_pid]
    assert replicas, "the endpoint's replica should have been running (the smoke check woke it)"
    down = adcml("lab", "down", "--dir", str(lab_dir))
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [pid for pid in [*pids, *servers, *replicas] if alive(pid)]
    assert not model_server_pids()
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert "adcmlbr0-" not in namespaces
    assert not Path("/sys/class/net/adcmlbr0").exists()
