"""The HTTP application: TEI-compatible routes over a ``ModelAPI`` and a ``Batcher``.

The app answers from the moment it listens: ``/health`` says 503 while the model loads and warms
up (in a thread, so the socket is open all along), 200 once it serves, and 503 again while the
server drains. Every refusal is a JSON body with ``error``, ``error_type`` and a ``hint``.
"""

from __future__ import annotations

import enum
import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route as HttpRoute

from adcml import __version__
from adcml.serve.api import ModelAPI
from adcml.serve.batcher import Batcher
from adcml.serve.errors import (
    BackendError,
    InputTooLarge,
    NotReady,
    Overloaded,
    RequestError,
    ServeError,
    Unauthorized,
)
from adcml.serve.metrics import CONTENT_TYPE, Metrics
from adcml.serve.protocol import Route, parse_json
from adcml.serve.settings import ServeSettings

log = logging.getLogger(__name__)
JSON = "application/json"


class Phase(enum.StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    DRAINING = "draining"


@dataclass
class ServerState:
    """What the routes read: settings, hooks, metrics, and where the server is in its life."""

    settings: ServeSettings
    api: ModelAPI
    metrics: Metrics
    phase: Phase = Phase.LOADING
    batcher: Batcher | None = None
    failure: str | None = None
    in_flight: int = 0
    streams: int = 0
    threads: int = 0
    on_failure: Callable[[str], None] | None = None
    _loader: threading.Thread | None = field(default=None, repr=False)

    # --- lifecycle ------------------------------------------------------------------------------
    def start_loading(self) -> None:
        """Load and warm the model in a thread; the app keeps answering meanwhile."""
        self._loader = threading.Thread(target=self._load, name="adcml-serve-load", daemon=True)
        self._loader.start()

    def _load(self) -> None:
        started = time.monotonic()
        try:
            model = self.api.setup()
            self.streams, self.threads = self.api.streams, self.api.threads
            batcher = Batcher(self.api, max_batch_size=self.settings.max_batch_size,
                              max_wait=self.settings.max_wait_ms / 1000, streams=self.streams,
                              metrics=self.metrics)
            batcher.start()
        except Exception as exc:
            if isinstance(exc, ServeError):  # a known cause: its message says what to do
                log.error("model server set-up failed: %s", exc)
            else:
                log.exception("model server set-up failed")
            self.failure = str(exc)
            self.phase = Phase.FAILED
            if self.on_failure is not None:
                self.on_failure(self.failure)
            return
        self.metrics.describe_model(model.model_id, model.task.value, model.device, model.dtype_name)
        self.batcher = batcher
        if self.phase is Phase.LOADING:
            self.phase = Phase.READY
            self.metrics.ready.set(1)
        log.info("ready in %.1f s: %d stream(s) x %d torch thread(s), max batch %d, max wait %g ms",
                 time.monotonic() - started, self.streams, self.threads, self.settings.max_batch_size,
                 self.settings.max_wait_ms)

    def wait_loaded(self, timeout: float | None = None) -> bool:
        if self._loader is not None:
            self._loader.join(timeout)
        return self.phase is Phase.READY

    def drain(self) -> None:
        """Stop taking new work; in-flight requests still finish."""
        self.phase = Phase.DRAINING
        self.metrics.ready.set(0)

    def close(self) -> None:
        if self.batcher is not None:
            self.batcher.stop(timeout=self.settings.drain_timeout)

    def not_ready(self) -> NotReady:
        if self.phase is Phase.FAILED:
            return NotReady(f"the model failed to load: {self.failure}",
                            hint="fix the model path or settings and restart the server (see its log)")
        if self.phase is Phase.DRAINING:
            return NotReady("the server is shutting down", hint="send the request to another server")
        return NotReady("the model is still loading or warming up",
                        hint="wait until GET /health answers 200, then retry")


def create_app(settings: ServeSettings, *, api: ModelAPI | None = None,
               metrics: Metrics | None = None) -> tuple[Starlette, ServerState]:
    """The ASGI app and its state. Loading starts with the app's lifespan (or ``start_loading``)."""
    state = ServerState(settings, api or ModelAPI(settings), metrics or Metrics())

    @asynccontextmanager
    async def lifespan(app: Starlette):
        if state._loader is None:
            state.start_loading()
        try:
            yield
        finally:
            state.close()

    routes = [
        HttpRoute("/embed", _inference(state, Route.EMBED), methods=["POST"]),
        HttpRoute("/v1/embeddings", _inference(state, Route.OPENAI_EMBEDDINGS), methods=["POST"]),
        HttpRoute("/predict", _inference(state, Route.PREDICT), methods=["POST"]),
        HttpRoute("/health", _health(state), methods=["GET"]),
        HttpRoute("/info", _guard(state, _info(state)), methods=["GET"]),
        HttpRoute("/metrics", _guard(state, _metrics(state)), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: _http_exception})  # type: ignore[dict-item]
    app.state.serve = state
    return app, state


# --- helpers ----------------------------------------------------------------------------------------
def _json(body: Any, status: int = 200) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, media_type=JSON)


