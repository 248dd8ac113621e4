"""The model: load a transformers checkpoint (local directory or hub id), pick the device and
dtype, tokenize a batch, run the forward pass, pool.

Loading reads what sentence-transformers writes beside a checkpoint (``modules.json``,
``1_Pooling/config.json``, ``sentence_bert_config.json``) so an embedding model pools and
limits its input the way sentence-transformers does (all-MiniLM-L6-v2: mean pooling over the
attention mask, 256 tokens). BERT encoders run padding-free on CPU (``packed``) unless
``--padding-free off``. Nothing here downloads unless transformers is allowed to: with
``HF_HUB_OFFLINE=1`` a hub id resolves only from the local cache.
"""

from __future__ import annotations

import copy
import enum
import inspect
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from adcml.serve.errors import ModelLoadError, SettingsError
from adcml.serve.packed import PackedBatch, PackedBert, unsupported_reason
from adcml.serve.settings import DType, PaddingFree, ServeSettings, Task

log = logging.getLogger(__name__)

_DTYPES = {DType.FLOAT32: torch.float32, DType.FLOAT16: torch.float16, DType.BFLOAT16: torch.bfloat16}


class Pooling(enum.StrEnum):
    MEAN = "mean"
    CLS = "cls"
    MAX = "max"
    LAST_TOKEN = "last_token"


@dataclass
class Encoded:
    """A tokenized batch: each input's token count, and either padded tensors on the model's
    device (the model's own forward pass) or the unpadded token ids (the packed one)."""

    lengths: list[int]
    tensors: dict[str, torch.Tensor] | None = None
    ids: list[list[int]] | None = None


@dataclass
class LoadedModel:
    """A model ready for forward passes; built by ``load_model``."""

    model_id: str
    task: Task
    device: torch.device
    dtype: torch.dtype
    tokenizer: Any
    model: torch.nn.Module
    max_input_length: int
    pooling: Pooling = Pooling.MEAN
    labels: list[str] = field(default_factory=list)
    hidden_size: int = 0
    source: str = ""
    packed: PackedBert | None = None
    """Set when forward passes run padding-free."""
    input_names: frozenset[str] = frozenset()
    """What the tokenizer gives that the model's forward pass takes (a tokenizer saved with
    another model may add ``token_type_ids``, which DistilBERT refuses)."""

    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    # --- tokenize ---------------------------------------------------------------------------
    def thread_tokenizer(self) -> Any:
        """This thread's copy of the tokenizer: a fast (Rust) tokenizer is not safe to share
        between threads ("Already borrowed"), and each stream runs on its own thread."""
        tokenizer = getattr(self._local, "tokenizer", None)
        if tokenizer is None:
            tokenizer = self._local.tokenizer = copy.deepcopy(self.tokenizer)
        return tokenizer

    def tokenize(self, texts: list[str], max_length: int) -> Encoded:
        """Tokenize ``texts``, truncating each to ``max_length`` tokens; padded to one tensor
        unless the forward pass is packed."""
        tokenizer = self.thread_tokenizer()
        if self.packed is not None:
            ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
            return Encoded([len(row) for row in ids], ids=ids)
        enc = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        tensors = {k: v.to(self.device, non_blocking=True) for k, v in enc.items() if k in self.input_names}
        return Encoded(enc["attention_mask"].sum(dim=1).tolist(), tensors=tensors)

    # --- forward ----------------------------------------------------------------------------
    @torch.inference_mode()
    def embed(self, encoded: Encoded) -> torch.Tensor:
        """Pooled, unnormalised float32 embeddings, one row per input."""
        if encoded.ids is not None:
            return self._pool_packed(self.packed.encode(encoded.ids)).float()
        hidden = self.model(**encoded.tensors).last_hidden_state
        mask = encoded.tensors["attention_mask"]
        if self.pooling is Pooling.CLS:
            pooled = hidden[:, 0]
        elif self.pooling is Pooling.LAST_TOKEN:
            last = mask.sum(dim=1) - 1
            pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        elif self.pooling is Pooling.MAX:
            pooled = hidden.masked_fill(~mask.bool().unsqueeze(-1), torch.finfo(hidden.dtype).min).amax(1)
        else:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return pooled.float()

    def _pool_packed(self, batch: PackedBatch) -> torch.Tensor:
        hidden = batch.hidden
        if self.pooling is Pooling.CLS:
            return hidden[batch.starts]
        if self.pooling is Pooling.LAST_TOKEN:
            return hidden[batch.starts + batch.lengths - 1]
        shape = (batch.lengths.numel(), hidden.shape[1])
        if self.pooling is Pooling.MAX:
            index = batch.segment.unsqueeze(1).expand_as(hidden)
            lowest = hidden.new_full(shape, torch.finfo(hidden.dtype).min)
            return lowest.scatter_reduce_(0, index, hidden, "amax")
        sums = hidden.new_zeros(shape).index_add_(0, batch.segment, hidden)
        return sums / batch.lengths.unsqueeze(1).to(hidden.dtype)

    @torch.inference_mode()
    def classify(self, encoded: Encoded) -> torch.Tensor:
        """Float32 logits, one row per input, one column per label."""
        if encoded.ids is not None:
            return self.packed.classify(self.packed.encode(encoded.ids)).float()
        return self.model(**encoded.tensors).logits.float()

    def forward(self, encoded: Encoded) -> torch.Tensor:
        return self.classify(encoded) if self.task is Task.CLASSIFY else self.embed(encoded)

    def warm_up(self, batch_size: int) -> None:
        """Run the shapes the server will see first, so the first request pays no set-up cost."""
        text = "Warm-up input for the model server, long enough to be a typical sentence."
        for size in sorted({1, batch_size}):
            self.forward(self.tokenize([text] * size, self.max_input_length))
        if self.device.type == "cuda":
            long_text = " ".join(["warm"] * self.max_input_length)
            self.forward(self.tokenize([long_text] * batch_size, self.max_input_length))
            torch.cuda.synchronize(self.device)


