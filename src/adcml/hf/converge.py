"""Plan, then converge one endpoint: create or update what differs, then pause, resume, scale to
zero or delete until it is in the desired state, waiting (bounded, with progress) where the
service is still moving.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from adcml.hf.client import Endpoints, HfConnection, HfError
from adcml.hf.plan import BROKEN, MASK, MOVING, EndpointPlan, Live, Step, make_plan, next_step
from adcml.hf.spec import (
    DesiredState,
    EndpointSpec,
    EndpointSpecError,
    create_arguments,
    parse_spec,
    secret_values,
)

Progress = Callable[[str], None]
DEFAULT_TIMEOUT = 900.0  # seconds: a large model's first start on the service takes minutes
_MAX_STEPS = 8


class HfWaitError(HfError):
    """The endpoint did not get where it should: it failed, or the time ran out. ``raw`` is its
    last JSON (secrets masked)."""

    def __init__(self, message: str, raw: dict[str, Any] | None):
        self.raw = raw
        super().__init__(message)


@dataclass
class EndpointOutcome:
    """What converge did: its plan, whether it changed anything, and the endpoint now (None when
    there is none)."""

    plan: EndpointPlan
    changed: bool
    raw: dict[str, Any] | None

    @property
    def endpoint(self) -> dict[str, Any] | None:
        return summary(self.raw, self.plan.namespace)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "plan": self.plan.to_dict(), "endpoint": self.endpoint}


def summary(raw: dict[str, Any] | None, namespace: str) -> dict[str, Any] | None:
    """The facts a user asks for: state, URL, what runs where."""
    if raw is None:
        return None
    status, compute, model = (raw.get(key) or {} for key in ("status", "compute", "model"))
    return {
        "name": raw.get("name"),
        "namespace": namespace,
        "state": status.get("state"),
        "message": status.get("message"),
        "url": status.get("url"),
        "status": masked(raw).get("status"),
        "type": raw.get("type"),
        "repository": model.get("repository"),
        "revision": model.get("revision"),
        "task": model.get("task"),
        "instance": {key: (raw.get("provider") or {}).get(key) for key in ("vendor", "region")}
                    | {key: compute.get(key) for key in ("accelerator", "instanceType", "instanceSize")},
        "scaling": compute.get("scaling"),
    }


def masked(raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` with every secret value replaced (the service masks them; we do not rely on it)."""
    model = dict(raw.get("model") or {})
    if model.get("secrets"):
        model["secrets"] = dict.fromkeys(model["secrets"], MASK)
    return raw | {"model": model} if "model" in raw else dict(raw)


def plan_endpoint(endpoints: Endpoints, spec: EndpointSpec | dict[str, Any],
                  state: DesiredState | str = DesiredState.PRESENT) -> tuple[EndpointPlan, dict | None]:
    """The plan and the live JSON it was made from. Checks the hardware against the service's
    listing (where the client can list it) before anything is written."""
    target = DesiredState(state)
    spec = parse_spec(spec, target)
    namespace = endpoints.namespace(spec.namespace)
    raw = endpoints.get(namespace, spec.name)
    plan = make_plan(spec, namespace, target, raw)
    if any(key.startswith(("compute.", "provider.")) and not key.startswith("compute.scaling")
           for key in plan.differences):
        check_hardware(endpoints, namespace, spec)
    return plan, raw


def check_hardware(endpoints: Endpoints, namespace: str, spec: EndpointSpec) -> None:
    """EndpointSpecError naming the first compute field the listing has no entry for, with the
    values it has; nothing with a client that cannot list hardware (0.x: the service answers)."""
    listing = endpoints.hardware(namespace)
    if listing is None:
        return
    chosen = spec.compute
    for field, key in (("vendor", "vendor"), ("region", "region"), ("accelerator", "accelerator"),
                       ("instance_type", "instance_type"), ("instance_size", "instance_size")):
        offered = sorted({item[key] for item in listing})
        if getattr(chosen, field) not in offered:
            raise EndpointSpecError([(f"compute.{field}", f"{getattr(chosen, field)!r} is not "
                                      f"offered here; choose one of {', '.join(offered) or '(none)'}")])
        listing = [item for item in listing if item[key] == getattr(chosen, field)]


