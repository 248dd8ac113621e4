"""The hf_endpoint module and the hf_endpoint role through ansible-playbook, against the lab's
Inference Endpoints stand-in served on a thread of this process (``LabHF`` + ``HFServer``).

One stand-in serves the module and few endpoints are created: each start of a replica loads the
model (about 5 s). The connection comes from the environment (HF_TOKEN, ADCML_HF_API_BASE,
HF_ENDPOINT, ADCML_HF_CA_FILE), as the module's fallbacks read it, except where a test is about
the token given as an option.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from ansible_harness import REPO, AnsibleProject, Run
from hf_kit import ONLINE, serve_stand_in
from syslog_kit import SyslogCapture
from test_ansible_options import argument_spec_of, common  # noqa: F401  (common: a fixture)

from adcml.hf import EndpointSpec
from adcml.lab.emulators.hf.backend import LabHF, Timings
from adcml.lab.emulators.hf.models.accounts import Tokens
from adcml.lab.emulators.hf.server import HFServer

pytestmark = pytest.mark.slow

NAMESPACE = "lab"
TOKEN = "Hf-Lab-Token-5e0c2a"
OTHER_TOKEN = "Hf-Other-Token-81d4f7"
SECRET = "Api-Key-Secret-27b9d3"
NO_LOG = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
CPU = {"vendor": "aws", "region": "us-east-1", "accelerator": "cpu", "instance_type": "intel-spr",
       "instance_size": "x1"}
EMBEDDER = {"name": "embedder", "repository": "sentence-transformers/all-MiniLM-L6-v2",
            "task": "sentence-embeddings", "compute": CPU}
NOTHING_LISTENS = "http://127.0.0.1:1/v2"


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Iterator[HFServer]:
    tokens = {NAMESPACE: TOKEN, "other": OTHER_TOKEN}
    with serve_stand_in(tmp_path_factory.mktemp("lab-hf"), tokens) as server:
        yield server


def connection_env(server: HFServer, token: str | None = TOKEN) -> dict[str, str]:
    env = {"ADCML_HF_API_BASE": server.api_base, "HF_ENDPOINT": server.url,
           "ADCML_HF_CA_FILE": str(server.lab.ca_file)} | ONLINE
    return env | ({"HF_TOKEN": token} if token else {})


def endpoint_task(title: str, *, check_mode: bool | None = None, ignore_errors: bool = False,
                  **options: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"name": title, "hf_endpoint": options}
    if check_mode is not None:
        task["check_mode"] = check_mode
    if ignore_errors:
        task["ignore_errors"] = True
    return task


def api_task(name: str, endpoint: str, status: int) -> dict[str, Any]:
    """Read an endpoint from the service's API, expecting ``status``."""
    return {"name": name, "ansible.builtin.uri": {
        "url": f"{{{{ api_base }}}}/endpoint/{NAMESPACE}/{endpoint}", "status_code": status,
        "headers": {"Authorization": f"Bearer {TOKEN}"}}}


def statuses(run: Run) -> dict[str, str]:
    return {entry["task"]: entry["status"] for entry in run.results}


