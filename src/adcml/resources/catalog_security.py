"""The security and policy resources: AAA (OAuth bearer tokens), rewrite, responder, rate
limits and audit logging — the second half of the catalog (``catalog`` appends these).

Sources as for ``catalog``. Expression attributes carry their ``syntax`` (the lab ADC parses
them with ``adcml.policy`` when they are written); references that may also hold a built-in
action name (``RESET``, ``DROP``...) list those in ``builtins``.
"""

from __future__ import annotations

from adcml.resources.errorcodes import ErrorCode as E
from adcml.resources.fields import ADMIN_STATE, COMMENT, ENABLED, ONOFF, STATE, YESNO
from adcml.resources.fields import enum_attr as _enum
from adcml.resources.fields import int_attr as _int
from adcml.resources.fields import key_attr as _name
from adcml.resources.fields import ro_attr as _ro
from adcml.resources.fields import str_attr as _str
from adcml.resources.model import Attr, Kind, Resource, ResourceKind, Syntax

RULE_MAX = 8191  # characters in one expression
PRIORITY_MAX = 2147483647
# Built-in actions: names a policy's action may hold without an action object of that name.
REWRITE_BUILTINS = ("NOREWRITE", "RESET", "DROP")
RESPONDER_BUILTINS = ("NOOP", "RESET", "DROP")
REWRITE_TYPES = (
    "noop", "delete", "insert_http_header", "delete_http_header", "corrupt_http_header",
    "insert_before", "insert_after", "replace", "replace_http_res", "delete_all", "replace_all",
    "insert_before_all", "insert_after_all",
)
RESPONDER_TYPES = ("noop", "respondwith", "redirect", "respondwithhtmlpage")
LOG_LEVELS = ("EMERGENCY", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFORMATIONAL", "DEBUG")
JWT_ALGORITHMS = ("HS256", "RS256", "RS512")
LABEL_TYPES = ("reqvserver", "resvserver", "policylabel")
ACTIONS = frozenset({"rename", "unset"})
AUTHORIZATION = ("ALLOW", "DENY")


def _rule(**kw) -> Attr:
    return _str("rule", required=True, max_len=RULE_MAX, syntax=Syntax.RULE, **kw)


def _goto() -> Attr:
    """END, NEXT, USE_INVOCATION_RESULT, a priority, or an expression that yields one."""
    return _str("gotopriorityexpression", default="END", immutable=True, max_len=RULE_MAX,
                syntax=Syntax.EXPRESSION)


def _logaction() -> Attr:
    return _str("logaction", ref="auditmessageaction")


def _session_settings(*, defaults: bool) -> tuple[Attr, ...]:
    """A TM session's settings: ``tmsessionparameter``'s defaults, or a ``tmsessionaction``'s
    overrides (unset there: the global value applies; only httponlycookie and sso default)."""
    def default(value):
        return value if defaults else None

    return (
        _int("sesstimeout", default=default(30), lo=1, hi=4294967295),  # idle minutes
        _enum("defaultauthorizationaction", AUTHORIZATION, default=default("DENY")),
        _enum("httponlycookie", YESNO, default="YES"),
        _enum("persistentcookie", ONOFF, default=default("OFF")),
        _int("persistentcookievalidity", lo=1, hi=4294967295),
        _enum("sso", ONOFF, default="OFF"),
        _str("homepage", default=default("None"), max_len=255),
    )


def policy_binding(parent: str, policy: str, bindpoints: tuple[str, ...]) -> Resource:
    """``<parent>_<policy>_binding``: every attribute fixed once bound (unbind and bind)."""
    return Resource(
        f"{parent}_{policy}_binding", key="name",
        kind=ResourceKind.BINDING, parent=parent, member_key=("policyname",),
        attrs=(
            _name("name", ref=parent),
            _str("policyname", required=True, ref=policy, immutable=True),
            _int("priority", lo=1, hi=PRIORITY_MAX, required=True, immutable=True),
            _goto(),
            _enum("bindpoint", bindpoints, default="REQUEST", immutable=True),
            Attr("invoke", Kind.BOOL, default=False, immutable=True),
            _enum("labeltype", LABEL_TYPES, immutable=True),
            _str("labelname", immutable=True),
        ),
        delete_args=("policyname", "bindpoint", "priority"),
    )


def _vserver_bindings() -> tuple[Resource, ...]:
    out = []
    for parent in ("lbvserver", "csvserver"):
        out.append(policy_binding(parent, "rewritepolicy", ("REQUEST", "RESPONSE")))
        out.append(policy_binding(parent, "responderpolicy", ("REQUEST",)))
    return tuple(out)


SECURITY_RESOURCES: tuple[Resource, ...] = (
    # --- audit logging (no nsfeature flag) -------------------------------------------------
    Resource(
        "auditmessageaction", key="name",
        attrs=(
            _name("name"),
            _enum("loglevel", LOG_LEVELS, required=True),
            _str("stringbuilderexpr", required=True, max_len=RULE_MAX, syntax=Syntax.STRING),
            _enum("logtofile", YESNO, default="NO"),
            _enum("bypasssafetycheck", YESNO, default="NO"),
            _ro("hits", Kind.INT), _ro("undefhits", Kind.INT),
            _ro("referencecount", Kind.INT),
        ),
        actions=frozenset({"unset"}),
    ),
    Resource(
        "auditsyslogaction", key="name",
        attrs=(
            _name("name"),
            _str("serverip"),
            _str("serverdomainname", max_len=255),
            _int("domainresolveretry", default=5, lo=5, hi=20939),
            _int("serverport", default=514, lo=1, hi=65535, wire_int=True),
            Attr("loglevel", Kind.FLAGS, choices=("ALL", *LOG_LEVELS, "NONE"), required=True),
            _enum("logfacility", tuple(f"LOCAL{i}" for i in range(8)), default="LOCAL0"),
            _enum("dateformat", ("MMDDYYYY", "DDMMYYYY", "YYYYMMDD"), default="MMDDYYYY"),
            _enum("timezone", ("GMT_TIME", "LOCAL_TIME"), default="LOCAL_TIME"),
            _enum("transport", ("TCP", "UDP"), default="UDP"),
            _enum("userdefinedauditlog", YESNO, default="NO"),
            _enum("tcp", ("NONE", "ALL"), default="NONE"),
            _enum("acl", ENABLED, default="DISABLED"),
        ),
        exclusive=(("serverip", "serverdomainname"),),
        one_of=(("serverip", "serverdomainname"),),
        actions=frozenset({"unset"}),
    ),
    Resource(
        "auditsyslogpolicy", key="name", missing=E.NO_SUCH_POLICY,
        attrs=(_name("name"), _rule(), _str("action", required=True, ref="auditsyslogaction")),
        actions=frozenset({"unset"}),
    ),
    # --- rate limiting (no nsfeature flag: limits act through responder/rewrite rules) -------
    Resource(
        "streamselector", key="name",
        attrs=(
            _name("name"),
            Attr("rule", Kind.LIST, required=True, syntax=Syntax.EXPRESSION),
        ),
    ),
    Resource(
        "nslimitidentifier", key="limitidentifier",
        attrs=(
            _name("limitidentifier", max_len=31),
            _int("threshold", default=1, lo=1, hi=4294967295),
            _int("timeslice", default=1000, lo=10, hi=4294967295),
            _enum("mode", ("REQUEST_RATE", "CONNECTION", "NONE"), default="REQUEST_RATE"),
            _enum("limittype", ("BURSTY", "SMOOTH"), default="BURSTY"),
            _str("selectorname", ref="streamselector"),
            _int("maxbandwidth", default=0, lo=0, hi=4294967287),
            _int("trapsintimeslice", default=0, lo=0, hi=65535),
            _ro("hits", Kind.INT), _ro("drop", Kind.INT), _ro("referencecount", Kind.INT),
        ),
        actions=frozenset({"unset"}),
    ),
    # --- rewrite ----------------------------------------------------------------------------
    Resource(
        "rewriteaction", key="name", feature="REWRITE", missing=E.NO_SUCH_REWRITE_ACTION,
        attrs=(
            _name("name"),
            _enum("type", REWRITE_TYPES, required=True, immutable=True),
            _str("target", max_len=RULE_MAX),  # a header name, or an expression (by type)
            _str("stringbuilderexpr", max_len=RULE_MAX, syntax=Syntax.STRING),
            _str("search", max_len=RULE_MAX),
            _str("refinesearch", max_len=RULE_MAX, syntax=Syntax.RULE),
            _enum("bypasssafetycheck", YESNO, default="NO"),
            COMMENT,
            _ro("hits", Kind.INT), _ro("undefhits", Kind.INT), _ro("referencecount", Kind.INT),
        ),
        actions=ACTIONS,
    ),
    Resource(
        "rewritepolicy", key="name", feature="REWRITE", missing=E.NO_SUCH_POLICY,
        attrs=(
            _name("name"),
            _rule(),
            _str("action", required=True, ref="rewriteaction", builtins=REWRITE_BUILTINS),
            _enum("undefaction", REWRITE_BUILTINS),
            _logaction(),
            COMMENT,
            _ro("hits", Kind.INT), _ro("undefhits", Kind.INT),
        ),
        after=("nslimitidentifier",),  # SYS.CHECK_LIMIT("<id>") in a rule names one
        actions=ACTIONS,
    ),
    # --- responder --------------------------------------------------------------------------
    Resource(
        "responderaction", key="name", feature="RESPONDER", missing=E.NO_SUCH_REWRITE_ACTION,
        attrs=(
            _name("name"),
            _enum("type", RESPONDER_TYPES, required=True, immutable=True),
            _str("target", max_len=RULE_MAX),  # a string builder expression (by type)
            _str("htmlpage", max_len=31),
            _int("responsestatuscode", lo=100, hi=599),
            _str("reasonphrase", max_len=RULE_MAX, syntax=Syntax.STRING),
            _enum("bypasssafetycheck", YESNO, default="NO"),
            COMMENT,
            _ro("hits", Kind.INT), _ro("undefhits", Kind.INT), _ro("referencecount", Kind.INT),
        ),
        actions=ACTIONS,
    ),
    Resource(
        "responderpolicy", key="name", feature="RESPONDER", missing=E.NO_SUCH_POLICY,
        attrs=(
            _name("name"),
            _rule(),
            _str("action", required=True, ref="responderaction", builtins=RESPONDER_BUILTINS),
            _enum("undefaction", RESPONDER_BUILTINS),
            _logaction(),
            COMMENT,
            _ro("hits", Kind.INT), _ro("undefhits", Kind.INT),
        ),
        after=("nslimitidentifier",),  # SYS.CHECK_LIMIT("<id>") in a rule names one
        actions=ACTIONS,
    ),
    *_vserver_bindings(),
    # --- AAA: an authentication vserver validating OAuth bearer tokens ----------------------
    Resource(
        "authenticationvserver", key="name", feature="AAA",
        attrs=(
            _name("name"),
            _enum("servicetype", ("SSL",), default="SSL", immutable=True),
            _str("ipv46", default="0.0.0.0"),
            _int("port", default=0, lo=0, hi=65535, immutable=True, wire_int=True),
            _int("td", default=0, lo=0, hi=4094, immutable=True, wire_int=True),
            _int("range", default=1, lo=1, hi=254, immutable=True),
            _enum("authentication", ONOFF, default="ON"),
            _str("authenticationdomain", max_len=252),
            ADMIN_STATE,
            COMMENT,
            STATE,
            _ro("effectivestate"),
            _ro("status", Kind.INT, wire_int=True),
        ),
        actions=frozenset({"enable", "disable", "rename", "unset"}),
    ),
    Resource(
        "authenticationoauthaction", key="name", feature="AAA",
        attrs=(
            _name("name"),
            _enum("oauthtype", ("GENERIC", "INTUNE", "ATHENA"), default="GENERIC"),
            _str("authorizationendpoint"),
            _str("tokenendpoint"),
            _str("idtokendecryptendpoint"),
            _str("clientid"),
            _str("clientsecret", secret=True),
            _str("certendpoint"),
            _str("certfilepath"),
            _str("audience"),
            _str("issuer"),
            _int("skewtime", default=5, lo=0, hi=4294967295),
            _int("refreshinterval", default=1440, lo=0, hi=4294967295),
            _str("introspecturl"),
            Attr("allowedalgorithms", Kind.FLAGS, choices=JWT_ALGORITHMS, default=list(JWT_ALGORITHMS)),
            _str("usernamefield"),
            _str("userinfourl"),
            _str("metadataurl"),
            _str("attributes", max_len=1023),
            *(_str(f"attribute{i}") for i in range(1, 17)),
            _str("defaultauthenticationgroup", max_len=63),
            _enum("granttype", ("CODE", "PASSWORD"), default="CODE"),
            _enum("pkce", ENABLED, default="ENABLED"),
            _enum("tokenendpointauthmethod",
                  ("client_secret_post", "client_secret_jwt", "private_key_jwt", "client_secret_basic"),
                  default="client_secret_post"),
            _enum("authentication", ENABLED, default="ENABLED"),
            _str("tenantid"),
            _str("graphendpoint"),
            COMMENT,
            _ro("oauthstatus"),
        ),
        one_of=(("authorizationendpoint", "tokenendpoint"),),
        actions=ACTIONS,
    ),
    Resource(
        "authenticationpolicy", key="name", feature="AAA", missing=E.NO_SUCH_POLICY,
        attrs=(
            _name("name"),
            _rule(),
            _str("action", required=True, ref="authenticationoauthaction"),
            _str("undefaction"),
            _logaction(),
            COMMENT,
            _ro("hits", Kind.INT),
        ),
        actions=ACTIONS,
    ),
    Resource(
        "authenticationvserver_authenticationpolicy_binding", key="name",
        kind=ResourceKind.BINDING, parent="authenticationvserver", member_key=("policy",),
        attrs=(
            _name("name", ref="authenticationvserver"),
            _str("policy", required=True, ref="authenticationpolicy", immutable=True),
            _int("priority", lo=1, hi=PRIORITY_MAX, required=True, immutable=True),
            _goto(),
            _str("nextfactor", immutable=True),
        ),
        delete_args=("policy", "priority"),
    ),
    # --- AAA-TM sessions: what a browser's sign-in session is (docs/nitro-facts.md) --------
    Resource(
        "tmsessionaction", key="name", feature="AAA",
        attrs=(
            _name("name"),
            *_session_settings(defaults=False),
        ),
        actions=ACTIONS,
    ),
    Resource(
        "tmsessionpolicy", key="name", feature="AAA", missing=E.NO_SUCH_POLICY,
        attrs=(
            _name("name"),
            _rule(),
            _str("action", required=True, ref="tmsessionaction"),
            _ro("hits", Kind.INT),
        ),
        actions=ACTIONS,
    ),
    Resource(
        "authenticationvserver_tmsessionpolicy_binding", key="name",
        kind=ResourceKind.BINDING, parent="authenticationvserver", member_key=("policy",),
        attrs=(
            _name("name", ref="authenticationvserver"),
            _str("policy", required=True, ref="tmsessionpolicy", immutable=True),
            _int("priority", lo=1, hi=PRIORITY_MAX, required=True, immutable=True),
            _goto(),
        ),
        delete_args=("policy",),
    ),
    Resource(
        "tmsessionparameter", key="sesstimeout", kind=ResourceKind.SINGLETON, feature="AAA",
        attrs=_session_settings(defaults=True),
        actions=frozenset({"unset"}),
    ),
    Resource(
        "authenticationauthnprofile", key="name", feature="AAA",
        attrs=(
            _name("name"),
            _str("authnvsname", required=True, ref="authenticationvserver"),
            _str("authenticationhost", max_len=256),
            _str("authenticationdomain", max_len=252),
            _int("authenticationlevel", default=0, lo=0, hi=255),
        ),
        actions=frozenset({"unset"}),
    ),
)
