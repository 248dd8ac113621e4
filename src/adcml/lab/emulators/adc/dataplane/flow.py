"""One request on its way through the data plane, and the answers the lab gives itself.

A ``Flow`` carries what the request path learns about a request (the user, rewritten headers
and path, the vservers it went through) and what every stage may use: the authenticator, the
limit identifiers' buckets and the audit log.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from adcml.lab.emulators.adc.dataplane.access import AccessLog, AccessRecord
from adcml.lab.emulators.adc.dataplane.authn import Authenticator
from adcml.lab.emulators.adc.dataplane.limits import Limits
from adcml.lab.emulators.adc.dataplane.proxy import forward_headers
from adcml.policy import RequestContext

REASONS = {413: "Request Entity Too Large", 502: "Bad Gateway", 503: "Service Unavailable"}


def answer(status: int, text: str | None = None) -> web.Response:
    """An answer of the lab's own, in an appliance's words (``503 Service Unavailable``)."""
    reason = REASONS.get(status, "Error")
    return web.Response(status=status, text=text or f"{status} {reason}\n")


class Flow:
    """One request on its way through the data plane."""

    __slots__ = ("request", "body", "record", "partition", "authenticator", "limits", "access",
                 "client_ip", "_ctx", "headers", "path", "user", "attributes", "touched",
                 "lab_answered", "cache_bank")

    def __init__(self, request: web.BaseRequest, body: bytes, record: AccessRecord, partition: str,
                 authenticator: Authenticator, limits: Limits, access: AccessLog):
        self.request = request
        self.body = body
        self.record = record
        self.partition = partition
        self.authenticator = authenticator
        self.limits = limits
        self.access = access
        self.client_ip = request.remote or ""
        self._ctx: RequestContext | None = None
        self.headers: CIMultiDict | None = None  # request headers as rewritten
        self.path: str | None = None  # path and query as rewritten
        self.user: str | None = None
        self.attributes: dict[str, Any] = {}
        self.touched: list[tuple[str, str]] = []
        self.lab_answered = False
        self.cache_bank = None  # the cache policies of the CS vserver the request came through

    def error(self, status: int, note: str) -> web.Response:
        """An answer from the lab itself (as an appliance answers when it cannot serve)."""
        self.record.note = note
        self.lab_answered = True
        return answer(status)

    def drop(self, note: str) -> web.Response:
        """Close the client's connection unanswered (an appliance's RESET/DROP); the response
        returned is never sent."""
        self.record.note = note
        transport = self.request.transport
        if transport is not None:
            transport.abort()
        return web.Response(status=204)

    def redirect(self, location: str, note: str) -> web.Response:
        """A 302 from the lab itself (a vserver's ``redirecturl``)."""
        self.record.note = note
        self.lab_answered = True
        return web.Response(status=302, headers={"Location": location})

    def context(self) -> RequestContext:
        """The RequestContext policies are evaluated against (built once, on first need)."""
        if self._ctx is None:
            request = self.request
            headers = self.headers if self.headers is not None else request.headers
            self._ctx = RequestContext(
                method=request.method, url=self.path or request.raw_path, headers=headers,
                client_ip=self.client_ip, user_attributes=self.attributes,
                authenticated_user=self.user, body=self.body, check_limit=self._check_limit(),
            )
        return self._ctx

    def _check_limit(self):
        """SYS.CHECK_LIMIT for this request (None while no limit identifier exists)."""
        limits = self.limits
        if not limits.specs:
            return None

        def check(name: str) -> bool:
            return limits.exceeded(self.partition, name, self._ctx)

        return check

    def invalidate(self) -> None:
        """Headers or the user changed: rebuild the context on next use."""
        self._ctx = None

    def backend_headers(self, cipheader: str | None) -> CIMultiDict:
        source = self.headers if self.headers is not None else self.request.headers
        return forward_headers(source, self.client_ip, cipheader)
