"""Recursive-descent parser: text → typed tree, with every check NetScaler makes when a policy
or action is added (and a few of adcml's own, named in the reasons).

Grammar, loosest first (``!`` binds tighter than ``&&``, which binds tighter than ``||``)::

    expr     := and ( "||" and )*
    and      := unary ( "&&" unary )*
    unary    := "!" unary | sum
    sum      := postfix ( "+" postfix )*
    postfix  := primary ( "." NAME [ "(" args ")" ] )*
    primary  := STRING | NUMBER | "true" | "false" | NAME | "(" expr ")"

Names are case-insensitive. Types are checked while parsing, so every error names the
position of the offending token.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from adcml.policy.errors import ExpressionError
from adcml.policy.lexer import Token, TokenKind, iter_tokens
from adcml.policy.members import (
    HEADER_NAME,
    MAX_HEADER_NAME,
    MEMBERS,
    UNSUPPORTED,
    MemberSpec,
    Param,
    ParamKind,
)
from adcml.policy.nodes import Add, And, Expr, Kind, Literal, Member, Not, Or, ValueType, depth, to_text

# Nesting of parentheses, '!' and arguments the parser accepts, and the height of the tree:
# far above anything a person writes, far below Python's recursion limit.
MAX_NESTING = 40
MAX_DEPTH = 120

T = ValueType
_LITERAL_PARAMS = {
    ParamKind.TEXT_LITERAL: (TokenKind.STRING, T.TEXT),
    ParamKind.INT_LITERAL: (TokenKind.NUMBER, T.NUM),
    ParamKind.ADDRESS: (TokenKind.ADDRESS, T.ADDRESS),
    ParamKind.SUBNET: (TokenKind.SUBNET, T.SUBNET),
}


class Parser:
    """One use: ``Parser(text).parse()``."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"an expression is a str, not {type(text).__name__}")
        self.text = text
        self.tokens = iter_tokens(text)
        self.token = next(self.tokens)
        self.nesting = 0
        self.heights: dict[int, int] = {}

    # -- helpers --------------------------------------------------------------------------
    def advance(self) -> Token:
        """Consume the current token (the END token stays current) and return it."""
        token = self.token
        if token.kind is not TokenKind.END:
            self.token = next(self.tokens)
        return token

    def error(self, reason: str, position: int) -> ExpressionError:
        return ExpressionError(reason, position, self.text)

    def expect(self, kind: TokenKind, why: str = "") -> Token:
        if self.token.kind is not kind:
            found = self.token
            raise self.error(f"expected {kind.value} but found {found.describe()}{why}", found.position)
        return self.advance()

    def nested(self, position: int) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise self.error(f"the expression nests deeper than {MAX_NESTING} levels of parentheses, "
                             "'!' and arguments; simplify it", position)

    def checked(self, node: Expr) -> Expr:
        """``node`` after checking the tree's height (kept per node, so checking is cheap)."""
        height = 1 + max((self.heights.get(id(c)) or depth(c) for c in node.children()), default=0)
        self.heights[id(node)] = height
        if height > MAX_DEPTH:
            raise self.error(f"the expression is more than {MAX_DEPTH} operations deep; simplify it",
                             node.position)
        return node

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Expr:
        expr = self.expression()
        if self.token.kind is not TokenKind.END:
            raise self.error(f"expected an operator ('&&', '||', '+') or the end of the expression but found "
                             f"{self.token.describe()}", self.token.position)
        return expr

    def expression(self) -> Expr:
        return self._chain(TokenKind.OR, self.conjunction, Or, "'||'")

    def conjunction(self) -> Expr:
        return self._chain(TokenKind.AND, self.unary, And, "'&&'")

    def _chain(self, op: TokenKind, operand: Callable[[], Expr], node: type, name: str) -> Expr:
        first = operand()
        if self.token.kind is not op:
            return first
        operands = [self._boolean(first, name)]
        while self.token.kind is op:
            self.advance()
            operands.append(self._boolean(operand(), name))
        flat: list[Expr] = []
        for o in operands:  # (a && b) && c is a && b && c
            flat.extend(o.operands if isinstance(o, node) else (o,))
        return self.checked(node(T.BOOL, first.position, tuple(flat)))

    def _boolean(self, node: Expr, what: str) -> Expr:
        if node.type is not T.BOOL:
            raise self.error(f"{what} needs boolean operands, but this operand is {node.type.label}",
                             node.position)
        return node

    def unary(self) -> Expr:
        if self.token.kind is not TokenKind.NOT:
            return self.sum()
        start = self.advance().position
        self.nested(start)
        operand = self._boolean(self.unary(), "'!'")
        self.nesting -= 1
        return self.checked(Not(T.BOOL, start, operand))

    def sum(self) -> Expr:
        first = self.postfix()
        if self.token.kind is not TokenKind.PLUS:
            return first
        operands = [first]
        while self.token.kind is TokenKind.PLUS:
            self.advance()
            operands.append(self.postfix())
        expected = first.type.kind
        bad = first if expected not in (Kind.TEXT, Kind.NUM) else \
            next((o for o in operands if o.type.kind is not expected), None)
        if bad is not None:
            mixed = {o.type.kind for o in operands} == {Kind.TEXT, Kind.NUM}
            hint = "; convert the number with .TYPECAST_TEXT_T" if mixed else ""
            raise self.error(f"'+' joins text with text or adds numbers, but this operand is "
                             f"{bad.type.label}{hint}", bad.position)
        result = T.NUM if expected is Kind.NUM else T.TEXT
        flat: list[Expr] = []
        for o in operands:
            flat.extend(o.operands if isinstance(o, Add) else (o,))
        return self.checked(Add(result, first.position, tuple(flat)))

    def postfix(self) -> Expr:
        node = self.primary()
        while self.token.kind is TokenKind.DOT:
            self.advance()
            node = self.checked(self.member(node))
        if node.type.is_namespace:
            names = ", ".join(sorted(MEMBERS[node.type]))
            raise self.error(f"{node.type.label} is not a value by itself; expected '.' and one of {names}",
                             self.token.position)
        return node

    def primary(self) -> Expr:
        token = self.token
        if token.kind is TokenKind.STRING:
            self.advance()
            return Literal(T.TEXT, token.position, token.value)
        if token.kind is TokenKind.NUMBER:
            self.advance()
            return Literal(T.NUM, token.position, token.value)
        if token.kind is TokenKind.LPAREN:
            self.advance()
            self.nested(token.position)
            inner = self.expression()
            self.expect(TokenKind.RPAREN, f" to close the '(' at position {token.position}")
            self.nesting -= 1
            return inner
        if token.kind is TokenKind.NAME:
            if token.value in ("TRUE", "FALSE"):
                self.advance()
                return Literal(T.BOOL, token.position, token.value == "TRUE")
            if token.value in MEMBERS[T.ROOT]:
                return self.member(None)
            hint = (f"; a keyword such as {token.text} is only accepted where NetScaler takes one "
                    f"(e.g. METHOD.EQ(POST)); for text write \"{token.text}\"")
            raise self.error(f"unknown name '{token.text}': an expression starts with HTTP, CLIENT, SYS, "
                             f"true, false, a \"string\" or a number{hint}", token.position)
        if token.kind in (TokenKind.ADDRESS, TokenKind.SUBNET):
            raise self.error(f"an {token.kind.value} literal is only accepted as an argument, e.g. "
                             "CLIENT.IP.SRC.IN_SUBNET(10.0.0.0/8)", token.position)
        raise self.error(f"expected a value but found {token.describe()}", token.position)

    def member(self, target: Expr | None) -> Expr:
        name = self.token
        if name.kind is not TokenKind.NAME:
            raise self.error(f"expected a name after '.' but found {name.describe()}", name.position)
        owner = T.ROOT if target is None else target.type
        spec = MEMBERS.get(owner, {}).get(name.value)
        if spec is None:
            raise self.error(self._unknown(owner, name, target), name.position)
        self.advance()
        args = self.arguments(spec, name)
        mode = target.ignore_case if isinstance(target, Member) and target.type.is_text else False
        if spec.name == "SET_TEXT_MODE":
            mode = args[0].value == "IGNORECASE"
        result = spec.result or owner
        start = name.position if target is None else target.position
        return Member(result, start, target, spec.name, args, mode if result.is_text or
                      spec.result is T.BOOL else False)

    def _unknown(self, owner: ValueType, name: Token, target: Expr | None) -> str:
        where = owner.label if target is None or owner.is_namespace else _describe(target)
        known = ", ".join(sorted(MEMBERS.get(owner, {})))
        if name.value in UNSUPPORTED or any(name.value in table for table in MEMBERS.values()):
            return (f"{name.text.upper()} is not supported on {where} by adcml's expression subset "
                    f"(see docs/policy-expressions.md); supported here: {known}")
        return f"unknown name '{name.text}' after {where}; expected one of {known}"

    def arguments(self, spec: MemberSpec, name: Token) -> tuple[Expr, ...]:
        here = self.token.position
        if not spec.params:
            if self.token.kind is TokenKind.LPAREN:
                raise self.error(f"{spec.name} takes no arguments; remove the parentheses", here)
            return ()
        if self.token.kind is not TokenKind.LPAREN:
            raise self.error(f"expected '(' after {spec.name}, which takes {_count(spec)}", here)
        open_paren = self.advance()
        self.nested(open_paren.position)
        args: list[Expr] = []
        for i, param in enumerate(spec.params):
            if i:
                self.expect(TokenKind.COMMA, f": {spec.name} takes {_count(spec)}")
            args.append(self.argument(spec, param))
        if self.token.kind is not TokenKind.RPAREN:
            found = self.token
            raise self.error(f"expected ')' but found {found.describe()}: {spec.name} takes {_count(spec)}",
                             found.position)
        self.advance()
        self.nesting -= 1
        return tuple(args)

    def argument(self, spec: MemberSpec, param: Param) -> Expr:
        token = self.token
        if param.kind is ParamKind.WORD:
            if token.kind is TokenKind.NAME and token.value in param.words:
                self.advance()
                return Literal(T.WORD, token.position, token.value)
            quoted = " (a bare word, not a string)" if token.kind is TokenKind.STRING else ""
            raise self.error(f"{spec.name} takes one of {', '.join(param.words)}{quoted}, but found "
                             f"{token.describe()}", token.position)
        if param.kind in _LITERAL_PARAMS:
            kind, type_ = _LITERAL_PARAMS[param.kind]
            if token.kind is not kind:
                raise self.error(f"{spec.name}'s argument must be {param.kind.value}, but found "
                                 f"{token.describe()}", token.position)
            self.advance()
            self._check_literal(spec, token)
            return Literal(type_, token.position, token.value)
        arg = self.expression()
        if param.kind is ParamKind.TEXT and not arg.type.is_text:
            hint = "; convert a number with .TYPECAST_TEXT_T" if arg.type is T.NUM else ""
            raise self.error(f"{spec.name} compares with text, but this argument is "
                             f"{arg.type.label}{hint}", arg.position)
        if param.kind is ParamKind.NUM and arg.type is not T.NUM:
            hint = "; convert text with .TYPECAST_NUM_T(DECIMAL)" if arg.type.is_text else ""
            raise self.error(f"{spec.name} compares with a number, but this argument is "
                             f"{arg.type.label}{hint}", arg.position)
        return arg

    def _check_literal(self, spec: MemberSpec, token: Token) -> None:
        value = token.value
        if spec.name == "HEADER" and not (HEADER_NAME.fullmatch(value) and len(value) <= MAX_HEADER_NAME):
            raise self.error(f"a header name is 1 to {MAX_HEADER_NAME} characters of an HTTP token (letters, "
                             f"digits, -, _ ...), not {token.text}", token.position)
        if spec.name in ("ATTRIBUTE", "CHECK_LIMIT") and not value:
            raise self.error(f"{spec.name} needs a non-empty name", token.position)
        if spec.name == "BODY" and value < 1:
            raise self.error("BODY(n) needs n >= 1 (the number of bytes to read)", token.position)


