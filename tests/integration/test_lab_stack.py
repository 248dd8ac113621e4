"""The local lab as a user runs it: ``adcml lab up | status | token | smoke | down`` as
subprocesses, the playbook converging inventories/local's gateway spec onto it, traffic through
the gateway's TLS frontend. The test's lab has its own directory and free ports, so a
developer's lab on the default addresses is neither disturbed nor used; it runs without the
model-server hosts (``--no-model-hosts``: demo backends serve every pool), which
test_lab_e2e.py covers with ``make lab``."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest
import yaml
from ansible_harness import HOST, REPO, AnsibleProject
from dataplane_kit import free_port
from process_kit import adcml, alive

from adcml.lab.orchestrator.layout import LAB_BACKEND_TOKEN

pytestmark = pytest.mark.slow

PLAYBOOK = "playbooks/adc.yml"
INVENTORY_VARS = REPO / "inventories" / "local" / "group_vars" / "adc.yml"
INVENTORY_ALL = REPO / "inventories" / "local" / "group_vars" / "all.yml"
GATEWAY_VIP, BACKEND_IPS = "127.0.9.10", ("127.0.9.21", "127.0.9.22")


@pytest.fixture
def layout(tmp_path):
    lab_dir = tmp_path / "lab"
    addresses = {
        "nitro": f"127.0.0.1:{free_port('127.0.0.1')}",
        "nitro_tls": f"127.0.0.1:{free_port('127.0.0.1')}",
        "idp": f"127.0.0.1:{free_port('127.0.0.1')}",
        "backends": [f"{ip}:{free_port(ip)}" for ip in BACKEND_IPS],
        "gateway": f"{GATEWAY_VIP}:{free_port(GATEWAY_VIP)}",
    }
    yield lab_dir, addresses
    adcml("lab", "down", "--dir", str(lab_dir))  # whatever happened above


def lab_spec(addresses: dict) -> dict:
    """inventories/local's gateway spec, moved to the test's addresses (every pool on the demo
    backends), its variables resolved."""
    spec = yaml.safe_load(INVENTORY_VARS.read_text())["adc_gateway_spec"]
    key = yaml.safe_load(INVENTORY_ALL.read_text())["lab_model_server_api_key"]
    text = json.dumps(spec).replace("127.0.0.1:5556", addresses["idp"])
    text = text.replace("{{ lab_model_server_api_key }}", key)
    spec = json.loads(text)
    vip, port = addresses["gateway"].split(":")
    spec["frontend"].update(vip=vip, port=int(port))
    members = [{"host": b.split(":")[0], "port": int(b.split(":")[1])} for b in addresses["backends"]]
    for pool in spec["pools"]:
        pool["members"] = members
    return spec


def test_the_shipped_inventory_is_the_secure_pattern():
    data = yaml.safe_load(INVENTORY_VARS.read_text())
    spec = data["adc_gateway_spec"]
    assert (data["netscaler_nsip"], data["netscaler_nitro_protocol"]) == ("127.0.0.1:9080", "http")
    assert yaml.safe_load(INVENTORY_ALL.read_text())["adcml_lab_dir"] == "{{ inventory_dir }}/../../.lab"
    assert spec["frontend"]["protocol"] == "https" and spec["frontend"]["vip"] == "127.0.0.10"
    assert spec["frontend"]["tls"]["cert_file"] == "{{ adcml_lab_dir }}/pki/gateway.crt"
    assert spec["auth"]["oidc"]["issuer"] == "http://127.0.0.1:5556"
    pools = {pool["name"]: pool for pool in spec["pools"]}
    assert pools["chat"]["require_groups"] == ["ml-trusted"]
    assert pools["chat"]["backend_token"] == LAB_BACKEND_TOKEN
    assert "require_groups" not in pools["embed"] and spec["default_pool"] == "embed"
    # the embed pool is the model-server hosts, reached with their API key injected
    assert pools["embed"]["backend_token"] == "{{ lab_model_server_api_key }}"
    assert [m["host"] for m in pools["embed"]["members"]] == ["10.231.0.11", "10.231.0.12"]
    assert spec["rate_limit"] and spec["audit"] == {}


def test_lab_up_converge_traffic_down(layout, tmp_path):
    lab_dir, addresses = layout
    where = ["--dir", str(lab_dir)]
    up = adcml("lab", "up", *where, "--nitro", addresses["nitro"], "--nitro-tls", addresses["nitro_tls"],
               "--idp", addresses["idp"], "--gateway", addresses["gateway"], "--no-model-hosts",
               env={"ADCML_LAB_BACKENDS": " ".join(addresses["backends"])})
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.count(" started ") == 4, up.stdout
    assert (lab_dir / "pki" / "gateway.key").stat().st_mode & 0o777 == 0o600
    assert (lab_dir / "pki" / "ca.key").stat().st_mode & 0o777 == 0o600

    # status: everything runs and answers its health check
    report = json.loads(adcml("lab", "status", *where, "--json").stdout)
    assert report["healthy"], report
    pids = {row["name"]: row["pid"] for row in report["services"]}
    assert set(pids) == {"idp", "backend-1", "backend-2", "adc"} and all(pids.values())
    assert [row["address"] for row in report["services"]][1:3] == addresses["backends"]

    # up again: nothing to do, the same processes
    again = adcml("lab", "up", *where)
    assert again.returncode == 0 and "already up; nothing to do" in again.stdout, again.stdout
    report = json.loads(adcml("lab", "status", *where, "--json").stdout)
    assert {row["name"]: row["pid"] for row in report["services"]} == pids

    # the playbook converges inventories/local's spec (moved to the test's addresses)
    spec = lab_spec(addresses)
    issuer = f"http://{addresses['idp']}"
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
    assert (spec["auth"]["oidc"]["jwks_url"], spec["auth"]["oidc"]["token_endpoint"]) == (
        discovery["jwks_uri"], discovery["token_endpoint"])
    project = AnsibleProject(tmp_path / "ansible", nsip=addresses["nitro"])
    extra = {"adc_gateway_spec": spec, "adcml_lab_dir": str(lab_dir)}
    run = project.playbook(PLAYBOOK, extra_vars=extra)
    assert run.rc == 0 and run.recap[HOST]["changed"] == 1, run.explain()

    # through the TLS frontend, verified with the lab CA: a token gets 200, none gets 401
    token = adcml("lab", "token", *where, "--user", "ana", "--group", "ml-trusted")
    assert token.returncode == 0 and token.stdout.count(".") == 2, token.stderr
    smoke = adcml("lab", "smoke", *where)  # 200, 401, chat 200 (credential injected), 403
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "adcml lab token --dir" in smoke.stdout and "curl --cacert" in smoke.stdout
    trust = ssl.create_default_context(cafile=str(lab_dir / "pki" / "ca.pem"))
    with httpx.Client(base_url=f"https://{addresses['gateway']}", verify=trust, timeout=5) as http:
        body = {"input": ["one", "two"]}
        reply = http.post("/v1/embeddings", json=body,
                          headers={"Authorization": f"Bearer {token.stdout.strip()}"})
        assert reply.status_code == 200, reply.text
        assert [row["index"] for row in reply.json()["data"]] == [0, 1]
        assert reply.headers["X-Lab-Backend"] in {"backend-1", "backend-2"}
        assert http.post("/v1/embeddings", json=body).status_code == 401

    # a second converge changes nothing
    run = project.playbook(PLAYBOOK, extra_vars=extra)
    assert run.rc == 0 and run.recap[HOST]["changed"] == 0, run.explain()

    # down: every process of the lab is gone; down again is a no-op
    down = adcml("lab", "down", *where)
    assert down.returncode == 0 and down.stdout.count("stopped (pid") == 4, down.stdout
    assert not any(alive(pid) for pid in pids.values())
    assert not list((lab_dir / "run").glob("*.pid"))
    assert adcml("lab", "down", *where).stdout.count("not running") == 4
    status = adcml("lab", "status", *where)
    assert status.returncode == 1 and "not running" in status.stdout


def test_demo_backend_embeddings_are_deterministic_and_openai_shaped():
    from adcml.lab.services.demo_backend import embeddings_response

    one = embeddings_response({"input": ["hello lab", "x"], "dimensions": 8})
    assert one == embeddings_response({"input": ["hello lab", "x"], "dimensions": 8})
    assert one["object"] == "list" and [d["index"] for d in one["data"]] == [0, 1]
    vector = one["data"][0]["embedding"]
    assert len(vector) == 8 and abs(sum(v * v for v in vector) - 1) < 1e-4
    assert one["data"][1]["embedding"] != vector
    assert embeddings_response({"input": "hello lab", "dimensions": 8})["data"][0]["embedding"] == vector
    for bad in ({}, {"input": []}, {"input": [1]}, {"input": "x", "dimensions": 0}, []):
        with pytest.raises(ValueError):
            embeddings_response(bad)
