"""Integrated caching (feature IC): cache selectors, content groups, cache policies and their
vserver bindings — the third part of the catalog (``catalog`` appends these).

Sources: NetScaler's NITRO reference (cacheselector, cachecontentgroup, cachepolicy,
lbvserver_cachepolicy_binding, csvserver_cachepolicy_binding) and its CLI reference
(``add cache selector``, ``add cache contentGroup``, ``add cache policy``); choices where
they are silent are listed in docs/nitro-facts.md. A content group's sizes are in KB
(``minressize``, ``maxressize``) and MB (``memlimit``); its expiry is given one way only
(``relexpiry`` seconds, ``relexpirymillisec`` or ``weakposrelexpiry``), and it can be changed
in place. The CLI's ``-type REQUEST|RESPONSE`` of ``bind lb vserver ... -policyName <cache
policy>`` is NITRO's ``bindpoint``. A selector's ``rule`` is a list of non-compound
expressions (ANDed) whose values find an object in the groups that name it as
``hitselector``.
"""

from __future__ import annotations

from adcml.resources.catalog_security import RULE_MAX, policy_binding
from adcml.resources.errorcodes import ErrorCode as E
from adcml.resources.fields import YESNO
from adcml.resources.fields import enum_attr as _enum
from adcml.resources.fields import int_attr as _int
from adcml.resources.fields import key_attr as _name
from adcml.resources.fields import ro_attr as _ro
from adcml.resources.fields import str_attr as _str
from adcml.resources.model import Attr, Kind, Resource, Syntax

CACHE_ACTIONS = ("CACHE", "NOCACHE", "MAY_CACHE", "MAY_NOCACHE", "INVAL")
# Content groups a fresh appliance has; they cannot be removed.
BUILTIN_GROUPS = ("DEFAULT", "BASEFILE", "DELTAJS")
# Ways of giving a content group's expiry: at most one per group.
EXPIRY_ATTRS = ("relexpiry", "relexpirymillisec", "weakposrelexpiry")
MAX_INVAL_GROUPS = 16

CACHE_RESOURCES: tuple[Resource, ...] = (
    Resource(
        "cacheselector", key="selectorname", feature="IC",
        attrs=(
            _name("selectorname"),
            Attr("rule", Kind.LIST, required=True, syntax=Syntax.EXPRESSION),
        ),
    ),
    Resource(
        "cachecontentgroup", key="name", feature="IC",
        attrs=(
            _name("name"),
            _int("relexpiry", lo=0, hi=31536000),
            _int("relexpirymillisec", lo=0, hi=86400000),
            _int("weakposrelexpiry", lo=0, hi=31536000),
            _int("heurexpiryparam", lo=0, hi=100),
            _int("weaknegrelexpiry", lo=0, hi=31536000),
            _enum("polleverytime", YESNO, default="NO"),
            _enum("ignorereqcachinghdrs", YESNO, default="YES"),
            _enum("insertage", YESNO, default="YES"),
            _enum("removecookies", YESNO, default="YES"),
            _int("minressize", default=0, lo=0, hi=2097151),
            _int("maxressize", default=80, lo=0, hi=2097151),
            _int("memlimit", default=65536, lo=0, hi=4294967295),
            _enum("type", ("HTTP", "MYSQL", "MSSQL"), default="HTTP", immutable=True),
            _str("hitselector", ref="cacheselector"),
            _str("invalselector", ref="cacheselector"),
        ),
        exclusive=tuple((a, b) for i, a in enumerate(EXPIRY_ATTRS) for b in EXPIRY_ATTRS[i + 1:]),
        actions=frozenset({"unset", "flush", "expire"}),
    ),
    Resource(
        "cachepolicy", key="policyname", feature="IC", missing=E.NO_SUCH_POLICY,
        attrs=(
            _name("policyname"),
            _str("rule", required=True, max_len=RULE_MAX, syntax=Syntax.RULE),
            _enum("action", CACHE_ACTIONS, required=True),
            _str("storeingroup", ref="cachecontentgroup"),
            Attr("invalgroups", Kind.LIST),
            _enum("undefaction", ("NOCACHE", "RESET")),
            _ro("hits", Kind.INT), _ro("undefhits", Kind.INT),
        ),
        actions=frozenset({"rename", "unset"}),
    ),
    *(policy_binding(parent, "cachepolicy", ("REQUEST", "RESPONSE"))
      for parent in ("lbvserver", "csvserver")),
)
