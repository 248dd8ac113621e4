"""Limit identifiers: ``SYS.CHECK_LIMIT("<id>")`` is true when the request exceeds the limit.

An ``nslimitidentifier`` allows ``threshold`` requests per ``timeslice`` milliseconds for each
value of its stream selector (the values of the selector's expressions for the request, e.g.
``CLIENT.IP.SRC`` or ``HTTP.REQ.USER.NAME``; without a selector, one bucket for all). It is a
token bucket refilled at threshold/timeslice: ``BURSTY`` holds up to ``threshold`` tokens (a
burst of that size is allowed), ``SMOOTH`` holds one (requests must be spread evenly). Each
evaluation that finds a token takes it. ``mode NONE`` never limits; ``CONNECTION`` is counted
as ``REQUEST_RATE`` by the lab.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from adcml.policy import evaluate

log = logging.getLogger("adcml.lab.dataplane")
MAX_BUCKETS = 100_000  # selector values kept; beyond this the oldest buckets are forgotten


@dataclass(frozen=True)
class LimitSpec:
    name: str
    threshold: int
    timeslice_s: float
    smooth: bool
    off: bool
    selector: tuple[Any, ...]  # parsed expressions


class Limits:
    """Buckets of every limit identifier, by (partition, identifier, selector value)."""

    def __init__(self) -> None:
        self.specs: dict[tuple[str, str], LimitSpec] = {}
        self.buckets: dict[tuple, list[float]] = {}  # key → [tokens, last refill time]
        self.hits: dict[tuple[str, str], int] = {}
        self.drops: dict[tuple[str, str], int] = {}

    def rebuild(self, store, parse) -> list[str]:
        """Compile the limit identifiers of every partition; returns problems."""
        specs, problems = {}, []
        for part in store.partitions.values():
            selectors = part.table("streamselector")
            for row in part.table("nslimitidentifier").values():
                name = row["limitidentifier"]
                exprs: list[Any] = []
                sel = selectors.get((row.get("selectorname"),)) if row.get("selectorname") else None
                for text in (sel or {}).get("rule", []) or []:
                    try:
                        exprs.append(parse(text))
                    except Exception as exc:
                        problems.append(f"streamselector {sel['name']}: {exc}")
                specs[(part.name, name)] = LimitSpec(
                    name, int(row.get("threshold", 1)), int(row.get("timeslice", 1000)) / 1000,
                    row.get("limittype", "BURSTY") == "SMOOTH", row.get("mode") == "NONE",
                    tuple(exprs))
        if specs != self.specs:  # a changed identifier starts afresh; the others keep counting
            old = self.specs
            self.buckets = {k: v for k, v in self.buckets.items() if specs.get(k[:2]) == old.get(k[:2])}
        self.specs = specs
        return problems

    def exceeded(self, partition: str, name: str, ctx) -> bool:
        """SYS.CHECK_LIMIT(name) for the request ``ctx`` (an unknown identifier: never)."""
        spec = self.specs.get((partition, name))
        if spec is None or spec.off:
            return False
        values = tuple(selector_text(evaluate(expr, ctx)) for expr in spec.selector)
        key = (partition, name, values)
        now = time.monotonic()
        capacity = 1.0 if spec.smooth else float(spec.threshold)
        rate = spec.threshold / spec.timeslice_s
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= MAX_BUCKETS:
                for old in list(self.buckets)[: MAX_BUCKETS // 10]:
                    del self.buckets[old]
            bucket = self.buckets[key] = [capacity, now]
        else:
            bucket[0] = min(capacity, bucket[0] + (now - bucket[1]) * rate)
            bucket[1] = now
        counter = (partition, name)
        self.hits[counter] = self.hits.get(counter, 0) + 1
        if bucket[0] >= 1.0:
            bucket[0] -= 1.0
            return False
        self.drops[counter] = self.drops.get(counter, 0) + 1
        return True


def selector_text(value: Any) -> str:
    """A selector expression's value as the text a bucket or a cached object is found by."""
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)
