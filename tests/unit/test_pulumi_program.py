"""The Pulumi program (pulumi/__main__.py) under the SDK's mocks, as ``pulumi preview`` would
run it with the lab stack's configuration plus model servers on Kubernetes: the resources it
declares, how they are wired (the gateway's members come from the model servers' Service, the
endpoint pool's URL from the endpoint, the frontend's cert-key from pulumi-tls), and what
Pulumi would store — every secret only inside Pulumi's secret wrapper, the serialized
providers holding none."""

from __future__ import annotations

import base64
import json
import runpy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.config import set_all_config
from pulumi.runtime.mocks import MockMonitor
from pulumi_kit import mocked

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "pulumi" / "__main__.py"
SECRETS = {"adcml:nitroPass": "Nitro-Pass-41b9", "adcml:hfToken": "hf_program_token_77e1",
           "adcml:modelApiKey": "model-api-key-c0ffee",
           "adcml:backendTokens": json.dumps({"embed-hf": "hf_backend_token_5a5a"}),
           "adcml:oidcClientSecret": "oidc-client-secret-9d9d"}
KEY_PEM = ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIMockKeyMaterialForTheProgramTest0000000000000\n"
           "-----END EC PRIVATE KEY-----\n")
CERT_PEM = "-----BEGIN CERTIFICATE-----\nMIIBmockcert\n-----END CERTIFICATE-----\n"
CLUSTER_IP = "10.96.0.42"
ENDPOINT_URL = "https://pl-embedder-lab.us-east-1.aws.endpoints.hf.test:9443"
SECRET_SIG = rpc._special_secret_sig
SIG = rpc._special_sig_key


class Cloud(pulumi.runtime.Mocks):
    """What the providers would answer: a cluster IP for the Service, a URL for the endpoint,
    PEM text for pulumi-tls."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ == "kubernetes:core/v1:Service":
            outputs["spec"] = {**outputs.get("spec", {}), "clusterIP": CLUSTER_IP}
        elif args.typ.endswith("adcml:HfEndpoint"):
            outputs.update(url=ENDPOINT_URL, name="pl-embedder", namespace="lab")
        elif args.typ == "tls:index/privateKey:PrivateKey":
            outputs["privateKeyPem"] = KEY_PEM
        elif args.typ == "tls:index/selfSignedCert:SelfSignedCert":
            outputs["certPem"] = CERT_PEM
        elif args.typ.endswith("adcml:Gateway"):
            outputs["url"] = "https://127.0.0.11:8443"
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        return {}


class Recording(MockMonitor):
    """The mock engine, recording each registration as it would reach the state: secrets
    kept in Pulumi's wrapper."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[tuple[str, str, dict[str, Any]]] = []

    def RegisterResource(self, request):
        self.registered.append((request.type, request.name,
                                rpc.deserialize_properties(request.object)))
        return super().RegisterResource(request)


def stack_config() -> dict[str, str]:
    lab = yaml.safe_load((REPO / "pulumi" / "Pulumi.lab.yaml").read_text())["config"]
    lab["adcml:modelServers"] = [{"name": "embedder", "pool": "embed", "image": "registry.test/adcml:1",
                                  "model": "/models/all-MiniLM-L6-v2", "replicas": 3, "minReady": 2,
                                  "gpus": 1}]
    lab["adcml:gateway"]["auth"]["oidc"]["client_id"] = "gw-client"
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in lab.items()} | SECRETS


@pytest.fixture(scope="module")
def registered() -> Iterator[dict[tuple[str, str], dict[str, Any]]]:
    """(type, name) -> inputs of every resource the program declares."""
    monitor = Recording(Cloud())
    with mocked(Cloud(), monitor, project="adcml", stack="lab"):
        set_all_config(stack_config(), secret_keys=list(SECRETS))

        @pulumi.runtime.test
        def run():
            stack = runpy.run_path(str(PROGRAM), run_name="__pulumi_program__")["STACK"]
            return pulumi.Output.all(stack.url, stack.gateway.id)

        run()
        yield {(typ, name): inputs for typ, name, inputs in monitor.registered}
        set_all_config({})


def inputs_of(registered, typ: str) -> dict[str, Any]:
    [found] = [inputs for (t, _), inputs in registered.items() if t.endswith(typ)]
    return found


def clear_strings(value: Any) -> list[str]:
    """Every string outside Pulumi's secret wrapper (what a state file would hold in clear)."""
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            return []
        return [s for k, v in value.items() for s in [k, *clear_strings(v)]]
    if isinstance(value, list):
        return [s for v in value for s in clear_strings(v)]
    return [value] if isinstance(value, str) else []


def secret_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            return [json.dumps(value["value"])]
        return [s for v in value.values() for s in secret_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in secret_strings(v)]
    return []


