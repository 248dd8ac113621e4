"""A Hugging Face Inference Endpoint as a Pulumi resource, over ``adcml.hf``: the diff is the
endpoint's plan, create and update converge (and wait until it serves), delete deletes it, read
asks the service (refresh; ``pulumi import`` with the id ``namespace/name``).

Inputs: ``spec`` (docs/hf.md: name, namespace, repository, task, compute, scaling, type, env,
``secrets`` — marked secret), ``state`` (``present``, ``paused``, ``scaled_to_zero``), ``wait``
and ``timeout`` (seconds), ``connection`` (secret: ``hfToken``, ``hfApiBase`` ...; else the
stack's ``adcml:hf*`` configuration, else HF_TOKEN and the client's variables). Outputs:
``name``, ``namespace``, ``url`` (what a gateway pool's ``endpoint.url`` takes), ``host``,
``status``, and ``spec`` with the secrets' values replaced by fingerprints.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pulumi
from pulumi import dynamic

from adcml.hf import (
    DesiredState,
    Endpoints,
    EndpointSpecError,
    converge_endpoint,
    endpoint_status,
    gateway_url,
    parse_spec,
    plan_endpoint,
)
from adcml.pulumi.connection import hf_connection
from adcml.pulumi.dynamic import (
    ConfiguredProvider,
    has_unknown,
    mark_secrets,
    secret,
    spec_failures,
    state_failures,
    with_secret_outputs,
)
from adcml.pulumi.fingerprints import salt_of, scrub

STATES = ("present", "paused", "scaled_to_zero")
SECRET_KEYS = ("secrets",)
DEFAULT_TIMEOUT = 1800.0


class HfEndpointProvider(ConfiguredProvider):
    """CRUD of one Inference Endpoint."""

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        if has_unknown(news.get("spec")):
            return dynamic.CheckResult(news, [])
        state = news.get("state") or "present"
        failures = state_failures(state, STATES)
        try:
            parse_spec(dict(news.get("spec") or {}), state if not failures else "present")
        except EndpointSpecError as exc:
            failures += spec_failures(exc.problems)
        return dynamic.CheckResult(news, failures)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        if has_unknown(news):
            return dynamic.DiffResult(changes=True)
        connection = hf_connection(self._config, news.get("connection"))
        plan, _raw = plan_endpoint(Endpoints(connection), dict(news["spec"]), news.get("state") or "present")
        if id_ and f"{plan.namespace}/{news['spec']['name']}" != id_:
            return dynamic.DiffResult(changes=True, replaces=["spec"], delete_before_replace=True)
        if plan.changed:
            pulumi.log.info(f"endpoint {id_}:\n{plan.render()}")
        inputs_changed = scrub(dict(news["spec"]), SECRET_KEYS, salt_of(olds.get("spec"))) != olds.get("spec")
        return dynamic.DiffResult(changes=plan.changed or inputs_changed
                          or (news.get("state") or "present") != olds.get("state"))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        outs = self._apply(props, salt=None)
        return dynamic.CreateResult(f"{outs['namespace']}/{outs['name']}", outs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(self._apply(news, salt=salt_of(olds.get("spec"))))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        namespace, _, name = id_.partition("/")
        spec = {**(props.get("spec") or {}), "name": name, "namespace": namespace}
        converge_endpoint(hf_connection(self._config, props.get("connection")), _without_secrets(spec),
                          DesiredState.ABSENT)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        namespace, _, name = id_.partition("/")
        found = endpoint_status(hf_connection(self._config, props.get("connection")), name, namespace or None)
        if found is None:
            return dynamic.ReadResult(None, {})
        outs = {**{k: v for k, v in props.items() if k != "connection"}, **_facts(found)}
        if isinstance(props.get("spec"), Mapping):  # scrubbed: the program's inputs on an import
            outs["spec"] = scrub(dict(props["spec"]), SECRET_KEYS, salt_of(props["spec"]))
        inputs = None
        if not props.get("spec"):  # pulumi import
            instance = found.get("instance") or {}
            inputs = {"spec": {"name": found["name"], "namespace": found["namespace"],
                               "repository": found["repository"], "task": found["task"],
                               "type": found.get("type"),
                               "compute": {"vendor": instance.get("vendor"), "region": instance.get("region"),
                                           "accelerator": instance.get("accelerator"),
                                           "instance_type": instance.get("instanceType"),
                                           "instance_size": instance.get("instanceSize")}},
                      "state": _desired(found.get("state"))}
            outs["spec"], outs["state"] = inputs["spec"], inputs["state"]
        return dynamic.ReadResult(id_, outs, inputs)

    def _apply(self, props: Mapping[str, Any], salt: str | None) -> dict[str, Any]:
        state = props.get("state") or "present"
        outcome = converge_endpoint(hf_connection(self._config, props.get("connection")), dict(props["spec"]),
                                    state, wait=props.get("wait", True) is not False,
                                    timeout=float(props.get("timeout") or DEFAULT_TIMEOUT))
        found = outcome.endpoint or {"name": props["spec"]["name"], "namespace": outcome.plan.namespace}
        return {"spec": scrub(dict(props["spec"]), SECRET_KEYS, salt), "state": state, **_facts(found)}


def _facts(found: Mapping[str, Any]) -> dict[str, Any]:
    url = gateway_url(found.get("status") or {}) or found.get("url")
    return {"name": found.get("name"), "namespace": found.get("namespace"), "url": url,
            "host": urlsplit(url).hostname if url else None, "status": found.get("state")}


def _desired(live: str | None) -> str:
    return {"paused": "paused", "scaledToZero": "scaled_to_zero"}.get(live or "", "present")


def _without_secrets(spec: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "secrets"}


class HfEndpoint(dynamic.Resource, module="adcml", name="HfEndpoint"):
    """One Inference Endpoint (``HfEndpointProvider``)."""

    name: pulumi.Output[str]
    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    host: pulumi.Output[str]
    status: pulumi.Output[str]

    def __init__(self, resource_name: str, spec: pulumi.Input[Mapping[str, Any]], *, state: str = "present",
                 wait: bool = True, timeout: float = DEFAULT_TIMEOUT,
                 connection: pulumi.Input[Mapping[str, Any]] | None = None,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props = {"spec": mark_secrets(spec, SECRET_KEYS), "state": state, "wait": wait, "timeout": timeout,
                 "connection": secret(connection),
                 "name": None, "namespace": None, "url": None, "host": None, "status": None}
        opts = with_secret_outputs(opts, ["connection"])
        super().__init__(HfEndpointProvider(), resource_name, props, opts)


__all__ = ["HfEndpoint", "HfEndpointProvider"]