def test_lifecycle_check_apply_idempotent_diff_update_refusals_absent(stand_in, tmp_path):
    two_replicas = {**EMBEDDER, "scaling": {"min_replica": 1, "max_replica": 2}}
    project = AnsibleProject(tmp_path, nsip=None)
    playbook = project.write_playbook("lifecycle.yml", [
        endpoint_task("preview", check_mode=True, **EMBEDDER),
        api_task("nothing made by the preview", "embedder", 404),
        endpoint_task("create", **EMBEDDER),
        endpoint_task("again", **EMBEDDER),
        endpoint_task("two replicas, preview", check_mode=True, **two_replicas),
        endpoint_task("two replicas", **two_replicas),
        endpoint_task("invalid spec", ignore_errors=True, api_base=NOTHING_LISTENS,
                      **{**EMBEDDER, "name": "Embedder", "scaling": {"min_replica": 3, "max_replica": 2}}),
        endpoint_task("unknown option, bad choice", ignore_errors=True, colour="blue", wait="maybe",
                      **{**EMBEDDER, "type": "Public"}),
        endpoint_task("size not offered", ignore_errors=True,
                      **{**EMBEDDER, "name": "refused", "compute": {**CPU, "instance_size": "x3"}}),
        endpoint_task("token of another namespace", ignore_errors=True, hf_token=OTHER_TOKEN,
                      namespace=NAMESPACE, **EMBEDDER),
        endpoint_task("absent by name", name="embedder", state="absent"),
        api_task("deleted", "embedder", 404),
        endpoint_task("absent again", name="embedder", state="absent"),
    ])
    run = project.playbook(playbook, "--diff", extra_vars={"api_base": stand_in.api_base},
                           env=connection_env(stand_in))
    assert run.rc == 0, run.explain()
    assert statuses(run) == {
        "preview": "changed", "nothing made by the preview": "ok", "create": "changed", "again": "ok",
        "two replicas, preview": "changed", "two replicas": "changed", "invalid spec": "ignored",
        "unknown option, bad choice": "ignored", "size not offered": "ignored",
        "token of another namespace": "ignored",
        "absent by name": "changed", "deleted": "ok", "absent again": "ok"}, run.explain()

    preview = run.result("preview")
    assert preview["endpoint"] is None
    assert preview["plan"]["steps"] == ["create", "wait until running"]
    assert preview["plan"]["namespace"] == NAMESPACE  # the token's user, from whoami

    created = run.result("create")["endpoint"]
    assert (created["state"], created["namespace"]) == ("running", NAMESPACE)
    assert created["url"].startswith("https://127.0.0.1:")
    assert run.result("again")["plan"]["steps"] == []

    planned = run.result("two replicas, preview")["plan"]
    assert planned["differences"] == {"compute.scaling.maxReplica": {"before": 1, "after": 2}}
    # --diff: the field that differs, before and after, under the endpoint's name
    assert f"--- before: {NAMESPACE}/embedder" in run.stdout
    assert '-    "compute.scaling.maxReplica": 1,' in run.stdout
    assert '+    "compute.scaling.maxReplica": 2,' in run.stdout
    assert run.result("two replicas")["endpoint"]["scaling"]["maxReplica"] == 2

    invalid = run.result("invalid spec")
    assert invalid["msg"].startswith("invalid Inference Endpoint spec (nothing was sent to the service)")
    assert {p["path"] for p in invalid["problems"]} == {"name", "scaling"}, invalid["problems"]
    # Ansible refuses these first; the failure still names every problem, each at its option
    refused_by_ansible = run.result("unknown option, bad choice")
    assert {p["path"] for p in refused_by_ansible["problems"]} == {"colour", "wait", "type"}, \
        refused_by_ansible["problems"]

    refused = run.result("size not offered")
    assert refused["status"] == 400, refused
    assert "compute.instanceSize" in refused["msg"] and "'x3' is not offered" in refused["msg"], refused

    forbidden = run.result("token of another namespace")
    assert forbidden["status"] == 403, forbidden
    assert "may not manage endpoints in this namespace" in forbidden["msg"]

    assert run.result("absent by name")["plan"]["steps"] == ["delete"]
    assert run.result("absent again")["endpoint"] is None


def test_an_endpoint_that_fails_to_start_fails_the_module_with_its_state(tmp_path):
    """A stand-in with no model to serve: every endpoint it starts fails (no replica to wait for)."""
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{NAMESPACE} {TOKEN}\n")
    with HFServer(LabHF(Tokens.from_file(tokens), None, timings=Timings(pending_seconds=0.1))) as server:
        project = AnsibleProject(tmp_path / "ansible", nsip=None)
        playbook = project.write_playbook("failing.yml", [
            endpoint_task("create", ignore_errors=True, wait_timeout=60, **EMBEDDER)])
        run = project.playbook(playbook, env=connection_env(server))
    assert run.rc == 0, run.explain()
    failure = run.result("create")
    assert failure["_status"] == "ignored", run.explain()
    assert failure["msg"].startswith(f"{NAMESPACE}/embedder is failed: "), failure["msg"]
    assert "no model to serve" in failure["msg"]
    assert (failure["endpoint"]["state"], failure["endpoint"]["namespace"]) == ("failed", NAMESPACE)


