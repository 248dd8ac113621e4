"""The NITRO resources adcml knows, described once.

Sources: nitro-facts.md (shared docs) and docs/nitro-facts.md in this repository. Defaults are
what an appliance reports for an attribute never set; ``wire_int`` marks the numbers an
appliance returns as JSON numbers (every other number comes back as a string).
"""

from __future__ import annotations

from adcml.resources.catalog_cache import CACHE_RESOURCES
from adcml.resources.catalog_security import RULE_MAX, SECURITY_RESOURCES
from adcml.resources.errorcodes import ErrorCode as E
from adcml.resources.fields import ADMIN_STATE, COMMENT, ENABLED, ONOFF, STATE, YESNO
from adcml.resources.fields import enum_attr as _enum
from adcml.resources.fields import int_attr as _int
from adcml.resources.fields import key_attr as _name
from adcml.resources.fields import ro_attr as _ro
from adcml.resources.fields import str_attr as _str
from adcml.resources.model import Attr, Kind, Resource, ResourceKind, Syntax

SERVICE_TYPES = ("HTTP", "SSL", "TCP", "UDP", "SSL_TCP", "SSL_BRIDGE", "ANY", "DNS", "HTTP2")
LB_METHODS = (
    "LEASTCONNECTION", "ROUNDROBIN", "LEASTRESPONSETIME", "TOKEN", "URLHASH", "DOMAINHASH",
    "DESTINATIONIPHASH", "SOURCEIPHASH", "LEASTBANDWIDTH", "LEASTPACKETS", "CUSTOMLOAD",
)
PERSISTENCE = ("NONE", "SOURCEIP", "COOKIEINSERT", "SSLSESSION", "RULE", "URLPASSIVE", "CUSTOMSERVERID")
SPILLOVER_METHODS = ("CONNECTION", "DYNAMICCONNECTION", "BANDWIDTH", "HEALTH", "NONE")
SPILLOVER_BACKUP_ACTIONS = ("DROP", "ACCEPT", "REDIRECT")
CHECK_MODES = ("Mandatory", "Optional")  # crlcheck, ocspcheck
MONITOR_TYPES = (
    "PING", "TCP", "HTTP", "TCP-ECV", "HTTP-ECV", "HTTP-INLINE", "HTTP2", "UDP-ECV", "DNS", "USER",
)
UNITS = ("SEC", "MSEC", "MIN")
# nsfeature's flags as an appliance names them (rate limiting has none: limit identifiers work
# through the policies of REWRITE and RESPONDER, and audit logging is always on).
FEATURES = ("LB", "CS", "SSL", "REWRITE", "RESPONDER", "AAA", "CMP", "IC", "APPFW")
VSERVER_ATTRS = (
    _enum("servicetype", SERVICE_TYPES, required=True, immutable=True),
    _str("ipv46", default="0.0.0.0"),
    _int("port", default=0, lo=0, hi=65535, immutable=True, wire_int=True),
    _int("td", default=0, lo=0, hi=4094, immutable=True, wire_int=True),
    _int("range", default=1, lo=1, hi=254, immutable=True),
    _int("clttimeout", default=180, lo=0, hi=31536000, wire_int=True),
    _enum("authentication", ONOFF, default="OFF"),
    _enum("authn401", ONOFF, default="OFF"),
    _str("authnvsname", ref="authenticationvserver"),
    _str("authenticationhost"),
    _str("authnprofile", ref="authenticationauthnprofile"),
    ADMIN_STATE,
    COMMENT,
    STATE,
    _ro("effectivestate"),
    _ro("status", Kind.INT, wire_int=True),
)

