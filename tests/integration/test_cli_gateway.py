"""`adcml gateway ...` against a lab ADC: plan exit codes, apply, gather, render, bad specs."""

from __future__ import annotations

import json

import yaml
from click.testing import CliRunner

from adcml.cli import main

SPEC = {
    "name": "cli", "frontend": {"vip": "127.0.0.30", "port": 80, "protocol": "http"},
    "pools": [{"name": "embed", "match": {"path_prefix": "/v1/embeddings"},
               "members": [{"host": "127.0.1.5", "port": 8000}]}],
    "default_pool": "embed",
}


def run(lab_adc, *args):
    env = {"NETSCALER_NSIP": lab_adc.nsip, "NETSCALER_NITRO_USER": "nsroot",
           "NETSCALER_NITRO_PASS": "nsroot", "NETSCALER_NITRO_PROTOCOL": "http"}
    return CliRunner().invoke(main, list(args), env=env)


def test_plan_apply_gather_render(lab_adc, tmp_path):
    spec = tmp_path / "gw.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    planned = run(lab_adc, "gateway", "plan", str(spec))
    assert planned.exit_code == 2 and "+ csvserver cli.cs" in planned.output
    applied = run(lab_adc, "gateway", "apply", str(spec), "--save")
    assert applied.exit_code == 0, applied.output
    assert run(lab_adc, "gateway", "plan", str(spec)).exit_code == 0
    gathered = run(lab_adc, "gateway", "gather", "cli")
    assert yaml.safe_load(gathered.output)["pools"][0]["members"] == [
        {"host": "127.0.1.5", "port": 8000, "weight": 1}]
    rendered = json.loads(run(lab_adc, "gateway", "render", str(spec)).output)
    assert {"resource": "csvserver", "attributes": {
        "name": "cli.cs", "servicetype": "HTTP", "ipv46": "127.0.0.30", "port": 80,
        "clttimeout": 180, "comment": "adcml:cli"}} in rendered


def test_bad_spec_names_the_field_and_writes_nothing(lab_adc, tmp_path):
    spec = tmp_path / "bad.yml"
    spec.write_text(yaml.safe_dump({**SPEC, "pools": [{"name": "x", "members": [{"host": "127.0.1.5"}]}]}))
    lab_adc.reset_counters()
    result = run(lab_adc, "gateway", "apply", str(spec))
    assert result.exit_code == 1
    assert "pools[0].members[0].port" in result.output
    assert lab_adc.counters()["total"] == 0


def test_plan_exit_codes_are_those_of_terraform_plan_detailed_exitcode(lab_adc, tmp_path):
    """0 no changes, 2 changes pending, 1 an error — a usage error included, so that a script
    can take 2 to mean "apply"."""
    spec = tmp_path / "gw.yml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert run(lab_adc, "gateway", "plan", str(spec)).exit_code == 2
    assert run(lab_adc, "gateway", "apply", str(spec)).exit_code == 0
    assert run(lab_adc, "gateway", "plan", str(spec)).exit_code == 0
    lab_adc.fault(method="GET", kind="error", status=500, errorcode=0, message="broken", times=1000)
    failed = run(lab_adc, "gateway", "plan", str(spec))
    assert failed.exit_code == 1 and "the ADC refused a request" in failed.output
    assert run(lab_adc, "gateway", "plan", "--no-such-option", str(spec)).exit_code == 1
    assert run(lab_adc, "gateway", "plan", str(tmp_path / "missing.yml")).exit_code == 1
