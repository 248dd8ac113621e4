"""What the parser refuses: (expression, position, words of the reason). One generic runner."""

from __future__ import annotations

import pickle

import pytest

from adcml.policy import (
    ExpressionError,
    RequestContext,
    parse,
    parse_rule,
    parse_string_builder,
    render_string,
)
from adcml.policy.lexer import MAX_EXPRESSION_LENGTH

ERRORS = [
    # syntax
    ("", 0, "expected a value but found end of expression"),
    ("   ", 3, "expected a value"),
    ('HTTP.REQ.URL.CONTAINS("a", "b")', 25, "expected ')' but found ','"),
    ('HTTP.REQ.URL.CONTAINS("a"', 25, "expected ')' but found end of expression"),
    ('HTTP.REQ.URL.CONTAINS', 21, "expected '(' after CONTAINS"),
    ('HTTP.REQ.URL.CONTAINS()', 22, "expected a value but found ')'"),
    ("HTTP.REQ.URL.LENGTH()", 19, "LENGTH takes no arguments"),
    ("(true", 5, "expected ')' but found end of expression to close the '(' at position 0"),
    ("true)", 4, "expected an operator"),
    ("true false", 5, "expected an operator"),
    ("true &&", 7, "expected a value but found end of expression"),
    ("&& true", 0, "expected a value but found '&&'"),
    ("HTTP.", 5, "expected a name after '.' but found end of expression"),
    ("HTTP.REQ.URL.", 13, "expected a name after '.'"),
    ('HTTP.REQ.URL.PATH."x"', 18, "expected a name after '.' but found string"),
    ('"abc', 0, "unterminated string literal"),
    ('"abc\\', 0, "unterminated string literal"),
    ('"a\\qb"', 2, "unknown escape sequence '\\q'"),
    ("HTTP.REQ.URL # x", 13, "unexpected character '#'"),
    ("'single'", 0, "unexpected character"),
    ("12abc", 0, "a name cannot start with a digit"),
    ("99999999999", 0, "larger than 4294967295"),
    ('"' + "x" * 256 + '"', 0, "at most 255 bytes"),
    ('"' + "é" * 128 + '"', 0, "at most 255 bytes on NetScaler, this one is 256"),
    # operators adcml (and these rules) do not take
    ('HTTP.REQ.URL == "x"', 13, "use the .EQ(...) method instead of '=='"),
    ('HTTP.REQ.URL != "x"', 13, ".NE(...)"),
    ("HTTP.REQ.CONTENT_LENGTH > 5", 24, ".GT(...)"),
    ("HTTP.REQ.CONTENT_LENGTH <= 5", 24, ".LE(...)"),
    ("1 - 1", 2, "'-' is not supported"),
    ("true & false", 5, "did you mean '&&'"),
    ("true | false", 5, "did you mean '||'"),
    # names
    ("HTTP.REQ.FOO", 9, "unknown name 'FOO' after HTTP.REQ; expected one of BODY, CONTENT_LENGTH"),
    ("FOO.BAR", 0, "unknown name 'FOO'"),
    ("HTTP.RES.STATUS", 5, "RES is not supported on HTTP"),
    ("HTTP.REQ.FULL_HEADER", 9, "FULL_HEADER is not supported on HTTP.REQ"),
    ('HTTP.REQ.URL.REGEX_MATCH(re/x/)', 13, "REGEX_MATCH is not supported on HTTP.REQ.URL"),
    ('HTTP.REQ.URL.EXISTS', 13, "EXISTS is not supported on HTTP.REQ.URL (URL text)"),
    ('HTTP.REQ.URL.PATH.QUERY', 18, "QUERY is not supported on HTTP.REQ.URL.PATH (text)"),
    ('CLIENT.IP.SRC.STARTSWITH("10.")', 14, "STARTSWITH is not supported on CLIENT.IP.SRC (an IP address)"),
    ('HTTP.REQ.METHOD.CONTAINS("P")', 16, "CONTAINS is not supported on HTTP.REQ.METHOD"),
    ("HTTP.REQ.CONTENT_LENGTH.CONTAINS(1)", 24, "CONTAINS is not supported"),
    ("true.EQ(true)", 5, "EQ is not supported on true (a boolean)"),
    ("HTTP.REQ", 8, "HTTP.REQ is not a value by itself; expected '.' and one of BODY"),
    ("HTTP", 4, "HTTP is not a value by itself; expected '.' and one of REQ"),
    ("HTTP.REQ.USER", 13, "HTTP.REQ.USER is not a value by itself"),
    ("CLIENT.IP", 9, "CLIENT.IP is not a value by itself"),
    ("SYS", 3, "SYS is not a value by itself"),
    # arguments
    ('HTTP.REQ.HEADER(x).EXISTS', 16, "HEADER's argument must be a string literal"),
    ('HTTP.REQ.HEADER("a" + "b").EXISTS', 20, "expected ')' but found '+'"),
    ('HTTP.REQ.HEADER(HTTP.REQ.URL).EXISTS', 16, "must be a string literal"),
    ('HTTP.REQ.HEADER("").EXISTS', 16, "a header name is 1 to 32 characters"),
    ('HTTP.REQ.HEADER("bad name").EXISTS', 16, "HTTP token"),
    ('HTTP.REQ.HEADER("' + "x" * 33 + '").EXISTS', 16, "1 to 32 characters"),
    ('HTTP.REQ.USER.ATTRIBUTE(groups).CONTAINS("x")', 24, "ATTRIBUTE's argument must be a string literal"),
    ('HTTP.REQ.USER.ATTRIBUTE("").CONTAINS("x")', 24, "ATTRIBUTE needs a non-empty name"),
    ("SYS.CHECK_LIMIT(lim)", 16, "CHECK_LIMIT's argument must be a string literal"),
    ('SYS.CHECK_LIMIT("")', 16, "CHECK_LIMIT needs a non-empty name"),
    ("HTTP.REQ.BODY(0).EQ(\"\")", 14, "BODY(n) needs n >= 1"),
    ('HTTP.REQ.BODY("10").EQ("")', 14, "BODY's argument must be an integer literal"),
    ('HTTP.REQ.METHOD.EQ("POST")', 19, "EQ takes one of GET, HEAD, POST"),
    ("HTTP.REQ.METHOD.EQ(FETCH)", 19, "EQ takes one of GET"),
    ("HTTP.REQ.URL.EQ(POST)", 16, "unknown name 'POST'"),
    ("HTTP.REQ.URL.SET_TEXT_MODE(URLENCODED).EQ(\"x\")", 27, "takes one of IGNORECASE, NOIGNORECASE"),
    ('HTTP.REQ.URL.SET_TEXT_MODE("IGNORECASE").EQ("x")', 27, "a bare word, not a string"),
    ('HTTP.REQ.HEADER("n").TYPECAST_NUM_T(HEX).GT(1)', 36, "TYPECAST_NUM_T takes one of DECIMAL"),
    ("CLIENT.IP.SRC.IN_SUBNET(10.0.0.0/33)", 24, "invalid IP address or subnet '10.0.0.0/33'"),
    ("CLIENT.IP.SRC.IN_SUBNET(300.0.0.0/8)", 24, "invalid IP address or subnet"),
    ("CLIENT.IP.SRC.IN_SUBNET(10.0.0.1)", 24, "IN_SUBNET's argument must be an IP subnet literal"),
    ('CLIENT.IP.SRC.IN_SUBNET("10.0.0.0/8")', 24, "must be an IP subnet literal such as 10.0.0.0/8"),
    ("CLIENT.IP.SRC.EQ(10.0.0.0/8)", 17, "EQ's argument must be an IP address literal"),
    ('CLIENT.IP.SRC.EQ("10.0.0.1")', 17, "must be an IP address literal"),
    ("CLIENT.IP.SRC.EQ(zz::1)", 17, "must be an IP address literal such as 10.0.0.1, but found name 'zz'"),
    ("10.0.0.1", 0, "an IP address literal is only accepted as an argument"),
    ("10.0.0.0/8", 0, "an IP subnet literal is only accepted as an argument"),
    # types
    ('"a" && "b"', 0, "'&&' needs boolean operands, but this operand is text"),
    ('true && HTTP.REQ.URL', 8, "'&&' needs boolean operands, but this operand is URL text"),
    ("true || 1", 8, "'||' needs boolean operands, but this operand is a number"),
    ('!HTTP.REQ.URL', 1, "'!' needs boolean operands"),
    ('"x" + 1', 6, "this operand is a number; convert the number with .TYPECAST_TEXT_T"),
    ('1 + "x"', 4, "this operand is text"),
    ("true + true", 0, "'+' joins text with text or adds numbers, but this operand is a boolean"),
    ('"x" + true', 6, "this operand is a boolean"),
    ("HTTP.REQ.URL.CONTAINS(1)", 22, "CONTAINS compares with text, but this argument is a number"),
    ("HTTP.REQ.URL.CONTAINS(true)", 22, "this argument is a boolean"),
    ('HTTP.REQ.CONTENT_LENGTH.GT("1")', 27, "GT compares with a number, but this argument is text; convert"),
    # SYS.CHECK_LIMIT placement
    ('SYS.CHECK_LIMIT("l") && true', 0, "SYS.CHECK_LIMIT must be the last term of the rule"),
    ('true || SYS.CHECK_LIMIT("l")', 8, "SYS.CHECK_LIMIT must be the last term"),
    ('!SYS.CHECK_LIMIT("l")', 1, "SYS.CHECK_LIMIT must be the last term"),
    ('SYS.CHECK_LIMIT("l").NOT', 0, "SYS.CHECK_LIMIT must be the last term"),
    ('(true || SYS.CHECK_LIMIT("l")) && true', 9, "SYS.CHECK_LIMIT must be the last term"),
    ('true && (true || SYS.CHECK_LIMIT("l"))', 17, "SYS.CHECK_LIMIT must be the last term"),
    ('SYS.CHECK_LIMIT("a") && SYS.CHECK_LIMIT("b")', 0, "SYS.CHECK_LIMIT must be the last term"),
    # limits
    ("(" * 41 + "true" + ")" * 41, 40, "nests deeper than 40 levels"),
    ("!" * 41 + "true", 40, "nests deeper than 40 levels"),
    ("(" * 5000, 40, "nests deeper than 40 levels"),
    ('"a"' + ".TO_LOWER" * 130, 0, "more than 120 operations deep"),
    ("x" * (MAX_EXPRESSION_LENGTH + 1), MAX_EXPRESSION_LENGTH, "NetScaler accepts at most 8191"),
]


