"""The plan for one endpoint, pure: a spec, its desired state and the live JSON (or None) → the
differences and the steps that close them. Converge and check mode use the same ``next_step``,
so what a plan says is what an apply does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from adcml.hf.spec import IMMUTABLE, DesiredState, EndpointSpec, EndpointSpecError, UpdateSecrets, wanted

MASK = "***"


class Step(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    RESUME = "resume"
    PAUSE = "pause"
    SCALE_TO_ZERO = "scale to zero"
    WAIT = "wait until running"
    DELETE = "delete"


class Live(StrEnum):
    """The service's states (``status.state``)."""

    PENDING = "pending"
    INITIALIZING = "initializing"
    UPDATING = "updating"
    UPDATE_FAILED = "updateFailed"
    RUNNING = "running"
    PAUSED = "paused"
    FAILED = "failed"
    SCALED_TO_ZERO = "scaledToZero"


MOVING = {Live.PENDING, Live.INITIALIZING, Live.UPDATING}
BROKEN = {Live.FAILED, Live.UPDATE_FAILED}

# Live JSON key → the update call's argument.
UPDATE_ARGUMENT = {
    "compute.accelerator": "accelerator",
    "compute.instanceType": "instance_type",
    "compute.instanceSize": "instance_size",
    "compute.scaling.minReplica": "min_replica",
    "compute.scaling.maxReplica": "max_replica",
    "compute.scaling.scaleToZeroTimeout": "scale_to_zero_timeout",
    "model.repository": "repository",
    "model.framework": "framework",
    "model.revision": "revision",
    "model.task": "task",
    "model.image": "custom_image",
    "model.env": "env",
    "model.secrets": "secrets",
    "tags": "tags",
}


def next_step(state: str | None, target: DesiredState) -> Step | None:
    """What to do next to bring an endpoint in ``state`` (None: there is none) to ``target``;
    None when it is there. A moving state (pending, initializing, updating) is waited out."""
    if target is DesiredState.ABSENT:
        return Step.DELETE if state is not None else None
    if state is None:
        return Step.CREATE
    if target is DesiredState.PAUSED:
        return None if state == Live.PAUSED else Step.PAUSE
    if state in MOVING:
        return Step.WAIT
    if state in BROKEN or state == Live.PAUSED:
        return Step.RESUME
    if target is DesiredState.SCALED_TO_ZERO:
        return None if state == Live.SCALED_TO_ZERO else Step.SCALE_TO_ZERO
    return None  # present: running, or scaled to zero (the first request wakes it)


def after(step: Step, state: str | None) -> str | None:
    """The state a step leads to, as far as a plan can tell: a wait ends in running, and an
    update leaves a paused or scaled-to-zero endpoint as it is."""
    if step is Step.UPDATE and state in (Live.PAUSED, Live.SCALED_TO_ZERO):
        return state
    return {
        Step.CREATE: Live.INITIALIZING, Step.UPDATE: Live.UPDATING, Step.RESUME: Live.INITIALIZING,
        Step.PAUSE: Live.PAUSED, Step.SCALE_TO_ZERO: Live.SCALED_TO_ZERO, Step.WAIT: Live.RUNNING,
        Step.DELETE: None,
    }[step]


def live_value(raw: dict[str, Any], key: str) -> Any:
    """The live JSON's value at a flat ``key`` of ``wanted``, in the spec's terms."""
    node: Any = raw
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if key == "type":
        return "authenticated" if node == "protected" else node
    if key == "model.env":
        return dict(node or {})
    if key in ("model.secrets", "tags"):
        return sorted(node or [])
    return node


def _same(key: str, want: Any, have: Any) -> bool:
    if key == "model.image":  # the service fills in defaults: what the spec gives must match
        if not isinstance(have, dict) or set(have) != set(want):
            return False
        variant = next(iter(want))
        return all((have[variant] or {}).get(k) == v for k, v in want[variant].items())
    return want == have


