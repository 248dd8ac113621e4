"""The schema's checks of one object, as an appliance makes them when it is added or set:
known and writable attributes, types, ranges, lengths, choices, IP addresses, object names,
exclusive and required attributes, and the syntax of every expression.

One set of checks, used by both sides: the lab ADC answers a failed check with its NITRO error
(``SchemaViolation.code``), and the engine runs the same checks on every object it compiles,
before the first write, so an accepted spec never fails part-way through an apply.

    check_object(schema("cspolicy"), {"policyname": "p", "rule": "HTTP.REQ.URL.("}, adding=True)
    → SchemaViolation: 1097 rule, expression error at position 13: ...
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Collection
from typing import Any

from adcml.policy import ExpressionError, parse, parse_rule, parse_string_builder
from adcml.resources import SECRET_ATTRS
from adcml.resources.errorcodes import ErrorCode as E
from adcml.resources.model import Resource, ResourceKind, Syntax
from adcml.resources.values import BadValue, canonical
from adcml.secret import MASK

# An appliance's rule for object names (ASCII only; the space is the only blank allowed).
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_#. :@=\-]*")
DOMAIN_RE = re.compile(r"(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*)(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*\.?")
DOMAIN_KEYED = frozenset({"dnsaddrec"})  # keyed by a DNS name, not an object name
IP_ATTRS = frozenset({"ipv46", "ipaddress", "ip", "serverip"})
GOTO_KEYWORDS = ("END", "NEXT", "USE_INVOCATION_RESULT")
_PARSERS = {Syntax.RULE: parse_rule, Syntax.STRING: parse_string_builder, Syntax.EXPRESSION: parse}
_QUOTED = re.compile(r"'[^']{3,}'|\"[^\"]{3,}\"")


class SchemaViolation(ValueError):
    """A value an appliance refuses: ``code`` is its NITRO errorcode, ``detail`` the bracketed
    part of its message, ``attr`` the attribute to blame (None for the object as a whole).
    Secret values are never part of the detail."""

    def __init__(self, code: E, detail: str, *, attr: str | None = None, status: int | None = None,
                 reason: str | None = None):
        self.code, self.detail, self.attr, self.status = E(code), detail, attr, status
        self.reason = reason
        super().__init__(f"{self.code.message} [{detail}]")

    @property
    def problem(self) -> str:
        """What is wrong, without the value (for a message that names the attribute)."""
        return self.reason or self.code.message.lower()


def check_object(res: Resource, body: Any, *, adding: bool,
                 given: Collection[str] = ()) -> dict[str, Any]:
    """Every check of this module on ``body``, an add (``adding``) or a set; returns the
    canonical values by attribute name (a gotopriorityexpression keyword upper-cased).
    ``given``: attributes that count as present though not in ``body`` (values the appliance
    already holds)."""
    out = check_values(res, body, adding=adding, given=given)
    check_expressions(res, out)
    return out


def check_values(res: Resource, body: Any, *, adding: bool,
                 given: Collection[str] = ()) -> dict[str, Any]:
    """The checks of each value and of the object's shape (not the expressions)."""
    if not isinstance(body, dict):
        raise SchemaViolation(E.INVALID_JSON, f"{res.name}, expected an object", status=400)
    out: dict[str, Any] = {}
    for key, value in body.items():
        attr = res.attr(key)
        if attr is None:
            raise SchemaViolation(E.INVALID_ARGUMENT, key, attr=key,
                                  reason=f"not an attribute of {res.name}")
        if attr.readonly:
            raise SchemaViolation(E.INVALID_ARGUMENT, f"{key}, read-only attribute", attr=key,
                                  reason="read-only attribute")
        try:
            out[attr.name] = canonical(attr, _clear(value))
        except BadValue as exc:
            secret = attr.secret or _is_secret_value(value)
            shown = MASK if secret else _short(value)
            # canonical's messages may quote the value: a secret's is not repeated
            reason = str(exc).replace(repr(_clear(value)), MASK) if secret else str(exc)
            raise SchemaViolation(E.INVALID_ARGUMENT_VALUE, f"{key}, {shown}: {reason}", attr=key,
                                  reason=reason) from None
        if attr.name in IP_ATTRS and out[attr.name] is not None:
            try:
                ipaddress.ip_address(out[attr.name])
            except ValueError:
                raise SchemaViolation(E.INVALID_ARGUMENT_VALUE, f"{key}, {_short(value)}: not an IP "
                                      "address", attr=key, reason="not an IP address") from None
    for first, second in res.exclusive:
        if out.get(first) is not None and out.get(second) is not None:
            raise SchemaViolation(E.BOTH_SPECIFIED, f"{first}, {second}", attr=second,
                                  reason=f"cannot be given with {first}")
    if adding:
        for attr in res.attrs:
            if attr.required and out.get(attr.name) is None and attr.name not in given:
                raise SchemaViolation(E.REQUIRED_ARGUMENT_MISSING, attr.name, attr=attr.name,
                                      reason="required")
        for group in res.one_of:
            if all(out.get(a) is None and a not in given for a in group):
                raise SchemaViolation(E.REQUIRED_ARGUMENT_MISSING, " or ".join(group), attr=group[0],
                                      reason=f"one of {', '.join(group)} is required")
        if res.name in DOMAIN_KEYED:
            check_domain(res.key, out[res.key])
        elif res.kind is not ResourceKind.BINDING:
            check_name(res.key, out[res.key])
    elif out.get(res.key) is None:
        raise SchemaViolation(E.REQUIRED_ARGUMENT_MISSING, res.key, attr=res.key, reason="required")
    return out


