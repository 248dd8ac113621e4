"""The one table of what adcml's expression subset knows: for each type, its members.

A member is a property (``.LENGTH``) or a method with parameters (``.CONTAINS("x")``). The
parser looks names up here and type-checks arguments against ``params``; the evaluator has one
builder per ``(owner, name)`` (a test checks none is missing). Names NetScaler has but adcml does
not support are listed in ``UNSUPPORTED`` so the error can say so rather than "unknown".
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from adcml.policy.nodes import ValueType as T


class ParamKind(enum.Enum):
    TEXT = "text (a string or a text expression)"
    NUM = "a number (a literal or a numeric expression)"
    TEXT_LITERAL = 'a string literal such as "name"'
    INT_LITERAL = "an integer literal"
    WORD = "a keyword"
    ADDRESS = "an IP address literal such as 10.0.0.1"
    SUBNET = "an IP subnet literal such as 10.0.0.0/8"


@dataclass(frozen=True)
class Param:
    kind: ParamKind
    words: tuple[str, ...] = ()     # the allowed keywords, for WORD


@dataclass(frozen=True)
class MemberSpec:
    """``owner`` declares it (TEXT for the text operations every text type shares); ``result``
    None means "the same type as the target" (``SET_TEXT_MODE`` keeps a URL a URL)."""

    owner: T
    name: str
    result: T | None
    params: tuple[Param, ...] = ()
    summary: str = ""


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH")
TEXT_MODES = ("IGNORECASE", "NOIGNORECASE")
RADIXES = ("DECIMAL",)
# RFC 9110 token characters: what an HTTP header name may contain.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
MAX_HEADER_NAME = 32

_TEXT = Param(ParamKind.TEXT)
_NUM = Param(ParamKind.NUM)
_NAME = Param(ParamKind.TEXT_LITERAL)


def _table(owner: T, *specs: tuple) -> dict[str, MemberSpec]:
    return {s[0]: MemberSpec(owner, s[0], s[1], tuple(s[2]) if len(s) > 2 else (), s[3] if len(s) > 3 else "")
            for s in specs}


TEXT_OPS = _table(
    T.TEXT,
    ("EQ", T.BOOL, [_TEXT], "equal"),
    ("NE", T.BOOL, [_TEXT], "not equal"),
    ("CONTAINS", T.BOOL, [_TEXT], "contains the argument"),
    ("STARTSWITH", T.BOOL, [_TEXT], "starts with the argument"),
    ("ENDSWITH", T.BOOL, [_TEXT], "ends with the argument"),
    ("LENGTH", T.NUM, [], "number of characters"),
    ("TO_LOWER", T.TEXT, [], "lower case"),
    ("TO_UPPER", T.TEXT, [], "upper case"),
    ("SET_TEXT_MODE", None, [Param(ParamKind.WORD, TEXT_MODES)],
     "IGNORECASE makes later comparisons in the chain ignore case; NOIGNORECASE undoes it"),
    ("BEFORE_STR", T.TEXT, [_TEXT], "text before the first occurrence (empty if absent)"),
    ("AFTER_STR", T.TEXT, [_TEXT], "text after the first occurrence (empty if absent)"),
    ("TYPECAST_NUM_T", T.NUM, [Param(ParamKind.WORD, RADIXES)],
     "the text as a decimal integer; undefined when it is not one"),
)

MEMBERS: dict[T, dict[str, MemberSpec]] = {
    T.ROOT: _table(T.ROOT, ("HTTP", T.HTTP), ("CLIENT", T.CLIENT), ("SYS", T.SYS)),
    T.HTTP: _table(T.HTTP, ("REQ", T.HTTP_REQ)),
    T.HTTP_REQ: _table(
        T.HTTP_REQ,
        ("URL", T.URL, [], "path and query as received"),
        ("HOSTNAME", T.TEXT, [], "Host header without the port"),
        ("METHOD", T.METHOD, [], "the request method"),
        ("HEADER", T.HEADER, [_NAME], "the header's value; all occurrences joined with \", \""),
        ("IS_VALID", T.BOOL, [], "the request is well-formed HTTP"),
        ("BODY", T.TEXT, [Param(ParamKind.INT_LITERAL)], "the first n bytes of the body"),
        ("USER", T.HTTP_REQ_USER),
        ("CONTENT_LENGTH", T.NUM, [], "the Content-Length header; 0 when absent"),
    ),
    T.HTTP_REQ_USER: _table(
        T.HTTP_REQ_USER,
        ("ATTRIBUTE", T.ATTRIBUTE, [_NAME], "an authentication claim; multi-valued"),
        ("NAME", T.TEXT, [], "the authenticated user name; empty when unauthenticated"),
    ),
    T.CLIENT: _table(T.CLIENT, ("IP", T.CLIENT_IP)),
    T.CLIENT_IP: _table(T.CLIENT_IP, ("SRC", T.IP, [], "the client's source address")),
    T.SYS: _table(T.SYS, ("CHECK_LIMIT", T.BOOL, [_NAME], "true when the named limit is exceeded")),
    T.TEXT: TEXT_OPS,
    T.URL: TEXT_OPS | _table(
        T.URL,
        ("PATH", T.TEXT, [], "the URL without the query"),
        ("QUERY", T.TEXT, [], "the query, after '?' (empty if none)"),
    ),
    T.HEADER: TEXT_OPS | _table(
        T.HEADER,
        ("EXISTS", T.BOOL, [], "the header is present"),
        ("COUNT", T.NUM, [], "how many times the header occurs"),
    ),
    T.ATTRIBUTE: TEXT_OPS | _table(
        T.ATTRIBUTE,
        ("EQ", T.BOOL, [_TEXT], "some value equals"),
        ("NE", T.BOOL, [_TEXT], "no value equals"),
        ("CONTAINS", T.BOOL, [_TEXT], "some value contains"),
        ("STARTSWITH", T.BOOL, [_TEXT], "some value starts with"),
        ("ENDSWITH", T.BOOL, [_TEXT], "some value ends with"),
        ("TO_LOWER", T.ATTRIBUTE, [], "every value in lower case"),
        ("TO_UPPER", T.ATTRIBUTE, [], "every value in upper case"),
    ),
    T.IP: _table(
        T.IP,
        ("IN_SUBNET", T.BOOL, [Param(ParamKind.SUBNET)], "the address is in the subnet"),
        ("EQ", T.BOOL, [Param(ParamKind.ADDRESS)], "the address equals"),
        ("NE", T.BOOL, [Param(ParamKind.ADDRESS)], "the address differs"),
        ("TYPECAST_TEXT_T", T.TEXT, [], "the address as text"),
    ),
    T.METHOD: _table(
        T.METHOD,
        ("EQ", T.BOOL, [Param(ParamKind.WORD, HTTP_METHODS)], "the method is"),
        ("NE", T.BOOL, [Param(ParamKind.WORD, HTTP_METHODS)], "the method is not"),
    ),
    T.NUM: _table(
        T.NUM,
        *((op, T.BOOL, [_NUM], summary) for op, summary in (
            ("EQ", "equal"), ("NE", "not equal"), ("GT", "greater than"), ("LT", "less than"),
            ("GE", "greater than or equal"), ("LE", "less than or equal"))),
        ("TYPECAST_TEXT_T", T.TEXT, [], "the number in decimal"),
    ),
    T.BOOL: _table(T.BOOL, ("NOT", T.BOOL, [], "negation, like a leading '!'")),
}

# NetScaler names adcml's subset does not implement: refused as unsupported, not unknown.
UNSUPPORTED = frozenset({
    "RES", "FULL_HEADER", "COOKIE", "DATE", "VERSION", "TXID", "IS_NTLM_OR_NEGOTIATE", "LB", "CS",
    "REGEX_MATCH", "REGEX_SELECT", "REGEX_REPLACE", "CONTAINS_ANY", "EQUALS_ANY", "STARTSWITH_ANY",
    "ENDSWITH_ANY", "CONTAINS_INDEX", "SUBSTR", "PREFIX", "SUFFIX", "TRUNCATE", "SKIP", "GET",
    "AFTER_REGEX", "BEFORE_REGEX", "HASH", "B64ENCODE", "B64DECODE", "URL_RESERVED_CHARS_SAFE",
    "HTML_XML_SAFE", "XPATH", "XPATH_JSON", "JSON", "JSON_SAFE", "TYPECAST_IP_ADDRESS_T",
    "TYPECAST_LIST_T", "TYPECAST_NVLIST_T", "TYPECAST_HTTP_URL_T", "TYPECAST_TEXT_T", "INSTANCE",
    "VALUE", "LIST", "SERVER", "PORT", "DST", "IPV6", "MSS", "TIME", "RANDOM", "HTTP_CALLOUT",
    "CALLOUT", "CONTENT_LENGTH_EXCEEDED", "EXTEND", "SET_CHAR_SET", "ALT", "AND", "OR", "ADD",
    "SUBNET", "GET1", "GET2", "GET3", "GET4", "MATCHES_LOCATION", "LOCATION", "APPLY", "STRIP_CHARS",
    "STRIP_END_CHARS", "STRIP_START_CHARS", "DECODE_USING_TEXT_MODE", "MUL", "DIV", "SUB", "MOD",
    "BETWEEN", "BITAND", "BITOR", "NEG", "IS_STRING", "IS_IP", "ENDSWITH_INDEX", "STARTSWITH_INDEX",
    "COMPARE", "CONTENT_TYPE", "PATH_AND_QUERY", "HOSTNAME_SERVER", "CLIENT_CERT", "SSL", "TCP",
    "UDP", "ETHER", "VLAN", "TARGET", "AAA", "ANALYTICS", "VPN", "RTSP", "SIP", "DIAMETER", "DNS",
    "MYSQL", "MSSQL", "SMPP", "RADIUS", "FTP", "ICA", "MQTT", "TEXT", "IS_DEFAULT", "PATTERNSET",
    "ANY", "DATASET", "STRINGMAP", "TYPECAST_DOUBLE_T", "TYPECAST_UNSIGNED_LONG_AT",
})
