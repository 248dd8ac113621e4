"""The gateway spec: what a user writes (YAML or a dict), validated before any ADC is touched.

Errors name the path of the bad field (``pools[2].members[0].port``) and say why. Later
capabilities (auth, policies, rate limits, caching, Hugging Face backends) arrive as new
optional sections, so existing specs stay valid.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

SLUG = r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$"
MONITOR_NAME_MAX = 31
LIMIT_NAME_MAX = 31
CLAIM_VALUE = r"^[^\"\\\s]{1,127}$"
MAX_SAME_SPECIFICITY = 512
MAX_CACHE_PATHS = 32
LB_METHODS = Literal["LEASTCONNECTION", "ROUNDROBIN", "LEASTRESPONSETIME", "URLHASH", "SOURCEIPHASH"]


class SpecError(ValueError):
    """The spec is invalid; ``problems`` lists (path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        text = "\n".join(f"  {path}: {message}" for path, message in problems)
        super().__init__(f"invalid gateway spec:\n{text}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None


class Member(_Model):
    """A model server: host (an IP address) and port, with a load-balancing weight."""

    host: str
    port: Annotated[int, Field(ge=1, le=65535)]
    weight: Annotated[int, Field(ge=1, le=100)] = 1

    _host = field_validator("host")(classmethod(lambda cls, v: _ip(v)))


class Health(_Model):
    """HTTP health check of each member (the model server's health endpoint)."""

    path: Annotated[str, Field(pattern=r"^/\S*$")] = "/health"
    interval: Annotated[int, Field(ge=1, le=3600, description="seconds")] = 5
    timeout: Annotated[int, Field(ge=1, le=600, description="seconds")] = 2
    retries: Annotated[int, Field(ge=1, le=127)] = 3
    expect_status: Annotated[list[Annotated[int, Field(ge=100, le=599)]], Field(min_length=1)] = [200]

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> Health:
        if self.timeout >= self.interval:
            raise ValueError("timeout must be shorter than interval")
        return self


class Match(_Model):
    """How requests pick this pool: a URL path prefix, a Host header, or both."""

    path_prefix: Annotated[str | None, Field(pattern=r"^/[^\s\"]*$")] = None
    host: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9.-]+$")] = None

    @model_validator(mode="after")
    def _something(self) -> Match:
        if self.path_prefix is None and self.host is None:
            raise ValueError("give path_prefix, host, or both")
        return self


class Cache(_Model):
    """Integrated caching of the pool's idempotent requests: GET responses (200) are kept for
    ``ttl_seconds`` and served to GET and HEAD requests on ``paths`` (path prefixes; every path
    of the pool when empty). Callers still pass authentication and the pool's group check
    first; POSTs are never cached."""

    ttl_seconds: Annotated[int, Field(ge=1, le=31536000)] = 60
    max_object_kb: Annotated[int, Field(ge=1, le=2097151, description="largest response kept")] = 80
    memory_mb: Annotated[int, Field(ge=1, le=65536, description="memory of the pool's cache")] = 64
    paths: Annotated[list[Annotated[str, Field(pattern=r"^/[^\s\"\\]*$", max_length=255)]],
                     Field(max_length=MAX_CACHE_PATHS)] = []

    @field_validator("paths")
    @classmethod
    def _unique_paths(cls, paths: list[str]) -> list[str]:
        dupes = sorted({p for p in paths if paths.count(p) > 1})
        if dupes:
            raise ValueError(f"paths listed twice: {', '.join(dupes)}")
        return paths

    @model_validator(mode="after")
    def _object_fits(self) -> Cache:
        if self.max_object_kb > self.memory_mb * 1024:
            raise ValueError("max_object_kb must fit in memory_mb")
        return self


class Pool(_Model):
    """A pool of model servers behind one model route."""

    name: Annotated[str, Field(pattern=SLUG)]
    match: Match | None = None
    lb_method: LB_METHODS = "LEASTCONNECTION"
    members: list[Member] = []
    health: Health = Health()
    max_clients: Annotated[int, Field(ge=0, le=4294967294)] = 0
    surge_protection: bool = False
    require_groups: Annotated[list[Annotated[str, Field(pattern=CLAIM_VALUE)]],
                              Field(description="callers need one of these groups (else 403)")] = []
    backend_token: Annotated[SecretStr | None,
                             Field(description="sent to the members as Authorization: Bearer")] = None
    cache: Cache | None = None

    @field_validator("backend_token")
    @classmethod
    def _token_text(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not re.fullmatch(r'[!#-\[\]-~]+', token.get_secret_value()):
            raise ValueError("must be printable ASCII without spaces, quotes or backslashes")
        return token

    @field_validator("members")
    @classmethod
    def _unique_members(cls, members: list[Member]) -> list[Member]:
        seen = set()
        for i, m in enumerate(members):
            if (m.host, m.port) in seen:
                raise ValueError(f"members[{i}]: {m.host}:{m.port} is listed twice")
            seen.add((m.host, m.port))
        return members


class Tls(_Model):
    """The frontend certificate: an existing cert-key by name, or PEM files to upload (the
    gateway then owns a cert-key named ``<gateway>.cert``)."""

    certkey: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,30}$")] = None
    cert_file: Path | None = None
    key_file: Path | None = None
    key_passphrase: SecretStr | None = None

    @model_validator(mode="after")
    def _pair(self) -> Tls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("give both cert_file and key_file, or neither")
        if (self.certkey is None) == (self.cert_file is None):
            raise ValueError("give either certkey (an existing one) or cert_file and key_file")
        for label, path in (("cert_file", self.cert_file), ("key_file", self.key_file)):
            if path is not None and not path.is_file():
                raise ValueError(f"{label}: {path} is not a readable file")
        return self


class SslProfile(_Model):
    """Frontend TLS settings; TLS 1.2 and 1.3 only and a short session timeout by default."""

    tls1: bool = False
    tls11: bool = False
    tls12: bool = True
    tls13: bool = True
    session_reuse: bool = True
    session_timeout: Annotated[int, Field(ge=0, le=86400, description="seconds")] = 120

    @model_validator(mode="after")
    def _some_version(self) -> SslProfile:
        if not (self.tls1 or self.tls11 or self.tls12 or self.tls13):
            raise ValueError("enable at least one TLS version")
        return self


class Frontend(_Model):
    """The virtual IP clients call."""

    vip: str
    port: Annotated[int, Field(ge=1, le=65535)] = 443
    protocol: Literal["https", "http"] = "https"
    tls: Tls | None = None
    ssl_profile: SslProfile = SslProfile()
    client_timeout: Annotated[int, Field(ge=0, le=31536000)] = 180

    _vip = field_validator("vip")(classmethod(lambda cls, v: _ip(v)))

    @model_validator(mode="after")
    def _tls_for_https(self) -> Frontend:
        if self.protocol == "https" and self.tls is None:
            raise ValueError("protocol https needs tls (a certkey name, or cert_file and key_file)")
        if self.protocol == "http" and self.tls is not None:
            raise ValueError("tls is only used with protocol https")
        return self


class Oidc(_Model):
    """Bearer-token (JWT) validation against the IdP, for API clients."""

    issuer: Annotated[str, Field(pattern=r"^https?://\S+$")]
    jwks_url: Annotated[str, Field(pattern=r"^https?://\S+$")]
    token_endpoint: Annotated[str, Field(pattern=r"^https?://\S+$",
                                         description="from the IdP's discovery document")]
    audience: Annotated[str, Field(min_length=1, max_length=255)]
    algorithms: Annotated[list[Literal["RS256", "RS512", "HS256"]], Field(min_length=1)] = ["RS256"]
    skew_minutes: Annotated[int, Field(ge=0, le=60)] = 5
    claims: Annotated[list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$")]],
                      Field(description="claims kept for policies, e.g. groups")] = ["groups"]
    groups_claim: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]+$")] = "groups"
    client_id: Annotated[str, Field(min_length=1, max_length=127)] = "adcml-gateway"
    client_secret: SecretStr | None = None
    refresh_minutes: Annotated[int, Field(ge=1, le=10080)] = 1440

    @model_validator(mode="after")
    def _groups_kept(self) -> Oidc:
        if self.groups_claim not in self.claims:
            raise ValueError(f"claims must include the groups_claim {self.groups_claim!r}")
        return self


