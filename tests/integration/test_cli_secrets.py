"""Tried as an attacker would: a gateway spec holding every kind of secret goes through every
command of the CLI, at debug verbosity, against a lab ADC — plan, plan --json, apply (with its
progress), render, gather, a failed apply and invalid specs — and no secret appears in any
output. Only the NITRO objects where the appliance itself keeps them hold them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from adcml.lab.services.pki import LabCA

ADCML = Path(sys.executable).with_name("adcml")
TOKEN = "hf_Backend" + "T0k3n" * 60  # long: spans several string literals on the ADC
CLIENT_SECRET = "Oidc-Client-S3cret-8812"
PASSPHRASE = "Key-Passphrase-5531"
NITRO_PASS = "nsroot"


def run(lab_adc, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NETSCALER_", "ADCML_"))}
    env |= {"NETSCALER_NSIP": lab_adc.nsip, "NETSCALER_NITRO_USER": "nsroot",
            "NETSCALER_NITRO_PASS": NITRO_PASS, "NETSCALER_NITRO_PROTOCOL": "http"}
    return subprocess.run([str(ADCML), "-vv", *args], env=env, capture_output=True, text=True, timeout=120)


def secret_spec(tmp_path: Path) -> dict:
    issued = LabCA().issue("sec.lab.test", sans=("sec.lab.test",), passphrase=PASSPHRASE)
    (tmp_path / "sec.crt").write_bytes(issued.cert_pem)
    (tmp_path / "sec.key").write_bytes(issued.key_pem)
    return {
        "name": "sec",
        "frontend": {"vip": "127.0.0.31", "port": 8443, "protocol": "https",
                     "tls": {"cert_file": str(tmp_path / "sec.crt"), "key_file": str(tmp_path / "sec.key"),
                             "key_passphrase": PASSPHRASE}},
        "pools": [{"name": "chat", "match": {"path_prefix": "/v1/chat"}, "require_groups": ["ml"],
                   "members": [{"host": "127.0.1.9", "port": 9001}], "backend_token": TOKEN}],
        "auth": {"oidc": {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
                          "token_endpoint": "http://127.0.0.1:5556/token", "audience": "lab",
                          "client_secret": CLIENT_SECRET}},
    }


def assert_no_secret(text: str, key_pem: bytes) -> None:
    for secret in (TOKEN, TOKEN[:40], TOKEN[-40:], CLIENT_SECRET, PASSPHRASE):
        assert secret not in text
    body = [line for line in key_pem.decode().splitlines() if line and not line.startswith("-----")]
    assert not any(line in text for line in body), "the private key leaked"
    assert "PRIVATE KEY" not in text


def test_no_command_shows_a_secret(lab_adc, tmp_path):
    data = secret_spec(tmp_path)
    key_pem = (tmp_path / "sec.key").read_bytes()
    spec_file = tmp_path / "sec.yml"
    spec_file.write_text(yaml.safe_dump(data))
    outputs = []
    spec = str(spec_file)
    for args, code in ((("gateway", "plan", spec), 2), (("gateway", "plan", "--json", spec), 2),
                       (("gateway", "render", spec), 0), (("gateway", "apply", spec), 0),
                       (("gateway", "plan", spec), 0), (("gateway", "gather", "sec"), 0)):
        ran = run(lab_adc, *args)
        assert ran.returncode == code, ran.stdout + ran.stderr
        outputs.append(ran.stdout + ran.stderr)
    assert "*** (keep the live value)" in outputs[-1]

    # a changed secret, and an apply that fails part-way (the ADC refuses the credential's write)
    data["pools"][0]["backend_token"] = TOKEN[::-1]
    data["auth"]["oidc"]["client_secret"] = CLIENT_SECRET[::-1]
    spec_file.write_text(yaml.safe_dump(data))
    lab_adc.fault(method="WRITE", resource="rewriteaction", kind="error", status=599, errorcode=278, times=5)
    ran = run(lab_adc, "gateway", "apply", str(spec_file))
    assert ran.returncode == 1
    outputs.append(ran.stdout + ran.stderr)

    # invalid specs whose secrets are what is wrong
    for bad in ({"backend_token": TOKEN + '"'}, {"backend_token": TOKEN + "\x00"}):
        broken = yaml.safe_load(yaml.safe_dump(data))
        broken["pools"][0] |= bad
        spec_file.write_text(yaml.safe_dump(broken))
        ran = run(lab_adc, "gateway", "plan", str(spec_file))
        assert ran.returncode == 1 and "pools[0].backend_token" in ran.stderr
        outputs.append(ran.stdout + ran.stderr)

    for text in outputs:
        assert_no_secret(text.replace(TOKEN[::-1], "").replace(CLIENT_SECRET[::-1], ""), key_pem)
        assert TOKEN[::-1][:40] not in text and CLIENT_SECRET[::-1] not in text

    # the appliance itself holds the token (as NetScaler does: in clear in the rewrite action)
    config = httpx.get(f"{lab_adc.url}/lab/config").json()["partitions"]["default"]
    assert any(TOKEN[10:60] in str(a.get("stringbuilderexpr")) for a in config["rewriteaction"])
