"""The local lab as a user runs it: ``adcml lab up | status | token | smoke | down`` as
subprocesses, playbooks/site.yml converging inventories/local's Hugging Face endpoint (on the
lab's stand-in) and gateway onto it, traffic through the gateway's TLS frontend, the embed
pool's spillover to the endpoint and back. The test's lab has its own directory and free ports,
so a developer's lab on the default addresses is neither disturbed nor used; it runs without
the model-server hosts (``--no-model-hosts``: demo backends serve every pool of members), which
test_lab_e2e.py covers with ``make lab``."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import httpx
import pytest
import yaml
from ansible_harness import HOST, REPO, AnsibleProject
from dataplane_kit import free_port
from hf_kit import ONLINE
from process_kit import adcml, alive

from adcml.lab.emulators.hf.models.accounts import BUILT_IN
from adcml.lab.orchestrator.layout import LAB_BACKEND_TOKEN, LAB_HF_NAMESPACE, LAB_HF_TOKEN

pytestmark = pytest.mark.slow

PLAYBOOK = "playbooks/site.yml"  # the endpoint, the gateway; the model-server hosts' plays find none
INVENTORY = REPO / "inventories" / "local"
INVENTORY_VARS = INVENTORY / "group_vars" / "adc.yml"
INVENTORY_ALL = INVENTORY / "group_vars" / "all.yml"
INVENTORY_CONTROLLER = INVENTORY / "host_vars" / "localhost.yml"
GATEWAY_VIP, BACKEND_IPS = "127.0.9.10", ("127.0.9.21", "127.0.9.22")


@pytest.fixture
def layout(tmp_path):
    lab_dir = tmp_path / "lab"
    addresses = {
        "nitro": f"127.0.0.1:{free_port('127.0.0.1')}",
        "nitro_tls": f"127.0.0.1:{free_port('127.0.0.1')}",
        "idp": f"127.0.0.1:{free_port('127.0.0.1')}",
        "hf": f"127.0.0.1:{free_port('127.0.0.1')}",
        "backends": [f"{ip}:{free_port(ip)}" for ip in BACKEND_IPS],
        "gateway": f"{GATEWAY_VIP}:{free_port(GATEWAY_VIP)}",
    }
    yield lab_dir, addresses
    adcml("lab", "down", "--dir", str(lab_dir))  # whatever happened above


def lab_spec(addresses: dict) -> dict:
    """inventories/local's gateway spec, moved to the test's addresses (every pool of members
    on the demo backends; the endpoint pool as it is), the model servers' key resolved."""
    spec = yaml.safe_load(INVENTORY_VARS.read_text())["adc_gateway_spec"]
    key = yaml.safe_load(INVENTORY_ALL.read_text())["lab_model_server_api_key"]
    text = json.dumps(spec).replace("127.0.0.1:5556", addresses["idp"])
    text = text.replace("{{ lab_model_server_api_key }}", key)
    spec = json.loads(text)
    vip, port = addresses["gateway"].split(":")
    spec["frontend"].update(vip=vip, port=int(port))
    members = [{"host": b.split(":")[0], "port": int(b.split(":")[1])} for b in addresses["backends"]]
    for pool in spec["pools"]:
        if "members" in pool:
            pool["members"] = members
    return spec