def _count(spec: MemberSpec) -> str:
    n = len(spec.params)
    what = " and ".join(p.kind.value if p.kind is not ParamKind.WORD else "one of " + "/".join(p.words)
                        for p in spec.params)
    return f"{n} argument{'s' if n != 1 else ''} ({what})"


def _describe(node: Expr) -> str:
    text = to_text(node)
    return f"{text} ({node.type.label})" if len(text) <= 48 else node.type.label


# -- placement of SYS.CHECK_LIMIT ---------------------------------------------------------

def _is_check_limit(node: Expr) -> bool:
    return isinstance(node, Member) and node.name == "CHECK_LIMIT" and node.target is not None \
        and node.target.type is T.SYS


def _check_limit_placement(root: Expr, text: str) -> None:
    """NetScaler evaluates SYS.CHECK_LIMIT only as the last term of the rule: the whole rule,
    or the right-most operand of the top-level '&&' chain. Anywhere else is refused."""
    allowed = root if _is_check_limit(root) else (
        root.operands[-1] if isinstance(root, And) and _is_check_limit(root.operands[-1]) else None)
    stack = [root]
    while stack:
        node = stack.pop()
        if _is_check_limit(node) and node is not allowed:
            raise ExpressionError("SYS.CHECK_LIMIT must be the last term of the rule: the whole rule or the "
                                  "right-most operand of the top-level '&&' chain (e.g. "
                                  "'HTTP.REQ.URL.PATH.STARTSWITH(\"/v1\") && SYS.CHECK_LIMIT(\"lim\")')",
                                  node.position, text)
        stack.extend(node.children())


