"""The control API's wire: the token and namespace of each request checked, its JSON body read,
the backend called, and every failure answered as the service answers it (``{"error": ...}``,
also in ``X-Error-Message``, which huggingface_hub's error messages quote), never a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from adcml.lab.emulators.hf.backend import LabHF
from adcml.lab.emulators.hf.exceptions import ServiceError, UnsupportedMediaType, unparsable
from adcml.lab.emulators.hf.models.accounts import Account

log = logging.getLogger("adcml.lab.hf")
MAX_REQUEST_BODY = 1024 * 1024


def error_response(status: int, message: str) -> web.Response:
    header = message.encode("ascii", "replace").decode().replace("\n", " ")
    return web.json_response({"error": message}, status=status, headers={"X-Error-Message": header})


@web.middleware
async def service_errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServiceError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPException as exc:  # the router's 404 and 405
        return error_response(exc.status, exc.reason)
    except Exception as exc:
        log.exception("%s %s", request.method, request.path)
        return error_response(500, f"internal error of the stand-in: {exc}")


async def json_body(request: web.Request) -> Any:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Expected request with `Content-Type: application/json`")
    raw = await request.read()
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise unparsable(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise unparsable("the body is not UTF-8") from None


class HFResponses:
    """aiohttp handlers of the control API (docs/lab-hf.md)."""

    def __init__(self, lab: LabHF):
        self.lab = lab

    def _account(self, request: web.Request) -> Account:
        return self.lab.tokens.authorize(request.headers.get("Authorization"),
                                         request.match_info["namespace"])

    @staticmethod
    def _target(request: web.Request) -> tuple[str, str]:
        return request.match_info["namespace"], request.match_info["name"]

    async def whoami(self, request: web.Request) -> web.Response:
        return web.json_response(self.lab.whoami(request.headers.get("Authorization")))

    async def list_endpoints(self, request: web.Request) -> web.Response:
        self._account(request)
        return web.json_response(self.lab.list(request.match_info["namespace"]))

    async def create(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await json_body(request)
        return web.json_response(await self.lab.create(account, request.match_info["namespace"], body))

    async def get(self, request: web.Request) -> web.Response:
        self._account(request)
        return web.json_response(self.lab.get(*self._target(request)))

    async def update(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await json_body(request)
        return web.json_response(await self.lab.update(account, *self._target(request), body))

    async def delete(self, request: web.Request) -> web.Response:
        self._account(request)
        return web.json_response(await self.lab.delete(*self._target(request)))

    async def pause(self, request: web.Request) -> web.Response:
        return web.json_response(await self.lab.pause(self._account(request), *self._target(request)))

    async def resume(self, request: web.Request) -> web.Response:
        return web.json_response(await self.lab.resume(self._account(request), *self._target(request)))

    async def scale_to_zero(self, request: web.Request) -> web.Response:
        return web.json_response(await self.lab.scale_to_zero(self._account(request), *self._target(request)))

    async def hardware(self, request: web.Request) -> web.Response:
        self._account(request)
        return web.json_response(self.lab.hardware(request.match_info["namespace"]))

    # --- the stand-in's own (lab-only, no token) ----------------------------------------------
    async def requests(self, request: web.Request) -> web.Response:
        query = request.query
        return web.json_response(self.lab.requests(query.get("namespace"), query.get("name")))

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


__all__ = ["HFResponses", "MAX_REQUEST_BODY", "service_errors"]
