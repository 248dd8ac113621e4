"""What the security and policy resources do beyond the schema's generic rules: AAA
vservers, rewrite and responder actions (whose required attributes depend on their type),
policy bindings that invoke labels, limit identifiers and stream selectors.

Expression syntax is checked for every resource alike (``expressions``).
"""

from __future__ import annotations

import re

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.behaviours import Behaviour, Vserver
from adcml.lab.emulators.adc.models.expressions import check_text, limit_users
from adcml.resources import SCHEMA, ErrorCode, Resource
from adcml.resources.catalog_security import RESPONDER_BUILTINS, REWRITE_BUILTINS
from adcml.resources.model import Syntax
from adcml.resources.values import BadValue, canonical

E = ErrorCode
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP token (RFC 9110)
MAX_SELECTOR_ITEMS = 5


class AuthVserver(Vserver):
    """An authentication vserver: always SSL (with its implicit sslvserver); UP when it can
    serve, i.e. enabled and either non-addressable or holding a server certificate."""

    def prepare_add(self, store, part, res, obj):
        obj.setdefault("servicetype", "SSL")

    def computed(self, store, part, res, row):
        name = row[res.key]
        addressable = row.get("ipv46", "0.0.0.0") not in ("0.0.0.0", "::") or row.get("port", 0)
        certified = any(
            b["vservername"] == name and not b.get("ca")
            for b in part.table("sslvserver_sslcertkey_binding").values()
        )
        if row.get("state", "ENABLED") == "DISABLED":
            state = "OUT OF SERVICE"
        elif certified or not addressable:
            state = "UP"
        else:
            state = "DOWN"
        return {"curstate": state, "effectivestate": state, "status": 1 if state == "UP" else 0}


class TypedAction(Behaviour):
    """A rewrite or responder action: what it needs depends on its (immutable) type, and the
    built-in action names are reserved."""

    def __init__(self, needs: dict[str, tuple[str, ...]], target_syntax: dict[str, Syntax | None],
                 builtins: tuple[str, ...]):
        self.needs = needs
        self.target_syntax = target_syntax
        self.builtins = builtins

    def prepare_add(self, store, part, res, obj):
        name = obj[res.key]
        if name.upper() in self.builtins:
            raise NitroFault(self.exists_code, f"{res.key}, {name}: a built-in action")
        self._check(res, obj, obj)

    def apply_update(self, store, part, res, row, changes):
        self._check(res, {**row, **changes}, changes)
        super().apply_update(store, part, res, row, changes)

    def _check(self, res: Resource, merged: dict, written: dict) -> None:
        kind = merged["type"]
        for attr in self.needs.get(kind, ()):
            if merged.get(attr) is None:
                raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, f"{attr}, needed by type {kind}")
        target = written.get("target")
        if target is None:
            return
        syntax = self.target_syntax.get(kind)
        if syntax is not None:
            check_text("target", syntax, target)
        elif kind.endswith("_header") and not HEADER_NAME.fullmatch(target):
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"target, {target}: not an HTTP header name")


_TEXT = ("target", "stringbuilderexpr")
REWRITE_NEEDS = {
    "noop": (), "delete": ("target",), "insert_http_header": _TEXT,
    "delete_http_header": ("target",), "corrupt_http_header": ("target",),
    "insert_before": _TEXT, "insert_after": _TEXT, "replace": _TEXT,
    "replace_http_res": ("stringbuilderexpr",), "delete_all": ("target", "search"),
    "replace_all": (*_TEXT, "search"), "insert_before_all": (*_TEXT, "search"),
    "insert_after_all": (*_TEXT, "search"),
}
# Header types name a header in target; the others locate text with an expression.
REWRITE_TARGET = {t: None if t.endswith("_header") or t == "noop" else Syntax.EXPRESSION
                  for t in REWRITE_NEEDS}
RESPONDER_NEEDS = {"noop": (), "respondwith": ("target",), "redirect": ("target",),
                   "respondwithhtmlpage": ("htmlpage",)}
RESPONDER_TARGET = {"respondwith": Syntax.STRING, "redirect": Syntax.STRING}


class PolicyBinding(Behaviour):
    """A rewrite/responder policy bound to a vserver; ``invoke`` hands evaluation on to a
    label: another vserver's policy bank (``reqvserver``/``resvserver``) or a policy label
    (not emulated: always 3087)."""

    def prepare_add(self, store, part, res, obj):
        labeled = [a for a in ("labeltype", "labelname") if obj.get(a) is not None]
        if not obj.get("invoke"):
            if labeled:
                raise NitroFault(E.PREREQUISITE_MISSING, f"{labeled[0]}, needs invoke")
            return
        for attr in ("labeltype", "labelname"):
            if obj.get(attr) is None:
                raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, f"{attr}, needed by invoke")
        label = obj["labelname"]
        if obj["labeltype"] == "policylabel":
            raise NitroFault(E.POLICY_LABEL_MISSING, f"labelname, {label}")
        parent = SCHEMA[res.parent]
        if store.behaviour(parent).lookup(store, part, parent, label, {}) is None:
            raise NitroFault(parent.missing, f"labelname, {label}")


