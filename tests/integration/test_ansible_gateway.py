"""The adc_gateway role and module through ansible-playbook, against a real lab ADC.

Every test runs the real command (playbooks/adc.yml or a small playbook of module tasks)
in a subprocess and checks the recap, the recorded module results and the lab's state.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
from ansible_harness import HOST, AnsibleProject

from adcml.gateway import RESOURCES, SECRET_KEPT, load_spec
from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer
from adcml.lab.services.pki import LabCA
from adcml.nitro import NitroClient
from adcml.resources import schema

pytestmark = pytest.mark.slow

PLAYBOOK = "playbooks/adc.yml"
TASK = "adc_gateway : Gateway llm is {}"
SPEC = {
    "name": "llm",
    "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"},
    "pools": [
        {"name": "chat", "match": {"path_prefix": "/v1/chat"},
         "members": [{"host": "127.0.0.1", "port": 9001}, {"host": "127.0.0.1", "port": 9002}]},
        {"name": "code", "match": {"path_prefix": "/v1/code"},
         "members": [{"host": "127.0.0.1", "port": 9005}]},
        {"name": "embed", "members": [{"host": "127.0.0.1", "port": 9003}]},
    ],
    "default_pool": "embed",
}
WRITES = ("POST", "PUT", "DELETE")
SESSION = {"POST login", "POST logout"}


def gateway_vars(spec: dict, state: str = "merged") -> dict:
    return {"adc_gateway_spec": spec, "adc_gateway_state": state}


def writes(counters: dict) -> dict[str, int]:
    """NITRO writes the lab saw, apart from opening and closing sessions."""
    return {k: n for k, n in counters["requests"].items() if k.startswith(WRITES) and k not in SESSION}


def client(nsip: str, password: str = "nsroot") -> NitroClient:
    return NitroClient(nsip=nsip, username="nsroot", password=password, protocol="http")


def names(adc: NitroClient) -> dict[str, set[str]]:
    """Every object name (bindings: parent names) of every resource a gateway may own."""
    out: dict[str, set[str]] = {}
    for resource in RESOURCES:
        res = schema(resource)
        if res.is_binding:
            rows = [row for entry in adc.bindings(res.parent) for row in entry.get(resource, [])]
        elif resource == "systemfile":
            rows = adc.get(resource, args={"filelocation": "/nsconfig/ssl/"})
        else:
            rows = adc.get(resource)
        out[resource] = {str(row.get(res.key)) for row in rows}
    return out


def owned_names(adc: NitroClient, gateway: str = "llm") -> set[str]:
    return {f"{r}:{n}" for r, found in names(adc).items() for n in found if n.startswith(f"{gateway}.")}


def test_converge_idempotence_check_diff_overridden_gathered_deleted(lab_adc, tmp_path):
    project = AnsibleProject(tmp_path, nsip=lab_adc.nsip)

    # 1. converge: the role creates the gateway and saves the config
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars(SPEC))
    assert run.rc == 0, run.explain()
    assert run.recap[HOST]["changed"] == 1 and run.recap[HOST]["failed"] == 0, run.explain()
    first = run.result(TASK.format("merged"))
    assert first["summary"]["create"] == 27 and first["summary"]["update"] == 1, first["summary"]
    assert first["saved"] is True
    assert first["requests"] >= 15
    with client(lab_adc.nsip) as adc:
        assert adc.get("nsconfig")[0]["configchanged"] is False  # saved
        assert {"llm.chat", "llm.code", "llm.embed"} <= names(adc)["lbvserver"]

    # 2. the same spec again: nothing to do, nothing written
    lab_adc.reset_counters()
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars(SPEC))
    assert run.rc == 0 and run.recap[HOST]["changed"] == 0, run.explain()
    assert run.result(TASK.format("merged"))["summary"]["unchanged"] == 28  # 27 objects and the features
    assert writes(lab_adc.counters()) == {}

    # 3. a changed spec in check mode with --diff: reported, shown, not applied
    changed = copy.deepcopy(SPEC)
    changed["pools"][0]["members"][1]["weight"] = 5
    changed["pools"].append({"name": "vision", "match": {"path_prefix": "/v1/vision"},
                             "members": [{"host": "127.0.0.1", "port": 9006}]})
    with client(lab_adc.nsip) as adc:
        before = owned_names(adc)
    lab_adc.reset_counters()
    run = project.playbook(PLAYBOOK, "--check", "--diff", extra_vars=gateway_vars(changed))
    assert run.rc == 0 and run.recap[HOST]["changed"] == 1, run.explain()
    assert "+ lbvserver llm.vision  (missing)" in run.stdout
    member = "servicegroup_servicegroupmember_binding llm.chat/127.0.0.1/9002"
    assert f"-/+ {member}  (weight of a binding changes by unbind and bind)" in run.stdout
    assert re.search(r"^    weight: '?1'? -> 5$", run.stdout, re.MULTILINE), run.explain()
    # the new route takes its own priority: the other routes' bindings stay as they are
    assert "csvserver_cspolicy_binding llm.cs/llm.chat" not in run.stdout
    assert "Plan: 9 to create, 1 to replace; 27 unchanged." in run.stdout, run.explain()
    assert writes(lab_adc.counters()) == {}
    with client(lab_adc.nsip) as adc:
        assert owned_names(adc) == before

    # 4. overridden: a pool left out of the spec goes; an lbvserver made by hand stays
    with client(lab_adc.nsip) as adc:
        adc.add("lbvserver", {"name": "handmade", "servicetype": "HTTP", "ipv46": "127.0.0.40",
                              "port": 80})
    smaller = copy.deepcopy(SPEC)
    smaller["pools"] = [p for p in smaller["pools"] if p["name"] != "code"]
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars(smaller, "overridden"))
    assert run.rc == 0 and run.recap[HOST]["changed"] == 1, run.explain()
    assert run.result(TASK.format("overridden"))["summary"]["delete"] == 9
    with client(lab_adc.nsip) as adc:
        left = owned_names(adc)
        assert not [n for n in left if "llm.code" in n], left
        assert "lbvserver:llm.chat" in left and "lbvserver:llm.embed" in left
        assert "handmade" in names(adc)["lbvserver"]

    # 5. gathered: the live gateway comes back as the spec that made it
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars({"name": "llm"}, "gathered"))
    assert run.rc == 0 and run.recap[HOST]["changed"] == 0, run.explain()
    gathered = run.result(TASK.format("gathered"))["gathered"]
    assert load_spec(gathered) == load_spec(smaller)

    # 6. deleted (by name): no object of the gateway is left; the hand-made one is
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars({"name": "llm"}, "deleted"))
    assert run.rc == 0 and run.recap[HOST]["changed"] == 1, run.explain()
    with client(lab_adc.nsip) as adc:
        assert owned_names(adc) == set()
        assert "handmade" in names(adc)["lbvserver"]


def test_bad_spec_fails_with_field_path_and_no_write(lab_adc, tmp_path):
    project = AnsibleProject(tmp_path, nsip=lab_adc.nsip)
    bad = copy.deepcopy(SPEC)
    bad["pools"][1]["members"][0]["port"] = 70000
    bad["frontend"]["vip"] = "not-an-ip"
    bad["pools"][0]["lb_metod"] = "ROUNDROBIN"
    lab_adc.reset_counters()
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars(bad))
    assert run.rc != 0 and run.recap[HOST]["failed"] == 1, run.explain()
    failure = run.result(TASK.format("merged"))
    assert failure["_status"] == "failed"
    assert "invalid gateway spec (nothing was sent to the ADC)" in failure["msg"]
    paths = {p["path"] for p in failure["problems"]}
    assert paths == {"spec.pools[1].members[0].port", "spec.frontend.vip", "spec.pools[0].lb_metod"}
    for path in paths:
        assert path in failure["msg"] and path in run.stdout
    assert writes(lab_adc.counters()) == {}


def test_a_kept_secret_with_nothing_to_keep_and_a_hand_changed_gateway_fail_cleanly(lab_adc, tmp_path):
    project = AnsibleProject(tmp_path, nsip=lab_adc.nsip)
    kept = copy.deepcopy(SPEC)
    kept["pools"][0]["backend_token"] = SECRET_KEPT  # as a gathered spec has it; no gateway yet
    lab_adc.reset_counters()
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars(kept))
    failure = run.result(TASK.format("merged"))
    assert failure["_status"] == "failed", run.explain()
    assert "nothing was changed on the ADC" in failure["msg"]
    assert [p["path"] for p in failure["problems"]] == ["spec.pools[0].backend_token"]
    assert writes(lab_adc.counters()) == {}

    assert project.playbook(PLAYBOOK, extra_vars=gateway_vars(SPEC)).rc == 0
    with client(lab_adc.nsip) as adc:
        adc.update("cspolicy", {"policyname": "llm.chat", "rule": 'HTTP.REQ.URL.PATH.CONTAINS("x")'})
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars({"name": "llm"}, "gathered"))
    failure = run.result(TASK.format("gathered"))
    assert failure["_status"] == "failed" and "Traceback" not in run.stdout, run.explain()
    assert "cspolicy llm.chat: its rule is not one adcml writes" in failure["msg"]


def test_secrets_never_reach_the_output(tmp_path):
    """nitro_pass and the key passphrase stay out of -vvv output, the diff and results."""
    password, passphrase = "Lab-Pass-7f3a9c", "Key-Pass-91b2e4"
    state = tmp_path / "lab"
    server = LabServer(LabADC(state, password=password), "127.0.0.1:0").start()
    try:
        nsip = server.url.removeprefix("http://")
        issued = LabCA().issue("llm.lab.test", sans=["127.0.0.11"], passphrase=passphrase)
        issued.write(tmp_path / "llm.crt", tmp_path / "llm.key")
        spec = copy.deepcopy(SPEC)
        spec["frontend"] = {"vip": "127.0.0.11", "port": 8443, "protocol": "https", "tls": {
            "cert_file": str(tmp_path / "llm.crt"), "key_file": str(tmp_path / "llm.key"),
            "key_passphrase": passphrase}}
        project = AnsibleProject(tmp_path / "ansible", nsip=nsip, password=password)
        run = project.playbook(PLAYBOOK, "-vvv", "--diff", extra_vars=gateway_vars(spec))
        assert run.rc == 0 and run.recap[HOST]["changed"] == 1, run.explain()
        result = run.result(TASK.format("merged"))
        assert "+ sslcertkey llm.cert  (missing)" in run.stdout
        assert "passplain: '*** (sha256:" in run.stdout  # shown as changed, never in clear
        text = run.stdout + run.stderr + Path(project.workdir / "run-1.jsonl").read_text()
        for secret in (password, passphrase):
            assert secret not in text
        assert result["invocation"]["module_args"]["nitro_pass"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
        assert result["invocation"]["module_args"]["spec"]["frontend"]["tls"]["key_passphrase"] != passphrase

        with NitroClient(nsip=nsip, username="nsroot", password=password, protocol="http") as adc:
            certkey = adc.get("sslcertkey", "llm.cert")[0]
            assert certkey["key"].startswith("llm.cert.") and certkey["password"] in (True, "true")
        run = project.playbook(PLAYBOOK, extra_vars=gateway_vars(spec))
        assert run.rc == 0 and run.recap[HOST]["changed"] == 0, run.explain()
    finally:
        server.stop()


def test_rendered_needs_no_adc(tmp_path):
    """state=rendered works offline: no nsip in the inventory, no credentials."""
    project = AnsibleProject(tmp_path, nsip=None)
    run = project.playbook(PLAYBOOK, extra_vars=gateway_vars(SPEC, "rendered"))
    assert run.rc == 0 and run.recap[HOST]["changed"] == 0, run.explain()
    rendered = run.result(TASK.format("rendered"))["rendered"]
    assert {"resource": "csvserver", "attributes": {
        "name": "llm.cs", "servicetype": "HTTP", "ipv46": "127.0.0.10", "port": 8080,
        "clttimeout": 180, "comment": "adcml:llm"}} in rendered
    assert len(rendered) == 28  # with nsfeature
    assert '"resource": "cspolicy"' in run.stdout  # the role shows it
