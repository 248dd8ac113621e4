"""TLS termination by the lab's data plane: the bound certificate, SNI, the SSL profile's
versions and session timeout, and a certificate rotated in place while a request is in flight."""

from __future__ import annotations

import ssl
import threading

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, free_port, handshake, wait_until  # noqa: F401

from adcml.gateway import State, converge, load_spec
from adcml.lab.services.pki import LabCA

VIP = "127.0.0.12"
NAME = "gw.lab.test"


@pytest.fixture(scope="module")
def ca() -> LabCA:
    return LabCA()


def https_spec(tmp_path, ca: LabCA, port: int, backend, *, passphrase: str | None = "pw", **profile):
    issued = ca.issue(NAME, sans=(NAME, VIP), passphrase=passphrase)
    (tmp_path / "gw.crt").write_bytes(issued.cert_pem)
    (tmp_path / "gw.key").write_bytes(issued.key_pem)
    tls = {"cert_file": str(tmp_path / "gw.crt"), "key_file": str(tmp_path / "gw.key")}
    if passphrase:
        tls["key_passphrase"] = passphrase
    return load_spec({
        "name": "gw",
        "frontend": {"vip": VIP, "port": port, "protocol": "https", "tls": tls,
                     "ssl_profile": profile},
        "pools": [{"name": "p", "members": [backend.member]}], "default_pool": "p",
    }), issued


def client(ca: LabCA) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cadata=ca.cert_pem.decode()), timeout=10)


def test_tls_with_the_bound_encrypted_key_and_the_profile(dplab, backends, tmp_path, ca):
    backend = backends.start("m", "127.0.4.1")
    port = free_port(VIP)
    spec, issued = https_spec(tmp_path, ca, port, backend, session_timeout=77)
    with dplab.client() as c:
        converge(c, spec)
        dplab.settle()
        with client(ca) as http:
            response = http.get(f"https://{VIP}:{port}/v1/x")
        assert response.status_code == 200 and response.json()["name"] == "m"
        shake = handshake(VIP, port, ca.cert_pem, NAME)
        assert shake.serial == issued.certificate.serial_number
        assert shake.version == "TLSv1.3" and shake.ticket_lifetime == 77  # sesstimeout
        # The gateway's profile allows TLS 1.2 and 1.3 only: a TLS 1.1 client is refused ...
        with pytest.raises(ssl.SSLError):
            handshake(VIP, port, ca.cert_pem, NAME, max_version=ssl.TLSVersion.TLSv1_1)
        assert handshake(VIP, port, ca.cert_pem, NAME,
                         max_version=ssl.TLSVersion.TLSv1_2).version == "TLSv1.2"
        # ... until the profile enables it (applied to new handshakes, no restart).
        c.update("sslprofile", {"name": "gw.tls", "tls11": "ENABLED"})
        dplab.settle()
        assert handshake(VIP, port, ca.cert_pem, NAME,
                         max_version=ssl.TLSVersion.TLSv1_1).version == "TLSv1.1"


def test_sni_picks_the_certificate_of_the_name(dplab, backends, tmp_path, ca):
    backend = backends.start("m", "127.0.4.2")
    port = free_port(VIP)
    spec, issued = https_spec(tmp_path, ca, port, backend, passphrase=None)
    with dplab.client() as c:
        converge(c, spec)
        for label in ("alpha", "beta"):
            extra = ca.issue(f"{label}.lab.test", sans=(f"{label}.lab.test", f"*.{label}.lab.test"))
            c.upload_file(f"{label}.crt", extra.cert_pem)
            c.upload_file(f"{label}.key", extra.key_pem)
            c.add("sslcertkey", {"certkey": label, "cert": f"{label}.crt", "key": f"{label}.key"})
            c.bind("sslvserver_sslcertkey_binding",
                   {"vservername": "gw.cs", "certkeyname": label, "snicert": True})
        dplab.settle()
        # SNI certificates are used once SNI is enabled on the profile.
        assert handshake(VIP, port, ca.cert_pem, "alpha.lab.test").common_name == NAME
        c.update("sslprofile", {"name": "gw.tls", "snienable": "ENABLED"})
        dplab.settle()
    assert handshake(VIP, port, ca.cert_pem, "alpha.lab.test").common_name == "alpha.lab.test"
    assert handshake(VIP, port, ca.cert_pem, "x.beta.lab.test").common_name == "beta.lab.test"
    assert handshake(VIP, port, ca.cert_pem, "other.test").common_name == NAME
    assert handshake(VIP, port, ca.cert_pem, None).common_name == NAME
    with client(ca) as http:  # and HTTP over the SNI certificate works
        response = http.get(f"https://{VIP}:{port}/x", extensions={"sni_hostname": "beta.lab.test"})
    assert response.status_code == 200


def test_rotation_serves_new_handshakes_while_a_request_is_in_flight(dplab, backends, tmp_path, ca):
    backend = backends.start("m", "127.0.4.3")
    port = free_port(VIP)
    spec, old = https_spec(tmp_path, ca, port, backend)
    base = f"https://{VIP}:{port}"
    with dplab.client() as c:
        converge(c, spec)
        dplab.settle()
        results: list[httpx.Response] = []
        with client(ca) as inflight:
            assert inflight.get(f"{base}/warm").status_code == 200  # an open connection
            worker = threading.Thread(target=lambda: results.append(
                inflight.get(f"{base}/slow?ms=1200")))
            worker.start()
            wait_until(lambda: backend.hits >= 2 or any(m["active"] for m in dplab.status()["members"]))
            rotated, new = https_spec(tmp_path, ca, port, backend)  # new key, new certificate
            outcome = converge(c, rotated, State.OVERRIDDEN)
            assert ("update", "sslcertkey") in {(ch.action, ch.resource) for ch in outcome.plan.changes}
            dplab.settle()
            assert handshake(VIP, port, ca.cert_pem, NAME).serial == new.certificate.serial_number
            worker.join()
            assert results[0].status_code == 200 and results[0].json()["path"] == "/slow"
            # The old connection still works (its TLS session was never torn down) ...
            assert inflight.get(f"{base}/after").status_code == 200
        # ... and a new client sees only the new certificate.
        with client(ca) as fresh:
            assert fresh.get(f"{base}/x").status_code == 200
        assert old.certificate.serial_number != new.certificate.serial_number
