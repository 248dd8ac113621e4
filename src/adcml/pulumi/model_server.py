"""``GpuModelServer``: the model server (``adcml serve``, an embeddings server with the API of
text-embeddings-inference) on Kubernetes GPU nodes, as one Pulumi component, and the
``member`` an ADC pool uses to reach it.

    server = GpuModelServer("embed", GpuModelServerArgs(
        image="registry.example/adcml-serve:0.1.0", model="sentence-transformers/all-MiniLM-L6-v2",
        api_key=config.require_secret("model_api_key"), replicas=3, min_ready=2))
    InferenceGateway("llm", spec, members={"embed": [server.member]})

Children, all plain Kubernetes objects (``manifests`` builds them; the component and the tests
read the same dicts, so what is validated is what is deployed):

- a ``v1 Secret`` holding the API key (``stringData["api-key"]``), secret in Pulumi's state;
- an ``apps/v1 Deployment`` of ``replicas`` pods running ``adcml serve``;
- a ``v1 Service`` (port ``http``) in front of the pods;
- a ``policy/v1 PodDisruptionBudget`` keeping ``min_ready`` pods through node drains.

Choices, and why:

- **The API key** reaches the server as ``ADCML_SERVE_API_KEY`` through ``secretKeyRef``: never in
  the pod spec or on the command line, where ``kubectl get`` and ``ps`` would show it. The
  component leaves the Secret's name to Pulumi's auto-naming: pulumi-kubernetes replaces (never
  edits) a changed Secret, so a new key gives a new Secret name, a changed pod template, and a
  rolling update onto the new key — an edited Secret would not reach running pods at all.
  ``manifests`` names it ``<name>-api-key``, as plain manifests must.
- **GPUs**: ``nvidia.com/gpu`` in ``limits`` only (Kubernetes requires requests == limits for an
  extended resource and fills the request in), the node selector that NVIDIA's GPU feature
  discovery sets and a toleration of the ``nvidia.com/gpu`` taint. With ``gpus=0`` (CPU only) both
  default to nothing. ``--device`` stays ``auto``: CUDA when the pod has a GPU.
- **Probes**, all ``GET /health`` (no API key; 503 while the model loads, 200 once it serves,
  503 again while it drains or after a failed load): a startup probe that allows
  ``startup_timeout`` seconds for the model to load, readiness that takes a draining pod out of
  the Service within seconds, liveness that restarts a pod only after two minutes of failures.
- **Never below ``min_ready`` ready pods**: the rolling update has ``maxUnavailable = replicas -
  min_ready`` and ``maxSurge = 1`` (so ``min_ready == replicas`` still rolls, one extra pod at a
  time — which needs a spare GPU), and the PodDisruptionBudget has ``minAvailable = min_ready``
  (with ``unhealthyPodEvictionPolicy: AlwaysAllow``, so a pod that never got ready cannot block a
  node drain).
- **Termination**: a ``preStop`` sleep lets the Service's endpoints drop the pod before SIGTERM
  closes the server's socket; the grace period covers that sleep and the server's 30 s drain. The
  sleep action needs Kubernetes 1.30 or later.
- **``member``** is where the ADC sends requests, ``{"host": ..., "port": ...}``, one gateway pool
  member: the Service's cluster IP for ``ClusterIP`` (only when the ADC routes to the cluster's
  service network, e.g. a NetScaler CPX or an ADC with routes to it), the load balancer's address
  for ``LoadBalancer`` (the ADC must reach it; a hostname, as AWS gives, is not an IP and the
  gateway spec refuses it), and ``node_address`` with the allocated node port for ``NodePort``
  (any node forwards a node port, but one address is one point of failure: prefer a load balancer
  or a virtual IP for it).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from adcml.serve.settings import API_KEY_ENV

APP_NAME = "adcml-model-server"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_NODE_SELECTOR = {"nvidia.com/gpu.present": "true"}
GPU_TOLERATIONS = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
API_KEY_FIELD = "api-key"
CONTAINER = "model-server"
PORT_NAME = "http"
HEALTH_PATH = "/health"

MIN_READY_SECONDS = 10
STARTUP_PERIOD_SECONDS = 10
PRE_STOP_SLEEP_SECONDS = 5
SERVER_DRAIN_SECONDS = 30  # adcml serve --drain-timeout's default
# Pulling a CUDA image onto a fresh node takes minutes on top of loading the model.
ROLLOUT_MARGIN_SECONDS = 300

_STABLE_LABELS = ("app.kubernetes.io/name", "app.kubernetes.io/instance")
_RESERVED_LABELS = (*_STABLE_LABELS, "app.kubernetes.io/managed-by")
# Options the component sets itself; --api-key would put the key on the command line.
_MANAGED_OPTIONS = ("--model", "--host", "--port", "--api-key")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


@dataclass(frozen=True)
class GpuModelServerArgs:
    """What to run and where. ``node_selector`` and ``tolerations`` default to the GPU nodes'
    when ``gpus`` > 0 and to none when it is 0."""

    image: str
    """A container image holding adcml with its ``serve`` extra."""
    model: str
    """A model directory in the image, or a Hugging Face hub id."""
    api_key: pulumi.Input[str] = field(repr=False)
    """What clients send as ``Authorization: Bearer``; a secret (``pulumi config set --secret``)."""
    namespace: str = "default"
    replicas: int = 2
    min_ready: int = 1
    """Ready pods that rolling updates and voluntary disruptions (node drains) always leave."""
    gpus: int = 1
    """``nvidia.com/gpu`` per pod; 0 runs on CPU."""
    port: int = 8080
    node_selector: Mapping[str, str] | None = None
    tolerations: Sequence[Mapping[str, Any]] | None = None
    cpu: str = "2"
    memory: str = "8Gi"
    """Requested, and the memory limit too: a pod that outgrows it is killed, not its node."""
    service_type: str = "ClusterIP"
    node_address: str | None = None
    """NodePort only, and required there: the node IP address the ADC sends requests to."""
    extra_args: Sequence[str] = ()
    """More ``adcml serve`` options, e.g. ``["--max-batch-size", "64"]``."""
    labels: Mapping[str, str] = field(default_factory=dict)
    startup_timeout: int = 900
    """Seconds a pod may take to load and warm up the model before it is restarted."""

    def __post_init__(self) -> None:
        gpu_nodes = _whole(self.gpus) and self.gpus > 0
        if self.node_selector is None:
            object.__setattr__(self, "node_selector", GPU_NODE_SELECTOR if gpu_nodes else {})
        if self.tolerations is None:
            object.__setattr__(self, "tolerations", GPU_TOLERATIONS if gpu_nodes else [])
        # Copies, so that changing the caller's dicts and lists later changes nothing here.
        for name in ("node_selector", "labels"):
            object.__setattr__(self, name, dict(_mapping(name, getattr(self, name))))
        object.__setattr__(self, "tolerations", [dict(_mapping("tolerations", t))
                                                 for t in _sequence("tolerations", self.tolerations)])
        object.__setattr__(self, "extra_args", list(_sequence("extra_args", self.extra_args)))
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is wrong."""
        _check_text("image", self.image, "a container image with adcml[serve], e.g. registry/adcml:0.1.0")
        if any(c.isspace() for c in self.image):
            raise ValueError(f"image: {self.image!r} has white space; give one image reference")
        _check_text("model", self.model, "a model directory in the image or a hub id")
        if self.api_key is None or isinstance(self.api_key, str) and not self.api_key.strip():
            raise ValueError("api_key: must not be empty (pulumi config set --secret <key> ...)")
        if not isinstance(self.namespace, str) or not _DNS_LABEL.match(self.namespace):
            raise ValueError(f"namespace: {self.namespace!r} is not a DNS label (lower case, digits, '-')")
        self._validate_counts()
        if not _whole(self.port) or not 1 <= self.port <= 65535:
            raise ValueError(f"port: {self.port!r} is not a TCP port (1-65535)")
        for name in ("cpu", "memory"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _QUANTITY.match(value):
                raise ValueError(f"{name}: {value!r} is not a Kubernetes quantity such as '2', '500m', '8Gi'")
        self._validate_service()
        self._validate_maps()
        self._validate_extra_args()

    def _validate_counts(self) -> None:
        for name in ("replicas", "min_ready", "gpus"):
            value = getattr(self, name)
            if not _whole(value) or value < 0:
                raise ValueError(f"{name}: must be a whole number of at least 0, got {value!r}")
        if self.min_ready > self.replicas:
            raise ValueError(f"min_ready: {self.min_ready} is more than replicas ({self.replicas}); "
                             "the pool can never have more ready pods than it has")
        if not _whole(self.startup_timeout) or self.startup_timeout < STARTUP_PERIOD_SECONDS:
            raise ValueError(f"startup_timeout: must be a whole number of seconds of at least "
                             f"{STARTUP_PERIOD_SECONDS}, got {self.startup_timeout!r}")

    def _validate_service(self) -> None:
        if self.service_type not in SERVICE_TYPES:
            raise ValueError(f"service_type: {self.service_type!r} is not one of {', '.join(SERVICE_TYPES)}")
        if self.service_type == "NodePort":
            try:
                ipaddress.ip_address(self.node_address or "")
            except ValueError:
                raise ValueError(f"node_address: NodePort needs the IP address of a node the ADC "
                                 f"reaches, got {self.node_address!r}") from None
        elif self.node_address is not None:
            raise ValueError(f"node_address: only for service_type NodePort, not {self.service_type}")

    def _validate_maps(self) -> None:
        for name in ("node_selector", "labels"):
            for key, value in getattr(self, name).items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise ValueError(f"{name}: keys and values must be strings, got {key!r}: {value!r}")
        reserved = sorted(set(self.labels) & set(_RESERVED_LABELS))
        if reserved:
            raise ValueError(f"labels: {', '.join(reserved)} is set by the component (the selector uses it)")
        for toleration in self.tolerations:
            if not toleration.get("key") and toleration.get("operator") != "Exists":
                raise ValueError(f"tolerations: {toleration!r} has no key; only operator Exists may omit it")

    def _validate_extra_args(self) -> None:
        for arg in self.extra_args:
            if not isinstance(arg, str):
                raise ValueError(f"extra_args: {arg!r} is not a string")
            option = arg.split("=", 1)[0]
            if option in _MANAGED_OPTIONS:
                where = "the Secret" if option == "--api-key" else "its own field"
                raise ValueError(f"extra_args: {option} is set by the component from {where}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name}: expected a mapping, got {value!r}")
    return value


def _sequence(name: str, value: Any) -> Sequence[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"{name}: expected a list, got {value!r}")
    return value


def _check_text(name: str, value: Any, hint: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: must not be empty; give {hint}")


# --- manifests -------------------------------------------------------------------------------------------
def manifests(name: str, args: GpuModelServerArgs, api_key: str = "<api key>") -> list[dict[str, Any]]:
    """The Secret, Deployment, Service and PodDisruptionBudget of server ``name``, as plain
    Kubernetes manifests (``kubectl apply -f`` takes them as they are)."""
    check_name(name)
    secret = secret_manifest(name, args, api_key, secret_name=api_key_secret_name(name))
    return [secret, deployment_manifest(name, args, secret["metadata"]["name"]),
            service_manifest(name, args), pod_disruption_budget_manifest(name, args)]


def check_name(name: str) -> None:
    if not isinstance(name, str) or not _DNS_LABEL.match(name):
        raise ValueError(f"name: {name!r} is not a DNS label (a Service name: lower case letters, digits "
                         "and '-', starting with a letter, at most 63 characters)")


def api_key_secret_name(name: str) -> str:
    return f"{name}-api-key"


def secret_manifest(name: str, args: GpuModelServerArgs, api_key: pulumi.Input[str],
                    secret_name: str | None) -> dict[str, Any]:
    """The API key's Secret; ``secret_name`` None leaves the name to Pulumi's auto-naming."""
    metadata = _metadata(name, args)
    if secret_name is None:
        del metadata["name"]
    else:
        metadata["name"] = secret_name
    return {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": "Opaque",
            "stringData": {API_KEY_FIELD: api_key}}


def deployment_manifest(name: str, args: GpuModelServerArgs,
                        secret_name: pulumi.Input[str]) -> dict[str, Any]:
    progress_deadline = args.startup_timeout + ROLLOUT_MARGIN_SECONDS
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(name, args),
        "spec": {
            "replicas": args.replicas,
            "selector": {"matchLabels": selector_labels(name)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling_update(args)},
            "minReadySeconds": MIN_READY_SECONDS,
            "progressDeadlineSeconds": progress_deadline,
            "template": {"metadata": {"labels": pod_labels(name, args)},
                         "spec": _pod_spec(name, args, secret_name)},
        },
    }


def rolling_update(args: GpuModelServerArgs) -> dict[str, int]:
    """Kubernetes keeps ``replicas - maxUnavailable`` pods available during a rollout: ``min_ready``."""
    return {"maxUnavailable": args.replicas - args.min_ready, "maxSurge": 1}


def _pod_spec(name: str, args: GpuModelServerArgs, secret_name: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "containers": [_container(args, secret_name)],
        "nodeSelector": dict(args.node_selector),
        "tolerations": [dict(t) for t in args.tolerations],
        # Spread over nodes when it can: one node going away then takes the fewest pods with it.
        "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                       "whenUnsatisfiable": "ScheduleAnyway",
                                       "labelSelector": {"matchLabels": selector_labels(name)}}],
        "terminationGracePeriodSeconds": PRE_STOP_SLEEP_SECONDS + SERVER_DRAIN_SECONDS + 10,
    }


