"""Evaluation: each tree is compiled once into nested closures, then run per request.

A closure takes the ``RequestContext`` and returns the node's runtime value: ``bool``; ``str``
for text, URL, header, IP and method; a tuple of ``str`` for a user attribute; ``int`` or
``None`` (undefined) for a number. Undefined numbers make every numeric comparison false
(``NE`` too), make ``+`` undefined and render as empty text. Evaluation never raises for a
parsed expression and calls nothing but ``check_limit``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from adcml.policy.context import RequestContext, address
from adcml.policy.errors import ExpressionError
from adcml.policy.members import MEMBERS
from adcml.policy.nodes import Add, And, Expr, Literal, Member, Not, Or, ValueType
from adcml.policy.parser import parse, parse_string_builder

T = ValueType
Fn = Callable[[RequestContext], Any]
Builder = Callable[[Member, "Fn | None", tuple[Expr, ...]], Fn]
_COMPILED = "_compiled"


def evaluate(expr: Expr | str, ctx: RequestContext) -> Any:
    """The value of ``expr`` for the request ``ctx``: a bool for a rule, a str for text, an int
    (or None, undefined) for a number. A str is parsed first (cached)."""
    if isinstance(expr, str):
        expr = parse(expr)
    return compiled(expr)(ctx)


def render_string(expr: Expr | str, ctx: RequestContext) -> str:
    """The text a string builder expression produces for ``ctx``; a str is parsed first
    (cached) and must be a string builder expression."""
    if isinstance(expr, str):
        expr = parse_string_builder(expr)
    if not expr.type.is_text:
        raise ExpressionError(f"render_string needs a text expression, but this one is {expr.type.label}",
                              expr.position, str(expr))
    return compiled(expr)(ctx)


def compiled(expr: Expr) -> Fn:
    """The closure for ``expr``, built on first use and kept on the (immutable) tree."""
    fn = expr.__dict__.get(_COMPILED)
    if fn is None:
        fn = compile_node(expr)
        if expr.type.is_text:
            fn = text_of(expr.type, fn)
        object.__setattr__(expr, _COMPILED, fn)
    return fn


def compile_node(node: Expr) -> Fn:
    if isinstance(node, Literal):
        value = node.value
        return lambda ctx: value
    if isinstance(node, Not):
        inner = compile_node(node.operand)
        return lambda ctx: not inner(ctx)
    if isinstance(node, And):
        return _all(tuple(map(compile_node, node.operands)))
    if isinstance(node, Or):
        return _any(tuple(map(compile_node, node.operands)))
    if isinstance(node, Add):
        return _add(node)
    if isinstance(node, Member):
        owner = T.ROOT if node.target is None else node.target.type
        spec = MEMBERS[owner][node.name]
        target = None if node.target is None else compile_node(node.target)
        return BUILDERS[(spec.owner, spec.name)](node, target, node.args)
    raise TypeError(f"not an expression node: {node!r}")


def _all(parts: tuple[Fn, ...]) -> Fn:
    """Left to right, stopping at the first false operand (so a trailing SYS.CHECK_LIMIT is
    consulted only when everything before it matched)."""
    if len(parts) == 2:
        a, b = parts
        return lambda ctx: a(ctx) and b(ctx)

    return lambda ctx: all(part(ctx) for part in parts)


def _any(parts: tuple[Fn, ...]) -> Fn:
    if len(parts) == 2:
        a, b = parts
        return lambda ctx: a(ctx) or b(ctx)

    return lambda ctx: any(part(ctx) for part in parts)


def text_of(type_: ValueType, fn: Fn) -> Fn:
    """``fn`` returning the text form of a text-like value (a user attribute joined with ",")."""
    if type_ is T.ATTRIBUTE:
        return lambda ctx: ",".join(fn(ctx))
    return fn


def _text_arg(node: Expr) -> tuple[bool, Any]:
    """(True, value) for a literal argument, (False, closure giving text) otherwise."""
    if isinstance(node, Literal):
        return True, node.value
    return False, text_of(node.type, compile_node(node))


def _add(node: Add) -> Fn:
    parts = tuple(text_of(o.type, compile_node(o)) for o in node.operands)
    if node.type is T.TEXT:
        return lambda ctx: "".join([p(ctx) for p in parts])

    def total(ctx: RequestContext) -> int | None:
        values = [p(ctx) for p in parts]
        return None if None in values else sum(values)
    return total


# -- builders: one per (owner, name) in members.MEMBERS -----------------------------------

def _namespace(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    return lambda ctx: None


def _field(getter: Callable[[RequestContext], Any]) -> Builder:
    return lambda node, target, args: getter


def _header(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    name = args[0].value
    return lambda ctx: ", ".join(ctx.headers.get_all(name))


def _header_name(node: Member) -> str:
    """The header a HEADER(...) chain reads (through any SET_TEXT_MODE steps)."""
    source = node.target
    while isinstance(source, Member) and source.name == "SET_TEXT_MODE":
        source = source.target
    assert isinstance(source, Member) and source.name == "HEADER"
    return source.args[0].value


def _exists(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    name = _header_name(node)
    return lambda ctx: name in ctx.headers


def _count(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    name = _header_name(node)
    return lambda ctx: len(ctx.headers.get_all(name))


def _body(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    n = args[0].value
    return lambda ctx: ctx.body[:n].decode("utf-8", "replace")


def _attribute(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    name = args[0].value
    return lambda ctx: ctx.attribute(name)


def _check_limit(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    name = args[0].value

    def exceeded(ctx: RequestContext) -> bool:
        return bool(ctx.check_limit(name)) if ctx.check_limit is not None else False
    return exceeded


def _method(fn: Callable[[str], Any]) -> Builder:
    """A text→value method without arguments (LENGTH, TO_LOWER...)."""
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        assert target is not None
        t = text_of(node.target.type, target)  # type: ignore[union-attr]
        return lambda ctx: fn(t(ctx))
    return build


def _identity(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    assert target is not None
    return target


def _text_test(test: Callable[[str, str], bool]) -> Builder:
    """A comparison of the target's text with a text argument, honouring the text mode."""
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        t = text_of(node.target.type, target)  # type: ignore[union-attr, arg-type]
        const, arg = _text_arg(args[0])
        if node.ignore_case:
            if const:
                needle = arg.lower()
                return lambda ctx: test(t(ctx).lower(), needle)
            return lambda ctx: test(t(ctx).lower(), arg(ctx).lower())
        if const:
            return lambda ctx: test(t(ctx), arg)
        return lambda ctx: test(t(ctx), arg(ctx))
    return build