def resolve_device(requested: str) -> torch.device:
    """``auto``: the first CUDA device when one is usable, else the CPU."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device", f"{requested} asked for but torch sees no CUDA device "
                            "(Hint: use --device cpu, or install a CUDA build of torch on a GPU host)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise SettingsError("device", f"{requested}: only {torch.cuda.device_count()} CUDA device(s)")
    return device


def resolve_dtype(requested: DType, device: torch.device) -> torch.dtype:
    if requested is DType.AUTO:
        return torch.float16 if device.type == "cuda" else torch.float32
    if requested is DType.FLOAT16 and device.type == "cpu":
        raise SettingsError("dtype", "float16 is slow or unsupported on CPU (Hint: use float32 or bfloat16)")
    return _DTYPES[requested]


def _read_json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _sentence_transformers_config(root: Path | None) -> tuple[Pooling | None, int | None]:
    """Pooling mode and max_seq_length from a sentence-transformers layout, if there is one."""
    if root is None:
        return None, None
    pooling = None
    modules = _read_json(root / "modules.json") or []
    for module in modules if isinstance(modules, list) else []:
        if str(module.get("type", "")).endswith("Pooling"):
            conf = _read_json(root / module.get("path", "") / "config.json") or {}
            for key, mode in (("pooling_mode_cls_token", Pooling.CLS),
                              ("pooling_mode_max_tokens", Pooling.MAX),
                              ("pooling_mode_lasttoken", Pooling.LAST_TOKEN),
                              ("pooling_mode_mean_tokens", Pooling.MEAN)):
                if conf.get(key):
                    pooling = mode
                    break
    st_conf = _read_json(root / "sentence_bert_config.json") or {}
    max_seq = st_conf.get("max_seq_length") if isinstance(st_conf, dict) else None
    return pooling, max_seq if isinstance(max_seq, int) and max_seq > 0 else None


def _local_root(model: str) -> Path | None:
    """The directory holding the checkpoint: the path itself, or the hub cache snapshot."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download  # beside transformers' lazy import (above)

        return Path(snapshot_download(model, local_files_only=True))
    except Exception:  # not cached (yet): sentence-transformers extras are optional
        return None


def _max_input_length(settings: ServeSettings, tokenizer: Any, config: Any, st_max: int | None) -> int:
    limits = [n for n in (st_max, getattr(tokenizer, "model_max_length", None),
                          getattr(config, "max_position_embeddings", None))
              if isinstance(n, int) and 0 < n < 1_000_000]
    model_limit = min(limits) if limits else 512
    if settings.max_input_length is None:
        return model_limit
    if settings.max_input_length > model_limit:
        raise SettingsError("max_input_length", f"{settings.max_input_length} is more than the model's "
                            f"{model_limit} tokens")
    return settings.max_input_length


