"""No secret leaves NitroClient in clear: a full session against the lab ADC, logged at DEBUG,
with private keys uploaded, a passphrase sent, errors raised and secrets echoed back by the
appliance, leaves no password, key material, passphrase or session token in any log record,
exception message or repr."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer
from adcml.lab.services.pki import LabCA
from adcml.nitro import (
    AuthenticationFailed,
    InvalidArgument,
    NitroAPIError,
    NitroClient,
    NitroError,
    NitroTransportError,
)

PASSWORD = "Adm1n-Pa55word-Xy"
PASSPLAIN = "K3y-Pa55phrase-Qz"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[LabServer]:
    """A lab ADC whose nsroot password is PASSWORD (unlike the shared fixture's "nsroot",
    which is also the user name and so appears in clear legitimately)."""
    server = LabServer(LabADC(tmp_path / "lab", password=PASSWORD), "127.0.0.1:0").start()
    yield server
    server.stop()


def control(lab: LabServer, path: str, json: dict | None = None) -> None:
    httpx.post(f"{lab.url}/lab/{path}", json=json, timeout=10).raise_for_status()


def fault(lab: LabServer, **rule) -> None:
    control(lab, "faults", rule)


def key_fragments(pem: bytes) -> set[str]:
    """Pieces of a private key that must never show: PEM body lines and base64 runs."""
    lines = [ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----")]
    encoded = base64.b64encode(pem).decode()
    # Skip the base64 of the "-----BEGIN ... KEY-----" header, shared with every PEM file.
    runs = {encoded[i:i + 24] for i in range(48, len(encoded) - 48, 12)}
    return set(lines) | runs


def test_full_session_leaks_no_secret(lab, caplog):
    ca = LabCA()
    plain = ca.issue("plain.example.test")
    encrypted = ca.issue("enc.example.test", passphrase=PASSPLAIN)
    errors: list[BaseException] = []
    tokens: set[str] = set()

    caplog.set_level(logging.DEBUG)
    nsip = lab.url.removeprefix("http://")
    with NitroClient(nsip=nsip, username="nsroot", password=PASSWORD, protocol="http",
                     backoff=0.001) as adc:
        adc.enable_features(["SSL"])
        tokens |= set(lab.lab.sessions)
        adc.upload_file("plain.crt", plain.cert_pem)
        adc.upload_file("plain.key", plain.key_pem)
        adc.add("sslcertkey", {"certkey": "plain", "cert": "plain.crt", "key": "plain.key"})
        adc.upload_file("enc.crt", encrypted.cert_pem)
        adc.upload_file("enc.key", encrypted.key_pem)
        adc.add("sslcertkey", {"certkey": "enc", "cert": "enc.crt", "key": "enc.key",
                               "passplain": PASSPLAIN})
        assert adc.get_file("plain.key", "/nsconfig/ssl/") == plain.key_pem

        # The appliance refuses a wrong passphrase ...
        with pytest.raises(InvalidArgument) as info:
            adc.add("sslcertkey", {"certkey": "enc2", "cert": "enc.crt", "key": "enc.key",
                                   "passplain": PASSPLAIN + "-wrong"})
        errors.append(info.value)
        # ... and some appliances echo the offending value, with or without its name.
        fault(lab, method="POST", resource="sslcertkey", kind="error", status=599,
              errorcode=1097, message=f"Invalid argument value [passplain, {PASSPLAIN}]")
        fault(lab, method="POST", resource="systemfile", kind="error", status=599,
              errorcode=278, message=f"bad file {base64.b64encode(plain.key_pem).decode()}")
        fault(lab, method="GET", resource="lbvserver", kind="error", status=599,
              errorcode=257, message=f"user nsroot password {PASSWORD} lacks rights")
        for call in (
            lambda: adc.add("sslcertkey", {"certkey": "e3", "cert": "enc.crt",
                                           "key": "enc.key", "passplain": PASSPLAIN}),
            lambda: adc.upload_file("again.key", plain.key_pem),
            lambda: adc.get("lbvserver"),
        ):
            with pytest.raises(NitroAPIError) as info:
                call()
            errors.append(info.value)

        # Retries, a broken connection and a re-login are logged too.
        fault(lab, method="GET", resource="sslcertkey", kind="error", status=503)
        fault(lab, method="POST", resource="systemfile", kind="drop_after")
        control(lab, "sessions/expire")
        assert adc.get("sslcertkey", "enc")[0]["password"] is True
        tokens |= set(lab.lab.sessions)
        with pytest.raises(NitroTransportError) as info:
            adc.upload_file("late.key", encrypted.key_pem)
        errors.append(info.value)
        shown = [repr(adc), repr(adc.settings), str(adc.settings), *map(str, adc.warnings)]

    with pytest.raises(AuthenticationFailed) as info:
        NitroClient(nsip=nsip, username="nsroot", password=PASSWORD + "!", protocol="http",
                    auth_mode="header").get("lbvserver")
    errors.append(info.value)

    assert len(tokens) == 2
    forbidden = {PASSWORD, PASSPLAIN, *tokens}
    forbidden |= key_fragments(plain.key_pem) | key_fragments(encrypted.key_pem)

    texts = list(shown)
    for record in caplog.records:
        texts += [record.getMessage(), repr(record.args), record.exc_text or ""]
    for err in errors:
        assert isinstance(err, NitroError)
        texts += [str(err), repr(err), repr(err.args), repr(vars(err))]
    leaks = {secret for secret in forbidden for text in texts if secret in text}
    assert leaks == set()

    # The session was really logged: bodies, replies, retries and the re-login.
    messages = "\n".join(r.getMessage() for r in caplog.records if r.name == "adcml.nitro")
    assert '"filecontent":"***"' in messages
    assert '"passplain":"***"' in messages
    assert '"password":"***"' in messages
    assert "NITRO_AUTH_TOKEN=***" in messages
    assert "retrying GET" in messages
    assert "logging in again" in messages
    assert "[passplain, ***]" in str(errors[1])
