"""The declarative engine: spec → desired objects → live state → Plan → apply.

    from adcml.gateway import load_spec, converge
    outcome = converge(client, load_spec("gateway.yml"), state="merged", save=True)
    print(outcome.plan.render())

Front-ends (Ansible modules, Pulumi providers, the CLI) are thin layers over these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from adcml.gateway.apply import ApplyError, ApplyResult, Progress, apply_plan
from adcml.gateway.compile import RESOURCES, compile_gateway, owner
from adcml.gateway.diff import Desired, State, make_plan
from adcml.gateway.gather import gather
from adcml.gateway.live import read_live
from adcml.gateway.plan import Action, Change, Plan, masked
from adcml.gateway.spec import GatewaySpec, SpecError, load_spec
from adcml.nitro import NitroClient


@dataclass
class Outcome:
    plan: Plan
    result: ApplyResult | None  # None in check mode

    @property
    def changed(self) -> bool:
        return self.plan.changed


def plan_objects(client: NitroClient, desired: Iterable[Desired], state: State | str, owned,
                 resources: Iterable[str]) -> Plan:
    """Plan any set of objects (a gateway, one component, one resource) against live state."""
    before = client.request_count
    live = read_live(client, resources)
    plan = make_plan(desired, live, state, owned)
    plan.reads = client.request_count - before
    return plan


def plan_gateway(client: NitroClient, spec: GatewaySpec, state: State | str = State.MERGED) -> Plan:
    return plan_objects(client, compile_gateway(spec), state, owner(spec.name), RESOURCES)


def converge(client: NitroClient, spec: GatewaySpec, state: State | str = State.MERGED, *,
             check: bool = False, save: bool = False, progress: Progress | None = None) -> Outcome:
    """Plan, and unless ``check``, apply; ``save`` writes the config after a change."""
    plan = plan_gateway(client, spec, state)
    if check:
        return Outcome(plan, None)
    return Outcome(plan, apply_plan(client, plan, save=save, progress=progress))


def delete_gateway(client: NitroClient, name: str, *, check: bool = False, save: bool = False,
                   progress: Progress | None = None) -> Outcome:
    """Remove every object the gateway ``name`` owns (no spec needed)."""
    plan = plan_objects(client, [], State.DELETED, owner(name), RESOURCES)
    if check:
        return Outcome(plan, None)
    return Outcome(plan, apply_plan(client, plan, save=save, progress=progress))


def render(spec: GatewaySpec) -> list[dict]:
    """The NITRO objects of ``spec``, offline (no ADC), secrets masked."""
    return [{"resource": d.resource, "attributes": masked(d.attrs)} for d in compile_gateway(spec)]


__all__ = [
    "Action", "ApplyError", "ApplyResult", "Change", "Desired", "GatewaySpec", "Outcome", "Plan",
    "SpecError", "State", "apply_plan", "compile_gateway", "converge", "delete_gateway", "gather",
    "load_spec", "make_plan", "plan_gateway", "plan_objects", "render",
]
