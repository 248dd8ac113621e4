"""The gateway spec: what a user writes (YAML or a dict), validated before any ADC is touched.

Errors name the path of the bad field (``pools[2].members[0].port``) and say why; a value is
never echoed when it is a secret or looks like key material. The checks here are those of the
spec itself; ``adcml.gateway.load_spec`` adds the checks of what the spec compiles to, so an
accepted spec always compiles into objects an appliance accepts.

Secret fields (``SECRET_FIELDS``) hold ``SecretStr``. They serialise, to JSON and YAML, as
``SECRET_KEPT``, and that marker read back means "keep the live value": a gathered spec
applies back without knowing (or showing) a secret.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from adcml.secret import looks_like_key_material

SLUG = r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$"
# URL paths as they travel: printable ASCII, without spaces, double quotes or backslashes.
PATH = r'^/[!#-\[\]-~]*$'
HOST = r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$"
URL = r"^https?://[!-~]+$"
# An endpoint's URL: https, a host name (the ADC resolves it, and sends it as SNI), an optional
# port, and nothing after it (requests keep their own paths).
ENDPOINT_URL = (r"^https://(?P<host>[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*"
                r"[A-Za-z0-9])?)+)(:(?P<port>[1-9][0-9]{0,4}))?/?$")
HEADER = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,127}$"
CLAIM_NAME = r"^[A-Za-z0-9_.:-]+$"
CLAIM_VALUE = r'^[^"\\\s]{1,127}$'
CERTKEY = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}$"
MAX_LITERAL = 255  # bytes in one string literal of a NetScaler expression
MONITOR_NAME_MAX = 31
LIMIT_NAME_MAX = 31
MAX_SAME_SPECIFICITY = 512
MAX_CACHE_PATHS = 32
MAX_CACHED_BODY = 65536  # bytes of a POST body a cache selector reads (HTTP.REQ.BODY(n))
LB_METHODS = Literal["LEASTCONNECTION", "ROUNDROBIN", "LEASTRESPONSETIME", "URLHASH", "SOURCEIPHASH"]
SECRET_KEPT = "*** (keep the live value)"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PATTERN_HELP = {
    SLUG: "use lower-case letters, digits and '-' (at most 24, not starting or ending with '-')",
    PATH: "a path starting with '/', of printable ASCII without spaces, quotes or backslashes",
    HOST: "a host name: letters, digits, '-' and '.'",
    URL: "an http:// or https:// URL, without spaces",
    ENDPOINT_URL: "https://<host name>[:<port>], nothing after it (an endpoint's URL)",
    HEADER: "an HTTP header name: letters, digits and !#$%&'*+.^_`|~-",
    CLAIM_NAME: "a claim name: letters, digits and _ . : -",
    CLAIM_VALUE: "1 to 127 characters, without spaces, quotes or backslashes",
    CERTKEY: "a cert-key name: letters, digits, _ . - (at most 31, not starting with . or -)",
}


class SpecError(ValueError):
    """The spec is invalid; ``problems`` lists (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        text = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid gateway spec:\n{text}")


class FieldError(ValueError):
    """Problems a model's own checks found, each naming its field relative to the model
    (``""`` for the model as a whole); ``load_spec`` joins them to the model's path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems))


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("expected a number, not true or false")
    return value


def Int(lo: int, hi: int, **kw: Any) -> Any:  # noqa: N802  (a type, spelled like one)
    """An integer from ``lo`` to ``hi``; true and false are not numbers."""
    return Annotated[int, BeforeValidator(_not_a_bool), Field(ge=lo, le=hi, **kw)]


def _secret_text(value: Any) -> Any:
    if isinstance(value, str) and not _encodable(value):
        raise ValueError("contains an unpaired surrogate: give valid text")
    return value


# A secret: never shown; serialised as the marker that means "keep the live value".
Secret = Annotated[SecretStr, BeforeValidator(_secret_text),
                   PlainSerializer(lambda _: SECRET_KEPT, return_type=str, when_used="json")]


def is_kept(secret: SecretStr | None) -> bool:
    """Whether ``secret`` is the marker that keeps the live value."""
    return secret is not None and secret.get_secret_value() == SECRET_KEPT


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _texts(value: Any) -> list[tuple[int | None, str]]:
    if isinstance(value, str):
        return [(None, value)]
    if isinstance(value, list):
        return [(i, v) for i, v in enumerate(value) if isinstance(v, str)]
    return []


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _plain_text(cls, value: Any, info: ValidationInfo) -> Any:
        """Every text of the spec ends up in a NITRO name, attribute or expression: refuse
        control characters, invalid text, and key material where a path or name belongs.
        Secrets are the Secret type's to check (and are never described)."""
        if SecretStr in _types_in(cls.model_fields[info.field_name].annotation):
            return value
        problems = []
        for i, text in _texts(value):
            where = "" if i is None else f"[{i}]"
            if looks_like_key_material(text):
                problems.append((where, "this is key material (PEM text), not a value for this field; "
                                        "give the path of the key file (the text is not shown)"))
            elif not _encodable(text):
                problems.append((where, "contains an unpaired surrogate: give valid text"))
            elif match := _CONTROL.search(text):
                problems.append((where, f"contains the control character U+{ord(match[0]):04X}"))
        if problems:
            raise FieldError(problems)
        return value


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


class Member(_Model):
    """A model server: host (an IP address) and port, with a load-balancing weight."""

    host: str
    port: Int(1, 65535)
    weight: Int(1, 100) = 1

    _host = field_validator("host")(classmethod(lambda cls, v: _ip(v)))


class Health(_Model):
    """HTTP health check of each member (the model server's health endpoint)."""

    path: Annotated[str, Field(pattern=PATH, max_length=MAX_LITERAL)] = "/health"
    interval: Int(1, 3600, description="seconds") = 5
    timeout: Int(1, 600, description="seconds") = 2
    retries: Int(1, 127) = 3
    expect_status: Annotated[list[Int(100, 599)], Field(min_length=1, max_length=32)] = [200]

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Health:
        if self.timeout >= self.interval:
            raise FieldError([("timeout", "must be shorter than interval")])
        return self


class Match(_Model):
    """How requests pick this pool: a URL path prefix, a Host header, or both. Hosts compare
    case-insensitively, as HTTP does: a host is kept in lower case."""

    path_prefix: Annotated[str | None, Field(pattern=PATH, max_length=MAX_LITERAL)] = None
    host: Annotated[str | None, Field(pattern=HOST, max_length=MAX_LITERAL)] = None

    @field_validator("host")
    @classmethod
    def _lower(cls, host: str | None) -> str | None:
        return host.lower() if host is not None else None

    @model_validator(mode="after")
    def _something(self) -> Match:
        if self.path_prefix is None and self.host is None:
            raise FieldError([("", "give path_prefix, host, or both")])
        return self


class Cache(_Model):
    """Integrated caching of the pool's answers (200s), kept for ``ttl_seconds``. GET responses
    are served to GET and HEAD requests on ``paths`` (path prefixes; every path of the pool
    when empty). POST responses are cached only on ``post_paths`` (exact paths, e.g. the
    embedding routes), keyed by the URL and the request body, and only for bodies with a
    Content-Length of at most ``max_body_bytes`` (the ADC keys by that many bytes). Callers
    still pass authentication and the pool's group check first; list only answers that are
    the same for every caller."""

    ttl_seconds: Int(1, 31536000) = 60
    max_object_kb: Int(1, 2097151, description="largest response kept") = 80
    memory_mb: Int(1, 65536, description="memory of the pool's cache (of each: GET and POST)") = 64
    paths: Annotated[list[Annotated[str, Field(pattern=PATH, max_length=MAX_LITERAL)]],
                     Field(max_length=MAX_CACHE_PATHS)] = []
    post_paths: Annotated[list[Annotated[str, Field(pattern=PATH, max_length=MAX_LITERAL)]],
                          Field(max_length=MAX_CACHE_PATHS)] = []
    max_body_bytes: Int(1, MAX_CACHED_BODY, description="largest POST body cached") = 8192

    @field_validator("paths", "post_paths")
    @classmethod
    def _unique_paths(cls, paths: list[str]) -> list[str]:
        seen: dict[str, int] = {}
        problems = []
        for i, path in enumerate(paths):
            if path in seen:
                problems.append((f"[{i}]", f"{path} is listed twice (also paths[{seen[path]}])"))
            seen.setdefault(path, i)
        if problems:
            raise FieldError(problems)
        return paths

    @model_validator(mode="after")
    def _object_fits(self) -> Cache:
        if self.max_object_kb > self.memory_mb * 1024:
            raise FieldError([("max_object_kb", "must fit in memory_mb")])
        return self


class Endpoint(_Model):
    """A Hugging Face Inference Endpoint as the pool's backend, by URL, or by name for the
    front-end to resolve through ``adcml.hf`` before compile (compile stays offline). The ADC
    reaches it over TLS with SNI and Host set to its host name, verifies its certificate
    against ``ca_certkey``, and checks it with a TLS handshake only: an HTTP probe would need
    the token and would wake an endpoint scaled to zero."""

    url: Annotated[str | None, Field(pattern=ENDPOINT_URL, max_length=MAX_LITERAL)] = None
    name: Annotated[str | None, Field(pattern=r"^[a-z][a-z0-9-]{2,30}[a-z0-9]$",  # as the service has it
                                      description="resolved to url by the front-end")] = None
    namespace: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")] = None
    ca_certkey: Annotated[str, Field(pattern=CERTKEY,
                                     description="the CA cert-key that signs the endpoint's certificate")]
    scale_up_timeout: Int(0, 3600, description="seconds the endpoint's proxy holds a request while "
                                               "it scales up from zero; 0: answer 503 at once") = 120

    @field_validator("url")
    @classmethod
    def _lower_host(cls, url: str | None) -> str | None:
        if url is None:
            return None
        host = re.match(ENDPOINT_URL, url)["host"]
        if re.fullmatch(r"[0-9.]+", host):
            raise ValueError("needs the endpoint's host name (the ADC resolves it and sends it as the "
                             "TLS server name), not an IP address")
        return url.lower().rstrip("/")

    @model_validator(mode="after")
    def _url_or_name(self) -> Endpoint:
        if self.url is not None and self.name is not None:
            raise FieldError([("", "give url or name, not both")])
        if self.url is None and self.name is None:
            raise FieldError([("", "give url, or the endpoint's name (and namespace)")])
        if self.url is None:  # front-ends resolve names before the spec is read
            raise FieldError([("name", "this front-end does not look endpoints up by name: give url "
                                       "(adcml gateway and the adc_gateway module resolve names through "
                                       "Hugging Face with HF_TOKEN)")])
        if self.namespace is not None:
            raise FieldError([("namespace", "only used with name")])
        return self

    @property
    def host(self) -> str:
        return re.match(ENDPOINT_URL, self.url)["host"]

    @property
    def port(self) -> int:
        return int(re.match(ENDPOINT_URL, self.url)["port"] or 443)


class Spillover(_Model):
    """Where this pool's requests go when it cannot serve them: when every member is down, and,
    with ``connections_over``, when it already has that many connections. Traffic comes back
    as soon as the pool is up again or under the threshold."""

    to: Annotated[str, Field(pattern=SLUG, description="another pool of this gateway")]
    connections_over: Int(1, 4294967287) | None = None


class Pool(_Model):
    """A pool of model servers behind one model route, or a Hugging Face Inference Endpoint."""

    name: Annotated[str, Field(pattern=SLUG)]
    match: Match | None = None
    lb_method: LB_METHODS = "LEASTCONNECTION"
    members: list[Member] = []
    health: Health = Health()
    max_clients: Int(0, 4294967294) = 0
    surge_protection: bool = False
    require_groups: Annotated[list[Annotated[str, Field(pattern=CLAIM_VALUE)]],
                              Field(description="callers need one of these groups (else 403)")] = []
    backend_token: Annotated[Secret | None,
                             Field(description="sent to the members as Authorization: Bearer")] = None
    cache: Cache | None = None
    endpoint: Endpoint | None = None
    spillover: Spillover | None = None

    @model_validator(mode="after")
    def _members_or_endpoint(self) -> Pool:
        problems = []
        if self.endpoint is not None and self.members:
            problems.append(("members", "a pool has members or an endpoint, not both"))
        if self.endpoint is not None and (self.health.path, self.health.expect_status) != (
                Health().path, Health().expect_status):
            problems.append(("health", "an endpoint pool is checked with a TLS handshake (path and "
                                       "expect_status are for members): give interval, timeout, retries"))
        if self.spillover is not None and self.spillover.to == self.name:
            problems.append(("spillover.to", "a pool cannot spill over to itself"))
        if problems:
            raise FieldError(problems)
        return self

    @field_validator("backend_token")
    @classmethod
    def _token_text(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not is_kept(token) and not re.fullmatch(
                r'[!#-\[\]-~]+', token.get_secret_value()):
            raise ValueError("must be printable ASCII without spaces, quotes or backslashes")
        return token

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[Member]) -> list[Member]:
        seen: dict[tuple[str, int], int] = {}
        for i, m in enumerate(members):
            if (m.host, m.port) in seen:
                raise FieldError([(f"[{i}]", f"{m.host}:{m.port} is listed twice "
                                                    f"(also members[{seen[m.host, m.port]}])")])
            seen[m.host, m.port] = i
        return members


class Tls(_Model):
    """The frontend certificate: an existing cert-key by name, or PEM files to upload (the
    gateway then owns a cert-key named ``<gateway>.cert``)."""

    certkey: Annotated[str | None, Field(pattern=CERTKEY)] = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_passphrase: Secret | None = None

    @model_validator(mode="after")
    def _pair(self) -> Tls:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise FieldError([(missing, "give both cert_file and key_file, or neither")])
        if (self.certkey is None) == (self.cert_file is None):
            raise FieldError([("", "give either certkey (an existing one) or cert_file and key_file")])
        if self.key_passphrase is not None and self.cert_file is None:
            raise FieldError([("key_passphrase", "only used with cert_file and key_file")])
        problems = [(label, problem) for label, path in (("cert_file", self.cert_file),
                                                         ("key_file", self.key_file))
                    if path is not None and (problem := _unreadable(path))]
        if problems:
            raise FieldError(problems)
        return self


def _unreadable(path: Path) -> str | None:
    """Why ``path`` is not a readable file (the path itself is named only when it is short
    and cannot be key material), or None."""
    try:
        if path.is_file():
            with path.open("rb"):
                return None
        shown = str(path) if len(str(path)) <= 255 else "the path given"
        return f"{shown} is not a readable file"
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a valid path"
        return f"cannot read it: {reason}"


class SslProfile(_Model):
    """Frontend TLS settings; TLS 1.2 and 1.3 only and a short session timeout by default."""

    tls1: bool = False
    tls11: bool = False
    tls12: bool = True
    tls13: bool = True
    session_reuse: bool = True
    session_timeout: Int(0, 86400, description="seconds") = 120

    @model_validator(mode="after")
    def _some_version(self) -> SslProfile:
        if not (self.tls1 or self.tls11 or self.tls12 or self.tls13):
            raise FieldError([("", "enable at least one TLS version")])
        return self


class Frontend(_Model):
    """The virtual IP clients call."""

    vip: str
    port: Int(1, 65535) = 443
    protocol: Literal["https", "http"] = "https"
    tls: Tls | None = None
    ssl_profile: SslProfile = SslProfile()
    client_timeout: Int(0, 31536000) = 180

    _vip = field_validator("vip")(classmethod(lambda cls, v: _ip(v)))

    @model_validator(mode="after")
    def _tls_for_https(self) -> Frontend:
        if self.protocol == "https" and self.tls is None:
            raise FieldError([("tls", "protocol https needs tls (a certkey name, or cert_file and "
                                      "key_file)")])
        if self.protocol == "http" and self.tls is not None:
            raise FieldError([("tls", "only used with protocol https")])
        return self


class Oidc(_Model):
    """Bearer-token (JWT) validation against the IdP, for API clients."""

    issuer: Annotated[str, Field(pattern=URL, max_length=MAX_LITERAL)]
    jwks_url: Annotated[str, Field(pattern=URL, max_length=MAX_LITERAL)]
    token_endpoint: Annotated[str, Field(pattern=URL, max_length=MAX_LITERAL,
                                         description="from the IdP's discovery document")]
    audience: Annotated[str, Field(min_length=1, max_length=255)]
    algorithms: Annotated[list[Literal["RS256", "RS512", "HS256"]], Field(min_length=1)] = ["RS256"]
    skew_minutes: Int(0, 60) = 5
    claims: Annotated[list[Annotated[str, Field(pattern=CLAIM_NAME)]],
                      Field(min_length=1, description="claims kept for policies, e.g. groups")] = ["groups"]
    groups_claim: Annotated[str, Field(pattern=CLAIM_NAME, max_length=127)] = "groups"
    client_id: Annotated[str, Field(min_length=1, max_length=127)] = "adcml-gateway"
    client_secret: Secret | None = None
    refresh_minutes: Int(1, 10080) = 1440

    @model_validator(mode="before")
    @classmethod
    def _groups_claim_first(cls, data: Any) -> Any:
        """The claims are a set; the groups claim is kept first (gather reads it from there)."""
        if isinstance(data, dict) and isinstance(data.get("claims"), list):
            groups, claims = data.get("groups_claim", "groups"), list(data["claims"])
            if groups in claims:
                claims.remove(groups)
                data = {**data, "claims": [groups, *claims]}
        return data

    @model_validator(mode="after")
    def _groups_kept(self) -> Oidc:
        problems = []
        if self.groups_claim not in self.claims:
            problems.append(("claims", f"must include the groups_claim {self.groups_claim!r}"))
        twice = sorted({c for c in self.claims if self.claims.count(c) > 1})
        if twice:
            problems.append(("claims", f"listed twice: {', '.join(twice)}"))
        twice = sorted({a for a in self.algorithms if self.algorithms.count(a) > 1})
        if twice:
            problems.append(("algorithms", f"listed twice: {', '.join(twice)}"))
        if problems:
            raise FieldError(problems)
        return self


class IdentityHeaders(_Model):
    """The caller's identity from the token, forwarded to every pool in these request headers;
    copies a client sends are removed first."""

    user: Annotated[str, Field(pattern=HEADER)] = "X-Forwarded-User"
    groups: Annotated[str, Field(pattern=HEADER)] = "X-Forwarded-Groups"

    @model_validator(mode="after")
    def _different(self) -> IdentityHeaders:
        if self.user.lower() == self.groups.lower():
            raise FieldError([("groups", "must differ from user")])
        if {self.user.lower(), self.groups.lower()} & RESERVED_HEADERS:
            raise FieldError([("", f"not one of {', '.join(sorted(RESERVED_HEADERS))}")])
        return self


RESERVED_HEADERS = frozenset({"authorization", "host", "content-length", "x-scale-up-timeout"})


class Auth(_Model):
    """Who may call the gateway: every request needs a valid bearer token; the caller's
    identity goes on to the pools (``identity_headers``; null: not forwarded)."""

    oidc: Oidc
    identity_headers: IdentityHeaders | None = IdentityHeaders()


class Login(_Model):
    """People in browsers sign in at the ADC (the OIDC authorization-code flow against
    ``auth.oidc``'s IdP), on a frontend of their own: a NetScaler vserver answers either
    bearer callers (401) or browsers (redirect to sign in), not both. The browsers' frontend
    routes to ``pools`` (their matches; ``default_pool`` for the rest) with the frontend's
    certificate; the IdP sends people back to ``https://<host>:<port>/oauth/login``, the
    redirect URI to register for ``auth.oidc.client_id``. Sessions end after
    ``session_minutes`` without a request, and at ``/cgi/tmlogout``."""

    host: Annotated[str, Field(pattern=HOST, max_length=255,
                               description="the host name browsers use (and the session cookie's)")]
    vip: str | None = None
    port: Int(1, 65535)
    pools: Annotated[list[Annotated[str, Field(pattern=SLUG)]], Field(min_length=1)]
    default_pool: Annotated[str | None, Field(pattern=SLUG)] = None
    authorization_endpoint: Annotated[str, Field(pattern=URL, max_length=MAX_LITERAL,
                                                 description="from the IdP's discovery document")]
    username_claim: Annotated[str, Field(pattern=CLAIM_NAME, max_length=127)] = "sub"
    session_minutes: Int(1, 1440, description="idle time that ends a session") = 30
    cookie_domain: Annotated[str | None, Field(pattern=HOST, max_length=252)] = None

    _vip = field_validator("vip")(classmethod(lambda cls, v: v if v is None else _ip(v)))


class RateLimit(_Model):
    """Per-client request rate; callers over it get 429."""

    requests: Int(1, 4294967294)
    per_ms: Int(10, 4294967290, multiple_of=10) = 1000
    key: Literal["client_ip", "user"] = "client_ip"
    smooth: bool = False


class Audit(_Model):
    """Log every access decision (allowed, 401/403/429) as an audit message."""

    enabled: bool = True


class Checked:
    """What a spec compiles to, once the schema's checks accepted it (``adcml.gateway.load``).
    Not part of the spec's value: every two compare equal. It remembers the very field values
    it was made from, so a copy with other values (``model_copy(update=...)``) is checked anew."""

    __slots__ = ("fields", "objects")

    def __init__(self) -> None:
        self.fields: dict | None = None
        self.objects: list | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Checked)

    __hash__ = None  # type: ignore[assignment]


