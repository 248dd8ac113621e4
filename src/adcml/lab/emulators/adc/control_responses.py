"""HTTP routes of the lab controls (/lab/...): faults, counters, sessions, reset, health."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from adcml.lab.emulators.adc.backend import LabADC


def add_admin_routes(app: web.Application, lab: LabADC) -> None:
    async def add_fault(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            rule = lab.controls.add_rule(body if isinstance(body, dict) else {})
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"id": rule.id}, status=201)

    async def clear_faults(request: web.Request) -> web.Response:
        lab.controls.rules.clear()
        return web.json_response({"cleared": True})

    async def counters(request: web.Request) -> web.Response:
        return web.json_response(lab.controls.report())

    async def reset_counters(request: web.Request) -> web.Response:
        lab.controls.counters.clear()
        return web.json_response({"reset": True})

    async def expire_sessions(request: web.Request) -> web.Response:
        return web.json_response({"expired": lab.api.expire_sessions()})

    async def reset(request: web.Request) -> web.Response:
        lab.store.reset()
        lab.store.changed = False
        lab.controls.rules.clear()
        lab.controls.counters.clear()
        return web.json_response({"reset": True})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "sessions": len(lab.api.sessions)})

    async def running(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(lab.store.snapshot(), default=str),
                            content_type="application/json")

    app.router.add_post("/lab/faults", add_fault)
    app.router.add_delete("/lab/faults", clear_faults)
    app.router.add_get("/lab/counters", counters)
    app.router.add_delete("/lab/counters", reset_counters)
    app.router.add_post("/lab/sessions/expire", expire_sessions)
    app.router.add_post("/lab/reset", reset)
    app.router.add_get("/lab/health", health)
    app.router.add_get("/lab/config", running)
