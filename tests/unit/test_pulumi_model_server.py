"""``GpuModelServer`` (adcml.pulumi.model_server) under the Pulumi SDK's mocks, and its manifests
against the Kubernetes schema, offline.

The mocks record what the program sends the engine: each resource's type, parent, inputs (as
the engine gets them: secrets still wrapped) and ``additionalSecretOutputs``. They answer the way
the Kubernetes provider would where a test reads an answer: an auto-named Secret gets a name, a
Service a cluster IP (and a node port, and a load balancer address, by type).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes_validate
import pulumi
import pytest
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi_kit import mocked

from adcml.pulumi.model_server import GpuModelServer, GpuModelServerArgs, manifests

API_KEY = "k3y-that-must-stay-secret-7f9c"
CLUSTER_IP = "10.96.0.42"
NODE_PORT = 30080
LB_IP = "203.0.113.10"
COMPONENT = "adcml:kubernetes:GpuModelServer"
SECRET, DEPLOYMENT = "kubernetes:core/v1:Secret", "kubernetes:apps/v1:Deployment"
SERVICE, PDB = "kubernetes:core/v1:Service", "kubernetes:policy/v1:PodDisruptionBudget"
# The oldest Kubernetes the manifests need (the preStop sleep action), and the newest the package knows.
K8S_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]


# --- the mocks -------------------------------------------------------------------------------------------
@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]


class KubernetesMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[Registered] = []
        self.options: dict[tuple[str, str], tuple[str, list[str]]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(Registered(args.typ, args.name, args.inputs))
        state = dict(args.inputs)
        if args.typ == SECRET and "name" not in state["metadata"]:
            state["metadata"] = {**state["metadata"], "name": f"{args.name}-5f3a2b1c"}  # auto-naming
        if args.typ == SERVICE:
            state.update(_service_answer(state["spec"]))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []

    def of_type(self, typ: str) -> Registered:
        (found,) = [r for r in self.registered if r.type == typ]
        return found

    def parent(self, registered: Registered) -> str:
        return self.options[(registered.type, registered.name)][0]

    def additional_secret_outputs(self, registered: Registered) -> list[str]:
        return self.options[(registered.type, registered.name)][1]


def _service_answer(spec: dict[str, Any]) -> dict[str, Any]:
    """What the API server fills in: a cluster IP, node ports, a load balancer's address."""
    spec = {**spec, "clusterIP": CLUSTER_IP}
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec["ports"] = [{**port, "nodePort": NODE_PORT} for port in spec["ports"]]
    status = {"loadBalancer": {"ingress": [{"ip": LB_IP}]} if spec["type"] == "LoadBalancer" else {}}
    return {"spec": spec, "status": status}


class RecordingMonitor(MockMonitor):
    """The SDK's mock monitor, plus what ``Mocks.new_resource`` is not told: parent and
    ``additionalSecretOutputs``. Registrations run on several threads: matched by type and name."""

    def __init__(self, mocks: KubernetesMocks) -> None:
        super().__init__(mocks)
        self.recorder = mocks

    def RegisterResource(self, request):
        self.recorder.options[(request.type, request.name)] = (
            request.parent, list(request.additionalSecretOutputs))
        return super().RegisterResource(request)


@pytest.fixture
def mocks() -> Iterator[KubernetesMocks]:
    """Fresh mocks and a fresh root stack per test (pulumi_kit.mocked)."""
    recorder = KubernetesMocks()
    with mocked(recorder, RecordingMonitor(recorder)):
        yield recorder


@dataclass
class Deployed:
    """What a program run leaves: the resolved outputs a test reads, and the mocks' records."""

    mocks: KubernetesMocks
    outputs: dict[str, Any]

    def inputs(self, typ: str) -> dict[str, Any]:
        return self.mocks.of_type(typ).inputs

    @property
    def container(self) -> dict[str, Any]:
        (container,) = self.inputs(DEPLOYMENT)["spec"]["template"]["spec"]["containers"]
        return container


