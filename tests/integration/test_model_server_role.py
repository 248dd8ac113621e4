"""The model_server role's check that its service user can run the runtime venv's Python
(roles/model_server/tasks/runnable.yml), on this machine over a local connection: a venv the
user cannot read stops the role with the reason, before a unit that could never start."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from ansible_harness import HOST, AnsibleProject

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None,
                                reason="runs a command as another user (root and runuser)")

PYTHON = "/usr/bin/python3.11" if Path("/usr/bin/python3.11").exists() else shutil.which("python3")


@pytest.fixture
def venv():
    """A venv in a directory every user may enter (pytest's tmp_path is private to root)."""
    parent = Path(tempfile.mkdtemp(prefix="adcml-venv-"))
    parent.chmod(0o755)
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(parent / "venv")], check=True)
    yield parent / "venv"
    shutil.rmtree(parent)


def run_check(tmp_path: Path, venv: Path):
    project = AnsibleProject(tmp_path, nsip=None)
    playbook = project.write_playbook("runnable.yml", [{
        "name": "The model server's venv is runnable",
        "ansible.builtin.include_role": {"name": "model_server", "tasks_from": "runnable"},
        "vars": {"model_server_user": "nobody", "model_server_venv": str(venv)},
    }])
    return project.playbook(playbook)


def test_a_venv_the_service_user_can_run_passes(tmp_path, venv):
    venv.chmod(0o755)
    run = run_check(tmp_path, venv)
    assert run.rc == 0 and run.recap[HOST]["failed"] == 0, run.explain()
    assert run.result("model_server : The venv's Python runs as the service user nobody")["rc"] == 0


def test_a_venv_the_service_user_cannot_read_stops_the_role_with_the_reason(tmp_path, venv):
    venv.chmod(0o700)  # like a venv whose Python lives under /root (pyenv)
    run = run_check(tmp_path, venv)
    assert run.rc != 0 and run.recap[HOST]["failed"] == 1, run.explain()
    message = run.result("model_server : Stop with the reason when it cannot")["msg"]
    assert f"nobody cannot run {venv}/bin/python" in message
    assert "Permission denied" in message and "gpu_host_python" in message
