"""The NITRO session: authentication, retries and the single I/O seam, one layer per method.

    _request                  build, send, collect warnings, raise for error envelopes
    └── _send_handling_auth   lazy login, cookie or X-NITRO-* headers, one re-login on 444/1026/1027
        └── _send_handling_retries   backoff on connect failures, 503 and errorcode 293
            └── _send         the only method that does I/O (counts, times and logs it)
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import time
from collections.abc import Callable, Mapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from adcml.nitro.encoding import format_value
from adcml.nitro.envelope import NitroWarning, Reply, parse_warnings, raise_for_reply
from adcml.nitro.errors import (
    InvalidRequest,
    NitroAPIError,
    NitroError,
    NitroTransportError,
    SessionExpired,
)
from adcml.nitro.redact import redact, redact_headers, redact_text, secret_values
from adcml.nitro.settings import AuthMode, Settings
from adcml.resources.errorcodes import ErrorCode
from adcml.secret import Secret

log = logging.getLogger("adcml.nitro")


class _MaskSessionTokens(logging.Filter):
    """httpcore's DEBUG trace prints response headers, ``Set-Cookie: NITRO_AUTH_TOKEN=..``
    included; a session token is a credential, so it is masked there too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "NITRO_AUTH_TOKEN" in message:
            record.msg, record.args = redact_text(message), None
        return True


for _name in ("httpcore.http11", "httpcore.http2"):
    logging.getLogger(_name).addFilter(_MaskSessionTokens())

_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have reached the appliance: only idempotent methods are replayed.
_AFTER_SEND_ERRORS = (
    httpx.ReadError,
    httpx.ReadTimeout,
    httpx.RemoteProtocolError,
    httpx.WriteError,
    httpx.WriteTimeout,
)
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
_TOKEN = re.compile(r"NITRO_AUTH_TOKEN=([^;,\s]+)")
_LOG_BODY_LIMIT = 4000


