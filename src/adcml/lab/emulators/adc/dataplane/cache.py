"""Integrated caching in the data plane: cache policies decide, content groups hold responses.

Where. The cache is consulted on the LB vserver a request reaches, after every request policy
of the vservers it went through (authentication, responder, rewrite — as on an appliance, where
responder, AAA and rewrite run before integrated caching), just before a member is picked. A
caller refused with 401, 403 or 429 never reaches it; a hit never reaches a member.

Decision. The cache policies bound at bindpoint REQUEST to the CS vserver the request came
through, then those of the LB vserver, in priority order (``gotopriorityexpression`` as for
other policies): the first whose rule matches decides (an appliance applies one action, the
first match of the highest bank). Its action:

- ``CACHE``: served from, or stored into, its ``storeingroup`` (DEFAULT when unset) — also
  when the request carries Authorization or a cookie: the policy said so explicitly.
- ``MAY_CACHE``: the same, except that requests with Authorization or Cookie are not stored
  (the lab's reading of the appliance's built-in ``_personalizedReq`` policy), nor responses
  with ``Cache-Control: no-cache`` or ``Pragma: no-cache``.
- ``NOCACHE``, ``MAY_NOCACHE``: forwarded, nothing stored. No match: the same (the lab does
  not carry the appliance's built-in global policies).
- ``INVAL``: the ``invalgroups`` are flushed, the request is forwarded.

Storing. Only a GET (or, in a group with a ``hitselector``, a POST) answered ``200`` with a
length (not streamed), without ``Cache-Control: no-store`` or ``private``, without ``Vary``
other than ``Accept-Encoding``, without ``Content-Encoding``, between ``minressize`` and
``maxressize`` KB, with an expiry: the group's ``relexpiry`` / ``relexpirymillisec`` /
``weakposrelexpiry``, else the response's ``s-maxage`` / ``max-age``. ``Set-Cookie`` is
dropped from the stored copy (``removecookies YES``) or the response is not stored (``NO``).

Keys. In a group without a selector: the method, the Host and the URL (path and query, as
rewritten); HEAD is served from a stored GET, never stored itself. In a group with a
``hitselector``: the values of the selector's expressions for the request (e.g. ``HTTP.REQ.URL``
and ``HTTP.REQ.BODY(8192)``), and the method — so a POST is found by what its expressions
read, and a selector that reads the body keys by the body.

Hits carry ``Age`` (``insertage YES``). A group keeps at most ``memlimit`` MB (and the lab at
most ``LAB_MEMORY`` in all), the least recently used objects going first. ``polleverytime
YES`` fetches from the origin every time; ``ignorereqcachinghdrs NO`` lets a request's
``Cache-Control: no-cache`` / ``Pragma: no-cache`` skip the lookup.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from adcml.lab.emulators.adc.dataplane.flow import Flow
from adcml.lab.emulators.adc.dataplane.limits import selector_text
from adcml.lab.emulators.adc.dataplane.rules import walk
from adcml.lab.emulators.adc.models.caching import LAB_MEMORY
from adcml.lab.emulators.adc.models.partition import value
from adcml.lab.emulators.adc.models.traffic import CacheCounts, GroupCounts
from adcml.policy import evaluate

DEFAULT_GROUP = "DEFAULT"
STORABLE_ACTIONS = frozenset({"CACHE", "MAY_CACHE"})
GroupKey = tuple[str, str]  # partition, content group


@dataclass(frozen=True)
class GroupSpec:
    """A content group as the data plane uses it (sizes in bytes, times in seconds)."""

    ttl: float | None
    min_size: int
    max_size: int
    memlimit: int
    poll_every_time: bool
    request_headers: bool  # honour the request's Cache-Control/Pragma (ignorereqcachinghdrs NO)
    insert_age: bool
    remove_cookies: bool
    selector: tuple[Any, ...] | None = None  # the hitselector's parsed expressions

    @classmethod
    def from_row(cls, row: dict, selector: tuple[Any, ...] | None = None) -> GroupSpec:
        def get(attr: str):
            return value("cachecontentgroup", row, attr)

        millis, seconds = get("relexpirymillisec"), get("relexpiry")
        ttl = millis / 1000 if millis is not None else (
            seconds if seconds is not None else get("weakposrelexpiry"))
        return cls(ttl=None if ttl is None else float(ttl), min_size=get("minressize") * 1024,
                   max_size=get("maxressize") * 1024,
                   memlimit=min(get("memlimit") * 1024 * 1024, LAB_MEMORY),
                   poll_every_time=get("polleverytime") == "YES",
                   request_headers=get("ignorereqcachinghdrs") == "NO",
                   insert_age=get("insertage") == "YES",
                   remove_cookies=get("removecookies") == "YES", selector=selector)


@dataclass(frozen=True)
class CacheBound:
    """A cache policy bound to a vserver (the shape ``rules.walk`` evaluates)."""

    priority: int
    policy: str
    rule: Any
    goto: str
    action: str
    group: str
    inval: tuple[str, ...] = ()


@dataclass(frozen=True)
class CacheBank:
    """The cache policies bound to one vserver at REQUEST, in priority order."""

    policies: tuple[CacheBound, ...]


def compile_bank(part, kind: str, name: str, compile_rule, problems: list[str]) -> CacheBank | None:
    """The cache policies bound to vserver ``name`` (None when there are none). Pure; a rule
    that does not compile is left out and reported in ``problems``."""
    out = []
    for b in part.table(f"{kind}_cachepolicy_binding").values():
        if b["name"] != name or b.get("bindpoint", "REQUEST") != "REQUEST":
            continue
        pol = part.table("cachepolicy").get((b["policyname"],))
        if pol is None:
            continue
        try:
            rule = compile_rule(pol["rule"])
        except Exception as exc:  # a rule the engine cannot evaluate never matches
            problems.append(f"cachepolicy {b['policyname']}: {exc}")
            continue
        out.append(CacheBound(b.get("priority") or 0, b["policyname"], rule,
                              str(b.get("gotopriorityexpression", "END")), pol["action"],
                              pol.get("storeingroup") or DEFAULT_GROUP,
                              tuple(pol.get("invalgroups") or ())))
    out.sort(key=lambda x: (x.priority, x.policy))
    return CacheBank(tuple(out)) if out else None


def compile_groups(store, parse, problems: list[str]) -> dict[GroupKey, GroupSpec]:
    """Every partition's content groups (empty when feature IC is off). Pure; a group whose
    hit selector does not compile is left out (nothing is cached in it) and reported."""
    if "IC" not in store.features:
        return {}
    out = {}
    for part in store.partitions.values():
        selectors = part.table("cacheselector")
        for row in part.table("cachecontentgroup").values():
            selector = None
            if row.get("hitselector"):
                rules = (selectors.get((row["hitselector"],)) or {}).get("rule") or ()
                try:
                    selector = tuple(parse(text) for text in rules)
                except Exception as exc:
                    problems.append(f"cacheselector {row['hitselector']}: {exc}")
                    continue
            out[(part.name, row["name"])] = GroupSpec.from_row(row, selector)
    return out


# --- objects and counters ------------------------------------------------------------------------
@dataclass(slots=True)
class Entry:
    status: int
    reason: str | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    stored: float  # time.monotonic() when stored
    lifetime: float | None  # from the response (used when the group sets no expiry)
    size: int


@dataclass
class GroupState:
    """Objects of one content group (least recently used first) and its counters."""

    objects: OrderedDict = field(default_factory=OrderedDict)
    memory: int = 0
    hits: int = 0
    misses: int = 0
    flushed: int = 0

    def drop(self, key) -> None:
        entry = self.objects.pop(key, None)
        if entry is not None:
            self.memory -= entry.size

    def flush(self) -> None:
        self.objects.clear()
        self.memory = 0
        self.flushed += 1

    def fit(self, limit: int) -> None:
        while self.objects and self.memory > limit:
            self.drop(next(iter(self.objects)))


@dataclass
class Totals:
    """``stat cache`` counters of one partition."""

    hits: int = 0
    misses: int = 0
    storable: int = 0
    non_storable: int = 0


@dataclass(slots=True)
class Pending:
    """A miss on its way to the origin: what to do with the response."""

    bound: CacheBound | None
    key: tuple | None
    spec: GroupSpec | None


class ObjectCache:
    """The lab's integrated cache: per (partition, content group), objects and counters."""

    def __init__(self) -> None:
        self.specs: dict[GroupKey, GroupSpec] = {}
        self.groups: dict[GroupKey, GroupState] = {}
        self.totals: dict[str, Totals] = {}

    def reconcile(self, specs: dict[GroupKey, GroupSpec]) -> None:
        """New content group settings: drop removed groups, shrink to new memory limits."""
        for key in set(self.groups) - set(specs):
            del self.groups[key]
        for key, spec in specs.items():
            state = self.groups.setdefault(key, GroupState())
            state.fit(spec.memlimit)
        self.specs = specs

    def totals_of(self, partition: str) -> Totals:
        found = self.totals.get(partition)
        if found is None:
            found = self.totals[partition] = Totals()
        return found

    def flush(self, partition: str, group: str) -> None:
        state = self.groups.get((partition, group))
        if state is None:
            state = self.groups[(partition, group)] = GroupState()
        state.flush()

    # --- the request path ---------------------------------------------------------------------
    def begin(self, flow: Flow, banks: tuple[CacheBank, ...]) -> web.Response | Pending:
        """A hit (the response to send), or what to do once the origin has answered."""
        totals = self.totals_of(flow.partition)
        bound = _decide(banks, flow)
        if bound is None or bound.action not in STORABLE_ACTIONS:
            if bound is not None and bound.action == "INVAL":
                for group in bound.inval:
                    self.flush(flow.partition, group)
            totals.misses += 1
            return Pending(None, None, None)
        spec = self.specs.get((flow.partition, bound.group))
        if spec is None:  # the group is gone (or IC is off): nothing to store into
            totals.misses += 1
            return Pending(None, None, None)
        request = flow.request
        headers = flow.headers if flow.headers is not None else request.headers
        if spec.selector is None:
            key: tuple = ("GET", headers.get("Host", "").lower(), flow.path or request.raw_path)
        else:
            ctx = flow.context()
            key = (_stored_method(request.method),
                   *(selector_text(evaluate(expr, ctx)) for expr in spec.selector))
        state = self.groups.setdefault((flow.partition, bound.group), GroupState())
        if _lookup(request.method, spec) and not spec.poll_every_time and not (
                spec.request_headers and _reload(headers)):
            entry = state.objects.get(key)
            if entry is not None:
                age = time.monotonic() - entry.stored
                ttl = spec.ttl if spec.ttl is not None else entry.lifetime
                if ttl is not None and age < ttl:
                    state.objects.move_to_end(key)
                    state.hits += 1
                    totals.hits += 1
                    flow.record.member = f"cache:{bound.group}"
                    return _hit(entry, age, spec, request.method == "HEAD")
                state.drop(key)
        state.misses += 1
        totals.misses += 1
        return Pending(bound, key, spec)

    def finish(self, pending: Pending, flow: Flow, response: web.StreamResponse) -> None:
        """Store ``response`` when the decision and the response allow it."""
        totals = self.totals_of(flow.partition)
        entry = None
        if pending.bound is not None and not flow.lab_answered:
            entry = _storable(pending, flow, response)
        if entry is None:
            totals.non_storable += 1
            return
        totals.storable += 1
        state = self.groups.setdefault((flow.partition, pending.bound.group), GroupState())
        state.drop(pending.key)
        state.objects[pending.key] = entry
        state.memory += entry.size
        state.fit(pending.spec.memlimit)
        self._fit_lab()

    def _fit_lab(self) -> None:
        while sum(s.memory for s in self.groups.values()) > LAB_MEMORY:
            fullest = max(self.groups.values(), key=lambda s: s.memory)
            fullest.drop(next(iter(fullest.objects)))

    # --- counters ---------------------------------------------------------------------------
    def group_counts(self, partition: str, name: str) -> GroupCounts:
        """``stat cachecontentgroup`` of one group."""
        state = self.groups.get((partition, name), GroupState())
        return GroupCounts(state.hits, len(state.objects), state.memory, state.flushed)

    def totals_counts(self, partition: str) -> CacheCounts:
        """``stat cache`` of one partition."""
        totals = self.totals_of(partition)
        groups = [s for (p, _), s in self.groups.items() if p == partition]
        return CacheCounts(totals.hits, totals.misses, totals.storable, totals.non_storable,
                           sum(len(s.objects) for s in groups), sum(s.memory for s in groups))


