"""adc_resource, adc_save_config and adc_facts through ansible-playbook against a lab ADC;
ansible-doc and ansible-lint over the whole front-end."""

from __future__ import annotations

import json

import pytest
from ansible_harness import HOST, AnsibleProject

from adcml.nitro import NitroClient

pytestmark = pytest.mark.slow

MODULES = ("adc_gateway", "adc_resource", "adc_save_config", "adc_facts", "adc_servicegroup_member")
WEB = {"name": "web", "servicetype": "HTTP", "ipv46": "127.0.0.30", "port": 80,
       "lbmethod": "roundrobin"}


def task(name: str, module: str, register: str | None = None, *, ignore_errors: bool = False,
         check_mode: bool | None = None, **args) -> dict:
    out = {"name": name, module: args}
    if check_mode is not None:
        out["check_mode"] = check_mode
    if ignore_errors:
        out["ignore_errors"] = True
    return out


def resource(name: str, resource_: str, attributes: dict, state: str = "present", **kw) -> dict:
    return task(name, "adc_resource", resource=resource_, attributes=attributes, state=state, **kw)


def test_adc_resource_create_idempotent_update_absent(lab_adc, tmp_path):
    project = AnsibleProject(tmp_path, nsip=lab_adc.nsip)
    playbook = project.write_playbook("resource.yml", [
        resource("create", "lbvserver", WEB),
        resource("again", "lbvserver", {**WEB, "lbmethod": "ROUNDROBIN", "port": "80"}),
        resource("update", "lbvserver", {"name": "web", "lbmethod": "LEASTRESPONSETIME"}),
        resource("replace", "lbvserver", {"name": "web", "port": 8080}),
        resource("group", "servicegroup", {"servicegroupname": "web", "servicetype": "HTTP"}),
        resource("member", "servicegroup_servicegroupmember_binding",
                 {"servicegroupname": "web", "ip": "127.0.0.1", "port": 9001, "weight": 2}),
        resource("member again", "servicegroup_servicegroupmember_binding",
                 {"servicegroupname": "web", "ip": "127.0.0.1", "port": 9001, "weight": 2}),
        resource("member gone", "servicegroup_servicegroupmember_binding",
                 {"servicegroupname": "web", "ip": "127.0.0.1", "port": 9001}, "absent"),
        resource("absent in check mode", "lbvserver", {"name": "web"}, "absent", check_mode=True),
        resource("absent", "lbvserver", {"name": "web"}, "absent"),
        resource("absent again", "lbvserver", {"name": "web"}, "absent"),
        resource("unknown resource", "lbvsrever", {"name": "x"}, ignore_errors=True),
        resource("bad attributes", "lbvserver", {"name": "x", "port": 70000, "colour": "red",
                                                 "curstate": "UP"}, ignore_errors=True),
        resource("create without required", "lbvserver", {"name": "y"}, ignore_errors=True),
        resource("features", "nsfeature", {"feature": ["LB", "CS"]}),
        resource("features again", "nsfeature", {"feature": ["lb"]}),
        resource("features absent", "nsfeature", {"feature": ["LB"]}, "absent", ignore_errors=True),
    ])
    run = project.playbook(playbook, "--diff")
    assert run.rc == 0, run.explain()
    assert run.recap[HOST] | {"ok": 0} == {"ok": 0, "changed": 9, "unreachable": 0, "failed": 0,
                                            "skipped": 0, "rescued": 0, "ignored": 4}, run.explain()
    status = {e["task"]: e["status"] for e in run.results}
    assert status == {
        "create": "changed", "again": "ok", "update": "changed", "replace": "changed",
        "group": "changed", "member": "changed", "member again": "ok", "member gone": "changed",
        "absent in check mode": "changed", "absent": "changed", "absent again": "ok",
        "unknown resource": "ignored", "bad attributes": "ignored",
        "create without required": "ignored", "features": "changed", "features again": "ok",
        "features absent": "ignored",
    }
    assert run.result("create")["after"]["lbmethod"] == "roundrobin"
    assert run.result("update")["plan"]["changes"][0]["before"] == {"lbmethod": "ROUNDROBIN"}
    assert run.result("replace")["plan"]["changes"][0]["action"] == "replace"
    assert "-/+ lbvserver web  (port cannot change in place)" in run.stdout  # --diff
    assert run.result("absent in check mode")["plan"]["changes"][0]["action"] == "delete"

    unknown = run.result("unknown resource")["msg"]
    assert "unknown resource 'lbvsrever'" in unknown and "lbvserver" in unknown
    bad = run.result("bad attributes")
    assert {p["path"] for p in bad["problems"]} == {"attributes.port", "attributes.colour",
                                                     "attributes.curstate"}
    assert "must be at most 65535" in bad["msg"] and "nothing was sent" in bad["msg"]
    assert "creating it needs: servicetype" in run.result("create without required")["msg"]
    assert "cannot be removed" in run.result("features absent")["msg"]

    with NitroClient(nsip=lab_adc.nsip, username="nsroot", password="nsroot", protocol="http") as adc:
        assert adc.find("lbvserver", "web") is None
        assert adc.find("lbvserver", "x") is None and adc.find("lbvserver", "y") is None
        members = [row for entry in adc.bindings("servicegroup", "web")
                   for row in entry.get("servicegroup_servicegroupmember_binding", [])]
        assert members == []
        assert {"LB", "CS"} <= adc.features()


