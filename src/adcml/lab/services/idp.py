"""The lab IdP: an OpenID Connect provider on loopback for the lab ADC and the tests.

The provider is ``oidc-provider-mock`` (a maintained Flask + authlib OpenID provider); adcml
adds no signing code. ``LabIdP`` serves it with werkzeug in a background thread (tests);
``python -m adcml.lab.services.idp --listen 127.0.0.1:PORT`` serves it in the foreground
(``adcml lab``). Tokens come from it through ``idp_client.LabIdPClient``, which ``LabIdP`` is
too (the flow and the claims it sets are described there).
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import threading
import warnings
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import authlib.deprecate  # noqa: F401  (installs authlib's "always" filter before ours below)
import werkzeug.serving

with warnings.catch_warnings():
    # authlib warns about its own deprecated modules, which the provider still imports.
    warnings.simplefilter("ignore", DeprecationWarning)
    import oidc_provider_mock

from adcml.lab.services.idp_client import LabIdPClient, as_seconds

log = logging.getLogger("adcml.lab.idp")

DEFAULT_LIFETIME = timedelta(hours=1)


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
        self.token_lifetime = timedelta(seconds=as_seconds(token_lifetime))
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
    parser.add_argument("--token-lifetime", type=int, default=as_seconds(DEFAULT_LIFETIME),
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


__all__ = ["DEFAULT_LIFETIME", "LabIdP", "main"]
