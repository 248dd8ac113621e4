"""A plan is plain data: ordered changes, each with an action, before, after and a reason.

Apply reads only the plan; check mode, ``--diff``, ``rendered`` and previews print it. Secret
values never appear in a plan's text or JSON: they are shown as ``***`` with a fingerprint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from adcml.engine.objects import KEEP_LIVE
from adcml.resources import SECRET_ATTRS
from adcml.secret import MASK, Secret


class Action(StrEnum):
    NOOP = "noop"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # delete, then create: an immutable attribute changed


class Phase(StrEnum):
    """Order of execution: replaced objects go first, new and changed next, pruning last."""

    CLEAR = "clear"  # delete the old half of a replace, children first
    BUILD = "build"  # create, update, and the new half of a replace, parents first
    PRUNE = "prune"  # delete what is no longer wanted, children first


@dataclass
class Change:
    """One change to one object. ``name`` is the object's identity, joined with ``/``."""

    action: Action
    resource: str
    name: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str = ""
    unset: list[str] = field(default_factory=list)
    level: int = 0
    rank: int = 0  # within a level and resource type: after the objects of its type it names

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "resource": self.resource,
            "name": self.name,
            "before": masked(self.before),
            "after": masked(self.after),
            "reason": self.reason,
            **({"unset": self.unset} if self.unset else {}),
        }

    def line(self) -> str:
        sign = {"create": "+", "delete": "-", "update": "~", "replace": "-/+", "noop": " "}[
            self.action
        ]
        text = f"{sign} {self.resource} {self.name}"
        if self.reason:
            text += f"  ({self.reason})"
        return text


@dataclass
class Plan:
    """Ordered changes; NOOPs are kept out of ``changes`` but counted in ``unchanged``."""

    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0
    reads: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.changes)

    def steps(self) -> list[tuple[Phase, Change]]:
        """Changes in execution order (see Phase); a REPLACE appears in CLEAR and BUILD."""
        clear = [c for c in self.changes if c.action is Action.REPLACE]
        build = [c for c in self.changes if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)]
        prune = [c for c in self.changes if c.action is Action.DELETE]
        by_level_desc = sorted(clear, key=lambda c: (-c.level, -c.rank))
        return (
            [(Phase.CLEAR, c) for c in by_level_desc]
            + [(Phase.BUILD, c) for c in sorted(build, key=lambda c: (c.level, c.rank))]
            + [(Phase.PRUNE, c) for c in sorted(prune, key=lambda c: (-c.level, -c.rank))]
        )

    def summary(self) -> dict[str, int]:
        counts = {a.value: 0 for a in Action if a is not Action.NOOP}
        for change in self.changes:
            counts[change.action.value] += 1
        counts["unchanged"] = self.unchanged
        return counts

    def to_dict(self) -> dict[str, Any]:
        return {"changes": [c.to_dict() for c in self.changes], "summary": self.summary()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def render(self) -> str:
        """A human diff: one line per change, then the attributes that differ."""
        if not self.changes:
            return f"No changes. {self.unchanged} objects up to date."
        lines = []
        shown: set[int] = set()
        for _, change in self.steps():
            if id(change) in shown:
                continue
            shown.add(id(change))
            lines.append(change.line())
            before, after = masked(change.before) or {}, masked(change.after) or {}
            if change.action in (Action.UPDATE, Action.REPLACE):
                for key in sorted(set(before) | set(change.unset)):
                    if key in change.unset:
                        lines.append(f"    {key}: {before.get(key)!r} -> (unset)")
                    elif key in after and before.get(key) != after[key]:
                        lines.append(f"    {key}: {before.get(key)!r} -> {after[key]!r}")
            elif change.action is Action.CREATE:
                lines.extend(f"    {k}: {v!r}" for k, v in after.items())
        summary = ", ".join(f"{n} to {a}" for a, n in self.summary().items() if n and a != "unchanged")
        lines.append(f"Plan: {summary}; {self.unchanged} unchanged.")
        return "\n".join(lines)


def masked(attrs: dict[str, Any] | None) -> dict[str, Any] | None:
    """Attributes with secrets replaced by ``*** (sha256:<fingerprint>)``."""
    if attrs is None:
        return None
    out = {}
    for key, value in attrs.items():
        if value is KEEP_LIVE:
            out[key] = f"{MASK} (the live value, kept)"
        elif isinstance(value, Secret):
            out[key] = f"{MASK} (sha256:{value.fingerprint()})"
        elif key in SECRET_ATTRS:
            out[key] = MASK
        else:
            out[key] = value
    return out
