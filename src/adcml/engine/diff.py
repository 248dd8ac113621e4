"""Desired objects + live objects → a Plan. Pure: no I/O, testable with data alone.

States follow Ansible's network resource modules:

- ``merged``: create what is missing, change what differs; never remove anything.
- ``replaced``: each desired object becomes exactly as desired (attributes it leaves out go
  back to their defaults; bindings of its own that are not desired are removed).
- ``overridden``: ``replaced``, and owned objects that are not desired at all are removed.
- ``deleted``: every owned object (in scope) is removed.

Owned objects are those the ``owned`` predicate accepts; nothing else is ever removed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

from adcml.engine.objects import KEEP_LIVE, Desired, KeptValueMissing
from adcml.engine.plan import Action, Change, Plan
from adcml.resources import SCHEMA, SECRET_ATTRS, Kind, Resource, ResourceKind, identity, level, schema
from adcml.resources.values import BadValue, canonical
from adcml.secret import Secret


class State(StrEnum):
    MERGED = "merged"
    REPLACED = "replaced"
    OVERRIDDEN = "overridden"
    DELETED = "deleted"


LiveState = dict[str, dict[tuple, dict[str, Any]]]
Owned = Callable[[str, dict[str, Any]], bool]
ORDER = {name: i for i, name in enumerate(SCHEMA)}


def index_live(resource: str, rows: Iterable[dict[str, Any]]) -> dict[tuple, dict[str, Any]]:
    res = schema(resource)
    return {identity(res, _canon_identity(res, row)): row for row in rows}


def _canon_identity(res: Resource, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in res.identity:
        attr = res.attr(name)
        if attr is not None and out.get(name) is not None:
            out[name] = _canon(attr, out[name])
    return out


def _canon(attr, value):
    if isinstance(value, Secret):
        return value
    try:
        return canonical(attr, value)
    except BadValue:
        return value


def name_of(res: Resource, ident: tuple) -> str:
    return "/".join(str(v) for v in ident) or res.name


def make_plan(desired: Iterable[Desired], live: LiveState, state: State | str,
              owned: Owned, *, write_secrets: bool = False) -> Plan:
    """Compare desired objects with live ones and return the ordered changes. An appliance
    never shows some secrets (an OAuth client secret): they count as the same unless
    ``write_secrets``, which rewrites each of them that can change in place (a rotation)."""
    state = State(state)
    wanted: dict[tuple[str, tuple], Desired] = {}
    for obj in desired:
        key = (obj.resource, identity(obj.schema, _canon_identity(obj.schema, obj.attrs)))
        wanted[key] = obj
    plan = Plan()
    missing: list[tuple[Desired, str, str]] = []
    if state is State.DELETED:
        _plan_deletions(plan, live, owned, keep=set())
        return _finish(plan)
    for (resource, ident), obj in wanted.items():
        res = obj.schema
        before = live.get(resource, {}).get(ident)
        change = _compare(res, ident, obj.attrs, before, strict=state is not State.MERGED,
                          write_secrets=write_secrets)
        if change is None:
            plan.unchanged += 1
        else:
            change.after = _resolve_kept(obj, change.after, before, missing)
            plan.changes.append(change)
    if state in (State.REPLACED, State.OVERRIDDEN):
        parents = {(r, i) for (r, i) in wanted}
        for resource, rows in live.items():
            res = SCHEMA[resource]
            if res.kind in (ResourceKind.IMPLICIT, ResourceKind.SINGLETON):
                continue  # they go with their owner / are appliance-wide
            for ident, row in rows.items():
                if (resource, ident) in wanted or not owned(resource, row):
                    continue
                parent_wanted = res.is_binding and any(
                    (res.parent, (ident[0],)) == p or _implied_parent(res, ident[0], p)
                    for p in parents
                )
                if state is State.OVERRIDDEN or parent_wanted:
                    plan.changes.append(_delete(res, ident, row, "not in the spec"))
    _cascade_replacements(plan, live, wanted, missing)
    if missing:
        raise KeptValueMissing(missing)
    return _finish(plan)


def _implied_parent(res: Resource, name: Any, wanted_key: tuple[str, tuple]) -> bool:
    parent = SCHEMA[res.parent]
    return wanted_key[0] in parent.implied_by and wanted_key[1] == (name,)


def _compare(res: Resource, ident: tuple, want: dict[str, Any], have: dict[str, Any] | None,
             *, strict: bool, write_secrets: bool = False) -> Change | None:
    name = name_of(res, ident)
    lvl = level(res.name)
    if have is None:
        if res.kind is ResourceKind.IMPLICIT:
            return Change(Action.UPDATE, res.name, name, None, dict(want), "settings of a new "
                          f"{'/'.join(res.implied_by)}", level=lvl)
        return Change(Action.CREATE, res.name, name, None, dict(want), "missing", level=lvl)
    differs: dict[str, Any] = {}
    replace_reasons = []
    if res.kind is ResourceKind.SINGLETON:
        return _compare_singleton(res, want, have, name, lvl)
    for key, value in want.items():
        attr = res.attr(key)
        if attr is None or key in res.identity or attr.write_only:
            continue
        if not _equal(attr, value, have.get(attr.name, attr.default)) or (
                write_secrets and _unseen_secret(res, attr, value, have)):
            differs[attr.name] = value
            if res.is_binding:
                replace_reasons.append(f"{attr.name} of a binding changes by unbind and bind")
            elif attr.immutable or (res.updatable is not None and attr.name not in res.updatable
                                    and attr.name not in res.update_action):
                replace_reasons.append(f"{attr.name} cannot change in place")
    unset: list[str] = []
    if strict:
        sources = {source for _, source in res.fills}
        for attr in res.attrs:
            if (attr.name in want or attr.name in res.identity or attr.readonly or attr.secret
                    or attr.write_only or attr.operational or attr.name in sources or attr.required
                    or attr.name in res.update_action):
                continue
            current = have.get(attr.name)
            if current is None or _equal(attr, attr.default, current):
                continue
            if attr.immutable:
                replace_reasons.append(f"{attr.name} must go back to its default")
            elif attr.default is not None:
                differs[attr.name] = attr.default
            else:
                unset.append(attr.name)
    if not differs and not unset:
        return None
    before = {k: _canon(res.attr(k), have.get(k)) for k in (*differs, *unset)}
    if replace_reasons:
        kept = {attr.name: have[attr.name] for attr in res.attrs
                if attr.operational and attr.name not in want and have.get(attr.name) is not None
                and not _equal(attr, attr.default, have[attr.name])}
        return Change(Action.REPLACE, res.name, name, _identity_attrs(res, have) | before,
                      dict(want) | kept, "; ".join(replace_reasons), level=lvl)
    after = {**{k: want[k] for k in res.identity if k in want}, **differs}
    if set(differs) & set(res.update_action):  # changed together, e.g. a cert with its key
        after.update({k: v for k, v in want.items() if k in res.update_action})
    reason = "differs: " + ", ".join([*differs, *unset])
    return Change(Action.UPDATE, res.name, name, before, after, reason, unset=unset, level=lvl)


def _compare_singleton(res: Resource, want: dict[str, Any], have: dict[str, Any], name: str,
                       lvl: int) -> Change | None:
    """Appliance-wide settings; flag lists (features) are only ever added to, never cleared:
    other configuration on the appliance may need what this one does not."""
    missing: dict[str, Any] = {}
    for key, value in want.items():
        attr = res.attr(key)
        if attr.kind is Kind.FLAGS:
            lacking = sorted(set(_canon(attr, value)) - set(_canon(attr, have.get(key)) or []))
            if lacking:
                missing[key] = lacking
        elif not _equal(attr, value, have.get(key, attr.default)):
            missing[key] = value
    if not missing:
        return None
    before = {k: have.get(k) for k in missing}
    return Change(Action.UPDATE, res.name, name, before, missing,
                  "needs: " + ", ".join(f"{k} {v}" for k, v in missing.items()), level=lvl)


def _identity_attrs(res: Resource, row: dict[str, Any]) -> dict[str, Any]:
    keep = set(res.identity) | set(res.delete_args)
    return {k: v for k, v in row.items() if k in keep and v is not None}


def _resolve_kept(obj: Desired, after: dict[str, Any] | None, have: dict[str, Any] | None,
                  missing: list[tuple[Desired, str, str]]) -> dict[str, Any] | None:
    """``after`` with each KEEP_LIVE value replaced by the live one (a Secret where it is one);
    added to ``missing`` where there is none to keep: the object is new, or the appliance never
    returns the attribute (a password) and the object must be written whole."""
    if after is None or not any(v is KEEP_LIVE for v in after.values()):
        return after
    out = dict(after)
    for key, value in after.items():
        if value is not KEEP_LIVE:
            continue
        live = None if have is None else have.get(key)
        if live is None:
            missing.append((obj, key, "the object does not exist yet: give the value" if have is None
                            else "the object must be written again and the appliance never shows "
                                 "this value: give it"))
            continue
        out[key] = Secret(str(live)) if key in SECRET_ATTRS else live
    return out


def _unseen_secret(res: Resource, attr, want: Any, have: dict[str, Any]) -> bool:
    """A secret the appliance does not show, which can be written again in place."""
    return (isinstance(want, Secret) and have.get(attr.name) is None and not attr.immutable
            and not res.is_binding and (res.updatable is None or attr.name in res.updatable))


def _equal(attr, want: Any, have: Any) -> bool:
    if want is KEEP_LIVE:
        return True
    if isinstance(want, Secret):
        if have is None:
            return True  # the appliance never returns it: nothing to compare
        return want.reveal() == str(have)
    if want is None or have is None:
        return want == have
    return _canon(attr, want) == _canon(attr, have)


def _delete(res: Resource, ident: tuple, row: dict[str, Any], reason: str) -> Change:
    return Change(Action.DELETE, res.name, name_of(res, ident), _identity_attrs(res, row), None,
                  reason, level=level(res.name))


def _plan_deletions(plan: Plan, live: LiveState, owned: Owned, keep: set) -> None:
    for resource, rows in live.items():
        res = SCHEMA[resource]
        if res.kind in (ResourceKind.IMPLICIT, ResourceKind.SINGLETON):
            continue
        for ident, row in rows.items():
            if owned(resource, row) and (resource, ident) not in keep:
                plan.changes.append(_delete(res, ident, row, "deleted state"))


def _cascade_replacements(plan: Plan, live: LiveState, wanted: dict,
                          missing: list[tuple[Desired, str, str]]) -> None:
    """A replaced object takes with it what references it and the bindings it owns."""
    replaced = [c for c in plan.changes if c.action is Action.REPLACE]
    seen = {(c.resource, c.name) for c in plan.changes}
    while replaced:
        change = replaced.pop()
        name = change.name.split("/")[0]
        for (resource, ident), obj in wanted.items():
            res = obj.schema
            refs = [a for a, target in res.references.items() if target == change.resource]
            if change.resource in res.implied_by:
                refs.append(res.key)
            if not any(obj.attrs.get(a) == name for a in refs):
                continue
            row = live.get(resource, {}).get(ident)
            key = (resource, name_of(res, ident))
            if key in seen or (row is None and res.kind is not ResourceKind.IMPLICIT):
                continue
            row = row or {res.key: name}
            seen.add(key)
            # it may be in the plan as an update already: the replace supersedes it
            plan.changes[:] = [c for c in plan.changes if (c.resource, c.name) != key]
            new = Change(Action.REPLACE, resource, key[1], _identity_attrs(res, row),
                         _resolve_kept(obj, dict(obj.attrs), live.get(resource, {}).get(ident), missing),
                         f"{change.resource} {name} is replaced", level=level(resource))
            plan.changes.append(new)
            replaced.append(new)


def _finish(plan: Plan) -> Plan:
    _rank_self_references(plan.changes)
    plan.changes.sort(key=lambda c: (c.level, c.rank, ORDER.get(c.resource, 0), c.name))
    return plan


def _rank_self_references(changes: list[Change]) -> None:
    """Within one resource type, an object that names another of its type (an lbvserver's
    ``backupvserver``) is written after that one and removed before it: its ``rank`` is the
    length of the chain of changed objects it names."""
    named: dict[tuple[str, str], tuple[Change, list[str]]] = {}
    for change in changes:
        attrs = [a for a, target in SCHEMA[change.resource].references.items() if target == change.resource]
        if attrs:
            named[change.resource, change.name] = (change, attrs)

    def depth(key: tuple[str, str], seen: frozenset) -> int:
        change, attrs = named[key]
        values = change.after or change.before or {}
        targets = {(key[0], str(values[a])) for a in attrs if values.get(a)}
        return 1 + max((depth(t, seen | {key}) for t in targets if t in named and t not in seen), default=-1)

    for key, (change, _) in named.items():
        change.rank = depth(key, frozenset())
