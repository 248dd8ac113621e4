"""The Pulumi program's dynamic providers, called for real: each provider is serialized as
Pulumi serializes it (the SDK's ``serialize_provider``), loaded back as Pulumi's provider host
loads it (``dill.loads``, then ``configure`` with the stack's configuration), and its check,
diff, create, read, update and delete run against a lab ADC and the Hugging Face stand-in.

What a user would notice: a preview's plan is the one ``adc_gateway --check --diff`` shows;
the same gateway through the provider and through adc_gateway gives the same NITRO
configuration; refresh and import work; a hand change on the ADC is found; a new certificate
is switched in place; and neither the serialized provider nor the outputs it writes to the
state hold a secret in clear.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from typing import Any

import dill
import httpx
import pytest
from ansible_harness import HOST, AnsibleProject
from hf_kit import online_stand_in
from pulumi.dynamic import Config, ConfigureRequest
from pulumi.dynamic.dynamic import serialize_provider

from adcml.gateway import gather
from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer
from adcml.lab.services.pki import LabCA
from adcml.nitro import NitroClient
from adcml.pulumi import CertKeyProvider, GatewayProvider, HfEndpointProvider

PASSWORD = "Lab-Nitro-Pass-7f3e"
TOKEN = "pool-backend-token-6b1d0e"
HF_TOKEN = "hf_pulumi_stand_in_token_93ac"
PROVIDER_KEY = "__provider"
SPEC = {
    "name": "llm",
    "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"},
    "pools": [
        {"name": "chat", "match": {"path_prefix": "/v1/chat"}, "backend_token": TOKEN,
         "members": [{"host": "127.0.0.1", "port": 9001}, {"host": "127.0.0.1", "port": 9002}]},
        {"name": "embed", "members": [{"host": "127.0.0.1", "port": 9003}],
         "cache": {"paths": ["/info"], "post_paths": ["/embed"]}},
    ],
    "default_pool": "embed",
}


def hosted(provider, **config: str):
    """``provider`` as Pulumi's provider host has it: serialized by the SDK, loaded with dill,
    configured with the stack's ``adcml:*`` configuration."""
    loaded = dill.loads(base64.b64decode(serialize_provider(provider)))
    loaded.configure(ConfigureRequest(Config({f"adcml:{k}": v for k, v in config.items()}, "adcml")))
    return loaded


def with_provider(provider, props: dict[str, Any]) -> dict[str, Any]:
    """The properties as the host gets them: with the serialized provider."""
    return {**props, PROVIDER_KEY: serialize_provider(provider)}


@pytest.fixture
def adc(lab_adc):
    """A gateway provider for the lab ADC, its credentials from the stack's configuration."""
    return hosted(GatewayProvider(), nsip=lab_adc.nsip, nitroUser="nsroot", nitroPass="nsroot",
                  nitroProtocol="http")


def client(nsip: str) -> NitroClient:
    return NitroClient(nsip=nsip, username="nsroot", password="nsroot", protocol="http")


def running_config(url: str) -> dict:
    return httpx.get(f"{url}/lab/config", timeout=10).json()["partitions"]["default"]


def props(spec: dict, state: str = "overridden") -> dict[str, Any]:
    return with_provider(GatewayProvider(), {"spec": spec, "state": state, "save": False})


