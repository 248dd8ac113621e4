"""One admin partition's running config, and how its rows are keyed and read.

The leaf of the lab ADC's models: the store, the behaviours and the data plane all read
partitions, and this module imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adcml.resources import SCHEMA, Resource


@dataclass
class Partition:
    """One admin partition's running config: resource name → identity tuple → attributes."""

    name: str
    objects: dict[str, dict[tuple, dict]] = field(default_factory=dict)

    def table(self, resource: str) -> dict[tuple, dict]:
        return self.objects.setdefault(resource, {})

    def find(self, resource: str, name: str) -> dict | None:
        return self.table(resource).get((name,))

    def dump(self) -> dict:
        return {res: list(rows.values()) for res, rows in self.objects.items() if rows}


def identity(res: Resource, obj: dict) -> tuple:
    """The key of ``obj`` in its resource's table (the values of ``res.identity``)."""
    return tuple(obj.get(a) for a in res.identity)


def value(resource: str, row: dict, attr: str) -> Any:
    """An attribute of a stored row, or the schema's default for it."""
    found = row.get(attr)
    if found is not None:
        return found
    spec = SCHEMA[resource].attr(attr)
    return spec.default if spec is not None else None
