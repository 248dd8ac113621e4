"""adcml's Pulumi program: one stack with the ADC gateway, its TLS certificate, a Hugging Face
Inference Endpoint and GPU model servers on Kubernetes (docs/pulumi.md).

Everything comes from the stack's configuration (namespace ``adcml``, the project's name):

- ``gateway``: the gateway spec of docs/gateway.md, without its secrets;
- ``certificate``: ``{certFile, keyFile}`` (PEM files), or ``{selfSigned: {dnsNames, ipAddresses}}``
  for a certificate made by pulumi-tls; none for an http frontend;
- ``endpoint``: ``{pool, spec, state}``: an Inference Endpoint (docs/hf.md) behind ``pool``;
- ``modelServers``: a list of ``{name, pool, image, model, replicas, minReady, gpus, ...}``:
  ``GpuModelServer``s whose Services are ``pool``'s members, their API key injected by the ADC;
- secrets, set with ``pulumi config set --secret``: ``nitroPass`` (and ``nsip``, ``nitroUser``
  ... the providers' connection), ``hfToken``, ``modelApiKey``, ``oidcClientSecret`` and
  ``backendTokens`` (``--path backendTokens.<pool>``).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_tls as tls

from adcml.pulumi import Certificate, EndpointArgs, GpuModelServer, GpuModelServerArgs, InferenceGateway

config = pulumi.Config()
SERVER_ARGS = {"image": "image", "model": "model", "namespace": "namespace", "replicas": "replicas",
               "minReady": "min_ready", "gpus": "gpus", "port": "port", "serviceType": "service_type",
               "nodeSelector": "node_selector", "nodeAddress": "node_address", "extraArgs": "extra_args"}


def frontend_certificate(settings: dict[str, Any] | None) -> Certificate | None:
    if not settings:
        return None
    if "certFile" in settings:
        return Certificate.from_files(settings["certFile"], settings["keyFile"])
    made = settings["selfSigned"]
    key = tls.PrivateKey("gateway-key", algorithm="ECDSA", ecdsa_curve="P256")
    cert = tls.SelfSignedCert(
        "gateway-cert", private_key_pem=key.private_key_pem, validity_period_hours=24 * 90,
        early_renewal_hours=24 * 14, allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
        subject={"common_name": made["dnsNames"][0]}, dns_names=made["dnsNames"],
        ip_addresses=made.get("ipAddresses", []))
    return Certificate(cert.cert_pem, key.private_key_pem)


def with_secrets(spec: dict[str, Any], api_keys: dict[str, pulumi.Output[str]]) -> dict[str, Any]:
    """The spec with its secrets from the secret configuration."""
    tokens = config.get_secret_object("backendTokens")
    pools = []
    for pool in spec["pools"]:
        name = pool["name"]
        if name in api_keys:
            pool = {**pool, "backend_token": api_keys[name]}
        elif tokens is not None:
            pool = {**pool, "backend_token": tokens.apply(lambda found, n=name: (found or {}).get(n))}
        pools.append(pool)
    spec = {**spec, "pools": pools}
    client_secret = config.get_secret("oidcClientSecret")
    if client_secret is not None and spec.get("auth", {}).get("oidc"):
        spec["auth"] = {**spec["auth"], "oidc": {**spec["auth"]["oidc"], "client_secret": client_secret}}
    return spec


def main() -> InferenceGateway:
    spec = config.require_object("gateway")
    members: dict[str, list[pulumi.Output]] = {}
    api_keys: dict[str, pulumi.Output[str]] = {}
    for server in config.get_object("modelServers") or []:
        api_key = config.require_secret("modelApiKey")
        args = GpuModelServerArgs(api_key=api_key, **{SERVER_ARGS[k]: v for k, v in server.items()
                                                      if k in SERVER_ARGS})
        deployed = GpuModelServer(server["name"], args)
        members.setdefault(server["pool"], []).append(deployed.member)
        api_keys[server["pool"]] = api_key
    endpoint = config.get_object("endpoint")
    behind = None
    if endpoint:
        behind = EndpointArgs(endpoint["spec"], endpoint["pool"], endpoint.get("state", "present"))
    gateway = InferenceGateway(spec["name"], with_secrets(spec, api_keys),
                               certificate=frontend_certificate(config.get_object("certificate")),
                               endpoint=behind, members=members, save=config.get_bool("saveConfig") or False)
    pulumi.export("url", gateway.url)
    if gateway.endpoint is not None:
        pulumi.export("endpointUrl", gateway.endpoint.url)
    if gateway.certkey is not None:
        pulumi.export("certificateExpiry", gateway.certkey.expiry)
    return gateway


STACK = main()
