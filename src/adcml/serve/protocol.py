"""The wire protocol: decode request bodies into jobs, encode results into response bodies.

Pure functions, no model and no I/O, so every rule is testable on its own. Routes and shapes
follow Hugging Face text-embeddings-inference (TEI):

- ``POST /embed``        {"inputs": str | [str], "normalize": bool = true, "truncate": bool = false}
                         -> [[float, ...], ...]
- ``POST /v1/embeddings`` {"input": str | [str], "model": str, "encoding_format": "float" | "base64"}
                         -> {"object": "list", "data": [{"object": "embedding", "index": i,
                            "embedding": [...]}], "model": ..., "usage": {...}}
- ``POST /predict``      {"inputs": str | [str], "truncate": bool = false, "raw_scores": bool = false}
                         -> [{"label": str, "score": float}, ...] per input, best first
                            (one list for a str input, a list of lists for a [str] input)

Unknown fields are ignored, as TEI does; known fields of the wrong type are refused.
"""

from __future__ import annotations

import base64
import enum
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from adcml.serve.errors import EmptyInput, InputTooLarge, MalformedRequest, ValidationError


class Route(enum.StrEnum):
    EMBED = "/embed"
    OPENAI_EMBEDDINGS = "/v1/embeddings"
    PREDICT = "/predict"


@dataclass(frozen=True)
class Limits:
    max_client_batch_size: int
    max_input_chars: int
    auto_truncate: bool = False


@dataclass(frozen=True)
class Job:
    """One decoded request: its texts and the per-request options the batch hooks read."""

    route: Route
    inputs: list[str]
    single: bool
    truncate: bool
    normalize: bool = True
    raw_scores: bool = False
    base64: bool = False
    model: str | None = None


def parse_json(body: bytes) -> Any:
    """The request body as JSON; refuses bodies that are not UTF-8 JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(
            f"the body is not valid JSON ({exc.msg} at byte {exc.pos})",
            hint='send a JSON object such as {"inputs": "some text"} with Content-Type: application/json',
        ) from None


def _object(payload: Any, example: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValidationError(f"expected a JSON object, got {_kind(payload)}", hint=f"send {example}")
    return payload


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _flag(payload: dict[str, Any], name: str, default: bool) -> bool:
    value = payload.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ValidationError(f"expected true or false, got {_kind(value)}", field=name,
                              hint=f'write "{name}": true or "{name}": false')
    return value


def _texts(payload: dict[str, Any], name: str, limits: Limits) -> tuple[list[str], bool]:
    if name not in payload:
        raise ValidationError("missing", field=name, hint=f'send {{"{name}": "some text"}} or '
                              f'{{"{name}": ["text one", "text two"]}}')
    value = payload[name]
    if isinstance(value, str):
        texts, single = [value], True
    elif isinstance(value, list):
        texts, single = value, False
        if not texts:
            raise EmptyInput("the list is empty", field=name, hint="send at least one text")
        if len(texts) > limits.max_client_batch_size:
            raise ValidationError(
                f"{len(texts)} inputs is more than the {limits.max_client_batch_size} allowed in one request",
                field=name, hint=f"split the inputs into requests of at most {limits.max_client_batch_size}, "
                f"or start the server with a larger --max-client-batch-size")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValidationError(f"expected a string, got {_kind(text)}", field=f"{name}[{i}]",
                                      hint="send every input as a JSON string")
    else:
        raise ValidationError(
            f"expected a string or an array of strings, got {_kind(value)}", field=name,
            hint=f'send {{"{name}": "some text"}} or {{"{name}": ["text one", "text two"]}}')
    for i, text in enumerate(texts):
        where = name if single else f"{name}[{i}]"
        if not text:
            raise EmptyInput("the input is an empty string", field=where, hint="send non-empty text")
        if len(text) > limits.max_input_chars:
            raise InputTooLarge(
                f"{len(text)} characters is more than the {limits.max_input_chars} allowed per input",
                field=where, hint="split the text into chunks (a few hundred words fit the model), "
                "or start the server with a larger --max-input-chars")
    return texts, single


def decode_embed(payload: Any, limits: Limits) -> Job:
    """``POST /embed`` (TEI)."""
    body = _object(payload, '{"inputs": "some text"}')
    texts, single = _texts(body, "inputs", limits)
    return Job(Route.EMBED, texts, single, truncate=_flag(body, "truncate", limits.auto_truncate),
               normalize=_flag(body, "normalize", True))


def decode_openai(payload: Any, limits: Limits) -> Job:
    """``POST /v1/embeddings`` (OpenAI, as TEI serves it)."""
    body = _object(payload, '{"input": "some text", "model": "..."}')
    texts, single = _texts(body, "input", limits)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise ValidationError(f"expected a string, got {_kind(model)}", field="model",
                              hint="send the model name as a string, or leave it out")
    fmt = body.get("encoding_format", "float")
    if fmt not in ("float", "base64", None):
        raise ValidationError(f"{fmt!r} is not supported", field="encoding_format",
                              hint='use "float" or "base64"')
    return Job(Route.OPENAI_EMBEDDINGS, texts, single, truncate=limits.auto_truncate, normalize=True,
               base64=fmt == "base64", model=model)


def decode_predict(payload: Any, limits: Limits) -> Job:
    """``POST /predict`` (TEI, sequence classification)."""
    body = _object(payload, '{"inputs": "some text"}')
    texts, single = _texts(body, "inputs", limits)
    return Job(Route.PREDICT, texts, single, truncate=_flag(body, "truncate", limits.auto_truncate),
               raw_scores=_flag(body, "raw_scores", False))


DECODERS = {Route.EMBED: decode_embed, Route.OPENAI_EMBEDDINGS: decode_openai, Route.PREDICT: decode_predict}


# --- encode ---------------------------------------------------------------------------------------
def encode_embed(job: Job, vectors: np.ndarray) -> bytes:
    return orjson.dumps(vectors, option=orjson.OPT_SERIALIZE_NUMPY)


def encode_openai(job: Job, vectors: np.ndarray, tokens: int, model_id: str) -> bytes:
    if job.base64:
        rows: list[Any] = [base64.b64encode(v.astype("<f4").tobytes()).decode("ascii") for v in vectors]
    else:
        rows = list(vectors)
    data = [{"object": "embedding", "index": i, "embedding": row} for i, row in enumerate(rows)]
    return orjson.dumps({"object": "list", "data": data, "model": job.model or model_id,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
                        option=orjson.OPT_SERIALIZE_NUMPY)


def encode_predict(job: Job, scores: np.ndarray, labels: list[str]) -> bytes:
    results = []
    for row in scores:
        order = np.argsort(-row, kind="stable")
        results.append([{"label": labels[i], "score": float(row[i])} for i in order])
    return orjson.dumps(results[0] if job.single else results)