# --- helpers ---------------------------------------------------------------------------------
def _stored_method(method: str) -> str:
    return "GET" if method == "HEAD" else method


def _lookup(method: str, spec: GroupSpec) -> bool:
    """Whether a request of ``method`` is looked up (and its answer may be stored)."""
    return method in ("GET", "HEAD") or (method == "POST" and spec.selector is not None)


def _decide(banks: tuple[CacheBank, ...], flow: Flow) -> CacheBound | None:
    for bank in banks:
        for bound in walk(bank.policies, flow):
            return bound
    return None


def _reload(headers) -> bool:
    control = headers.get("Cache-Control", "").lower()
    return "no-cache" in control or "no-cache" in headers.get("Pragma", "").lower()


def _directives(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(","):
        name, _, arg = part.strip().partition("=")
        if name:
            out[name.lower()] = arg.strip().strip('"')
    return out


def _seconds(text: str | None) -> float | None:
    return float(text) if text is not None and text.isdigit() else None


def _storable(pending: Pending, flow: Flow, response: web.StreamResponse) -> Entry | None:
    bound, spec = pending.bound, pending.spec
    request = flow.request
    if (request.method == "HEAD" or not _lookup(request.method, spec)
            or type(response) is not web.Response or response.status != 200):
        return None
    body = response.body
    if not isinstance(body, bytes):
        return None
    headers = response.headers
    control = _directives(",".join(headers.getall("Cache-Control", ())))
    if "no-store" in control or "private" in control or headers.get("Content-Encoding"):
        return None
    vary = {v.strip().lower() for v in ",".join(headers.getall("Vary", ())).split(",") if v.strip()}
    if vary - {"accept-encoding"}:
        return None
    if bound.action == "MAY_CACHE" and (
            "no-cache" in control or "no-cache" in headers.get("Pragma", "").lower()
            or "Authorization" in request.headers or "Cookie" in request.headers):
        return None
    if headers.get("Set-Cookie") and not spec.remove_cookies:
        return None
    if not spec.min_size <= len(body) <= spec.max_size:
        return None
    lifetime = _seconds(control.get("s-maxage")) or _seconds(control.get("max-age"))
    if spec.ttl is None and not lifetime:
        return None
    kept = tuple((k, v) for k, v in headers.items()
                 if k.lower() not in ("set-cookie", "content-length", "age"))
    size = len(body) + sum(len(k) + len(v) for k, v in kept)
    if size > spec.memlimit:
        return None
    return Entry(response.status, response.reason, kept, body, time.monotonic(), lifetime, size)


def _hit(entry: Entry, age: float, spec: GroupSpec, head: bool) -> web.Response:
    headers = CIMultiDict(entry.headers)
    if spec.insert_age:
        headers["Age"] = str(int(age))
    if head:
        response = web.Response(status=entry.status, reason=entry.reason, headers=headers)
        response.headers["Content-Length"] = str(len(entry.body))
        return response
    return web.Response(status=entry.status, reason=entry.reason, headers=headers, body=entry.body)
