"""adcml.hf and ``adcml hf`` against the lab's Inference Endpoints stand-in: the lifecycle from
the command line as a user runs it (this venv's huggingface_hub 0.x), the service's refusals as
messages that say what to fix, and the same library under a current huggingface_hub (2.x) in a
venv of its own. The token appears in no output.

One stand-in on a thread serves the module; each replica start loads a model (about 5 s), so
few endpoints are made.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from hf_kit import ONLINE, current_client_python, serve_stand_in
from process_kit import adcml

from adcml.lab.emulators.hf.server import HFServer

pytestmark = pytest.mark.slow

TOKEN = "hf_Lab-Token-91c2e7d4"
OTHER_TOKEN = "hf_Other-Token-3b8a60"
SECRET = "Api-Secret-Value-7f21"
SRC = Path(__file__).resolve().parents[2] / "src"
SPEC = {
    "name": "embedder",
    "repository": "sentence-transformers/all-MiniLM-L6-v2",
    "task": "sentence-embeddings",
    "compute": {"vendor": "aws", "region": "us-east-1", "accelerator": "cpu",
                "instance_type": "intel-spr", "instance_size": "x1"},
    "scaling": {"min_replica": 0, "max_replica": 1, "scale_to_zero_timeout": 30},
    "secrets": {"API_SECRET": SECRET},
}


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory) -> Iterator[HFServer]:
    with serve_stand_in(tmp_path_factory.mktemp("lab-hf"), {"lab": TOKEN, "other": OTHER_TOKEN}) as server:
        yield server


def environment(server: HFServer, token: str = TOKEN) -> dict[str, str]:
    """The connection as a user sets it: all from the environment, the namespace from whoami."""
    return {"HF_TOKEN": token, "ADCML_HF_API_BASE": server.api_base, "HF_ENDPOINT": server.url,
            "ADCML_HF_CA_FILE": str(server.lab.ca_file)} | ONLINE


def write_spec(directory: Path, **changes) -> Path:
    path = directory / "embedder.yml"
    path.write_text(yaml.safe_dump(SPEC | changes))
    return path


def run(server: HFServer, *args: str, token: str = TOKEN) -> subprocess.CompletedProcess:
    result = adcml("hf", *args, env=environment(server, token), timeout=240)
    for shown in (result.stdout, result.stderr):
        assert TOKEN not in shown and OTHER_TOKEN not in shown and SECRET not in shown
    return result


def embed(server: HFServer, url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    trust = ssl.create_default_context(cafile=str(server.lab.ca_file))
    return httpx.post(f"{url}/embed", json={"inputs": "hello"}, headers=headers, verify=trust,
                      timeout=60).status_code


def test_the_lifecycle_from_the_command_line(stand_in: HFServer, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    planned = run(stand_in, "plan", str(spec))
    assert planned.returncode == 2, planned.stderr
    assert "absent → running" in planned.stdout and "  create" in planned.stdout
    assert "API_SECRET" in planned.stdout  # the secret by name

    applied = run(stand_in, "apply", str(spec))
    assert applied.returncode == 0, applied.stderr
    assert "lab/embedder: initializing" in applied.stderr and "running at https://" in applied.stderr
    status = json.loads(run(stand_in, "status", "embedder").stdout)
    assert (status["namespace"], status["state"]) == ("lab", "running")
    assert embed(stand_in, status["url"], TOKEN) == 200
    assert embed(stand_in, status["url"], None) == 401
    assert embed(stand_in, status["url"], OTHER_TOKEN) == 403

    again = run(stand_in, "plan", str(spec))
    assert again.returncode == 0 and "No changes" in again.stdout

    scaled = write_spec(tmp_path, scaling=SPEC["scaling"] | {"max_replica": 2})
    updated = run(stand_in, "apply", str(scaled))
    assert updated.returncode == 0, updated.stderr
    assert "compute.scaling.maxReplica: 1 → 2" in updated.stdout
    assert run(stand_in, "plan", str(scaled)).returncode == 0

    paused = run(stand_in, "apply", str(scaled), "--state", "paused")
    assert "  pause" in paused.stdout and "state: paused" in paused.stdout
    assert embed(stand_in, status["url"], TOKEN) == 503
    assert run(stand_in, "plan", str(scaled), "--state", "paused").returncode == 0

    to_zero = run(stand_in, "apply", str(scaled), "--state", "scaled_to_zero")
    assert to_zero.returncode == 0, to_zero.stderr
    steps = [line for line in to_zero.stdout.splitlines() if line.startswith("  ") and line[2] != " "]
    assert steps == ["  resume", "  wait until running", "  scale to zero"]
    assert "state: scaledToZero" in to_zero.stdout
    assert "No changes" in run(stand_in, "apply", str(scaled)).stdout  # present: a request wakes it

    gone = run(stand_in, "apply", str(scaled), "--state", "absent")
    assert gone.returncode == 0 and "  delete" in gone.stdout
    missing = run(stand_in, "status", "embedder")
    assert missing.returncode == 1 and "no Inference Endpoint 'embedder'" in missing.stderr
    assert run(stand_in, "list").stdout == ""


@pytest.mark.parametrize(("changes", "token", "words"), [
    ({"namespace": "other"}, TOKEN, ["HTTP 403", "Hint: the token may not manage endpoints"]),
    ({}, "hf_not-a-token-at-all", ["HTTP 401", "Hint: the token is missing or not valid"]),
    ({"compute": SPEC["compute"] | {"instance_size": "x3"}}, TOKEN, ["HTTP 400", "x3", "adcml hf hardware"]),
    ({"scaling": {"min_replica": 2, "max_replica": 1}}, TOKEN,
     ["invalid Inference Endpoint spec", "scaling: min_replica (2) is above max_replica (1)"]),
])
def test_refusals_say_what_to_fix_and_change_nothing(stand_in: HFServer, tmp_path: Path, changes: dict,
                                                     token: str, words: list[str]) -> None:
    result = run(stand_in, "apply", str(write_spec(tmp_path, **changes)), token=token)
    assert result.returncode == 1
    for word in words:
        assert word in result.stderr, result.stderr
    assert run(stand_in, "list").stdout == ""


def test_an_api_base_that_does_not_answer(stand_in: HFServer, tmp_path: Path) -> None:
    result = adcml("hf", "plan", str(write_spec(tmp_path, namespace="lab")),
                   env=environment(stand_in) | {"ADCML_HF_API_BASE": "http://127.0.0.1:1/v2"})
    assert result.returncode == 1
    assert "cannot reach http://127.0.0.1:1/v2" in result.stderr and "ADCML_HF_API_BASE" in result.stderr



def gateway_spec(directory: Path, **endpoint) -> Path:
    path = directory / "gateway.yml"
    path.write_text(yaml.safe_dump({
        "name": "gw", "frontend": {"vip": "127.0.0.10", "port": 8080, "protocol": "http"},
        "pools": [{"name": "hf", "match": {"path_prefix": "/embed"},
                   "endpoint": {"ca_certkey": "hf-ca"} | endpoint, "backend_token": TOKEN}]}))
    return path


def test_a_gateway_names_an_endpoint_and_the_command_looks_its_url_up(stand_in: HFServer,
                                                                      tmp_path: Path) -> None:
    """``adcml gateway render`` with an endpoint given by name: its URL from the service (the
    namespace from whoami when none is given), then compile offline; a name the service does
    not know is an error at the field, before anything else."""
    assert run(stand_in, "apply", str(write_spec(tmp_path, name="gw-embedder"))).returncode == 0
    try:
        url = json.loads(run(stand_in, "status", "gw-embedder").stdout)["url"]
        for endpoint in ({"name": "gw-embedder"}, {"name": "gw-embedder", "namespace": "lab"}):
            rendered = adcml("gateway", "render", str(gateway_spec(tmp_path, **endpoint)),
                             env=environment(stand_in))
            assert rendered.returncode == 0, rendered.stderr
            assert TOKEN not in rendered.stdout + rendered.stderr
            objects = json.loads(rendered.stdout)
            server = next(o for o in objects if o["resource"] == "server")["attributes"]
            member = next(o for o in objects if o["resource"] == "servicegroup_servicegroupmember_binding")
            # the service's URL names the host; the stand-in's is its address, and it names the host apart
            assert server["domain"] == stand_in.lab.find("lab", "gw-embedder").host_name(stand_in.lab.domain)
            assert member["attributes"]["port"] == int(url.rsplit(":", 1)[1])
        missing = adcml("gateway", "render", str(gateway_spec(tmp_path, name="nowhere")),
                        env=environment(stand_in))
        assert missing.returncode == 1
        assert "pools[0].endpoint.name: there is no Inference Endpoint lab/nowhere" in missing.stderr
        refused = adcml("gateway", "render", str(gateway_spec(tmp_path, name="gw-embedder")),
                        env=environment(stand_in, token="hf_not-a-token"))
        assert refused.returncode == 1 and "pools[0].endpoint.name: cannot look it up" in refused.stderr
    finally:
        run(stand_in, "delete", "gw-embedder")


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_offline_mode_is_named_not_taken_for_an_unreachable_address(stand_in: HFServer, tmp_path: Path,
                                                                    variable: str) -> None:
    """A controller that also serves models may have huggingface_hub's offline mode on; the
    client then sends nothing, and the user is told which setting to change."""
    env = environment(stand_in) | {"HF_HUB_OFFLINE": "", "TRANSFORMERS_OFFLINE": ""} | {variable: "1"}
    result = adcml("hf", "plan", str(write_spec(tmp_path)), env=env)
    assert result.returncode == 1
    assert "offline mode" in result.stderr and "HF_HUB_OFFLINE" in result.stderr, result.stderr
    assert "cannot reach" not in result.stderr and "ADCML_HF_API_BASE" not in result.stderr, result.stderr


CURRENT_CLIENT_SCRIPT = textwrap.dedent("""
    import json, sys
    import huggingface_hub
    from adcml.hf import EndpointSpecError, HfConnection, converge_endpoint

    spec = json.loads(sys.argv[1])
    connection = HfConnection.from_env()
    seen = {"version": huggingface_hub.__version__}
    try:
        converge_endpoint(connection, spec | {"compute": spec["compute"] | {"instance_size": "x3"}})
    except EndpointSpecError as exc:
        seen["refused"] = exc.problems
    created = converge_endpoint(connection, spec)
    seen["created"] = [created.changed, created.endpoint["state"], created.endpoint["type"]]
    seen["again"] = converge_endpoint(connection, spec).changed
    seen["paused"] = converge_endpoint(connection, spec, "paused").endpoint["state"]
    seen["absent"] = converge_endpoint(connection, {"name": spec["name"]}, "absent").endpoint
    print(json.dumps(seen))
""")


def test_the_library_with_a_current_huggingface_hub(stand_in: HFServer) -> None:
    python = current_client_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "ADCML_"))}
    env |= environment(stand_in) | {"PYTHONPATH": str(SRC)}
    spec = SPEC | {"name": "current-client", "type": "protected"}
    result = subprocess.run([str(python), "-c", CURRENT_CLIENT_SCRIPT, json.dumps(spec)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert TOKEN not in result.stdout + result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert int(seen["version"].split(".")[0]) >= 1
    # the hardware listing (1.x and later) refuses the size before anything is written
    assert seen["refused"][0][0] == "compute.instance_size" and "x1, x2, x4, x8" in seen["refused"][0][1]
    assert seen["created"] == [True, "running", "authenticated"]
    assert seen["again"] is False
    assert seen["paused"] == "paused" and seen["absent"] is None
