"""The lab ADC's NITRO HTTP surface: URL and query parsing, sessions, bulk, envelopes.

Answers the way nitro-facts.md says an appliance answers; the configuration itself lives in
``ConfigStore``. Every failure becomes a NITRO error envelope, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.resources import SCHEMA, ErrorCode

if TYPE_CHECKING:
    from adcml.lab.emulators.adc.backend import LabADC

E = ErrorCode
log = logging.getLogger("adcml.lab")
JSON_TYPE = "application/json; charset=utf-8"
DEFAULT_SESSION_TIMEOUT = 1800
MAX_REQUEST_BODY = 4 * 1024 * 1024  # room for a 2 MB systemfile, base64-encoded
SINGLETONS_AS_OBJECT = {"nsversion", "nsconfig", "nsfeature"}


@dataclass
class Session:
    token: str
    username: str
    timeout: int
    expires: float
    partition: str = "default"


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


class NitroAPI:
    """aiohttp handlers for /nitro/v1 of one lab ADC."""

    def __init__(self, lab: LabADC):
        self.lab = lab
        self.sessions: dict[str, Session] = {}

    # --- sessions -----------------------------------------------------------------------------
    def authenticate(self, request: web.Request) -> Session:
        now = time.monotonic()
        self.sessions = {t: s for t, s in self.sessions.items() if s.expires > now}
        user = request.headers.get("X-NITRO-USER")
        if user is not None:
            if not self.lab.check_password(user, request.headers.get("X-NITRO-PASS", "")):
                raise NitroFault(E.INVALID_CREDENTIALS)
            return Session("", user, 0, now)
        token = request.cookies.get("NITRO_AUTH_TOKEN") or _token_from(request.headers)
        if not token:
            raise NitroFault(E.NOT_LOGGED_IN_AUTH)
        session = self.sessions.get(token)
        if session is None:
            raise NitroFault(E.SESSION_EXPIRED)
        session.expires = now + session.timeout
        return session

    def login(self, body: Any) -> web.Response:
        data = body.get("login") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise NitroFault(E.INVALID_JSON, "login", status=400)
        for field in ("username", "password"):
            if data.get(field) is None:
                raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, field)
            if not isinstance(data[field], str):
                raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"{field}, expected a string")
        username, password = data["username"], data["password"]
        if not self.lab.check_password(username, password):
            raise NitroFault(E.INVALID_CREDENTIALS)
        timeout = data.get("timeout", DEFAULT_SESSION_TIMEOUT)
        if isinstance(timeout, str) and timeout.isdigit():
            timeout = int(timeout)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
            raise NitroFault(E.INVALID_ARGUMENT_VALUE, f"timeout, {timeout}")
        token = "##" + secrets.token_hex(24).upper()
        self.sessions[token] = Session(token, username, timeout, time.monotonic() + timeout)
        # Spelled as an appliance spells it: some clients match the header text.
        cookie = f"NITRO_AUTH_TOKEN={token}; path=/nitro/v1; HttpOnly"
        return envelope(201, {"sessionid": token}, headers={"Set-Cookie": cookie})

    def expire_sessions(self) -> int:
        count = len(self.sessions)
        self.sessions.clear()
        return count

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
        body = _parse(raw) if raw is not None else None
        if call.resource == "login" and call.method == "POST":
            return self.login(body)
        session = self.authenticate(request)
        if call.resource == "logout" and call.method == "POST":
            self.sessions.pop(session.token, None)
            return envelope(200)
        part = self.lab.store.partition(session.partition)
        if call.kind == "stat":
            if call.method != "GET":
                raise NitroFault(E.NOT_PERMITTED, "stat is read-only", status=405)
            return envelope(200, {call.resource: self.lab.stats(part, call.resource, call.name, call.args)})
        if call.method == "GET":
            return self.get(part, call)
        if call.method == "DELETE":
            return self.delete(part, call)
        if call.method not in ("POST", "PUT"):
            raise NitroFault(E.NOT_PERMITTED, call.method, status=405)
        return await self.write(part, session, call, body)

    # --- reads ------------------------------------------------------------------------------
    def get(self, part, call: Call) -> web.Response:
        store = self.lab.store
        parent_name = call.resource.removesuffix("_binding")
        if call.resource not in SCHEMA and parent_name != call.resource and parent_name in SCHEMA:
            parent = SCHEMA[parent_name]
            if call.name is None and not call.flag("bulkbindings"):
                raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, "name (or bulkbindings=yes)")
            rows = store.bindings(part, parent, call.name)
            return envelope(200, {call.resource: rows})
        from adcml.lab.emulators.adc.models.store import resource_for

        res = resource_for(call.resource)
        if res.is_binding and call.name is None and not call.flag("bulkbindings"):
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, f"{res.key} (or bulkbindings=yes)")
        rows = store.get(part, res, call.name, call.args)
        if call.resource in SINGLETONS_AS_OBJECT:
            return envelope(200, {call.resource: rows[0]})
        rows = [r for r in rows if _matches(r, call.filter)]
        if call.flag("count"):
            return envelope(200, {call.resource: [{"__count": len(rows)}]})
        rows = _page(rows, call.query)
        if "attrs" in call.query:
            wanted = set(call.query["attrs"].split(",")) | set(res.identity)
            rows = [{k: v for k, v in r.items() if k in wanted} for r in rows]
        if not rows and res.is_binding:
            return envelope(200)
        return envelope(200, {call.resource: rows})

    # --- writes -----------------------------------------------------------------------------
    def delete(self, part, call: Call) -> web.Response:
        from adcml.lab.emulators.adc.models.store import resource_for

        res = resource_for(call.resource)
        if call.name is None:
            raise NitroFault(E.REQUIRED_ARGUMENT_MISSING, res.key)
        self.lab.store.delete(part, res, call.name, call.args)
        return envelope(200)

    async def write(self, part, session: Session, call: Call, body: Any) -> web.Response:
        from adcml.lab.emulators.adc.models.store import resource_for

        res = resource_for(call.resource)
        if not isinstance(body, dict) or call.resource not in body:
            raise NitroFault(E.INVALID_JSON, f"expected {{\"{call.resource}\": ...}}", status=400)
        payload = body[call.resource]
        if call.action == "save" and res.name == "nsconfig":
            await self.lab.save()
            return envelope(200)
        if isinstance(payload, list):
            return self.bulk(part, session, call, res, payload)
        status, warning = self.apply_one(part, session, call, res, payload)
        headers = {"X-NITRO-WARNING": warning} if warning and call.flag("warning") else None
        return envelope(209 if headers else status, headers=headers)

    def apply_one(self, part, session, call: Call, res, payload) -> tuple[int, str | None]:
        """Apply one item; returns the success status and a feature warning, if any."""
        store = self.lab.store
        if call.action is not None:
            self.lab.act(part, session, res, call.action, payload)
            return 200, None
        if isinstance(payload, dict) and call.name and res.key not in payload:
            payload = {**payload, res.key: call.name}
        if res.is_binding:
            store.bind(part, res, payload)
            return (201 if call.method == "POST" else 200), None
        if call.method == "PUT":
            store.update(part, res, payload)
            return 200, None
        outcome = store.add(part, res, payload, idempotent=call.flag("idempotent"))
        warning = None
        if res.feature and res.feature not in store.features:
            warning = f"1067 - Feature(s) not enabled [{res.feature}]"
        return (200 if outcome == "updated" else 201), warning

    def bulk(self, part, session, call: Call, res, items: list) -> web.Response:
        """Apply each item; X-NITRO-ONERROR says whether to stop, go on, or undo all."""
        store = self.lab.store
        adding = call.action is None and (call.method == "POST" or res.is_binding)
        rollback = call.onerror == "rollback" and adding
        saved = store.clone() if rollback else None
        results: list[dict] = []
        for item in items:
            try:
                self.apply_one(part, session, call, res, item)
                results.append({"errorcode": 0, "message": "Done", "severity": "NONE"})
            except NitroFault as fault:
                results.append(fault.envelope())
                if call.onerror != "continue":
                    break
        if any(r["errorcode"] for r in results):
            if saved is not None:
                store.rollback(saved)
            body = {**NitroFault(E.BULK_FAILED).envelope(), "response": results}
            return _json(207, body)
        return envelope(201 if call.method == "POST" and call.action is None else 200)


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


def _matches(row: dict, wanted: dict[str, str]) -> bool:
    for key, value in wanted.items():
        have = row.get(key)
        if have is None or str(have).lower() != value.lower():
            return False
    return True


def _page(rows: list, query: dict) -> list:
    if "pagesize" not in query:
        return rows
    try:
        size = int(query["pagesize"])
        page = int(query.get("pageno", "1"))
    except ValueError:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, "pagesize/pageno, not a number") from None
    if size < 1 or page < 1:
        raise NitroFault(E.INVALID_ARGUMENT_VALUE, "pagesize/pageno, must be at least 1")
    return rows[(page - 1) * size : page * size]