class GatewaySpec(_Model):
    """An AI inference gateway on one ADC."""

    name: Annotated[str, Field(pattern=SLUG, description="prefix and ownership mark")]
    frontend: Frontend
    pools: Annotated[list[Pool], Field(min_length=1)]
    default_pool: str | None = None
    auth: Auth | None = None
    login: Login | None = None
    rate_limit: RateLimit | None = None
    audit: Audit | None = None
    _checked: Checked = PrivateAttr(default_factory=Checked)

    @field_validator("audit")
    @classmethod
    def _audit_off_is_none(cls, audit: Audit | None) -> Audit | None:
        return audit if audit is not None and audit.enabled else None

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySpec:
        problems = _pool_problems(self) + _route_problems(self.pools)
        for i, pool in enumerate(self.pools):
            if pool.require_groups and self.auth is None:
                problems.append((f"pools[{i}].require_groups",
                                 "needs auth (the callers' groups come from their tokens)"))
            if len(self.name) + 1 + len(pool.name) > MONITOR_NAME_MAX:
                problems.append((f"pools[{i}].name",
                                 f"gateway name + pool name is longer than {MONITOR_NAME_MAX - 1} "
                                 "characters (NetScaler's limit for monitor names)"))
        if self.rate_limit and self.rate_limit.key == "user" and self.auth is None:
            problems.append(("rate_limit.key", "user needs auth (the user comes from the token)"))
        if self.rate_limit and len(self.name) + len(".rl") > LIMIT_NAME_MAX:
            problems.append(("name", f"too long for a rate limit (at most {LIMIT_NAME_MAX - 3})"))
        if self.login is not None:
            problems += _login_problems(self)
        if problems:
            raise FieldError(problems)
        return self