def test_adc_save_config_and_adc_facts(lab_adc, tmp_path):
    project = AnsibleProject(tmp_path, nsip=lab_adc.nsip)
    playbook = project.write_playbook("save.yml", [
        task("nothing to save", "adc_save_config"),
        resource("change", "lbvserver", WEB),
        task("save in check mode", "adc_save_config", check_mode=True),
        task("save", "adc_save_config"),
        task("save again", "adc_save_config"),
        task("force", "adc_save_config", force=True),
        task("facts", "adc_facts", gather=["lbvserver", "servicegroup_servicegroupmember_binding"]),
        {"name": "facts are set", "ansible.builtin.assert": {"that": [
            "adc.version_info.release is version('13.0', '>=')",
            "adc.resources.lbvserver | map(attribute='name') | list == ['web']",
            "not adc.configchanged"]}},
        task("unknown gather", "adc_facts", gather=["nsconfig", "lbvsrever"], ignore_errors=True),
        task("wrong password", "adc_facts", nitro_pass="wrong", ignore_errors=True),
    ])
    run = project.playbook(playbook)
    assert run.rc == 0, run.explain()
    status = {e["task"]: e["status"] for e in run.results}
    assert status == {
        "nothing to save": "ok", "change": "changed", "save in check mode": "changed",
        "save": "changed", "save again": "ok", "force": "changed", "facts": "ok",
        "facts are set": "ok", "unknown gather": "ignored", "wrong password": "ignored",
    }, run.explain()
    assert run.result("save in check mode")["saved"] is False
    assert run.result("save")["configchanged"] is True and run.result("save")["saved"] is True
    facts = run.result("facts")["ansible_facts"]["adc"]
    assert facts["version"].startswith("NetScaler NS") and facts["version_info"]["build"]
    assert isinstance(facts["features"], list)
    assert facts["resources"]["servicegroup_servicegroupmember_binding"] == []
    assert "known:" in run.result("unknown gather")["msg"]
    wrong = run.result("wrong password")
    assert wrong["errorcode"] == 354 and "check nitro_user and nitro_pass" in wrong["msg"]
    writes = {k for k in lab_adc.counters()["requests"] if k.startswith(("PUT", "DELETE"))
              or (k.startswith("POST") and k not in ("POST login", "POST logout"))}
    assert writes == {"POST lbvserver", "POST nsconfig"}


def test_ansible_doc_renders_every_module_and_the_role(tmp_path):
    project = AnsibleProject(tmp_path, nsip=None)
    done = project.command("ansible-doc", "-M", "library", "--json", *MODULES)
    assert done.returncode == 0, done.stderr
    docs = json.loads(done.stdout)
    assert set(docs) == set(MODULES)
    for name, doc in docs.items():
        options = doc["doc"]["options"]
        assert options["nitro_pass"]["type"] == "str" and options["nsip"]["type"] == "str", name
        assert options["nitro_protocol"]["default"] == "https", name
        assert doc["examples"] and doc["return"], name
    assert set(docs["adc_gateway"]["doc"]["options"]["state"]["choices"]) == {
        "merged", "replaced", "overridden", "deleted", "gathered", "rendered"}
    text = project.command("ansible-doc", "-M", "library", *MODULES)  # what a user reads
    assert text.returncode == 0, text.stderr
    for name in MODULES:
        assert f"MODULE {name} " in text.stdout, text.stdout[:2000]
    for name, variable in (("adc_gateway", "adc_gateway_spec"), ("gpu_host", "gpu_host_require_gpu"),
                           ("model_server", "model_server_model_src")):
        role = project.command("ansible-doc", "-t", "role", "-r", "roles", name)
        assert role.returncode == 0 and variable in role.stdout, (name, role.stderr)


def test_ansible_lint_production_profile_passes(tmp_path):
    project = AnsibleProject(tmp_path, nsip=None)
    done = project.command("ansible-lint", "--offline", "playbooks", "roles")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output