@pytest.mark.parametrize(("expression", "position", "reason"), ERRORS, ids=[e[0][:60] for e in ERRORS])
def test_refused(expression, position, reason):
    with pytest.raises(ExpressionError) as info:
        parse(expression)
    error = info.value
    assert reason in error.reason
    assert error.position == position
    assert error.expression == expression
    assert isinstance(error, ValueError)
    assert str(error).startswith(f"Expression error at position {position}: {error.reason} in: ")


RULE_ERRORS = [
    ("HTTP.REQ.URL", 0, "a rule must be a boolean expression, but this one is URL text"),
    ('"Bearer " + "x"', 0, "but this one is text"),
    ("HTTP.REQ.CONTENT_LENGTH", 0, "but this one is a number"),
    ("  CLIENT.IP.SRC", 2, "but this one is an IP address"),
]


@pytest.mark.parametrize(("expression", "position", "reason"), RULE_ERRORS)
def test_a_rule_must_be_boolean(expression, position, reason):
    parse(expression)  # fine as an expression
    with pytest.raises(ExpressionError) as info:
        parse_rule(expression)
    assert reason in info.value.reason and info.value.position == position


@pytest.mark.parametrize(("expression", "reason"), [
    ("true", "must be text, but this one is a boolean"),
    ("HTTP.REQ.CONTENT_LENGTH", "a number; convert it with .TYPECAST_TEXT_T"),
    ('HTTP.REQ.URL.CONTAINS("x")', "a boolean"),
])
def test_a_string_builder_must_be_text(expression, reason):
    with pytest.raises(ExpressionError) as info:
        parse_string_builder(expression)
    assert reason in info.value.reason
    with pytest.raises(ExpressionError):
        render_string(expression, RequestContext())


