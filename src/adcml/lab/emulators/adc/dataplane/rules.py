"""Request policies bound to a vserver: authentication, responder and rewrite (REQUEST).

Order, per vserver the request reaches (the CS vserver, then the LB vserver it routes to):
authentication (once per request), responder policies, rewrite policies; then routing (CS) or
forwarding (LB). Policies run in priority order (lowest first); after a policy whose rule
matched, ``gotopriorityexpression`` says where to go on: ``END`` stops, ``NEXT`` takes the next
priority, a number jumps to the first binding at or after it (``USE_INVOCATION_RESULT`` and
expressions count as ``END``: the lab invokes no policy labels). A rule that does not match
moves on to the next priority.

Responder actions: ``respondwith`` (the target string builder renders a raw HTTP response, e.g.
``"HTTP/1.1 429 Too Many Requests\\r\\n\\r\\n"``), ``redirect`` (the target renders the URL),
``noop``, and the built-ins ``NOOP``, ``RESET`` and ``DROP`` (the connection is closed
unanswered). Rewrite actions, all chosen from the request as received and then applied in
order: ``insert_http_header`` (target: header name, value: the string builder),
``delete_http_header``, ``replace`` (targets ``HTTP.REQ.URL``, ``HTTP.REQ.URL.PATH``,
``HTTP.REQ.HEADER("name")``, ``HTTP.REQ.HOSTNAME``), ``noop`` and ``NOREWRITE``;
``RESET``/``DROP`` close the connection. As on an appliance, actions act on the request as
received: ``delete_http_header`` removes the client's copies of a header, never one that an
``insert_http_header`` of the same evaluation adds (whatever their priorities), so "delete the
client's, insert ours" holds in either order. ``HTTP.REQ.HOSTNAME`` is the Host header's host
without its port; replacing it keeps a ``:port`` the client sent. A policy's ``logaction``
writes its audit message action's text to the access log.

Features: authentication needs AAA, responder RESPONDER and rewrite REWRITE enabled (as on an
appliance, a disabled feature's policies are not applied).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from adcml.lab.emulators.adc.dataplane.authn import Authenticator, AuthnSpec, OAuthSpec, TokenRejected
from adcml.lab.emulators.adc.dataplane.flow import Flow
from adcml.lab.emulators.adc.dataplane.limits import Limits
from adcml.lab.emulators.adc.dataplane.signin import (
    AuthRoute,
    FormsSpec,
    SignIns,
    compile_auth_routes,
    compile_auth_vserver,
    compile_forms,
)
from adcml.policy import evaluate, parse, parse_string_builder, render_string

log = logging.getLogger("adcml.lab.dataplane")
HEADER_TARGET = re.compile(r'^HTTP\.REQ\.HEADER\("([^"]+)"\)$', re.IGNORECASE)


@dataclass(frozen=True)
class Action:
    kind: str  # respondwith redirect noop insert_http_header delete_http_header replace RESET DROP
    target: Any = None  # a header name, a compiled string builder or a replace target
    value: Any = None  # the compiled string builder of a rewrite
    status: int | None = None
    reason: Any = None


@dataclass(frozen=True)
class Bound:
    priority: int
    policy: str
    rule: Any
    goto: str
    action: Action
    log: Any = None  # compiled audit message


@dataclass(frozen=True)
class VsPolicies:
    kind: str
    name: str
    authn: AuthnSpec | None
    responders: tuple[Bound, ...]
    rewrites: tuple[Bound, ...]
    forms: FormsSpec | None = None  # browser sign-in (authentication ON, an authentication host)
    auth_routes: tuple[AuthRoute, ...] = ()  # CS policies to authentication vservers
    signins: SignIns | None = None

    async def on_request(self, flow: Flow) -> web.StreamResponse | None:
        if self.auth_routes:  # how the authentication vserver is reached: before sign-in
            ctx = flow.context()
            for route in self.auth_routes:
                if evaluate(route.rule, ctx):
                    flow.record.route = route.policy
                    return await self.signins.serve(flow, route.auth)
        if self.forms is not None and flow.user is None:
            early = await self.signins.guard(flow, self.forms)
            if early is not None:
                return early
        elif self.authn is not None and flow.user is None:
            ctx = flow.context()
            try:
                identity = await flow.authenticator.authenticate(
                    self.authn, flow.request.headers.get("Authorization"), ctx)
            except TokenRejected as exc:
                flow.record.note = f"authentication: {exc.reason}"
                flow.lab_answered = True
                value = f'Bearer realm="{self.authn.vserver}"'
                if exc.error:
                    value += f', error="{exc.error}"'
                return web.Response(status=401, text="401 Unauthorized\n",
                                    headers={"WWW-Authenticate": value})
            flow.user, flow.attributes = identity.user, identity.attributes
            flow.record.user = identity.user
            flow.invalidate()
        for bound in walk(self.responders, flow):
            _audit(flow, bound)
            response = _respond(flow, bound)
            if response is not None:
                flow.record.note = f"responder {bound.policy}"
                flow.lab_answered = True
                return response
        actions = []
        for bound in walk(self.rewrites, flow):
            _audit(flow, bound)
            actions.append(bound.action)
        if actions:
            return _rewrite(flow, actions)
        return None


def walk(bindings: tuple[Bound, ...], flow: Flow):
    """Matching bindings in evaluation order, honouring gotopriorityexpression."""
    i, n = 0, len(bindings)
    while i < n:
        bound = bindings[i]
        if not evaluate(bound.rule, flow.context()):
            i += 1
            continue
        yield bound
        goto = bound.goto.upper()
        if goto == "NEXT":
            i += 1
        elif goto.isdigit():
            target = int(goto)
            i = next((j for j in range(i + 1, n) if bindings[j].priority >= target), n)
        else:
            return


def _audit(flow: Flow, bound: Bound) -> None:
    if bound.log is None:
        return
    flow.access.message(f"policy={bound.policy} message={render_string(bound.log, flow.context())}")


def _respond(flow: Flow, bound: Bound) -> web.StreamResponse | None:
    action = bound.action
    if action.kind in ("RESET", "DROP"):
        return _drop(flow)
    if action.kind == "respondwith":
        raw = render_string(action.target, flow.context())
        response = _raw_response(raw)
    elif action.kind == "redirect":
        location = render_string(action.target, flow.context())
        response = web.Response(status=302, headers={"Location": location})
    else:
        return None  # noop: nothing to answer, evaluation goes on per goto
    if action.status:
        response.set_status(action.status, render_string(action.reason, flow.context())
                            if action.reason is not None else None)
    return response


def _raw_response(raw: str) -> web.Response:
    """A response from the text an appliance would send as is."""
    if not raw.startswith("HTTP/"):
        return web.Response(status=200, text=raw)
    head, _, body = raw.partition("\r\n\r\n")
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return web.Response(status=200, text=raw)
    headers = CIMultiDict()
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep and name.strip().lower() not in ("content-length", "transfer-encoding", "connection"):
            headers.add(name.strip(), value.strip())
    return web.Response(status=status, reason=parts[2] if len(parts) > 2 else None,
                        headers=headers, body=body.encode())


def _drop(flow: Flow) -> web.Response:
    return flow.drop("connection reset by policy")


def _rewrite(flow: Flow, actions: list[Action]) -> web.StreamResponse | None:
    ctx = flow.context()  # values come from the request as received
    headers = CIMultiDict(flow.headers if flow.headers is not None else flow.request.headers)
    inserted = CIMultiDict()  # apart, so that no delete of this evaluation removes them
    path = flow.path
    for action in actions:
        kind = action.kind
        if kind in ("RESET", "DROP"):
            return _drop(flow)
        if kind == "insert_http_header":
            inserted.add(action.target, render_string(action.value, ctx))
        elif kind == "delete_http_header":
            headers.popall(action.target, None)
        elif kind == "replace":
            value = render_string(action.value, ctx)
            target = action.target
            if target == "URL":
                path = value
            elif target == "PATH":
                query = (path or flow.request.raw_path).partition("?")[2]
                path = value + (f"?{query}" if query else "")
            elif target == "HOSTNAME":
                if "Host" in headers:  # no Host, no HTTP.REQ.HOSTNAME: nothing to replace
                    headers["Host"] = value + _port_suffix(headers["Host"])
            else:
                headers.popall(target, None)
                headers[target] = value
    headers.extend(inserted)
    flow.headers, flow.path = headers, path
    flow.invalidate()
    return None


def _port_suffix(host: str) -> str:
    """The ``:port`` of a Host header value, or ""."""
    if host.startswith("["):
        rest = host.partition("]")[2]
        return rest if rest.startswith(":") else ""
    name, colon, port = host.rpartition(":")
    return f":{port}" if colon and name and ":" not in name else ""


class RequestPolicies:
    """Phase-2 request processing shared by all vservers: authentication and limits."""

    def __init__(self, policy) -> None:
        self.authenticator = Authenticator(policy)
        self.limits = Limits()
        self.signins = SignIns()  # browser sessions: kept across config changes

    async def close(self) -> None:
        await self.authenticator.close()

    def rebuild(self, store) -> list[str]:
        return self.limits.rebuild(store, parse)

    # --- compile ---------------------------------------------------------------------------
    def compile(self, store, part, kind: str, row: dict, compile_rule) -> VsPolicies | None:
        """The request policies of vserver ``row`` (None when it has none)."""
        features = store.features
        name = row["name"]
        authn = _authn(part, row, compile_rule) if "AAA" in features else None
        forms = auth_routes = None
        if authn is not None:
            forms = compile_forms(part, row, compile_auth_vserver(part, authn.vserver, authn, compile_rule))
            authn = None if forms is not None else authn
        if "AAA" in features and kind == "csvserver":
            auth_routes = compile_auth_routes(
                part, name, lambda vs: _auth_policies(part, vs, compile_rule), compile_rule)
        responders = rewrites = ()
        if "RESPONDER" in features:
            responders = _bindings(part, f"{kind}_responderpolicy_binding", "responderpolicy",
                                   "responderaction", name, compile_rule, _responder_action)
        if "REWRITE" in features:
            rewrites = _bindings(part, f"{kind}_rewritepolicy_binding", "rewritepolicy",
                                 "rewriteaction", name, compile_rule, _rewrite_action)
        if authn is None and forms is None and not auth_routes and not responders and not rewrites:
            return None
        return VsPolicies(kind, name, authn, responders, rewrites, forms, auth_routes or (),
                          self.signins)


def _authn(part, row: dict, compile_rule) -> AuthnSpec | None:
    if "ON" not in (row.get("authn401"), row.get("authentication")):
        return None
    vsname = row.get("authnvsname")
    if not vsname and row.get("authnprofile"):
        vsname = part.table("authenticationauthnprofile").get((row["authnprofile"],), {}).get("authnvsname")
    if not vsname:
        return None
    return _auth_policies(part, vsname, compile_rule)


def _auth_policies(part, vsname: str, compile_rule) -> AuthnSpec:
    """The OAuth policies bound to authentication vserver ``vsname``, in priority order."""
    vs = part.table("authenticationvserver").get((vsname,), {})
    policies = []
    actions = part.table("authenticationoauthaction")
    for b in part.table("authenticationvserver_authenticationpolicy_binding").values():
        if b["name"] != vsname:
            continue
        pol = part.table("authenticationpolicy").get((b["policy"],))
        action = actions.get((pol.get("action"),)) if pol else None
        if pol is None or action is None:
            continue
        try:
            rule = compile_rule(pol["rule"])
        except Exception:
            continue
        policies.append((b.get("priority") or 0, rule, OAuthSpec.from_row(action)))
    policies.sort(key=lambda p: p[0])
    enabled = bool(vs) and vs.get("state", "ENABLED") == "ENABLED"
    return AuthnSpec(vsname, enabled, tuple(policies))


def _bindings(part, binding: str, policy_res: str, action_res: str, vserver: str, compile_rule,
              make_action) -> tuple[Bound, ...]:
    out = []
    for b in part.table(binding).values():
        if b["name"] != vserver or b.get("bindpoint", "REQUEST") != "REQUEST":
            continue
        pol = part.table(policy_res).get((b["policyname"],))
        if pol is None:
            continue
        try:
            rule = compile_rule(pol["rule"])
            action = make_action(part, action_res, pol["action"])
            logrow = part.table("auditmessageaction").get((pol.get("logaction"),))
            message = parse_string_builder(logrow["stringbuilderexpr"]) if logrow else None
        except Exception as exc:
            log.warning("data plane: %s %s not applied: %s", policy_res, b["policyname"], exc)
            continue
        if action is None:
            continue
        out.append(Bound(b.get("priority") or 0, b["policyname"], rule,
                         str(b.get("gotopriorityexpression", "END")), action, message))
    out.sort(key=lambda x: x.priority)
    return tuple(out)


def _responder_action(part, action_res: str, name: str) -> Action | None:
    if name.upper() in ("NOOP", "RESET", "DROP"):
        return Action(name.upper())
    row = part.table(action_res).get((name,))
    if row is None:
        return None
    kind = row["type"]
    if kind not in ("respondwith", "redirect", "noop"):
        raise ValueError(f"responder action type {kind} is not carried by the lab")
    target = parse_string_builder(row["target"]) if row.get("target") else None
    reason = parse_string_builder(row["reasonphrase"]) if row.get("reasonphrase") else None
    return Action(kind, target, status=row.get("responsestatuscode"), reason=reason)


def _rewrite_action(part, action_res: str, name: str) -> Action | None:
    if name.upper() in ("NOREWRITE", "RESET", "DROP"):
        return None if name.upper() == "NOREWRITE" else Action(name.upper())
    row = part.table(action_res).get((name,))
    if row is None:
        return None
    kind = row["type"]
    value = parse_string_builder(row["stringbuilderexpr"]) if row.get("stringbuilderexpr") else None
    if kind in ("insert_http_header", "delete_http_header"):
        return Action(kind, row["target"], value)
    if kind == "replace":
        target = row.get("target", "").strip()
        header = HEADER_TARGET.match(target)
        if header:
            return Action(kind, header.group(1), value)
        if target.upper() in ("HTTP.REQ.URL", "HTTP.REQ.URL.PATH_AND_QUERY"):
            return Action(kind, "URL", value)
        if target.upper() == "HTTP.REQ.URL.PATH":
            return Action(kind, "PATH", value)
        if target.upper() == "HTTP.REQ.HOSTNAME":
            return Action(kind, "HOSTNAME", value)
        raise ValueError(f"replace target {target} is not carried by the lab")
    if kind == "noop":
        return None
    raise ValueError(f"rewrite action type {kind} is not carried by the lab")
