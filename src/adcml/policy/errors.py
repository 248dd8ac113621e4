"""The one exception of the expression engine.

    ValueError
    └── ExpressionError      a syntax, name, argument, type or placement error; carries
                             ``position`` (0-based offset), ``expression`` and ``reason``

Everything the parser refuses, and nothing else, raises ``ExpressionError``; evaluation of a
parsed expression does not raise (undefined values are handled as documented).
"""

from __future__ import annotations

from typing import Any

# How much of a long expression ``str()`` shows around the error position.
_WINDOW = 60


class ExpressionError(ValueError):
    """An expression NetScaler (or adcml's subset of its language) would refuse.

    ``str()`` reads ``Expression error at position 23: expected ')' but found ',' in: ...``.
    """

    def __init__(self, reason: str, position: int, expression: str) -> None:
        self.reason = reason
        self.position = position
        self.expression = expression
        shown = _excerpt(expression, position)
        super().__init__(f"Expression error at position {position}: {reason} in: {shown}")

    def __reduce__(self) -> Any:
        return (type(self), (self.reason, self.position, self.expression))


def _excerpt(expression: str, position: int) -> str:
    """The expression, cut to a window around ``position`` when it is long."""
    if len(expression) <= 2 * _WINDOW + 20:
        return expression
    start = max(0, position - _WINDOW)
    end = min(len(expression), position + _WINDOW)
    return ("..." if start else "") + expression[start:end] + ("..." if end < len(expression) else "")
