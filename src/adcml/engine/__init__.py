"""The generic object engine: desired NITRO objects → live state → Plan → apply.

    plan = plan_objects(client, desired, State.MERGED, owned, resources)
    print(plan.render())
    apply_plan(client, plan, save=True)

A feature (the gateway, and every one after it) compiles what its user wrote into ``Desired``
objects and says which live objects it owns; the engine reads the live state with few
requests (``live``), compares (``diff``, pure), and returns a ``Plan`` (``plan``, plain data)
that ``apply`` carries out in bulk, in dependency order. Front-ends (Ansible modules, the CLI,
Pulumi providers, jobs) call a feature, or for a single object ``plan_object``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from adcml.engine.apply import ApplyError, ApplyResult, Progress, apply_plan
from adcml.engine.diff import LiveState, Owned, State, make_plan
from adcml.engine.live import read_live
from adcml.engine.objects import (
    KEEP_LIVE,
    Desired,
    KeptValueMissing,
    ObjectError,
    check_desired,
    desired_object,
    is_secret,
    missing_for_create,
    settable,
)
from adcml.engine.plan import Action, Change, Phase, Plan, masked
from adcml.nitro import NitroClient
from adcml.resources import identity


@dataclass
class Outcome:
    plan: Plan
    result: ApplyResult | None  # None in check mode

    @property
    def changed(self) -> bool:
        return self.plan.changed


def plan_objects(client: NitroClient, desired: Iterable[Desired], state: State | str, owned: Owned,
                 resources: Iterable[str], *, write_secrets: bool = False) -> Plan:
    """Plan any set of objects (a gateway, one component, one resource) against live state;
    ``write_secrets``: rewrite the secrets the appliance does not show (``make_plan``)."""
    before = client.request_count
    live = read_live(client, resources)
    plan = make_plan(desired, live, state, owned, write_secrets=write_secrets)
    plan.reads = client.request_count - before
    return plan


def converge_objects(client: NitroClient, plan: Plan, *, check: bool = False, save: bool = False,
                     progress: Progress | None = None) -> Outcome:
    """Apply ``plan`` unless ``check``; ``save`` writes the config after a change."""
    if check:
        return Outcome(plan, None)
    return Outcome(plan, apply_plan(client, plan, save=save, progress=progress))


def plan_object(client: NitroClient, obj: Desired, *, present: bool = True) -> Plan:
    """One object present (merged: the attributes given are set, others left alone) or absent.

    Only the object itself is owned, by its identity. When an attribute that cannot change in
    place differs, the object is recreated with its live attributes plus the ones given, so a
    replace changes no more than was asked. Raises ObjectError when the object does not exist
    and the attributes given are not enough to create it."""
    res = obj.schema
    mine = tuple(str(v) for v in obj.identity)

    def owned(resource: str, row: dict) -> bool:
        return resource == obj.resource and tuple(str(v) for v in identity(res, row)) == mine

    before = client.request_count
    live = read_live(client, [obj.resource])
    if not present:
        plan = make_plan([], live, State.DELETED, owned)
    else:
        plan = make_plan([obj], live, State.MERGED, owned)
        actions = {c.action for c in plan.changes}
        missing = missing_for_create(obj)
        if Action.CREATE in actions and missing:
            raise ObjectError([("attributes", f"{obj.resource} {obj.identity[0]!r} does not exist, "
                                              f"and creating it needs: {', '.join(missing)}")])
        if Action.REPLACE in actions:
            row = next(r for r in live[obj.resource].values() if owned(obj.resource, r))
            whole = Desired(obj.resource, {**settable(res, row), **obj.attrs})
            plan = make_plan([whole], live, State.MERGED, owned)
    plan.reads = client.request_count - before
    return plan


__all__ = [
    "KEEP_LIVE", "Action", "ApplyError", "ApplyResult", "Change", "Desired", "KeptValueMissing",
    "LiveState", "ObjectError", "Outcome", "Owned", "Phase", "Plan", "Progress", "State", "apply_plan",
    "check_desired", "converge_objects", "desired_object", "is_secret", "make_plan", "masked",
    "plan_object", "plan_objects", "read_live", "settable",
]
