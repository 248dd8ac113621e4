"""What the integrated caching resources do beyond the schema's generic rules: the built-in
content groups, one expiry per group, and the content groups an INVAL policy names.

A content group named by a policy's ``storeingroup`` cannot be removed (315, the schema's
reference rule); nor can one named in a policy's ``invalgroups``, nor a built-in one (257).
"""

from __future__ import annotations

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.behaviours import Behaviour
from adcml.lab.emulators.adc.models.policies import PolicyBinding, Selector
from adcml.resources import ErrorCode
from adcml.resources.catalog_cache import BUILTIN_GROUPS, EXPIRY_ATTRS, MAX_INVAL_GROUPS

E = ErrorCode
GROUPS = "cachecontentgroup"
LAB_MEMORY = 256 * 1024 * 1024  # bytes the lab's cache may hold in all (cachemaxmemorykb)


class ContentGroup(Behaviour):
    """A content group: DEFAULT, BASEFILE and DELTAJS exist on a fresh appliance and stay;
    setting one way of expiry replaces the one set before."""

    def seed(self, store, part):
        for name in BUILTIN_GROUPS:
            part.table(GROUPS)[(name,)] = {"name": name, "_builtin": True}

    def apply_update(self, store, part, res, row, changes):
        if any(a in changes for a in EXPIRY_ATTRS):
            for attr in EXPIRY_ATTRS:
                if attr not in changes:
                    row.pop(attr, None)
        super().apply_update(store, part, res, row, changes)

    def check_delete(self, store, part, res, row, args):
        super().check_delete(store, part, res, row, args)
        name = row[res.key]
        if row.get("_builtin"):
            raise NitroFault(E.NOT_PERMITTED, f"{res.key}, {name}: built-in content group")
        for policy in part.table("cachepolicy").values():
            if name in (policy.get("invalgroups") or ()):
                raise NitroFault(res.in_use, f"{res.key}, {name}: used by cachepolicy "
                                             f"{policy['policyname']} (invalgroups)")


class CachePolicy(Behaviour):
    """A cache policy: ``invalgroups`` name existing content groups (1 to 16), and an INVAL
    policy needs them."""

    def prepare_add(self, store, part, res, obj):
        _check(part, obj, obj)

    def apply_update(self, store, part, res, row, changes):
        _check(part, {**row, **changes}, changes)
        super().apply_update(store, part, res, row, changes)


def _check(part, merged: dict, written: dict) -> None:
    groups = written.get("invalgroups")
    if groups is not None:
        if not 1 <= len(groups) <= MAX_INVAL_GROUPS:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"invalgroups, {len(groups)} groups: "
                                                       f"one to {MAX_INVAL_GROUPS} allowed")
        for group in groups:
            if part.table(GROUPS).get((group,)) is None:
                raise NitroFault(E.NO_SUCH_RESOURCE, f"invalgroups, {group}")
    if merged.get("action") == "INVAL" and not merged.get("invalgroups"):
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "invalgroups, needed by action INVAL")


def cache_behaviours() -> dict[str, Behaviour]:
    return {
        "cacheselector": Selector(),
        GROUPS: ContentGroup(),
        "cachepolicy": CachePolicy(),
        "lbvserver_cachepolicy_binding": PolicyBinding(),
        "csvserver_cachepolicy_binding": PolicyBinding(),
    }
