"""The model's lifecycle hooks, in LitServe's shape: ``setup`` once per worker, then for every
batch ``batch`` -> ``predict`` -> ``unbatch``; ``decode_request`` and ``encode_response`` run on
the HTTP side, one request at a time (see ``protocol``).

The hooks isolate failures per input: ``batch`` tokenizes the whole batch in one call and turns
an input that breaks a rule (too many tokens with ``truncate`` false) into an error for that
input alone; ``predict`` failures are retried input by input by the batcher, so one bad input
never fails the others in its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from adcml.serve import protocol
from adcml.serve.errors import InputTooLarge, RequestError, ValidationError
from adcml.serve.model import LoadedModel, configure_threads, load_model
from adcml.serve.protocol import Job, Limits, Route
from adcml.serve.settings import ServeSettings, Task


@dataclass(frozen=True)
class Item:
    """One input of one request: the unit the batcher packs into forward passes."""

    text: str
    job: Job
    index: int


@dataclass
class Output:
    """What ``unbatch`` gives back for one input: a result row and its token count."""

    row: np.ndarray
    tokens: int


@dataclass
class Batch:
    """A tokenized batch: the inputs that made it (``rows``: their places in ``items``), and
    the error of each input that did not."""

    items: list[Item]
    rows: list[int]
    encoded: Any
    errors: dict[int, RequestError]


class ModelAPI:
    """Embedding or classification over one ``LoadedModel``."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.model: LoadedModel | None = None
        self.streams = 1
        self.threads = 1
        self.limits = Limits(settings.max_client_batch_size, settings.max_input_chars, settings.auto_truncate)

    # --- worker side ------------------------------------------------------------------------------
    def setup(self) -> LoadedModel:
        """Load the model (once per process), set torch's threads, warm up if the settings say so."""
        model = load_model(self.settings)
        self.streams, self.threads = configure_threads(self.settings, model.device)
        if self.settings.warmup:
            model.warm_up(self.settings.max_batch_size)
        self.model = model
        return model

    @property
    def task(self) -> Task:
        assert self.model is not None, "setup() first"
        return self.model.task

    def batch(self, items: list[Item]) -> Batch:
        """Tokenize ``items`` in one call. An input over the token limit fails alone unless its
        request allows truncation (tokenized to limit + 1, so one call tells both cases apart)."""
        model = self.model
        assert model is not None
        limit = model.max_input_length
        encoded = model.tokenize([item.text for item in items], limit + 1)
        errors: dict[int, RequestError] = {}
        over = [i for i, n in enumerate(encoded.lengths) if n > limit]
        for i in over:
            if not items[i].job.truncate:
                errors[i] = InputTooLarge(
                    f"the input has more than {limit} tokens, the model's limit",
                    field=_field(items[i]), hint='send "truncate": true to cut it to the limit, '
                    "or split the text into shorter chunks")
        if over:  # re-tokenize at the limit; inputs within it come out the same
            rows = [i for i in range(len(items)) if i not in errors]
            encoded = model.tokenize([items[i].text for i in rows], limit) if rows else None
        else:
            rows = list(range(len(items)))
        return Batch(items, rows, encoded, errors)

    def predict(self, batch: Batch) -> torch.Tensor | None:
        """The forward pass: pooled embeddings or logits, one row per surviving input."""
        assert self.model is not None
        return self.model.forward(batch.encoded) if batch.encoded is not None else None

    def unbatch(self, batch: Batch, output: torch.Tensor | None) -> list[Output | RequestError]:
        """One result per item, in order: an ``Output`` or the item's ``RequestError``."""
        results: list[Output | RequestError] = [batch.errors.get(i) for i in range(len(batch.items))]
        if output is None:
            return results
        if self.task is Task.EMBED:
            normed = torch.nn.functional.normalize(output, p=2, dim=1)
            want = torch.tensor([batch.items[i].job.normalize for i in batch.rows], device=output.device)
            output = torch.where(want.unsqueeze(1), normed, output)
        elif self.task is Task.CLASSIFY:
            probs = output.softmax(dim=1)
            want = torch.tensor([batch.items[i].job.raw_scores for i in batch.rows], device=output.device)
            output = torch.where(want.unsqueeze(1), output, probs)
        rows = output.cpu().numpy()
        for row, i in enumerate(batch.rows):
            results[i] = Output(rows[row], batch.encoded.lengths[row])
        return results

    # --- HTTP side --------------------------------------------------------------------------------
    def decode_request(self, route: Route, payload: Any) -> Job:
        """Validate a parsed body into a ``Job`` (raises a 4xx ``RequestError``)."""
        job = protocol.DECODERS[route](payload, self.limits)
        if self.model is not None:
            _check_route(route, self.model.task)
        return job

    def items(self, job: Job) -> list[Item]:
        return [Item(text, job, i) for i, text in enumerate(job.inputs)]

    def encode_response(self, job: Job, outputs: list[Output]) -> bytes:
        """The response body for a job whose every input has an ``Output``."""
        assert self.model is not None
        rows = np.stack([o.row for o in outputs])
        if job.route is Route.EMBED:
            return protocol.encode_embed(job, rows)
        if job.route is Route.OPENAI_EMBEDDINGS:
            return protocol.encode_openai(job, rows, sum(o.tokens for o in outputs), self.model.model_id)
        return protocol.encode_predict(job, rows, self.model.labels)


def _field(item: Item) -> str:
    name = "input" if item.job.route is Route.OPENAI_EMBEDDINGS else "inputs"
    return name if item.job.single else f"{name}[{item.index}]"


def _check_route(route: Route, task: Task) -> None:
    if route is Route.PREDICT and task is not Task.CLASSIFY:
        raise ValidationError("this server runs an embedding model, which does not classify",
                              hint="POST to /embed or /v1/embeddings, or serve a sequence-classification "
                              "model (adcml serve --task classify)")
    if route is not Route.PREDICT and task is Task.CLASSIFY:
        raise ValidationError("this server runs a classification model, which does not embed",
                              hint="POST to /predict, or serve an embedding model")
