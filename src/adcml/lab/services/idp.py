"""The lab IdP: an OpenID Connect provider on loopback for the lab ADC and the tests.

The provider is ``oidc-provider-mock`` (a maintained Flask + authlib OpenID provider); adcml
adds no signing code. ``LabIdP`` serves it with werkzeug in a background thread (tests);
``python -m adcml.lab.services.idp --listen 127.0.0.1:PORT`` serves it in the foreground
(``adcml lab``).

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

import argparse
import ipaddress
import logging
import secrets
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import authlib.deprecate  # noqa: F401  (installs authlib's "always" filter before ours below)
import httpx
import werkzeug.serving

with warnings.catch_warnings():
    # authlib warns about its own deprecated modules, which the provider still imports.
    warnings.simplefilter("ignore", DeprecationWarning)
    import oidc_provider_mock

log = logging.getLogger("adcml.lab.idp")

DEFAULT_AUDIENCE = "adcml-lab"
DEFAULT_LIFETIME = timedelta(hours=1)
CLIENT_SECRET = "lab-secret"  # the provider accepts any secret for unregistered clients
REDIRECT_URI = "http://127.0.0.1/callback"  # never followed: the code is read from Location


class IdPError(RuntimeError):
    """The provider refused a step of the token flow (the message names the step)."""


def _seconds(value: timedelta | float) -> int:
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
        claims: dict[str, Any] = {"groups": list(groups), "nbf": now + _seconds(not_before_offset)}
        if lifetime is not None:
            claims.update(iat=now, exp=now + _seconds(lifetime))
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


class _FixedHost:
    """WSGI middleware: present every request as addressed to ``host``.

    The provider derives ``iss`` and its endpoint URLs from the request's Host; a real IdP has
    one issuer, so the lab's must not change with the name a caller happened to use.
    """

    def __init__(self, app: Any, host: str):
        self.app, self.host = app, host

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["HTTP_HOST"] = self.host
        return self.app(environ, start_response)


class _QuietHandler(werkzeug.serving.WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        log.debug("%s %s", self.requestline, code)


def _loopback(host: str) -> str:
    try:
        if ipaddress.IPv4Address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"host {host!r}: the lab IdP listens on IPv4 loopback only; use 127.0.0.1")


def _make_server(host: str, port: int, token_lifetime: timedelta,
                 handler: type[werkzeug.serving.WSGIRequestHandler] | None = None,
                 ) -> werkzeug.serving.BaseWSGIServer:
    provider = oidc_provider_mock.app(access_token_max_age=token_lifetime)
    server = werkzeug.serving.make_server(_loopback(host), port, provider, threaded=True,
                                          request_handler=handler)
    provider.wsgi_app = _FixedHost(provider.wsgi_app, f"{host}:{server.server_port}")
    return server


class LabIdP(LabIdPClient):
    """The lab OpenID provider on ``host:port`` (port 0: a free one), served from a thread.

    Use as a context manager, or ``start()`` / ``stop()``. ``issuer`` is known once started.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 token_lifetime: timedelta | float = DEFAULT_LIFETIME):
        super().__init__("")
        self.host, self.port = _loopback(host), port
        self.token_lifetime = timedelta(seconds=_seconds(token_lifetime))
        self._server: werkzeug.serving.BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        if self._server is None:
            raise RuntimeError("LabIdP is not running; call start() or use it as a context manager")
        return self._issuer

    def start(self) -> LabIdP:
        if self._server is None:
            self._server = _make_server(self.host, self.port, self.token_lifetime, _QuietHandler)
            self.port = self._server.server_port
            self._issuer = f"http://{self.host}:{self.port}"
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={
                "poll_interval": 0.1}, name=f"lab-idp-{self.port}", daemon=True)
            self._thread.start()
            log.info("lab IdP at %s", self._issuer)
        return self

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is None:
            return
        server.shutdown()
        if thread is not None:
            thread.join(5)
        server.server_close()

    def __enter__(self) -> LabIdP:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the lab IdP in the foreground until interrupted; print the issuer first."""
    parser = argparse.ArgumentParser(prog="python -m adcml.lab.services.idp",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                        help="loopback address and port (port 0: a free one)")
    parser.add_argument("--token-lifetime", type=int, default=_seconds(DEFAULT_LIFETIME),
                        metavar="SECONDS", help="lifetime of tokens the provider issues")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        parser.error(f"--listen {args.listen!r}: give HOST:PORT, e.g. 127.0.0.1:9400")
    try:
        server = _make_server(host, int(port), timedelta(seconds=args.token_lifetime))
    except (ValueError, OSError) as exc:
        parser.error(f"--listen {args.listen}: {exc}")
    print(f"http://{host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
