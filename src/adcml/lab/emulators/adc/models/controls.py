"""The lab ADC's test controls, outside /nitro: fault injection and request counters.

``POST /lab/faults`` installs a rule; a request that matches it (method, resource, action)
for the ``nth`` time, and the ``times - 1`` after it, is failed as the rule's ``kind`` says:

- ``error``: answered with ``status`` and a NITRO envelope carrying ``errorcode``;
- ``drop``: the connection is closed before the request is applied;
- ``drop_after``: the request is applied, then the connection is closed unanswered;
- ``latency``: the request waits ``latency_ms`` and then proceeds.

``method`` may be ``WRITE`` (any POST, PUT or DELETE except login and logout) or ``*``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

KINDS = ("error", "drop", "drop_after", "latency")


@dataclass
class FaultRule:
    method: str = "*"
    resource: str = "*"
    action: str | None = None
    nth: int = 1
    times: int = 1
    kind: str = "error"
    status: int = 503
    errorcode: int = 0
    message: str = "Service Unavailable (injected)"
    latency_ms: int = 0
    id: int = 0
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_json(cls, body: dict, rule_id: int) -> FaultRule:
        known = {f for f in cls.__dataclass_fields__ if f not in ("id", "seen", "fired")}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        rule = cls(**body, id=rule_id)
        if rule.kind not in KINDS:
            raise ValueError(f"kind: must be one of {', '.join(KINDS)}")
        if rule.nth < 1 or rule.times < 1:
            raise ValueError("nth and times must be at least 1")
        return rule

    def matches(self, method: str, resource: str, action: str | None) -> bool:
        if self.method == "WRITE":
            if method == "GET" or resource in ("login", "logout"):
                return False
        elif self.method not in ("*", method):
            return False
        if self.resource not in ("*", resource):
            return False
        return self.action is None or (action or "").lower() == self.action.lower()


@dataclass
class Controls:
    """Fault rules and request counters of one lab ADC."""

    rules: list[FaultRule] = field(default_factory=list)
    counters: Counter = field(default_factory=Counter)
    next_id: int = 1

    def add_rule(self, body: dict) -> FaultRule:
        rule = FaultRule.from_json(body, self.next_id)
        self.next_id += 1
        self.rules.append(rule)
        return rule

    def count(self, method: str, resource: str) -> None:
        self.counters[f"{method} {resource}"] += 1

    def fault_for(self, method: str, resource: str, action: str | None) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, resource, action):
                rule.seen += 1
                if rule.seen >= rule.nth and rule.fired < rule.times:
                    rule.fired += 1
                    return rule
        return None

    def report(self) -> dict:
        return {
            "total": sum(self.counters.values()),
            "requests": dict(sorted(self.counters.items())),
            "faults": [asdict(r) for r in self.rules],
        }