def deploy(mocks: KubernetesMocks, *, secret_key: bool = True, name: str = "embed",
           **overrides: Any) -> Deployed:
    """Run a program of one ``GpuModelServer`` under the mocks (``pulumi.runtime.test`` waits for
    every registration) and resolve its outputs."""
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        # Outputs belong to the program's event loop: the key is made in here.
        key = pulumi.Output.secret(API_KEY) if secret_key else API_KEY
        server = GpuModelServer(name, make_args(api_key=key, **overrides))

        async def resolve() -> None:
            outputs["urn"] = await server.urn.future()
            outputs["member"] = await server.member.future()
            outputs["service_name"] = await server.service_name.future()
            outputs["namespace"] = await server.namespace.future()
            outputs["string_data_is_secret"] = await server.secret.string_data.is_secret()
            outputs["member_is_secret"] = await server.member.is_secret()

        return resolve()

    program()
    return Deployed(mocks, outputs)


def make_args(**overrides: Any) -> GpuModelServerArgs:
    values: dict[str, Any] = {"image": "registry.example/adcml-serve:0.1.0",
                              "model": "sentence-transformers/all-MiniLM-L6-v2", "api_key": API_KEY}
    return GpuModelServerArgs(**{**values, **overrides})


def unwrap_secrets(value: Any) -> Any:
    """Inputs as the cluster would get them: the engine's secret envelopes opened."""
    if rpc.is_rpc_secret(value):
        return unwrap_secrets(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap_secrets(v) for v in value]
    return value


# --- the component ---------------------------------------------------------------------------------------
def test_creates_a_secret_deployment_service_and_pdb_parented_to_the_component(mocks):
    deployed = deploy(mocks)

    (component,) = [r for r in mocks.registered if r.type == COMPONENT]
    children = [r for r in mocks.registered if r.type != COMPONENT]
    assert component.name == "embed"
    assert sorted(r.type for r in children) == sorted([SECRET, DEPLOYMENT, SERVICE, PDB])
    assert {mocks.parent(r) for r in children} == {deployed.outputs["urn"]}


def test_the_pods_get_gpus_on_gpu_nodes(mocks):
    deployed = deploy(mocks, gpus=2)

    pod = deployed.inputs(DEPLOYMENT)["spec"]["template"]["spec"]
    assert deployed.container["resources"]["limits"]["nvidia.com/gpu"] == 2
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]


def test_a_cpu_only_server_asks_for_no_gpu_and_no_gpu_node(mocks):
    deployed = deploy(mocks, gpus=0)

    pod = deployed.inputs(DEPLOYMENT)["spec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in deployed.container["resources"]["limits"]
    assert pod["nodeSelector"] == {} and pod["tolerations"] == []


def test_the_container_runs_adcml_serve_on_all_addresses_at_the_port(mocks):
    deployed = deploy(mocks, port=9000, extra_args=["--max-batch-size", "64"])

    assert deployed.container["command"] == [
        "adcml", "serve", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--host", "0.0.0.0",
        "--port", "9000", "--max-batch-size", "64"]
    assert deployed.container["ports"][0]["containerPort"] == 9000


def test_every_probe_asks_health_on_the_servers_port(mocks):
    deployed = deploy(mocks, port=9000, startup_timeout=1800)

    container = deployed.container
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] == "/health"
        assert port_names[container[probe]["httpGet"]["port"]] == 9000
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800  # a big model may load
    liveness = container["livenessProbe"]
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 60


def test_the_api_key_reaches_the_pods_only_through_the_secret(mocks):
    deployed = deploy(mocks)

    secret_name = f"{mocks.of_type(SECRET).name}-5f3a2b1c"  # the name the provider gave the Secret
    assert deployed.container["env"] == [{"name": "ADCML_SERVE_API_KEY", "valueFrom": {
        "secretKeyRef": {"name": secret_name, "key": "api-key"}}}]
    for typ in (DEPLOYMENT, SERVICE, PDB):
        assert API_KEY not in json.dumps(deployed.inputs(typ))
    assert unwrap_secrets(deployed.inputs(SECRET))["stringData"] == {"api-key": API_KEY}


