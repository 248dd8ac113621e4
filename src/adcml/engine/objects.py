"""Desired objects: one NITRO object as it should be, and the checks that make one from what a
user wrote (``desired_object``) or from what an appliance holds (``settable``).

    obj = desired_object("lbvserver", {"name": "web", "servicetype": "HTTP", "lbmethod": "x"})
    → ObjectError: attributes.lbmethod: expected one of ROUNDROBIN, ..., got 'x'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from adcml.resources import SCHEMA, SECRET_ATTRS, Resource, ResourceKind, check, identity, schema
from adcml.resources.check import SchemaViolation
from adcml.resources.values import BadValue, canonical
from adcml.secret import Secret


class Kept(Enum):
    """The value of an attribute that is to stay as it is on the appliance (a secret a gathered
    spec cannot show): equal to any live value; an error where it would have to be written."""

    LIVE = "the live value"


KEEP_LIVE = Kept.LIVE


@dataclass(frozen=True)
class Desired:
    """One NITRO object as it should be: resource name and attributes (Secrets and KEEP_LIVE
    allowed). ``at`` says where each attribute came from, for errors: attribute → the field of
    what the user wrote (key ``""`` for the others)."""

    resource: str
    attrs: dict[str, Any]
    at: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def schema(self) -> Resource:
        return schema(self.resource)

    @property
    def identity(self) -> tuple:
        return identity(self.schema, self.attrs)

    def field_of(self, attr: str | None) -> str:
        """The user's field an attribute came from (the object's own field when unknown)."""
        return self.at.get(attr or "", self.at.get("", ""))


class KeptValueMissing(ValueError):
    """Attributes marked KEEP_LIVE that must be written (their object is created or recreated)
    with no live value to keep; ``missing`` lists (desired object, attribute, why)."""

    def __init__(self, missing: list[tuple[Desired, str, str]]):
        self.missing = missing
        super().__init__("; ".join(f"{d.resource} {'/'.join(map(str, d.identity))}: {attr} keeps the "
                                   f"live value, but {why}" for d, attr, why in missing))


def check_desired(obj: Desired) -> SchemaViolation | None:
    """The schema's checks of ``obj`` as an appliance makes them when it is written
    (``adcml.resources.check``); the first violation, or None. Kept values are not checked."""
    res = obj.schema
    body = {k: v for k, v in obj.attrs.items() if v is not KEEP_LIVE}
    adding = res.kind in (ResourceKind.CONFIG, ResourceKind.BINDING)
    try:
        check.check_object(res, body, adding=adding, given=set(obj.attrs) - set(body))
    except SchemaViolation as exc:
        return exc
    return None


class ObjectError(ValueError):
    """Attributes that do not make a valid object; ``problems`` lists (field, message) pairs,
    fields spelled ``resource`` or ``attributes.<name>``."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


def is_secret(res: Resource | None, key: str) -> bool:
    """Whether attribute ``key`` of ``res`` holds a secret (by the one table, SECRET_ATTRS)."""
    attr = res.attr(key) if res is not None else None
    return key in SECRET_ATTRS or bool(attr and (attr.secret or attr.name in SECRET_ATTRS))


def manageable(res: Resource) -> bool:
    """Objects a user may declare one at a time (appliance-wide settings are not objects,
    except the feature list, which is enabled)."""
    return res.kind is not ResourceKind.SINGLETON or bool(res.actions & {"enable"})


def desired_object(resource: str, attrs: dict[str, Any], *, present: bool = True) -> Desired:
    """The object ``attrs`` describe, checked against the schema: every attribute known,
    writable and of the right type, and the identity complete; secrets wrapped in Secret.
    Raises ObjectError naming each bad field (nothing has been sent anywhere)."""
    res = SCHEMA.get(resource)
    if res is None:
        known = ", ".join(sorted(n for n, r in SCHEMA.items() if manageable(r)))
        raise ObjectError([("resource", f"unknown resource {resource!r}; known: {known}")])
    if not manageable(res) or (res.kind is ResourceKind.SINGLETON and not present):
        hint = "it cannot be removed" if not present else "use adc_save_config or adc_facts"
        raise ObjectError([("resource", f"{resource} is appliance-wide, not an object; {hint}")])
    if res.kind is ResourceKind.IMPLICIT and not present:
        raise ObjectError([("resource", f"a {resource} cannot be removed; it goes with its "
                                        f"{' or '.join(res.implied_by)}")])
    problems: list[tuple[str, str]] = []
    clean: dict[str, Any] = {}
    for key, value in attrs.items():
        attr = res.attr(key)
        if attr is None:
            valid = ", ".join(a.name for a in res.attrs if not a.readonly)
            problems.append((f"attributes.{key}", f"unknown attribute of {resource} (valid: {valid})"))
            continue
        if attr.readonly:
            problems.append((f"attributes.{key}", "read-only: the appliance reports it"))
            continue
        secret = is_secret(res, key)
        try:
            canonical(attr, value)
        except BadValue as exc:
            problems.append((f"attributes.{key}", "not a valid value (secret not shown)" if secret
                             else str(exc)))
        clean[attr.name] = Secret(str(value)) if secret and value is not None else value
    obj = Desired(resource, clean)
    if res.kind is not ResourceKind.SINGLETON:
        problems += [(f"attributes.{key}", "required: it identifies the object")
                     for key, value in zip(res.identity, obj.identity, strict=True) if value is None]
    if problems:
        raise ObjectError(problems)
    return obj


def missing_for_create(obj: Desired) -> list[str]:
    """Required attributes ``obj`` lacks, which creating it would need."""
    return [a.name for a in obj.schema.attrs if a.required and a.name not in obj.attrs]


def settable(res: Resource, row: dict[str, Any]) -> dict[str, Any]:
    """The attributes of a live object that can be sent back when it is created again
    (read-only, write-only and secret ones cannot: an appliance does not return them)."""
    out = {}
    for key, value in row.items():
        attr = res.attr(key)
        if attr is None or value is None or attr.readonly or attr.write_only or attr.secret:
            continue
        try:
            out[attr.name] = canonical(attr, value)
        except BadValue:
            continue
    return out