def _login_problems(spec: GatewaySpec) -> list[tuple[str, str]]:
    login, problems = spec.login, []
    if spec.auth is None:
        problems.append(("login", "needs auth.oidc (the IdP people sign in at)"))
    elif spec.auth.oidc.client_secret is None:
        problems.append(("auth.oidc.client_secret", "login needs the client secret: the ADC presents "
                                                    "it when it exchanges a sign-in's code"))
    if spec.frontend.protocol != "https":
        problems.append(("login", "needs an https frontend: its certificate serves the browsers too, "
                                  "and the session cookie is Secure"))
    if (login.vip or spec.frontend.vip) == spec.frontend.vip and login.port == spec.frontend.port:
        problems.append(("login.port", f"{login.port} is the frontend's port on the same VIP: "
                                       "browsers need a frontend of their own"))
    names = {p.name for p in spec.pools}
    for i, name in enumerate(login.pools):
        if name not in names:
            problems.append((f"login.pools[{i}]", f"{name!r} is not one of the pools"))
    if login.default_pool is not None and login.default_pool not in names:
        problems.append(("login.default_pool", f"{login.default_pool!r} is not one of the pools"))
    return problems


def _pool_problems(spec: GatewaySpec) -> list[tuple[str, str]]:
    problems = []
    first: dict[str, int] = {}
    spill_targets = {p.spillover.to for p in spec.pools if p.spillover is not None}
    for i, pool in enumerate(spec.pools):
        if pool.name in first:
            problems.append((f"pools[{i}].name", f"{pool.name!r} is the name of pools[{first[pool.name]}] "
                                                 "too: pool names must be unique"))
        first.setdefault(pool.name, i)
        if pool.match is None and pool.name != spec.default_pool and pool.name not in spill_targets:
            problems.append((f"pools[{i}].match", "a pool without match must be the default_pool "
                                                  "or another pool's spillover.to"))
    if spec.default_pool is not None and spec.default_pool not in first:
        problems.append(("default_pool", f"{spec.default_pool!r} is not one of the pools "
                                         f"({', '.join(first)})"))
    return problems + _spillover_problems(spec.pools, first)


