"""No secret in any log: what every adcml module sends to syslog, prints with -vvv and --diff,
returns (results, failures, ``invocation``) in normal and check mode, through ansible-playbook
against a lab ADC whose password is itself a secret to look for.

Syslog is read from a real syslog socket (``SyslogCapture``): the module's ``Invoked with ...``
line is written as soon as AnsibleModule has checked the options, before the module's own code
runs, so this is where a secret in a free-form option escapes first.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from ansible_harness import HOST, AnsibleProject, Run
from syslog_kit import SyslogCapture

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer
from adcml.lab.services.pki import KeyType, LabCA

pytestmark = pytest.mark.slow

NITRO_PASS = "Nitro-Pass-5d81c7"
BACKEND_TOKEN = "Backend-Token-3a9f1e"
CLIENT_SECRET = "Client-Secret-7b2c44"
KEY_PASSPHRASE = "Key-Pass-0e6d93"
OAUTH_SECRET, NEW_OAUTH_SECRET = "Oauth-Secret-4f1a20", "Oauth-Secret-9c3e57"
NO_LOG = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"

SPEC = {
    "name": "llm",
    "frontend": {"vip": "127.0.0.12", "port": 8443, "protocol": "https"},
    "pools": [
        {"name": "chat", "match": {"path_prefix": "/v1/chat"}, "backend_token": BACKEND_TOKEN,
         "members": [{"host": "127.0.0.1", "port": 9001}]},
        {"name": "embed", "members": [{"host": "127.0.0.1", "port": 9003}]},
    ],
    "default_pool": "embed",
    "auth": {"oidc": {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
                      "token_endpoint": "http://127.0.0.1:5556/token", "audience": "adcml-lab",
                      "client_secret": CLIENT_SECRET}},
}


@pytest.fixture
def lab_nsip(tmp_path: Path) -> Iterator[str]:
    """A lab ADC whose nsroot password is NITRO_PASS (the default, nsroot, is also the user)."""
    server = LabServer(LabADC(tmp_path / "lab", password=NITRO_PASS), "127.0.0.1:0").start()
    try:
        yield server.url.removeprefix("http://")
    finally:
        server.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, str]:
    """A certificate and its key encrypted with KEY_PASSPHRASE, as spec.frontend.tls wants them."""
    issued = LabCA().issue("llm.lab.test", sans=["127.0.0.12"], passphrase=KEY_PASSPHRASE)
    issued.write(tmp_path / "llm.crt", tmp_path / "llm.key")
    return {"cert_file": str(tmp_path / "llm.crt"), "key_file": str(tmp_path / "llm.key"),
            "key_passphrase": KEY_PASSPHRASE}


def pasted_key() -> str:
    """Private key text, as a user pastes it by mistake where a file path belongs."""
    return LabCA().issue("pasted.lab.test", key_type=KeyType.EC).key_pem.decode()


def key_fragments(pem: str) -> list[str]:
    """What would show that key text escaped, whole or re-wrapped: its armour and each line
    of its body."""
    return ["PRIVATE KEY", *[line for line in pem.splitlines() if not line.startswith("-----")]]


def task(name: str, module: str, *, ignore_errors: bool = False, check_mode: bool | None = None,
         **args) -> dict:
    out: dict = {"name": name, module: args}
    if ignore_errors:
        out["ignore_errors"] = True
    if check_mode is not None:
        out["check_mode"] = check_mode
    return out


def run_captured(project: AnsibleProject, playbook: Path, values: dict) -> tuple[Run, list[str]]:
    """The playbook run with -vvv and --diff, and what its modules sent to syslog.

    The secrets come as variables (``values``, as from a vault), not written into the playbook:
    Ansible shows the source lines of a failed task.
    """
    with SyslogCapture() as syslog:
        run = project.playbook(playbook, "-vvv", "--diff", extra_vars=values, prefix=syslog.prefix)
    return run, syslog.messages()


def assert_nowhere(run: Run, syslog: list[str], secrets: list[str]) -> None:
    """None of ``secrets`` in syslog, the output (-vvv, --diff), or any recorded task result."""
    places = {"syslog": "\n".join(syslog), "stdout": run.stdout, "stderr": run.stderr,
              "task results": run.record.read_text() if run.record and run.record.exists() else ""}
    leaks = [(where, secret) for secret in secrets for where, text in places.items() if secret in text]
    assert not leaks, f"secrets found: {leaks}\n{run.explain()}"


def invocations(syslog: list[str], module: str) -> list[str]:
    return [m for m in syslog if f"ansible-{module}: Invoked with" in m]


def test_adc_gateway_secrets_stay_out_of_syslog_output_and_results(lab_nsip, tls_files, tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["frontend"]["tls"] = tls_files
    invalid = copy.deepcopy(spec)
    invalid["pools"][0]["members"][0]["port"] = 70000
    project = AnsibleProject(tmp_path / "ansible", nsip=lab_nsip, password=NITRO_PASS)
    playbook = project.write_playbook("gateway.yml", [
        task("preview", "adc_gateway", spec="{{ spec }}", check_mode=True),
        task("converge", "adc_gateway", spec="{{ spec }}"),
        task("again", "adc_gateway", spec="{{ spec }}"),
        task("render", "adc_gateway", spec="{{ spec }}", state="rendered"),
        task("invalid spec", "adc_gateway", spec="{{ invalid }}", ignore_errors=True),
        task("invalid spec in check mode", "adc_gateway", spec="{{ invalid }}", ignore_errors=True,
             check_mode=True),
    ])
    run, syslog = run_captured(project, playbook, {"spec": spec, "invalid": invalid})
    assert run.rc == 0, run.explain()
    assert {e["task"]: e["status"] for e in run.results} == {
        "preview": "changed", "converge": "changed", "again": "ok", "render": "ok",
        "invalid spec": "ignored", "invalid spec in check mode": "ignored"}, run.explain()
    assert len(invocations(syslog, "adc_gateway")) == 6, syslog  # the capture saw every run
    assert "+ rewriteaction llm.chat.cred  (missing)" in run.stdout  # --diff printed the plan
    assert_nowhere(run, syslog, [NITRO_PASS, BACKEND_TOKEN, CLIENT_SECRET, KEY_PASSPHRASE])

    # The spec's secrets are no_log options of their own, not values that merely happen to be
    # masked: Ansible shows that they were given, and no more.
    args = run.result("converge")["invocation"]["module_args"]
    assert args["nitro_pass"] == NO_LOG
    assert args["spec"]["pools"][0]["backend_token"] == NO_LOG
    assert args["spec"]["auth"]["oidc"]["client_secret"] == NO_LOG
    assert args["spec"]["frontend"]["tls"]["key_passphrase"] == NO_LOG


def test_key_text_in_key_file_is_never_echoed(lab_nsip, tmp_path):
    pem = pasted_key()
    cert = tmp_path / "llm.crt"
    cert.write_bytes(LabCA().issue("llm.lab.test").cert_pem)
    spec = copy.deepcopy(SPEC)
    spec["frontend"]["tls"] = {"cert_file": str(cert), "key_file": pem}
    # Key text with a line longer than a file name may be: checking it as a path raises
    # OSError (ENAMETOOLONG) rather than saying "not a file"; the module still echoes none of it.
    long_line = ("-----BEGIN PRIVATE KEY-----\n" + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 10
                 + "\n-----END PRIVATE KEY-----\n")
    long_spec = copy.deepcopy(spec)
    long_spec["frontend"]["tls"]["key_file"] = long_line
    project = AnsibleProject(tmp_path / "ansible", nsip=lab_nsip, password=NITRO_PASS)
    playbook = project.write_playbook("pasted.yml", [
        task("pasted key", "adc_gateway", spec="{{ spec }}", ignore_errors=True),
        task("pasted key in check mode", "adc_gateway", spec="{{ spec }}", ignore_errors=True,
             check_mode=True),
        task("pasted key, rendered", "adc_gateway", spec="{{ spec }}", state="rendered",
             ignore_errors=True),
        task("pasted key, a long line", "adc_gateway", spec="{{ long_spec }}", ignore_errors=True),
    ])
    run, syslog = run_captured(project, playbook, {"spec": spec, "long_spec": long_spec})
    assert run.rc == 0, run.explain()
    for name in ("pasted key", "pasted key in check mode", "pasted key, rendered"):
        failure = run.result(name)
        assert failure["_status"] == "ignored", run.explain()
        assert "invalid gateway spec" in failure["msg"]
        assert [p["path"] for p in failure["problems"]] == ["spec.frontend.tls.key_file"], failure["problems"]
    assert run.result("pasted key, a long line")["_status"] == "ignored", run.explain()
    assert len(invocations(syslog, "adc_gateway")) == 4, syslog
    assert_nowhere(run, syslog, [NITRO_PASS, BACKEND_TOKEN, CLIENT_SECRET, *key_fragments(pem),
                                 *key_fragments(long_line)])


def test_adc_resource_secret_attribute_stays_out_of_syslog_output_and_results(lab_nsip, tmp_path):
    action = {"name": "idp", "tokenendpoint": "http://127.0.0.1:5556/token", "clientid": "adcml",
              "clientsecret": "{{ oauth_secret }}"}
    # A changed clientid makes the update (the appliance never returns a secret to compare).
    renewed = {**action, "clientid": "adcml-2", "clientsecret": "{{ new_oauth_secret }}"}
    project = AnsibleProject(tmp_path / "ansible", nsip=lab_nsip, password=NITRO_PASS)
    playbook = project.write_playbook("resource.yml", [
        task("aaa", "adc_resource", resource="nsfeature", attributes={"feature": ["AAA"]}),
        task("create", "adc_resource", resource="authenticationoauthaction", attributes=action),
        task("new secret in check mode", "adc_resource", resource="authenticationoauthaction",
             attributes=renewed, check_mode=True),
        task("new secret", "adc_resource", resource="authenticationoauthaction", attributes=renewed),
        task("invalid", "adc_resource", resource="authenticationoauthaction",
             attributes={**action, "skewtime": -1}, ignore_errors=True),
        task("secret of another resource", "adc_resource", resource="lbvserver",
             attributes={"name": "web", "servicetype": "HTTP", "password": "{{ oauth_secret }}"},
             ignore_errors=True),
    ])
    run, syslog = run_captured(project, playbook, {"oauth_secret": OAUTH_SECRET,
                                                   "new_oauth_secret": NEW_OAUTH_SECRET})
    assert run.rc == 0, run.explain()
    assert {e["task"]: e["status"] for e in run.results} == {
        "aaa": "changed", "create": "changed", "new secret in check mode": "changed",
        "new secret": "changed", "invalid": "ignored", "secret of another resource": "ignored",
    }, run.explain()
    assert len(invocations(syslog, "adc_resource")) == 6, syslog
    assert "clientsecret: '*** (sha256:" in run.stdout  # --diff shows that it changes, not to what
    assert_nowhere(run, syslog, [NITRO_PASS, OAUTH_SECRET, NEW_OAUTH_SECRET])


def test_every_module_hides_nitro_pass_and_pasted_key_text(lab_nsip, tmp_path):
    """nitro_pass, and key text pasted where a name or address belongs, in each module."""
    pem = pasted_key()
    project = AnsibleProject(tmp_path / "ansible", nsip=lab_nsip, password=NITRO_PASS)
    playbook = project.write_playbook("every.yml", [
        task("facts", "adc_facts", gather=["lbvserver", "{{ pem }}"], ignore_errors=True),
        task("save", "adc_save_config", nsip="{{ pem }}", ignore_errors=True),
        task("member", "adc_servicegroup_member", servicegroup="{{ pem }}", servername="10.0.0.1",
             port=80, state="disabled", ignore_errors=True),
        task("resource", "adc_resource", resource="lbvserver", ignore_errors=True,
             attributes={"name": "web", "servicetype": "HTTP", "comment": "{{ pem }}"}),
        task("gateway", "adc_gateway", spec={"name": "llm", "frontend": "{{ pem }}"},
             ignore_errors=True),
        task("save, wrong password", "adc_save_config", nitro_pass="{{ wrong_pass }}",
             ignore_errors=True),
        task("facts, check mode", "adc_facts", check_mode=True),
    ])
    run, syslog = run_captured(project, playbook, {"pem": pem, "wrong_pass": NITRO_PASS[::-1]})
    assert run.rc == 0, run.explain()
    for module in ("adc_facts", "adc_save_config", "adc_servicegroup_member", "adc_resource"):
        assert invocations(syslog, module), (module, syslog)
    # Options that Ansible's checks refuse are never logged; the spec's check names the field.
    assert [p["path"] for p in run.result("gateway")["problems"]] == ["spec.frontend", "spec.pools"]
    assert run.result("facts, check mode")["_status"] == "ok", run.explain()
    assert run.result("save, wrong password")["errorcode"] == 354
    assert_nowhere(run, syslog, [NITRO_PASS, NITRO_PASS[::-1], *key_fragments(pem)])


def test_without_adcml_the_modules_fail_with_a_hint_and_echo_nothing(lab_nsip, tmp_path):
    """On an interpreter without adcml there is no table of secrets to mask by: nothing of the
    options is logged or returned."""
    project = AnsibleProject(tmp_path / "ansible", nsip=lab_nsip, password=NITRO_PASS)
    playbook = project.write_playbook("no_adcml.yml", [
        {**task("resource", "adc_resource", resource="authenticationoauthaction", ignore_errors=True,
                attributes={"name": "idp", "clientsecret": "{{ oauth_secret }}"}),
         "vars": {"ansible_python_interpreter": _python_without_adcml()}},
    ])
    run, syslog = run_captured(project, playbook, {"oauth_secret": OAUTH_SECRET})
    assert run.rc == 0, run.explain()
    failure = run.result("resource")
    assert "adcml" in failure["msg"] and "ansible_playbook_python" in failure["msg"], failure
    assert_nowhere(run, syslog, [NITRO_PASS, OAUTH_SECRET])
    assert HOST in run.recap


def _python_without_adcml() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists() and Path(candidate).resolve() != Path(sys.executable).resolve():
            return candidate
    pytest.skip("no Python without adcml on this machine")
