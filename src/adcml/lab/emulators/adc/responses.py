"""The lab ADC's NITRO wire: paths and queries read, the backend called, envelopes written.

Answers the way nitro-facts.md says an appliance answers; what a request does is the
backend's (``backend.LabADC``). Every failure becomes a NITRO error envelope, never a
traceback. The test controls' injected faults (``models.controls``) act here, on the
connection: a delay, an error answer, a connection dropped before or after the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.operations import Change, Outcome, Query, Verb
from adcml.lab.emulators.adc.models.sessions import Session
from adcml.lab.emulators.adc.models.store import resource_for
from adcml.resources import SCHEMA, ErrorCode, Resource

E = ErrorCode
log = logging.getLogger("adcml.lab")
JSON_TYPE = "application/json; charset=utf-8"
MAX_REQUEST_BODY = 4 * 1024 * 1024  # room for a 2 MB systemfile, base64-encoded
SINGLETONS_AS_OBJECT = {"nsversion", "nsconfig", "nsfeature", "tmsessionparameter"}


@dataclass
class Call:
    """One parsed NITRO request."""

    method: str
    kind: str  # config | stat
    resource: str
    name: str | None
    query: dict[str, str]
    args: dict[str, str]
    filter: dict[str, str]
    action: str | None
    onerror: str = "exit"

    @property
    def flag(self):
        return lambda key: self.query.get(key, "").lower() == "yes"


def parse_pairs(raw: str) -> dict[str, str]:
    """``k:v,k2:v2`` with percent-encoded values → dict (split first, decode after).

    A client whose URL library encoded the whole value once more (``k%3Av``) is decoded
    once before splitting.
    """
    if ":" not in raw:
        raw = unquote(raw)
    out = {}
    for part in raw.split(","):
        if not part:
            continue
        key, sep, value = part.partition(":")
        if not sep:
            raise NitroFault(E.INVALID_ARGUMENT, f"args, {unquote(part)}: expected key:value")
        out[unquote(key)] = unquote(value)
    return out


def parse_call(request: web.Request) -> Call:
    raw_path = request.raw_path.split("?", 1)[0]
    parts = raw_path.split("/")[3:]  # '', 'nitro', 'v1', kind, resource, name
    if len(parts) < 2 or parts[0] not in ("config", "stat") or not parts[1]:
        raise NitroFault(E.INVALID_OBJECT_NAME, unquote(raw_path), status=404)
    if len(parts) > 3:
        raise NitroFault(E.INVALID_OBJECT_NAME, unquote(raw_path), status=404)
    name = unquote(unquote(parts[2])) if len(parts) == 3 and parts[2] else None
    query: dict[str, str] = {}
    raw_query = request.raw_path.partition("?")[2]
    for item in raw_query.split("&"):
        if item:
            key, _, value = item.partition("=")
            query[unquote(key).lower()] = value
    args = parse_pairs(query.get("args", ""))
    filt = parse_pairs(query.get("filter", ""))
    for key in ("attrs", "action", "count", "pagesize", "pageno", "view", "warning",
                "idempotent", "bulkbindings"):
        if key in query:
            query[key] = unquote(query[key])
    action = query.get("action")
    onerror = request.headers.get("X-NITRO-ONERROR", "exit").lower()
    if onerror not in ("exit", "continue", "rollback"):
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"X-NITRO-ONERROR, {onerror}", status=400)
    return Call(request.method, parts[0], unquote(parts[1]), name, query, args, filt,
                action.lower() if action else None, onerror)


def _json(status: int, body: dict, headers=None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        charset="utf-8", headers=headers)


def envelope(status: int = 200, payload: dict | None = None, headers=None) -> web.Response:
    body = {"errorcode": 0, "message": "Done", "severity": "NONE", **(payload or {})}
    return _json(status, body, headers)


def error_response(fault: NitroFault) -> web.Response:
    return _json(fault.status, fault.envelope())


class NitroResponses:
    """aiohttp handlers for /nitro/v1 of one lab ADC."""

    def __init__(self, lab: LabADC):
        self.lab = lab

    # --- entry point ------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            call = parse_call(request)
        except NitroFault as fault:
            return error_response(fault)
        controls = self.lab.controls
        controls.count(call.method, call.resource)
        rule = controls.fault_for(call.method, call.resource, call.action)
        try:
            # Read the request whole before any injected delay: an appliance carries out a
            # request it has received even when the client gives up waiting for the answer.
            raw = await _read(request) if call.method in ("POST", "PUT") else None
        except NitroFault as fault:
            return error_response(fault)
        except ConnectionError:  # the client went away mid-request: nobody to answer
            return _drop(request)
        if rule is not None:
            if rule.kind == "latency":
                if call.method in ("POST", "PUT"):
                    # An appliance has the whole request before it is slow to answer it, so a
                    # client that times out meanwhile still finds the request applied.
                    with contextlib.suppress(Exception):  # _body reports a bad body later
                        await request.read()
                await asyncio.sleep(rule.latency_ms / 1000)
            elif rule.kind == "drop":
                return _drop(request)
            elif rule.kind == "error":
                body = {"errorcode": rule.errorcode, "message": rule.message, "severity": "ERROR"}
                return _json(rule.status, body)
        try:
            response = await self.dispatch(request, call, raw)
        except NitroFault as fault:
            response = error_response(fault)
        except Exception:  # a lab bug must still answer in NITRO's format
            log.exception("lab ADC internal error on %s %s", call.method, call.resource)
            fault = NitroFault(E.NOT_PERMITTED, "internal error in the lab ADC")
            response = error_response(fault)
        if rule is not None and rule.kind == "drop_after":
            return _drop(request)
        return response

    async def dispatch(self, request: web.Request, call: Call, raw: bytes | None) -> web.Response:
        lab = self.lab
        body = _parse(raw) if raw is not None else None
        if call.resource == "login" and call.method == "POST":
            return self.login(body)
        headers = request.headers
        session = lab.sessions.authenticate(
            headers.get("X-NITRO-USER"), headers.get("X-NITRO-PASS"),
            request.cookies.get("NITRO_AUTH_TOKEN") or _token_from(headers))
        if call.resource == "logout" and call.method == "POST":
            lab.sessions.logout(session)
            return envelope(200)
        part = lab.partition(session)
        if call.kind == "stat":
            if call.method != "GET":
                raise NitroFault(E.NOT_PERMITTED, "stat is read-only", status=405)
            return envelope(200, {call.resource: lab.stats(part, call.resource, call.name, call.args)})
        if call.method == "GET":
            return self.get(part, call)
        if call.method == "DELETE":
            lab.delete(part, call.resource, call.name, call.args)
            return envelope(200)
        if call.method not in ("POST", "PUT"):
            raise NitroFault(E.NOT_PERMITTED, call.method, status=405)
        return await self.write(part, session, call, body)

    def login(self, body: Any) -> web.Response:
        session = self.lab.sessions.login(body.get("login") if isinstance(body, dict) else None)
        # Spelled as an appliance spells it: some clients match the header text.
        cookie = f"NITRO_AUTH_TOKEN={session.token}; path=/nitro/v1; HttpOnly"
        return envelope(201, {"sessionid": session.token}, headers={"Set-Cookie": cookie})

    # --- reads ------------------------------------------------------------------------------
    def get(self, part, call: Call) -> web.Response:
        query = Query(args=call.args, filter=call.filter, attrs=call.query.get("attrs"),
                      count=call.flag("count"), pagesize=call.query.get("pagesize"),
                      pageno=call.query.get("pageno"), bulkbindings=call.flag("bulkbindings"))
        rows = self.lab.get(part, call.resource, call.name, query)
        if call.resource in SINGLETONS_AS_OBJECT:
            return envelope(200, {call.resource: rows[0]})
        if query.count:
            return envelope(200, {call.resource: [{"__count": len(rows)}]})
        res = SCHEMA.get(call.resource)
        if not rows and res is not None and res.is_binding:
            return envelope(200)
        return envelope(200, {call.resource: rows})

    # --- writes -----------------------------------------------------------------------------
    async def write(self, part, session: Session, call: Call, body: Any) -> web.Response:
        res = resource_for(call.resource)
        if not isinstance(body, dict) or call.resource not in body:
            raise NitroFault(E.INVALID_JSON, f"expected {{\"{call.resource}\": ...}}", status=400)
        payload = body[call.resource]
        if call.action == "save" and res.name == "nsconfig":
            await self.lab.save()
            return envelope(200)
        change = Change(Verb.UPDATE if call.method == "PUT" else Verb.ADD, call.action, call.name,
                        call.flag("idempotent"))
        if isinstance(payload, list):
            return self.bulk(part, session, call, res, change, payload)
        outcome, warning = self.lab.write(part, session, res, change, payload)
        headers = {"X-NITRO-WARNING": warning} if warning and call.flag("warning") else None
        return envelope(209 if headers else _status(outcome, call.method), headers=headers)

    def bulk(self, part, session: Session, call: Call, res: Resource, change: Change,
             items: list) -> web.Response:
        faults = self.lab.write_all(part, session, res, change, items, call.onerror)
        if any(faults):
            results = [f.envelope() if f else {"errorcode": 0, "message": "Done", "severity": "NONE"}
                       for f in faults]
            return _json(207, {**NitroFault(E.BULK_FAILED).envelope(), "response": results})
        return envelope(201 if call.method == "POST" and call.action is None else 200)


def _status(outcome: Outcome, method: str) -> int:
    """An add answers 201, a bind 201 by POST and 200 by PUT, anything else 200."""
    if outcome is Outcome.ADDED or (outcome is Outcome.BOUND and method == "POST"):
        return 201
    return 200


def _token_from(headers) -> str | None:
    # One Go client sends the token in a request header literally named Set-Cookie.
    for value in headers.getall("Set-Cookie", []):
        for part in value.split(";"):
            key, _, token = part.strip().partition("=")
            if key == "NITRO_AUTH_TOKEN" and token:
                return token
    return None


async def _read(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        # Drain the rest here: left to aiohttp's lingering close, the connection can hang on
        # for its 10 s lingering time (and hold up a shutdown).
        while await request.content.readany():
            pass
        raise NitroFault(E.INVALID_ARGUMENT_VALUE,
                         f"request body, larger than {MAX_REQUEST_BODY} bytes", status=413) from None


def _parse(raw: bytes) -> Any:
    if not raw:
        raise NitroFault(E.INVALID_JSON, "empty body", status=400)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise NitroFault(E.INVALID_JSON, f"{exc}", status=400) from None


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer, as a crashed or unplugged appliance would."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=204)