def converge_endpoint(connection: HfConnection, spec: EndpointSpec | dict[str, Any],
                      state: DesiredState | str = DesiredState.PRESENT, *, check: bool = False,
                      wait: bool = True, timeout: float = DEFAULT_TIMEOUT,
                      progress: Progress | None = None) -> EndpointOutcome:
    """Plan, and unless ``check``, apply. With ``wait`` (for ``present``), return once the
    endpoint runs and its URL answers its health route, or raise HfWaitError after ``timeout``
    seconds; ``scaled_to_zero`` always waits for the endpoint to run before scaling it down."""
    endpoints = Endpoints(connection)
    spec = parse_spec(spec, state)
    plan, raw = plan_endpoint(endpoints, spec, state)
    if check:
        return EndpointOutcome(plan, plan.changed, _masked_or_none(raw))
    say = progress or (lambda _message: None)
    where = f"{plan.namespace}/{spec.name}"
    deadline = time.monotonic() + timeout
    if Step.UPDATE in plan.steps:
        say(f"updating {where}: {', '.join(plan.differences) or 'secrets'}")
        raw = endpoints.update(plan.namespace, spec.name, plan.update_arguments(secret_values(spec)))
    for _ in range(_MAX_STEPS):
        current = _state(raw)
        step = next_step(current, plan.target)
        if step is None:
            break
        if step is Step.WAIT:
            if not wait and plan.target is DesiredState.PRESENT:
                break
            raw = _wait_until_settled(endpoints, plan.namespace, spec.name, raw, deadline, say)
            continue
        say(f"{step} {where}")
        if step is Step.CREATE:
            raw = endpoints.create(plan.namespace, create_arguments(spec))
        elif step is Step.DELETE:
            endpoints.delete(plan.namespace, spec.name)
            raw = None
        elif step is Step.RESUME:
            raw = endpoints.resume(plan.namespace, spec.name)
        elif step is Step.PAUSE:
            raw = endpoints.pause(plan.namespace, spec.name)
        elif step is Step.SCALE_TO_ZERO:
            raw = endpoints.scale_to_zero(plan.namespace, spec.name)
    else:
        raise HfWaitError(f"{where} did not settle in {_MAX_STEPS} steps; it is {_state(raw)}",
                          _masked_or_none(raw))
    if wait and plan.target is DesiredState.PRESENT and _state(raw) == Live.RUNNING:
        _wait_until_healthy(endpoints, where, raw, deadline, say)
    return EndpointOutcome(plan, plan.changed, _masked_or_none(raw))


def endpoint_status(connection: HfConnection, name: str,
                    namespace: str | None = None) -> dict[str, Any] | None:
    """The endpoint's summary, or None when there is none."""
    endpoints = Endpoints(connection)
    namespace = endpoints.namespace(namespace)
    return summary(_masked_or_none(endpoints.get(namespace, name)), namespace)


def endpoint_url(connection: HfConnection, name: str, namespace: str | None = None) -> str:
    """The URL of the endpoint ``namespace/name`` (the token's user when no namespace), for a
    gateway that puts it behind a pool. LookupError when there is no such endpoint or it has no
    URL yet; HfError when the service cannot be asked."""
    endpoints = Endpoints(connection)
    namespace = endpoints.namespace(namespace)
    raw = endpoints.get(namespace, name)
    if raw is None:
        raise LookupError(f"there is no Inference Endpoint {namespace}/{name}")
    url = gateway_url(raw.get("status") or {})
    if not url:
        raise LookupError(f"the Inference Endpoint {namespace}/{name} has no URL yet "
                          f"(state {_state(raw)}): create it and wait until it runs")
    return url


def gateway_url(status: dict[str, Any]) -> str | None:
    """The URL a gateway reaches an endpoint at, from its ``status``: its host name when the
    service names it (the lab stand-in's URL is its address), else its URL."""
    url, host = status.get("url"), status.get("hostName")
    if url and host:
        port = urlsplit(url).port
        return f"https://{host}" + (f":{port}" if port and port != 443 else "")
    return url or None


def _state(raw: dict[str, Any] | None) -> str | None:
    return None if raw is None else (raw.get("status") or {}).get("state")


def _masked_or_none(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if raw is None else masked(raw)


def _wait_until_settled(endpoints: Endpoints, namespace: str, name: str, raw: dict[str, Any] | None,
                        deadline: float, say: Progress) -> dict[str, Any] | None:
    """Poll until the endpoint leaves the moving states; HfWaitError on failed or at the
    deadline. Says each state it passes through."""
    where = f"{namespace}/{name}"
    shown = None
    delay = 0.25
    while True:
        state = _state(raw)
        if state != shown:
            message = (raw or {}).get("status", {}).get("message")
            say(f"{where}: {state}" + (f" ({message})" if message else ""))
            shown = state
        if state in BROKEN:
            raise HfWaitError(f"{where} is {state}: "
                              f"{(raw or {}).get('status', {}).get('message') or 'no message'}",
                              _masked_or_none(raw))
        if state not in MOVING:
            return raw
        if time.monotonic() >= deadline:
            raise HfWaitError(f"{where} is still {state} after the timeout; it goes on by itself: "
                              "re-run to wait again", _masked_or_none(raw))
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, 5.0)
        raw = endpoints.get(namespace, name)


def _wait_until_healthy(endpoints: Endpoints, where: str, raw: dict[str, Any], deadline: float,
                        say: Progress) -> None:
    delay = 0.25
    while not endpoints.healthy(raw):
        if time.monotonic() >= deadline:
            raise HfWaitError(f"{where} runs, but {raw['status'].get('url')} does not answer its "
                              "health route with 200 (check that this machine trusts its "
                              "certificate: ca_file / ADCML_HF_CA_FILE)", masked(raw))
        time.sleep(delay)
        delay = min(delay * 2, 5.0)
    say(f"{where}: running at {raw['status'].get('url')}")
