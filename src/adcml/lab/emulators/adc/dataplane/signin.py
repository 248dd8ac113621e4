"""Browser sign-in at a TM vserver: NetScaler's AAA-TM "forms" mode with an OIDC
authorization-code flow (docs/lab-dataplane.md, "Browser sign-in").

A vserver (CS or LB) with ``authentication ON``, ``authn401 OFF`` and an authentication host
(its ``authnprofile``'s ``authenticationhost``, or its own) protects its content:

1. no valid ``NSC_TMAS`` session cookie: ``302`` to ``https://<host>/cgi/tm?<opaque>``; the
   URL first asked for stays here, keyed by the opaque value, for ``login_ttl_s``;
2. ``/cgi/tm`` and ``/oauth/login`` reach the authentication vserver through a CS policy whose
   action has ``targetvserver``; ``/cgi/tm`` sends the browser to the OAuth action's
   ``authorizationendpoint`` with a fresh ``state``, ``nonce`` and PKCE S256 challenge;
3. ``/oauth/login?code&state``: the state must be one issued here, unused and not expired;
   the code is exchanged at ``tokenendpoint`` (client_secret_post or _basic, the verifier), the
   ID token checked as bearer tokens are (``authn.Authenticator``) plus its ``nonce``; a session
   starts and the browser goes to ``/cgi/selfauth?<one-time token>`` on the TM host;
4. ``/cgi/selfauth`` sets ``NSC_TMAS`` and sends the browser to the URL it first asked for;
5. ``/cgi/tmlogout`` ends the session and expires the cookie.

Sessions time out when idle for ``sesstimeout`` minutes (of the first bound ``tmsessionpolicy``
that matches, else ``tmsessionparameter``'s); ``defaultauthorizationaction DENY`` answers 403
to a signed-in user (the lab has no authorization policies). ``SignIns.clock`` and
``SignIns.minute_s`` are there for tests. Refusals are logged by reason, never with a code, a
token or a secret.
"""

from __future__ import annotations

import hashlib
import html
import logging
import secrets
import time
from base64 import urlsafe_b64encode
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from adcml.lab.emulators.adc.dataplane.authn import AuthnSpec, OAuthSpec, TokenRejected, identity_from
from adcml.lab.emulators.adc.dataplane.flow import Flow
from adcml.lab.emulators.adc.models.partition import value
from adcml.policy import evaluate

log = logging.getLogger("adcml.lab.dataplane")
SESSION_COOKIE = "NSC_TMAS"
EXPIRED = "Wed, 09-Nov-1999 23:12:40 GMT"  # what an appliance's logout sets
AUTH_PATHS = ("/cgi/tm", "/oauth/login")
# Scopes asked for beyond "openid": the standard scope that carries each claim the action uses.
CLAIM_SCOPES = {"email": "email", "email_verified": "email", "name": "profile",
                "preferred_username": "profile", "given_name": "profile", "family_name": "profile",
                "groups": "groups"}


# --- compiled config ------------------------------------------------------------------------
@dataclass(frozen=True)
class SessionSettings:
    timeout_min: int
    authorization: str  # ALLOW | DENY
    httponly: bool


@dataclass(frozen=True)
class AuthVserver:
    """An authentication vserver as the sign-in uses it."""

    partition: str
    name: str
    authn: AuthnSpec
    sessions: tuple[tuple[int, Any, SessionSettings], ...]  # bound tmsessionpolicies, in order
    defaults: SessionSettings  # tmsessionparameter
    domain: str | None
    samesite: str | None

    @property
    def key(self) -> tuple[str, str]:
        return self.partition, self.name


@dataclass(frozen=True)
class FormsSpec:
    """A TM vserver that sends browsers to sign in."""

    auth: AuthVserver
    host: str  # authenticationhost
    domain: str | None  # the cookie's Domain


@dataclass(frozen=True)
class AuthRoute:
    priority: int
    policy: str
    rule: Any
    auth: AuthVserver