# -- public entry points ------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def parse(text: str) -> Expr:
    """Parse any expression; its type (``expr.kind``: bool, str or num) is inferred.

    Raises ``ExpressionError`` (a ``ValueError``) naming the position of the first problem.
    Results are cached by text; trees are immutable, so sharing them is safe.
    """
    expr = Parser(text).parse()
    _check_limit_placement(expr, text)
    return expr


@functools.lru_cache(maxsize=4096)
def parse_rule(text: str) -> Expr:
    """Parse a policy rule: an expression that must be boolean."""
    expr = parse(text)
    if expr.type is not T.BOOL:
        raise ExpressionError(f"a rule must be a boolean expression, but this one is {expr.type.label} "
                              "(add a comparison such as .EQ(...) or .CONTAINS(...))", expr.position, text)
    return expr


@functools.lru_cache(maxsize=4096)
def parse_string_builder(text: str) -> Expr:
    """Parse a string builder expression (rewrite and responder actions): it must be text."""
    expr = parse(text)
    if not expr.type.is_text:
        hint = "; convert it with .TYPECAST_TEXT_T" if expr.type is T.NUM else ""
        raise ExpressionError(f"a string builder expression must be text, but this one is "
                              f"{expr.type.label}{hint}", expr.position, text)
    return expr
