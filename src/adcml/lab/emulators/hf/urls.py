"""Which paths of the stand-in go where: the Inference Endpoints API under /v2, the Hub's whoami,
and the stand-in's own /lab paths."""

from __future__ import annotations

from aiohttp import web

from adcml.lab.emulators.hf.backend import LabHF
from adcml.lab.emulators.hf.responses import MAX_REQUEST_BODY, HFResponses, service_errors

ENDPOINT = "/v2/endpoint/{namespace}/{name}"


def routes(lab: LabHF) -> list[web.RouteDef]:
    api = HFResponses(lab)
    return [
        web.get("/api/whoami-v2", api.whoami),
        web.get("/v2/endpoint/{namespace}", api.list_endpoints),
        web.post("/v2/endpoint/{namespace}", api.create),
        web.get(ENDPOINT, api.get),
        web.put(ENDPOINT, api.update),
        web.delete(ENDPOINT, api.delete),
        web.post(f"{ENDPOINT}/pause", api.pause),
        web.post(f"{ENDPOINT}/resume", api.resume),
        web.post(f"{ENDPOINT}/scale-to-zero", api.scale_to_zero),
        web.get("/v2/provider/{namespace}", api.hardware),
        web.get("/lab/requests", api.requests),
        web.get("/lab/health", api.health),
    ]


def build_app(lab: LabHF) -> web.Application:
    app = web.Application(middlewares=[service_errors], client_max_size=MAX_REQUEST_BODY)
    app.add_routes(routes(lab))
    return app