def _container(args: GpuModelServerArgs, secret_name: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "name": CONTAINER,
        "image": args.image,
        "command": serve_command(args),
        "env": [{"name": API_KEY_ENV,
                 "valueFrom": {"secretKeyRef": {"name": secret_name, "key": API_KEY_FIELD}}}],
        "ports": [{"name": PORT_NAME, "containerPort": args.port, "protocol": "TCP"}],
        "resources": resources(args),
        **probes(args),
        "lifecycle": {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}},
        "securityContext": {"allowPrivilegeEscalation": False},
    }


def serve_command(args: GpuModelServerArgs) -> list[str]:
    return ["adcml", "serve", "--model", args.model, "--host", "0.0.0.0", "--port", str(args.port),
            *args.extra_args]


def resources(args: GpuModelServerArgs) -> dict[str, Any]:
    """CPU and memory requested, memory limited; GPUs as a limit only. No CPU limit: throttling
    a server that has a GPU only adds latency."""
    limits: dict[str, Any] = {"memory": args.memory}
    if args.gpus > 0:
        limits[GPU_RESOURCE] = args.gpus
    return {"requests": {"cpu": args.cpu, "memory": args.memory}, "limits": limits}


def probes(args: GpuModelServerArgs) -> dict[str, dict[str, Any]]:
    health = {"httpGet": {"path": HEALTH_PATH, "port": PORT_NAME}}
    return {
        "startupProbe": {**health, "periodSeconds": STARTUP_PERIOD_SECONDS, "timeoutSeconds": 5,
                         "failureThreshold": math.ceil(args.startup_timeout / STARTUP_PERIOD_SECONDS)},
        "readinessProbe": {**health, "periodSeconds": 5, "timeoutSeconds": 3, "failureThreshold": 2},
        # Generous: a busy server may answer slowly; a restart costs a model load.
        "livenessProbe": {**health, "periodSeconds": 20, "timeoutSeconds": 10, "failureThreshold": 6},
    }