def compile_auth_vserver(part, name: str, authn: AuthnSpec, compile_rule) -> AuthVserver:
    vs = part.table("authenticationvserver").get((name,), {})
    return AuthVserver(part.name, name, authn, _session_policies(part, name, compile_rule),
                       _global_settings(part), vs.get("authenticationdomain"), vs.get("samesite"))


def compile_forms(part, row: dict, auth: AuthVserver) -> FormsSpec | None:
    """The sign-in of vserver ``row``: None unless ``authentication ON`` without ``authn401``
    and with an authentication host."""
    if row.get("authentication") != "ON" or row.get("authn401") == "ON":
        return None
    profile = part.table("authenticationauthnprofile").get((row.get("authnprofile"),), {})
    host = profile.get("authenticationhost") or row.get("authenticationhost")
    if not host:
        return None
    return FormsSpec(auth, host, profile.get("authenticationdomain") or auth.domain)


def compile_auth_routes(part, vserver: str, authn_of: Callable[[str], AuthnSpec],
                        compile_rule) -> tuple[AuthRoute, ...]:
    """The CS policies of ``vserver`` whose action switches to an authentication vserver."""
    policies, actions = part.table("cspolicy"), part.table("csaction")
    routes = []
    for b in part.table("csvserver_cspolicy_binding").values():
        if b["name"] != vserver or b.get("bindpoint", "REQUEST") != "REQUEST":
            continue
        policy = policies.get((b["policyname"],))
        target = actions.get((policy.get("action"),), {}).get("targetvserver") if policy else None
        if target is None:
            continue
        try:
            rule = compile_rule(policy["rule"])
        except Exception:  # noqa: BLE001 - a rule the engine cannot evaluate never matches
            continue
        auth = compile_auth_vserver(part, target, authn_of(target), compile_rule)
        routes.append(AuthRoute(b.get("priority") or 2**31, b["policyname"], rule, auth))
    return tuple(sorted(routes, key=lambda r: (r.priority, r.policy)))


def _settings(resource: str, row: dict, fallback: SessionSettings | None) -> SessionSettings:
    def get(attr: str):
        found = row.get(attr)
        if found is None and fallback is None:
            found = value(resource, row, attr)
        return found

    timeout = get("sesstimeout")
    authorization = get("defaultauthorizationaction")
    httponly = row.get("httponlycookie", "YES") == "YES"
    if fallback is not None:
        timeout = timeout or fallback.timeout_min
        authorization = authorization or fallback.authorization
    return SessionSettings(int(timeout), authorization, httponly)


def _global_settings(part) -> SessionSettings:
    row = part.table("tmsessionparameter").get(("tmsessionparameter",), {})
    return _settings("tmsessionparameter", row, None)


def _session_policies(part, vserver: str, compile_rule) -> tuple:
    defaults = _global_settings(part)
    out = []
    for b in part.table("authenticationvserver_tmsessionpolicy_binding").values():
        policy = part.table("tmsessionpolicy").get((b["policy"],)) if b["name"] == vserver else None
        action = part.table("tmsessionaction").get((policy["action"],)) if policy else None
        if action is None:
            continue
        try:
            rule = compile_rule(policy["rule"])
        except Exception:  # noqa: BLE001
            continue
        out.append((b.get("priority") or 0, rule, _settings("tmsessionaction", action, defaults)))
    return tuple(sorted(out, key=lambda p: p[0]))


# --- what is remembered between requests ---------------------------------------------------
@dataclass
class _Pending:
    """A browser sent to sign in: where it wanted to go."""

    tm_host: str
    target: str
    created: float


@dataclass
class _Attempt:
    """A login sent to the IdP: what its callback must match."""

    pending: _Pending
    action: str
    nonce: str
    verifier: str | None
    redirect_uri: str
    created: float
    used: bool = False


@dataclass
class Session:
    id: str
    user: str
    attributes: dict[str, Any]
    auth: tuple[str, str]
    settings: SessionSettings
    last_seen: float


@dataclass
class _OneTime:
    session: str
    target: str
    created: float