def assert_nowhere(run: Run, syslog: list[str], secrets: list[str]) -> None:
    """None of ``secrets`` in syslog, the output (-vvv, --diff), or any recorded task result."""
    places = {"syslog": "\n".join(syslog), "stdout": run.stdout, "stderr": run.stderr,
              "task results": run.record.read_text() if run.record and run.record.exists() else ""}
    leaks = [(where, secret) for secret in secrets for where, text in places.items() if secret in text]
    assert not leaks, f"secrets found: {leaks}\n{run.explain()}"


def invocations(syslog: list[str]) -> list[str]:
    return [m for m in syslog if "ansible-hf_endpoint: Invoked with" in m]


def test_token_and_secrets_stay_out_of_syslog_output_and_results(stand_in, tmp_path):
    with_secret = {**EMBEDDER, "name": "keeper", "namespace": NAMESPACE,
                   "secrets": {"API_KEY": "{{ api_key }}"}, "hf_token": "{{ hf_token }}"}
    project = AnsibleProject(tmp_path / "module", nsip=None)
    playbook = project.write_playbook("secrets.yml", [
        endpoint_task("preview", check_mode=True, **with_secret),
        endpoint_task("create", **with_secret),
        endpoint_task("send the secret again", **with_secret, update_secrets="always"),
        endpoint_task("invalid", ignore_errors=True, **{**with_secret, "scaling": {"min_replica": -1}}),
        endpoint_task("wrong token", ignore_errors=True, **{**with_secret, "hf_token": "{{ wrong }}"}),
        endpoint_task("absent", name="keeper", namespace=NAMESPACE, state="absent",
                      hf_token="{{ hf_token }}"),
    ])
    values = {"api_key": SECRET, "hf_token": TOKEN, "wrong": TOKEN[::-1]}
    with SyslogCapture() as syslog:
        run = project.playbook(playbook, "-vvv", "--diff", extra_vars=values,
                               env=connection_env(stand_in, token=None), prefix=syslog.prefix)
    assert run.rc == 0, run.explain()
    assert statuses(run) == {"preview": "changed", "create": "changed", "send the secret again": "changed",
                             "invalid": "ignored", "wrong token": "ignored", "absent": "changed"}
    assert len(invocations(syslog.messages())) == 6, syslog.messages()  # the capture saw every run
    assert run.result("send the secret again")["plan"]["secrets_sent"] is True
    assert run.result("wrong token")["status"] == 401
    args = run.result("create")["invocation"]["module_args"]
    assert args["hf_token"] == NO_LOG and args["secrets"] == {"API_KEY": NO_LOG}
    assert_nowhere(run, syslog.messages(), [SECRET, TOKEN, TOKEN[::-1]])

    # The role, whose loop would show each endpoint (its secrets) in every result at -v.
    role = AnsibleProject(tmp_path / "role", nsip=None)
    with SyslogCapture() as syslog:
        run = role.playbook(REPO / "playbooks" / "hf_endpoints.yml", "-vvv", "--diff", "--check",
                            extra_vars={"hf_endpoints": [{**EMBEDDER, "name": "keeper",
                                                          "secrets": {"API_KEY": SECRET}}],
                                        "hf_endpoint_token": TOKEN},
                            env=connection_env(stand_in, token=None), prefix=syslog.prefix)
    assert run.rc == 0, run.explain()
    assert run.recap["localhost"]["changed"] == 1, run.explain()
    assert len(invocations(syslog.messages())) == 1, syslog.messages()
    assert_nowhere(run, syslog.messages(), [SECRET, TOKEN])