@pytest.mark.parametrize("secret_key", [True, False], ids=["secret-key", "plain-key"])
def test_the_api_key_stays_secret_in_pulumis_state(mocks, secret_key):
    deployed = deploy(mocks, secret_key=secret_key)

    secret = mocks.of_type(SECRET)
    assert rpc.is_rpc_secret(secret.inputs["stringData"])  # sent to the engine as a secret
    assert deployed.outputs["string_data_is_secret"]  # and the output the program reads is one
    assert {"stringData", "data"} <= set(mocks.additional_secret_outputs(secret))  # what the provider answers


@pytest.mark.parametrize(("replicas", "min_ready"), [(1, 0), (1, 1), (2, 1), (3, 1), (3, 3), (5, 2)])
def test_rollouts_and_drains_never_leave_fewer_than_min_ready_pods(mocks, replicas, min_ready):
    deployed = deploy(mocks, replicas=replicas, min_ready=min_ready)

    spec = deployed.inputs(DEPLOYMENT)["spec"]
    rolling = spec["strategy"]["rollingUpdate"]
    assert spec["replicas"] == replicas and spec["strategy"]["type"] == "RollingUpdate"
    # The controller keeps replicas - maxUnavailable pods available throughout a rollout.
    assert replicas - rolling["maxUnavailable"] == min_ready
    assert rolling["maxUnavailable"] + rolling["maxSurge"] >= 1  # and the rollout can move
    pdb = deployed.inputs(PDB)["spec"]
    assert pdb["minAvailable"] == min_ready
    assert pdb["selector"] == spec["selector"]


