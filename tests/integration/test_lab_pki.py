"""The lab PKI: certificates that verify, keys that match, files written safely, and TLS that
works with them (the lab serves its own TLS with these)."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import stat
from concurrent.futures import ThreadPoolExecutor

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adcml.lab.services.pki import LabCA, self_signed


def test_issued_certificates_verify_against_the_ca(ca):
    issued = ca.issue("api.example.test", sans=("api.example.test", "10.0.0.1", "fd00::1"))
    cert = issued.certificate
    cert.verify_directly_issued_by(ca.certificate)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.1", "fd00::1"]
    assert ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.common_name == "adcml lab CA"


def test_sans_default_to_the_common_name(ca):
    cert = ca.issue("solo.example.test").certificate
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["solo.example.test"]


def test_validity_window(ca):
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    cert = ca.issue("old.example.test", not_before=start, days=10).certificate
    assert cert.not_valid_before_utc == start
    assert cert.not_valid_after_utc == start + dt.timedelta(days=10)
    with pytest.raises(ValueError, match="days"):
        ca.issue("x", days=0)
    with pytest.raises(ValueError, match="timezone"):
        ca.issue("x", not_before=dt.datetime(2020, 1, 1))


@pytest.mark.parametrize("key_type, size", [("rsa", 2048), ("ec", 256)])
def test_key_types_and_encrypted_keys(ca, key_type, size):
    issued = ca.issue("k.example.test", key_type=key_type, passphrase="pw")
    assert issued.key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(issued.key_pem, None)
    key = serialization.load_pem_private_key(issued.key_pem, b"pw")
    assert key.key_size == size
    assert key.public_key().public_numbers() == issued.certificate.public_key().public_numbers()
    with pytest.raises(ValueError):
        ca.issue("x", key_type="dsa")


def test_self_signed_is_its_own_issuer():
    issued = self_signed("self.example.test", key_type="ec")
    cert = issued.certificate
    assert cert.issuer == cert.subject
    cert.verify_directly_issued_by(cert)


def test_a_ca_reloaded_from_pem_keeps_issuing(ca):
    again = LabCA.from_pem(ca.cert_pem, ca.key_pem)
    assert again.cert_pem == ca.cert_pem
    again.issue("later.example.test").certificate.verify_directly_issued_by(ca.certificate)


def test_write_keeps_the_key_private(ca, tmp_path):
    issued = ca.issue("api.example.test")
    cert_path, key_path = tmp_path / "certs" / "api.pem", tmp_path / "keys" / "api.key"
    issued.write(cert_path, key_path)
    assert cert_path.read_bytes() == issued.cert_pem
    assert key_path.read_bytes() == issued.key_pem
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_tls_handshake_with_an_issued_certificate(ca, tmp_path):
    issued = ca.issue("api.example.test", sans=("api.example.test", "127.0.0.1"))
    cert_path, key_path = tmp_path / "api.pem", tmp_path / "api.key"
    issued.write(cert_path, key_path)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert_path, key_path)
    client_ctx = ssl.create_default_context(cadata=ca.cert_pem.decode())
    server_sock, client_sock = socket.socketpair()
    with ThreadPoolExecutor(1) as pool:
        accepted = pool.submit(server_ctx.wrap_socket, server_sock, server_side=True)
        client = client_ctx.wrap_socket(client_sock, server_hostname="api.example.test")
        server = accepted.result(10)
    peer = x509.load_der_x509_certificate(client.getpeercert(binary_form=True))
    assert peer.serial_number == issued.certificate.serial_number
    client.close()
    server.close()
