"""The wire of the lab ADC's test controls (``/lab/...``, no authentication, loopback only):
fault rules, request counters, sessions, reset, the running config, health."""

from __future__ import annotations

import json

from aiohttp import web

from adcml.lab.emulators.adc.backend import LabADC


class ControlResponses:
    """aiohttp handlers for /lab/... of one lab ADC (``urls`` says which path is which)."""

    def __init__(self, lab: LabADC):
        self.lab = lab

    async def add_fault(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            rule = self.lab.controls.add_rule(body if isinstance(body, dict) else {})
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"id": rule.id}, status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        self.lab.controls.rules.clear()
        return web.json_response({"cleared": True})

    async def counters(self, request: web.Request) -> web.Response:
        return web.json_response(self.lab.controls.report())

    async def reset_counters(self, request: web.Request) -> web.Response:
        self.lab.controls.counters.clear()
        return web.json_response({"reset": True})

    async def expire_sessions(self, request: web.Request) -> web.Response:
        return web.json_response({"expired": self.lab.sessions.expire_all()})

    async def reset(self, request: web.Request) -> web.Response:
        self.lab.reset()
        return web.json_response({"reset": True})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "sessions": len(self.lab.sessions)})

    async def running_config(self, request: web.Request) -> web.Response:
        return web.Response(text=json.dumps(self.lab.store.snapshot(), default=str),
                            content_type="application/json")