def service_manifest(name: str, args: GpuModelServerArgs) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": _metadata(name, args),
        "spec": {"type": args.service_type, "selector": selector_labels(name),
                 "ports": [{"name": PORT_NAME, "port": args.port, "targetPort": PORT_NAME,
                            "protocol": "TCP"}]},
    }


def pod_disruption_budget_manifest(name: str, args: GpuModelServerArgs) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _metadata(name, args),
        "spec": {"minAvailable": args.min_ready, "selector": {"matchLabels": selector_labels(name)},
                 "unhealthyPodEvictionPolicy": "AlwaysAllow"},
    }


def selector_labels(name: str) -> dict[str, str]:
    """The labels that never change for a server: a Deployment's selector is immutable."""
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": name}


def pod_labels(name: str, args: GpuModelServerArgs) -> dict[str, str]:
    return {**args.labels, **selector_labels(name), "app.kubernetes.io/managed-by": "pulumi"}


def _metadata(name: str, args: GpuModelServerArgs) -> dict[str, Any]:
    return {"name": name, "namespace": args.namespace, "labels": pod_labels(name, args)}


# --- the component -----------------------------------------------------------------------------------------
class GpuModelServer(pulumi.ComponentResource):
    """The model server's Secret, Deployment, Service and PodDisruptionBudget (``manifests``)."""

    service_name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    member: pulumi.Output[dict[str, Any]]
    secret: k8s.core.v1.Secret
    deployment: k8s.apps.v1.Deployment
    service: k8s.core.v1.Service
    pod_disruption_budget: k8s.policy.v1.PodDisruptionBudget

    def __init__(self, name: str, args: GpuModelServerArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        check_name(name)
        super().__init__("adcml:kubernetes:GpuModelServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        secret = secret_manifest(name, args, args.api_key, secret_name=None)
        secret["stringData"] = pulumi.Output.secret(secret["stringData"])  # even when api_key is plain text
        self.secret = k8s.core.v1.Secret(
            api_key_secret_name(name), **_resource_args(secret),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                additional_secret_outputs=["stringData", "data"])))
        rollout = f"{args.startup_timeout + ROLLOUT_MARGIN_SECONDS + 60}s"
        self.deployment = k8s.apps.v1.Deployment(
            name, **_resource_args(deployment_manifest(name, args, self.secret.metadata.name)),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                custom_timeouts=pulumi.CustomTimeouts(create=rollout, update=rollout))))
        self.service = k8s.core.v1.Service(name, **_resource_args(service_manifest(name, args)), opts=child)
        self.pod_disruption_budget = k8s.policy.v1.PodDisruptionBudget(
            name, **_resource_args(pod_disruption_budget_manifest(name, args)), opts=child)
        self.service_name = self.service.metadata.apply(lambda metadata: metadata.name)
        self.namespace = self.service.metadata.apply(lambda metadata: metadata.namespace)
        self.member = _member(self.service, args)
        self.register_outputs({"service_name": self.service_name, "namespace": self.namespace,
                               "member": self.member})


