"""Integrated caching of a pool's idempotent requests, compiled.

Per pool with a ``cache`` section (``<gw>.<pool>``, the pool's own name, for each object):

- content group ``<gw>.<pool>``: ``relexpiry`` = ``ttl_seconds`` (changed in place),
  ``maxressize`` = ``max_object_kb``, ``memlimit`` = ``memory_mb``, type HTTP;
- cache policy ``<gw>.<pool>``: action CACHE into that group, rule
  ``HTTP.REQ.METHOD.EQ(GET) || HTTP.REQ.METHOD.EQ(HEAD)`` and, with ``paths``, one of the
  path prefixes;
- bound to the pool's LB vserver at REQUEST, so only requests routed to the pool are
  considered, and only after the pool's own request policies (the group check) have let them
  through. Feature IC is enabled with the others (``compile_gateway``).

Content groups and cache policies have no ``comment`` on an appliance: they are owned by the
``<gw>.`` prefix, like bindings.
"""

from __future__ import annotations

from adcml.gateway.security import Add, checked_rule
from adcml.gateway.spec import Cache, GatewaySpec
from adcml.policy.nodes import quote

CACHE_PRIORITY = 100
IDEMPOTENT = "HTTP.REQ.METHOD.EQ(GET) || HTTP.REQ.METHOD.EQ(HEAD)"


def compile_cache(add: Add, spec: GatewaySpec) -> None:
    for pool in spec.pools:
        if pool.cache is None:
            continue
        name, cache = f"{spec.name}.{pool.name}", pool.cache
        add("cachecontentgroup", name=name, relexpiry=cache.ttl_seconds,
            maxressize=cache.max_object_kb, memlimit=cache.memory_mb, type="HTTP")
        add("cachepolicy", policyname=name, rule=cache_rule(cache), action="CACHE",
            storeingroup=name)
        add("lbvserver_cachepolicy_binding", name=name, policyname=name, priority=CACHE_PRIORITY,
            gotopriorityexpression="END", bindpoint="REQUEST")


def cache_rule(cache: Cache) -> str:
    """GET or HEAD, on one of the paths (if any); parsed before anything is written."""
    if not cache.paths:
        return checked_rule(IDEMPOTENT)
    paths = " || ".join(f"HTTP.REQ.URL.PATH.STARTSWITH({quote(p)})" for p in cache.paths)
    return checked_rule(f"({IDEMPOTENT}) && ({paths})")
