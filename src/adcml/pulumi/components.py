"""``InferenceGateway``: the ADC in front of inference as one Pulumi component — its
certificate, a Hugging Face endpoint, and the gateway whose pools reach the model servers
(``GpuModelServer.member``) and the endpoint.

    gateway = InferenceGateway("llm", spec, certificate=Certificate(cert.cert_pem, key.private_key_pem),
                               endpoint=EndpointArgs(endpoint_spec, pool="embed-hf"),
                               members={"embed": [server.member]})

Children: a ``CertKey`` named ``<gateway>.cert`` (the gateway's frontend uses it and keeps it as
it is), an ``HfEndpoint`` whose URL becomes the pool's ``endpoint.url``, and the ``Gateway``,
created after both and removed before them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from adcml.gateway.names import certkey_name
from adcml.pulumi.certkey import CertKey
from adcml.pulumi.endpoint import HfEndpoint
from adcml.pulumi.gateway import DEFAULT_STATE, Gateway


@dataclass(frozen=True)
class Certificate:
    """The frontend's certificate and key as PEM text: pulumi-tls outputs
    (``cert_pem``, ``private_key_pem``), or files read by ``from_files``."""

    cert_pem: pulumi.Input[str]
    key_pem: pulumi.Input[str]
    passphrase: pulumi.Input[str] | None = None

    @classmethod
    def from_files(cls, cert_file: str | Path, key_file: str | Path,
                   passphrase: pulumi.Input[str] | None = None) -> Certificate:
        key = Path(key_file).read_text()
        return cls(Path(cert_file).read_text(), pulumi.Output.secret(key), passphrase)


@dataclass(frozen=True)
class EndpointArgs:
    """A Hugging Face endpoint (``spec`` as for ``HfEndpoint``) behind the gateway's pool
    ``pool``, whose ``endpoint`` section (``ca_certkey``, ``scale_up_timeout``) gets the
    endpoint's URL."""

    spec: pulumi.Input[Mapping[str, Any]]
    pool: str
    state: str = "present"
    connection: pulumi.Input[Mapping[str, Any]] | None = None


class InferenceGateway(pulumi.ComponentResource):
    """The certificate, the endpoint and the gateway of one ``spec`` (docs/pulumi.md)."""

    url: pulumi.Output[str]
    gateway: Gateway
    certkey: CertKey | None
    endpoint: HfEndpoint | None

    def __init__(self, name: str, spec: Mapping[str, Any], *, certificate: Certificate | None = None,
                 endpoint: EndpointArgs | None = None,
                 members: Mapping[str, Sequence[pulumi.Input[Mapping[str, Any]]]] | None = None,
                 state: str = DEFAULT_STATE, save: bool = False,
                 connection: pulumi.Input[Mapping[str, Any]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("adcml:index:InferenceGateway", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        spec = _with_pools(spec, members or {}, endpoint, None)
        self.certkey = self.endpoint = None
        if certificate is not None:
            self.certkey = CertKey(f"{name}-certkey", certkey_name(spec["name"]), certificate.cert_pem,
                                   certificate.key_pem, passphrase=certificate.passphrase, save=save,
                                   connection=connection, opts=child)
            spec = {**spec, "frontend": {**spec["frontend"], "tls": {"certkey": certkey_name(spec["name"])}}}
        if endpoint is not None:
            self.endpoint = HfEndpoint(f"{name}-endpoint", endpoint.spec, state=endpoint.state,
                                       connection=endpoint.connection, opts=child)
            spec = _with_pools(spec, {}, endpoint, self.endpoint.url)
        after = [r for r in (self.certkey, self.endpoint) if r is not None]
        self.gateway = Gateway(f"{name}-gateway", spec, state=state, save=save, connection=connection,
                               opts=pulumi.ResourceOptions(parent=self, depends_on=after))
        self.url = self.gateway.url
        self.register_outputs({"url": self.url})


def _with_pools(spec: Mapping[str, Any], members: Mapping[str, Sequence[Any]], endpoint: EndpointArgs | None,
                url: pulumi.Input[str] | None) -> dict[str, Any]:
    """``spec`` with the members given per pool, and the endpoint pool's URL once known."""
    pools = []
    named = {pool.get("name") for pool in spec.get("pools", [])}
    unknown = sorted(set(members) - named) + (
        [endpoint.pool] if endpoint is not None and endpoint.pool not in named else [])
    if unknown:
        raise ValueError(f"no pool named {', '.join(unknown)} in spec.pools (members and endpoint.pool "
                         "name pools of the spec)")
    for pool in spec.get("pools", []):
        pool = dict(pool)
        if pool.get("name") in members:
            pool["members"] = list(members[pool["name"]])
        if url is not None and endpoint is not None and pool.get("name") == endpoint.pool:
            kept = {k: v for k, v in (pool.get("endpoint") or {}).items() if k not in ("name", "namespace")}
            pool["endpoint"] = {**kept, "url": url}
        pools.append(pool)
    return {**spec, "pools": pools}


__all__ = ["Certificate", "EndpointArgs", "InferenceGateway"]
