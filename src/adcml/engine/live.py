"""Reading live state with few requests: one GET per resource type, one bulk GET per
binding parent (``<parent>_binding?bulkbindings=yes`` returns every binding type at once)."""

from __future__ import annotations

from collections.abc import Iterable

from adcml.engine.diff import LiveState, index_live
from adcml.nitro import FeatureNotAvailable, NitroClient
from adcml.resources import SCHEMA, bindings_of

SSL_DIR = "/nsconfig/ssl/"


def read_live(client: NitroClient, resources: Iterable[str]) -> LiveState:
    """Live objects of the given resource types, indexed by identity."""
    wanted = set(resources)
    live: LiveState = {}
    parents = sorted({SCHEMA[r].parent for r in wanted if SCHEMA[r].is_binding})
    for resource in sorted(r for r in wanted if not SCHEMA[r].is_binding):
        try:
            if resource == "systemfile":
                rows = client.get(resource, args={"filelocation": SSL_DIR})
            else:
                rows = client.get(resource)
        except FeatureNotAvailable:  # not licensed here: nothing of it can exist
            rows = []
        live[resource] = index_live(resource, rows)
    for parent in parents:
        kinds = [b for b in bindings_of(parent) if b.name in wanted]
        for kind in kinds:
            live.setdefault(kind.name, {})
        for entry in client.bindings(parent):
            for kind in kinds:
                live[kind.name].update(index_live(kind.name, entry.get(kind.name, [])))
    return live
