"""The lab IdP's client: discovery, JWKS, tokens and the lab API of a lab IdP, here or elsewhere.

Tokens come out of the provider's own authorization-code flow, driven over HTTP by
``LabIdPClient.token``: set the user's claims (``PUT /users/<sub>``), authorize as that subject
(``POST /oauth2/authorize`` with ``sub``, PKCE S256), exchange the code (``POST /oauth2/token``,
client_secret_basic). The JWT is the **ID token** (RS256, signed with the provider's key,
published at ``/jwks``; the token header names its ``kid``). The provider's access token is
opaque and not a JWT (it is good for ``/userinfo``).

What is set per token, and how:

- ``iss``: the provider's, fixed to ``http://127.0.0.1:PORT`` whatever Host a caller used.
- ``aud``: the provider sets ``[client_id]``. An unregistered client id is an *open* client (any
  secret, any loopback redirect URI), so a per-token audience is native; an ``audience``
  different from ``client_id`` is sent as a claim (below). A *registered* client id needs its
  secret (``client_secret=``) and one of its redirect URIs (``redirect_uri=``).
- ``sub``: the subject authorized; ``groups`` and other claims: the user's claims.
- ``iat``/``exp``: the provider sets them from its server-wide lifetime (``token_lifetime``,
  ``--token-lifetime``), which also bounds its opaque access token. It sets no ``nbf``.
- ``nbf`` (always), ``iat``/``exp`` (when ``lifetime`` is given), ``aud`` (when it is not the
  client id) and anything in ``extra_claims`` (``iss`` included) travel as user claims: the lab
  provider (``idp_app._IDToken``) adds the user's claims to the ID token *after* its own, so they
  take precedence. ``tests/integration/test_lab_idp.py`` pins it.
- Fixed by the provider: the algorithm (RS256 only), the key (one RSA key, new each start).

The lab API (``register_client``, ``rotate_secret``, ``retire_secrets``, ``client_registration``,
``logouts``, ``set_user``) goes over HTTP here; ``LabIdP`` has the same methods in-process. A
refusal raises what the in-process call raises: ``ValueError`` (400), ``KeyError`` (404).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

DEFAULT_AUDIENCE = "adcml-lab"
CLIENT_SECRET = "lab-secret"  # an open (unregistered) client accepts any secret
REDIRECT_URI = "http://127.0.0.1/callback"  # never followed: the code is read from Location


class IdPError(RuntimeError):
    """The provider refused a step of the token flow (the message names the step)."""


def as_seconds(value: timedelta | float) -> int:
    """A duration (timedelta or seconds) in whole seconds."""
    return int(value.total_seconds() if isinstance(value, timedelta) else value)


def s256_challenge(verifier: str) -> str:
    """The PKCE S256 ``code_challenge`` of ``verifier`` (RFC 7636)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class LabIdPClient:
    """Discovery, JWKS, token and lab-API helpers for a lab IdP at ``issuer`` (here or elsewhere)."""

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

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.issuer}/userinfo"

    @property
    def end_session_endpoint(self) -> str:
        return f"{self.issuer}/oauth2/end_session"

    def discovery(self) -> dict[str, Any]:
        """The provider's discovery document, fetched over HTTP."""
        return self._get(self.discovery_url)

    def public_jwks(self) -> dict[str, Any]:
        """The provider's JWKS (public keys only), fetched over HTTP."""
        return self._get(self.jwks_uri)

    # --- the lab API ----------------------------------------------------------------------------
    def set_user(self, subject: str, claims: Mapping[str, Any]) -> None:
        """Set (replace) the claims of ``subject``'s ID tokens."""
        self._admin("PUT", f"/users/{quote(subject, safe='')}", dict(claims))

    def register_client(self, client_id: str, secrets: Iterable[str], redirect_uris: Iterable[str],
                        post_logout_redirect_uris: Iterable[str] = (), require_pkce: bool = False,
                        ) -> None:
        """Register (or replace) a client whose secret and redirect URIs the provider checks."""
        self._admin("PUT", f"/lab/clients/{quote(client_id, safe='')}", {
            "secrets": list(secrets), "redirect_uris": list(redirect_uris),
            "post_logout_redirect_uris": list(post_logout_redirect_uris), "require_pkce": require_pkce})

    def rotate_secret(self, client_id: str, new_secret: str) -> None:
        """Add ``new_secret`` to a registered client: old and new are both accepted (the overlap)."""
        self._admin("POST", f"/lab/clients/{quote(client_id, safe='')}/secrets", {"secret": new_secret})

    def retire_secrets(self, client_id: str, keep: Iterable[str]) -> None:
        """Keep only the secrets in ``keep`` (each a current secret of the client; at least one)."""
        self._admin("POST", f"/lab/clients/{quote(client_id, safe='')}/secrets/retire",
                    {"keep": list(keep)})

    def client_registration(self, client_id: str) -> dict[str, Any]:
        """A registered client as the provider holds it, its secrets only counted (``secret_count``)."""
        response = httpx.get(f"{self.issuer}/lab/clients/{quote(client_id, safe='')}", timeout=10)
        _raise_for_lab_error(response)
        return response.json()

    def logouts(self) -> list[dict[str, Any]]:
        """The RP-initiated logouts carried out so far: ``client_id``, ``sub``, ``redirected_to``, ``at``."""
        return self._get(f"{self.issuer}/lab/logouts")

    # --- tokens ---------------------------------------------------------------------------------
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
        client_secret: str = CLIENT_SECRET,
        redirect_uri: str = REDIRECT_URI,
    ) -> str:
        """A signed ID token (JWT) for ``subject``, issued by the provider's code flow.

        ``lifetime`` gives ``exp - iat`` (default: the provider's own ``token_lifetime``); a
        negative one gives a token that is already expired. ``nbf`` is now + ``not_before_offset``.
        ``client_id`` defaults to the (first) audience. ``extra_claims`` are added last and
        may override any claim but ``sub``. ``client_secret`` and ``redirect_uri`` matter only
        for a registered client (an open one takes any secret and loopback URI).
        """
        return self.token_response(
            subject, groups=groups, audience=audience, lifetime=lifetime,
            not_before_offset=not_before_offset, extra_claims=extra_claims, client_id=client_id,
            client_secret=client_secret, redirect_uri=redirect_uri,
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
        client_secret: str = CLIENT_SECRET,
        redirect_uri: str = REDIRECT_URI,
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
            user = http.put(f"{self.issuer}/users/{quote(subject, safe='')}", json=claims)
            _expect(user, 204, "set user claims")
            return self._code_flow(http, subject, (client_id, client_secret), redirect_uri)

    def _code_flow(self, http: httpx.Client, subject: str, client: tuple[str, str],
                   redirect_uri: str) -> dict[str, Any]:
        state, verifier = secrets.token_urlsafe(8), secrets.token_urlsafe(48)
        params = {"client_id": client[0], "redirect_uri": redirect_uri, "response_type": "code",
                  "scope": "openid", "state": state, "code_challenge": s256_challenge(verifier),
                  "code_challenge_method": "S256"}
        authorized = http.post(self.authorization_endpoint, params=params, data={"sub": subject})
        _expect(authorized, 302, "authorize")
        query = parse_qs(urlsplit(authorized.headers["location"]).query)
        if query.get("state") != [state] or "code" not in query:
            raise IdPError(f"authorize: unexpected redirect {authorized.headers['location']}")
        exchanged = http.post(
            self.token_endpoint, auth=client,
            data={"grant_type": "authorization_code", "code": query["code"][0],
                  "redirect_uri": redirect_uri, "code_verifier": verifier},
        )
        _expect(exchanged, 200, "exchange code")
        return exchanged.json()

    def _get(self, url: str) -> Any:
        response = httpx.get(url, timeout=10)
        _expect(response, 200, f"GET {url}")
        return response.json()

    def _admin(self, method: str, path: str, body: dict[str, Any]) -> None:
        response = httpx.request(method, f"{self.issuer}{path}", json=body, timeout=10)
        _raise_for_lab_error(response)


def _raise_for_lab_error(response: httpx.Response) -> None:
    """Raise as the in-process lab API would: ValueError (400), KeyError (404), else IdPError."""
    if response.is_success:
        return
    try:
        message = response.json().get("error", response.text)
    except ValueError:
        message = response.text
    if response.status_code == 400:
        raise ValueError(message)
    if response.status_code == 404:
        raise KeyError(message)
    raise IdPError(f"{response.request.method} {response.request.url}: HTTP {response.status_code}: "
                   f"{message[:300]}")


def _expect(response: httpx.Response, status: int, step: str) -> None:
    if response.status_code != status:
        raise IdPError(f"{step}: HTTP {response.status_code}, expected {status}: "
                       f"{response.text[:300]}")