def _resource_args(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A manifest as a pulumi-kubernetes resource's keyword arguments. Nested keys stay as the
    manifest spells them (camelCase): the SDK sends dict keys it has no Python name for as they are."""
    top = {"stringData": "string_data"}
    return {top.get(key, key): value for key, value in manifest.items()
            if key not in ("apiVersion", "kind")}


def _member(service: k8s.core.v1.Service, args: GpuModelServerArgs) -> pulumi.Output[dict[str, Any]]:
    """``{"host", "port"}``: where the ADC reaches the Service (module docstring)."""
    host: pulumi.Input[str]
    port: pulumi.Input[int] = args.port
    if args.service_type == "ClusterIP":
        host = service.spec.apply(lambda spec: spec.cluster_ip)
    elif args.service_type == "LoadBalancer":
        host = service.status.apply(_load_balancer_address)
    else:
        host = args.node_address or ""
        port = service.spec.apply(lambda spec: spec.ports[0].node_port)
    return pulumi.Output.from_input({"host": host, "port": port})


def _load_balancer_address(status: Any) -> str | None:
    ingress = (status.load_balancer.ingress or []) if status and status.load_balancer else []
    if not ingress:
        return None
    return ingress[0].ip or ingress[0].hostname


__all__ = ["GpuModelServer", "GpuModelServerArgs", "manifests"]
