"""The ADC in front of Hugging Face, end to end: a gateway converged by the engine onto a lab ADC
that carries traffic, callers with tokens from the lab IdP, a local pool of echo backends that
spills over to an Inference Endpoint of the lab stand-in (``LabHF``: a real ``adcml serve``
replica behind a TLS listener of its own, signed by its CA), real HTTP clients.

What a user would notice: the endpoint is reached by its host name with SNI and Host set to it
and its certificate verified; the caller's token never reaches it and the Hugging Face token
never reaches the caller; the caller's identity reaches every pool and cannot be forged;
requests spill over when the local pool is down or full and come back when it is not, with no
failed request; an endpoint scaled to zero is woken and waited for; a repeated embedding request
is answered from the ADC's cache, one with another body is not.
"""

from __future__ import annotations

import base64
import itertools
import json
import ssl
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest
from dataplane_kit import backends_fixture, dplab_fixture, free_port, wait_until  # noqa: F401
from hf_kit import online_stand_in

from adcml.gateway import converge, load_spec, resolve_endpoints
from adcml.gateway.members import MemberRef, set_member_state
from adcml.hf import Endpoints, HfConnection, converge_endpoint, endpoint_url
from adcml.lab.emulators.hf.models.traffic import fingerprint
from adcml.lab.emulators.hf.server import HFServer
from adcml.lab.services.idp import LabIdP

pytestmark = pytest.mark.slow

HF_TOKEN = "hf_Gateway-Service-Account-4c1d"
AUDIENCE = "adcml-lab"
VIP = "127.0.8.10"
THRESHOLD = 2
SENTENCES = itertools.count()
ENDPOINT = {"name": "embedder", "namespace": "lab", "repository": "sentence-transformers/all-MiniLM-L6-v2",
            "task": "sentence-embeddings",
            "compute": {"vendor": "aws", "region": "us-east-1", "accelerator": "cpu",
                        "instance_type": "intel-spr", "instance_size": "x1"},
            "scaling": {"min_replica": 0, "max_replica": 1, "scale_to_zero_timeout": 60}}


@pytest.fixture(scope="module")
def idp():
    with LabIdP() as provider:
        yield provider


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Iterator[HFServer]:
    with online_stand_in(tmp_path_factory.mktemp("lab-hf"), {"lab": HF_TOKEN}) as server:
        yield server


@pytest.fixture(scope="module")
def connection(stand_in) -> HfConnection:
    return HfConnection.from_env(token=HF_TOKEN, api_base=stand_in.api_base, hub_endpoint=stand_in.url,
                                 ca_file=str(stand_in.lab.ca_file))


@pytest.fixture(scope="module")
def endpoint(stand_in, connection) -> str:
    """The endpoint, created and running once for the module; its host name."""
    converge_endpoint(connection, ENDPOINT, "present", timeout=120)
    return stand_in.lab.find("lab", "embedder").host_name(stand_in.lab.domain)


@pytest.fixture
def gateway(dplab, backends, idp, stand_in, connection, endpoint):
    local = [backends.start("local-1", "127.0.8.21"), backends.start("local-2", "127.0.8.22")]
    port = free_port(VIP)
    data = {
        "name": "hy",
        "frontend": {"vip": VIP, "port": port, "protocol": "http"},
        "auth": {"oidc": {"issuer": idp.issuer, "jwks_url": idp.jwks_uri, "audience": AUDIENCE,
                          "token_endpoint": idp.discovery()["token_endpoint"], "skew_minutes": 1}},
        "pools": [
            {"name": "embed", "match": {"path_prefix": "/"}, "members": [b.member for b in local],
             "health": {"interval": 2, "timeout": 1, "retries": 1},
             "spillover": {"to": "embed-hf", "connections_over": THRESHOLD}},
            {"name": "embed-hf", "endpoint": {"name": "embedder", "namespace": "lab", "ca_certkey": "hf-ca",
                                              "scale_up_timeout": 90},
             "health": {"interval": 2, "timeout": 1, "retries": 1}, "backend_token": HF_TOKEN,
             "cache": {"ttl_seconds": 300, "paths": ["/info"], "post_paths": ["/embed", "/v1/embeddings"]}},
        ],
    }
    spec = load_spec(resolve_endpoints(data, lambda name, ns: endpoint_url(connection, name, ns)))
    with dplab.client() as client:
        # what an operator sets up once on the appliance: the CA the endpoints' certificates
        # chain to, and (here, with no name server) the address of the endpoint's host name
        pem = base64.b64encode(stand_in.lab.ca_file.read_bytes()).decode()
        client.add("systemfile", {"filename": "hf-ca.pem", "filelocation": "/nsconfig/ssl",
                                  "fileencoding": "BASE64", "filecontent": pem})
        client.add("sslcertkey", {"certkey": "hf-ca", "cert": "hf-ca.pem"})
        client.add("dnsaddrec", {"hostname": endpoint, "ipaddress": "127.0.0.1"})
        converge(client, spec)
    dplab.settle(timeout=15)
    http = httpx.Client(base_url=f"http://{VIP}:{port}", timeout=120)
    yield http, local, dplab
    http.close()


