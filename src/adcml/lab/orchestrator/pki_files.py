"""The lab's PKI on disk: the lab CA and the gateway's certificate under ``<dir>/pki``."""

from __future__ import annotations

import datetime as dt
import os

from cryptography import x509

from adcml.lab.orchestrator.layout import Lab, split_address
from adcml.lab.services.pki import LabCA


def _sans(cert_pem: bytes) -> set[str]:
    """The names and addresses a certificate covers; none when it expires within 30 days."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(n) for n in ext.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    days_left = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
    return names if days_left > 30 else set()


def ensure_pki(lab: Lab) -> list[str]:
    """The lab CA and the gateway's certificate under ``<dir>/pki``: made once, kept after that
    (the gateway certificate is reissued only when it does not cover the gateway's name and VIP,
    or expires within 30 days). Keys are 0600. Returns what was made."""
    made = []
    pki = lab.pki_dir
    pki.mkdir(parents=True, exist_ok=True)
    ca_key = pki / "ca.key"
    if lab.ca_file.is_file() and ca_key.is_file():
        ca = LabCA.from_pem(lab.ca_file.read_bytes(), ca_key.read_bytes())
    else:
        ca = LabCA("adcml lab CA")
        fd = os.open(ca_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(ca.key_pem)
        lab.ca_file.write_bytes(ca.cert_pem)
        made.append(f"lab CA {lab.ca_file}")
    cert, key = pki / "gateway.crt", pki / "gateway.key"
    vip = split_address(lab.layout.gateway)[0]
    wanted = {lab.layout.gateway_name, vip}
    if made or not (cert.is_file() and key.is_file()) or not wanted <= _sans(cert.read_bytes()):
        issued = ca.issue(lab.layout.gateway_name, sans=(lab.layout.gateway_name, vip))
        issued.write(cert, key)
        made.append(f"gateway certificate {cert} ({lab.layout.gateway_name}, {vip})")
    return made