def load_model(settings: ServeSettings) -> LoadedModel:
    """Load tokenizer and model on the chosen device, in eval mode. Raises ``ModelLoadError``."""
    # Here, not at the top: importing transformers' auto classes takes about 5 s (measured),
    # which `adcml serve --help`, device checks and settings errors must not pay.
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    device = resolve_device(settings.device)
    dtype = resolve_dtype(DType(settings.dtype), device)
    source = settings.model
    hint = ("pass a local directory holding config.json and the weights, or a hub id already in "
            "the Hugging Face cache (huggingface-cli download ID); with HF_HUB_OFFLINE=1 nothing is fetched")
    try:
        config = AutoConfig.from_pretrained(source)
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load {source!r}: {exc}. Hint: {hint}") from exc
    architectures = getattr(config, "architectures", None) or []
    task = Task(settings.task)
    if task is Task.AUTO:
        classifier = any(a.endswith("ForSequenceClassification") for a in architectures)
        task = Task.CLASSIFY if classifier else Task.EMBED
    root = _local_root(source)
    pooling, st_max = _sentence_transformers_config(root)
    try:
        cls = AutoModelForSequenceClassification if task is Task.CLASSIFY else AutoModel
        model = cls.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"cannot load the weights of {source!r}: {exc}. Hint: {hint}") from exc
    model.eval().to(device)
    labels: list[str] = []
    if task is Task.CLASSIFY:
        id2label = getattr(config, "id2label", None) or {}
        labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(config.num_labels)]
    loaded = LoadedModel(
        model_id=settings.model_id, task=task, device=device, dtype=dtype, tokenizer=tokenizer, model=model,
        max_input_length=_max_input_length(settings, tokenizer, config, st_max),
        pooling=pooling or Pooling.MEAN, labels=labels,
        hidden_size=int(getattr(config, "hidden_size", 0) or 0), source=str(root or source),
        input_names=frozenset(tokenizer.model_input_names) & set(inspect.signature(model.forward).parameters),
    )
    loaded.packed = _packing(settings.padding_free, loaded)
    log.info("loaded %s (%s) on %s as %s, max %d tokens, %s", source, task.value, device, loaded.dtype_name,
             loaded.max_input_length, "padding-free" if loaded.packed else "padded batches")
    return loaded


_CHECK_TEXTS = ["Short.", "A somewhat longer input, so that the batch needs padding or packing.",
                "The ADC balances inference traffic over a pool of model servers; each of them batches "
                "the inputs of concurrent requests into one forward pass."]


def _packing(setting: PaddingFree, loaded: LoadedModel) -> PackedBert | None:
    """The packed forward pass when the setting and the model allow it and it gives what the
    model's own forward pass gives. ``auto``: on CPU only, where padding costs compute; on a GPU
    a batch of short inputs is launch-bound, and packing adds work per layer."""
    if setting is PaddingFree.OFF or (setting is PaddingFree.AUTO and loaded.device.type != "cpu"):
        return None
    reason = unsupported_reason(loaded.model)
    if reason:
        if setting is PaddingFree.ON:
            raise SettingsError("padding_free", f"this model cannot run padding-free: {reason} "
                                "(Hint: use --padding-free auto or off)")
        log.info("padded batches: %s", reason)
        return None
    packed = PackedBert(loaded.model)
    padded = loaded.forward(loaded.tokenize(_CHECK_TEXTS, loaded.max_input_length))
    loaded.packed = packed
    try:
        got = loaded.forward(loaded.tokenize(_CHECK_TEXTS, loaded.max_input_length))
    finally:
        loaded.packed = None
    tolerance = 1e-4 if loaded.dtype == torch.float32 else 5e-2
    error = float((got - padded).abs().max() / padded.abs().max().clamp(min=1e-6))
    if error > tolerance:
        if setting is PaddingFree.ON:
            raise ModelLoadError(f"the padding-free forward pass differs from the model's own by {error:.2g} "
                                 "(relative); Hint: use --padding-free off")
        log.warning("padded batches: the padding-free forward pass differs from the model's own by %.2g",
                    error)
        return None
    return packed


def configure_threads(settings: ServeSettings, device: torch.device) -> tuple[int, int]:
    """Decide (streams, threads per stream) and apply the thread count to torch.

    On CPU the default is one stream per core with one torch thread each: forward passes then
    never wait on each other's OpenMP barriers, and the HTTP side gets time on any core between
    batches. ``--threads`` / ``--streams`` override it; on CUDA one stream drives the GPU.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if device.type == "cuda":
        streams = settings.streams or 1
        threads = settings.threads or 1
    else:
        streams = settings.streams or max(1, cores // (settings.threads or 1))
        threads = settings.threads or max(1, cores // streams)
    torch.set_num_threads(threads)
    return streams, threads
