"""The lab IdP: an OpenID Connect provider on loopback for the lab ADC and the tests.

The provider is adcml's own, small, on authlib's server API (``idp_app``: the authorization-code
flow with PKCE, client authentication, ID tokens, userinfo, RP-initiated logout) with its state
in memory (``idp_store``). ``LabIdP`` serves it with werkzeug in a background thread (tests);
``python -m adcml.lab.services.idp --listen 127.0.0.1:PORT`` serves it in the foreground
(``adcml lab``). Tokens come from it through ``idp_client.LabIdPClient``, which ``LabIdP`` is
too (the flow and the claims it sets are described there); ``LabIdP`` runs the lab API
(clients, secrets, users, logouts) in-process, ``LabIdPClient`` over HTTP.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import werkzeug.serving
from joserfc.jwk import RSAKey

from adcml.lab.services.idp_app import ALGORITHM, ProviderConfig, create_app
from adcml.lab.services.idp_client import LabIdPClient, as_seconds
from adcml.lab.services.idp_store import IdPStore

log = logging.getLogger("adcml.lab.idp")

DEFAULT_LIFETIME = timedelta(hours=1)


class _FixedHost:
    """WSGI middleware: present every request as addressed to ``host`` over plain http.

    A real IdP has one issuer, so the lab's must not change with the name a caller happened to
    use; authlib also refuses a request URL that is neither https nor loopback.
    """

    def __init__(self, app: Any, host: str):
        self.app, self.host = app, host

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["HTTP_HOST"] = self.host
        environ["wsgi.url_scheme"] = "http"
        return self.app(environ, start_response)


def _starting(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The WSGI app of a server not yet given its provider (it needs the bound port first)."""
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting\n"]


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


def _signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"use": "sig", "alg": ALGORITHM}, private=True,
                               auto_kid=True)


def _make_server(host: str, port: int, store: IdPStore, token_lifetime: timedelta,
                 handler: type[werkzeug.serving.WSGIRequestHandler] | None = None,
                 ) -> tuple[werkzeug.serving.BaseWSGIServer, str]:
    """A server bound to ``host:port`` with a new signing key, and its issuer."""
    server = werkzeug.serving.make_server(_loopback(host), port, _starting, threaded=True,
                                          request_handler=handler)
    netloc = f"{host}:{server.server_port}"
    config = ProviderConfig(f"http://{netloc}", _signing_key(), as_seconds(token_lifetime))
    server.app = _FixedHost(create_app(store, config), netloc)
    return server, config.issuer


class LabIdP(LabIdPClient):
    """The lab OpenID provider on ``host:port`` (port 0: a free one), served from a thread.

    Use as a context manager, or ``start()`` / ``stop()``. ``issuer`` is known once started.
    Clients and users outlive a restart; the signing key is new at each start.
    ``open_clients=False``: an unregistered client id is refused (``invalid_client``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 token_lifetime: timedelta | float = DEFAULT_LIFETIME, open_clients: bool = True):
        super().__init__("")
        self.host, self.port = _loopback(host), port
        self.token_lifetime = timedelta(seconds=as_seconds(token_lifetime))
        self.store = IdPStore(open_clients=open_clients)
        self._server: werkzeug.serving.BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def issuer(self) -> str:
        if self._server is None:
            raise RuntimeError("LabIdP is not running; call start() or use it as a context manager")
        return self._issuer

    def start(self) -> LabIdP:
        if self._server is None:
            self._server, self._issuer = _make_server(self.host, self.port, self.store,
                                                      self.token_lifetime, _QuietHandler)
            self.port = self._server.server_port
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

    # --- the lab API, in-process (LabIdPClient has the same over HTTP) -------------------------
    def set_user(self, subject: str, claims: Mapping[str, Any]) -> None:
        self.store.set_user(subject, claims)

    def register_client(self, client_id: str, secrets: Iterable[str], redirect_uris: Iterable[str],
                        post_logout_redirect_uris: Iterable[str] = (), require_pkce: bool = False,
                        ) -> None:
        self.store.register_client(client_id, secrets, redirect_uris, post_logout_redirect_uris,
                                   require_pkce)

    def rotate_secret(self, client_id: str, new_secret: str) -> None:
        self.store.rotate_secret(client_id, new_secret)

    def retire_secrets(self, client_id: str, keep: Iterable[str]) -> None:
        self.store.retire_secrets(client_id, keep)

    def client_registration(self, client_id: str) -> dict[str, Any]:
        return self.store.registered_client(client_id).public_view()

    def logouts(self) -> list[dict[str, Any]]:
        return [logout.as_dict() for logout in self.store.logouts()]


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the lab IdP in the foreground until interrupted; print the issuer first."""
    parser = argparse.ArgumentParser(prog="python -m adcml.lab.services.idp",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                        help="loopback address and port (port 0: a free one)")
    parser.add_argument("--token-lifetime", type=int, default=as_seconds(DEFAULT_LIFETIME),
                        metavar="SECONDS", help="lifetime of tokens the provider issues")
    parser.add_argument("--open-clients", action=argparse.BooleanOptionalAction, default=True,
                        help="accept unregistered client ids with any secret and loopback redirect "
                             "URIs (default); --no-open-clients refuses them")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit():
        parser.error(f"--listen {args.listen!r}: give HOST:PORT, e.g. 127.0.0.1:9400")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = IdPStore(open_clients=args.open_clients)
    try:
        server, issuer = _make_server(host, int(port), store, timedelta(seconds=args.token_lifetime))
    except (ValueError, OSError) as exc:
        parser.error(f"--listen {args.listen}: {exc}")
    print(issuer, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()


__all__ = ["DEFAULT_LIFETIME", "LabIdP", "main"]