def bearer(idp, user: str = "ana", groups: tuple[str, ...] = ("ml-trusted",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {idp.token(user, groups=list(groups), audience=AUDIENCE)}"}


def set_members(dplab, local, *, enabled: bool) -> None:
    """The local pool's members in or out of service, as a rolling update takes them out."""
    with dplab.client() as client:
        for backend in local:
            set_member_state(client, MemberRef.of_pool("hy", "embed", backend.ip, backend.port),
                             enabled=enabled, graceful=False)


def hf_records(stand_in) -> list[dict]:
    return stand_in.lab.requests("lab", "embedder")["items"]


def embed(http, headers, text: str | None = None) -> httpx.Response:
    """An embedding request; a sentence of its own unless ``text`` is given (so that only the
    cache test meets the endpoint pool's cache)."""
    text = f"sentence {next(SENTENCES)}" if text is None else text
    return http.post("/v1/embeddings", json={"input": [text], "model": "m"}, headers=headers)


def test_identity_reaches_the_local_pool_and_cannot_be_forged(gateway, idp):
    http, local, _ = gateway
    forged = bearer(idp, "ana", ("ml-trusted", "ml-admins")) | {"X-Forwarded-User": "root",
                                                                 "X-Forwarded-Groups": "admins"}
    reply = embed(http, forged)
    assert reply.status_code == 200
    seen = reply.json()
    users = [v for k, v in seen["header_items"] if k.lower() == "x-forwarded-user"]
    groups = [v for k, v in seen["header_items"] if k.lower() == "x-forwarded-groups"]
    assert users == ["ana"] and len(groups) == 1
    assert set(groups[0].split(",")) == {"ml-trusted", "ml-admins"}


def test_the_endpoint_serves_when_the_local_pool_is_down_with_its_name_and_the_token_injected(
        gateway, idp, stand_in, endpoint):
    http, local, dplab = gateway
    assert embed(http, bearer(idp)).json()["name"].startswith("local-")
    before = len(hf_records(stand_in))
    set_members(dplab, local, enabled=False)
    caller = bearer(idp)
    reply = embed(http, caller)
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["data"][0]["embedding"]) == 384  # the model answered, not an echo
    record = hf_records(stand_in)[before]
    port = urlsplit(stand_in.lab.dataplane.url(stand_in.lab.find("lab", "embedder"))).port
    assert (record["sni"], record["host"]) == (endpoint, f"{endpoint}:{port}")
    assert record["authorization"] == fingerprint(f"Bearer {HF_TOKEN}")  # not the caller's token
    assert HF_TOKEN not in reply.text + json.dumps(dict(reply.headers))
    # the same endpoint refuses whoever comes without the token, as the service does
    url = stand_in.lab.dataplane.url(stand_in.lab.find("lab", "embedder"))
    trust = ssl.create_default_context(cafile=str(stand_in.lab.ca_file))
    direct = httpx.post(f"{url}/v1/embeddings", json={"input": ["x"]}, verify=trust)
    assert direct.status_code == 401
    set_members(dplab, local, enabled=True)
    wait_until(lambda: embed(http, bearer(idp)).json().get("name", "").startswith("local-"), timeout=15)


def test_a_repeated_embedding_request_is_answered_from_the_cache_and_another_body_is_not(
        gateway, idp, stand_in):
    http, local, dplab = gateway
    set_members(dplab, local, enabled=False)  # the endpoint pool serves
    try:
        before = len(hf_records(stand_in))
        first = embed(http, bearer(idp), "the same sentence")
        again = embed(http, bearer(idp, "ben"), "the same sentence")  # the answer is everyone's
        assert first.status_code == again.status_code == 200, first.text
        assert again.json() == first.json() and "Age" not in first.headers and "Age" in again.headers
        assert len(hf_records(stand_in)) - before == 1
        other = embed(http, bearer(idp), "another sentence")
        assert other.status_code == 200 and "Age" not in other.headers
        assert other.json()["data"][0]["embedding"] != first.json()["data"][0]["embedding"]
        assert len(hf_records(stand_in)) - before == 2
        assert HF_TOKEN not in again.text + json.dumps(dict(again.headers))
    finally:
        set_members(dplab, local, enabled=True)


def test_spillover_over_the_threshold_and_failback_with_no_failed_request(gateway, idp, stand_in):
    """THRESHOLD slow requests hold the local pool at its threshold; the embedding requests sent
    meanwhile (a bounded burst) go to the endpoint; once the slow ones are done, traffic is local
    again. Not one request fails."""
    http, local, _ = gateway
    headers = bearer(idp)
    before = len(hf_records(stand_in))
    with ThreadPoolExecutor(THRESHOLD + 4) as pool:
        holds = [pool.submit(http.get, "/slow?ms=4000", headers=headers) for _ in range(THRESHOLD)]
        time.sleep(0.5)  # the slow requests are at the members (they record them only when done)
        burst = list(pool.map(lambda _: embed(http, headers), range(12)))
        held = [h.result() for h in holds]
    assert [r.status_code for r in held + burst] == [200] * (THRESHOLD + 12)
    assert all(r.json()["name"].startswith("local-") for r in held)
    by_endpoint = [r for r in burst if "data" in r.json()]
    assert by_endpoint and len(hf_records(stand_in)) - before >= len(by_endpoint)
    assert all(len(r.json()["data"][0]["embedding"]) == 384 for r in by_endpoint)
    # under the threshold again: traffic comes back
    assert [embed(http, headers).json().get("name", "endpoint")[:6] for _ in range(4)] == ["local-"] * 4


def test_an_endpoint_scaled_to_zero_is_woken_and_waited_for(gateway, idp, stand_in, connection):
    http, local, dplab = gateway
    Endpoints(connection).scale_to_zero("lab", "embedder")
    wait_until(lambda: stand_in.lab.find("lab", "embedder").state.value == "scaledToZero", timeout=30)
    set_members(dplab, local, enabled=False)
    try:
        started = time.monotonic()
        reply = embed(http, bearer(idp))
        assert reply.status_code == 200, reply.text  # held by the service while it woke, not a 503
        assert len(reply.json()["data"][0]["embedding"]) == 384
        assert time.monotonic() - started < 120
    finally:
        set_members(dplab, local, enabled=True)
