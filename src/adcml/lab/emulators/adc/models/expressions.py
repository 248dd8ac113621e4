"""Policy expressions in the lab ADC's configuration: parsed when they are written.

An appliance refuses a syntax error when the policy or action is added (or set), so the lab
parses every attribute whose schema ``syntax`` says it holds an expression — rules with
``adcml.policy.parse_rule``, string builder expressions with ``parse_string_builder``, value
expressions (stream selector items, rewrite targets) with ``parse`` — and answers **1097**
naming the attribute and the 0-based position of the error. Nothing is stored on failure.

A rule that calls ``SYS.CHECK_LIMIT("<id>")`` needs the limit identifier to exist (as on an
appliance, which resolves the name when the policy is added); ``limit_users`` finds the
objects whose rules use one, so it cannot be removed while they do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from adcml.lab.emulators.adc.exceptions import NitroFault, schema_faults
from adcml.lab.emulators.adc.models.partition import Partition
from adcml.resources import SCHEMA, ErrorCode, Resource, check
from adcml.resources.model import Syntax

E = ErrorCode
LIMIT_CALL = re.compile(r'SYS\s*\.\s*CHECK_LIMIT\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)', re.IGNORECASE)


def check_text(attr: str, syntax: Syntax, text: str) -> None:
    """Parse ``text``; on an error raise 1097 naming ``attr`` and the position."""
    with schema_faults():
        check.check_text(attr, syntax, text)


def check_object(part: Partition, res: Resource, obj: dict) -> None:
    """Check (and canonicalise) every expression attribute of ``obj``, a coerced body, and
    that each limit identifier a rule calls exists."""
    with schema_faults():
        check.check_expressions(res, obj)
    for key, value in obj.items():
        attr = res.attr(key)
        if attr is None or attr.syntax is not Syntax.RULE or value is None:
            continue
        for limit in limits_in(value):
            if part.table("nslimitidentifier").get((limit,)) is None:
                missing = SCHEMA["nslimitidentifier"].missing
                raise NitroFault(missing, f"{attr.name}, limitidentifier {limit}: "
                                          "used in SYS.CHECK_LIMIT but does not exist")


def limits_in(value: Any) -> set[str]:
    """Limit identifiers named by SYS.CHECK_LIMIT calls in a rule (or list of rules)."""
    texts = value if isinstance(value, list) else [value]
    return {m.group(1) for text in texts if isinstance(text, str) for m in LIMIT_CALL.finditer(text)}


def limit_users(part: Partition, name: str) -> Iterator[str]:
    """``<resource> <name>`` of each object whose rules call SYS.CHECK_LIMIT(name)."""
    for res in SCHEMA.values():
        rules = [a.name for a in res.attrs if a.syntax is Syntax.RULE]
        if not rules:
            continue
        for obj in part.table(res.name).values():
            if any(name in limits_in(obj.get(r)) for r in rules):
                yield f"{res.name} {obj.get(res.key)}"
