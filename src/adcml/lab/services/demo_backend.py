"""A demo model server for the lab: a **stand-in** for the PyTorch model-server hosts.

``adcml lab up`` runs two of these (127.0.0.21:8001 and 127.0.0.22:8001 by default) as the
members of the local gateway's pools until the ``model_server`` role provides real ones; they
compute nothing. Each answers, OpenAI style:

- ``GET /health``: ``200 {"status": "ok", "name": ...}`` (what the ADC's monitors probe);
- ``POST /v1/embeddings`` with ``{"input": "text" | ["text", ...], "model"?, "dimensions"?}``:
  a deterministic embedding per input (derived from SHA-256 of the text, unit length), so the
  same input always gives the same vector on every backend;
- ``POST /v1/chat/completions`` with ``{"messages": [...]}``: a canned reply. With an API key
  (environment variable ``ADCML_DEMO_API_KEY``, never an argument: argv is world-readable) it
  requires ``Authorization: Bearer <key>`` on chat requests, as a model server behind the
  gateway's credential injection would; ``/health`` and embeddings stay open.

Every answer carries ``X-Lab-Backend: <name>`` so a client can see which member answered.

    python -m adcml.lab.services.demo_backend --listen 127.0.0.21:8001 [--name backend-1]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import math
import os
import struct
from collections.abc import Sequence
from typing import Any

from aiohttp import web

API_KEY_ENV = "ADCML_DEMO_API_KEY"
DEFAULT_MODEL = "lab-demo-embed"
DEFAULT_DIMENSIONS = 16
MAX_DIMENSIONS = 4096
MAX_INPUTS = 2048


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """A deterministic unit vector for ``text``: SHA-256 in counter mode, mapped to [-1, 1)."""
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        block = hashlib.sha256(counter.to_bytes(4, "big") + text.encode()).digest()
        values.extend((n / 2**31) - 1.0 for n in struct.unpack(">8I", block))
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings_response(body: Any) -> dict[str, Any]:
    """The OpenAI-style answer to an embeddings request body; ValueError when it is invalid."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    inputs = body.get("input")
    if isinstance(inputs, str):
        inputs = [inputs]
    if (not isinstance(inputs, list) or not inputs or len(inputs) > MAX_INPUTS
            or not all(isinstance(item, str) for item in inputs)):
        raise ValueError(f"'input' must be a string or a list of 1 to {MAX_INPUTS} strings")
    dimensions = body.get("dimensions", DEFAULT_DIMENSIONS)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) \
            or not 1 <= dimensions <= MAX_DIMENSIONS:
        raise ValueError(f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}")
    model = body.get("model", DEFAULT_MODEL)
    if not isinstance(model, str):
        raise ValueError("'model' must be a string")
    tokens = sum(len(item.split()) for item in inputs)
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": embed(item, dimensions)}
                 for i, item in enumerate(inputs)],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _error(status: int, message: str, kind: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": kind}}, status=status)


def build_app(name: str, api_key: str | None = None) -> web.Application:
    """The demo backend's routes; ``api_key`` guards the chat route."""

    @web.middleware
    async def tag(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers["X-Lab-Backend"] = name
            raise
        response.headers["X-Lab-Backend"] = name
        return response

    async def read_json(request: web.Request) -> Any:
        try:
            return json.loads(await request.read() or b"null")
        except (ValueError, UnicodeDecodeError):
            raise ValueError("the body is not JSON") from None

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "name": name})

    async def embeddings(request: web.Request) -> web.Response:
        try:
            return web.json_response(embeddings_response(await read_json(request)))
        except ValueError as exc:
            return _error(400, str(exc))

    async def chat(request: web.Request) -> web.Response:
        if api_key is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {api_key}".encode()):
                return _error(401, "missing or wrong backend credential", "authentication_error")
        try:
            body = await read_json(request)
        except ValueError as exc:
            return _error(400, str(exc))
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' must be a list")
        return web.json_response({
            "object": "chat.completion", "model": body.get("model", "lab-demo-chat"),
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant", "content": f"lab demo backend {name}: no model here yet"}}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        })

    app = web.Application(middlewares=[tag], client_max_size=16 * 1024 * 1024)
    app.router.add_get("/health", health)
    app.router.add_post("/v1/embeddings", embeddings)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m adcml.lab.services.demo_backend",
                                     description="A lab stand-in for a model server (no model).")
    parser.add_argument("--listen", required=True, metavar="HOST:PORT")
    parser.add_argument("--name", default=None, help="shown in X-Lab-Backend (default HOST:PORT)")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen {args.listen!r}: give HOST:PORT, e.g. 127.0.0.21:8001")
    app = build_app(args.name or args.listen, os.environ.get(API_KEY_ENV) or None)
    print(f"demo backend {args.name or args.listen} on http://{args.listen}", flush=True)
    web.run_app(app, host=host, port=int(port), print=None, access_log=None,
                handle_signals=True)


if __name__ == "__main__":
    main()
