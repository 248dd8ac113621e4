"""A certificate and its key on the ADC: PEM content uploaded under content-addressed names
(``<certkey>.<digest>.crt`` / ``.key`` in /nsconfig/ssl) and a cert-key ``<certkey>`` over
them. A new certificate gets new files and the cert-key is switched to them in place
(``sslcertkey?action=update``: bindings stay, no request is dropped); the old files go after.

The gateway's frontend uploads its certificate files this way (``upload_certificate``); the
Pulumi program and key rotation converge one certificate on its own (``converge_certificate``),
from PEM text they hold rather than files.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from adcml.engine import Desired, Outcome, State, converge_objects, plan_objects
from adcml.gateway.names import Add
from adcml.nitro import NitroClient
from adcml.secret import Secret

SSL_DIR = "/nsconfig/ssl"  # as an appliance reports it: no trailing slash
RESOURCES = ("systemfile", "sslcertkey")


def upload_certificate(add: Add, certkey: str, cert: bytes, key: bytes, passphrase: str | None,
                       at: str) -> None:
    """Declare the files and the cert-key ``certkey`` for PEM ``cert`` and ``key``; ``at`` is
    the spec field they come from (its ``.cert_file``, ``.key_file``, ``.key_passphrase``)."""
    digest = hashlib.sha256(cert + key).hexdigest()[:10]
    cert_name, key_name = f"{certkey}.{digest}.crt", f"{certkey}.{digest}.key"
    add("systemfile", f"{at}.cert_file", filename=cert_name, filelocation=SSL_DIR,
        filecontent=base64.b64encode(cert).decode(), fileencoding="BASE64")
    add("systemfile", f"{at}.key_file", filename=key_name, filelocation=SSL_DIR,
        filecontent=Secret(base64.b64encode(key).decode()), fileencoding="BASE64")
    add("sslcertkey", {"": at, "passplain": f"{at}.key_passphrase"}, certkey=certkey,
        cert=cert_name, key=key_name, passplain=Secret(passphrase) if passphrase is not None else None)


def certificate_objects(certkey: str, cert: bytes, key: bytes,
                        passphrase: str | None = None) -> list[Desired]:
    """The desired objects of one certificate on its own (fields named as in the Pulumi
    resource: ``certificate``, ``private_key``, ``passphrase``)."""
    out: list[Desired] = []

    def add(resource: str, at: str | dict[str, str], **attrs: Any) -> None:
        fields = at if isinstance(at, dict) else {"": at}
        fields = {k: _FIELDS.get(v, v) for k, v in fields.items()}
        out.append(Desired(resource, {k: v for k, v in attrs.items() if v is not None}, fields))

    upload_certificate(add, certkey, cert, key, passphrase, "tls")
    return out


_FIELDS = {"tls": "certificate", "tls.cert_file": "certificate", "tls.key_file": "private_key",
           "tls.key_passphrase": "passphrase"}


def certificate_owner(certkey: str) -> Callable[[str, dict[str, Any]], bool]:
    """The cert-key ``certkey`` and its content-addressed files; nothing else."""
    files = f"{certkey}."

    def owned(resource: str, row: dict[str, Any]) -> bool:
        if resource == "sslcertkey":
            return row.get("certkey") == certkey
        return resource == "systemfile" and str(row.get("filename", "")).startswith(files)

    return owned


def converge_certificate(client: NitroClient, certkey: str, cert: bytes, key: bytes,
                         passphrase: str | None = None, *, check: bool = False,
                         save: bool = False) -> Outcome:
    """Upload ``cert``/``key`` as ``certkey`` (switched in place when it exists), then remove
    the files of the certificate it replaced."""
    plan = plan_objects(client, certificate_objects(certkey, cert, key, passphrase), State.OVERRIDDEN,
                        certificate_owner(certkey), RESOURCES)
    return converge_objects(client, plan, check=check, save=save)


def delete_certificate(client: NitroClient, certkey: str, *, check: bool = False,
                       save: bool = False) -> Outcome:
    """Remove the cert-key ``certkey`` and its files (NetScaler refuses while it is bound)."""
    plan = plan_objects(client, [], State.DELETED, certificate_owner(certkey), RESOURCES)
    return converge_objects(client, plan, check=check, save=save)


def read_certificate(client: NitroClient, certkey: str) -> dict[str, Any] | None:
    """The cert-key as the ADC reports it (file names, serial, expiry...), or None."""
    found = [row for row in client.get("sslcertkey") if row.get("certkey") == certkey]
    return found[0] if found else None


__all__ = ["RESOURCES", "SSL_DIR", "certificate_objects", "certificate_owner", "converge_certificate",
           "delete_certificate", "read_certificate", "upload_certificate"]
