"""The lab ADC's running configuration: NITRO objects per partition, validated by the schema.

Every public method either applies its whole change or raises NitroFault having changed
nothing: checks come first, writes last. The aiohttp server calls these methods from one event
loop thread, so no method is ever interleaved with another.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from adcml.lab.emulators.adc.exceptions import NitroFault, schema_faults
from adcml.lab.emulators.adc.models.expressions import check_object as check_expressions
from adcml.lab.emulators.adc.models.files import FileStore
from adcml.lab.emulators.adc.models.partition import Partition, identity
from adcml.lab.emulators.adc.models.traffic import NO_TRAFFIC, Traffic
from adcml.resources import (
    SCHEMA,
    ErrorCode,
    Resource,
    ResourceKind,
    UnknownResource,
    bindings_of,
    check,
    schema,
)
from adcml.resources.values import BadValue, canonical, wire

E = ErrorCode


def resource_for(name: str) -> Resource:
    try:
        return schema(name)
    except UnknownResource:
        raise NitroFault(E.INVALID_OBJECT_NAME, name, status=400) from None


def coerce(res: Resource, body: Any, *, adding: bool) -> dict:
    """Check a request body against the schema (``adcml.resources.check``, the checks the
    engine makes too); return canonical values by attribute name."""
    with schema_faults():
        return check.check_values(res, body, adding=adding)


def check_name(attr: str, name: str) -> None:
    """Refuse a new object name an appliance would refuse."""
    with schema_faults():
        check.check_name(attr, name)


def name_in(res: Resource, body: Any, attr: str | None = None) -> str:
    """The object name an action body carries in ``attr`` (the key by default), validated
    as a value of the key attribute."""
    attr = attr or res.key
    if not isinstance(body, dict):
        raise NitroFault(E.INVALID_JSON, f"{res.name}, expected an object", status=400)
    value = body.get(attr)
    if value is None:
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, attr)
    try:
        return canonical(res.attr(res.key), value)
    except BadValue as exc:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{attr}, {value}: {exc}") from None


def delete_args(res: Resource, args: dict[str, str]) -> dict[str, Any]:
    """The ``args=`` of a DELETE as canonical values; only the resource's delete args."""
    out: dict[str, Any] = {}
    for key, value in args.items():
        attr = res.attr(key)
        if attr is None or attr.name not in res.delete_args:
            raise NitroFault(E.INVALID_ARGUMENT, key)
        try:
            out[attr.name] = canonical(attr, value)
        except BadValue as exc:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{key}, {value}: {exc}") from None
    return out