def _any_value(test: Callable[[str, str], bool], negate: bool = False) -> Builder:
    """A user-attribute comparison: true when some value passes (``negate``: when none does)."""
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        assert target is not None
        const, arg = _text_arg(args[0])
        fold = str.lower if node.ignore_case else None

        def check(ctx: RequestContext) -> bool:
            needle = arg if const else arg(ctx)
            values = target(ctx)
            if fold is not None:
                needle, values = needle.lower(), [v.lower() for v in values]
            return any(test(v, needle) for v in values) is not negate
        return check
    return build


def _each_value(fn: Callable[[str], str]) -> Builder:
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        assert target is not None
        return lambda ctx: tuple(fn(v) for v in target(ctx))
    return build


def _split(before: bool) -> Builder:
    """BEFORE_STR / AFTER_STR: the text around the first occurrence; empty when absent."""
    def cut(text: str, sep: str, ignore_case: bool) -> str:
        haystack, needle = text, sep
        if ignore_case:
            # lower() keeps the length of all but a few characters; search exactly where not.
            lt, ls = text.lower(), sep.lower()
            if len(lt) == len(text) and len(ls) == len(sep):
                haystack, needle = lt, ls
        i = haystack.find(needle)
        if i < 0:
            return ""
        return text[:i] if before else text[i + len(sep):]

    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        t = text_of(node.target.type, target)  # type: ignore[union-attr, arg-type]
        const, arg = _text_arg(args[0])
        ignore = node.ignore_case
        if const:
            return lambda ctx: cut(t(ctx), arg, ignore)
        return lambda ctx: cut(t(ctx), arg(ctx), ignore)
    return build


