"""The lab IdP's state: clients, users, authorization codes, access tokens and logouts.

The records implement authlib's server mixins (``ClientMixin``, ``AuthorizationCodeMixin``,
``TokenMixin``), so the provider (``idp_app``) hands them to authlib as they are. Everything is
in memory and guarded by one lock: the provider answers on several threads.

Clients are **registered** (``register_client``: secrets, exact redirect URIs, post-logout
redirect URIs, PKCE required or not) or, while ``open_clients`` is on, **open**: an unregistered
client id that accepts any secret and any loopback redirect URI (what ``LabIdPClient.token``
relies on to mint tokens for any audience). A registered client is always checked.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin

log = logging.getLogger("adcml.lab.idp")

SCOPES = ("openid", "profile", "email", "groups")
AUTH_METHODS = ("client_secret_basic", "client_secret_post")  # NetScaler's default is _post
CODE_LIFETIME = 60  # seconds an authorization code may wait for its exchange


def _client_metadata(post_logout_redirect_uris: Iterable[str]) -> dict[str, Any]:
    return {"post_logout_redirect_uris": list(post_logout_redirect_uris)}


@dataclass(frozen=True)
class LabClient(ClientMixin):
    """A relying party: registered (its secrets and URIs are checked) or open (see module doc)."""

    client_id: str
    secrets: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    require_pkce: bool = False
    registered: bool = True

    @property
    def client_metadata(self) -> dict[str, Any]:
        """What authlib's end-session and userinfo endpoints read from a client."""
        return _client_metadata(self.post_logout_redirect_uris)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # OpenID Connect: every authorization request names its redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope_to_list(scope) or [] if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if self.registered:
            return redirect_uri in self.redirect_uris
        return is_loopback_uri(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        if not self.registered:
            return True
        given = client_secret.encode()
        return any(hmac.compare_digest(given, secret.encode()) for secret in self.secrets)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"

    def public_view(self) -> dict[str, Any]:
        """The registration as ``GET /lab/clients/<id>`` shows it: the secrets only counted."""
        return {"client_id": self.client_id, "redirect_uris": list(self.redirect_uris),
                "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
                "require_pkce": self.require_pkce, "secret_count": len(self.secrets)}


@dataclass(frozen=True)
class LabUser:
    """A subject and the claims its ID tokens carry (``groups``, ``email``, anything a test set)."""

    sub: str
    claims: Mapping[str, Any] = field(default_factory=dict)

    def get_user_id(self) -> str:
        return self.sub


@dataclass(frozen=True)
class LabAuthorizationCode(AuthorizationCodeMixin):
    """An issued code, bound to its client and redirect URI, with the user as signed in."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: LabUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass(frozen=True)
class LabAccessToken(TokenMixin):
    """An opaque access token (good for ``/userinfo``) and what it was issued for."""

    access_token: str
    client: LabClient
    user: LabUser
    scope: str
    expires_at: float
    from_code: str | None = None
    revoked: bool = False

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == self.client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> LabUser:
        return self.user

    def get_client(self) -> LabClient:
        return self.client


@dataclass(frozen=True)
class Logout:
    """An RP-initiated logout the provider carried out."""

    client_id: str | None
    sub: str | None
    redirected_to: str | None
    at: float

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def is_loopback_uri(uri: str) -> bool:
    """An http(s) URI whose host is ``localhost`` or a loopback address."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _strings(value: Iterable[str], what: str, *, at_least_one: bool) -> tuple[str, ...]:
    if isinstance(value, str | Mapping) or not isinstance(value, Iterable):
        raise ValueError(f"{what}: give a list of strings")
    items = tuple(value)
    if not all(isinstance(item, str) and item for item in items):
        raise ValueError(f"{what}: every item must be a non-empty string")
    if at_least_one and not items:
        raise ValueError(f"{what}: give at least one")
    return items


def _redirect_uris(value: Iterable[str], what: str, *, at_least_one: bool) -> tuple[str, ...]:
    uris = _strings(value, what, at_least_one=at_least_one)
    for uri in uris:
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ValueError(f"{what}: {uri!r} is not an absolute http(s) URI without a fragment")
    return uris


class IdPStore:
    """Clients, users, codes, tokens and logouts of one provider; safe to use from any thread."""

    def __init__(self, *, open_clients: bool = True, code_lifetime: float = CODE_LIFETIME):
        self.open_clients = open_clients
        self.code_lifetime = code_lifetime
        self._lock = threading.Lock()
        self._clients: dict[str, LabClient] = {}
        self._users: dict[str, LabUser] = {}
        self._codes: dict[str, LabAuthorizationCode] = {}
        self._spent_codes: dict[str, float] = {}  # code -> when it may be forgotten
        self._tokens: dict[str, LabAccessToken] = {}
        self._logouts: list[Logout] = []

    # --- clients ------------------------------------------------------------------------------
    def register_client(self, client_id: str, secrets: Iterable[str], redirect_uris: Iterable[str],
                        post_logout_redirect_uris: Iterable[str] = (), require_pkce: bool = False,
                        ) -> LabClient:
        """Register (or replace) a client; ValueError names what is wrong with the registration."""
        if not isinstance(client_id, str) or not client_id.strip():
            raise ValueError("client_id: give a non-empty string")
        if not isinstance(require_pkce, bool):
            raise ValueError("require_pkce: give true or false")
        client = LabClient(
            client_id, _strings(secrets, "secrets", at_least_one=True),
            _redirect_uris(redirect_uris, "redirect_uris", at_least_one=True),
            _redirect_uris(post_logout_redirect_uris, "post_logout_redirect_uris", at_least_one=False),
            require_pkce)
        with self._lock:
            self._clients[client_id] = client
        log.info("client %s registered: %d secret(s), redirect URIs %s, PKCE %s", client_id,
                 len(client.secrets), list(client.redirect_uris), "required" if require_pkce else "optional")
        return client

    def rotate_secret(self, client_id: str, new_secret: str) -> LabClient:
        """Add ``new_secret``; the client's other secrets stay valid until ``retire_secrets``."""
        (new_secret,) = _strings([new_secret], "secret", at_least_one=True)
        with self._lock:
            client = self._registered(client_id)
            if new_secret not in client.secrets:
                client = dataclasses.replace(client, secrets=(*client.secrets, new_secret))
                self._clients[client_id] = client
        log.info("client %s: a secret added (%d valid now)", client_id, len(client.secrets))
        return client

    def retire_secrets(self, client_id: str, keep: Iterable[str]) -> LabClient:
        """Keep only the secrets in ``keep`` (each one of the client's now; at least one)."""
        kept = _strings(keep, "keep", at_least_one=True)
        with self._lock:
            client = self._registered(client_id)
            if not set(kept) <= set(client.secrets):
                raise ValueError(f"keep: names a secret that client {client_id!r} does not have")
            client = dataclasses.replace(client, secrets=tuple(s for s in client.secrets if s in kept))
            self._clients[client_id] = client
        log.info("client %s: secrets retired (%d valid now)", client_id, len(client.secrets))
        return client

    def registered_client(self, client_id: str) -> LabClient:
        """The registration of ``client_id``; KeyError if it is not registered."""
        with self._lock:
            return self._registered(client_id)

    def query_client(self, client_id: str) -> LabClient | None:
        """The client authlib should deal with: the registered one, else an open one (if on)."""
        with self._lock:
            client = self._clients.get(client_id)
        if client is None and self.open_clients and client_id:
            return LabClient(client_id, registered=False)
        return client

    def _registered(self, client_id: str) -> LabClient:
        try:
            return self._clients[client_id]
        except KeyError:
            raise KeyError(f"client {client_id!r} is not registered") from None

    # --- users --------------------------------------------------------------------------------
    def set_user(self, sub: str, claims: Mapping[str, Any]) -> LabUser:
        """Set (replace) the claims of ``sub``'s ID tokens."""
        if not isinstance(claims, Mapping):
            raise ValueError("claims: give a JSON object")
        user = LabUser(sub, dict(claims))
        with self._lock:
            self._users[sub] = user
        return user

    def sign_in(self, sub: str, *, groups: list[str] | None = None, email: str | None = None) -> LabUser:
        """The user as the login form leaves it: its claims, with the groups/email given replaced."""
        with self._lock:
            claims = dict(self._users.get(sub, LabUser(sub)).claims)
            if groups is not None:
                claims["groups"] = groups
            if email is not None:
                claims["email"] = email
            user = self._users[sub] = LabUser(sub, claims)
        return user

    # --- authorization codes ------------------------------------------------------------------
    def save_code(self, code: LabAuthorizationCode) -> None:
        with self._lock:
            self._forget_expired()
            self._codes[code.code] = code

    def take_code(self, code: str, client_id: str) -> LabAuthorizationCode | None:
        """The code, once: a second presentation gets None and revokes the first one's token."""
        now = time.time()
        with self._lock:
            if code in self._spent_codes:
                self._revoke_tokens_from(code)
                log.warning("authorization code replayed by client %s: refused, its access token "
                            "revoked", client_id)
                return None
            item = self._codes.pop(code, None)
            if item is None:
                return None
            self._spent_codes[code] = item.expires_at + self.code_lifetime
            if item.client_id != client_id or item.expires_at <= now:
                return None
            return item

    # --- access tokens ------------------------------------------------------------------------
    def save_token(self, token: LabAccessToken) -> None:
        with self._lock:
            self._tokens[token.access_token] = token

    def access_token(self, access_token: str) -> LabAccessToken | None:
        with self._lock:
            return self._tokens.get(access_token)

    def _revoke_tokens_from(self, code: str) -> None:
        for key, token in self._tokens.items():
            if token.from_code == code:
                self._tokens[key] = dataclasses.replace(token, revoked=True)

    def _forget_expired(self) -> None:
        now = time.time()
        self._codes = {k: c for k, c in self._codes.items() if c.expires_at > now}
        self._spent_codes = {k: t for k, t in self._spent_codes.items() if t > now}
        self._tokens = {k: t for k, t in self._tokens.items() if not t.is_expired()}

    # --- logouts ------------------------------------------------------------------------------
    def record_logout(self, client_id: str | None, sub: str | None, redirected_to: str | None) -> None:
        with self._lock:
            self._logouts.append(Logout(client_id, sub, redirected_to, time.time()))
        log.info("logout: client %s, subject %s", client_id or "-", sub or "-")

    def logouts(self) -> list[Logout]:
        with self._lock:
            return list(self._logouts)
