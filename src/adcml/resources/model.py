"""The shape of a NITRO resource description: attributes, keys, bindings, references.

The catalog (``adcml.resources.catalog``) is a table of these. The NITRO client, the gateway
engine and the lab ADC all read the same table, so knowledge of what an attribute means (its
type, whether it is a secret, whether changing it forces a replace) lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from adcml.resources.errorcodes import ErrorCode


class Kind(StrEnum):
    """Value type of an attribute."""

    STR = "str"
    INT = "int"
    BOOL = "bool"  # JSON true/false
    ENUM = "enum"  # one of ``choices``, compared case-insensitively, reported upper-case
    LIST = "list"  # a JSON list of strings
    FLAGS = "flags"  # a list of ``choices`` (e.g. nsfeature's feature list)


class Syntax(StrEnum):
    """The expression language of an attribute's value (checked when it is written)."""

    RULE = "rule"  # an advanced policy rule: adcml.policy.parse_rule
    STRING = "string"  # a string builder expression: adcml.policy.parse_string_builder
    EXPRESSION = "expression"  # any advanced expression (a value, not a rule): adcml.policy.parse


class ResourceKind(StrEnum):
    """How a resource lives on the appliance."""

    CONFIG = "config"  # added, updated and removed by name
    BINDING = "binding"  # bound to a parent object, identified by its member key
    IMPLICIT = "implicit"  # exists because another object does (sslvserver); update only
    SINGLETON = "singleton"  # one per appliance (nsconfig, nsversion, nsfeature)


@dataclass(frozen=True, slots=True)
class Attr:
    """One attribute of a resource.

    ``default`` is what the appliance reports when the attribute was never set; the engine
    uses it to normalise a live object before comparing it with a desired one. ``wire_int``
    marks the numbers an appliance returns as JSON numbers; every other number comes back as
    a string. ``ref`` names the resource whose primary key this attribute holds;
    ``builtins`` are names it may hold that are built into the appliance rather than objects
    (a policy's ``RESET`` action), compared case-insensitively. ``syntax`` says which
    expression language the value is written in (each item, for a list). ``operational``
    marks state that operations change (``enable``/``disable`` for maintenance or a drain):
    the engine writes it only when a desired object names it, never resets it to its default,
    and carries it over when it rebinds.
    """

    name: str
    kind: Kind = Kind.STR
    default: Any = None
    choices: tuple[str, ...] = ()
    min: int | None = None
    max: int | None = None
    max_len: int | None = None
    immutable: bool = False
    secret: bool = False
    required: bool = False
    readonly: bool = False
    write_only: bool = False
    wire_int: bool = False
    ref: str | None = None
    aliases: tuple[str, ...] = ()
    builtins: tuple[str, ...] = ()
    syntax: Syntax | None = None
    operational: bool = False

    def builtin(self, value: object) -> str | None:
        """The canonical spelling of ``value`` if it names a built-in, else None."""
        if isinstance(value, str):
            for name in self.builtins:
                if name.upper() == value.upper():
                    return name
        return None


@dataclass(frozen=True)
class Resource:
    """A NITRO resource type.

    For a binding, ``key`` is the parent's name attribute and ``member_key`` the attributes
    that tell one binding of the same parent from another; for other resources ``key`` is the
    primary name attribute.
    """

    name: str
    key: str
    attrs: tuple[Attr, ...]
    kind: ResourceKind = ResourceKind.CONFIG
    missing: ErrorCode = ErrorCode.NO_SUCH_RESOURCE
    parent: str | None = None
    member_key: tuple[str, ...] = ()
    delete_args: tuple[str, ...] = ()
    exclusive: tuple[tuple[str, str], ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    updatable: tuple[str, ...] | None = None  # None: every mutable attribute
    actions: frozenset[str] = frozenset()
    feature: str | None = None
    in_use: ErrorCode = ErrorCode.RESOURCE_IN_USE
    fills: tuple[tuple[str, str], ...] = ()  # (attr, source): attr defaults to source's value
    implied_by: tuple[str, ...] = ()  # resources whose objects bring this one into being
    after: tuple[str, ...] = ()  # resources that must exist first (files a certkey reads)
    update_action: tuple[str, ...] = ()  # attributes changed by ?action=update, not by PUT
    _by_name: dict[str, Attr] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table: dict[str, Attr] = {}
        for attr in self.attrs:
            table[attr.name] = attr
            for alias in attr.aliases:
                table[alias] = attr
        object.__setattr__(self, "_by_name", table)

    def attr(self, name: str) -> Attr | None:
        """The attribute called ``name`` (or one of its aliases), or None."""
        return self._by_name.get(name)

    @property
    def is_binding(self) -> bool:
        return self.kind is ResourceKind.BINDING

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(a.name for a in self.attrs if a.secret)

    @property
    def immutables(self) -> frozenset[str]:
        return frozenset(a.name for a in self.attrs if a.immutable)

    @property
    def references(self) -> dict[str, str]:
        """Attribute name → referenced resource name."""
        return {a.name: a.ref for a in self.attrs if a.ref}

    @property
    def identity(self) -> tuple[str, ...]:
        """Attributes that identify one object (for a binding: parent key + member key)."""
        return (self.key, *self.member_key)