@dataclass
class SignIns:
    """Pending logins, one-time tokens and sessions of every TM vserver of one data plane."""

    clock: Callable[[], float] = time.monotonic
    minute_s: float = 60.0  # the length of a sesstimeout minute (tests shorten it)
    login_ttl_s: float = 300.0  # a pending login and its state
    one_time_ttl_s: float = 60.0
    pending: dict[str, _Pending] = field(default_factory=dict)
    attempts: dict[str, _Attempt] = field(default_factory=dict)
    one_time: dict[str, _OneTime] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)

    def prune(self) -> None:
        now = self.clock()
        for table, ttl in ((self.pending, self.login_ttl_s), (self.attempts, self.login_ttl_s),
                           (self.one_time, self.one_time_ttl_s)):
            for key in [k for k, v in table.items() if now - v.created > ttl]:
                del table[key]
        for key in [k for k, s in self.sessions.items() if self._idle(s, now)]:
            del self.sessions[key]

    def _idle(self, session: Session, now: float) -> bool:
        return now - session.last_seen > session.settings.timeout_min * self.minute_s

    # --- the TM vserver -------------------------------------------------------------------
    async def guard(self, flow: Flow, forms: FormsSpec) -> web.StreamResponse | None:
        """None when the request goes on as a signed-in user's; else the lab's answer."""
        path = flow.request.path
        if path == "/cgi/selfauth":
            return self._selfauth(flow, forms)
        if path == "/cgi/tmlogout":
            return self._logout(flow, forms.domain)
        session = self._session_of(flow, forms)
        if session is None:
            return self._to_login(flow, forms)
        flow.user, flow.attributes = session.user, session.attributes
        flow.record.user = session.user
        flow.invalidate()
        if session.settings.authorization != "ALLOW":
            return _refuse(flow, 403, "Forbidden", "authorization: DENY (defaultauthorizationaction; "
                           "no authorization policy)")
        return None

    def _session_of(self, flow: Flow, forms: FormsSpec) -> Session | None:
        sid = flow.request.cookies.get(SESSION_COOKIE)
        if not sid:
            return None
        session = self.sessions.get(sid)
        now = self.clock()
        if session is None or session.auth != forms.auth.key:
            _audit(flow, "session cookie unknown (tampered, ended or another vserver's)")
            return None
        if self._idle(session, now):
            del self.sessions[sid]
            _audit(flow, f"session of {session.user} ended: idle timeout")
            return None
        session.last_seen = now
        return session

    def _to_login(self, flow: Flow, forms: FormsSpec) -> web.StreamResponse:
        self.prune()
        request = flow.request
        tm_host = request.headers.get("Host") or forms.host
        opaque = secrets.token_hex(16)
        self.pending[opaque] = _Pending(tm_host, request.raw_path, self.clock())
        location = f"https://{forms.host}{_port_of(tm_host)}/cgi/tm?{opaque}"
        flow.record.note = "sign-in: no session, sent to /cgi/tm"
        body = (f'<html><body><script>location.replace("{html.escape(location)}")</script>'
                f'<a href="{html.escape(location)}">Sign in</a></body></html>\n')
        return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"},
                            text=body, content_type="text/html")

    def _selfauth(self, flow: Flow, forms: FormsSpec) -> web.StreamResponse:
        entry = self.one_time.pop(flow.request.query_string, None)
        if entry is None or self.clock() - entry.created > self.one_time_ttl_s:
            return _refuse(flow, 400, "Sign-in failed", "selfauth: unknown, used or expired one-time token")
        session = self.sessions.get(entry.session)
        if session is None or session.auth != forms.auth.key:
            return _refuse(flow, 400, "Sign-in failed", "selfauth: no such session for this vserver")
        session.last_seen = self.clock()
        flow.record.user = session.user
        flow.record.note = "sign-in: session cookie set"
        response = web.Response(status=302, headers={"Location": entry.target,
                                                     "Cache-Control": "no-store"})
        response.headers.add("Set-Cookie", _cookie(session.id, forms, session.settings.httponly))
        return response

    def _logout(self, flow: Flow, domain: str | None) -> web.StreamResponse:
        session = self.sessions.pop(flow.request.cookies.get(SESSION_COOKIE, ""), None)
        if session is not None:
            flow.record.user = session.user
            _audit(flow, f"session of {session.user} ended: logout")
        flow.record.note = "sign-in: logout"
        response = _page(200, "Logged out", "You are logged out.")
        expired = f"{SESSION_COOKIE}=xyz; expires={EXPIRED}; Path=/"
        if domain:
            expired += f"; Domain={domain}"
        response.headers.add("Set-Cookie", expired)
        return response

    # --- the authentication vserver ---------------------------------------------------------
    async def serve(self, flow: Flow, auth: AuthVserver) -> web.StreamResponse:
        flow.touched.append(("authenticationvserver", auth.name))
        flow.record.target = auth.name
        if not auth.authn.enabled:
            return _refuse(flow, 503, "Service Unavailable", f"authentication vserver {auth.name} disabled")
        path = flow.request.path
        if path == "/cgi/tm":
            return self._start(flow, auth)
        if path == "/oauth/login":
            return await self._callback(flow, auth)
        if path == "/cgi/tmlogout":  # a CS rule STARTSWITH("/cgi/tm") sends it here too
            return self._logout(flow, auth.domain)
        return _refuse(flow, 404, "Not Found", "authentication vserver: no such page")

    def _start(self, flow: Flow, auth: AuthVserver) -> web.StreamResponse:
        self.prune()
        pending = self.pending.pop(flow.request.query_string, None)
        if pending is None:
            return _refuse(flow, 400, "Sign-in failed", "/cgi/tm: unknown or expired login")
        action = self._action(flow, auth)
        if action is None:
            return _refuse(flow, 503, "Service Unavailable",
                           f"no authentication policy of {auth.name} with an authorizationendpoint matched")
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48) if action.pkce else None
        redirect_uri = f"https://{flow.request.headers.get('Host', '')}/oauth/login"
        self.attempts[state] = _Attempt(pending, action.name, nonce, verifier, redirect_uri, self.clock())
        params = {"response_type": "code", "client_id": action.clientid or "",
                  "redirect_uri": redirect_uri, "scope": _scope(action), "state": state, "nonce": nonce}
        if verifier:
            params |= {"code_challenge": _s256(verifier), "code_challenge_method": "S256"}
        endpoint = action.authorizationendpoint
        location = f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"
        flow.record.note = f"sign-in: sent to the IdP ({action.name})"
        return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    def _action(self, flow: Flow, auth: AuthVserver) -> OAuthSpec | None:
        ctx = flow.context()
        for _priority, rule, action in auth.authn.policies:
            if action.authorizationendpoint and evaluate(rule, ctx):
                return action
        return None

    async def _callback(self, flow: Flow, auth: AuthVserver) -> web.StreamResponse:
        query = flow.request.query
        attempt = self.attempts.get(query.get("state", ""))
        if attempt is None:
            return _refuse(flow, 400, "Sign-in failed", "/oauth/login: unknown state")
        if attempt.used:
            return _refuse(flow, 400, "Sign-in failed", "/oauth/login: state already used")
        attempt.used = True
        if self.clock() - attempt.created > self.login_ttl_s:
            return _refuse(flow, 400, "Sign-in failed", "/oauth/login: state expired")
        if "error" in query:
            reason = f"/oauth/login: the IdP answered {query['error'][:64]}"
            return _refuse(flow, 401, "Sign-in failed", reason)
        action = next((a for _p, _r, a in auth.authn.policies if a.name == attempt.action), None)
        if action is None or not query.get("code") or not action.tokenendpoint:
            return _refuse(flow, 400, "Sign-in failed", "/oauth/login: no code, or the action is gone")
        try:
            claims = await self._exchange(flow, action, attempt, query["code"])
            if claims.get("nonce") != attempt.nonce:
                raise TokenRejected("id token: nonce does not match the login's")
            identity = identity_from(action, claims)
        except TokenRejected as exc:
            return _refuse(flow, 401, "Sign-in failed", f"/oauth/login: {exc.reason}")
        flow.user, flow.attributes = identity.user, identity.attributes
        flow.record.user = identity.user
        flow.invalidate()
        session = Session(secrets.token_hex(16), identity.user, identity.attributes, auth.key,
                          self._settings_for(flow, auth), self.clock())
        self.sessions[session.id] = session
        one_time = secrets.token_urlsafe(24)
        self.one_time[one_time] = _OneTime(session.id, attempt.pending.target, self.clock())
        _audit(flow, f"session of {identity.user} started ({action.name})")
        flow.record.note = "sign-in: signed in, sent to /cgi/selfauth"
        location = f"https://{attempt.pending.tm_host}/cgi/selfauth?{one_time}"
        return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})

    async def _exchange(self, flow: Flow, action: OAuthSpec, attempt: _Attempt, code: str) -> dict:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": attempt.redirect_uri}
        if attempt.verifier:
            form["code_verifier"] = attempt.verifier
        basic = None
        if action.client_auth == "client_secret_basic":
            basic = (action.clientid or "", action.clientsecret or "")
        else:
            form |= {"client_id": action.clientid or "", "client_secret": action.clientsecret or ""}
        try:
            status, answer = await flow.authenticator.post_form(action.tokenendpoint, form, basic)
        except Exception as exc:  # noqa: BLE001 - unreachable, refused, timed out: no session
            raise TokenRejected(f"token endpoint unreachable ({type(exc).__name__})") from None
        if status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise TokenRejected(f"token endpoint refused the code (HTTP {status}, {str(error)[:64]})")
        if not isinstance(answer.get("id_token"), str):
            raise TokenRejected("token endpoint answered no id_token")
        audience = action.audience or action.clientid
        return await flow.authenticator.verified_claims(action, answer["id_token"], audience)

    def _settings_for(self, flow: Flow, auth: AuthVserver) -> SessionSettings:
        ctx = flow.context()
        for _priority, rule, settings in auth.sessions:
            if evaluate(rule, ctx):
                return settings
        return auth.defaults