RESOURCES: tuple[Resource, ...] = (
    # --- system -----------------------------------------------------------------------------
    Resource(
        "nsversion", key="version", kind=ResourceKind.SINGLETON,
        attrs=(_ro("version"), _ro("mode", Kind.INT, wire_int=True)),
    ),
    Resource(
        "nsconfig", key="name", kind=ResourceKind.SINGLETON,
        attrs=(
            _ro("configchanged", Kind.BOOL), _ro("lastconfigchangedtime"),
            _ro("lastconfigsavetime"), _ro("systemtype"),
            _enum("level", ("BASIC", "EXTENDED", "FULL"), write_only=True),
        ),
        actions=frozenset({"save", "clear"}),
    ),
    Resource(
        "nsfeature", key="feature", kind=ResourceKind.SINGLETON,
        attrs=(Attr("feature", Kind.FLAGS, choices=FEATURES, required=True),),
        actions=frozenset({"enable", "disable"}),
    ),
    Resource(
        "nspartition", key="partitionname",
        attrs=(
            _name("partitionname"),
            _int("maxbandwidth", default=10240, lo=0),
            _int("maxconn", default=1024, lo=0),
            _int("maxmemlimit", default=10, lo=0),
        ),
        actions=frozenset({"switch"}),
    ),
    # --- load balancing ---------------------------------------------------------------------
    Resource(
        "server", key="name", feature=None,
        attrs=(
            _name("name"),
            _str("ipaddress", aliases=("ip",)),
            _str("domain", max_len=255),
            _int("td", default=0, lo=0, hi=4094, immutable=True, wire_int=True),
            ADMIN_STATE,
            COMMENT,
        ),
        missing=E.NO_SUCH_SERVER,
        exclusive=(("ipaddress", "domain"),),
        one_of=(("ipaddress", "domain"),),
        actions=frozenset({"enable", "disable", "rename", "unset"}),
    ),
    Resource(
        "lbvserver", key="name", feature="LB",
        attrs=(
            _name("name"),
            *VSERVER_ATTRS,
            _enum("lbmethod", LB_METHODS, default="LEASTCONNECTION"),
            _enum("persistencetype", PERSISTENCE, default="NONE"),
            _int("timeout", default=2, lo=0, hi=1440),
            _str("backupvserver", ref="lbvserver"),
            # Spillover to the backup vserver chain (docs/nitro-facts.md, lbvserver spillover).
            _enum("somethod", SPILLOVER_METHODS, default="NONE"),
            _int("sothreshold", lo=1, hi=4294967287),
            _enum("sopersistence", ENABLED, default="DISABLED"),
            _int("sopersistencetimeout", default=2, lo=2, hi=1440),
            _enum("sobackupaction", SPILLOVER_BACKUP_ACTIONS),
            _enum("disableprimaryondown", ENABLED, default="DISABLED"),
            _str("redirecturl", max_len=4095),
            _ro("health", Kind.INT),
        ),
        actions=frozenset({"enable", "disable", "rename", "unset"}),
    ),
    Resource(
        "servicegroup", key="servicegroupname", feature="LB",
        attrs=(
            _name("servicegroupname"),
            _enum("servicetype", SERVICE_TYPES, required=True, immutable=True),
            _int("td", default=0, lo=0, hi=4094, immutable=True, wire_int=True),
            _int("maxclient", default=0, lo=0, hi=4294967294),
            _int("maxreq", default=0, lo=0, hi=65535),
            _enum("sp", ("ON", "OFF"), default="OFF"),
            _enum("cip", ENABLED, default="DISABLED"),
            _str("cipheader"),
            _enum("usip", YESNO, default="NO"),
            _int("clttimeout", default=180, lo=0, hi=31536000, wire_int=True),
            _int("svrtimeout", default=360, lo=0, hi=31536000, wire_int=True),
            _enum("healthmonitor", YESNO, default="YES"),
            ADMIN_STATE,
            COMMENT,
            _ro("servicegroupeffectivestate"),
            _ro("monstate"),
            _ro("numofconnections", Kind.INT, wire_int=True),
        ),
        actions=frozenset({"enable", "disable", "rename", "unset"}),
    ),
    Resource(
        "servicegroup_servicegroupmember_binding", key="servicegroupname",
        kind=ResourceKind.BINDING, parent="servicegroup", member_key=("servername", "port"),
        attrs=(
            _name("servicegroupname", ref="servicegroup"),
            _str("ip"),
            _str("servername", ref="server"),
            _int("port", lo=1, hi=65535, required=True, wire_int=True),
            _int("weight", default=1, lo=1, hi=100),
            ADMIN_STATE,
            _int("hashid", lo=1),
            _ro("svrstate"),
        ),
        exclusive=(("ip", "servername"),),
        one_of=(("ip", "servername"),),
        fills=(("servername", "ip"),),
        delete_args=("ip", "servername", "port"),
    ),
    Resource(
        "lbmonitor", key="monitorname", feature="LB",
        attrs=(
            _name("monitorname"),
            _enum("type", MONITOR_TYPES, required=True, immutable=True),
            _str("send"),
            _str("recv"),
            _str("httprequest"),
            Attr("respcode", Kind.LIST),
            _str("customheaders"),
            _enum("secure", YESNO, default="NO"),
            _int("interval", default=5, lo=1, hi=20940000),
            _enum("units3", UNITS, default="SEC"),
            _int("resptimeout", default=2, lo=1, hi=20939000),
            _enum("units4", UNITS, default="SEC"),
            _int("downtime", default=30, lo=1, hi=20939000),
            _enum("units2", UNITS, default="SEC"),
            _int("retries", default=3, lo=1, hi=127),
            _int("successretries", default=1, lo=1, hi=32),
            _int("failureretries", default=0, lo=0, hi=32),
            _enum("lrtm", ENABLED, default="DISABLED"),
            _int("destport", lo=0, hi=65535, wire_int=True),
            ADMIN_STATE,
        ),
        delete_args=("type",),
        actions=frozenset({"enable", "disable", "unset"}),
    ),
    Resource(
        "servicegroup_lbmonitor_binding", key="servicegroupname",
        kind=ResourceKind.BINDING, parent="servicegroup", member_key=("monitor_name",),
        missing=E.NO_SUCH_SERVER,
        attrs=(
            _name("servicegroupname", ref="servicegroup"),
            _str("monitor_name", required=True, ref="lbmonitor"),
            _int("weight", default=1, lo=1, hi=100),
            _enum("monstate", ENABLED, default="ENABLED"),
            Attr("passive", Kind.BOOL, default=False),
        ),
        delete_args=("monitor_name",),
    ),
    Resource(
        "lbvserver_servicegroup_binding", key="name",
        kind=ResourceKind.BINDING, parent="lbvserver", member_key=("servicegroupname",),
        attrs=(
            _name("name", ref="lbvserver"),
            _str("servicegroupname", required=True, ref="servicegroup", aliases=("servicename",)),
            _int("weight", lo=1, hi=100),
            _int("order", lo=1, hi=8192),
        ),
        delete_args=("servicegroupname",),
    ),
    # --- content switching ------------------------------------------------------------------
    Resource(
        "csvserver", key="name", feature="CS",
        attrs=(
            _name("name"),
            *VSERVER_ATTRS,
            _str("backupvserver", ref="csvserver"),
        ),
        actions=frozenset({"enable", "disable", "rename", "unset"}),
    ),
    Resource(
        "csaction", key="name", feature="CS",
        attrs=(_name("name"), _str("targetlbvserver", ref="lbvserver"),
               _str("targetvserver", ref="authenticationvserver"), COMMENT,
               _ro("hits", Kind.INT), _ro("referencecount", Kind.INT)),
        # Exactly one target: an LB vserver, or an authentication vserver (browser sign-in).
        exclusive=(("targetlbvserver", "targetvserver"),),
        one_of=(("targetlbvserver", "targetvserver"),),
        actions=frozenset({"rename"}),
    ),
    Resource(
        "cspolicy", key="policyname", feature="CS", missing=E.NO_SUCH_POLICY,
        attrs=(_name("policyname"), _str("rule", required=True, max_len=RULE_MAX, syntax=Syntax.RULE),
               _str("action", ref="csaction"), _str("logaction", ref="auditmessageaction"),
               _ro("hits", Kind.INT)),
        actions=frozenset({"rename"}),
    ),
    Resource(
        "csvserver_cspolicy_binding", key="name",
        kind=ResourceKind.BINDING, parent="csvserver", member_key=("policyname",),
        attrs=(
            _name("name", ref="csvserver"),
            _str("policyname", required=True, ref="cspolicy", immutable=True),
            _int("priority", lo=1, hi=2147483647, immutable=True),
            _str("gotopriorityexpression", default="END", immutable=True),
            _enum("bindpoint", ("REQUEST", "RESPONSE"), default="REQUEST", immutable=True),
            _str("targetlbvserver", ref="lbvserver", immutable=True),
        ),
        delete_args=("policyname", "bindpoint", "priority"),
    ),
    Resource(
        "csvserver_lbvserver_binding", key="name",
        kind=ResourceKind.BINDING, parent="csvserver", member_key=("lbvserver",),
        attrs=(_name("name", ref="csvserver"), _str("lbvserver", required=True, ref="lbvserver")),
        delete_args=("lbvserver",),
    ),
    # --- files and SSL ----------------------------------------------------------------------
    Resource(
        "systemfile", key="filename", missing=E.SYSTEMFILE_MISSING,
        attrs=(
            _name("filename", max_len=63),
            _str("filelocation", required=True, max_len=127),
            _str("filecontent", required=True),
            _enum("fileencoding", ("BASE64",), default="BASE64"),
            _ro("fileaccesstime"), _ro("filemodifiedtime"), _ro("filesize", Kind.INT),
        ),
        delete_args=("filelocation",),
        updatable=(),
    ),
    Resource(
        "sslcertkey", key="certkey", feature=None, missing=E.CERT_DOES_NOT_EXIST,
        in_use=E.CERT_REFERENCED,
        attrs=(
            _name("certkey", max_len=31),
            _str("cert", required=True, max_len=63),
            _str("key", max_len=63),
            _enum("inform", ("PEM", "DER", "PFX"), default="PEM"),
            _str("passplain", secret=True, write_only=True),
            Attr("password", Kind.BOOL, default=False),
            _enum("expirymonitor", ENABLED, default="DISABLED"),
            _int("notificationperiod", lo=10, hi=100),
            _enum("deletecertkeyfilesonremoval", YESNO, default="NO"),
            Attr("nodomaincheck", Kind.BOOL, write_only=True),
            _str("linkcertkeyname", ref="sslcertkey"),
            _ro("serial"), _ro("subject"), _ro("issuer"), _ro("clientcertnotbefore"),
            _ro("clientcertnotafter"), _ro("daystoexpiration", Kind.INT, wire_int=True),
            _ro("status"), _ro("signaturealg"), _ro("publickey"),
            _ro("publickeysize", Kind.INT, wire_int=True), _ro("version", Kind.INT, wire_int=True),
            _ro("certificatetype", Kind.LIST), _ro("sandns"),
        ),
        updatable=("expirymonitor", "notificationperiod", "deletecertkeyfilesonremoval"),
        update_action=("cert", "key", "inform", "passplain", "password", "nodomaincheck"),
        after=("systemfile",),
        actions=frozenset({"update", "link", "unlink"}),
    ),
    Resource(
        "sslprofile", key="name", feature="SSL", missing=E.SSLPROFILE_MISSING,
        attrs=(
            _name("name"),
            _enum("sslprofiletype", ("FrontEnd", "BackEnd"), default="FrontEnd", immutable=True),
            _enum("sessreuse", ENABLED, default="ENABLED"),
            _int("sesstimeout", default=120, lo=0, hi=4294967294),
            _enum("tls1", ENABLED, default="ENABLED"),
            _enum("tls11", ENABLED, default="ENABLED"),
            _enum("tls12", ENABLED, default="ENABLED"),
            _enum("tls13", ENABLED, default="DISABLED"),
            _enum("snienable", ENABLED, default="DISABLED"),
            _enum("hsts", ENABLED, default="DISABLED"),
            _int("maxage", default=0, lo=0, hi=4294967294),
        ),
        actions=frozenset({"unset"}),
    ),
    Resource(
        "sslvserver", key="vservername", kind=ResourceKind.IMPLICIT, feature="SSL",
        implied_by=("lbvserver", "csvserver", "authenticationvserver"),
        missing=E.NO_SUCH_SSL_VSERVER,
        attrs=(
            _name("vservername"),
            _str("sslprofile", ref="sslprofile"),
            _enum("sessreuse", ENABLED, default="ENABLED"),
            _int("sesstimeout", default=120, lo=0, hi=4294967294),
            _enum("snienable", ENABLED, default="DISABLED"),
            _enum("tls1", ENABLED, default="ENABLED"),
            _enum("tls11", ENABLED, default="ENABLED"),
            _enum("tls12", ENABLED, default="ENABLED"),
            _enum("tls13", ENABLED, default="DISABLED"),
        ),
        actions=frozenset({"unset"}),
    ),
    Resource(
        "sslvserver_sslcertkey_binding", key="vservername",
        kind=ResourceKind.BINDING, parent="sslvserver", member_key=("certkeyname",),
        missing=E.NO_SUCH_SSL_VSERVER,
        attrs=(
            _name("vservername", ref="sslvserver"),
            _str("certkeyname", required=True, ref="sslcertkey"),
            Attr("snicert", Kind.BOOL, default=False, immutable=True),
            Attr("ca", Kind.BOOL, default=False, immutable=True),
        ),
        delete_args=("certkeyname", "snicert", "ca"),
    ),
    Resource(
        "sslservicegroup", key="servicegroupname", kind=ResourceKind.IMPLICIT, feature="SSL",
        implied_by=("servicegroup",),
        missing=E.NO_SUCH_SERVICE_OR_GROUP,
        attrs=(
            _name("servicegroupname"),
            _str("sslprofile", ref="sslprofile"),
            _enum("snienable", ENABLED, default="DISABLED"),
            _str("commonname"),
            _enum("serverauth", ENABLED, default="DISABLED"),
            _enum("sessreuse", ENABLED, default="ENABLED"),
            _int("sesstimeout", default=300, lo=0, hi=4294967294),
        ),
        actions=frozenset({"unset"}),
    ),
    Resource(
        "sslservicegroup_sslcertkey_binding", key="servicegroupname",
        kind=ResourceKind.BINDING, parent="sslservicegroup", member_key=("certkeyname",),
        missing=E.NO_SUCH_SERVICE_OR_GROUP,
        attrs=(
            _name("servicegroupname", ref="sslservicegroup"),
            _str("certkeyname", required=True, ref="sslcertkey"),
            Attr("ca", Kind.BOOL, default=False, immutable=True),
            Attr("snicert", Kind.BOOL, default=False, immutable=True),
            _enum("crlcheck", CHECK_MODES, immutable=True),
            _enum("ocspcheck", CHECK_MODES, immutable=True),
        ),
        delete_args=("certkeyname", "ca", "crlcheck", "snicert"),
    ),
    # --- DNS --------------------------------------------------------------------------------
    # The appliance's own address records: how it resolves domain-based servers. No update
    # (remove and add), as on an appliance; the lab keeps one address per host name.
    Resource(
        "dnsaddrec", key="hostname",
        attrs=(
            _name("hostname", max_len=255),
            _str("ipaddress", required=True),
            _int("ttl", default=3600, lo=0, hi=2147483647),
        ),
        updatable=(),
        delete_args=("ipaddress",),
    ),
    *SECURITY_RESOURCES,
    *CACHE_RESOURCES,
)
