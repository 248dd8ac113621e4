"""The lab IdP's web application: an OpenID provider on authlib's server API, served by Flask.

authlib does the protocol (authorization-code grant, client authentication, PKCE, ID token
signing with joserfc, userinfo, RP-initiated logout); this module supplies what authlib leaves to
its user: the storage (``idp_store``), the claims, the login page and the routes.

OpenID endpoints (every URL under the fixed issuer):

- ``GET /.well-known/openid-configuration``, ``GET /jwks`` (one RS256 key, with its ``kid``);
- ``GET /oauth2/authorize``: the login page; ``POST`` (form ``sub``, ``groups``, ``email``, or
  ``action=deny``) signs in and redirects to the client with ``code`` and ``state``;
- ``POST /oauth2/token``: ``grant_type=authorization_code``, client_secret_basic or _post;
- ``GET|POST /userinfo`` (Bearer access token); ``GET|POST /oauth2/end_session`` (logout).

Lab endpoints (loopback, unauthenticated: it is a test provider): ``PUT /users/<sub>`` (claims),
``PUT|GET /lab/clients/<id>``, ``POST /lab/clients/<id>/secrets`` (rotate),
``POST /lab/clients/<id>/secrets/retire``, ``GET /lab/logouts``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import flask
from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode, UserInfoEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc.jwk import KeySet, RSAKey

from adcml.lab.services.idp_store import (
    AUTH_METHODS,
    SCOPES,
    IdPStore,
    LabAccessToken,
    LabAuthorizationCode,
    LabClient,
    LabUser,
)

log = logging.getLogger("adcml.lab.idp")

ALGORITHM = "RS256"
# Claims that shape a token (LabIdPClient sends them as user claims): not the user's profile.
TOKEN_SHAPING_CLAIMS = frozenset({"iss", "aud", "exp", "nbf", "iat", "jti", "auth_time", "nonce"})


@dataclass(frozen=True)
class ProviderConfig:
    """What the provider signs with and states: its issuer, key and token lifetime (seconds)."""

    issuer: str
    key: RSAKey
    token_lifetime: int


def create_app(store: IdPStore, config: ProviderConfig) -> flask.Flask:
    """The provider for ``config.issuer``, keeping its state in ``store``."""
    app = flask.Flask(__name__)
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": config.token_lifetime}
    server = AuthorizationServer(app, query_client=store.query_client,
                                 save_token=_token_saver(store, config))
    server.register_grant(_code_grant(store), [_IDToken(config), _S256Challenge()])
    server.register_endpoint(_UserInfo(resource_protector=_bearer_protector(store)))
    server.register_endpoint(_EndSession(store, config))
    _add_openid_routes(app, server, store, config)
    _add_lab_routes(app, store)
    return app


# --- authlib: grant, extensions, endpoints --------------------------------------------------------
def _token_saver(store: IdPStore, config: ProviderConfig) -> Callable[[dict[str, Any], Any], None]:
    def save_token(token: dict[str, Any], request: Any) -> None:
        code = request.authorization_code
        store.save_token(LabAccessToken(
            token["access_token"], request.client, request.user, token.get("scope", ""),
            time.time() + token.get("expires_in", config.token_lifetime),
            from_code=code.code if code is not None else None))
    return save_token


def _code_grant(store: IdPStore) -> type[grants.AuthorizationCodeGrant]:
    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

        def save_authorization_code(self, code: str, request: Any) -> None:
            data, now = request.payload.data, time.time()
            store.save_code(LabAuthorizationCode(
                code, request.client.get_client_id(), request.payload.redirect_uri, request.scope,
                request.user, data.get("nonce"), data.get("code_challenge"),
                data.get("code_challenge_method"), int(now), now + store.code_lifetime))

        def query_authorization_code(self, code: str, client: LabClient) -> LabAuthorizationCode | None:
            return store.take_code(code, client.get_client_id())

        def delete_authorization_code(self, authorization_code: LabAuthorizationCode) -> None:
            pass  # take_code already made it single-use

        def authenticate_user(self, authorization_code: LabAuthorizationCode) -> LabUser:
            return authorization_code.user

        def authenticate_token_endpoint_client(self) -> LabClient:
            try:
                return super().authenticate_token_endpoint_client()
            except InvalidClientError:
                client_id, method = _presented_client()
                log.warning("token endpoint: client %r refused (%s): wrong or missing secret, or "
                            "unknown client", client_id, method)
                raise

    return CodeGrant


def _presented_client() -> tuple[str | None, str]:
    """The client id a token request presented, and how: never the secret."""
    request = flask.request
    if request.authorization is not None and request.authorization.type == "basic":
        return request.authorization.username, "client_secret_basic"
    if request.form.get("client_secret"):
        return request.form.get("client_id"), "client_secret_post"
    return request.form.get("client_id"), "no secret"


class _IDToken(OpenIDCode):
    """ID tokens: RS256 with the provider's key; the user's claims are added last and win."""

    def __init__(self, config: ProviderConfig):
        super().__init__(require_nonce=False)
        self.config = config

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return False  # a replayed nonce is the relying party's to notice

    def resolve_client_private_key(self, client: LabClient) -> RSAKey:
        return self.config.key

    def get_client_algorithm(self, client: LabClient) -> str:
        return ALGORITHM

    def get_encode_header(self, client: LabClient) -> dict[str, Any]:
        return {"alg": ALGORITHM, "kid": self.config.key.kid}

    def get_client_claims(self, client: LabClient) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.config.issuer, "aud": [client.get_client_id()], "iat": now,
                "exp": now + self.config.token_lifetime}

    def generate_user_info(self, user: LabUser, scope: str) -> dict[str, Any]:
        return {**user.claims, "sub": user.sub}


class _S256Challenge(CodeChallenge):
    """PKCE with S256 only; required of clients registered with ``require_pkce``."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        super().validate_code_challenge(grant, redirect_uri)
        data = grant.request.payload.data
        if data.get("code_challenge") and data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE: give code_challenge_method=S256 (plain is not supported)")
        if grant.request.client.require_pkce and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required of this client: give an S256 code_challenge")

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        code = grant.request.authorization_code
        if grant.request.client.require_pkce and not code.code_challenge:
            raise InvalidRequestError("PKCE is required of this client: the code has no challenge")
        super().validate_code_verifier(grant, result)


