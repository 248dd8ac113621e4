"""A padding-free forward pass for BERT encoders, over the model's own modules and weights.

A padded batch spends compute on pad tokens: 32 inputs of 11 to 44 tokens all become 44 tokens
long, and on a CPU, where the matrix multiplications are the time, about 40% of it goes to
padding. Here the batch's tokens are packed into one ``[tokens, hidden]`` matrix for everything
that works token by token (embeddings, the linear layers, layer norms, the activation); only
attention, which mixes the tokens of one input, runs on a padded view (a few percent of the
work), and its results are packed again. Text-embeddings-inference does the same on GPUs with
variable-length attention kernels.

Only the architecture whose layers this module knows is packed (``bert`` with absolute
positions: all-MiniLM, BGE, E5, GTE and most sentence-transformers checkpoints);
``load_model`` also checks the packed result against the model's own padded forward pass on
real inputs before it uses it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812


@dataclass
class PackedBatch:
    """Hidden states of a batch with every input's tokens back to back."""

    hidden: torch.Tensor
    """``[tokens, hidden]``: input 0's tokens, then input 1's, ..."""
    segment: torch.Tensor
    """``[tokens]``: the input each token belongs to."""
    lengths: torch.Tensor
    """``[inputs]``: tokens per input."""
    starts: torch.Tensor
    """``[inputs]``: the row of each input's first token."""


def unsupported_reason(model: torch.nn.Module) -> str | None:
    """Why ``model`` cannot run packed, or None when it can."""
    config = model.config
    if config.model_type != "bert":
        return f"model type {config.model_type!r} (packing knows bert)"
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return f"position embeddings {config.position_embedding_type!r} (packing knows absolute)"
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return "a decoder"
    encoder = getattr(model, "bert", model)
    if not hasattr(encoder, "embeddings") or not hasattr(encoder, "encoder"):
        return f"{type(model).__name__} has no BERT encoder"
    if encoder is not model and not (hasattr(model, "classifier") and getattr(encoder, "pooler", None)):
        return f"{type(model).__name__} is not a sequence classifier over a pooled BERT"
    return None


class PackedBert:
    """Runs a ``BertModel`` or ``BertForSequenceClassification`` on packed token ids."""

    def __init__(self, model: torch.nn.Module) -> None:
        reason = unsupported_reason(model)
        if reason:
            raise ValueError(reason)
        self.model = model
        self.encoder = getattr(model, "bert", model)
        self.classifier = model.classifier if self.encoder is not model else None

    def encode(self, ids: list[list[int]]) -> PackedBatch:
        """The last hidden states of every token of ``ids`` (token ids per input, unpadded)."""
        embeddings = self.encoder.embeddings
        device = embeddings.word_embeddings.weight.device
        lengths = torch.tensor([len(row) for row in ids], device=device)
        flat = torch.tensor(list(itertools.chain.from_iterable(ids)), device=device)
        segment = torch.repeat_interleave(torch.arange(len(ids), device=device), lengths)
        starts = torch.cumsum(lengths, 0) - lengths
        positions = torch.arange(flat.numel(), device=device) - starts[segment]
        hidden = (embeddings.word_embeddings(flat) + embeddings.position_embeddings(positions)
                  + embeddings.token_type_embeddings.weight[0])
        hidden = embeddings.LayerNorm(hidden)
        attend = _Attention(segment, positions, lengths)
        for layer in self.encoder.encoder.layer:
            hidden = self._layer(layer, hidden, attend)
        return PackedBatch(hidden, segment, lengths, starts)

    @staticmethod
    def _layer(layer: Any, hidden: torch.Tensor, attend: _Attention) -> torch.Tensor:
        heads = layer.attention.self
        context = attend(heads.query(hidden), heads.key(hidden), heads.value(hidden),
                         heads.num_attention_heads)
        out = layer.attention.output
        hidden = out.LayerNorm(out.dense(context) + hidden)
        inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(hidden))
        return layer.output.LayerNorm(layer.output.dense(inner) + hidden)

    def classify(self, batch: PackedBatch) -> torch.Tensor:
        """Logits: the classifier over the pooler's view of each input's first token."""
        assert self.classifier is not None, "not a sequence classifier"
        first = batch.hidden[batch.starts].unsqueeze(1)
        return self.classifier(self.encoder.pooler(first))


class _Attention:
    """Self-attention of packed rows: each input's tokens attend to that input's tokens only.

    The projections arrive packed; they are scattered into a ``[inputs, longest, ...]`` view
    for scaled-dot-product attention with a key mask, and the result is gathered back. When
    every input has the same length (one input, say) the view needs no copy and no mask.
    """

    def __init__(self, segment: torch.Tensor, positions: torch.Tensor, lengths: torch.Tensor) -> None:
        self.inputs = int(lengths.numel())
        self.longest = int(lengths.max())
        self.uniform = bool((lengths == self.longest).all())
        self.slots = segment * self.longest + positions
        steps = torch.arange(self.longest, device=lengths.device)
        self.mask = None if self.uniform else (steps[None, :] < lengths[:, None])[:, None, None, :]

    def __call__(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                 heads: int) -> torch.Tensor:
        q, k, v = (self._padded(t, heads) for t in (query, key, value))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)
        width = query.shape[-1]
        context = context.transpose(1, 2).reshape(self.inputs * self.longest, width)
        return context if self.uniform else context[self.slots]

    def _padded(self, rows: torch.Tensor, heads: int) -> torch.Tensor:
        width = rows.shape[-1]
        if not self.uniform:
            padded = rows.new_zeros(self.inputs * self.longest, width)
            padded[self.slots] = rows
            rows = padded
        return rows.view(self.inputs, self.longest, heads, width // heads).transpose(1, 2)
