"""Which paths of the lab ADC go where."""

from __future__ import annotations

from aiohttp import web

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.control_responses import ControlResponses
from adcml.lab.emulators.adc.dataplane.control import status_handler
from adcml.lab.emulators.adc.responses import MAX_REQUEST_BODY, NitroResponses


def routes(lab: LabADC) -> list[web.RouteDef]:
    """NITRO under /nitro/v1; the test controls under /lab (docs/lab-adc.md); the data plane's
    status at /lab/dataplane when there is a data plane."""
    nitro, controls = NitroResponses(lab), ControlResponses(lab)
    table = [
        web.route("*", "/nitro/v1/{tail:.*}", nitro.handle),
        web.post("/lab/faults", controls.add_fault),
        web.delete("/lab/faults", controls.clear_faults),
        web.get("/lab/counters", controls.counters),
        web.delete("/lab/counters", controls.reset_counters),
        web.post("/lab/sessions/expire", controls.expire_sessions),
        web.post("/lab/reset", controls.reset),
        web.get("/lab/health", controls.health),
        web.get("/lab/config", controls.running_config),
    ]
    if lab.dataplane is not None:
        table.append(web.get("/lab/dataplane", status_handler(lab.dataplane)))
    return table


def build_app(lab: LabADC) -> web.Application:
    """The aiohttp application of one lab ADC."""
    app = web.Application(client_max_size=MAX_REQUEST_BODY)
    app.add_routes(routes(lab))
    return app
