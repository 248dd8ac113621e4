"""The Molecule scenario tests/molecule/hf: ``molecule test -s hf`` as a user runs it, from tests/,
against an ``adcml lab-hf`` the scenario starts and stops itself."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from ansible_harness import BIN, REPO, AnsibleProject
from hf_kit import ONLINE
from test_molecule import ANSI, free_port, listening, molecule_env, stages_done

pytestmark = pytest.mark.slow


def stop_leftover_lab_hf(ephemeral: Path) -> None:
    """A lab-hf the scenario started and did not stop (a failed or killed run): stop its process
    group (the lab and its replicas) by its pid."""
    pid_file = ephemeral / "lab-hf" / "lab-hf.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"lab-hf" in cmdline.read_bytes():
        os.killpg(pid, signal.SIGTERM)


def test_molecule_test_hf_scenario(tmp_path):
    port = free_port()
    env = molecule_env(tmp_path, port) | {"ADCML_LAB_HF_PORT": str(port)} | ONLINE
    try:
        proc = subprocess.run([str(BIN / "molecule"), "test", "-s", "hf"], cwd=REPO / "tests", env=env,
                              capture_output=True, text=True, timeout=300, check=False)
    finally:
        stop_leftover_lab_hf(tmp_path / "ephemeral")
    output = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-12000:]
    succeeded = stages_done(output, "hf")
    for stage in ("create", "converge", "idempotence", "verify", "destroy"):
        assert stage in succeeded, (stage, succeeded, output[-12000:])
    assert succeeded.count("destroy") == 2, succeeded  # before create (no lab yet) and at the end
    assert succeeded.index("converge") < succeeded.index("idempotence") < succeeded.index("verify")
    assert "Molecule executed 1 scenario (1 successful)" in output, output[-12000:]
    assert not listening(port)  # destroy stopped the lab


def test_scenario_playbooks_pass_ansible_lint_production(tmp_path):
    """The repository's .ansible-lint leaves tests/ out; the scenario is held to the same profile."""
    config = tmp_path / "ansible-lint.yml"
    config.write_text("profile: production\nexclude_paths: [.venv/, .lab/, .cache/]\n")
    project = AnsibleProject(tmp_path / "ansible", nsip=None)
    done = project.command("ansible-lint", "--offline", "--project-dir", str(REPO), "-c", str(config),
                           "tests/molecule/hf")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output
    assert re.search(r"in ([1-9]\d*) files processed", output), output