# --- helpers --------------------------------------------------------------------------------
def _scope(action: OAuthSpec) -> str:
    scopes = ["openid"]
    for claim in (action.usernamefield, *action.attributes):
        scope = CLAIM_SCOPES.get(claim)
        if scope and scope not in scopes:
            scopes.append(scope)
    return " ".join(scopes)


def _s256(verifier: str) -> str:
    return urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _port_of(host: str) -> str:
    """The ``:port`` of a Host header value (an appliance's 443 needs none), or ""."""
    name, colon, port = host.rpartition(":")
    return f":{port}" if colon and name and port.isdigit() and not name.endswith(":") else ""


def _cookie(session_id: str, forms: FormsSpec, httponly: bool) -> str:
    parts = [f"{SESSION_COOKIE}={session_id}", "Secure"]
    if httponly:
        parts.append("HttpOnly")
    parts.append("Path=/")
    if forms.domain:
        parts.append(f"Domain={forms.domain}")
    if forms.auth.samesite:
        parts.append(f"SameSite={forms.auth.samesite.capitalize()}")
    return "; ".join(parts)


def _page(status: int, title: str, text: str) -> web.Response:
    body = (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>\n")
    return web.Response(status=status, text=body, content_type="text/html",
                        headers={"Cache-Control": "no-store"})


def _refuse(flow: Flow, status: int, title: str, reason: str) -> web.Response:
    """A refusal page; the reason goes to the access and audit lines, not to the browser."""
    flow.record.note = f"sign-in refused: {reason}"
    flow.lab_answered = True
    _audit(flow, f"refused: {reason}")
    return _page(status, title, "The sign-in could not be completed. Please start again.")


def _audit(flow: Flow, text: str) -> None:
    flow.access.message(f"signin vserver={flow.record.vserver} client={flow.client_ip} {text}")
    log.info("data plane: sign-in at %s: %s", flow.record.vserver, text)