def _error(exc: RequestError, openai: bool = False) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return Response(orjson.dumps(exc.body(openai)), status_code=exc.status, media_type=JSON, headers=headers)


async def _http_exception(request: Request, exc: HTTPException) -> Response:
    hint = ("POST /embed, /v1/embeddings or /predict; GET /health, /info or /metrics"
            if exc.status_code in (404, 405) else "see the server's documentation")
    return _json({"error": exc.detail, "error_type": "validation", "hint": f"Hint: {hint}"}, exc.status_code)


def _authorize(state: ServerState, request: Request) -> None:
    key = state.settings.api_key
    if key is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.reveal().encode()):
        raise Unauthorized("missing or wrong API key" if header else "missing API key",
                           hint="send the header Authorization: Bearer <api key>")


def _guard(state: ServerState, handler: Callable[[Request], Awaitable[Response]]):
    async def guarded(request: Request) -> Response:
        try:
            _authorize(state, request)
        except RequestError as exc:
            return _error(exc)
        return await handler(request)

    return guarded


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = InputTooLarge(f"the body is more than {limit} bytes",
                              hint="send fewer or shorter inputs per request, or start the server with a "
                              "larger --payload-limit")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise too_large
    return bytes(chunks)


def _inference(state: ServerState, route: Route):
    metrics = state.metrics
    openai = route is Route.OPENAI_EMBEDDINGS
    ok = metrics.requests.labels(route.value, "200")
    duration = metrics.request_duration.labels(route.value)
    inputs = metrics.inputs.labels(route.value)

    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        accepted = False
        try:
            _authorize(state, request)
            if state.phase is not Phase.READY or state.batcher is None:
                raise state.not_ready()
            if state.in_flight >= state.settings.max_concurrent_requests:
                raise Overloaded(f"{state.in_flight} requests are in flight, the most this server takes",
                                 hint="retry after a short back-off, or spread the load over more servers")
            state.in_flight += 1
            metrics.in_flight.inc()
            accepted = True
            body = await _read_body(request, state.settings.payload_limit)
            job = state.api.decode_request(route, parse_json(body))
            results = await state.batcher.submit(state.api.items(job))
            for result in results:
                if isinstance(result, RequestError):
                    raise result
            content = state.api.encode_response(job, results)  # type: ignore[arg-type]
        except RequestError as exc:
            metrics.requests.labels(route.value, str(exc.status)).inc()
            return _error(exc, openai)
        except Exception as exc:  # a bug, not the client's fault: say so, keep serving
            log.exception("unexpected error on %s", route.value)
            metrics.requests.labels(route.value, "500").inc()
            return _error(BackendError(f"internal error: {type(exc).__name__}",
                                       hint="retry; the server log has the traceback"), openai)
        finally:
            if accepted:
                state.in_flight -= 1
                metrics.in_flight.dec()
        ok.inc()
        inputs.inc(len(job.inputs))
        duration.observe(time.perf_counter() - started)
        return Response(content, media_type=JSON)

    return handle


def _health(state: ServerState):
    async def health(request: Request) -> Response:
        if state.phase is Phase.READY:
            return _json({"status": "ready"})
        return _error(state.not_ready())

    return health


def _info(state: ServerState):
    async def info(request: Request) -> Response:
        s = state.settings
        model = state.api.model
        body: dict[str, Any] = {
            "model_id": s.model_id,
            "model_dtype": model.dtype_name if model else None,
            "model_type": _model_type(state),
            "task": model.task.value if model else s.task.value,
            "device": str(model.device) if model else s.device,
            "max_concurrent_requests": s.max_concurrent_requests,
            "max_input_length": model.max_input_length if model else s.max_input_length,
            "max_batch_size": s.max_batch_size,
            "max_batch_requests": s.max_batch_size,
            "max_client_batch_size": s.max_client_batch_size,
            "max_wait_ms": s.max_wait_ms,
            "auto_truncate": s.auto_truncate,
            "streams": state.streams,
            "torch_threads": state.threads,
            "padding_free": bool(model and model.packed),
            "status": state.phase.value,
            "version": __version__,
        }
        return _json(body)

    return info


def _model_type(state: ServerState) -> dict[str, Any] | None:
    model = state.api.model
    if model is None:
        return None
    if model.labels:
        return {"classifier": {"id2label": {str(i): label for i, label in enumerate(model.labels)},
                               "label2id": {label: i for i, label in enumerate(model.labels)}}}
    return {"embedding": {"pooling": model.pooling.value}}


def _metrics(state: ServerState):
    async def metrics(request: Request) -> Response:
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    return metrics
