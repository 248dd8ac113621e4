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

import re
from typing import Any

from adcml.gateway.names import Add, LiveGateway, pool_object_name
from adcml.gateway.spec import Cache, GatewaySpec
from adcml.policy.nodes import quote

CACHE_PRIORITY = 100
IDEMPOTENT = "HTTP.REQ.METHOD.EQ(GET) || HTTP.REQ.METHOD.EQ(HEAD)"
_PATH = re.compile(r'HTTP\.REQ\.URL\.PATH\.STARTSWITH\("([^"\\]*)"\)')


def compile_cache(add: Add, spec: GatewaySpec) -> None:
    for i, pool in enumerate(spec.pools):
        if pool.cache is None:
            continue
        name, cache, at = pool_object_name(spec.name, pool.name), pool.cache, f"pools[{i}].cache"
        add("cachecontentgroup", {"": at, "relexpiry": f"{at}.ttl_seconds",
                                  "maxressize": f"{at}.max_object_kb", "memlimit": f"{at}.memory_mb"},
            name=name, relexpiry=cache.ttl_seconds, maxressize=cache.max_object_kb,
            memlimit=cache.memory_mb, type="HTTP")
        add("cachepolicy", {"": at, "rule": f"{at}.paths"}, policyname=name, rule=cache_rule(cache),
            action="CACHE", storeingroup=name)
        add("lbvserver_cachepolicy_binding", at, name=name, policyname=name, priority=CACHE_PRIORITY,
            gotopriorityexpression="END", bindpoint="REQUEST")


def cache_rule(cache: Cache) -> str:
    """GET or HEAD, on one of the paths (if any)."""
    if not cache.paths:
        return IDEMPOTENT
    paths = " || ".join(f"HTTP.REQ.URL.PATH.STARTSWITH({quote(p)})" for p in cache.paths)
    return f"({IDEMPOTENT}) && ({paths})"


def gather_cache(live: LiveGateway, pool: str) -> dict[str, Any] | None:
    """A pool's ``cache`` section, or None."""
    name = pool_object_name(live.name, pool)
    group, policy = live.obj("cachecontentgroup", name), live.obj("cachepolicy", name)
    if group is None or policy is None:
        return None
    return {"ttl_seconds": live.value("cachecontentgroup", group, "relexpiry", 60),
            "max_object_kb": live.value("cachecontentgroup", group, "maxressize", 80),
            "memory_mb": live.value("cachecontentgroup", group, "memlimit", 64),
            "paths": _PATH.findall(str(policy.get("rule", "")))}