def _to_number(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    t = text_of(node.target.type, target)  # type: ignore[union-attr, arg-type]

    def number(ctx: RequestContext) -> int | None:
        text = t(ctx).strip()
        body = text[1:] if text[:1] in "+-" else text
        return int(text) if body.isascii() and body.isdigit() else None
    return number


def _number_text(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    assert target is not None
    return lambda ctx: "" if (v := target(ctx)) is None else str(v)


def _compare(test: Callable[[int, int], bool]) -> Builder:
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        assert target is not None
        if isinstance(args[0], Literal):
            bound = args[0].value
            return lambda ctx: (v := target(ctx)) is not None and test(v, bound)
        other = compile_node(args[0])

        def check(ctx: RequestContext) -> bool:
            a, b = target(ctx), other(ctx)
            return a is not None and b is not None and test(a, b)
        return check
    return build


def _in_subnet(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    assert target is not None
    network = args[0].value

    def inside(ctx: RequestContext) -> bool:
        ip = address(target(ctx))
        return ip is not None and ip.version == network.version and ip in network
    return inside


def _ip_equal(negate: bool) -> Builder:
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        assert target is not None
        wanted = address(str(args[0].value))
        # An unparsable client address equals nothing and differs from everything.
        return lambda ctx: (address(target(ctx)) == wanted) is not negate
    return build


def _method_equal(negate: bool) -> Builder:
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        assert target is not None
        wanted = args[0].value
        return lambda ctx: (target(ctx) == wanted) is not negate
    return build


def _url_part(path: bool) -> Builder:
    def build(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
        assert target is not None
        if path:
            return lambda ctx: target(ctx).partition("?")[0]
        return lambda ctx: target(ctx).partition("?")[2]
    return build


def _contains(text: str, needle: str) -> bool:
    return needle in text


def _not(node: Member, target: Fn | None, args: tuple[Expr, ...]) -> Fn:
    assert target is not None
    return lambda ctx: not target(ctx)


BUILDERS: dict[tuple[ValueType, str], Builder] = {
    (T.ROOT, "HTTP"): _namespace, (T.ROOT, "CLIENT"): _namespace, (T.ROOT, "SYS"): _namespace,
    (T.HTTP, "REQ"): _namespace, (T.HTTP_REQ, "USER"): _namespace, (T.CLIENT, "IP"): _namespace,
    (T.HTTP_REQ, "URL"): _field(lambda ctx: ctx.url),
    (T.HTTP_REQ, "HOSTNAME"): _field(lambda ctx: ctx.hostname),
    (T.HTTP_REQ, "METHOD"): _field(lambda ctx: ctx.method),
    (T.HTTP_REQ, "HEADER"): _header,
    (T.HTTP_REQ, "IS_VALID"): _field(lambda ctx: ctx.is_valid),
    (T.HTTP_REQ, "BODY"): _body,
    (T.HTTP_REQ, "CONTENT_LENGTH"): _field(lambda ctx: ctx.content_length),
    (T.HTTP_REQ_USER, "ATTRIBUTE"): _attribute,
    (T.HTTP_REQ_USER, "NAME"): _field(lambda ctx: ctx.authenticated_user or ""),
    (T.CLIENT_IP, "SRC"): _field(lambda ctx: ctx.client_ip),
    (T.SYS, "CHECK_LIMIT"): _check_limit,
    (T.TEXT, "EQ"): _text_test(operator.eq),
    (T.TEXT, "NE"): _text_test(operator.ne),
    (T.TEXT, "CONTAINS"): _text_test(_contains),
    (T.TEXT, "STARTSWITH"): _text_test(str.startswith),
    (T.TEXT, "ENDSWITH"): _text_test(str.endswith),
    (T.TEXT, "LENGTH"): _method(len),
    (T.TEXT, "TO_LOWER"): _method(str.lower),
    (T.TEXT, "TO_UPPER"): _method(str.upper),
    (T.TEXT, "SET_TEXT_MODE"): _identity,
    (T.TEXT, "BEFORE_STR"): _split(before=True),
    (T.TEXT, "AFTER_STR"): _split(before=False),
    (T.TEXT, "TYPECAST_NUM_T"): _to_number,
    (T.URL, "PATH"): _url_part(path=True),
    (T.URL, "QUERY"): _url_part(path=False),
    (T.HEADER, "EXISTS"): _exists,
    (T.HEADER, "COUNT"): _count,
    (T.ATTRIBUTE, "EQ"): _any_value(operator.eq),
    (T.ATTRIBUTE, "NE"): _any_value(operator.eq, negate=True),
    (T.ATTRIBUTE, "CONTAINS"): _any_value(_contains),
    (T.ATTRIBUTE, "STARTSWITH"): _any_value(str.startswith),
    (T.ATTRIBUTE, "ENDSWITH"): _any_value(str.endswith),
    (T.ATTRIBUTE, "TO_LOWER"): _each_value(str.lower),
    (T.ATTRIBUTE, "TO_UPPER"): _each_value(str.upper),
    (T.IP, "IN_SUBNET"): _in_subnet,
    (T.IP, "EQ"): _ip_equal(negate=False),
    (T.IP, "NE"): _ip_equal(negate=True),
    (T.IP, "TYPECAST_TEXT_T"): _identity,
    (T.METHOD, "EQ"): _method_equal(negate=False),
    (T.METHOD, "NE"): _method_equal(negate=True),
    (T.NUM, "EQ"): _compare(operator.eq),
    (T.NUM, "NE"): _compare(operator.ne),
    (T.NUM, "GT"): _compare(operator.gt),
    (T.NUM, "LT"): _compare(operator.lt),
    (T.NUM, "GE"): _compare(operator.ge),
    (T.NUM, "LE"): _compare(operator.le),
    (T.NUM, "TYPECAST_TEXT_T"): _number_text,
    (T.BOOL, "NOT"): _not,
}
