"""TLS termination for SSL vservers: certificates from the lab's cert-keys, SNI, protocol
versions and session settings from the bound SSL profile (or the sslvserver itself).

One ``TlsTerminator`` per SSL listener owns the listening socket's context. Its SNI callback
(OpenSSL calls it for every ClientHello, with or without a server name) switches each new
connection to the context of the certificate to serve, looked up in maps replaced whole on a
config change: a cert-key updated in place (``sslcertkey?action=update``) is served from the
next handshake on, while established connections keep theirs. Protocol versions and session
settings are set on the listening context in place, so they too apply to new connections only.

Private keys never touch the disk here: PEM goes to ``load_cert_chain`` through an anonymous
in-memory file (``memfd``); where there is none, a temporary file holds the key encrypted with
a one-time password. Passphrases of encrypted keys are never in the config; the store keeps them in
memory (``ConfigStore.passphrases``) for as long as the lab ADC runs.
"""

from __future__ import annotations

import _ssl
import contextlib
import ctypes
import hashlib
import logging
import os
import secrets
import ssl
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from adcml.lab.emulators.adc.models.files import ssl_path
from adcml.lab.emulators.adc.models.partition import value
from adcml.lab.emulators.adc.models.store import ConfigStore

log = logging.getLogger("adcml.lab.dataplane")
VERSIONS = (
    ("tls1", ssl.TLSVersion.TLSv1), ("tls11", ssl.TLSVersion.TLSv1_1),
    ("tls12", ssl.TLSVersion.TLSv1_2), ("tls13", ssl.TLSVersion.TLSv1_3),
)
NO_FLAGS = {"tls1": "OP_NO_TLSv1", "tls11": "OP_NO_TLSv1_1", "tls12": "OP_NO_TLSv1_2",
            "tls13": "OP_NO_TLSv1_3"}
MAX_CHAIN = 5


@dataclass(frozen=True)
class CertMaterial:
    """A cert-key as the data plane serves it: PEM chain (linked issuers included) and key."""

    certkey: str
    chain: bytes
    key: bytes = field(repr=False)
    passphrase: str | None = field(repr=False, default=None)
    names: tuple[str, ...] = ()

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.chain + b"\0" + self.key + b"\0"
                                + (self.passphrase or "").encode())
        return digest.hexdigest()

    def matches(self, server_name: str) -> bool:
        name = server_name.lower().rstrip(".")
        for pattern in self.names:
            if pattern == name:
                return True
            if pattern.startswith("*.") and name.count(".") >= pattern.count(".") and (
                    name.split(".", 1)[1] == pattern[2:]):
                return True
        return False


@dataclass(frozen=True)
class TlsSpec:
    """What an SSL vserver's handshakes look like."""

    versions: tuple[str, ...]  # enabled, among tls1 tls11 tls12 tls13
    sesstimeout: int
    sessreuse: bool
    default: CertMaterial | None
    sni: tuple[CertMaterial, ...] = ()

    @property
    def settings(self) -> tuple:
        return self.versions, self.sesstimeout, self.sessreuse


def tls_spec(store: ConfigStore, part, vserver: str) -> tuple[TlsSpec | None, str | None]:
    """The TLS spec of SSL vserver ``vserver``, or (None, why it cannot be served)."""
    sslvs = part.table("sslvserver").get((vserver,), {})
    source, row = "sslvserver", sslvs
    if sslvs.get("sslprofile"):
        source, row = "sslprofile", part.table("sslprofile").get((sslvs["sslprofile"],), {})
    versions = tuple(k for k, _ in VERSIONS if value(source, row, k) == "ENABLED")
    if not versions:
        return None, "no TLS protocol version is enabled"
    sni_on = value(source, row, "snienable") == "ENABLED"
    default, sni = None, []
    for b in part.table("sslvserver_sslcertkey_binding").values():
        if b["vservername"] != vserver or b.get("ca"):
            continue
        material, problem = _material(store, part, b["certkeyname"])
        if problem:
            return None, problem
        if b.get("snicert"):
            if sni_on:
                sni.append(material)
        elif default is None:
            default = material
    if default is None and not sni:
        return None, "no server certificate bound (an appliance keeps this vserver DOWN)"
    sni.sort(key=lambda m: m.certkey)
    spec = TlsSpec(versions, int(value(source, row, "sesstimeout")),
                   value(source, row, "sessreuse") == "ENABLED", default, tuple(sni))
    return spec, None