def plain(value: Any) -> Any:
    """``value`` with secret wrappers replaced by what they hold."""
    if isinstance(value, dict):
        if value.get(SIG) == SECRET_SIG:
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def test_the_stack_declares_the_gateway_its_certificate_endpoint_and_model_servers(registered):
    declared = set(registered)
    assert {("adcml:index:InferenceGateway", "pl"), ("pulumi-python:dynamic/adcml:Gateway", "pl-gateway"),
            ("pulumi-python:dynamic/adcml:CertKey", "pl-certkey"),
            ("pulumi-python:dynamic/adcml:HfEndpoint", "pl-endpoint"),
            ("tls:index/privateKey:PrivateKey", "gateway-key"),
            ("tls:index/selfSignedCert:SelfSignedCert", "gateway-cert"),
            ("adcml:kubernetes:GpuModelServer", "embedder")} <= declared
    kinds = sorted(t for t, _ in declared if t.startswith("kubernetes:"))
    assert kinds == ["kubernetes:apps/v1:Deployment", "kubernetes:core/v1:Secret",
                     "kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget"]


def test_the_gateway_is_wired_to_the_service_the_endpoint_and_the_certificate(registered):
    spec = plain(inputs_of(registered, "adcml:Gateway")["spec"])
    pools = {pool["name"]: pool for pool in spec["pools"]}
    assert pools["embed"]["members"] == [{"host": CLUSTER_IP, "port": 8080}]
    assert pools["embed"]["backend_token"] == SECRETS["adcml:modelApiKey"]  # the model servers' key
    assert pools["embed-hf"]["endpoint"] == {"ca_certkey": "hf-ca", "scale_up_timeout": 120,
                                             "url": ENDPOINT_URL}
    assert pools["embed-hf"]["backend_token"] == "hf_backend_token_5a5a"
    assert spec["frontend"]["tls"] == {"certkey": "pl.cert"}
    assert spec["auth"]["oidc"]["client_secret"] == SECRETS["adcml:oidcClientSecret"]
    certkey = plain(inputs_of(registered, "adcml:CertKey"))
    assert (certkey["certkey"], certkey["certificate"]) == ("pl.cert", CERT_PEM)
    assert certkey["private_key"] == KEY_PEM
    deployment = plain(inputs_of(registered, "kubernetes:apps/v1:Deployment"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")


def test_no_secret_is_in_clear_in_what_the_state_would_hold(registered):
    values = [v for v in SECRETS.values() if not v.startswith("{")] + ["hf_backend_token_5a5a", KEY_PEM]
    everything_clear = "\n".join(s for inputs in registered.values() for s in clear_strings(inputs))
    everything_secret = "\n".join(s for inputs in registered.values() for s in secret_strings(inputs))
    for value in values:
        assert value not in everything_clear
    # and they are there, wrapped: the program passed them on (nitroPass and hfToken go to the
    # providers through configure, never through a resource)
    for value in ("model-api-key-c0ffee", "hf_backend_token_5a5a", "oidc-client-secret-9d9d"):
        assert value in everything_secret
    assert KEY_PEM.splitlines()[1] in everything_secret
    for value in ("Nitro-Pass-41b9", "hf_program_token_77e1"):
        assert value not in everything_secret + everything_clear


def test_the_serialized_providers_are_references_without_secrets(registered):
    for kind in ("adcml:Gateway", "adcml:CertKey", "adcml:HfEndpoint"):
        serialized = inputs_of(registered, kind)["__provider"]
        assert isinstance(serialized, str), f"{kind}: the serialized provider is marked secret"
        raw = base64.b64decode(serialized)
        assert b"adcml.pulumi." in raw and len(raw) < 2000
        assert not any(v.encode() in raw for v in SECRETS.values())


def test_a_secret_given_as_a_plain_string_is_made_secret_by_the_resource(registered):
    from adcml.gateway.spec import SECRET_FIELDS
    from adcml.pulumi.dynamic import mark_secrets

    @pulumi.runtime.test
    def check():
        async def secretness():
            marked = mark_secrets({"name": "gw", "pools": [{"name": "a", "backend_token": "plain-token"}],
                                   "auth": {"oidc": {"client_secret": "plain-secret"}}}, SECRET_FIELDS)
            assert not isinstance(marked["pools"][0]["name"], pulumi.Output)
            assert await marked["pools"][0]["backend_token"].is_secret()
            assert await marked["auth"]["oidc"]["client_secret"].is_secret()
            assert await mark_secrets(pulumi.Output.from_input({"a": 1}), SECRET_FIELDS).is_secret()
        return pulumi.Output.from_input(secretness())

    check()
