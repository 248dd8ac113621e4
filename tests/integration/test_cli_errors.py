"""The `adcml` command run as a user runs it (a process of the installed console script) against a
lab ADC and a broken environment: every user or environment error is one message naming the
problem and the fix, exit 1, no traceback and no secret; -vv adds the traceback."""

from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

ADCML = Path(sys.executable).with_name("adcml")
WRONG_PASSWORD = "Wr0ng-but-secret-4711"
# Private-key text a user pasted where the spec wants a path: it must never be echoed.
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj"
PASTED_KEY = f"-----BEGIN PRIVATE KEY-----\n{KEY_BODY}\n-----END PRIVATE KEY-----\n"

SPEC = {
    "name": "cli", "frontend": {"vip": "127.0.0.30", "port": 80, "protocol": "http"},
    "pools": [{"name": "embed", "match": {"path_prefix": "/v1/embeddings"},
               "members": [{"host": "127.0.1.5", "port": 8000}]}],
    "default_pool": "embed",
}


@dataclass
class Ran:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def adcml(*args: str, env: dict[str, str] | None = None) -> Ran:
    """Run the console script with only ``env`` as its NETSCALER_* / ADCML_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NETSCALER_", "ADCML_"))}
    proc = subprocess.run([str(ADCML), *args], env={**clean, **(env or {})}, capture_output=True,
                          text=True, timeout=120)
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def connection(lab_adc, **changes: str) -> dict[str, str]:
    return {"NETSCALER_NSIP": lab_adc.nsip, "NETSCALER_NITRO_USER": "nsroot",
            "NETSCALER_NITRO_PASS": "nsroot", "NETSCALER_NITRO_PROTOCOL": "http", **changes}


def assert_reported(ran: Ran, *fragments: str, hint: str | None = None) -> None:
    """Exit 1, no traceback, one `Error:` message holding ``fragments``, and the hint."""
    assert ran.code == 1, ran.output
    assert "Traceback" not in ran.output, ran.output
    assert [line for line in ran.stderr.splitlines() if line.startswith("Error: ")], ran.output
    assert len([line for line in ran.stderr.splitlines() if line.startswith("Error: ")]) == 1
    for fragment in fragments:
        assert fragment in ran.stderr, ran.output
    if hint is not None:
        assert f"Hint: {hint}" in ran.stderr, ran.output


def write_spec(tmp_path: Path, spec: dict, name: str = "gw.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the spec file ------------------------------------------------------------------------------
def test_yaml_error_names_the_file_and_line(tmp_path):
    spec = tmp_path / "broken.yml"
    spec.write_text("name: cli\n  pools: [\n")
    ran = adcml("gateway", "plan", str(spec))
    assert_reported(ran, "not valid YAML", "broken.yml", "line 2", hint="fix the YAML syntax there")


def test_invalid_spec_names_each_field_and_where_to_read_about_it(tmp_path):
    spec = write_spec(tmp_path, {**SPEC, "pools": [{"name": "x", "members": [{"host": "127.0.1.5"}]}]})
    ran = adcml("gateway", "render", str(spec))
    assert_reported(ran, "pools[0].members[0].port", hint="fix the fields named above; docs/gateway.md")


def test_key_material_pasted_into_a_spec_is_never_echoed(tmp_path):
    (tmp_path / "gw.crt").write_text("a certificate")
    spec = copy.deepcopy(SPEC)
    spec["frontend"] = {"vip": "127.0.0.30", "port": 443, "protocol": "https",
                        "tls": {"cert_file": str(tmp_path / "gw.crt"), "key_file": PASTED_KEY}}
    path = write_spec(tmp_path, spec)
    ran = adcml("gateway", "render", str(path))
    assert_reported(ran, "frontend.tls")
    detailed = adcml("-vv", "gateway", "render", str(path))
    assert "Traceback" in detailed.stderr
    for shown in (ran.output, detailed.output):
        assert KEY_BODY not in shown and "BEGIN PRIVATE KEY" not in shown


def test_a_spec_file_that_is_not_text_says_so(tmp_path):
    spec = tmp_path / "binary.yml"
    spec.write_bytes(b"name: \xff\xfe\n")
    ran = adcml("gateway", "plan", str(spec))
    assert_reported(ran, "binary.yml", "utf-8", hint="check the file's path, that it can be read")


def test_a_path_too_long_for_a_netscaler_expression_is_named_at_its_field(tmp_path):
    spec = copy.deepcopy(SPEC)
    spec["pools"][0]["match"]["path_prefix"] = "/" + "v" * 300  # a rule quotes at most 255 bytes
    ran = adcml("gateway", "render", str(write_spec(tmp_path, spec)))
    assert_reported(ran, "pools[0].match.path_prefix", "255", hint="fix the fields named above")


# --- the connection to the ADC ------------------------------------------------------------------
def test_missing_connection_settings_name_the_variables(tmp_path):
    ran = adcml("gateway", "plan", str(write_spec(tmp_path, SPEC)), env={"NETSCALER_NITRO_PASS": "x"})
    assert_reported(ran, "nsip: missing", hint="set NETSCALER_NSIP;")
    assert "NETSCALER_NITRO_USER" in ran.stderr


def test_wrong_password_names_the_variables_and_is_never_echoed(lab_adc, tmp_path):
    spec = str(write_spec(tmp_path, SPEC))
    env = connection(lab_adc, NETSCALER_NITRO_PASS=WRONG_PASSWORD)
    ran = adcml("gateway", "plan", spec, env=env)
    assert_reported(ran, "refused the login", "[354]",
                    hint="check NETSCALER_NITRO_USER and NETSCALER_NITRO_PASS")
    detailed = adcml("-vv", "gateway", "plan", spec, env=env)  # debug logs of every request, too
    assert detailed.code == 1
    assert "Traceback" in detailed.stderr and "AuthenticationFailed" in detailed.stderr
    assert detailed.stderr.rstrip().endswith("Hint: check NETSCALER_NITRO_USER and NETSCALER_NITRO_PASS")
    for shown in (ran.output, detailed.output):
        assert WRONG_PASSWORD not in shown


def test_unreachable_nsip_says_to_check_the_address(tmp_path, lab_adc):
    env = connection(lab_adc, NETSCALER_NSIP=f"127.0.0.1:{free_port()}")
    ran = adcml("gateway", "plan", str(write_spec(tmp_path, SPEC)), env=env)
    assert_reported(ran, "cannot reach the ADC", "Connection refused", hint="check NETSCALER_NSIP")


def test_503_on_every_request_says_to_wait_and_rerun(lab_adc, tmp_path):
    lab_adc.fault(method="GET", kind="error", status=503, times=1000)
    ran = adcml("gateway", "plan", str(write_spec(tmp_path, SPEC)), env=connection(lab_adc))
    assert_reported(ran, "the ADC is unavailable (HTTP 503 to every retry)", hint="the appliance is busy")


def test_apply_that_stops_part_way_says_what_was_applied_then_a_rerun_completes(lab_adc, tmp_path):
    spec, env = str(write_spec(tmp_path, SPEC)), connection(lab_adc)
    lab_adc.fault(method="WRITE", resource="csvserver_lbvserver_binding", kind="error", status=599,
                  errorcode=278, message="Invalid argument [lbvserver]")
    ran = adcml("gateway", "apply", spec, env=env)
    assert_reported(ran, "apply stopped: bind csvserver_lbvserver_binding failed", "[278]",
                    "applied before it (nothing is rolled back):", "+ csvserver cli.cs",
                    hint="re-run the same apply")

    # The half-built gateway does not make a valid spec: gather says so, and what to do.
    gathered = adcml("gateway", "gather", "cli", env=env)
    assert_reported(gathered, "gateway cli: its live objects do not make a valid spec",
                    "pools[0].match: a pool without match must be the default_pool",
                    hint="an apply that stopped part-way")

    lab_adc.control("DELETE", "faults")
    assert adcml("gateway", "apply", spec, env=env).code == 0
    assert adcml("gateway", "plan", spec, env=env).code == 0


# --- the lab ------------------------------------------------------------------------------------
def test_lab_directory_that_cannot_be_made_names_the_path(tmp_path):
    (tmp_path / "a-file").write_text("")
    state = tmp_path / "a-file" / "adc"
    ran = adcml("lab-adc", "--state-dir", str(state), "--listen", f"127.0.0.1:{free_port()}")
    assert_reported(ran, f"{state}: Not a directory", hint="a part of the path is a file")


def test_lab_adc_on_an_address_in_use_says_so():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ran = adcml("lab-adc", "--listen", f"127.0.0.1:{taken.getsockname()[1]}")
    assert_reported(ran, "address already in use", hint="another process uses that address")


def test_lab_error_is_the_labs_own_message(tmp_path):
    ran = adcml("lab", "up", "--dir", str(tmp_path / "lab"), "--nitro", "nowhere", "--no-model-hosts")
    assert_reported(ran, "nitro 'nowhere': give HOST:PORT with an IPv4 loopback host")


def test_smoke_of_a_lab_that_was_never_up_says_so(tmp_path):
    ran = adcml("lab", "smoke", "--dir", str(tmp_path / "lab"))
    assert_reported(ran, "no CA to verify the gateway with", "pki/ca.pem does not exist", "adcml lab up")


def test_test_hosts_error_names_the_option_and_exits_1(tmp_path):
    ran = adcml("lab-adc", "--data-plane", "--test-hosts", str(tmp_path), "--listen",
                f"127.0.0.1:{free_port()}")
    assert_reported(ran, "--test-hosts", "no test hosts are up in", "adcml lab hosts up")


@pytest.mark.parametrize("command", [["lab", "status"], ["lab", "hosts", "status"]], ids=" ".join)
def test_status_of_a_lab_that_is_not_up_is_a_report_and_exit_1(tmp_path, command):
    ran = adcml(*command, "--dir", str(tmp_path / "empty"))  # reads the directory, probes nothing
    assert ran.code == 1, ran.output
    assert ran.stdout and "Error:" not in ran.output and "Traceback" not in ran.output


# --- usage errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["gateway", "plan", "--no-such-option", "gw.yml"],
    ["gateway", "plan", "missing.yml"],
    ["gateway", "apply"],
    ["no-such-command"],
    ["--no-such-option"],
    ["lab", "status", "--dir"],
    ["serve"],
    ["serve", "--model", "m", "--max-batch-size", "0"],
], ids=["bad option", "missing file", "missing argument", "bad command", "bad root option",
        "option without value", "missing option", "bad option value"])
def test_usage_errors_exit_1_so_that_2_only_means_changes(tmp_path, args):
    ran = adcml(*[str(tmp_path / a) if a.endswith(".yml") else a for a in args])
    assert ran.code == 1, ran.output
    assert "Traceback" not in ran.output
    assert "Error: " in ran.stderr


# --- start-up -----------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["--help"], ["serve", "--model", "m", "--max-batch-size", "0"]],
                         ids=["help", "serve option error"])
def test_torch_is_imported_only_when_serve_runs(args):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "adcml.cli", *args],
                          capture_output=True, text=True, timeout=120)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "adcml.cli" in imported and "torch" not in imported
