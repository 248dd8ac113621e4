"""The lab ADC's management certificate: self-signed, for loopback, made once per state dir."""

from __future__ import annotations

from pathlib import Path

from adcml.lab.services.pki import self_signed

CERT_NAME = "ns-server.cert"
KEY_NAME = "ns-server.key"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def management_certificate(directory: Path) -> tuple[Path, Path]:
    """Return (cert, key) paths, generating them on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if not (cert_path.exists() and key_path.exists()):
        self_signed("localhost", sans=LOOPBACK_NAMES, days=825, key_type="ec").write(
            cert_path, key_path)
    return cert_path, key_path
