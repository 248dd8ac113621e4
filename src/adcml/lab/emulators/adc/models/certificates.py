"""Files and certificates: systemfile uploads (kept in ``files.FileStore``), and sslcertkey
parsed from them."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import posixpath

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, NameOID

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.behaviours import Behaviour
from adcml.lab.emulators.adc.models.files import ssl_path
from adcml.resources import ErrorCode

E = ErrorCode
MAX_FILE = 2 * 1024 * 1024


def location(value: str) -> str:
    """Normalise a filelocation to an absolute directory path ending in '/'."""
    if not value.startswith("/") or ".." in value.split("/"):
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"filelocation, {value}: must be an absolute path")
    return posixpath.normpath(value).rstrip("/") + "/"


class SystemFile(Behaviour):
    """systemfile: identified by filename *and* filelocation; no update; on disk at once."""

    exists_code = E.FILE_ALREADY_EXISTS

    def lookup(self, store, part, res, name, hints):
        loc = hints.get("filelocation")
        if loc is None:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "filelocation")
        path = location(loc) + name
        data = store.files.read(path)
        return None if data is None else self._row(path, data)

    def list_objects(self, store, part, res, args):
        loc = args.get("filelocation")
        if loc is None:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "filelocation")
        prefix = location(loc)
        for path, data in sorted(store.files.files.items()):
            if posixpath.dirname(path) + "/" == prefix:
                yield self._row(path, data)

    @staticmethod
    def _row(path: str, data: bytes) -> dict:
        return {
            "filename": posixpath.basename(path),
            "filelocation": posixpath.dirname(path),
            "filecontent": base64.b64encode(data).decode(),
            "fileencoding": "BASE64",
            "_size": len(data),
        }

    def prepare_add(self, store, part, res, obj):
        if "/" in obj["filename"]:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"filename, {obj['filename']}: no '/' allowed")
        obj["filelocation"] = location(obj["filelocation"])
        try:
            data = base64.b64decode(obj["filecontent"], validate=True)
        except (binascii.Error, ValueError):
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, "filecontent, not valid base64") from None
        if len(data) > MAX_FILE:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"filecontent, larger than {MAX_FILE} bytes")
        obj["_data"] = data

    def insert(self, store, part, res, obj):
        store.files.write(obj["filelocation"] + obj["filename"], obj["_data"])

    def check_delete(self, store, part, res, row, args):
        """Nothing to check: ``lookup`` found the file by its (normalised) filelocation."""

    def remove(self, store, part, res, row):
        store.files.delete(row["filelocation"] + "/" + row["filename"])

    def computed(self, store, part, res, row):
        return {"filesize": str(row["_size"])}


def _name_text(name: x509.Name) -> str:
    return ", ".join(attr.rfc4514_string() for attr in name)


def _names(cert: x509.Certificate) -> set[str]:
    names = {a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)}
    try:
        san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
        names |= set(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        pass
    return {str(n).lower() for n in names}


class CertKey(Behaviour):
    """sslcertkey: the certificate and key are read from uploaded files and must match. The
    passphrase of an encrypted key (``passplain``) is never stored in the config: the store
    keeps it in memory (``passphrases``) for the data plane, which must load the key."""

    def prepare_add(self, store, part, res, obj):
        obj["_info"] = self._load(store, obj)

    def insert(self, store, part, res, obj):
        _remember(store, part, obj["certkey"], obj.pop("passplain", None))
        super().insert(store, part, res, obj)

    @staticmethod
    def _load(store, obj: dict) -> dict:
        cert_path = ssl_path(obj["cert"])
        pem = store.files.read(cert_path)
        if pem is None:
            raise NitroFault(E.INPUT_FILE_NOT_PRESENT, f"cert, {obj['cert']}")
        try:
            if obj.get("inform", "PEM") == "DER":
                cert = x509.load_der_x509_certificate(pem)
            else:
                cert = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"cert, {obj['cert']}: not a certificate") from None
        if obj.get("key"):
            key_data = store.files.read(ssl_path(obj["key"]))
            if key_data is None:
                raise NitroFault(E.INPUT_FILE_NOT_PRESENT, f"key, {obj['key']}")
            secret = obj.get("passplain")
            password = secret.encode() if secret else None
            try:
                if obj.get("inform", "PEM") == "DER":
                    key = serialization.load_der_private_key(key_data, password)
                else:
                    key = serialization.load_pem_private_key(key_data, password)
            except (ValueError, TypeError):
                raise NitroFault(
                    E.INVALID_ARGUMENT_VALUE,
                    f"key, {obj['key']}: not a private key, or the passphrase is wrong",
                ) from None
            spki = serialization.PublicFormat.SubjectPublicKeyInfo
            if key.public_key().public_bytes(serialization.Encoding.DER, spki) != (
                cert.public_key().public_bytes(serialization.Encoding.DER, spki)
            ):
                raise NitroFault(E.CERT_KEY_MISMATCH, f"certkey, {obj['certkey']}")
            obj["password"] = password is not None
        public = cert.public_key()
        return {
            "serial": format(cert.serial_number, "X"),
            "subject": _name_text(cert.subject),
            "issuer": _name_text(cert.issuer),
            "notbefore": cert.not_valid_before_utc.timestamp(),
            "notafter": cert.not_valid_after_utc.timestamp(),
            "signaturealg": cert.signature_algorithm_oid._name,
            "publickey": cert.public_key_algorithm_oid._name,  # OpenSSL's name: rsaEncryption
            "publickeysize": getattr(public, "key_size", 0),
            "version": cert.version.value + 1,
            "names": sorted(_names(cert)),
            "ca": _is_ca(cert),
        }

    def computed(self, store, part, res, row):
        info = row["_info"]
        now = dt.datetime.now(dt.UTC).timestamp()
        days = int((info["notafter"] - now) // 86400)
        if now < info["notbefore"]:
            status = "Not yet valid"
        elif now > info["notafter"]:
            status = "Expired"
        else:
            status = "Valid"
        return {
            "serial": info["serial"],
            "subject": info["subject"],
            "issuer": info["issuer"],
            "clientcertnotbefore": _stamp(info["notbefore"]),
            "clientcertnotafter": _stamp(info["notafter"]),
            "daystoexpiration": max(days, 0),
            "status": status,
            "signaturealg": info["signaturealg"],
            "publickey": info["publickey"],
            "publickeysize": info["publickeysize"],
            "version": info["version"],
            "certificatetype": ["ROOT_CERT" if info["ca"] else "SRVR_CERT"],
            "sandns": ", ".join(info["names"]),
        }

    def update_files(self, store, part, res, body: dict) -> None:
        """``action=update``: swap certificate and key in place; bindings stay."""
        row = part.table(res.name).get((body["certkey"],))
        if row is None:
            raise NitroFault(res.missing, f"certkey, {body['certkey']}", status=404)
        candidate = {**row, **body}
        if "cert" not in body:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "cert")
        info = self._load(store, candidate)
        old = set(row["_info"]["names"])
        if old and not old & set(info["names"]) and not body.get("nodomaincheck"):
            raise NitroFault(E.CERT_DOMAIN_MISMATCH, f"certkey, {row['certkey']}")
        for key in ("cert", "key", "inform"):
            if key in candidate:
                row[key] = candidate[key]
        row["password"] = candidate.get("password", False)
        row["_info"] = info
        _remember(store, part, row["certkey"], body.get("passplain"))

    def link(self, store, part, res, body: dict) -> None:
        row = part.table(res.name).get((body["certkey"],))
        if row is None:
            raise NitroFault(res.missing, f"certkey, {body['certkey']}", status=404)
        if body.get("linkcertkeyname") is None:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "linkcertkeyname")
        target = part.table(res.name).get((body["linkcertkeyname"],))
        if target is None:
            raise NitroFault(res.missing, f"linkcertkeyname, {body['linkcertkeyname']}")
        if row.get("linkcertkeyname"):
            raise NitroFault(E.ALREADY_EXISTS, f"linkcertkeyname, {row['linkcertkeyname']}")
        if row["_info"]["issuer"] != target["_info"]["subject"]:
            raise NitroFault(
                E.INVALID_ARGUMENT_VALUE,
                f"linkcertkeyname, {target['certkey']}: it did not issue {row['certkey']}",
            )
        row["linkcertkeyname"] = target["certkey"]

    def unlink(self, store, part, res, body: dict) -> None:
        row = part.table(res.name).get((body["certkey"],))
        if row is None:
            raise NitroFault(res.missing, f"certkey, {body['certkey']}", status=404)
        if not row.get("linkcertkeyname"):
            raise NitroFault(E.INVALID_ARGUMENT, f"certkey, {row['certkey']}: not linked")
        row.pop("linkcertkeyname")

    def remove(self, store, part, res, row):
        super().remove(store, part, res, row)
        _remember(store, part, row["certkey"], None)
        if row.get("deletecertkeyfilesonremoval") == "YES":
            for key in ("cert", "key"):
                if row.get(key):
                    store.files.delete(ssl_path(row[key]))


def _remember(store, part, certkey: str, passphrase: str | None) -> None:
    key = (part.name, certkey)
    if passphrase:
        store.passphrases[key] = passphrase
    else:
        store.passphrases.pop(key, None)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _stamp(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%b %d %H:%M:%S %Y GMT")
