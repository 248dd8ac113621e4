"""The lab IdP's client: discovery, JWKS and tokens from a lab IdP, here or in another process.

Tokens come out of the provider's own authorization-code flow, driven over HTTP by
``LabIdPClient.token``: register the user's claims (``PUT /users/<sub>``), authorize as that
subject (``POST /oauth2/authorize``), exchange the code (``POST /oauth2/token``). The JWT is the
**ID token** (RS256, signed with the provider's key, published at ``/jwks`` with a ``kid``; the
token header carries no ``kid``). The provider's access token is opaque and not a JWT.

What is set per token, and how:

- ``iss``: the provider's, fixed to ``http://127.0.0.1:PORT`` whatever Host a caller used.
- ``aud``: the provider sets ``[client_id]``; any client id is accepted, so a per-token audience
  is native. An ``audience`` different from ``client_id`` is sent as a claim (below).
- ``sub``: the subject authorized; ``groups`` and other claims: the user's registered claims.
- ``iat``/``exp``: the provider sets them from its server-wide lifetime (``token_lifetime``,
  ``--token-lifetime``), which also bounds its opaque access token. It sets no ``nbf``.
- ``nbf`` (always), ``iat``/``exp`` (when ``lifetime`` is given), ``aud`` (when it is not the
  client id) and anything in ``extra_claims`` (``iss`` included) travel as user claims: authlib
  copies the user's claims into the ID token *after* its registered claims
  (``OpenIDToken.encode_id_token``), so they take precedence. That is behaviour of
  oidc-provider-mock 0.3 / authlib 1.x, not a documented promise; the tests pin it.
- Fixed by the provider: the algorithm (RS256 only), the key (one RSA key, new each start).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

DEFAULT_AUDIENCE = "adcml-lab"
CLIENT_SECRET = "lab-secret"  # the provider accepts any secret for unregistered clients
REDIRECT_URI = "http://127.0.0.1/callback"  # never followed: the code is read from Location


class IdPError(RuntimeError):
    """The provider refused a step of the token flow (the message names the step)."""


def as_seconds(value: timedelta | float) -> int:
    """A duration (timedelta or seconds) in whole seconds."""
    return int(value.total_seconds() if isinstance(value, timedelta) else value)


class LabIdPClient:
    """Discovery, JWKS and token helpers for a lab IdP at ``issuer`` (running here or elsewhere)."""

    def __init__(self, issuer: str):
        self._issuer = issuer.rstrip("/")
        self._lock = threading.Lock()  # user claims are per subject: one flow at a time

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/jwks"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/oauth2/token"

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.issuer}/oauth2/authorize"

    def discovery(self) -> dict[str, Any]:
        """The provider's discovery document, fetched over HTTP."""
        return self._get(self.discovery_url)

    def public_jwks(self) -> dict[str, Any]:
        """The provider's JWKS (public keys only), fetched over HTTP."""
        return self._get(self.jwks_uri)

    def token(
        self,
        subject: str,
        *,
        groups: Iterable[str] = (),
        audience: str | Sequence[str] = DEFAULT_AUDIENCE,
        lifetime: timedelta | float | None = None,
        not_before_offset: timedelta | float = 0,
        extra_claims: Mapping[str, Any] | None = None,
        client_id: str | None = None,
    ) -> str:
        """A signed ID token (JWT) for ``subject``, issued by the provider's code flow.

        ``lifetime`` gives ``exp - iat`` (default: the provider's own ``token_lifetime``); a
        negative one gives a token that is already expired. ``nbf`` is now + ``not_before_offset``.
        ``client_id`` defaults to the (first) audience. ``extra_claims`` are added last and
        may override any claim but ``sub``.
        """
        return self.token_response(
            subject, groups=groups, audience=audience, lifetime=lifetime,
            not_before_offset=not_before_offset, extra_claims=extra_claims, client_id=client_id,
        )["id_token"]

    def token_response(
        self,
        subject: str,
        *,
        groups: Iterable[str] = (),
        audience: str | Sequence[str] = DEFAULT_AUDIENCE,
        lifetime: timedelta | float | None = None,
        not_before_offset: timedelta | float = 0,
        extra_claims: Mapping[str, Any] | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        """The token endpoint's whole answer (``id_token``, opaque ``access_token``...)."""
        audiences = [audience] if isinstance(audience, str) else list(audience)
        if not audiences:
            raise ValueError("audience: give at least one audience")
        if extra_claims and "sub" in extra_claims:
            raise ValueError("extra_claims.sub: the provider sets sub; pass it as `subject`")
        client_id = client_id or audiences[0]
        now = int(time.time())
        claims: dict[str, Any] = {"groups": list(groups), "nbf": now + as_seconds(not_before_offset)}
        if lifetime is not None:
            claims.update(iat=now, exp=now + as_seconds(lifetime))
        if audiences != [client_id]:
            claims["aud"] = audiences
        claims.update(extra_claims or {})
        with self._lock, httpx.Client(timeout=10, follow_redirects=False) as http:
            return self._code_flow(http, subject, claims, client_id)

    def _code_flow(self, http: httpx.Client, subject: str, claims: dict[str, Any],
                   client_id: str) -> dict[str, Any]:
        user = http.put(f"{self.issuer}/users/{quote(subject, safe='')}", json=claims)
        _expect(user, 204, "register user claims")
        state = secrets.token_urlsafe(8)
        params = {"client_id": client_id, "redirect_uri": REDIRECT_URI, "response_type": "code",
                  "scope": "openid", "state": state}
        authorized = http.post(self.authorization_endpoint, params=params, data={"sub": subject})
        _expect(authorized, 302, "authorize")
        query = parse_qs(urlsplit(authorized.headers["location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise IdPError(f"authorize: unexpected redirect {authorized.headers['location']}")
        exchanged = http.post(
            self.token_endpoint, auth=(client_id, CLIENT_SECRET),
            data={"grant_type": "authorization_code", "code": query["code"][0],
                  "redirect_uri": REDIRECT_URI},
        )
        _expect(exchanged, 200, "exchange code")
        return exchanged.json()

    def _get(self, url: str) -> dict[str, Any]:
        response = httpx.get(url, timeout=10)
        _expect(response, 200, f"GET {url}")
        return response.json()


def _expect(response: httpx.Response, status: int, step: str) -> None:
    if response.status_code != status:
        raise IdPError(f"{step}: HTTP {response.status_code}, expected {status}: "
                       f"{response.text[:300]}")
