"""Bearer-token authentication: a vserver with ``authn401 ON`` (or ``authentication ON``) and
``authnvsname`` (or ``authnprofile``) accepts a request only with a valid JWT.

The authentication vserver's policies are tried in priority order; the first whose rule matches
names an ``authenticationoauthaction`` that validates the token with joserfc:

- keys: the JWKS at ``certendpoint`` (loopback or an allowed network only, fetched through the
  data plane's address policy), refreshed every ``refreshinterval`` minutes and at once (at most
  every few seconds) when a token names an unknown ``kid``; HS256 uses the action's
  ``clientsecret`` or ``oct`` keys of the JWKS, never an RSA key's bytes (no key confusion);
- algorithms: only ``allowedalgorithms`` (``none`` is never accepted);
- claims: ``iss`` = ``issuer``, ``aud`` contains ``audience``, ``exp`` required, ``exp``/``nbf``
  with ``skewtime`` minutes of leeway.

The user name is the ``usernamefield`` claim (``sub`` by default); the claims named in
``attributes`` (and ``attribute1``..``16``) become the request's user attributes
(``HTTP.REQ.USER.ATTRIBUTE("groups")``). A missing or invalid token gets 401 with
``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

from adcml.lab.emulators.adc.dataplane.reach import AddressPolicy
from adcml.policy import evaluate

log = logging.getLogger("adcml.lab.dataplane")
KID_REFETCH_MIN = 5.0  # seconds between JWKS fetches caused by unknown key ids
VERIFIED_CACHE = 4096  # tokens whose signature was verified (claims are checked every time)
FETCH_TIMEOUT = 5.0


class TokenRejected(Exception):
    """The token is missing or invalid; ``reason`` goes to the audit line, never the token."""

    def __init__(self, reason: str, error: str = "invalid_token"):
        self.reason, self.error = reason, error
        super().__init__(reason)


class _UnknownKey(Exception):
    pass


@dataclass(frozen=True)
class OAuthSpec:
    """An ``authenticationoauthaction`` as the validator needs it."""

    name: str
    certendpoint: str | None
    issuer: str | None
    audience: str | None
    skew_s: int
    refresh_s: int
    algorithms: tuple[str, ...]
    usernamefield: str
    attributes: tuple[str, ...]
    clientsecret: str | None = field(default=None, repr=False)
    # The browser code flow (``forms``): where to send the browser, where to exchange the code.
    authorizationendpoint: str | None = None
    tokenendpoint: str | None = None
    clientid: str | None = None
    pkce: bool = True
    client_auth: str = "client_secret_post"

    @classmethod
    def from_row(cls, row: dict) -> OAuthSpec:
        names = [a.strip() for a in (row.get("attributes") or "").split(",") if a.strip()]
        names += [row[f"attribute{i}"] for i in range(1, 17) if row.get(f"attribute{i}")]
        algorithms = row.get("allowedalgorithms") or ["HS256", "RS256", "RS512"]
        return cls(
            name=row["name"], certendpoint=row.get("certendpoint"), issuer=row.get("issuer"),
            audience=row.get("audience"), skew_s=int(row.get("skewtime", 5)) * 60,
            refresh_s=int(row.get("refreshinterval", 1440)) * 60,
            algorithms=tuple(a.upper() for a in algorithms),
            usernamefield=row.get("usernamefield") or "sub", attributes=tuple(dict.fromkeys(names)),
            clientsecret=row.get("clientsecret"),
            authorizationendpoint=row.get("authorizationendpoint"),
            tokenendpoint=row.get("tokenendpoint"), clientid=row.get("clientid"),
            pkce=row.get("pkce", "ENABLED") == "ENABLED",
            client_auth=row.get("tokenendpointauthmethod") or "client_secret_post",
        )


@dataclass(frozen=True)
class AuthnSpec:
    """Authentication of one vserver: the auth vserver's (priority, rule, action) in order."""

    vserver: str
    enabled: bool
    policies: tuple[tuple[int, Any, OAuthSpec], ...]


@dataclass
class _Keys:
    keys: KeySet | None = None
    fetched: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class Identity:
    user: str
    attributes: dict[str, Any]
    action: str


