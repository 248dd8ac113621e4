"""Gateway spec → the NITRO objects that implement it, each marked as owned by the gateway.

Each section of the spec compiles in its own module, beside its gather half: ``frontend``,
``pools`` (and ``default_pool``), ``security`` (``auth``, ``rate_limit``, ``audit``, each
pool's ``require_groups`` and ``backend_token``) and ``caching`` (each pool's ``cache``).
``compile_gateway`` puts them together; ``check_compiled`` runs the schema's checks on every
object (those the lab ADC makes, ``adcml.resources.check``) and names the spec field behind
each problem, so nothing an appliance would refuse reaches it.
"""

from __future__ import annotations

from typing import Any

from adcml.engine import Desired, check_desired
from adcml.gateway.caching import compile_cache
from adcml.gateway.frontend import compile_frontend
from adcml.gateway.login import compile_login
from adcml.gateway.names import certkey_name, cs_name, mark, owner
from adcml.gateway.pools import compile_pools, route_priorities
from adcml.gateway.security import compile_security, vserver_auth
from adcml.gateway.spec import GatewaySpec
from adcml.resources import SCHEMA

# Every resource a gateway may own: what the planner reads.
RESOURCES = (
    "nsfeature", "csvserver", "lbvserver", "servicegroup", "lbmonitor", "csaction", "cspolicy",
    "sslprofile", "sslvserver", "sslcertkey", "systemfile", "servicegroup_servicegroupmember_binding",
    "servicegroup_lbmonitor_binding", "lbvserver_servicegroup_binding",
    "csvserver_cspolicy_binding", "csvserver_lbvserver_binding", "sslvserver_sslcertkey_binding",
    "authenticationvserver", "authenticationoauthaction", "authenticationpolicy",
    "authenticationvserver_authenticationpolicy_binding", "responderaction", "responderpolicy",
    "rewriteaction", "rewritepolicy", "lbvserver_responderpolicy_binding",
    "lbvserver_rewritepolicy_binding", "csvserver_responderpolicy_binding", "streamselector",
    "nslimitidentifier", "auditmessageaction", "cacheselector", "cachecontentgroup", "cachepolicy",
    "lbvserver_cachepolicy_binding", "server", "sslservicegroup", "sslservicegroup_sslcertkey_binding",
    "csvserver_rewritepolicy_binding", "authenticationauthnprofile", "tmsessionaction", "tmsessionpolicy",
    "authenticationvserver_tmsessionpolicy_binding",
)


def compile_gateway(spec: GatewaySpec) -> list[Desired]:
    """The desired NITRO objects of ``spec``, in no particular order (the plan orders them)."""
    gw = spec.name
    out: list[Desired] = []

    def add(resource: str, at: str | dict[str, str], **attrs: Any) -> None:
        if SCHEMA[resource].attr("comment") is not None:
            attrs["comment"] = mark(gw)  # the ownership mark, wherever the resource has room
        fields = at if isinstance(at, dict) else {"": at}
        out.append(Desired(resource, {k: v for k, v in attrs.items() if v is not None}, fields))

    compile_frontend(add, spec, vserver_auth(spec))
    compile_security(add, spec, cs_name(gw))
    compile_pools(add, spec)
    compile_cache(add, spec)
    compile_login(add, spec, route_priorities(spec.pools))
    features = sorted({SCHEMA[d.resource].feature for d in out} - {None})
    add("nsfeature", "", feature=features)  # objects of a disabled feature carry no traffic
    return out


def gateway_owner(spec: GatewaySpec):
    """What ``spec`` owns on an appliance: its prefix and mark, except an uploaded
    certificate that the spec names by its cert-key (it is kept as it is)."""
    tls = spec.frontend.tls
    return owner(spec.name, keep_certificate=tls is not None and tls.certkey == certkey_name(spec.name))


def check_compiled(objects: list[Desired]) -> list[tuple[str, str]]:
    """(spec field, problem) for every compiled object an appliance would refuse."""
    problems = []
    for obj in objects:
        violation = check_desired(obj)
        if violation is not None:
            problems.append((obj.field_of(violation.attr) or "(top)",
                             f"NetScaler would refuse the {obj.resource} it makes: "
                             f"{violation.attr or 'object'}: {violation.problem}"))
    return problems