class _BearerTokens(BearerTokenValidator):
    def __init__(self, store: IdPStore):
        super().__init__()
        self.store = store

    def authenticate_token(self, token_string: str) -> LabAccessToken | None:
        return self.store.access_token(token_string)


def _bearer_protector(store: IdPStore) -> ResourceProtector:
    protector = ResourceProtector()
    protector.register_token_validator(_BearerTokens(store))
    return protector


class _UserInfo(UserInfoEndpoint):
    def generate_user_info(self, user: LabUser, scope: str) -> dict[str, Any]:
        profile = {k: v for k, v in user.claims.items() if k not in TOKEN_SHAPING_CLAIMS}
        return {**profile, "sub": user.sub}


class _EndSession(EndSessionEndpoint):
    """RP-initiated logout: redirects only to a URI registered for the client, with ``state``."""

    def __init__(self, store: IdPStore, config: ProviderConfig):
        super().__init__()
        self.store, self.config = store, config

    def get_server_jwks(self) -> KeySet:
        return KeySet([self.config.key])

    def get_algorithms(self) -> list[str]:
        return [ALGORITHM]

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> LabClient | None:
        aud = id_token_claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        return self.server.query_client(audiences[0]) if len(audiences) == 1 else None

    def is_post_logout_redirect_uri_legitimate(self, request: Any, post_logout_redirect_uri: str,
                                                client: LabClient, logout_hint: str | None) -> bool:
        # Reached only for a URI registered to the client; the lab keeps no sessions to ask.
        return True

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        claims = end_session_request.id_token_claims or {}
        client = end_session_request.client
        self.store.record_logout(client.get_client_id() if client else None, claims.get("sub"),
                                 end_session_request.redirect_uri)


# --- OpenID routes ------------------------------------------------------------------------------
def _add_openid_routes(app: flask.Flask, server: AuthorizationServer, store: IdPStore,
                       config: ProviderConfig) -> None:
    @app.get("/.well-known/openid-configuration")
    def discovery() -> flask.Response:
        return flask.jsonify(_discovery_document(config.issuer))

    @app.get("/jwks")
    def jwks() -> flask.Response:
        return flask.jsonify(KeySet([config.key]).as_dict(private=False))

    @app.route("/oauth2/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        try:
            grant = server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _authorization_refused(server, error)
        if flask.request.method == "GET":
            return _login_page(grant.client.get_client_id(), grant.request.scope)
        form = flask.request.form
        if form.get("action") == "deny":
            return server.create_authorization_response(grant_user=None, grant=grant)
        sub = form.get("sub", "").strip()
        if not sub:
            return _login_page(grant.client.get_client_id(), grant.request.scope,
                               problem="Give a user (sub).", status=400)
        user = store.sign_in(sub, groups=_groups(form.get("groups", "")),
                             email=form.get("email", "").strip() or None)
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/oauth2/token")
    def token() -> flask.Response:
        return server.create_token_response()

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> flask.Response:
        return server.create_endpoint_response("userinfo")

    @app.route("/oauth2/end_session", methods=["GET", "POST"])
    def end_session() -> Any:
        try:
            request = server.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            log.warning("logout refused: %s", error.description)
            return _message_page("Logout refused", error.description or error.error, 400)
        asked = flask.request.values.get("post_logout_redirect_uri")
        if asked and request.redirect_uri is None:
            log.warning("logout refused: post_logout_redirect_uri %r is not registered for the client",
                        asked)
            return _message_page("Logout refused", "post_logout_redirect_uri is not registered for "
                                 "the client (named by client_id or id_token_hint).", 400)
        return (server.create_endpoint_response("end_session", request)
                or _message_page("Signed out", "You are signed out of the lab IdP.", 200))


def _discovery_document(issuer: str) -> dict[str, Any]:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "end_session_endpoint": f"{issuer}/oauth2/end_session",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "scopes_supported": list(SCOPES),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        "claims_parameter_supported": False,
    }