class Authenticator:
    """Validates bearer tokens for the data plane; caches JWKS per OAuth action."""

    def __init__(self, policy: AddressPolicy):
        self.policy = policy
        self.kid_refetch_min = KID_REFETCH_MIN
        self._keys: dict[tuple[str, str | None], _Keys] = {}
        self._session: aiohttp.ClientSession | None = None
        # (action, token) → (key set it was verified with, decoded token). A signature check is
        # most of the cost of a request; a new key set (rotation) invalidates the entries.
        self._verified: OrderedDict[tuple[OAuthSpec, str], tuple[KeySet | None, Any]] = OrderedDict()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(socket_factory=self.policy.socket_factory,
                                             use_dns_cache=False, ssl=False)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT))
        return self._session

    async def authenticate(self, spec: AuthnSpec, authorization: str | None, ctx) -> Identity:
        """The caller's identity, or TokenRejected."""
        if not spec.enabled:
            raise TokenRejected(f"authentication vserver {spec.vserver} is disabled")
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise TokenRejected("no bearer token", error="")
        last: TokenRejected | None = None
        for _priority, rule, action in spec.policies:
            if not evaluate(rule, ctx):
                continue
            try:
                return await self._validate(action, token)
            except TokenRejected as exc:
                last = exc
        raise last or TokenRejected(f"no authentication policy of {spec.vserver} matched")

    async def _validate(self, action: OAuthSpec, token: str) -> Identity:
        claims = await self.verified_claims(action, token, action.audience)
        return identity_from(action, claims)

    async def verified_claims(self, action: OAuthSpec, token: str, audience: str | None) -> dict:
        """The claims of ``token`` once its signature (the action's keys), ``iss``, ``aud``
        (``audience``), ``exp`` and ``nbf`` are checked; TokenRejected otherwise."""
        keys = await self._keyset(action, force=False)
        cached = self._verified.get((action, token))
        if cached is not None and cached[0] is keys:
            self._verified.move_to_end((action, token))
            decoded = cached[1]
        else:
            try:
                decoded = self._decode(action, token, keys)
            except _UnknownKey:
                keys = await self._keyset(action, force=True)
                try:
                    decoded = self._decode(action, token, keys)
                except _UnknownKey:
                    raise TokenRejected("signed with an unknown key") from None
            self._verified[(action, token)] = (keys, decoded)
            if len(self._verified) > VERIFIED_CACHE:
                self._verified.popitem(last=False)
        claims = decoded.claims
        registry = jwt.JWTClaimsRegistry(
            leeway=action.skew_s, exp={"essential": True},
            **({"iss": {"essential": True, "value": action.issuer}} if action.issuer else {}),
            **({"aud": {"essential": True, "value": audience}} if audience else {}),
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise TokenRejected(f"claims: {exc.error}: {exc.description or ''}".strip()) from None
        return claims

    async def post_form(self, url: str, form: dict[str, str],
                        auth: tuple[str, str] | None) -> tuple[int, Any]:
        """POST a form through the data plane's address policy (the token endpoint): the
        status and the JSON answer (None when the answer is not JSON)."""
        headers = {}
        if auth:
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        async with self._http().post(url, data=form, headers=headers, allow_redirects=False) as response:
            try:
                return response.status, await response.json(content_type=None)
            except ValueError:
                return response.status, None

    def _decode(self, action: OAuthSpec, token: str, keys: KeySet | None):
        def resolve(obj):
            header = obj.headers()
            alg = str(header.get("alg", "")).upper()
            kid = header.get("kid")
            if alg == "HS256":
                if action.clientsecret:
                    return OctKey.import_key(action.clientsecret)
                candidates = [k for k in (keys.keys if keys else []) if k.key_type == "oct"]
            else:
                candidates = [k for k in (keys.keys if keys else []) if k.key_type == "RSA"]
            if kid is not None:
                candidates = [k for k in candidates if k.kid == kid]
            elif len(candidates) > 1:
                raise TokenRejected("no kid, and the key set has several keys")
            if not candidates:
                raise _UnknownKey()
            return candidates[0]

        try:
            return jwt.decode(token, resolve, algorithms=list(action.algorithms))
        except (TokenRejected, _UnknownKey):
            raise
        except JoseError as exc:
            raise TokenRejected(f"token: {exc.error}") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise TokenRejected(f"token: malformed ({type(exc).__name__})") from None

    async def _keyset(self, action: OAuthSpec, force: bool) -> KeySet | None:
        if not action.certendpoint:
            return None
        entry = self._keys.setdefault((action.name, action.certendpoint), _Keys())
        async with entry.lock:
            age = time.monotonic() - entry.fetched
            stale = entry.keys is None or (action.refresh_s and age > action.refresh_s)
            if stale or (force and age > self.kid_refetch_min):
                try:
                    entry.keys = await self._fetch(action.certendpoint)
                    entry.fetched = time.monotonic()
                except Exception as exc:  # keep the keys we have; report
                    log.warning("data plane: JWKS of %s from %s: %s", action.name,
                                action.certendpoint, exc)
                    entry.fetched = time.monotonic()
                    if entry.keys is None:
                        raise TokenRejected(f"key set unavailable ({type(exc).__name__})") from None
            return entry.keys

    async def _fetch(self, url: str) -> KeySet:
        async with self._http().get(url, allow_redirects=False) as response:
            response.raise_for_status()
            data = await response.json(content_type=None)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            raise ValueError("not a JWK set")
        usable = [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") in ("RSA", "oct")
                  and k.get("use", "sig") == "sig"]
        return KeySet.import_key_set({"keys": usable})


def identity_from(action: OAuthSpec, claims: dict) -> Identity:
    """The user (``usernamefield``) and attributes (``attributes``) a token's claims give."""
    user = claims.get(action.usernamefield)
    if not isinstance(user, str) or not user:
        raise TokenRejected(f"no {action.usernamefield} claim")
    attributes = {}
    for name in action.attributes:
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            attributes[name] = [v if isinstance(v, str) else json.dumps(v) for v in value]
        else:
            attributes[name] = value if isinstance(value, str) else json.dumps(value)
    return Identity(user, attributes, action.name)