class AuthPolicyBinding(Behaviour):
    """An authentication policy bound to an authentication vserver; ``nextfactor`` names an
    authentication policy label, which the lab does not emulate (3087)."""

    def prepare_add(self, store, part, res, obj):
        if obj.get("nextfactor") is not None:
            raise NitroFault(E.POLICY_LABEL_MISSING, f"nextfactor, {obj['nextfactor']}")


class LimitIdentifier(Behaviour):
    """timeslice in multiples of 10 ms; not removable while a rule calls SYS.CHECK_LIMIT on it."""

    def prepare_add(self, store, part, res, obj):
        _timeslice(obj)

    def apply_update(self, store, part, res, row, changes):
        _timeslice(changes)
        super().apply_update(store, part, res, row, changes)

    def check_delete(self, store, part, res, row, args):
        super().check_delete(store, part, res, row, args)
        name = row[res.key]
        for user in limit_users(part, name):
            raise NitroFault(res.in_use, f"{res.key}, {name}: used by {user}")


def _timeslice(obj: dict) -> None:
    value = obj.get("timeslice")
    if value is not None and value % 10:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"timeslice, {value}: must be a multiple of 10")


class Selector(Behaviour):
    """A stream or cache selector: one to five expressions."""

    def prepare_add(self, store, part, res, obj):
        _items(obj)

    def apply_update(self, store, part, res, row, changes):
        _items(changes)
        super().apply_update(store, part, res, row, changes)


def _items(obj: dict) -> None:
    rule = obj.get("rule")
    if rule is not None and not 1 <= len(rule) <= MAX_SELECTOR_ITEMS:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE,
                         f"rule, {len(rule)} expressions: one to {MAX_SELECTOR_ITEMS} allowed")


class SessionAction(Behaviour):
    """A tmsessionaction: ``persistentcookievalidity`` only with ``persistentcookie ON``."""

    def prepare_add(self, store, part, res, obj):
        _persistent_validity(obj)

    def apply_update(self, store, part, res, row, changes):
        _persistent_validity({**row, **changes})
        super().apply_update(store, part, res, row, changes)


def _persistent_validity(merged: dict) -> None:
    if merged.get("persistentcookievalidity") is not None and merged.get("persistentcookie") != "ON":
        raise NitroFault(E.PREREQUISITE_MISSING,
                         "persistentcookievalidity, needs persistentcookie ON")


class CsAction(Behaviour):
    """A CS action switches to one target: an update cannot give it a second one."""

    def apply_update(self, store, part, res, row, changes):
        merged = {**row, **changes}
        if merged.get("targetlbvserver") is not None and merged.get("targetvserver") is not None:
            raise NitroFault(E.BOTH_SPECIFIED, "targetlbvserver, targetvserver")
        super().apply_update(store, part, res, row, changes)


class SessionParameter(Behaviour):
    """``tmsessionparameter``: the global TM session settings, one per partition; read, set
    (PUT without a name) and unset, never added or removed. Stored as one row."""

    ROW = ("tmsessionparameter",)

    def row(self, part) -> dict:
        return part.table("tmsessionparameter").setdefault(self.ROW, {})

    def render_singleton(self, store, part):
        return store.render(part, SCHEMA["tmsessionparameter"], self.row(part))

    def set_singleton(self, store, part, res: Resource, body: dict) -> None:
        changes = _settings(res, body)
        merged = {**self.row(part), **changes}
        merged.setdefault("persistentcookie", "OFF")
        _persistent_validity(merged)
        self.row(part).update(changes)

    def unset_singleton(self, store, part, res: Resource, body: dict) -> None:
        names = [_setting(res, key).name for key in body]
        row = self.row(part)
        for name in names:
            row.pop(name, None)
        if row.get("persistentcookie", "OFF") != "ON":
            row.pop("persistentcookievalidity", None)


def _setting(res: Resource, key: str):
    attr = res.attr(key)
    if attr is None or attr.readonly:
        raise NitroFault(E.INVALID_ARGUMENT, key)
    return attr


def _settings(res: Resource, body: dict) -> dict:
    out = {}
    for key, value in body.items():
        attr = _setting(res, key)
        try:
            out[attr.name] = canonical(attr, value)
        except BadValue as exc:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{key}, {value}: {exc}") from None
    if not out:
        raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, f"{res.name}: nothing to set")
    return out


def policy_behaviours() -> dict[str, Behaviour]:
    out: dict[str, Behaviour] = {
        "authenticationvserver": AuthVserver("sslvserver"),
        "authenticationvserver_authenticationpolicy_binding": AuthPolicyBinding(),
        "rewriteaction": TypedAction(REWRITE_NEEDS, REWRITE_TARGET, REWRITE_BUILTINS),
        "responderaction": TypedAction(RESPONDER_NEEDS, RESPONDER_TARGET, RESPONDER_BUILTINS),
        "nslimitidentifier": LimitIdentifier(),
        "streamselector": Selector(),
        "tmsessionaction": SessionAction(),
        "csaction": CsAction(),
        "tmsessionparameter": SessionParameter(),
    }
    for parent in ("lbvserver", "csvserver"):
        for policy in ("rewritepolicy", "responderpolicy"):
            out[f"{parent}_{policy}_binding"] = PolicyBinding()
    return out