class ConfigStore:
    """Running configuration of the lab ADC, with the behaviours of special resources.

    ``traffic`` is what observes the traffic this config describes (the lab ADC registers its
    data plane there when it builds one); behaviours and statistics read it as ``observed``.
    """

    def __init__(self, behaviours: dict[str, Any], files: FileStore) -> None:
        self.behaviours = behaviours
        self.files = files
        self.partitions: dict[str, Partition] = {}
        self.features: set[str] = set()
        # Passphrases of encrypted keys, which the config keeps in memory only (never saved,
        # never returned): the data plane needs them to load the keys. (partition, certkey) →
        # passplain.
        self.passphrases: dict[tuple[str, str], str] = {}
        self.traffic: Traffic = NO_TRAFFIC
        self.generation = 0  # bumped by every write (see ``changed``)
        self.listeners: list[Callable[[], None]] = []  # told of every write (the data plane)
        self.changed = False
        self.reset()

    @property
    def observed(self) -> Traffic:
        """The registered traffic while it is carried, else ``NO_TRAFFIC`` (answers from the
        config alone, as on a lab ADC without a data plane)."""
        return self.traffic if self.traffic.observing else NO_TRAFFIC

    @property
    def changed(self) -> bool:
        """Whether the running config differs from the saved one (nsconfig configchanged)."""
        return self._changed

    @changed.setter
    def changed(self, value: bool) -> None:
        # Every write (and every load, reset or rollback) ends by setting this flag: the one
        # place to tell observers that the running config may have changed.
        self._changed = value
        self.generation += 1
        for listener in self.listeners:
            listener()

    # --- whole config ------------------------------------------------------------------------
    def reset(self) -> None:
        """Clear the running config back to a fresh appliance's."""
        self.partitions = {"default": Partition("default")}
        self.features = set()
        for behaviour in self.behaviours.values():
            behaviour.seed(self, self.partitions["default"])

    def snapshot(self) -> dict:
        return {
            "partitions": {n: p.dump() for n, p in self.partitions.items()},
            "features": sorted(self.features),
        }

    def restore(self, data: dict) -> None:
        self.reset()
        self.features = set(data.get("features", []))
        for pname, tables in data.get("partitions", {}).items():
            part = self.partitions.setdefault(pname, Partition(pname))
            for resname, rows in tables.items():
                if resname not in SCHEMA:
                    continue
                res = SCHEMA[resname]
                table = part.table(resname)
                for row in rows:
                    table[identity(res, row)] = row

    def clone(self) -> dict:
        """A copy of the mutable state (files included), for rollback of a bulk request."""
        state = copy.deepcopy({"p": self.partitions, "f": self.features, "c": self.changed})
        state["files"] = dict(self.files.files)
        return state

    def rollback(self, saved: dict) -> None:
        self.partitions, self.features, self.changed = saved["p"], saved["f"], saved["c"]
        for path in set(self.files.files) - set(saved["files"]):
            self.files.delete(path)
        for path, data in saved["files"].items():
            if self.files.read(path) != data:
                self.files.write(path, data)

    def partition(self, name: str) -> Partition:
        try:
            return self.partitions[name]
        except KeyError:
            raise NitroFault(E.NO_SUCH_RESOURCE, f"partitionname, {name}") from None

    def behaviour(self, res: Resource):
        return self.behaviours.get(res.name) or self.behaviours["*"]

    # --- reads ------------------------------------------------------------------------------
    def get(self, part: Partition, res: Resource, name: str | None, args: dict) -> list[dict]:
        if res.kind is ResourceKind.SINGLETON:
            return [self.behaviour(res).render_singleton(self, part)]
        if res.is_binding:
            if name is None:
                rows = list(part.table(res.name).values())
            else:
                self.require_parent(part, res, name, status=404)
                rows = [r for r in part.table(res.name).values() if r[res.key] == name]
            return [self.render(part, res, r) for r in rows]
        if name is None:
            rows = list(self.behaviour(res).list_objects(self, part, res, args))
        else:
            row = self.behaviour(res).lookup(self, part, res, name, args)
            if row is None:
                raise NitroFault(res.missing, f"{res.key}, {name}", status=404)
            rows = [row]
        return [self.render(part, res, r) for r in rows]

    def iter_objects(self, part: Partition, res: Resource) -> Iterator[dict]:
        if res.kind is ResourceKind.IMPLICIT:
            yield from self.behaviour(res).implicit_objects(self, part)
        else:
            yield from part.table(res.name).values()

    def render(self, part: Partition, res: Resource, row: dict) -> dict:
        out: dict[str, Any] = {}
        for attr in res.attrs:
            if attr.secret or attr.write_only or attr.readonly:
                continue
            value = row.get(attr.name, attr.default)
            if value is not None:
                out[attr.name] = wire(attr, value)
        out.update(self.behaviour(res).computed(self, part, res, row))
        return out

    def bindings(self, part: Partition, parent: Resource, name: str | None) -> list[dict]:
        """The ``<parent>_binding`` aggregate: per parent object, its bindings by type."""
        names = [name] if name is not None else [
            r[parent.key] for r in self.iter_objects(part, parent)
        ]
        if name is not None and self.behaviour(parent).lookup(self, part, parent, name, {}) is None:
            raise NitroFault(parent.missing, f"{parent.key}, {name}", status=404)
        out = []
        for pname in names:
            entry: dict[str, Any] = {parent.key: pname}
            for bres in bindings_of(parent.name):
                rows = [
                    self.render(part, bres, r)
                    for r in part.table(bres.name).values()
                    if r[bres.key] == pname
                ]
                if rows:
                    entry[bres.name] = rows
            out.append(entry)
        return out

    # --- writes -----------------------------------------------------------------------------
    def add(self, part: Partition, res: Resource, body: Any, *, idempotent: bool = False) -> str:
        """Add one object (or binding). Returns 'added' or 'updated' (idempotent add)."""
        if res.kind is ResourceKind.BINDING:
            self.bind(part, res, body)
            return "added"
        if res.kind in (ResourceKind.IMPLICIT, ResourceKind.SINGLETON):
            raise NitroFault(E.NOT_PERMITTED, f"{res.name} cannot be added", status=599)
        obj = coerce(res, body, adding=True)
        check_expressions(part, res, obj)
        behaviour = self.behaviour(res)
        existing = behaviour.lookup(self, part, res, obj[res.key], obj)
        if existing is not None:
            if idempotent:
                self.update(part, res, body)
                return "updated"
            raise NitroFault(behaviour.exists_code, f"{res.key}, {obj[res.key]}")
        behaviour.prepare_add(self, part, res, obj)
        self.check_references(part, res, obj)
        behaviour.insert(self, part, res, obj)
        self.changed = True
        return "added"

    def bind(self, part: Partition, res: Resource, body: Any) -> None:
        obj = coerce(res, body, adding=True)
        behaviour = self.behaviour(res)
        self.require_parent(part, res, obj[res.key])
        check_expressions(part, res, obj)
        behaviour.prepare_add(self, part, res, obj)
        self.check_references(part, res, obj, skip=(res.key,))
        table = part.table(res.name)
        ident = identity(res, obj)
        if ident in table:
            raise NitroFault(E.ALREADY_EXISTS, ", ".join(str(v) for v in ident))
        behaviour.insert(self, part, res, obj)
        self.changed = True

    def update(self, part: Partition, res: Resource, body: Any) -> None:
        if res.is_binding:
            raise NitroFault(E.NOT_PERMITTED, f"{res.name}: unbind and bind to change a binding")
        if res.kind is ResourceKind.SINGLETON:
            self._set_singleton(part, res, body, "set")
            return
        if res.updatable == ():
            raise NitroFault(E.NOT_PERMITTED, f"{res.name} cannot be updated: delete and add")
        changes = coerce(res, body, adding=False)
        name = changes[res.key]
        behaviour = self.behaviour(res)
        row = behaviour.lookup(self, part, res, name, changes)
        if row is None:
            raise NitroFault(res.missing, f"{res.key}, {name}", status=404)
        check_expressions(part, res, changes)
        for key, value in changes.items():
            attr = res.attr(key)
            if key == res.key or attr is None:
                continue
            if res.updatable is not None and key not in res.updatable and not attr.write_only:
                raise NitroFault(E.INVALID_ARGUMENT, f"{key}, cannot be changed with update")
            if attr.immutable and value != row.get(key, attr.default):
                raise NitroFault(E.INVALID_ARGUMENT, f"{key}, cannot be changed once set")
        self.check_references(part, res, changes)
        behaviour.apply_update(self, part, res, row, changes)
        self.changed = True

    def _set_singleton(self, part: Partition, res: Resource, body: Any, how: str) -> None:
        """Set or unset settings of a singleton that has them (tmsessionparameter)."""
        behaviour = self.behaviour(res)
        handler = behaviour.set_singleton if how == "set" else behaviour.unset_singleton
        if not isinstance(body, dict):
            raise NitroFault(E.INVALID_JSON, f"{res.name}, expected an object", status=400)
        handler(self, part, res, body)
        self.changed = True

    def unset(self, part: Partition, res: Resource, body: Any) -> None:
        if res.kind is ResourceKind.SINGLETON:
            self._set_singleton(part, res, body, "unset")
            return
        name = name_in(res, body)
        row = self.behaviour(res).lookup(self, part, res, name, {})
        if row is None:
            raise NitroFault(res.missing, f"{res.key}, {name}", status=404)
        names = [k for k in body if k != res.key]
        for key in names:
            attr = res.attr(key)
            if attr is None or attr.readonly:
                raise NitroFault(E.INVALID_ARGUMENT, key)
            if attr.required or attr.immutable:
                raise NitroFault(E.INVALID_ARGUMENT, f"{key}, cannot be unset")
        for key in names:
            row.pop(res.attr(key).name, None)
        self.changed = True

    def delete(self, part: Partition, res: Resource, name: str, args: dict) -> None:
        probe = delete_args(res, args)
        if res.is_binding:
            self.unbind(part, res, name, probe)
            return
        if res.kind in (ResourceKind.IMPLICIT, ResourceKind.SINGLETON):
            raise NitroFault(E.NOT_PERMITTED, f"{res.name} cannot be removed")
        behaviour = self.behaviour(res)
        row = behaviour.lookup(self, part, res, name, probe)
        if row is None:
            raise NitroFault(res.missing, f"{res.key}, {name}", status=404)
        behaviour.check_delete(self, part, res, row, probe)
        user = self.first_user(part, res, name)
        if user is not None:
            raise NitroFault(res.in_use, user)
        behaviour.remove(self, part, res, row)
        self.changed = True

    def unbind(self, part: Partition, res: Resource, name: str, probe: dict) -> None:
        self.require_parent(part, res, name, status=404)
        probe = {**probe, res.key: name}
        behaviour = self.behaviour(res)
        behaviour.prepare_unbind(self, part, res, probe)
        for key in res.member_key:
            if probe.get(key) is None:
                raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, key)
        table = part.table(res.name)
        ident = identity(res, probe)
        if ident not in table:
            raise NitroFault(res.missing, ", ".join(str(v) for v in ident), status=404)
        behaviour.check_delete(self, part, res, table[ident], probe)
        del table[ident]
        self.changed = True

    def rename(self, part: Partition, res: Resource, body: Any) -> None:
        name, new = name_in(res, body), name_in(res, body, "newname")
        check_name("newname", new)
        table = part.table(res.name)
        if (name,) not in table:
            raise NitroFault(res.missing, f"{res.key}, {name}", status=404)
        if (new,) in table:
            raise NitroFault(E.ALREADY_EXISTS, f"{res.key}, {new}")
        row = table.pop((name,))
        row[res.key] = new
        table[(new,)] = row
        for other, ref_attr in self.referrers(res.name):
            for key, obj in list(part.table(other.name).items()):
                if obj.get(ref_attr) == name:
                    obj[ref_attr] = new
                    part.table(other.name)[identity(other, obj)] = part.table(other.name).pop(key)
        self.behaviour(res).renamed(self, part, res, name, new)
        self.changed = True

    # --- integrity --------------------------------------------------------------------------
    @staticmethod
    def referrers(resource: str) -> Iterable[tuple[Resource, str]]:
        for other in SCHEMA.values():
            for attr in other.attrs:
                if attr.ref == resource:
                    yield other, attr.name

    def check_references(
        self, part: Partition, res: Resource, obj: dict, skip: tuple[str, ...] = ()
    ) -> None:
        for attr_name, target in res.references.items():
            value = obj.get(attr_name)
            if value is None or attr_name in skip or (target == res.name and value == obj.get(res.key)):
                continue
            builtin = res.attr(attr_name).builtin(value)
            if builtin is not None:  # a built-in action (RESET, DROP...): no object to find
                obj[attr_name] = builtin
                continue
            tres = SCHEMA[target]
            if self.behaviour(tres).lookup(self, part, tres, value, {}) is None:
                raise NitroFault(tres.missing, f"{attr_name}, {value}")

    def require_parent(self, part: Partition, res: Resource, name: str, status=None) -> None:
        parent = SCHEMA[res.parent]
        if self.behaviour(parent).lookup(self, part, parent, name, {}) is None:
            raise NitroFault(res.missing if res.missing != E.NO_SUCH_RESOURCE else parent.missing,
                             f"{res.key}, {name}", status=status)

    def first_user(self, part: Partition, res: Resource, name: str) -> str | None:
        """Describe the first object that references ``name`` (other than bindings it owns)."""
        for other, attr_name in self.referrers(res.name):
            if other.is_binding and other.parent == res.name and attr_name == other.key:
                continue  # its own bindings go with it
            for obj in self.iter_objects(part, other):
                if obj.get(attr_name) == name and not (other is res and obj.get(res.key) == name):
                    owner = obj.get(other.key)
                    return f"{res.key}, {name}: used by {other.name} {owner}"
        return None

    def remove_bindings_of(self, part: Partition, parent: str, name: str) -> None:
        for bres in SCHEMA.values():
            if bres.is_binding and bres.parent == parent:
                table = part.table(bres.name)
                for key in [k for k, r in table.items() if r[bres.key] == name]:
                    del table[key]
