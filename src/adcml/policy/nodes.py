"""The typed syntax tree of an expression.

Every node is a frozen dataclass with a ``type`` (a ``ValueType``) and the ``position`` of its
first character (positions do not take part in equality, so two spellings of one expression
compare equal). ``str(node)`` is the canonical NetScaler text: upper-case names, minimal
parentheses, re-escaped strings; parsing it gives back an equal tree.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.Enum):
    """What an expression yields, as the API speaks of it: a boolean, a string or a number."""

    BOOL = "bool"
    TEXT = "str"
    NUM = "num"


class ValueType(enum.Enum):
    """The static type of a node: value types, argument-only literal types, and namespaces
    (``HTTP.REQ``) that need a further ``.NAME`` before they are a value."""

    BOOL = ("a boolean", Kind.BOOL)
    NUM = ("a number", Kind.NUM)
    TEXT = ("text", Kind.TEXT)
    URL = ("URL text", Kind.TEXT)               # text with .PATH and .QUERY
    HEADER = ("header text", Kind.TEXT)         # text with .EXISTS and .COUNT
    ATTRIBUTE = ("a user attribute", Kind.TEXT)  # multi-valued text, "," joined as a string
    IP = ("an IP address", Kind.TEXT)           # CLIENT.IP.SRC; its text form where text is needed
    METHOD = ("an HTTP method", Kind.TEXT)      # HTTP.REQ.METHOD; compared with bare names
    # Literal forms that only appear as arguments.
    ADDRESS = ("an IP address literal", None)
    SUBNET = ("an IP subnet literal", None)
    WORD = ("a keyword", None)
    # Namespaces.
    ROOT = ("the start of an expression", None)
    HTTP = ("HTTP", None)
    HTTP_REQ = ("HTTP.REQ", None)
    HTTP_REQ_USER = ("HTTP.REQ.USER", None)
    CLIENT = ("CLIENT", None)
    CLIENT_IP = ("CLIENT.IP", None)
    SYS = ("SYS", None)

    def __init__(self, label: str, kind: Kind | None) -> None:
        self.label = label
        self.kind = kind

    @property
    def is_namespace(self) -> bool:
        return self in _NAMESPACES

    @property
    def is_text(self) -> bool:
        """Usable where text is expected: string-builder results, ``+`` and text arguments."""
        return self.kind is Kind.TEXT


_NAMESPACES = frozenset({ValueType.ROOT, ValueType.HTTP, ValueType.HTTP_REQ, ValueType.HTTP_REQ_USER,
                         ValueType.CLIENT, ValueType.CLIENT_IP, ValueType.SYS})


@dataclass(frozen=True)
class Expr:
    """A parsed expression (or part of one)."""

    type: ValueType
    position: int = field(compare=False, repr=False)

    @property
    def kind(self) -> Kind | None:
        """``Kind.BOOL``, ``Kind.TEXT`` or ``Kind.NUM``."""
        return self.type.kind

    def children(self) -> tuple[Expr, ...]:
        return ()

    def __str__(self) -> str:
        return to_text(self)

    def __getstate__(self) -> dict[str, Any]:
        # The evaluator caches a compiled closure on the tree; it is rebuilt, not pickled.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass(frozen=True)
class Literal(Expr):
    """``true``, ``"text"``, ``42``, or an argument-only ``POST`` / ``10.0.0.0/8``."""

    value: Any


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)


@dataclass(frozen=True)
class And(Expr):
    """``a && b && c`` (flattened: ``(a && b) && c`` is the same node)."""

    operands: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.operands


@dataclass(frozen=True)
class Or(Expr):
    operands: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.operands


@dataclass(frozen=True)
class Add(Expr):
    """``a + b + c``: concatenation when the type is text, addition when it is a number."""

    operands: tuple[Expr, ...]

    def children(self) -> tuple[Expr, ...]:
        return self.operands


@dataclass(frozen=True)
class Member(Expr):
    """``target.NAME`` or ``target.NAME(args)``; a root name (``HTTP``) has no target.

    ``ignore_case`` is the text mode in force at this step (set by an earlier
    ``SET_TEXT_MODE(IGNORECASE)`` in the chain); comparisons honour it.
    """

    target: Expr | None
    name: str
    args: tuple[Expr, ...] = ()
    ignore_case: bool = False

    def children(self) -> tuple[Expr, ...]:
        return ((self.target,) if self.target is not None else ()) + self.args


def depth(node: Expr) -> int:
    """Height of the tree under ``node`` (a leaf is 1)."""
    kids = node.children()
    return 1 + max(map(depth, kids)) if kids else 1


# -- canonical text ------------------------------------------------------------------------

_ESCAPE = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Binding strength, loosest first; a child looser than its parent needs parentheses.
_OR, _AND, _NOT, _ADD, _POSTFIX = range(5)


def quote(text: str) -> str:
    """``text`` as a NetScaler string literal: ``say "hi"`` → ``"say \\"hi\\""``."""
    return '"' + "".join(_ESCAPE.get(ch, ch) for ch in text) + '"'


def to_text(node: Expr) -> str:
    """The canonical expression text for ``node``."""
    if isinstance(node, Literal):
        return _literal(node)
    if isinstance(node, Not):
        return "!" + _child(node.operand, _NOT)
    if isinstance(node, And):
        return " && ".join(_child(op, _AND + 1) for op in node.operands)
    if isinstance(node, Or):
        return " || ".join(_child(op, _OR + 1) for op in node.operands)
    if isinstance(node, Add):
        return " + ".join(_child(op, _ADD + 1) for op in node.operands)
    if isinstance(node, Member):
        head = "" if node.target is None else _child(node.target, _POSTFIX) + "."
        args = "(" + ", ".join(map(to_text, node.args)) + ")" if node.args else ""
        return head + node.name + args
    raise TypeError(f"not an expression node: {node!r}")


def _literal(node: Literal) -> str:
    if node.type is ValueType.BOOL:
        return "true" if node.value else "false"
    if node.type is ValueType.TEXT:
        return quote(node.value)
    return str(node.value)


def _strength(node: Expr) -> int:
    if isinstance(node, Or):
        return _OR
    if isinstance(node, And):
        return _AND
    if isinstance(node, Not):
        return _NOT
    if isinstance(node, Add):
        return _ADD
    return _POSTFIX


def _child(node: Expr, needed: int) -> str:
    text = to_text(node)
    return f"({text})" if _strength(node) < needed else text
