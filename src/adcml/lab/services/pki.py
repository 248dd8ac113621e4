"""A small PKI for the lab: a CA that issues server certificates, and self-signed ones.

The lab needs real X.509 material: certificates to upload to the lab ADC as ``sslcertkey``
objects (serial, subject, issuer, validity and key match are all checked there), and the
certificate the lab serves its own TLS with.

>>> ca = LabCA()
>>> issued = ca.issue("api.example.test", sans=("api.example.test", "10.0.0.5"))
>>> issued.cert_pem.startswith(b"-----BEGIN CERTIFICATE-----")
True

Everything is PEM bytes; a private key is PKCS#8, encrypted when a passphrase is given.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ORGANIZATION = "adcml lab"
BACKDATE = dt.timedelta(minutes=5)  # tolerate clocks a little behind ours

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


class KeyType(StrEnum):
    """Key algorithms the lab issues: RSA 2048 or ECDSA P-256."""

    RSA = "rsa"
    EC = "ec"


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def write(self, cert_path: Path, key_path: Path) -> None:
        """Write both files; the key is created readable by its owner only."""
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(self.key_pem)
        cert_path.write_bytes(self.cert_pem)


class LabCA:
    """A certificate authority for the lab: a self-signed root that signs server certificates.

    ``LabCA()`` makes a new root; ``LabCA.from_pem`` loads one made earlier (``make lab`` keeps
    its CA in the state directory so that clients can keep trusting it).
    """

    def __init__(self, common_name: str = "adcml lab CA", *, days: int = 3650,
                 key_type: KeyType | str = KeyType.EC):
        key = _new_key(KeyType(key_type))
        name = _name(common_name)
        start = _now() - BACKDATE
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        self._key: PrivateKey = key
        self._cert = cert

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, passphrase: str | None = None) -> LabCA:
        """A CA from its PEM certificate and key (as written by ``Issued.write``)."""
        key = serialization.load_pem_private_key(key_pem, _password(passphrase))
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("a lab CA key is RSA or EC")
        ca = cls.__new__(cls)
        ca._key, ca._cert = key, x509.load_pem_x509_certificate(cert_pem)
        return ca

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _key_pem(self._key, None)

    @property
    def common_name(self) -> str:
        return str(self._cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)

    def issue(self, common_name: str, *, sans: Iterable[str] = (), days: int = 365,
              not_before: dt.datetime | None = None, key_type: KeyType | str = KeyType.RSA,
              passphrase: str | None = None) -> Issued:
        """A server certificate for ``common_name`` signed by this CA.

        ``sans`` are DNS names or IP addresses (the common name alone when empty);
        ``not_before`` defaults to a few minutes ago, and the certificate is valid ``days``
        from then, so a past ``not_before`` with few days gives an expired certificate.
        ``passphrase`` encrypts the returned private key.
        """
        key = _new_key(KeyType(key_type))
        cert = _leaf(common_name, key, sans, days, not_before,
                     issuer=self._cert.subject, signer=self._key, authority=self._key.public_key())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key, passphrase))


def self_signed(common_name: str, *, sans: Iterable[str] = (), days: int = 365,
                not_before: dt.datetime | None = None, key_type: KeyType | str = KeyType.RSA,
                passphrase: str | None = None) -> Issued:
    """A self-signed server certificate (its own issuer); arguments as ``LabCA.issue``."""
    key = _new_key(KeyType(key_type))
    cert = _leaf(common_name, key, sans, days, not_before,
                 issuer=_name(common_name), signer=key, authority=key.public_key())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key, passphrase))


def _leaf(common_name: str, key: PrivateKey, sans: Iterable[str], days: int,
          not_before: dt.datetime | None, *, issuer: x509.Name, signer: PrivateKey,
          authority: PublicKey) -> x509.Certificate:
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    start = not_before or _now() - BACKDATE
    if start.tzinfo is None:
        raise ValueError("not_before must be timezone-aware")
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_general_names(sans or (common_name,))), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(authority), False)
        .sign(signer, hashes.SHA256())
    )


def _general_names(sans: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for san in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            names.append(x509.DNSName(san))
    return names


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _new_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.EC:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _key_pem(key: PrivateKey, passphrase: str | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             encryption)


def _password(passphrase: str | None) -> bytes | None:
    return passphrase.encode() if passphrase else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


__all__ = ["Issued", "KeyType", "LabCA", "self_signed"]
