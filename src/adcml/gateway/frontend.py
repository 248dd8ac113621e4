"""The ``frontend`` section: the VIP (content-switching vserver ``<gw>.cs``), its SSL profile
``<gw>.tls`` and its certificate — compiled, and gathered back.

A certificate given as files is uploaded under content-addressed names
(``<gw>.cert.<digest>.crt/.key``) and the gateway owns the cert-key ``<gw>.cert``: a new
certificate gets new files and the cert-key is switched to them in place (bindings stay). The
appliance does not keep the files' paths on the control node, so gather gives the certificate
back as ``tls.certkey: <gw>.cert``; applying that keeps the cert-key and its files as they are.
"""

from __future__ import annotations

from typing import Any

from adcml.gateway.certificates import upload_certificate
from adcml.gateway.names import Add, LiveGateway, certkey_name, cs_name
from adcml.gateway.spec import GatewaySpec, Tls

ONOFF = {True: "ENABLED", False: "DISABLED"}
TLS_VERSIONS = ("tls1", "tls11", "tls12", "tls13")


def compile_frontend(add: Add, spec: GatewaySpec, vserver_auth: dict[str, Any]) -> None:
    """The CS vserver (with ``vserver_auth``, the attributes authentication adds to it), and
    for HTTPS its SSL profile, certificate and cert-key binding."""
    gw, fe, cs = spec.name, spec.frontend, cs_name(spec.name)
    https = fe.protocol == "https"
    add("csvserver", {"": "frontend", "ipv46": "frontend.vip", "port": "frontend.port",
                      "clttimeout": "frontend.client_timeout", "authnvsname": "auth"},
        name=cs, servicetype="SSL" if https else "HTTP", ipv46=fe.vip, port=fe.port,
        clttimeout=fe.client_timeout, **vserver_auth)
    if not https:
        return
    profile = fe.ssl_profile
    add("sslprofile", "frontend.ssl_profile", name=f"{gw}.tls", sslprofiletype="FrontEnd",
        **{v: ONOFF[getattr(profile, v)] for v in TLS_VERSIONS},
        sessreuse=ONOFF[profile.session_reuse], sesstimeout=profile.session_timeout)
    add("sslvserver", "frontend.ssl_profile", vservername=cs, sslprofile=f"{gw}.tls")
    certkey = fe.tls.certkey or _upload(add, gw, fe.tls)
    add("sslvserver_sslcertkey_binding", "frontend.tls", vservername=cs, certkeyname=certkey)


def _upload(add: Add, gw: str, tls: Tls) -> str:
    name = certkey_name(gw)
    passphrase = tls.key_passphrase
    upload_certificate(add, name, tls.cert_file.read_bytes(), tls.key_file.read_bytes(),
                       passphrase.get_secret_value() if passphrase is not None else None, "frontend.tls")
    return name


def gather_frontend(live: LiveGateway, cs: dict[str, Any]) -> dict[str, Any]:
    """The ``frontend`` section of the CS vserver ``cs`` and what belongs to it."""
    https = cs["servicetype"] == "SSL"
    frontend: dict[str, Any] = {"vip": cs["ipv46"], "port": live.value("csvserver", cs, "port"),
                                "protocol": "https" if https else "http",
                                "client_timeout": live.value("csvserver", cs, "clttimeout", 180)}
    if not https:
        return frontend
    certkeys = [b["certkeyname"] for b in live.bound("sslvserver_sslcertkey_binding", cs["name"])
                if not live.value("sslvserver_sslcertkey_binding", b, "snicert")]
    frontend["tls"] = {"certkey": certkeys[0] if certkeys else None}
    profile = live.obj("sslprofile", f"{live.name}.tls")
    if profile is not None:
        frontend["ssl_profile"] = {
            **{v: live.value("sslprofile", profile, v) == "ENABLED" for v in TLS_VERSIONS},
            "session_reuse": live.value("sslprofile", profile, "sessreuse") == "ENABLED",
            "session_timeout": live.value("sslprofile", profile, "sesstimeout"),
        }
    return frontend