def _spillover_problems(pools: list[Pool], index: dict[str, int]) -> list[tuple[str, str]]:
    """Targets that are pools of the gateway, and no chain that comes back to where it began
    (an appliance refuses a backup vserver loop)."""
    problems = []
    target = {p.name: p.spillover.to for p in pools if p.spillover is not None}
    for i, pool in enumerate(pools):
        if pool.spillover is None or pool.spillover.to == pool.name:
            continue
        if pool.spillover.to not in index:
            problems.append((f"pools[{i}].spillover.to", f"{pool.spillover.to!r} is not one of the pools "
                                                         f"({', '.join(index)})"))
            continue
        seen, name = {pool.name}, pool.spillover.to
        while name in target and name not in seen:
            seen.add(name)
            name = target[name]
        if name == pool.name:
            problems.append((f"pools[{i}].spillover.to", "the spillover chain comes back to this pool"))
    return problems


def _route_problems(pools: list[Pool]) -> list[tuple[str, str]]:
    problems = []
    first: dict[tuple, int] = {}
    for i, pool in enumerate(pools):
        if pool.match is None:
            continue
        route = (pool.match.path_prefix, pool.match.host)
        if route in first:
            problems.append((f"pools[{i}].match", f"the same as pools[{first[route]}].match: "
                                                  "requests would never reach this pool"))
        first.setdefault(route, i)
    same = Counter((len(path or ""), host is None) for path, host in first)
    if same and max(same.values()) > MAX_SAME_SPECIFICITY:
        problems.append(("pools", f"more than {MAX_SAME_SPECIFICITY} routes with equally long path "
                                  "prefixes: give them different prefixes or hosts"))
    return problems


