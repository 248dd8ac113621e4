"""TLS from the lab to the members of an SSL service group, as its ``sslservicegroup`` says.

- ``snienable ENABLED`` with a ``commonname``: the common name is sent as the server name (SNI);
  otherwise no server name is sent.
- ``serverauth ENABLED``: the member's certificate must chain to a cert-key bound to the group
  with ``ca: true`` (``sslservicegroup_sslcertkey_binding``; the bound certificate is a trust
  anchor, intermediate or root), and carry ``commonname`` when one is set (checked as a TLS
  client checks a host name: DNS SANs, the CN when there are none). A member that fails is not
  served: the request goes to another member or is answered 503, and secure monitors of the
  group (``secure YES``) fail the same way, so the member goes DOWN.
- ``serverauth DISABLED``: no verification at all, as on an appliance.

The same ``MemberTls`` serves requests (``proxy.Forwarder``) and monitor probes (``health``).
Client contexts are cached per settings; they load only the bound CAs, never the system's.
Not carried: client certificates to members (cert-keys bound without ``ca``), CRL/OCSP checks,
a back-end ``sslprofile``'s settings, protocol versions and ciphers.
"""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass, field

from cryptography import x509

from adcml.lab.emulators.adc.dataplane.tls import pem_certificate, set_verify_host
from adcml.lab.emulators.adc.models.files import ssl_path
from adcml.lab.emulators.adc.models.partition import value


@dataclass(frozen=True)
class MemberTls:
    """How the lab's TLS client talks to one group's members."""

    sni: str | None = None  # the server name sent
    verify: bool = False  # serverauth ENABLED
    name: str | None = None  # the name the certificate must carry (serverauth + commonname)
    cas: tuple[bytes, ...] = field(default=(), repr=False)  # trust anchors, PEM

    def context(self) -> ssl.SSLContext:
        """The client context (cached per settings); raises ssl.SSLError when it cannot be
        made (``member_tls`` has checked that once)."""
        return _client_context(self)


class Unverifiable(ssl.SSLError):
    """The name cannot be checked without sending it as SNI on this system."""


@functools.lru_cache(maxsize=256)
def _client_context(tls: MemberTls) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not tls.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a bound CA is an anchor, root or not
    if tls.cas:
        ctx.load_verify_locations(cadata=b"".join(tls.cas).decode())
    checked_by_sni = tls.name is not None and tls.name == tls.sni
    ctx.check_hostname = checked_by_sni
    if tls.name is not None and not checked_by_sni and not set_verify_host(ctx, tls.name):
        raise Unverifiable(f"the common name {tls.name} cannot be checked without SNI here")
    return ctx


def member_tls(store, part, group: str) -> tuple[MemberTls, list[str]]:
    """The TLS settings of SSL service group ``group``, and the problems found (a CA whose file
    is gone, server authentication without a CA ...)."""
    row = part.table("sslservicegroup").get((group,), {})
    commonname = row.get("commonname") or None
    sni_on = value("sslservicegroup", row, "snienable") == "ENABLED"
    verify = value("sslservicegroup", row, "serverauth") == "ENABLED"
    problems: list[str] = []
    cas: list[bytes] = []
    if verify:
        cas = _trust_anchors(store, part, group, problems)
        if not cas:
            problems.append(f"sslservicegroup {group}: serverauth ENABLED but no CA cert-key bound "
                            "(ca: true): no member's certificate can be verified")
    tls = MemberTls(sni=commonname if sni_on else None, verify=verify,
                    name=commonname if verify else None, cas=tuple(cas))
    try:
        tls.context()
    except ssl.SSLError as exc:
        problems.append(f"sslservicegroup {group}: {exc}")
    return tls, problems


def _trust_anchors(store, part, group: str, problems: list[str]) -> list[bytes]:
    out = []
    certkeys = part.table("sslcertkey")
    for binding in part.table("sslservicegroup_sslcertkey_binding").values():
        if binding["servicegroupname"] != group or not binding.get("ca"):
            continue
        name = binding["certkeyname"]
        row = certkeys.get((name,))
        data = store.files.read(ssl_path(row["cert"])) if row else None
        if data is None:
            problems.append(f"sslservicegroup {group}: CA cert-key {name}: certificate file is gone")
            continue
        try:
            pem = pem_certificate(data, row.get("inform", "PEM"))
            x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            problems.append(f"sslservicegroup {group}: CA cert-key {name}: {exc}")
            continue
        out.append(pem)
    return sorted(out)
