"""Table-driven evaluation: (expression, request overrides, expected value). One generic runner;
every construct of the documented subset appears at least once."""

from __future__ import annotations

import pytest

from adcml.policy import (
    Kind,
    RequestContext,
    evaluate,
    parse,
    parse_rule,
    parse_string_builder,
    render_string,
)
from adcml.policy.evaluate import BUILDERS
from adcml.policy.members import MEMBERS
from adcml.policy.nodes import Member, ValueType

BASE = dict(
    method="POST",
    url="/v1/models/llama/infer?stream=true&x=1",
    headers=[("Host", "API.example.com:8443"), ("Authorization", "Bearer tok123"), ("X-Tenant", "acme"),
             ("Accept", "text/plain"), ("Accept", "application/json"), ("Content-Length", "17")],
    client_ip="10.20.30.40",
    user_attributes={"groups": ["ml-users", "ml-trusted"], "email": "Ana@Example.com", "empty": []},
    authenticated_user="ana",
    check_limit=lambda name: name == "hot",
    body=b'{"prompt": "hi"}\n',
)


def ctx(**overrides) -> RequestContext:
    return RequestContext(**{**BASE, **overrides})


CASES = [
    # literals and operators
    ("true", {}, True),
    ("FALSE", {}, False),
    ("!true", {}, False),
    ("!!true", {}, True),
    ("true && false", {}, False),
    ("true || false", {}, True),
    ("false || false || true", {}, True),
    ("true || false && false", {}, True),          # && binds tighter than ||
    ("(true || false) && false", {}, False),
    ("!false && false", {}, False),                # ! binds tighter than &&
    ("!(false && false)", {}, True),
    ("true.NOT", {}, False),
    ('"a\\"b\\\\c"', {}, 'a"b\\c'),
    ('"tab\\there\\r\\n"', {}, "tab\there\r\n"),
    ("42", {}, 42),
    ("1 + 2 + 3", {}, 6),
    ('"a" + "b" + "c"', {}, "abc"),
    # HTTP.REQ.URL and its parts
    ("HTTP.REQ.URL", {}, "/v1/models/llama/infer?stream=true&x=1"),
    ("http.req.url.path", {}, "/v1/models/llama/infer"),
    ("HTTP.REQ.URL.QUERY", {}, "stream=true&x=1"),
    ("HTTP.REQ.URL.QUERY", {"url": "/plain"}, ""),
    ("HTTP.REQ.URL.PATH", {"url": "/a?b?c"}, "/a"),
    ("HTTP.REQ.URL.QUERY", {"url": "/a?b?c"}, "b?c"),
    ('HTTP.REQ.URL.PATH.STARTSWITH("/v1/models/llama")', {}, True),
    ('HTTP.REQ.URL.PATH.STARTSWITH("/V1")', {}, False),
    ('HTTP.REQ.URL.SET_TEXT_MODE(IGNORECASE).PATH.STARTSWITH("/V1")', {}, True),
    ('HTTP.REQ.URL.PATH.SET_TEXT_MODE(IGNORECASE).STARTSWITH("/V1")', {}, True),
    ('HTTP.REQ.URL.PATH.SET_TEXT_MODE(IGNORECASE).SET_TEXT_MODE(NOIGNORECASE).STARTSWITH("/V1")', {}, False),
    ('HTTP.REQ.URL.PATH.ENDSWITH("/infer")', {}, True),
    ('HTTP.REQ.URL.CONTAINS("stream=true")', {}, True),
    ('HTTP.REQ.URL.PATH.CONTAINS("stream")', {}, False),
    ('HTTP.REQ.URL.PATH.EQ("/v1/models/llama/infer")', {}, True),
    ('HTTP.REQ.URL.PATH.NE("/v1/models/llama/infer")', {}, False),
    ("HTTP.REQ.URL.PATH.LENGTH", {}, 22),
    ("HTTP.REQ.URL.PATH.LENGTH.EQ(22)", {}, True),
    # HOSTNAME, METHOD
    ("HTTP.REQ.HOSTNAME", {}, "API.example.com"),
    ('HTTP.REQ.HOSTNAME.EQ("api.example.com")', {}, False),
    ('HTTP.REQ.HOSTNAME.TO_LOWER.EQ("api.example.com")', {}, True),
    ('HTTP.REQ.HOSTNAME.SET_TEXT_MODE(IGNORECASE).EQ("api.example.com")', {}, True),
    ("HTTP.REQ.HOSTNAME", {"hostname": "given.example"}, "given.example"),
    ("HTTP.REQ.HOSTNAME", {"headers": {"host": "[::1]:80"}}, "[::1]"),
    ("HTTP.REQ.HOSTNAME", {"headers": {}}, ""),
    ("HTTP.REQ.METHOD.EQ(POST)", {}, True),
    ("http.req.method.eq(post)", {}, True),
    ("HTTP.REQ.METHOD.EQ(GET)", {}, False),
    ("HTTP.REQ.METHOD.NE(GET)", {}, True),
    ("HTTP.REQ.METHOD.EQ(POST)", {"method": "post"}, False),   # methods are case-sensitive on the wire
    ('HTTP.REQ.METHOD + " " + HTTP.REQ.URL.PATH', {}, "POST /v1/models/llama/infer"),
    # headers
    ('HTTP.REQ.HEADER("Authorization").EXISTS', {}, True),
    ('HTTP.REQ.HEADER("authorization").EXISTS', {}, True),
    ('HTTP.REQ.HEADER("X-Missing").EXISTS', {}, False),
    ('HTTP.REQ.HEADER("X-Missing")', {}, ""),
    ('HTTP.REQ.HEADER("X-Missing").EQ("")', {}, True),
    ('HTTP.REQ.HEADER("X-Missing").CONTAINS("a")', {}, False),
    ('HTTP.REQ.HEADER("X-Missing").EXISTS.NOT', {}, True),
    ('HTTP.REQ.HEADER("Accept")', {}, "text/plain, application/json"),
    ('HTTP.REQ.HEADER("Accept").COUNT', {}, 2),
    ('HTTP.REQ.HEADER("Accept").COUNT.GT(1)', {}, True),
    ('HTTP.REQ.HEADER("Authorization").STARTSWITH("Bearer ")', {}, True),
    ('HTTP.REQ.HEADER("Authorization").SET_TEXT_MODE(IGNORECASE).STARTSWITH("bearer ")', {}, True),
    ('HTTP.REQ.HEADER("Authorization").SET_TEXT_MODE(IGNORECASE).EXISTS', {}, True),
    ('HTTP.REQ.HEADER("Authorization").AFTER_STR("Bearer ")', {}, "tok123"),
    ('HTTP.REQ.HEADER("Authorization").SET_TEXT_MODE(IGNORECASE).AFTER_STR("BEARER ")', {}, "tok123"),
    ('HTTP.REQ.HEADER("Authorization").BEFORE_STR(" ")', {}, "Bearer"),
    ('HTTP.REQ.HEADER("Authorization").BEFORE_STR("#")', {}, ""),
    ('HTTP.REQ.HEADER("Authorization").AFTER_STR("#")', {}, ""),
    ('HTTP.REQ.HEADER("X-Tenant").TO_UPPER', {}, "ACME"),
    ('HTTP.REQ.HEADER("X-Tenant").LENGTH', {}, 4),
    ('HTTP.REQ.URL.PATH.STARTSWITH("/v1/" + HTTP.REQ.HEADER("X-Missing"))', {}, True),
    ('HTTP.REQ.URL.CONTAINS(HTTP.REQ.HEADER("X-Tenant"))', {"url": "/t/acme/x"}, True),
    # numbers
    ("HTTP.REQ.CONTENT_LENGTH", {}, 17),
    ("HTTP.REQ.CONTENT_LENGTH.GT(16) && HTTP.REQ.CONTENT_LENGTH.LT(18)", {}, True),
    ("HTTP.REQ.CONTENT_LENGTH.GE(17) && HTTP.REQ.CONTENT_LENGTH.LE(17)", {}, True),
    ("HTTP.REQ.CONTENT_LENGTH.NE(17)", {}, False),
    ("HTTP.REQ.CONTENT_LENGTH", {"headers": {}}, 0),
    ("HTTP.REQ.CONTENT_LENGTH", {"headers": {"Content-Length": "12, 12"}}, 12),
    ("HTTP.REQ.CONTENT_LENGTH", {"headers": {"Content-Length": "x"}}, None),
    ("HTTP.REQ.CONTENT_LENGTH.LT(100)", {"headers": {"Content-Length": "x"}}, False),   # undefined
    ("HTTP.REQ.CONTENT_LENGTH.NE(100)", {"headers": {"Content-Length": "x"}}, False),
    ("HTTP.REQ.CONTENT_LENGTH + 1", {"headers": {"Content-Length": "x"}}, None),
    ("HTTP.REQ.CONTENT_LENGTH + 3", {}, 20),
    ("HTTP.REQ.CONTENT_LENGTH.TYPECAST_TEXT_T", {}, "17"),
    ('"len=" + HTTP.REQ.CONTENT_LENGTH.TYPECAST_TEXT_T', {"headers": {"Content-Length": "x"}}, "len="),
    ('HTTP.REQ.HEADER("X-N").TYPECAST_NUM_T(DECIMAL)', {"headers": {"X-N": " 42 "}}, 42),
    ('HTTP.REQ.HEADER("X-N").TYPECAST_NUM_T(DECIMAL).GT(40)', {"headers": {"X-N": "-42"}}, False),
    ('HTTP.REQ.HEADER("X-N").TYPECAST_NUM_T(DECIMAL)', {"headers": {"X-N": "4x"}}, None),
    ('HTTP.REQ.HEADER("X-N").TYPECAST_NUM_T(DECIMAL).EQ(HTTP.REQ.CONTENT_LENGTH)',
     {"headers": {"X-N": "17", "Content-Length": "17"}}, True),
    # body
    ("HTTP.REQ.BODY(9)", {}, '{"prompt"'),
    ("HTTP.REQ.BODY(1000)", {}, '{"prompt": "hi"}\n'),
    ('HTTP.REQ.BODY(100).CONTAINS("\\"prompt\\"")', {}, True),
    ("HTTP.REQ.BODY(2)", {"body": "é".encode()}, "é"),
    ("HTTP.REQ.BODY(1)", {"body": "é".encode()}, "\ufffd"),   # a cut character is replaced
    ("HTTP.REQ.BODY(10)", {"body": b""}, ""),
    # IS_VALID
    ("HTTP.REQ.IS_VALID", {}, True),
    ("HTTP.REQ.IS_VALID", {"url": "/a b"}, False),
    ("HTTP.REQ.IS_VALID", {"url": "no-slash"}, False),
    ("HTTP.REQ.IS_VALID", {"method": "GE T"}, False),
    ("HTTP.REQ.IS_VALID", {"headers": [("Host", "a"), ("Host", "b")]}, False),
    ("HTTP.REQ.IS_VALID", {"headers": {"X": "a\r\nInjected: 1"}}, False),
    ("HTTP.REQ.IS_VALID", {"headers": {"Bad Name": "a"}}, False),
    ("HTTP.REQ.IS_VALID", {"headers": {"Content-Length": "-1"}}, False),
    ("HTTP.REQ.IS_VALID", {"url": "*", "method": "OPTIONS"}, True),
    # user
    ('HTTP.REQ.USER.ATTRIBUTE("groups").CONTAINS("ml-trusted")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").CONTAINS("trusted")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").CONTAINS("users,ml")', {}, False),    # per value, not the join
    ('HTTP.REQ.USER.ATTRIBUTE("groups").EQ("ml-users")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").EQ("ml")', {}, False),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").NE("ml-users")', {}, False),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").NE("admins")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").STARTSWITH("ml-t")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").ENDSWITH("-users")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").EQ("ML-TRUSTED")', {}, False),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").SET_TEXT_MODE(IGNORECASE).EQ("ML-TRUSTED")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").TO_UPPER.CONTAINS("ML-TRUSTED")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups")', {}, "ml-users,ml-trusted"),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").TO_UPPER', {}, "ML-USERS,ML-TRUSTED"),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").TO_UPPER.TO_LOWER.EQ("ml-trusted")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").LENGTH', {}, 19),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").AFTER_STR(",")', {}, "ml-trusted"),
    ('"groups=" + HTTP.REQ.USER.ATTRIBUTE("groups")', {}, "groups=ml-users,ml-trusted"),
    ('HTTP.REQ.USER.ATTRIBUTE("email").EQ("Ana@Example.com")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("EMAIL").EQ("Ana@Example.com")', {}, True),   # name: exact, then any case
    ('HTTP.REQ.USER.ATTRIBUTE("empty").CONTAINS("")', {}, False),           # no values: nothing matches
    ('HTTP.REQ.USER.ATTRIBUTE("empty").NE("x")', {}, True),
    ('HTTP.REQ.USER.ATTRIBUTE("missing")', {}, ""),
    ('HTTP.REQ.USER.ATTRIBUTE("groups").CONTAINS("ml-trusted")', {"user_attributes": {}}, False),
    ('HTTP.REQ.URL.CONTAINS(HTTP.REQ.USER.ATTRIBUTE("email"))', {"url": "/u/Ana@Example.com"}, True),
    ("HTTP.REQ.USER.NAME", {}, "ana"),
    ("HTTP.REQ.USER.NAME", {"authenticated_user": None}, ""),
    ('HTTP.REQ.USER.NAME.EQ("ana")', {}, True),
    # client IP
    ("CLIENT.IP.SRC", {}, "10.20.30.40"),
    ("CLIENT.IP.SRC.IN_SUBNET(10.0.0.0/8)", {}, True),
    ("CLIENT.IP.SRC.IN_SUBNET(10.20.30.40/32)", {}, True),
    ("CLIENT.IP.SRC.IN_SUBNET(192.168.0.0/16)", {}, False),
    ("CLIENT.IP.SRC.IN_SUBNET(10.1.2.3/8)", {}, True),                      # host bits are ignored
    ("CLIENT.IP.SRC.IN_SUBNET(2001:db8::/32)", {}, False),
    ("CLIENT.IP.SRC.IN_SUBNET(2001:db8::/32)", {"client_ip": "2001:db8::7"}, True),
    ("CLIENT.IP.SRC.IN_SUBNET(10.0.0.0/8)", {"client_ip": "::ffff:10.1.1.1"}, True),
    ("CLIENT.IP.SRC.IN_SUBNET(10.0.0.0/8)", {"client_ip": "not-an-ip"}, False),
    ("CLIENT.IP.SRC.EQ(10.20.30.40)", {}, True),
    ("CLIENT.IP.SRC.EQ(10.20.30.41)", {}, False),
    ("CLIENT.IP.SRC.NE(10.20.30.41)", {}, True),
    ("CLIENT.IP.SRC.EQ(::1)", {"client_ip": "0:0::1"}, True),
    ('CLIENT.IP.SRC.TYPECAST_TEXT_T.STARTSWITH("10.")', {}, True),
    ('"for=" + CLIENT.IP.SRC', {}, "for=10.20.30.40"),
    # SYS.CHECK_LIMIT
    ('SYS.CHECK_LIMIT("hot")', {}, True),
    ('SYS.CHECK_LIMIT("cold")', {}, False),
    ('SYS.CHECK_LIMIT("hot")', {"check_limit": None}, False),
    ('HTTP.REQ.URL.PATH.STARTSWITH("/v1") && SYS.CHECK_LIMIT("hot")', {}, True),
    ('HTTP.REQ.URL.PATH.STARTSWITH("/v2") && SYS.CHECK_LIMIT("hot")', {}, False),
    ('(true || false) && HTTP.REQ.METHOD.EQ(POST) && SYS.CHECK_LIMIT("hot")', {}, True),
    ('true && (HTTP.REQ.METHOD.EQ(POST) && SYS.CHECK_LIMIT("hot"))', {}, True),
    # the brief's example
    ('HTTP.REQ.URL.PATH.STARTSWITH("/v1/models/x") && '
     'HTTP.REQ.USER.ATTRIBUTE("groups").CONTAINS("ml-trusted")', {"url": "/v1/models/x/infer"}, True),
    # whitespace, case and literals as targets
    ('  HTTP . REQ . URL . PATH . STARTSWITH ( "/v1" )  ', {}, True),
    ('"abc".LENGTH', {}, 3),
    ('"a,b".BEFORE_STR(",")', {}, "a"),
    ('("x" + "y").EQ("xy")', {}, True),
    ('"" + ""', {}, ""),
]