@dataclass
class EndpointPlan:
    """What converging ``spec`` to ``target`` would do. ``differences`` maps a live JSON key to
    (live value, wanted value), secrets by name only; ``steps`` are in order."""

    spec: EndpointSpec
    namespace: str
    target: DesiredState
    live_state: str | None
    differences: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    send_secrets: bool = False

    @property
    def changed(self) -> bool:
        return any(step is not Step.WAIT for step in self.steps)

    def update_arguments(self, secrets: dict[str, str]) -> dict[str, Any]:
        """The update call's arguments for the differences (``secrets`` in clear)."""
        arguments: dict[str, Any] = {}
        for key, (_, want) in self.differences.items():
            if key == "model.image":
                arguments["custom_image"] = dict(want["custom"])
            elif key == "model.secrets":
                arguments["secrets"] = secrets
            else:
                arguments[UPDATE_ARGUMENT[key]] = want
        if self.send_secrets:
            arguments["secrets"] = secrets
        return arguments

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "namespace": self.namespace,
            "state": str(self.target),
            "live_state": self.live_state,
            "changed": self.changed,
            "steps": [str(step) for step in self.steps],
            "differences": {key: {"before": before, "after": want}
                            for key, (before, want) in self.differences.items()},
            "secrets_sent": self.send_secrets or "model.secrets" in self.differences,
        }

    def diff(self) -> dict[str, Any]:
        """Before and after, for Ansible's --diff: the state and the keys that differ (secrets by
        name); None for an endpoint that is not there."""
        before = None if self.live_state is None else (
            {"state": self.live_state} | {key: have for key, (have, _) in self.differences.items()})
        after_ = None if self.target is DesiredState.ABSENT else (
            {"state": self.expected_state()} | {key: want for key, (_, want) in self.differences.items()})
        return {"before": before, "after": after_}

    def expected_state(self) -> str | None:
        state = self.live_state
        for step in self.steps:
            state = after(step, state)
        return None if state is None else str(state)

    def render(self) -> str:
        where = f"{self.namespace}/{self.spec.name}"
        if not self.steps:
            return f"No changes. Inference Endpoint {where} is {self.live_state}."
        lines = [f"Inference Endpoint {where} ({self.live_state or 'absent'} → "
                 f"{self.expected_state() or 'absent'}):"]
        lines += [f"  {step}" for step in self.steps]
        for key, (before, want) in self.differences.items():
            lines.append(f"    {key}: {_show(before)} → {_show(want)}")
        if self.send_secrets:
            lines.append(f"    model.secrets: {MASK} (sent again: update_secrets is always)")
        return "\n".join(lines)


def _show(value: Any) -> str:
    return "(none)" if value is None else repr(value)


def make_plan(spec: EndpointSpec, namespace: str, target: DesiredState,
              raw: dict[str, Any] | None) -> EndpointPlan:
    """The plan from the live JSON ``raw`` (None: no endpoint of that name). Raises
    EndpointSpecError when a field the service cannot update differs (type, vendor, region)."""
    state = (raw.get("status") or {}).get("state") if raw is not None else None
    plan = EndpointPlan(spec, namespace, target, state)
    if raw is None:
        if target is not DesiredState.ABSENT:
            plan.differences = {key: (None, want) for key, want in wanted(spec).items()}
    elif target is not DesiredState.ABSENT:
        for key, want in wanted(spec).items():
            have = live_value(raw, key)
            if not _same(key, want, have):
                plan.differences[key] = (have, want)
        fixed = [key for key in IMMUTABLE if key in plan.differences]
        if fixed:
            raise EndpointSpecError([(_spec_field(key), f"is {plan.differences[key][0]!r} on the live "
                                      f"endpoint, and the service cannot change it: delete the "
                                      f"endpoint first (state absent) or choose another name")
                                     for key in fixed])
        plan.send_secrets = (spec.update_secrets is UpdateSecrets.ALWAYS and bool(spec.secrets)
                             and "model.secrets" not in plan.differences)
        if plan.differences or plan.send_secrets:
            plan.steps.append(Step.UPDATE)
    plan.steps += _settle(after(Step.UPDATE, state) if plan.steps else state, target,
                          created=raw is None)
    return plan


def _settle(state: str | None, target: DesiredState, *, created: bool) -> list[Step]:
    steps: list[Step] = []
    if created and target is not DesiredState.ABSENT:
        steps.append(Step.CREATE)
        state = after(Step.CREATE, None)
    while (step := next_step(state, target)) is not None and len(steps) < 6:
        steps.append(step)
        state = after(step, state)
    return steps


def _spec_field(key: str) -> str:
    return {"type": "type", "provider.vendor": "compute.vendor",
            "provider.region": "compute.region"}[key]
