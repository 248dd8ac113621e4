"""Carry out a Plan: bulk requests per resource type, level by level, in the plan's order.

Failure semantics: apply stops at the first failed request and raises ApplyError, which says
what was done and what was not. It does not roll back. Instead, two properties hold:

- The build order is the dependency order, so a route (a CS policy binding, the default
  binding) is bound only after the pool it leads to has its members and monitor: a partial
  apply may leave a gateway incomplete, never routing to a half-built pool.
- Every object the plan touches carries the ownership mark, and planning reads the live
  state afresh, so re-running the same converge completes the work, and ``overridden`` removes
  anything a changed spec no longer wants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from adcml.engine.plan import Action, Change, Phase, Plan
from adcml.nitro import NitroClient, NitroError, OnError
from adcml.resources import ResourceKind, schema

Progress = Callable[[int, int, str], None]


class ApplyError(Exception):
    """An apply stopped part-way; ``done`` lists the changes that were applied."""

    def __init__(self, message: str, done: list[Change], failed: list[Change], cause: Exception):
        self.done, self.failed, self.cause = done, failed, cause
        super().__init__(f"{message}: {cause} ({len(done)} changes applied before it; "
                         "re-run to complete)")


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    requests: int = 0
    saved: bool = False


def apply_plan(client: NitroClient, plan: Plan, *, save: bool = False,
               progress: Progress | None = None) -> ApplyResult:
    """Apply ``plan`` to the ADC behind ``client``; save the config afterwards when asked."""
    result = ApplyResult()
    start = client.request_count
    steps = plan.steps()
    total = len(steps)

    def batch_key(step: tuple[Phase, Change]) -> tuple:
        phase, change = step
        return phase, change.level, change.rank, change.resource, _verb(phase, change)

    for (phase, _level, _rank, resource, verb), group in groupby(steps, key=batch_key):
        changes = [c for _, c in group]
        try:
            _run(client, phase, resource, verb, changes)
        except NitroError as exc:
            raise ApplyError(f"{verb} {resource} failed", result.applied, changes, exc) from exc
        result.applied.extend(changes)
        if progress is not None:
            progress(len(result.applied), total, f"{verb} {len(changes)} {resource}")
    if save and plan.changed:
        client.save_config()
        result.saved = True
    result.requests = client.request_count - start
    return result


def _verb(phase: Phase, change: Change) -> str:
    res = schema(change.resource)
    if phase in (Phase.CLEAR, Phase.PRUNE):
        return "skip" if res.kind is ResourceKind.IMPLICIT else "delete"
    if change.action is Action.UPDATE and res.kind is ResourceKind.CONFIG and not res.is_binding:
        if set(change.after or {}) & set(res.update_action):
            return "update-action"
        return "update"
    if res.kind is ResourceKind.SINGLETON:
        return "enable"
    if res.kind is ResourceKind.IMPLICIT:
        return "update"
    return "bind" if res.is_binding else "add"


def _run(client: NitroClient, phase: Phase, resource: str, verb: str, changes: list[Change]) -> None:
    res = schema(resource)
    if verb == "skip":
        return
    if verb == "delete":
        for change in changes:
            _delete(client, res, change.before or {})
        return
    bodies = [dict(c.after or {}) for c in changes]
    if verb == "enable":
        for body in bodies:
            client.action(resource, "enable", body)
    elif verb == "add":
        client.add(resource, bodies, onerror=OnError.EXIT)
    elif verb == "bind":
        client.bind(resource, bodies, onerror=OnError.EXIT)
    elif verb == "update-action":
        for body in bodies:
            client.action(resource, "update", {**body, "nodomaincheck": True})
    else:
        settable = [{k: v for k, v in b.items() if k not in res.update_action} for b in bodies]
        if any(len(b) > 1 for b in settable):
            client.update(resource, settable, onerror=OnError.EXIT)
    for change in changes:
        if change.unset:
            client.action(resource, "unset", {res.key: change.after[res.key],
                                              **{a: True for a in change.unset}})


def _delete(client: NitroClient, res, before: dict[str, Any]) -> None:
    name = before[res.key]
    args = {a: before[a] for a in res.delete_args if before.get(a) not in (None, "", False)}
    for first, second in res.exclusive:  # an appliance refuses both (1092)
        if first in args:
            args.pop(second, None)
    if res.is_binding:
        client.unbind(res.name, name, args=args)
    elif res.name == "systemfile":
        client.delete_file(name, before["filelocation"])
    else:
        client.delete(res.name, name, args=args or None)