@pytest.mark.parametrize(("expression", "overrides", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_evaluate(expression, overrides, expected):
    expr = parse(expression)
    value = evaluate(expr, ctx(**overrides))
    assert value == expected and type(value) is type(expected)
    assert expr.kind is {bool: Kind.BOOL, str: Kind.TEXT, int: Kind.NUM, type(None): Kind.NUM}[type(expected)]
    assert evaluate(expression, ctx(**overrides)) == expected      # a str is parsed (and cached) first


@pytest.mark.parametrize(("expression", "overrides", "expected"), CASES, ids=[c[0][:70] for c in CASES])
def test_canonical_text_round_trips(expression, overrides, expected):
    expr = parse(expression)
    again = parse(str(expr))
    assert again == expr and str(again) == str(expr)
    assert evaluate(again, ctx(**overrides)) == expected


def test_rules_and_string_builders_use_the_same_trees():
    rule = parse_rule('HTTP.REQ.METHOD.EQ(POST) && HTTP.REQ.HEADER("X-Tenant").EQ("acme")')
    assert evaluate(rule, ctx()) is True
    sb = parse_string_builder('"Bearer " + "abc"')
    assert render_string(sb, ctx()) == "Bearer abc"
    assert render_string('"tenant=" + HTTP.REQ.HEADER("X-Tenant")', ctx()) == "tenant=acme"
    assert render_string("CLIENT.IP.SRC", ctx()) == "10.20.30.40"


def test_parse_is_cached_and_trees_compare_by_meaning():
    assert parse('HTTP.REQ.URL.EQ("a")') is parse('HTTP.REQ.URL.EQ("a")')
    assert parse('HTTP.REQ.URL.EQ("a")') == parse('http.req.url.eq( "a" )')
    assert parse("true && (false && true)") == parse("true && false && true")
    assert parse('HTTP.REQ.URL.EQ("a")') != parse('HTTP.REQ.URL.EQ("b")')
    assert hash(parse("true && false")) == hash(parse("(true) && (false)"))


def test_check_limit_is_consulted_only_when_the_rest_matched():
    asked: list[str] = []

    def limit(name: str) -> bool:
        asked.append(name)
        return False

    rule = parse_rule('HTTP.REQ.URL.PATH.STARTSWITH("/v1") && SYS.CHECK_LIMIT("per-tenant")')
    evaluate(rule, ctx(url="/v2/x", check_limit=limit))
    assert asked == []
    evaluate(rule, ctx(url="/v1/x", check_limit=limit))
    assert asked == ["per-tenant"]


def test_every_member_of_the_table_has_an_evaluator():
    declared = {(spec.owner, spec.name) for table in MEMBERS.values() for spec in table.values()}
    assert declared == set(BUILDERS)


def test_every_evaluator_is_exercised_by_the_cases():
    seen: set = set()

    def members(node):
        if isinstance(node, Member):
            spec = MEMBERS[ValueType.ROOT if node.target is None else node.target.type][node.name]
            seen.add((spec.owner, spec.name))
        for child in node.children():
            members(child)

    for expression, _, _ in CASES:
        members(parse(expression))
    assert set(BUILDERS) - seen == set()


def test_trees_pickle_and_copy_after_evaluation():
    import copy
    import pickle

    rule = parse_rule('HTTP.REQ.URL.EQ("/") && CLIENT.IP.SRC.IN_SUBNET(10.0.0.0/8)')
    assert evaluate(rule, ctx(url="/")) is True          # compiles and caches a closure on the tree
    for again in (pickle.loads(pickle.dumps(rule)), copy.deepcopy(rule)):
        assert again == rule and evaluate(again, ctx(url="/")) is True