def check_domain(attr: str, name: str) -> None:
    """Refuse a DNS name an appliance would refuse as an address record's host name (a
    wildcard ``*.domain`` is a name too)."""
    if not DOMAIN_RE.fullmatch(name):
        rule = "a host name (letters, digits, '-', '_' and dots), or a wildcard *.domain"
        raise SchemaViolation(E.INVALID_ARGUMENT_VALUE, f"{attr}, {_short(name)}: {rule}", attr=attr,
                              reason=rule)


def check_name(attr: str, name: str) -> None:
    """Refuse a new object name an appliance would refuse."""
    if not NAME_RE.fullmatch(name):
        rule = ("names start with a letter, digit or '_' and contain only letters, digits and "
                "_ # . space : @ = -")
        raise SchemaViolation(E.INVALID_ARGUMENT_VALUE, f"{attr}, {_short(name)}: {rule}", attr=attr,
                              reason=rule)


def check_expressions(res: Resource, obj: dict[str, Any]) -> None:
    """Parse every expression attribute of ``obj`` (canonical values), as an appliance does
    when a policy or action is added or set; a goto keyword is upper-cased in place."""
    for key, value in list(obj.items()):
        attr = res.attr(key)
        if attr is None or attr.syntax is None or value is None:
            continue
        if attr.name == "gotopriorityexpression":
            obj[key] = goto(value)
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_text(f"{attr.name}[{i}]", attr.syntax, item, secret=attr.secret)
        else:
            check_text(attr.name, attr.syntax, value, secret=attr.secret)


def check_text(attr: str, syntax: Syntax, text: Any, *, secret: bool = False) -> None:
    """Parse ``text`` in ``syntax``; on an error raise 1097 naming ``attr`` and the position.
    A secret's text (a bearer token in a string builder) is not quoted in the message."""
    secret = secret or _is_secret_value(text) or attr.split("[")[0] in SECRET_ATTRS
    # A secret's text is parsed afresh each time: it is not kept in the cache.
    error = _parse_error.__wrapped__(syntax, _clear(text)) if secret else _parse_error(syntax, text)
    if error is not None:
        position, reason = error
        reason = _QUOTED.sub(f"'{MASK}'", reason) if secret else reason
        where = f"expression error at position {position}: {reason}"
        raise SchemaViolation(E.INVALID_ARGUMENT_VALUE, f"{attr}, {where}", attr=attr.split("[")[0],
                              reason=where)


@functools.lru_cache(maxsize=4096)
def _parse_error(syntax: Syntax, text: str) -> tuple[int, str] | None:
    """Where and why ``text`` does not parse, or None. Cached: a plan checks the objects its
    spec was already checked with, and an appliance's rules repeat."""
    try:
        _PARSERS[syntax](text)
    except ExpressionError as exc:
        return exc.position, str(exc.reason)
    return None


def goto(value: str) -> str:
    """A gotopriorityexpression: a keyword (upper case), a priority, or an expression."""
    if value.upper() in GOTO_KEYWORDS:
        return value.upper()
    if value.strip().isdigit():
        return value.strip()
    check_text("gotopriorityexpression", Syntax.EXPRESSION, value)
    return value


def _short(value: Any, limit: int = 80) -> str:
    """A value as an error message quotes it: long ones cut (a rule can be 8,191 characters)."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit - 20]}... ({len(text)} characters)"


def _is_secret_value(value: Any) -> bool:
    return hasattr(value, "reveal")


def _clear(value: Any) -> Any:
    """The value a check reads: a Secret's clear text (the checks never echo a secret)."""
    return value.reveal() if _is_secret_value(value) else value
