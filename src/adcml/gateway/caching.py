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

With ``post_paths``, POST answers too, keyed by the body (``<gw>.<pool>.post`` for each object):

- cache selector: ``HTTP.REQ.URL`` and ``HTTP.REQ.BODY(max_body_bytes)`` — an object is found
  by the URL and the first ``max_body_bytes`` of the body;
- content group with that ``hitselector`` (GET objects stay in the group without one, found by
  their URL alone), sizes and expiry as above;
- cache policy CACHE: a POST to one of the paths (exact) whose ``Content-Length`` is at most
  ``max_body_bytes`` — so the selector reads the whole body, and two bodies that share their
  first bytes are never confused; a chunked body (no Content-Length) is not cached. An
  explicit CACHE policy on the vserver is evaluated before the built-in ``_nonGetReq``.

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
POST_CACHE_PRIORITY = 110
IDEMPOTENT = "HTTP.REQ.METHOD.EQ(GET) || HTTP.REQ.METHOD.EQ(HEAD)"
_PATH = re.compile(r'HTTP\.REQ\.URL\.PATH\.STARTSWITH\("([^"\\]*)"\)')
_EXACT_PATH = re.compile(r'HTTP\.REQ\.URL\.PATH\.EQ\("([^"\\]*)"\)')
_BODY_LIMIT = re.compile(r"HTTP\.REQ\.CONTENT_LENGTH\.LE\((\d+)\)")


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
        if cache.post_paths:
            _compile_post_cache(add, name, cache, at)


def _compile_post_cache(add: Add, lb: str, cache: Cache, at: str) -> None:
    name, paths = post_cache_name(lb), f"{at}.post_paths"
    add("cacheselector", {"": paths, "rule": f"{at}.max_body_bytes"}, selectorname=name,
        rule=["HTTP.REQ.URL", f"HTTP.REQ.BODY({cache.max_body_bytes})"])
    add("cachecontentgroup", {"": paths, "relexpiry": f"{at}.ttl_seconds",
                              "maxressize": f"{at}.max_object_kb", "memlimit": f"{at}.memory_mb"},
        name=name, relexpiry=cache.ttl_seconds, maxressize=cache.max_object_kb,
        memlimit=cache.memory_mb, type="HTTP", hitselector=name)
    add("cachepolicy", paths, policyname=name, rule=post_cache_rule(cache), action="CACHE",
        storeingroup=name)
    add("lbvserver_cachepolicy_binding", paths, name=lb, policyname=name,
        priority=POST_CACHE_PRIORITY, gotopriorityexpression="END", bindpoint="REQUEST")


def post_cache_name(lb: str) -> str:
    return f"{lb}.post"


def post_cache_rule(cache: Cache) -> str:
    """A POST to one of ``post_paths`` with a body the selector reads whole."""
    paths = " || ".join(f"HTTP.REQ.URL.PATH.EQ({quote(p)})" for p in cache.post_paths)
    return ('HTTP.REQ.METHOD.EQ(POST) && HTTP.REQ.HEADER("Content-Length").EXISTS && '
            f"HTTP.REQ.CONTENT_LENGTH.LE({cache.max_body_bytes}) && ({paths})")


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
    out = {"ttl_seconds": live.value("cachecontentgroup", group, "relexpiry", 60),
           "max_object_kb": live.value("cachecontentgroup", group, "maxressize", 80),
           "memory_mb": live.value("cachecontentgroup", group, "memlimit", 64),
           "paths": _PATH.findall(str(policy.get("rule", "")))}
    post = live.obj("cachepolicy", post_cache_name(name))
    if post is not None:
        rule = str(post.get("rule", ""))
        out["post_paths"] = _EXACT_PATH.findall(rule)
        limit = _BODY_LIMIT.search(rule)
        if limit:
            out["max_body_bytes"] = int(limit.group(1))
    return out
