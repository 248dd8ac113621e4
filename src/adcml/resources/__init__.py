"""Schema of the NITRO resources adcml knows: one table, read by the client, the engine and
the lab ADC alike.

>>> from adcml.resources import schema
>>> schema("lbvserver").attr("servicetype").immutable
True
"""

from __future__ import annotations

from adcml.resources.catalog import RESOURCES
from adcml.resources.errorcodes import MISSING_CODES, ErrorCode
from adcml.resources.model import Attr, Kind, Resource, ResourceKind

SCHEMA: dict[str, Resource] = {r.name: r for r in RESOURCES}

# Attribute names (lower case) whose values never reach a log, a diff, an exception or a module
# result, whatever the resource: the one table (the NITRO client's redaction, the engine's plans
# and the Ansible modules' no_log all read it). Beyond the schema's secrets (never returned by an
# appliance) it names the credentials of resources the schema does not know (password,
# passplain, clientsecret, keyvalue), a login's session id, and two attributes that GET returns
# but that can carry secrets: a systemfile's content (a private key) and a string builder
# expression (a bearer token).
SECRET_ATTRS: frozenset[str] = frozenset(
    {a.name for r in RESOURCES for a in r.attrs if a.secret}
    | {"password", "passplain", "clientsecret", "keyvalue", "sessionid", "filecontent",
       "stringbuilderexpr"}
)


class UnknownResource(KeyError):
    """A resource name that is not in the schema."""


def schema(name: str) -> Resource:
    """The schema of resource ``name``; raises UnknownResource."""
    try:
        return SCHEMA[name]
    except KeyError:
        raise UnknownResource(name) from None


def identity(res: Resource, attrs: dict) -> tuple:
    """The values that identify one object of ``res`` (see Resource.identity and fills)."""
    if res.kind is ResourceKind.SINGLETON:
        return ()
    values = dict(attrs)
    for target, source in res.fills:
        if values.get(target) is None:
            values[target] = values.get(source)
    return tuple(values.get(a) for a in res.identity)


def level(resource: str) -> int:
    """Dependency depth: 0 for objects that reference nothing; parents before children."""
    return _levels()[resource]


def _levels() -> dict[str, int]:
    if not _LEVELS:
        def depth(name: str, seen: tuple[str, ...] = ()) -> int:
            res = SCHEMA[name]
            deps = {t for t in res.references.values() if t != name}
            deps |= set(res.implied_by) | set(res.after)
            deps |= {res.parent} if res.parent else set()
            return 1 + max((depth(d, (*seen, name)) for d in deps if d not in seen), default=-1)

        _LEVELS.update({name: depth(name) for name in SCHEMA})
    return _LEVELS


_LEVELS: dict[str, int] = {}


def bindings_of(parent: str) -> list[Resource]:
    """Binding resources whose parent is ``parent`` (for ``<parent>_binding`` aggregates)."""
    return [r for r in RESOURCES if r.is_binding and r.parent == parent]


__all__ = [
    "SCHEMA", "SECRET_ATTRS", "Attr", "ErrorCode", "Kind", "MISSING_CODES", "Resource",
    "ResourceKind", "UnknownResource", "bindings_of", "identity", "level", "schema",
]