def _material(store: ConfigStore, part, certkey: str) -> tuple[CertMaterial | None, str | None]:
    row = part.table("sslcertkey").get((certkey,))
    if row is None:
        return None, f"cert-key {certkey} does not exist"
    if not row.get("key"):
        return None, f"cert-key {certkey} has no private key"
    chain, seen, current = [], set(), row
    while current is not None and len(chain) < MAX_CHAIN and current["certkey"] not in seen:
        seen.add(current["certkey"])
        data = store.files.read(ssl_path(current["cert"]))
        if data is None:
            return None, f"cert-key {current['certkey']}: certificate file {current['cert']} is gone"
        chain.append(pem_certificate(data, current.get("inform", "PEM")))
        link = current.get("linkcertkeyname")
        current = part.table("sslcertkey").get((link,)) if link else None
    key = store.files.read(ssl_path(row["key"]))
    if key is None:
        return None, f"cert-key {certkey}: key file {row['key']} is gone"
    passphrase = store.passphrases.get((part.name, certkey))
    if row.get("password") and passphrase is None:
        return None, (f"cert-key {certkey}: the key's passphrase is not known to the data plane "
                      "(it is kept in memory only; update the cert-key with passplain again)")
    names = tuple(row.get("_info", {}).get("names", ()))
    return CertMaterial(certkey, b"".join(chain), key, passphrase, names), None


def pem_certificate(data: bytes, inform: str) -> bytes:
    """A certificate file's content as PEM (DER converted)."""
    if inform == "DER":
        return x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.PEM)
    return data if data.endswith(b"\n") else data + b"\n"


# --- contexts ---------------------------------------------------------------------------------
def _ctx_pointer(ctx: ssl.SSLContext) -> int | None:
    """The SSL_CTX* behind a Python SSLContext (PySSLContext: PyObject_HEAD, then SSL_CTX *)."""
    with contextlib.suppress(Exception):
        return ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
    return None


def _libssl():
    try:
        lib = ctypes.CDLL(_ssl.__file__)
        lib.SSL_CTX_set_timeout.argtypes = [ctypes.c_void_p, ctypes.c_long]
        lib.SSL_CTX_set_timeout.restype = ctypes.c_long
        return lib
    except (OSError, AttributeError):
        return None


_LIBSSL = _libssl()


def set_session_timeout(ctx: ssl.SSLContext, seconds: int) -> bool:
    """SSL_CTX_set_timeout, which Python's ssl module does not expose; False if unavailable."""
    pointer = _ctx_pointer(ctx)
    if _LIBSSL is None or not pointer:
        return False
    _LIBSSL.SSL_CTX_set_timeout(pointer, int(seconds))
    return True


def set_verify_host(ctx: ssl.SSLContext, name: str) -> bool:
    """Make OpenSSL check every peer certificate of ``ctx`` for ``name`` during the handshake
    (``X509_VERIFY_PARAM_set1_host``), whatever server name is sent: Python's own check is tied
    to the SNI it sends. False when the library calls are unavailable."""
    pointer = _ctx_pointer(ctx)
    if _LIBSSL is None or not pointer:
        return False
    try:
        get_param, set_host = _LIBSSL.SSL_CTX_get0_param, _LIBSSL.X509_VERIFY_PARAM_set1_host
    except AttributeError:
        return False
    get_param.argtypes, get_param.restype = [ctypes.c_void_p], ctypes.c_void_p
    set_host.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    set_host.restype = ctypes.c_int
    param = get_param(pointer)
    data = name.encode("ascii", "replace")
    return bool(param) and set_host(param, data, len(data)) == 1


