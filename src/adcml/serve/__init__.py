"""The model server (``adcml serve``): a PyTorch/transformers model behind the HTTP API of
Hugging Face text-embeddings-inference, so the ADC can treat a pool of these and a Hugging Face
endpoint alike.

    settings   ServeSettings: every option, checked before anything loads
    model      load a checkpoint (local path or hub id), device and dtype, tokenize, forward, pool
    api        ModelAPI: the hooks setup -> batch -> predict -> unbatch (worker side),
               decode_request / encode_response (HTTP side)
    protocol   the wire format: request bodies -> Job, results -> response bodies (pure)
    batcher    dynamic batching over one queue and N streams, failures isolated per input
    metrics    Prometheus collectors in a registry per server
    app        the Starlette app: /embed, /v1/embeddings, /predict, /health, /info, /metrics
    server     uvicorn in the foreground (SIGTERM drains, exit 0) or on a thread
    errors     ServeError and its tree

Importing this package does not import torch; ``model``, ``api`` and everything above them do.
"""

from __future__ import annotations

from adcml.serve.errors import ModelLoadError, RequestError, ServeError, SettingsError
from adcml.serve.settings import DType, ServeSettings, Task

__all__ = ["DType", "ModelLoadError", "RequestError", "ServeError", "ServeSettings", "SettingsError", "Task"]
