"""The gateway: a spec → the NITRO objects that implement it, converged by ``adcml.engine``.

    from adcml.gateway import load_spec, converge
    outcome = converge(client, load_spec("gateway.yml"), state="merged", save=True)
    print(outcome.plan.render())

Front-ends (Ansible modules, Pulumi providers, the CLI) are thin layers over these functions.
"""

from __future__ import annotations

from adcml.engine import (
    Action,
    ApplyError,
    ApplyResult,
    Change,
    KeptValueMissing,
    Outcome,
    Plan,
    Progress,
    State,
    converge_objects,
    masked,
    plan_objects,
)
from adcml.gateway.compile import RESOURCES, compile_gateway, gateway_owner
from adcml.gateway.endpoints import resolve_endpoints
from adcml.gateway.gather import gather
from adcml.gateway.load import compiled, load_spec
from adcml.gateway.names import GatherError, owner
from adcml.gateway.spec import SECRET_KEPT, GatewaySpec, SpecError
from adcml.nitro import NitroClient


def plan_gateway(client: NitroClient, spec: GatewaySpec, state: State | str = State.MERGED, *,
                 write_secrets: bool = False) -> Plan:
    """The changes that make the ADC match ``spec``. Raises SpecError, before reading the ADC,
    for anything the appliance would refuse, and for a secret kept from the live ADC
    (``SECRET_KEPT``) that has no live value to keep. ``write_secrets``: write again the
    secrets an appliance never shows (the OIDC client secret), for a secret that changed."""
    try:
        return plan_objects(client, compiled(spec), state, gateway_owner(spec), RESOURCES,
                            write_secrets=write_secrets)
    except KeptValueMissing as exc:
        raise SpecError(sorted({(obj.field_of(attr), f"the marker that keeps the live value is given, but "
                                                     f"there is none to keep ({why})")
                                for obj, attr, why in exc.missing})) from None


def converge(client: NitroClient, spec: GatewaySpec, state: State | str = State.MERGED, *,
             check: bool = False, save: bool = False, progress: Progress | None = None,
             write_secrets: bool = False) -> Outcome:
    """Plan, and unless ``check``, apply; ``save`` writes the config after a change."""
    return converge_objects(client, plan_gateway(client, spec, state, write_secrets=write_secrets),
                            check=check, save=save, progress=progress)


def delete_gateway(client: NitroClient, name: str, *, check: bool = False, save: bool = False,
                   progress: Progress | None = None) -> Outcome:
    """Remove every object the gateway ``name`` owns (no spec needed)."""
    plan = plan_objects(client, [], State.DELETED, owner(name), RESOURCES)
    return converge_objects(client, plan, check=check, save=save, progress=progress)


def render(spec: GatewaySpec) -> list[dict]:
    """The NITRO objects of ``spec``, offline (no ADC), secrets masked."""
    return [{"resource": d.resource, "attributes": masked(d.attrs)} for d in compile_gateway(spec)]


__all__ = [
    "RESOURCES", "SECRET_KEPT", "Action", "ApplyError", "ApplyResult", "Change", "GatherError",
    "GatewaySpec", "Outcome", "Plan", "SpecError",
    "State", "compile_gateway", "converge", "delete_gateway", "gather", "load_spec", "plan_gateway",
    "render", "resolve_endpoints",
]