def configure_versions(ctx: ssl.SSLContext, versions: tuple[str, ...]) -> None:
    """Allow exactly ``versions`` (a gap such as tls1 + tls12 without tls11 is honoured)."""
    enabled = [(k, v) for k, v in VERSIONS if k in versions]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        all_no = 0
        for flag in NO_FLAGS.values():
            all_no |= getattr(ssl, flag)
        ctx.options &= ~all_no
        ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        ctx.maximum_version = ssl.TLSVersion.MAXIMUM_SUPPORTED
        ctx.minimum_version, ctx.maximum_version = enabled[0][1], enabled[-1][1]
        low, high = VERSIONS.index(enabled[0]), VERSIONS.index(enabled[-1])
        for k, _ in VERSIONS[low:high + 1]:
            if k not in versions:
                ctx.options |= getattr(ssl, NO_FLAGS[k])
    # OpenSSL 3 refuses TLS 1.0/1.1 above security level 0; an appliance's profile that
    # enables them means clients may use them.
    legacy = "tls1" in versions or "tls11" in versions
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0" if legacy else "DEFAULT")


def _new_context(versions: tuple[str, ...]) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    configure_versions(ctx, versions)
    return ctx


@contextlib.contextmanager
def _in_memory(data: bytes, secret: bool) -> Iterator[tuple[str, str | None]]:
    """A path to ``data`` that is never on disk in clear: (path, one-time password or None)."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("adcml-tls", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}", None
        finally:
            os.close(fd)
        return
    password = None
    if secret:  # re-encrypt before it reaches a temporary file
        password = secrets.token_urlsafe(24)
        key = serialization.load_pem_private_key(data, None)
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(password.encode()))
    with tempfile.NamedTemporaryFile(suffix=".pem") as fh:
        fh.write(data)
        fh.flush()
        yield fh.name, password


def _key_pem(material: CertMaterial) -> tuple[bytes, str | None]:
    """The key as PEM, with the password to read it (DER keys are converted in memory)."""
    if material.key.lstrip().startswith(b"-----"):
        return material.key, material.passphrase
    password = material.passphrase.encode() if material.passphrase else None
    key = serialization.load_der_private_key(material.key, password)
    fresh = secrets.token_urlsafe(24)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(fresh.encode()))
    return pem, fresh


def certificate_context(material: CertMaterial, versions: tuple[str, ...]) -> ssl.SSLContext:
    """A server context holding ``material``'s chain and key."""
    ctx = _new_context(versions)
    key, password = _key_pem(material)
    with _in_memory(material.chain, False) as (cert_path, _), \
            _in_memory(key, password is None) as (key_path, onetime):
        ctx.load_cert_chain(cert_path, key_path, password=onetime or password)
    return ctx


class TlsTerminator:
    """The TLS side of one SSL listener; ``apply`` installs a new spec for new handshakes."""

    def __init__(self, spec: TlsSpec):
        self.context = _new_context(spec.versions)
        self.context.sni_callback = self._select
        self.spec: TlsSpec | None = None
        self._default: ssl.SSLContext | None = None
        self._sni: list[tuple[CertMaterial, ssl.SSLContext]] = []
        self._cache: dict[tuple, ssl.SSLContext] = {}
        self.apply(spec)

    def apply(self, spec: TlsSpec) -> None:
        if spec == self.spec:
            return
        if self.spec is None or spec.settings != self.spec.settings:
            configure_versions(self.context, spec.versions)
            set_session_timeout(self.context, spec.sesstimeout)
            if spec.sessreuse:
                self.context.options &= ~ssl.OP_NO_TICKET
                self.context.num_tickets = 2
            else:
                self.context.options |= ssl.OP_NO_TICKET
                self.context.num_tickets = 0
        cache: dict[tuple, ssl.SSLContext] = {}

        def context_for(material: CertMaterial) -> ssl.SSLContext:
            key = (material.fingerprint, spec.versions)
            ctx = cache.get(key) or self._cache.get(key) or certificate_context(material, spec.versions)
            cache[key] = ctx
            return ctx

        default = context_for(spec.default) if spec.default else None
        sni = [(m, context_for(m)) for m in spec.sni]
        # Replaced whole, so a handshake sees either the old maps or the new ones.
        self._default, self._sni, self._cache, self.spec = default, sni, cache, spec

    def _select(self, sslobj, server_name: str | None, _ctx) -> int | None:
        chosen = self._default
        if server_name:
            for material, ctx in self._sni:
                if material.matches(server_name):
                    chosen = ctx
                    break
        if chosen is None:
            return ssl.ALERT_DESCRIPTION_UNRECOGNIZED_NAME
        sslobj.context = chosen
        return None