def test_the_service_and_the_budget_select_the_deployments_pods_by_stable_labels(mocks):
    deployed = deploy(mocks, labels={"team": "search", "version": "2"})

    deployment = deployed.inputs(DEPLOYMENT)["spec"]
    selector = deployment["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "adcml-model-server", "app.kubernetes.io/instance": "embed"}
    pod_labels = deployment["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert pod_labels["team"] == "search" and pod_labels["app.kubernetes.io/managed-by"] == "pulumi"
    service = deployed.inputs(SERVICE)["spec"]
    assert service["selector"] == selector
    assert service["ports"][0]["name"] == "http"


def test_member_is_the_services_cluster_ip_and_port(mocks):
    deployed = deploy(mocks, port=8081, namespace="inference")

    assert deployed.outputs["member"] == {"host": CLUSTER_IP, "port": 8081}
    assert deployed.outputs["service_name"] == "embed"
    assert deployed.outputs["namespace"] == "inference"
    assert not deployed.outputs["member_is_secret"]  # a gateway spec may show it


def test_member_of_a_load_balancer_is_its_address(mocks):
    deployed = deploy(mocks, service_type="LoadBalancer")

    assert deployed.outputs["member"] == {"host": LB_IP, "port": 8080}


def test_member_of_a_node_port_is_the_node_address_and_the_allocated_port(mocks):
    deployed = deploy(mocks, service_type="NodePort", node_address="192.0.2.7")

    assert deployed.outputs["member"] == {"host": "192.0.2.7", "port": NODE_PORT}


def test_the_component_deploys_what_manifests_describes(mocks):
    """So the schema checks below hold for what is deployed."""
    args = {"replicas": 3, "min_ready": 2, "labels": {"team": "search"}}
    deployed = deploy(mocks, **args)

    expected = {m["kind"]: m for m in manifests("embed", make_args(**args), api_key=API_KEY)}
    sent = {typ: unwrap_secrets(deployed.inputs(typ)) for typ in (SECRET, DEPLOYMENT, SERVICE, PDB)}
    secret_name = f"{mocks.of_type(SECRET).name}-5f3a2b1c"
    assert sent[DEPLOYMENT] == _with_secret_name(expected["Deployment"], secret_name)
    assert sent[SERVICE] == expected["Service"]
    assert sent[PDB] == expected["PodDisruptionBudget"]
    named_secret = {**sent[SECRET], "metadata": {**sent[SECRET]["metadata"], "name": "embed-api-key"}}
    assert named_secret == expected["Secret"]
    for manifest in sent.values():
        kubernetes_validate.validate(named_secret if manifest is sent[SECRET] else manifest,
                                     K8S_VERSIONS[0], strict=True)


def _with_secret_name(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(deployment))
    copy["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"] = name
    return copy


# --- the manifests against the Kubernetes schema ---------------------------------------------------------
VARIANTS = {
    "defaults": {},
    "cpu-only": {"gpus": 0, "cpu": "500m", "memory": "2Gi"},
    "node-port": {"service_type": "NodePort", "node_address": "192.0.2.7", "replicas": 1, "min_ready": 1},
    "load-balancer": {"service_type": "LoadBalancer", "gpus": 4, "labels": {"team": "search"},
                      "extra_args": ["--dtype", "bfloat16"], "namespace": "inference"},
}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_manifest_validates_against_the_kubernetes_schema(version, variant):
    documents = manifests("embed", make_args(**VARIANTS[variant]))

    assert [(m["apiVersion"], m["kind"]) for m in documents] == [
        ("v1", "Secret"), ("apps/v1", "Deployment"), ("v1", "Service"), ("policy/v1", "PodDisruptionBudget")]
    for manifest in documents:
        kubernetes_validate.validate(manifest, version, strict=True)


@pytest.mark.parametrize(("path", "value"), [
    (("spec", "replicas"), "two"),  # a string where an integer is required
    (("spec", "template", "spec", "containers", 0, "gpus"), 1),  # a field Kubernetes does not have
    (("spec", "strategy", "type"), ["RollingUpdate"]),
])
def test_a_broken_manifest_fails_the_schema_check(path, value):
    deployment = manifests("embed", make_args())[1]
    target = deployment
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


# --- bad arguments ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("overrides", "field_name"), [
    ({"min_ready": 3, "replicas": 2}, "min_ready"),
    ({"min_ready": -1}, "min_ready"),
    ({"replicas": 1.5}, "replicas"),
    ({"gpus": -1}, "gpus"),
    ({"gpus": True}, "gpus"),
    ({"service_type": "ExternalName"}, "service_type"),
    ({"image": ""}, "image"),
    ({"image": "   "}, "image"),
    ({"model": ""}, "model"),
    ({"api_key": ""}, "api_key"),
    ({"api_key": None}, "api_key"),
    ({"port": 0}, "port"),
    ({"namespace": "Inference"}, "namespace"),
    ({"memory": "8 GB"}, "memory"),
    ({"service_type": "NodePort"}, "node_address"),
    ({"service_type": "NodePort", "node_address": "node-1.example"}, "node_address"),
    ({"node_address": "192.0.2.7"}, "node_address"),
    ({"extra_args": ["--api-key", API_KEY]}, "extra_args"),
    ({"extra_args": ["--port=9000"]}, "extra_args"),
    ({"extra_args": "--dtype bfloat16"}, "extra_args"),
    ({"tolerations": ["nvidia.com/gpu"]}, "tolerations"),
    ({"tolerations": [{"operator": "Equal", "value": "x"}]}, "tolerations"),
    ({"labels": {"app.kubernetes.io/instance": "other"}}, "labels"),
    ({"startup_timeout": 0}, "startup_timeout"),
])
def test_bad_args_name_the_field(overrides, field_name):
    with pytest.raises(ValueError) as caught:
        make_args(**overrides)

    assert str(caught.value).startswith(f"{field_name}:")
    assert API_KEY not in str(caught.value)


def test_a_name_that_is_no_service_name_is_refused():
    with pytest.raises(ValueError, match=r"^name:"):
        manifests("Embed_Server", make_args())


def test_the_api_key_is_not_in_the_args_repr():
    assert API_KEY not in repr(make_args())


def test_gpu_placement_defaults_follow_the_gpu_count_and_can_be_replaced():
    assert make_args().node_selector == {"nvidia.com/gpu.present": "true"}
    assert make_args(gpus=0).tolerations == []
    custom = make_args(node_selector={"pool": "a100"}, tolerations=[])
    assert custom.node_selector == {"pool": "a100"} and custom.tolerations == []