class Auth(_Model):
    """Who may call the gateway: every request needs a valid bearer token."""

    oidc: Oidc


class RateLimit(_Model):
    """Per-client request rate; callers over it get 429."""

    requests: Annotated[int, Field(ge=1, le=4294967294)]
    per_ms: Annotated[int, Field(ge=10, le=4294967290, multiple_of=10)] = 1000
    key: Literal["client_ip", "user"] = "client_ip"
    smooth: bool = False


class Audit(_Model):
    """Log every access decision (allowed, 401/403/429) as an audit message."""

    enabled: bool = True


class GatewaySpec(_Model):
    """An AI inference gateway on one ADC."""

    name: Annotated[str, Field(pattern=SLUG, description="prefix and ownership mark")]
    frontend: Frontend
    pools: Annotated[list[Pool], Field(min_length=1)]
    default_pool: str | None = None
    auth: Auth | None = None
    rate_limit: RateLimit | None = None
    audit: Audit | None = None

    @model_validator(mode="after")
    def _consistent(self) -> GatewaySpec:
        names = [p.name for p in self.pools]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"pool names must be unique: {', '.join(dupes)}")
        if self.default_pool is not None and self.default_pool not in names:
            raise ValueError(f"default_pool {self.default_pool!r} is not one of the pools")
        routes = [(p.match.path_prefix, p.match.host) for p in self.pools if p.match]
        same = Counter((len(path or ""), host is None) for path, host in routes)
        if same and max(same.values()) > MAX_SAME_SPECIFICITY:
            raise ValueError(f"more than {MAX_SAME_SPECIFICITY} routes with equally long path "
                             "prefixes: give them different prefixes or hosts")
        if len(routes) != len(set(routes)):
            raise ValueError("two pools have the same match")
        unmatched = [p.name for p in self.pools if p.match is None]
        if [n for n in unmatched if n != self.default_pool]:
            raise ValueError(f"pools without match must be the default_pool: {', '.join(unmatched)}")
        needs_auth = [p.name for p in self.pools if p.require_groups]
        if needs_auth and self.auth is None:
            raise ValueError(f"require_groups needs auth (pools {', '.join(needs_auth)})")
        if self.rate_limit and self.rate_limit.key == "user" and self.auth is None:
            raise ValueError("rate_limit.key user needs auth")
        if self.rate_limit and len(self.name) + len(".rl") > LIMIT_NAME_MAX:
            raise ValueError(f"gateway name too long for a rate limit (at most {LIMIT_NAME_MAX - 3})")
        for pool in self.pools:
            if len(self.name) + 1 + len(pool.name) > MONITOR_NAME_MAX:
                raise ValueError(
                    f"gateway name + pool name {pool.name!r} is longer than "
                    f"{MONITOR_NAME_MAX - 1} characters (NetScaler's limit for monitor names)")
        return self


def load_spec(data: dict[str, Any] | str | Path) -> GatewaySpec:
    """Validate a spec given as a dict, YAML text or a YAML file path; raise SpecError."""
    is_path = isinstance(data, str) and "\n" not in data and data.endswith((".yml", ".yaml"))
    if isinstance(data, Path) or is_path:
        data = yaml.safe_load(Path(data).read_text())
    elif isinstance(data, str):
        data = yaml.safe_load(data)
    if not isinstance(data, dict):
        raise SpecError([("(top)", "expected a mapping with name, frontend and pools")])
    try:
        return GatewaySpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError([(_path(e["loc"]), _message(e)) for e in exc.errors()]) from None


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _message(error: dict) -> str:
    text = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        return "unknown field (check the spelling; see docs/gateway.md for the fields)"
    if error["type"] == "string_pattern_mismatch" and "a-z0-9" in text:
        return "use lower-case letters, digits and '-' (at most 24, not starting or ending with '-')"
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
    if not args:
        return [annotation]
    return [t for arg in args for t in _types_in(arg)]


SECRET_FIELDS: frozenset[str] = frozenset(_secret_fields(GatewaySpec))