class NitroSession:
    """Authenticated access to one NITRO endpoint. Not thread-safe: one per thread."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        **setting_overrides: Any,
    ) -> None:
        if settings is None:
            settings = Settings(**setting_overrides)
        elif setting_overrides:
            settings = settings.replace(**setting_overrides)
        self.settings = settings
        self.request_count = 0
        self.warnings: list[NitroWarning] = []
        self._token: Secret | None = None
        self._partition = settings.partition
        self._sleep: Callable[[float], None] = time.sleep
        self._http = httpx.Client(
            base_url=settings.base_url,
            transport=transport,
            verify=_verify(settings),
            timeout=settings.timeout,
            follow_redirects=False,
            # The session token is managed here, not by a cookie jar (re-login, logout).
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            headers={"Accept": "application/json", "User-Agent": "adcml-nitro"},
        )

    @classmethod
    def from_env(cls, *, transport: httpx.BaseTransport | None = None, **overrides: Any) -> Self:
        """A client configured from NETSCALER_* variables; non-None ``overrides`` win."""
        return cls(Settings.from_env(**overrides), transport=transport)

    def __repr__(self) -> str:
        state = "logged in" if self._token else "not logged in"
        return f"<{type(self).__name__} {self.settings.base_url} {self.settings.username} {state}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.logout()
        except NitroError as error:
            log.warning("logout failed: %s", error)
        finally:
            self.close()

    @property
    def logged_in(self) -> bool:
        return self._token is not None

    @property
    def partition(self) -> str | None:
        """The partition this session works in (re-applied after every re-login)."""
        return self._partition

    # -- session -------------------------------------------------------------------------

    def login(self) -> None:
        """Open a session (``auth_mode="session"``) and switch to the partition if one is set."""
        s = self.settings
        if s.auth_mode is AuthMode.HEADER:
            return
        body = {"login": {"username": s.username, "password": s.password,
                          "timeout": s.session_timeout}}
        reply = self._send_handling_retries(self._build("POST", "/nitro/v1/config/login", body))
        raise_for_reply(reply, resource="login", name=s.username, secrets=self._secrets(body))
        self._token = _token_from(reply)
        if self._partition:
            try:
                self._switch(self._partition)
            except NitroError:
                self._discard_session()
                raise

    def logout(self) -> None:
        """Close the session if one is open; an already expired session is not an error."""
        if self._token is None:
            return
        request = self._build("POST", "/nitro/v1/config/logout", {"logout": {}})
        self._authenticate(request)
        self._token = None
        reply = self._send_handling_retries(request)
        if reply.errorcode not in SessionExpired.codes:
            raise_for_reply(reply, resource="logout")

    def close(self) -> None:
        """Release connections (does not log out; use the context manager for both)."""
        self._http.close()

    def switch_partition(self, name: str) -> None:
        """Work in partition ``name`` from now on, including after re-logins."""
        if self.settings.auth_mode is AuthMode.HEADER:
            raise InvalidRequest("switch_partition needs auth_mode 'session'")
        self._partition = name
        if self._token is None:
            self.login()  # login switches
        else:
            self._switch(name)

    def _switch(self, name: str) -> None:
        body = {"nspartition": {"partitionname": name}}
        request = self._build("POST", "/nitro/v1/config/nspartition", body, query="action=switch")
        self._authenticate(request)
        reply = self._send_handling_retries(request)
        raise_for_reply(reply, resource="nspartition", name=name)

    def _discard_session(self) -> None:
        try:
            self.logout()
        except NitroError:
            self._token = None

    # -- layers ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        resource: str | None = None,
        name: str | None = None,
        items: list[Any] | None = None,
        onerror: str | None = None,
    ) -> Reply:
        request = self._build(method, path, body, query=query, headers=headers)
        reply = self._send_handling_auth(request)
        for warning in parse_warnings(reply, resource):
            log.warning("NITRO warning on %s %s: %s", method, path, warning)
            self.warnings.append(warning)
        raise_for_reply(
            reply, resource=resource, name=name, items=items, onerror=onerror,
            secrets=self._secrets(body),
        )
        return reply

    def _send_handling_auth(self, request: httpx.Request) -> Reply:
        if self.settings.auth_mode is AuthMode.SESSION and self._token is None:
            self.login()
        self._authenticate(request)
        reply = self._send_handling_retries(request)
        if self.settings.auth_mode is AuthMode.SESSION and reply.errorcode in SessionExpired.codes:
            log.warning(
                "NITRO session ended (errorcode %s); logging in again to replay %s %s",
                reply.errorcode, request.method, request.url.path,
            )
            self._token = None
            self.login()
            self._authenticate(request)
            reply = self._send_handling_retries(request)
        return reply

    def _send_handling_retries(self, request: httpx.Request) -> Reply:
        attempts = self.settings.retries + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._send(request)
            except httpx.TransportError as exc:
                if last or not _retryable(exc, request.method):
                    raise _transport_error(exc, request, self.settings) from None
                self._backoff(attempt, request, type(exc).__name__)
                continue
            reply = Reply.from_response(response)
            if not last and reply.status == 503:
                self._backoff(attempt, request, "HTTP 503")
            elif not last and reply.errorcode == ErrorCode.IN_PROGRESS:
                self._backoff(attempt, request, "errorcode 293 (operation in progress)")
            else:
                return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(self, request: httpx.Request) -> httpx.Response:
        self.request_count += 1
        debug = log.isEnabledFor(logging.DEBUG)
        target = request.url.raw_path.decode("ascii", "replace")
        secrets: set[str] = set()
        if debug:
            # The appliance may echo what it was sent ("[passplain, <value>]"): the request's
            # secret values are masked in the logged reply as well as in the logged request.
            secrets = self._secrets(_json_or_none(request.content))
            log.debug("%s %s headers %s", request.method, target,
                      redact_headers(request.headers.multi_items()))
            if request.content:
                log.debug("%s %s body %s", request.method, target,
                          _loggable(request.content, secrets))
        start = time.perf_counter()
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            log.debug("%s %s -> %s after %.1f ms", request.method, target, type(exc).__name__,
                      (time.perf_counter() - start) * 1000)
            raise
        if debug:
            log.debug("%s %s -> %d in %.1f ms", request.method, target, response.status_code,
                      (time.perf_counter() - start) * 1000)
            if response.content:
                log.debug("%s %s reply %s", request.method, target,
                          _loggable(response.content, secrets))
        return response

    # -- helpers ---------------------------------------------------------------------------

    def _build(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        url = path + (f"?{query}" if query else "")
        all_headers = dict(headers or {})
        content = None
        if body is not None:
            content = json.dumps(body, default=_reveal, separators=(",", ":")).encode()
            all_headers["Content-Type"] = "application/json"
        return self._http.build_request(method, url, content=content, headers=all_headers)

    def _authenticate(self, request: httpx.Request) -> None:
        if self.settings.auth_mode is AuthMode.HEADER:
            request.headers["X-NITRO-USER"] = self.settings.username
            request.headers["X-NITRO-PASS"] = self.settings.password.reveal()
        elif self._token is not None:
            request.headers["Cookie"] = f"NITRO_AUTH_TOKEN={self._token.reveal()}"

    def _secrets(self, body: Any) -> set[str]:
        found = secret_values(body) | {self.settings.password.reveal()}
        if self._token is not None:
            found.add(self._token.reveal())
        return found

    def _backoff(self, attempt: int, request: httpx.Request, reason: str) -> None:
        delay = self.settings.backoff * (2**attempt)
        log.warning(
            "retrying %s %s after %s (attempt %d of %d) in %.2f s",
            request.method, request.url.path, reason, attempt + 2, self.settings.retries + 1,
            delay,
        )
        self._sleep(delay)


def _verify(settings: Settings) -> ssl.SSLContext | bool:
    if settings.protocol != "https" or not settings.validate_certs:
        return False
    if settings.ca_bundle is None:
        return True
    if Path(settings.ca_bundle).is_dir():
        return ssl.create_default_context(capath=settings.ca_bundle)
    return ssl.create_default_context(cafile=settings.ca_bundle)


def _reveal(value: Any) -> Any:
    if isinstance(value, Secret):
        return value.reveal()
    try:
        return format_value(value)
    except TypeError:
        raise TypeError(f"cannot send {type(value).__name__} in a NITRO body") from None


def _token_from(reply: Reply) -> Secret:
    for header in reply.response.headers.get_list("set-cookie"):
        match = _TOKEN.search(header)
        if match:
            return Secret(match.group(1))
    sessionid = (reply.body or {}).get("sessionid")
    if isinstance(sessionid, str) and sessionid:
        return Secret(sessionid)
    raise NitroAPIError(
        None, "login answered without a NITRO_AUTH_TOKEN cookie or a sessionid",
        reply.status, resource="login",
    )


def _retryable(exc: httpx.TransportError, method: str) -> bool:
    if isinstance(exc, _CONNECT_ERRORS):
        return not _is_tls(exc)
    return isinstance(exc, _AFTER_SEND_ERRORS) and method.upper() in _IDEMPOTENT


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _transport_error(
    exc: httpx.TransportError, request: httpx.Request, settings: Settings
) -> NitroTransportError:
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        detail = f"timed out after {settings.timeout} s ({type(exc).__name__})"
    elif _is_tls(exc):
        detail += (
            ". Hint: set ca_bundle (NETSCALER_CA_BUNDLE) to the CA that signed the appliance's"
            " certificate, or validate_certs=False for a lab"
        )
    else:
        detail += f" ({type(exc).__name__})"
    url = str(request.url.copy_with(username=None, password=None))
    secrets = [settings.password.reveal()]
    return NitroTransportError(redact_text(detail, secrets), url=url, method=request.method)


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except ValueError:
        return None


def _loggable(content: bytes, secrets: set[str] | frozenset[str] = frozenset()) -> str:
    try:
        text = json.dumps(redact(json.loads(content)), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        text = content[:200].decode("utf-8", "replace")
    text = redact_text(text, secrets)
    if len(text) > _LOG_BODY_LIMIT:
        text = text[:_LOG_BODY_LIMIT] + f"... ({len(text)} chars)"
    return text