def parse_spec(data: Any) -> GatewaySpec:
    """Validate a spec given as a mapping; raise SpecError. ``adcml.gateway.load_spec`` also
    reads YAML and checks what the spec compiles to."""
    if not isinstance(data, dict):
        raise SpecError([("(top)", "expected a mapping with name, frontend and pools")])
    try:
        return GatewaySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(validation_problems(exc)) from None


def validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    """pydantic's errors as (field path, message), FieldErrors expanded to their fields."""
    problems = []
    for error in exc.errors():
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldError):
            problems += [(join_path(error["loc"], field), message) for field, message in cause.problems]
        else:
            problems.append((join_path(error["loc"]), _message(error)))
    return problems


def join_path(loc: tuple, field: str = "") -> str:
    """``("pools", 2, "match")`` + ``"host"`` → ``pools[2].match.host``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    if field:
        out += field if field.startswith("[") or not out else f".{field}"
    return out or "(top)"


def _message(error: dict) -> str:
    text = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling; see docs/gateway.md for the fields)"
    if error["type"] == "string_pattern_mismatch":
        return _PATTERN_HELP.get((error.get("ctx") or {}).get("pattern"), text)
    return re.sub(r"\s+", " ", text)


def _secret_fields(model: type[BaseModel]) -> set[str]:
    """Names of fields holding secrets (SecretStr), anywhere in the spec's models."""
    found: set[str] = set()
    for name, field in model.model_fields.items():
        for kind in _types_in(field.annotation):
            if kind is SecretStr:
                found.add(name)
            elif isinstance(kind, type) and issubclass(kind, BaseModel) and kind is not model:
                found |= _secret_fields(kind)
    return found


def _types_in(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if getattr(annotation, "__metadata__", None) is not None:  # Annotated[T, ...]
        return _types_in(annotation.__origin__)
    if not args:
        return [annotation]
    return [t for arg in args for t in _types_in(arg)]


SECRET_FIELDS: frozenset[str] = frozenset(_secret_fields(GatewaySpec))
