"""Settings of the model server: one frozen dataclass, checked eagerly before anything loads."""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass, field, replace
from typing import Any

from adcml.secret import Secret
from adcml.serve.errors import SettingsError

API_KEY_ENV = "ADCML_SERVE_API_KEY"
"""Environment variable holding the API key (TEI reads ``API_KEY``; both are accepted)."""
TEI_API_KEY_ENV = "API_KEY"


class Task(enum.StrEnum):
    """What the model does. ``auto`` reads the model's config: a ``*ForSequenceClassification``
    architecture classifies, anything else embeds."""

    AUTO = "auto"
    EMBED = "embed"
    CLASSIFY = "classify"


class DType(enum.StrEnum):
    AUTO = "auto"  # float16 on CUDA, float32 on CPU
    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"


class PaddingFree(enum.StrEnum):
    """Whether forward passes skip pad tokens (``packed``). ``auto``: on CPU, for models that can."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``adcml serve`` takes. Limits follow text-embeddings-inference's defaults
    where TEI has one (client batch 32, payload 2 MB, 512 concurrent requests)."""

    model: str
    host: str = "127.0.0.1"
    port: int = 8080
    task: Task = Task.AUTO
    device: str = "auto"
    dtype: DType = DType.AUTO
    served_model_name: str | None = None
    max_batch_size: int = 32
    """Most inputs in one forward pass."""
    max_wait_ms: float = 2.0
    """How long a batch that is not full waits for more inputs once the first one is queued."""
    max_client_batch_size: int = 32
    """Most inputs in one request."""
    max_input_length: int | None = None
    """Most tokens per input; None: the model's own limit."""
    max_input_chars: int = 100_000
    """Most characters per input, whatever ``truncate`` says: bounds the tokenizer's work."""
    payload_limit: int = 2_000_000
    """Most bytes in a request body."""
    max_concurrent_requests: int = 512
    """Requests in flight beyond this get 429."""
    auto_truncate: bool = False
    """Truncate over-long inputs by default (``/v1/embeddings`` has no ``truncate`` field)."""
    api_key: Secret | None = field(default=None, repr=False)
    threads: int | None = None
    """Torch intra-op threads per forward pass; None: 1 per stream, so streams x threads = cores."""
    streams: int | None = None
    """Forward passes that run at once (each on its own thread); None: the CPU count on CPU, 1 on CUDA."""
    padding_free: PaddingFree = PaddingFree.AUTO
    """Pack a batch's tokens instead of padding every input to the longest (BERT encoders)."""
    warmup: bool = True
    drain_timeout: float = 30.0
    """Seconds a SIGTERM waits for in-flight requests before it cancels them."""

    def __post_init__(self) -> None:
        for name, kind in (("task", Task), ("dtype", DType), ("padding_free", PaddingFree)):
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                raise SettingsError(name, f"{value!r} is not one of {', '.join(kind)}") from None
        object.__setattr__(self, "api_key", Secret.wrap(self.api_key))
        self.validate()

    def validate(self) -> None:
        """Raise ``SettingsError`` naming the first option that is wrong and how to fix it."""
        if not isinstance(self.model, str) or not self.model.strip():
            raise SettingsError("model", "give a local directory or a hub id such as "
                                "sentence-transformers/all-MiniLM-L6-v2")
        if not _DEVICE.match(self.device):
            raise SettingsError("device", f"{self.device!r} is not one of auto, cpu, cuda, cuda:N")
        if not 0 <= self.port <= 65535:
            raise SettingsError("port", f"{self.port} is not a TCP port (0-65535; 0 picks a free one)")
        positive = {
            "max_batch_size": self.max_batch_size, "max_client_batch_size": self.max_client_batch_size,
            "max_input_chars": self.max_input_chars, "payload_limit": self.payload_limit,
            "max_concurrent_requests": self.max_concurrent_requests,
        }
        for name in ("max_input_length", "threads", "streams"):
            if getattr(self, name) is not None:
                positive[name] = getattr(self, name)
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise SettingsError(name, f"must be a whole number of at least 1, got {value!r}")
        if self.max_wait_ms < 0:
            raise SettingsError("max_wait_ms", f"must be 0 or more, got {self.max_wait_ms}")
        if self.drain_timeout < 0:
            raise SettingsError("drain_timeout", f"must be 0 or more, got {self.drain_timeout}")

    @property
    def model_id(self) -> str:
        """The name the server reports (``/info``, ``/v1/embeddings``)."""
        return self.served_model_name or self.model

    def with_changes(self, **changes: Any) -> ServeSettings:
        return replace(self, **changes)

    @staticmethod
    def api_key_from_env(environ: dict[str, str] | None = None) -> Secret | None:
        """The API key from ``ADCML_SERVE_API_KEY`` (or TEI's ``API_KEY``), if set and not empty."""
        env = os.environ if environ is None else environ
        value = env.get(API_KEY_ENV) or env.get(TEI_API_KEY_ENV)
        return Secret(value) if value else None
