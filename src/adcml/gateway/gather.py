"""Live state → gateway spec: what ``state: gathered`` returns and what verification compares.

The inverse of compile, section by section (each section's gather half sits beside its compile
half). Applying a gathered spec back changes nothing. Where the appliance cannot hold the
original's form, the gathered spec says so in its own way:

- a certificate uploaded from files comes back as ``tls.certkey: <gateway>.cert`` (the files'
  paths on the control node are not on the appliance); applying that keeps the cert-key and
  its files;
- secrets (a pool's ``backend_token``, ``auth.oidc.client_secret``) come back as
  ``SECRET_KEPT``, the marker that keeps the live value when the spec is applied — never in
  clear.
"""

from __future__ import annotations

from typing import Any

from adcml.engine import read_live
from adcml.gateway.caching import gather_cache
from adcml.gateway.compile import RESOURCES
from adcml.gateway.frontend import gather_frontend
from adcml.gateway.login import gather_login
from adcml.gateway.names import GatherError, LiveGateway, cs_name, owner
from adcml.gateway.pools import gather_default_pool, gather_pools
from adcml.gateway.security import gather_audit, gather_auth, gather_pool_access, gather_rate_limit
from adcml.gateway.spec import GatewaySpec, SpecError, parse_spec
from adcml.nitro import NitroClient


def gather(client: NitroClient, gateway: str) -> dict[str, Any] | None:
    """The gateway named ``gateway`` as a spec dict (JSON-ready, secrets as the marker), or
    None if it does not exist. Raises GatherError when its live objects do not make a spec
    (objects changed by hand)."""
    spec = gather_spec(LiveGateway(gateway, read_live(client, RESOURCES), owner(gateway)))
    return None if spec is None else spec.model_dump(mode="json")


def gather_spec(live: LiveGateway) -> GatewaySpec | None:
    cs = live.obj("csvserver", cs_name(live.name))
    if cs is None:
        return None
    pools = []
    for pool in gather_pools(live):
        pool |= gather_pool_access(live, pool["name"])
        cache = gather_cache(live, pool["name"])
        if cache is not None:
            pool["cache"] = cache
        pools.append(pool)
    data: dict[str, Any] = {"name": live.name, "frontend": gather_frontend(live, cs), "pools": pools,
                            "default_pool": gather_default_pool(live, cs), "auth": gather_auth(live),
                            "login": gather_login(live),
                            "rate_limit": gather_rate_limit(live), "audit": gather_audit(live)}
    try:
        return parse_spec({k: v for k, v in data.items() if v is not None})
    except SpecError as exc:
        raise GatherError(f"gateway {live.name}: its live objects do not make a valid spec "
                          f"(changed by hand?):\n" + "\n".join(f"  {p}: {m}" for p, m in exc.problems)
                          ) from None