def test_role_passes_every_module_option_and_documents_the_spec(common, monkeypatch, tmp_path):  # noqa: F811
    """The role's task and argument spec list the spec's fields by hand (Ansible cannot splat a
    mapping into a module's options without a warning); this holds them to the module."""
    taken = argument_spec_of(common, "hf_endpoint", monkeypatch)
    role = REPO / "roles" / "hf_endpoint"
    task = yaml.safe_load((role / "tasks" / "main.yml").read_text())[0]
    passed = task["hf_endpoint"]
    assert set(passed) == set(taken)
    for field in EndpointSpec.model_fields:
        expected = "{{ hf_endpoint_item.name }}" if field == "name" else \
            f"{{{{ hf_endpoint_item.{field} | default(omit) }}}}"
        assert passed[field] == expected, field

    documented = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    element = documented["argument_specs"]["main"]["options"]["hf_endpoints"]["options"]
    spec_options = {name: taken[name] for name in EndpointSpec.model_fields}
    assert set(element) == set(spec_options) | {"state"}
    assert _shape(element, "options") == _shape(spec_options, "options") | {
        "state": _shape({"state": taken["state"]}, "options")["state"] | {"default": None}}
    assert element["name"].get("required") is True  # the role's own check: each endpoint is named

    doc = AnsibleProject(tmp_path, nsip=None).command("ansible-doc", "-t", "role", "-r", "roles",
                                                      "hf_endpoint")
    assert doc.returncode == 0 and "hf_endpoints" in doc.stdout, doc.stderr


def _shape(options: dict[str, Any], nested: str) -> dict[str, Any]:
    """Type, elements, choices, default and no_log of each option, down the nested options."""
    return {name: {"type": o.get("type", "str"), "elements": o.get("elements"),
                   "choices": o.get("choices"), "default": o.get("default"),
                   "no_log": bool(o.get("no_log")), "options": _shape(o.get(nested) or {}, nested)}
            for name, o in options.items()}


def test_adc_gateway_looks_an_endpoint_up_by_name_and_keeps_the_token_secret(stand_in, tmp_path):
    """A gateway spec that names an endpoint: adc_gateway asks the service for its URL (the
    token from hf_token) before anything else; the token, given also as the pool's backend
    token, is nowhere in the output, the results or the syslog."""
    gateway = {"name": "gw", "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"},
               "pools": [{"name": "hf", "match": {"path_prefix": "/embed"},
                          "endpoint": {"name": "gateway-embedder", "ca_certkey": "hf-ca"},
                          "backend_token": "{{ hf_token }}"}]}
    TOKEN_VAR = "{{ hf_token }}"  # noqa: N806
    missing = {**gateway, "pools": [{**gateway["pools"][0],
                                     "endpoint": {"name": "nowhere", "ca_certkey": "hf-ca"}}]}
    project = AnsibleProject(tmp_path / "gateway", nsip=None)
    playbook = project.write_playbook("gateway.yml", [
        endpoint_task("create", **{**EMBEDDER, "name": "gateway-embedder"}, namespace=NAMESPACE,
                      hf_token="{{ hf_token }}"),
        {"name": "render", "adc_gateway": {"spec": gateway, "state": "rendered", "hf_token": TOKEN_VAR}},
        {"name": "missing", "adc_gateway": {"spec": missing, "state": "rendered", "hf_token": TOKEN_VAR},
         "ignore_errors": True},
        endpoint_task("absent", name="gateway-embedder", namespace=NAMESPACE, state="absent",
                      hf_token="{{ hf_token }}"),
    ])
    with SyslogCapture() as syslog:
        run = project.playbook(playbook, "-vvv", extra_vars={"hf_token": TOKEN},
                               env=connection_env(stand_in, token=None), prefix=syslog.prefix)
    assert run.rc == 0, run.explain()
    rendered = run.result("render")["rendered"]
    server = next(o for o in rendered if o["resource"] == "server")["attributes"]
    assert server["domain"].endswith(f".us-east-1.aws.{stand_in.lab.domain}"), server
    failure = run.result("missing")
    assert failure["_status"] == "ignored"
    assert "spec.pools[0].endpoint.name" in failure["msg"] + str(failure.get("problems")), failure
    assert_nowhere(run, syslog.messages(), [TOKEN])