def test_the_serialized_provider_holds_no_secret_and_loads_in_a_fresh_process(lab_adc):
    configured = hosted(GatewayProvider(), nsip=lab_adc.nsip, nitroUser="nsroot", nitroPass=PASSWORD)
    serialized = serialize_provider(GatewayProvider())
    raw = base64.b64decode(serialized)
    assert b"adcml.pulumi.gateway" in raw and b"GatewayProvider" in raw  # by reference: no code
    assert len(raw) < 2000 and PASSWORD.encode() not in raw
    assert PASSWORD not in base64.b64decode(serialize_provider(configured)).decode("latin-1")
    # Pulumi's provider host is another process: it loads the provider from the state's string
    script = ("import base64, sys, dill; p = dill.loads(base64.b64decode(sys.argv[1])); "
              "r = p.check({}, {'spec': {'name': 'x'}}); print(type(p).__name__, len(r.failures))")
    out = subprocess.run([sys.executable, "-c", script, serialized], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out[0] == "GatewayProvider" and int(out[1]) >= 1


def test_check_names_the_field_and_the_problem(adc):
    bad = copy.deepcopy(SPEC)
    bad["pools"][0]["members"][0]["port"] = 70000
    failures = adc.check({}, props(bad)).failures
    assert [(f.property, f.reason.split(":")[0]) for f in failures] == [
        ("spec", "spec.pools[0].members[0].port")]
    assert not adc.check({}, props(SPEC)).failures
    assert [f.property for f in adc.check({}, props(SPEC, state="absent")).failures] == ["state"]
    # a preview does not know computed inputs yet: nothing to check then
    from pulumi.runtime import rpc

    unknown = copy.deepcopy(SPEC)
    unknown["pools"][0]["members"][0]["host"] = rpc.UNKNOWN
    assert not adc.check({}, props(unknown)).failures
    assert adc.diff("llm", {}, props(unknown)).changes


def test_create_diff_update_read_import_delete_against_the_lab(adc, lab_adc):
    created = adc.create(props(SPEC))
    assert created.id == "llm"
    outs = created.outs
    assert outs["url"] == "http://127.0.0.10:8080" and "+ csvserver llm.cs" in outs["plan"]
    assert TOKEN not in json.dumps(outs) and outs["spec"]["pools"][0]["backend_token"].startswith("scrypt:")
    with client(lab_adc.nsip) as nitro:
        assert gather(nitro, "llm")["pools"][0]["name"] == "chat"

    # nothing changed: no diff
    assert adc.diff("llm", outs, props(SPEC)).changes is False
    # only the token changed: a diff (the fingerprint), and the update writes the new one
    rotated = copy.deepcopy(SPEC)
    rotated["pools"][0]["backend_token"] = "pool-backend-token-NEW"
    assert adc.diff("llm", outs, props(rotated)).changes is True
    # a hand change on the ADC, inputs unchanged: the plan finds it
    with client(lab_adc.nsip) as nitro:
        nitro.update("lbvserver", {"name": "llm.embed", "lbmethod": "ROUNDROBIN"})
    assert adc.diff("llm", outs, props(SPEC)).changes is True

    grown = copy.deepcopy(rotated)
    grown["pools"].append({"name": "vision", "match": {"path_prefix": "/v1/vision"},
                           "members": [{"host": "127.0.0.1", "port": 9006}]})
    updated = adc.update("llm", outs, props(grown)).outs
    assert "+ lbvserver llm.vision" in updated["plan"] and "~ lbvserver llm.embed" in updated["plan"]
    assert updated["spec"]["pools"][0]["backend_token"] != outs["spec"]["pools"][0]["backend_token"]
    assert adc.diff("llm", updated, props(grown)).changes is False

    # refresh: still there, the outputs as applied
    refreshed = adc.read("llm", updated)
    assert refreshed.id == "llm" and refreshed.outs["spec"] == updated["spec"] and refreshed.inputs is None
    # adopted with the import resource option: Pulumi reads with the program's inputs; the
    # outputs keep fingerprints of them, and those inputs are then no change
    adopted = adc.read("llm", props(grown))
    assert "pool-backend-token-NEW" not in json.dumps(adopted.outs)
    assert adc.diff("llm", adopted.outs, props(grown)).changes is False
    # import: the inputs are the gathered spec, and they apply back as a no-op
    imported = adc.read("llm", with_provider(GatewayProvider(), {}))
    assert imported.inputs["spec"]["name"] == "llm" and len(imported.inputs["spec"]["pools"]) == 3
    assert TOKEN not in json.dumps(imported.outs) and "NEW" not in json.dumps(imported.inputs)
    assert not adc.preview(imported.inputs).changed

    adc.delete("llm", updated)
    with client(lab_adc.nsip) as nitro:
        assert gather(nitro, "llm") is None
    assert adc.read("llm", updated).id is None  # gone: refresh drops it from the state


def test_a_rename_replaces_the_gateway_old_one_first(adc):
    outs = adc.create(props(SPEC)).outs
    renamed = {**SPEC, "name": "llm2"}
    result = adc.diff("llm", outs, props(renamed))
    assert result.changes and result.replaces == ["spec"] and result.delete_before_replace


def test_the_provider_and_adc_gateway_give_the_same_configuration_and_the_same_plan(adc, lab_adc, tmp_path):
    """The Done-when check: one spec converged through the provider on one lab ADC and through
    the adc_gateway module on another gives identical NITRO configuration; a changed spec's
    preview is the plan adc_gateway --check --diff shows."""
    other = LabServer(LabADC(tmp_path / "other"), "127.0.0.1:0").start()
    try:
        project = AnsibleProject(tmp_path / "ansible", nsip=other.url.removeprefix("http://"))
        playbook = project.write_playbook("gateway.yml", [
            {"name": "gateway", "adc_gateway": {"spec": "{{ spec }}", "state": "overridden"}}])
        run = project.playbook(playbook, extra_vars={"spec": SPEC})
        assert run.rc == 0, run.explain()
        adc.create(props(SPEC))
        assert running_config(other.url) == running_config(lab_adc.url)

        changed = copy.deepcopy(SPEC)
        changed["pools"][0]["members"][1]["weight"] = 5
        changed["pools"][1]["cache"]["post_paths"] = ["/embed", "/v1/embeddings"]
        run = project.playbook(playbook, "--check", "--diff", extra_vars={"spec": changed})
        assert run.rc == 0, run.explain()
        shown = run.result("gateway", HOST)["diff"]["prepared"]
        assert adc.preview(props(changed)).render() == shown
        assert "weight: 1 -> 5" in shown or "weight: '1' -> 5" in shown
    finally:
        other.stop()


def test_a_new_certificate_is_switched_in_place_and_the_key_stays_out_of_the_state(lab_adc, adc):
    certs = hosted(CertKeyProvider(), nsip=lab_adc.nsip, nitroUser="nsroot", nitroPass="nsroot",
                   nitroProtocol="http")
    first, second = (LabCA().issue("llm.lab.test", sans=("llm.lab.test",)) for _ in range(2))

    def cert_props(issued) -> dict[str, Any]:
        return with_provider(CertKeyProvider(), {
            "certkey": "llm.cert", "certificate": issued.cert_pem.decode(),
            "private_key": issued.key_pem.decode(), "save": False})

    a_path = certs.check({}, {**cert_props(first), "private_key": "/etc/key.pem"})
    assert [f.property for f in a_path.failures] == ["private_key"]
    created = certs.create(cert_props(first))
    assert created.id == "llm.cert" and created.outs["serial"]
    assert first.key_pem.decode() not in json.dumps(created.outs)
    assert created.outs["private_key_fingerprint"].startswith("scrypt:")
    # the gateway's frontend uses it (and keeps it as it is)
    https = {**SPEC, "frontend": {"vip": "127.0.0.10", "port": 8443, "protocol": "https",
                                  "tls": {"certkey": "llm.cert"}}}
    adc.create(props(https))
    assert certs.diff("llm.cert", created.outs, cert_props(first)).changes is False
    assert certs.diff("llm.cert", created.outs, cert_props(second)).changes is True

    with client(lab_adc.nsip) as nitro:
        lab_adc.reset_counters()
        updated = certs.update("llm.cert", created.outs, cert_props(second)).outs
        assert updated["serial"] != created.outs["serial"]
        requests = lab_adc.counters()["requests"]
        # one POST sslcertkey?action=update (the lab counts it as POST sslcertkey); never
        # removed, re-added or unbound; the old pair of files removed after
        assert requests.get("POST sslcertkey") == 1 and requests.get("DELETE systemfile") == 2
        untouched = ("DELETE sslcertkey", "PUT sslcertkey", "DELETE sslvserver")
        assert not any(k.startswith(untouched) for k in requests)
        bound = nitro.bindings("sslvserver", "llm.cs")[0]["sslvserver_sslcertkey_binding"]
        assert [b["certkeyname"] for b in bound] == ["llm.cert"]
        files = {f["filename"] for f in nitro.get("systemfile", args={"filelocation": "/nsconfig/ssl/"})}
        assert len([f for f in files if f.startswith("llm.cert.")]) == 2  # the old pair is gone
    assert certs.read("llm.cert", updated).outs["serial"] == updated["serial"]
    adc.delete("llm", props(https))
    certs.delete("llm.cert", updated)
    assert certs.read("llm.cert", updated).id is None


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    with online_stand_in(tmp_path_factory.mktemp("lab-hf"), {"lab": HF_TOKEN}) as server:
        yield server


def test_an_endpoint_is_created_read_imported_updated_and_deleted(stand_in):
    endpoints = hosted(HfEndpointProvider(), hfToken=HF_TOKEN, hfApiBase=stand_in.api_base,
                       hfHubEndpoint=stand_in.url, hfCaFile=str(stand_in.lab.ca_file))
    spec = {"name": "embedder", "namespace": "lab", "repository": "sentence-transformers/all-MiniLM-L6-v2",
            "task": "sentence-embeddings", "secrets": {"UPSTREAM_KEY": "upstream-secret-41d2"},
            "compute": {"vendor": "aws", "region": "us-east-1", "accelerator": "cpu",
                        "instance_type": "intel-spr", "instance_size": "x2"}}

    def ep_props(**extra) -> dict[str, Any]:
        return with_provider(HfEndpointProvider(), {"spec": spec, "state": "present", "wait": True,
                                                    "timeout": 180, **extra})

    assert not endpoints.check({}, ep_props()).failures
    bad = endpoints.check({}, with_provider(HfEndpointProvider(), {"spec": {**spec, "task": "Bad Task"}}))
    assert [f.reason.split(":")[0] for f in bad.failures] == ["spec.task"]
    created = endpoints.create(ep_props())
    assert created.id == "lab/embedder" and created.outs["url"].startswith("https://")
    assert created.outs["host"].endswith(stand_in.lab.domain)
    assert "upstream-secret-41d2" not in json.dumps(created.outs) and HF_TOKEN not in json.dumps(created.outs)
    assert endpoints.diff("lab/embedder", created.outs, ep_props()).changes is False
    paused = endpoints.update("lab/embedder", created.outs, ep_props(state="paused")).outs
    assert paused["status"] == "paused"
    assert endpoints.read("lab/embedder", paused).outs["status"] == "paused"
    adopted = endpoints.read("lab/embedder", ep_props(state="paused"))  # the import option
    assert "upstream-secret-41d2" not in json.dumps(adopted.outs)
    imported = endpoints.read("lab/embedder", with_provider(HfEndpointProvider(), {}))
    assert imported.inputs["spec"]["repository"] == spec["repository"]
    assert imported.inputs["state"] == "paused"
    endpoints.delete("lab/embedder", paused)
    assert endpoints.read("lab/embedder", paused).id is None


def test_the_sdk_provider_host_runs_the_gateway_provider_over_grpc(lab_adc):
    """What ``pulumi up`` does with the provider, short of the engine: the SDK's provider host
    (``python -m pulumi.dynamic``) in its own process, spoken to over gRPC as the engine speaks
    to it — Configure with the stack's configuration (the password a secret), then Check,
    Create, Diff, Read and Delete with the serialized provider in the properties."""
    import asyncio

    import grpc
    from pulumi.runtime import rpc
    from pulumi.runtime.proto import provider_pb2 as pb
    from pulumi.runtime.proto import provider_pb2_grpc

    def struct(value: dict[str, Any]):
        return asyncio.run(rpc.serialize_properties(value, {}))

    host = subprocess.Popen([sys.executable, "-m", "pulumi.dynamic"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PULUMI_PROJECT": "adcml"})
    try:
        port = int(host.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            secret_password = {rpc._special_sig_key: rpc._special_secret_sig, "value": "nsroot"}
            stub.Configure(pb.ConfigureRequest(acceptSecrets=True, args=struct({
                "adcml:nsip": lab_adc.nsip, "adcml:nitroUser": "nsroot", "adcml:nitroPass": secret_password,
                "adcml:nitroProtocol": "http"})))
            urn = "urn:pulumi:lab::adcml::pulumi-python:dynamic/adcml:Gateway::llm-gateway"
            news = props(SPEC)
            checked = stub.Check(pb.CheckRequest(urn=urn, olds=struct({}), news=struct(news)))
            assert not checked.failures
            created = stub.Create(pb.CreateRequest(urn=urn, properties=checked.inputs))
            outs = rpc.deserialize_properties(created.properties)
            assert created.id == "llm" and "+ csvserver llm.cs" in outs["plan"]
            assert TOKEN not in json.dumps(outs)
            diff = pb.DiffRequest(id="llm", urn=urn, olds=created.properties, news=checked.inputs)
            assert stub.Diff(diff).changes == pb.DiffResponse.DIFF_NONE
            with client(lab_adc.nsip) as nitro:
                nitro.update("lbvserver", {"name": "llm.embed", "lbmethod": "ROUNDROBIN"})
            assert stub.Diff(diff).changes == pb.DiffResponse.DIFF_SOME
            read = stub.Read(pb.ReadRequest(id="llm", urn=urn, properties=created.properties))
            assert read.id == "llm"
            stub.Delete(pb.DeleteRequest(id="llm", urn=urn, properties=created.properties))
            with client(lab_adc.nsip) as nitro:
                assert gather(nitro, "llm") is None
    finally:
        host.terminate()
        _, errors = host.communicate(timeout=30)
    assert "nsroot" not in errors  # the host's log (stderr) never shows the password


def test_a_new_oidc_client_secret_is_written_though_the_adc_never_shows_it(adc, lab_adc):
    """The engine cannot see an OAuth client secret on the ADC, so a plan alone would never
    write a new one; the secret's fingerprint tells the provider, which writes it again."""
    oidc = {"issuer": "http://127.0.0.1:5556", "jwks_url": "http://127.0.0.1:5556/jwks",
            "token_endpoint": "http://127.0.0.1:5556/oauth2/token", "audience": "lab",
            "client_id": "gw-client", "client_secret": "client-secret-one"}
    spec = {**SPEC, "auth": {"oidc": oidc}}
    outs = adc.create(props(spec)).outs

    def live_secret() -> str:
        [action] = running_config(lab_adc.url)["authenticationoauthaction"]
        return action["clientsecret"]

    assert live_secret() == "client-secret-one"
    rotated = {**SPEC, "auth": {"oidc": {**oidc, "client_secret": "client-secret-two"}}}
    assert not adc.preview(props(rotated)).changed  # the plan cannot tell
    assert adc.diff("llm", outs, props(rotated)).changes is True  # the fingerprint can
    updated = adc.update("llm", outs, props(rotated)).outs
    assert live_secret() == "client-secret-two"
    assert "client-secret" not in json.dumps(updated)
    assert adc.diff("llm", updated, props(rotated)).changes is False
