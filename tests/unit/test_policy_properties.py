"""Properties: random valid expressions, built from the grammar together with a Python model of
their meaning, parse, round-trip through their canonical text and evaluate to the model's value;
random garbage never raises anything but ExpressionError; string builders give exact text."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adcml.policy import (
    ExpressionError,
    Kind,
    RequestContext,
    evaluate,
    parse,
    parse_rule,
    parse_string_builder,
    render_string,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- requests ------------------------------------------------------------------------------

SMALL = st.text(alphabet="aAbB/?=-_ ,é\"\\", max_size=8)
CLIENT_IPS = ["10.1.2.3", "192.168.1.1", "2001:db8::5", "::ffff:10.9.9.9", "not-an-ip", ""]


@st.composite
def contexts(draw) -> RequestContext:
    headers = []
    if draw(st.booleans()):
        headers.append(("X-A", draw(SMALL)))
    if draw(st.booleans()):
        headers.append(("x-a", draw(SMALL)))
    if draw(st.booleans()):
        headers.append(("Host", draw(st.sampled_from(["a.example", "B.example:80", "[::1]:8"]))))
    groups = draw(st.one_of(SMALL, st.lists(SMALL, max_size=3)))
    return RequestContext(
        method=draw(st.sampled_from(["GET", "POST", "post", "PUT"])),
        url="/" + draw(SMALL),
        headers=headers,
        client_ip=draw(st.sampled_from(CLIENT_IPS)),
        user_attributes={"g": groups},
        authenticated_user=draw(st.one_of(st.none(), SMALL)),
        check_limit=draw(st.sampled_from([None, lambda name: True, lambda name: name == "a"])),
        body=draw(st.binary(max_size=8)),
    )


# -- expressions with their meaning ---------------------------------------------------------

def escape(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def case(draw, name: str) -> str:
    return draw(st.sampled_from([name, name.lower(), name.title()]))


SOURCES = [  # (expression, model, tag): the tag says what the expression's type allows
    ("HTTP.REQ.URL", lambda c: c.url, "text"),
    ("HTTP.REQ.URL.PATH", lambda c: c.url.partition("?")[0], "text"),
    ("HTTP.REQ.URL.QUERY", lambda c: c.url.partition("?")[2], "text"),
    ("HTTP.REQ.HOSTNAME", lambda c: c.hostname, "text"),
    ('HTTP.REQ.HEADER("X-A")', lambda c: ", ".join(c.headers.get_all("x-a")), "text"),
    ("HTTP.REQ.USER.NAME", lambda c: c.authenticated_user or "", "text"),
    ('HTTP.REQ.USER.ATTRIBUTE("g")', lambda c: ",".join(c.attribute("g")), "attr"),
    ("HTTP.REQ.BODY(3)", lambda c: c.body[:3].decode("utf-8", "replace"), "text"),
    ("HTTP.REQ.METHOD", lambda c: c.method, "opaque"),
    ("CLIENT.IP.SRC", lambda c: c.client_ip, "opaque"),
]


def operand(text: str, tag: str) -> str:
    """``text`` made a target for a text operation: a sum in parentheses; an IP address or a
    method (which have no text operations) and a user attribute (whose comparisons look at each
    value) turned into plain text by concatenation."""
    if tag == "sum":
        return f"({text})"
    if tag in ("opaque", "attr"):
        return f'("" + {text})'
    return text


@st.composite
def texts(draw, depth: int = 2):
    """(expression text, model, tag) for a text expression."""
    choice = draw(st.integers(0, 3 if depth > 0 else 1))
    if choice == 0:
        value = draw(SMALL)
        return escape(value), lambda c: value, "text"
    if choice == 1:
        name, model, tag = draw(st.sampled_from(SOURCES))
        spelled = ".".join(part if part.endswith(")") else case(draw, part) for part in name.split("."))
        return spelled, model, tag
    inner, model, tag = draw(texts(depth - 1))
    if choice == 2:
        op = draw(st.sampled_from(["TO_LOWER", "TO_UPPER", "BEFORE_STR", "AFTER_STR"]))
        target = inner if tag == "attr" else operand(inner, tag)
        if op in ("TO_LOWER", "TO_UPPER"):
            fn = str.lower if op == "TO_LOWER" else str.upper
            return f"{target}.{case(draw, op)}", lambda c: fn(model(c)), "attr" if tag == "attr" else "text"
        sep = draw(st.text(alphabet="ab/,", min_size=1, max_size=2))

        def cut(c, before=op == "BEFORE_STR"):
            text = model(c)
            i = text.find(sep)
            return "" if i < 0 else (text[:i] if before else text[i + len(sep):])
        return f"{target}.{op}({escape(sep)})", cut, "text"
    other, other_model, _ = draw(texts(depth - 1))
    return f"{inner} + {other}", lambda c: model(c) + other_model(c), "sum"


PREDICATES = {
    "EQ": lambda a, b: a == b,
    "NE": lambda a, b: a != b,
    "CONTAINS": lambda a, b: b in a,
    "STARTSWITH": str.startswith,
    "ENDSWITH": str.endswith,
}


@st.composite
def atoms(draw):
    """(text, model) for a boolean atom."""
    kind = draw(st.integers(0, 7))
    if kind == 0:
        value = draw(st.booleans())
        return case(draw, "TRUE" if value else "FALSE"), lambda c: value
    if kind in (1, 2):
        target, model, tag = draw(texts())
        target = operand(target, tag)
        op = draw(st.sampled_from(sorted(PREDICATES)))
        needle = draw(SMALL)
        test = PREDICATES[op]
        if kind == 2:
            return (f"{target}.SET_TEXT_MODE(IGNORECASE).{op}({escape(needle)})",
                    lambda c: test(model(c).lower(), needle.lower()))
        return f"{target}.{case(draw, op)}({escape(needle)})", lambda c: test(model(c), needle)
    if kind == 3:
        target, model, tag = draw(texts())
        bound = draw(st.integers(0, 6))
        op, fn = draw(st.sampled_from([("GT", int.__gt__), ("LE", int.__le__), ("EQ", int.__eq__)]))
        return f"{operand(target, tag)}.LENGTH.{op}({bound})", lambda c: fn(len(model(c)), bound)
    if kind == 4:
        return ('HTTP.REQ.HEADER("x-a").EXISTS', lambda c: bool(c.headers.get_all("X-A")))
    if kind == 5:
        method = draw(st.sampled_from(["GET", "POST", "PUT"]))
        return f"HTTP.REQ.METHOD.EQ({case(draw, method)})", lambda c: c.method == method
    if kind == 6:
        subnet = draw(st.sampled_from(["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]))
        net = ipaddress.ip_network(subnet)

        def inside(c):
            try:
                ip = ipaddress.ip_address(c.client_ip)
            except ValueError:
                return False
            if ip.version == 6 and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            return ip.version == net.version and ip in net
        return f"CLIENT.IP.SRC.IN_SUBNET({subnet})", inside
    needle = draw(SMALL)
    return (f'HTTP.REQ.USER.ATTRIBUTE("g").CONTAINS({escape(needle)})',
            lambda c: any(needle in v for v in c.attribute("g")))


OR, AND, UNARY = 0, 1, 2


def booleans():
    """(text, model, looseness) where looseness says which operator is outermost."""
    leaves = atoms().map(lambda a: (a[0], a[1], UNARY))

    def extend(children):
        def conj(parts, op):
            strength = AND if op == "&&" else OR
            text = f" {op} ".join(t if level >= strength else f"({t})" for t, _, level in parts)
            models = [m for _, m, _ in parts]
            if op == "&&":
                return text, (lambda c: all(m(c) for m in models)), AND
            return text, (lambda c: any(m(c) for m in models)), OR

        def negate(part):
            text, model, level = part
            return ("!" + (text if level == UNARY else f"({text})"), lambda c: not model(c), UNARY)

        def dot_not(part):
            text, model, level = part
            return ((text if level == UNARY and not text.startswith("!") else f"({text})") + ".NOT",
                    lambda c: not model(c), UNARY)

        return st.one_of(
            st.lists(children, min_size=2, max_size=3).map(lambda p: conj(p, "&&")),
            st.lists(children, min_size=2, max_size=3).map(lambda p: conj(p, "||")),
            children.map(negate),
            children.map(dot_not),
            children.map(lambda p: (f"({p[0]})", p[1], UNARY)),
        )
    return st.recursive(leaves, extend, max_leaves=8)


@SETTINGS
@given(booleans(), contexts(), st.booleans())
def test_random_rules_parse_round_trip_and_match_the_model(generated, ctx, limit):
    text, model, _ = generated
    expected = model(ctx)
    if limit:  # a trailing CHECK_LIMIT is allowed after any rule, wrapped as one && operand
        text = f"({text}) && SYS.CHECK_LIMIT(\"a\")"
        exceeded = ctx.check_limit is not None and ctx.check_limit("a")
        expected = expected and exceeded
    rule = parse_rule(text)
    assert rule.kind is Kind.BOOL
    assert evaluate(rule, ctx) is expected
    again = parse_rule(str(rule))
    assert again == rule and evaluate(again, ctx) is expected


@SETTINGS
@given(texts(depth=3), contexts())
def test_random_string_builders_match_the_model(generated, ctx):
    text, model, _ = generated
    sb = parse_string_builder(text)
    assert render_string(sb, ctx) == model(ctx)
    assert parse_string_builder(str(sb)) == sb


@SETTINGS
@given(st.lists(st.text(max_size=60), max_size=5), st.booleans())
def test_string_builders_with_quotes_and_escapes_give_exact_text(parts, escape_controls):
    def literal(part: str) -> str:
        out = part.replace("\\", "\\\\").replace('"', '\\"')
        if escape_controls:
            out = out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
        return f'"{out}"'

    text = " + ".join(map(literal, parts)) if parts else '""'
    expected = "".join(parts)
    sb = parse_string_builder(text)
    rendered = render_string(sb, RequestContext())
    assert rendered == expected and evaluate(sb, RequestContext()) == expected
    assert rendered.encode("utf-8") == expected.encode("utf-8")
    assert render_string(parse_string_builder(str(sb)), RequestContext()) == expected


TOKENS = [
    "HTTP", ".", "REQ", "URL", "PATH", "HEADER", "USER", "ATTRIBUTE", "CLIENT", "IP", "SRC", "SYS",
    "CHECK_LIMIT", "CONTAINS", "EQ", "GT", "LENGTH", "SET_TEXT_MODE", "IGNORECASE", "EXISTS", "NOT",
    "METHOD", "POST", "IN_SUBNET", "BODY", "TYPECAST_NUM_T", "DECIMAL", "(", ")", ",", '"', '"x"', "\\",
    "&&", "||", "!", "+", "true", "false", "1", "99999999999", "10.0.0.0/8", "1.2.3.4", "::1", "fe80::/10",
    " ", "==", "-", "#", "é", "\n", "ab:", "0x1",
]


def _never_raises_otherwise(text: str, ctx: RequestContext) -> None:
    try:
        expr = parse(text)
    except ExpressionError as error:
        assert 0 <= error.position <= len(text)
        assert error.expression == text and error.reason
        return
    value = evaluate(expr, ctx)
    assert isinstance(value, bool | str | int) or value is None
    assert parse(str(expr)) == expr


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map("".join), contexts())
def test_token_soup_raises_only_expression_errors(text, ctx):
    _never_raises_otherwise(text, ctx)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60), contexts())
def test_arbitrary_text_raises_only_expression_errors(text, ctx):
    _never_raises_otherwise(text, ctx)


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["(", "!", "HTTP.REQ.URL.CONTAINS(", '"a".EQ(', "true && (", "!("]),
       st.integers(20, 3000))
def test_deep_nesting_is_a_clear_error_not_a_recursion_error(opener, times):
    text = opener * times + "true"
    try:
        parse(text)
    except ExpressionError as error:
        if opener in ("(", "!", "!(") and times > 40:
            assert "nests deeper than 40" in error.reason