def lab_vars(addresses: dict, lab_dir) -> dict:
    """What the playbook needs of inventories/local beside the ADC's connection: the Hugging
    Face endpoint and its connection (the stand-in moved to the test's port), the gateway's
    address records, CA certificates and lookup settings, and the moved spec."""
    hf = {k: v for k, v in yaml.safe_load(INVENTORY_ALL.read_text()).items() if k.startswith("lab_hf_")}
    hf.update(lab_hf_api_base=f"http://{addresses['hf']}/v2", lab_hf_hub=f"http://{addresses['hf']}")
    gateway = {k: v for k, v in yaml.safe_load(INVENTORY_VARS.read_text()).items()
               if k.startswith("adc_gateway_")}
    return {**hf, **yaml.safe_load(INVENTORY_CONTROLLER.read_text()), **gateway,
            "adc_gateway_spec": lab_spec(addresses), "adcml_lab_dir": str(lab_dir)}


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (the stand-in's replicas)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and alive(int(entry.name)):
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat[stat.rindex(")") + 2:].split()[1] == str(pid):
                found.append(int(entry.name))
    return found


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


def test_the_shipped_inventory_spills_over_to_the_labs_hugging_face_endpoint():
    data = yaml.safe_load(INVENTORY_VARS.read_text())
    lab = yaml.safe_load(INVENTORY_ALL.read_text())
    pools = {pool["name"]: pool for pool in data["adc_gateway_spec"]["pools"]}
    # embed spills over to the endpoint pool, which only spillover reaches
    assert pools["embed"]["spillover"]["to"] == "embed-hf" and pools["embed"]["spillover"]["connections_over"]
    assert "match" not in pools["embed-hf"] and "members" not in pools["embed-hf"]
    assert pools["embed-hf"]["endpoint"] | {"scale_up_timeout": None} == {
        "name": "embedder", "namespace": LAB_HF_NAMESPACE, "ca_certkey": "hf-ca", "scale_up_timeout": None}
    assert pools["embed-hf"]["backend_token"] == "{{ lab_hf_token }}"
    # the stand-in's built-in token and addresses, lab values every piece shares
    assert BUILT_IN.split() == [LAB_HF_NAMESPACE, LAB_HF_TOKEN] and lab["lab_hf_token"] == LAB_HF_TOKEN
    assert (lab["lab_hf_api_base"], lab["lab_hf_hub"]) == ("http://127.0.0.1:9190/v2", "http://127.0.0.1:9190")
    assert lab["lab_hf_ca_file"] == "{{ adcml_lab_dir }}/hf/ca.pem"
    assert data["adc_gateway_dns_records"] == [{"hostname": "*.endpoints.hf.test", "ipaddress": "127.0.0.1"}]
    assert data["adc_gateway_ca_certificates"] == [{"name": "hf-ca", "file": "{{ lab_hf_ca_file }}"}]
    assert data["adc_gateway_hf_token"] == "{{ lab_hf_token }}"
    # the endpoint the pool names, made on the controller before the gateway looks it up
    controller = yaml.safe_load(INVENTORY_CONTROLLER.read_text())
    [endpoint] = controller["hf_endpoints"]
    assert (endpoint["name"], endpoint["namespace"]) == ("embedder", LAB_HF_NAMESPACE)
    assert endpoint["state"] == "present"
    assert endpoint["compute"]["accelerator"] == "cpu"
    assert controller["hf_endpoint_token"] == "{{ lab_hf_token }}"
    site = yaml.safe_load((REPO / PLAYBOOK).read_text())
    assert [play["ansible.builtin.import_playbook"] for play in site] == [
        "hf_endpoints.yml", "adc.yml", "gpu_hosts.yml"]


def test_lab_up_converge_traffic_down(layout, tmp_path):
    lab_dir, addresses = layout
    where = ["--dir", str(lab_dir)]
    up = adcml("lab", "up", *where, "--nitro", addresses["nitro"], "--nitro-tls", addresses["nitro_tls"],
               "--idp", addresses["idp"], "--hf", addresses["hf"], "--gateway", addresses["gateway"],
               "--no-model-hosts", env={"ADCML_LAB_BACKENDS": " ".join(addresses["backends"])})
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.count(" started ") == 5, up.stdout
    assert (lab_dir / "pki" / "gateway.key").stat().st_mode & 0o777 == 0o600
    assert (lab_dir / "pki" / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (lab_dir / "hf" / "ca.pem").is_file()  # the stand-in's CA, which the ADC will trust

    # status: everything runs and answers its health check
    report = json.loads(adcml("lab", "status", *where, "--json").stdout)
    assert report["healthy"], report
    pids = {row["name"]: row["pid"] for row in report["services"]}
    assert set(pids) == {"idp", "backend-1", "backend-2", "hf", "adc"} and all(pids.values())
    rows = {row["name"]: row["address"] for row in report["services"]}
    assert [rows["backend-1"], rows["backend-2"], rows["hf"]] == [*addresses["backends"], addresses["hf"]]
    assert report["endpoints"] == []

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
    project = AnsibleProject(tmp_path / "ansible", nsip=addresses["nitro"], timeout=300)
    extra = lab_vars(addresses, lab_dir)
    run = project.playbook(PLAYBOOK, extra_vars=extra, env=ONLINE)
    # the endpoint; the address record, the CA's file and cert-key, the gateway
    assert run.rc == 0 and run.recap["localhost"]["changed"] == 1, run.explain()
    assert run.recap[HOST]["changed"] == 4, run.explain()
    assert LAB_HF_TOKEN not in run.stdout + run.stderr  # no_log, though only a lab value
    report = json.loads(adcml("lab", "status", *where, "--json").stdout)
    [endpoint] = report["endpoints"]
    assert (endpoint["name"], endpoint["state"]) == ("embedder", "running"), endpoint
    assert endpoint["host_name"].endswith(".endpoints.hf.test")
    replicas = children(pids["hf"])
    assert replicas, "the endpoint's replica runs as the stand-in's child"
    members = {m["servicegroup"]: m["state"] for m in report["members"]}
    assert members["llm.embed-hf"] == "UP", report["members"]

    # through the TLS frontend, verified with the lab CA: a token gets 200, none gets 401
    token = adcml("lab", "token", *where, "--user", "ana", "--group", "ml-trusted")
    assert token.returncode == 0 and token.stdout.count(".") == 2, token.stderr
    # 200, 401, chat 200 (credential injected), 403; served locally, by the endpoint with the
    # local members disabled, locally again
    smoke = adcml("lab", "smoke", *where, timeout=300)
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert "adcml lab token --dir" in smoke.stdout and "curl --cacert" in smoke.stdout
    for line in ("ok  the same again: 200",
                 "from the ADC's cache (Age: ",
                 "ok  POST /v1/embeddings served by the local pool llm.embed: 200",
                 "ok  llm.embed's members disabled through NITRO",
                 "ok  POST /v1/embeddings served by the Hugging Face endpoint lab/embedder through "
                 "llm.embed-hf: 200",
                 "an embedding of 384 numbers",
                 "ok  llm.embed's members enabled again: POST /v1/embeddings served by the local pool: 200",
                 "ok  the Hugging Face token is in none of the"):
        assert line in smoke.stdout, smoke.stdout
    assert LAB_HF_TOKEN not in smoke.stdout + smoke.stderr
    # nor in any log of the lab (the services', the ADC's access log, the endpoint replica's)
    logs = sorted(p for p in lab_dir.rglob("*.log") if p.is_file())
    assert {"access.log", "adc.log", "hf.log", "lab--embedder.log"} <= {p.name for p in logs}, logs
    assert [p.name for p in logs if LAB_HF_TOKEN in p.read_text(errors="replace")] == []
    report = json.loads(adcml("lab", "status", *where, "--json").stdout)
    assert {m["state"] for m in report["members"] if m["servicegroup"] == "llm.embed"} == {"UP"}
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
    run = project.playbook(PLAYBOOK, extra_vars=extra, env=ONLINE)
    assert run.rc == 0 and run.recap[HOST]["changed"] == run.recap["localhost"]["changed"] == 0, run.explain()
    # check mode plans another address record, and writes nothing
    other = {"hostname": "other.endpoints.example.test", "ipaddress": "127.0.0.2"}
    more = {**extra, "adc_gateway_dns_records": [*extra["adc_gateway_dns_records"], other]}
    run = project.playbook(PLAYBOOK, "--check", "--diff", extra_vars=more, env=ONLINE)
    assert run.rc == 0 and run.result("adc_gateway : The ADC's own address records")["changed"], run.explain()
    assert "+ dnsaddrec other.endpoints.example.test" in run.stdout, run.stdout
    records = httpx.get(f"http://{addresses['nitro']}/nitro/v1/config/dnsaddrec", timeout=5,
                        headers={"X-NITRO-USER": "nsroot", "X-NITRO-PASS": "nsroot"}).json()["dnsaddrec"]
    assert [r["hostname"] for r in records] == ["*.endpoints.hf.test"]

    # down: every process of the lab is gone, the endpoint's replica too; down again is a no-op
    down = adcml("lab", "down", *where)
    assert down.returncode == 0 and down.stdout.count("stopped (pid") == 5, down.stdout
    assert not any(alive(pid) for pid in [*pids.values(), *replicas])
    assert not list((lab_dir / "run").glob("*.pid"))
    assert adcml("lab", "down", *where).stdout.count("not running") == 5
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