def test_render_string_refuses_a_parsed_non_text_tree():
    with pytest.raises(ExpressionError, match="render_string needs a text expression"):
        render_string(parse("true"), RequestContext())


def test_the_message_format():
    with pytest.raises(ExpressionError) as info:
        parse_rule('HTTP.REQ.URL.CONTAINS("a", "b")')
    assert str(info.value) == (
        "Expression error at position 25: expected ')' but found ',': CONTAINS takes 1 argument "
        "(text (a string or a text expression)) in: HTTP.REQ.URL.CONTAINS(\"a\", \"b\")")


def test_a_long_expression_is_shown_around_the_error():
    expression = " || ".join(['HTTP.REQ.URL.CONTAINS("x")'] * 40) + " || oops"
    with pytest.raises(ExpressionError) as info:
        parse_rule(expression)
    assert info.value.position == len(expression) - 4
    assert info.value.expression == expression
    shown = str(info.value).split(" in: ", 1)[1]
    assert shown.startswith("...") and shown.endswith("oops") and len(shown) < 100


def test_errors_pickle():
    error = ExpressionError("bad", 3, "abcdef")
    again = pickle.loads(pickle.dumps(error))
    assert (again.reason, again.position, again.expression, str(again)) == ("bad", 3, "abcdef", str(error))


def test_a_non_string_is_a_type_error():
    with pytest.raises(TypeError):
        parse(b"true")  # type: ignore[arg-type]
