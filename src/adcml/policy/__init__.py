"""NetScaler advanced policy expressions: parse, check and evaluate rules and string builders.

    >>> rule = parse_rule('HTTP.REQ.URL.PATH.STARTSWITH("/v1/") && HTTP.REQ.METHOD.EQ(POST)')
    >>> evaluate(rule, RequestContext(method="POST", url="/v1/chat"))
    True
    >>> render_string(parse_string_builder('"Bearer " + HTTP.REQ.USER.NAME'),
    ...               RequestContext(authenticated_user="ana"))
    'Bearer ana'

Every refusal is an ``ExpressionError`` (a ``ValueError``) with ``position``, ``expression`` and
``reason``. The supported subset, and what is refused, is in docs/policy-expressions.md.
"""

from adcml.policy.context import Headers, RequestContext
from adcml.policy.errors import ExpressionError
from adcml.policy.evaluate import evaluate, render_string
from adcml.policy.nodes import Expr, Kind, ValueType
from adcml.policy.parser import parse, parse_rule, parse_string_builder

__all__ = [
    "Expr", "ExpressionError", "Headers", "Kind", "RequestContext", "ValueType", "evaluate", "parse",
    "parse_rule", "parse_string_builder", "render_string",
]
