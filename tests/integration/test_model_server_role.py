"""The model_server role's own checks, on this machine over a local connection: that its service
user can run the runtime venv's Python (roles/model_server/tasks/runnable.yml; a venv the user
cannot read stops the role with the reason, before a unit that could never start), and that
the model files are copied only when the host's differ (tasks/model.yml)."""

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


# --- the model files (roles/model_server/tasks/model.yml) ---------------------------------------
CHECK = "model_server : The model files on the host match the controller's (read only)"
COPY = "model_server : The model files (tiny)"


def copy_model(tmp_path: Path, src: Path, models: Path, *options: str):
    project = AnsibleProject(tmp_path, nsip=None)
    playbook = project.write_playbook("model.yml", [{
        "name": "The model files",
        "ansible.builtin.include_role": {"name": "model_server", "tasks_from": "model"},
    }])
    # the handler would restart a unit this test has not written: it skips when there is none
    return project.playbook(playbook, *options, extra_vars={
        "model_server_model_src": str(src), "model_server_models_dir": str(models),
        "model_server_model_name": "tiny", "model_server_unit_file": {"stat": {"exists": False}}})


def test_model_files_are_copied_once_checked_after_and_drift_is_put_right(tmp_path):
    src = tmp_path / "src"
    (src / "1_Pooling").mkdir(parents=True)
    (src / "config.json").write_text('{"model_type": "bert"}')
    (src / "1_Pooling" / "config.json").write_text('{"pooling_mode_mean_tokens": true}')
    (src / "model.safetensors").write_bytes(os.urandom(4096))
    models = tmp_path / "models"
    host = models / "tiny"

    first = copy_model(tmp_path / "a", src, models)
    assert first.rc == 0 and first.recap[HOST]["changed"] == 1, first.explain()
    assert first.result(COPY)["_status"] == "changed"
    assert (host / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()

    again = copy_model(tmp_path / "b", src, models)
    assert again.rc == 0 and again.recap[HOST]["changed"] == 0, again.explain()
    assert again.result(CHECK)["rc"] == 0 and again.result(COPY)["_status"] == "skipped"

    (host / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')  # by hand
    check = copy_model(tmp_path / "c", src, models, "--check")
    assert check.rc == 0 and check.result(COPY)["_status"] == "changed", check.explain()
    assert "cls" in (host / "1_Pooling" / "config.json").read_text()  # check mode wrote nothing
    fixed = copy_model(tmp_path / "d", src, models)
    assert fixed.rc == 0 and fixed.result(COPY)["_status"] == "changed", fixed.explain()
    assert (host / "1_Pooling" / "config.json").read_text() == '{"pooling_mode_mean_tokens": true}'