def _authorization_refused(server: AuthorizationServer, error: OAuth2Error) -> Any:
    """Back to the client with the error when its redirect URI was validated; else a page."""
    if error.redirect_uri:
        return server.handle_error_response(None, error)
    log.warning("authorization request refused (no redirect): %s: %s", error.error, error.description)
    return _message_page("Authorization refused", f"{error.error}: {error.description}", 400)


def _groups(text: str) -> list[str] | None:
    """Groups typed in the form (comma- or space-separated); None when left empty."""
    groups = [g for g in re.split(r"[,\s]+", text) if g]
    return groups or None


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lab IdP sign-in</title></head>
<body style="font-family:sans-serif;max-width:34rem;margin:2rem auto">
<h1>Lab IdP sign-in</h1>
<p>Client <code>{{ client_id }}</code> asks for <code>{{ scope }}</code>.
No password: this is the lab's test provider.</p>
{% if problem %}<p id="problem" style="color:#b00">{{ problem }}</p>{% endif %}
<form method="post" id="login">
  <p><label>User (sub) <input id="sub" type="text" name="sub" required autofocus></label></p>
  <p><label>Groups <input id="groups" type="text" name="groups" placeholder="ml-trusted, ops"></label>
     (comma-separated; empty: the user's groups as set before)</p>
  <p><label>Email <input id="email" type="email" name="email"></label></p>
  <button id="authorize" type="submit">Sign in</button>
  <button id="deny" type="submit" name="action" value="deny" formnovalidate>Deny</button>
</form></body></html>"""

MESSAGE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family:sans-serif;max-width:34rem;margin:2rem auto">
<h1 id="title">{{ title }}</h1><p id="message">{{ message }}</p></body></html>"""


def _login_page(client_id: str, scope: str | None, *, problem: str = "", status: int = 200,
                ) -> tuple[str, int]:
    return flask.render_template_string(LOGIN_PAGE, client_id=client_id, scope=scope or "",
                                        problem=problem), status


def _message_page(title: str, message: str, status: int) -> tuple[str, int]:
    return flask.render_template_string(MESSAGE_PAGE, title=title, message=message), status


# --- lab routes ---------------------------------------------------------------------------------
def _add_lab_routes(app: flask.Flask, store: IdPStore) -> None:
    @app.put("/users/<path:sub>")
    def put_user(sub: str) -> Any:
        return _admin(lambda body: store.set_user(sub, body))

    @app.put("/lab/clients/<client_id>")
    def put_client(client_id: str) -> Any:
        return _admin(lambda body: store.register_client(
            client_id, body.get("secrets", ()), body.get("redirect_uris", ()),
            body.get("post_logout_redirect_uris", ()), body.get("require_pkce", False)))

    @app.get("/lab/clients/<client_id>")
    def get_client(client_id: str) -> Any:
        try:
            return flask.jsonify(store.registered_client(client_id).public_view())
        except KeyError as exc:
            return _problem(404, exc.args[0])

    @app.post("/lab/clients/<client_id>/secrets")
    def rotate_secret(client_id: str) -> Any:
        return _admin(lambda body: store.rotate_secret(client_id, body.get("secret")))

    @app.post("/lab/clients/<client_id>/secrets/retire")
    def retire_secrets(client_id: str) -> Any:
        return _admin(lambda body: store.retire_secrets(client_id, body.get("keep", ())))

    @app.get("/lab/logouts")
    def logouts() -> flask.Response:
        return flask.jsonify([logout.as_dict() for logout in store.logouts()])


def _admin(change: Callable[[dict[str, Any]], object]) -> Any:
    """Apply a change from a JSON object body: 204, or 400/404 with ``{"error": ...}``."""
    body = flask.request.get_json(silent=True)
    if not isinstance(body, dict):
        return _problem(400, "give a JSON object")
    try:
        change(body)
    except KeyError as exc:
        return _problem(404, exc.args[0])
    except ValueError as exc:
        return _problem(400, str(exc))
    return "", 204


def _problem(status: int, message: str) -> tuple[flask.Response, int]:
    return flask.jsonify({"error": message}), status
