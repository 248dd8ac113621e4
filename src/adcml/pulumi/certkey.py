"""A TLS certificate and its key on the ADC as a Pulumi resource
(``adcml.gateway.certificates``): PEM text in — from pulumi-tls, or read from files — a
cert-key out. A changed certificate is rotated in place with ``sslcertkey?action=update``
(bindings stay, no request is dropped), and the files of the old one are removed.

Inputs: ``certkey`` (the cert-key's name; for a gateway's frontend ``<gateway>.cert``, which the
gateway then keeps as it is), ``certificate`` (PEM), ``private_key`` (PEM, secret),
``passphrase`` (secret, for an encrypted key), ``save``, ``connection`` (secret). The id is the
cert-key's name. Outputs: ``certkey``, ``serial`` and ``expiry`` as the ADC reports them,
``certificate`` (public), ``private_key_fingerprint`` (never the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi import dynamic

from adcml.gateway.certificates import converge_certificate, delete_certificate, read_certificate
from adcml.pulumi.connection import nitro_client
from adcml.pulumi.dynamic import ConfiguredProvider, has_unknown, secret, with_secret_outputs
from adcml.pulumi.fingerprints import fingerprint, matches, salt_of
from adcml.secret import looks_like_key_material

SECRET_INPUTS = ("private_key", "passphrase", "connection")


class CertKeyProvider(ConfiguredProvider):
    """CRUD of one cert-key and its files."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        cert, key = news.get("certificate"), news.get("private_key")
        if not has_unknown(cert) and "BEGIN CERTIFICATE" not in str(cert):
            failures.append(dynamic.CheckFailure("certificate", "a PEM certificate (BEGIN CERTIFICATE)"))
        if not has_unknown(key) and not looks_like_key_material(key):
            failures.append(dynamic.CheckFailure("private_key", "a PEM private key (BEGIN ... PRIVATE KEY)"))
        if not str(news.get("certkey") or ""):
            failures.append(dynamic.CheckFailure("certkey", "the cert-key's name is required"))
        return dynamic.CheckResult(news, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        if has_unknown(news):
            return dynamic.DiffResult(changes=True)
        if news.get("certkey") != id_:
            return dynamic.DiffResult(changes=True, replaces=["certkey"])
        changed = (news.get("certificate") != olds.get("certificate")
                   or not matches(news.get("private_key") or "", olds.get("private_key_fingerprint") or "")
                   or bool(news.get("save")) != bool(olds.get("save")))
        if not changed:  # the ADC's copy changed by hand: the plan says so
            with nitro_client(self._config, news.get("connection")) as client:
                changed = converge_certificate(client, *self._material(news), check=True).plan.changed
        return dynamic.DiffResult(changes=changed)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(props["certkey"], self._apply(props, salt=None))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(self._apply(news, salt=salt_of(olds.get("private_key_fingerprint"))))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        with nitro_client(self._config, props.get("connection")) as client:
            delete_certificate(client, id_, save=bool(props.get("save")))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        with nitro_client(self._config, props.get("connection")) as client:
            live = read_certificate(client, id_)
        if live is None:
            return dynamic.ReadResult(None, {})
        outs = {**{k: v for k, v in props.items() if k not in SECRET_INPUTS}, "certkey": id_,
                **_facts(live)}
        return dynamic.ReadResult(id_, outs)

    def _apply(self, props: Mapping[str, Any], salt: str | None) -> dict[str, Any]:
        with nitro_client(self._config, props.get("connection")) as client:
            converge_certificate(client, *self._material(props), save=bool(props.get("save")))
            live = read_certificate(client, props["certkey"]) or {}
        return {"certkey": props["certkey"], "certificate": props["certificate"],
                "save": bool(props.get("save")),
                "private_key_fingerprint": fingerprint(props["private_key"], salt), **_facts(live)}

    @staticmethod
    def _material(props: Mapping[str, Any]) -> tuple[str, bytes, bytes, str | None]:
        return (props["certkey"], str(props["certificate"]).encode(), str(props["private_key"]).encode(),
                props.get("passphrase") or None)


def _facts(live: Mapping[str, Any]) -> dict[str, Any]:
    return {"serial": live.get("serial"), "expiry": live.get("clientcertnotafter")}


class CertKey(dynamic.Resource, module="adcml", name="CertKey"):
    """A cert-key on the ADC from PEM text (``CertKeyProvider``)."""

    certkey: pulumi.Output[str]
    serial: pulumi.Output[str]
    expiry: pulumi.Output[str]
    private_key_fingerprint: pulumi.Output[str]

    def __init__(self, resource_name: str, certkey: pulumi.Input[str], certificate: pulumi.Input[str],
                 private_key: pulumi.Input[str], *, passphrase: pulumi.Input[str] | None = None,
                 save: bool = False, connection: pulumi.Input[Mapping[str, Any]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"certkey": certkey, "certificate": certificate,
                 "private_key": pulumi.Output.secret(private_key),
                 "passphrase": secret(passphrase),
                 "save": save,
                 "connection": secret(connection),
                 "serial": None, "expiry": None, "private_key_fingerprint": None}
        opts = with_secret_outputs(opts, SECRET_INPUTS)
        super().__init__(CertKeyProvider(), resource_name, props, opts)


__all__ = ["CertKey", "CertKeyProvider"]
