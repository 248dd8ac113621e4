"""Tokenizer for advanced policy expressions.

Turns text into ``Token`` s (kind, value, position). Names are kept as written (the parser
compares them case-insensitively); string literals are decoded; IP addresses and subnets are
recognised here because ``10.0.0.0/8`` and ``fe80::1`` are not otherwise tokenizable. Operators
NetScaler has but adcml's subset does not (``==``, ``-``, ``<`` ...) are refused with a hint.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from adcml.policy.errors import ExpressionError

# NetScaler limits: a rule is at most 8191 characters (the NITRO cspolicy rule attribute);
# a string literal in an expression at most 255 bytes (longer text is built with ``+``).
MAX_EXPRESSION_LENGTH = 8191
MAX_STRING_BYTES = 255
MAX_NUMBER = 2**32 - 1

ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}


class TokenKind(enum.Enum):
    NAME = "name"
    STRING = "string"
    NUMBER = "number"
    ADDRESS = "IP address"
    SUBNET = "IP subnet"
    DOT = "'.'"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    AND = "'&&'"
    OR = "'||'"
    NOT = "'!'"
    PLUS = "'+'"
    END = "end of expression"


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    value: Any
    position: int
    text: str

    def describe(self) -> str:
        """How an error message names this token: ``','``, ``name 'FOO'``, ``string "x"``."""
        if self.kind in (TokenKind.NAME, TokenKind.NUMBER, TokenKind.ADDRESS, TokenKind.SUBNET):
            return f"{self.kind.value} '{self.text}'"
        if self.kind is TokenKind.STRING:
            shown = self.text if len(self.text) <= 30 else self.text[:27] + '..."'
            return f"string {shown}"
        return self.kind.value


_PUNCTUATION = {
    "&&": TokenKind.AND, "||": TokenKind.OR, ".": TokenKind.DOT, "(": TokenKind.LPAREN,
    ")": TokenKind.RPAREN, ",": TokenKind.COMMA, "+": TokenKind.PLUS, "!": TokenKind.NOT,
}
_REFUSED_OPERATORS = {
    "==": "use the .EQ(...) method instead of '=='",
    "!=": "use the .NE(...) method instead of '!='",
    ">=": "use the .GE(...) method instead of '>='",
    "<=": "use the .LE(...) method instead of '<='",
    ">": "use the .GT(...) method instead of '>'",
    "<": "use the .LT(...) method instead of '<'",
    "=": "'=' is not an operator; use the .EQ(...) method",
    "&": "a single '&' (bitwise AND) is not supported; did you mean '&&'?",
    "|": "a single '|' (bitwise OR) is not supported; did you mean '||'?",
    "-": "arithmetic '-' is not supported; only '+' (addition and concatenation) is",
    "*": "arithmetic '*' is not supported; only '+' (addition and concatenation) is",
    "/": "arithmetic '/' is not supported; only '+' (addition and concatenation) is",
    "%": "arithmetic '%' is not supported; only '+' (addition and concatenation) is",
    "^": "bitwise '^' is not supported",
    "~": "bitwise '~' is not supported",
}

_WHITESPACE = re.compile(r"[ \t\r\n]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}(?:/\d+)?(?![\w.])", re.ASCII)
# At least two colons: no name or number of the grammar is ever followed by ':'.
_IPV6 = re.compile(r"(?:[0-9A-Fa-f]{0,4}:){2,}[0-9A-Fa-f.:]*(?:/\d+)?", re.ASCII)
_NUMBER = re.compile(r"\d+(?!\w)", re.ASCII)
_DIGITS = "0123456789"
_OPERATOR = re.compile(r"&&|\|\||==|!=|>=|<=|[.(),+!<>=&|*/%^~-]")


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with an ``END`` token; ``ExpressionError`` on bad input."""
    return list(iter_tokens(text))


def iter_tokens(text: str) -> Iterator[Token]:
    """The tokens of ``text`` one by one (so a parser meets errors in reading order), then
    ``END``; ``ExpressionError`` at the first bad character."""
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the expression is {len(text)} characters long; NetScaler accepts at most "
            f"{MAX_EXPRESSION_LENGTH}", MAX_EXPRESSION_LENGTH, text)
    i, n = 0, len(text)
    while i < n:
        m = _WHITESPACE.match(text, i)
        if m:
            i = m.end()
            continue
        ch = text[i]
        if ch == '"':
            token = _string(text, i)
        elif (m := _IPV6.match(text, i) or (_IPV4.match(text, i) if ch in _DIGITS else None)) is not None:
            token = _address(text, i, m.group())
        elif ch in _DIGITS:
            token = _number(text, i)
        elif (m := _NAME.match(text, i)) is not None:
            token = Token(TokenKind.NAME, m.group().upper(), i, m.group())
        elif (m := _OPERATOR.match(text, i)) is not None:
            op = m.group()
            if op not in _PUNCTUATION:
                raise ExpressionError(_REFUSED_OPERATORS[op], i, text)
            token = Token(_PUNCTUATION[op], op, i, op)
        else:
            raise ExpressionError(f"unexpected character {ch!r}", i, text)
        yield token
        i = token.position + len(token.text)
    yield Token(TokenKind.END, None, n, "")


def _string(text: str, start: int) -> Token:
    """A double-quoted literal with backslash escapes ``\\" \\\\ \\n \\r \\t``."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while True:
        j = _next_special(text, i)
        if j >= n:
            raise ExpressionError('unterminated string literal: add the closing \'"\'', start, text)
        out.append(text[i:j])
        if text[j] == '"':
            break
        if j + 1 >= n:
            raise ExpressionError('unterminated string literal: add the closing \'"\'', start, text)
        escaped = text[j + 1]
        if escaped not in ESCAPES:
            raise ExpressionError(
                f"unknown escape sequence '\\{escaped}' in a string; the escapes are "
                '\\" \\\\ \\n \\r \\t (write \\\\ for a literal backslash)', j, text)
        out.append(ESCAPES[escaped])
        i = j + 2
    value = "".join(out)
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_STRING_BYTES:
        raise ExpressionError(
            f"a string literal is at most {MAX_STRING_BYTES} bytes on NetScaler, this one is {size}; "
            'split it into parts joined with +, e.g. "first part" + "second part"', start, text)
    return Token(TokenKind.STRING, value, start, text[start:j + 1])


def _next_special(text: str, i: int) -> int:
    """Index of the next '"' or '\\' at or after ``i`` (``len(text)`` if none)."""
    q, b = text.find('"', i), text.find("\\", i)
    candidates = [x for x in (q, b) if x >= 0]
    return min(candidates) if candidates else len(text)


def _number(text: str, start: int) -> Token:
    m = _NUMBER.match(text, start)
    if m is None:
        raise ExpressionError("a name cannot start with a digit", start, text)
    digits = m.group()
    value = int(digits)
    if value > MAX_NUMBER:
        raise ExpressionError(f"the number {digits} is larger than {MAX_NUMBER}", start, text)
    return Token(TokenKind.NUMBER, value, start, digits)


def _address(text: str, start: int, literal: str) -> Token:
    """``10.0.0.1``, ``10.0.0.0/8``, ``fe80::1``, ``2001:db8::/32``; validated here."""
    try:
        if "/" in literal:
            return Token(TokenKind.SUBNET, ipaddress.ip_network(literal, strict=False), start, literal)
        return Token(TokenKind.ADDRESS, ipaddress.ip_address(literal), start, literal)
    except ValueError as exc:
        raise ExpressionError(f"invalid IP address or subnet {literal!r} ({exc})", start, text) from None
