"""The Molecule scenario tests/molecule/adc: ``molecule test -s adc`` as a user runs it, from
tests/, against a lab ADC the scenario starts and stops itself (docs/molecule.md)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from ansible_harness import BIN, REPO, AnsibleProject

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def stages_done(output: str, scenario: str) -> list[str]:
    """The stages Molecule reports as done, in order. Its log line at the end of each stage:
    "INFO     [adc > converge] Executed: Successful" (NO_COLOR) or
    "INFO     adc ➜ converge: Executed: Successful"; the summary repeats them unprefixed."""
    name = re.escape(scenario)
    done = re.compile(rf"^INFO\s+(?:\[{name} > (\w+)\]|{name} \u279c (\w+):) Executed: Successful",
                      re.MULTILINE)
    return [plain or fancy for plain, fancy in done.findall(output)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop_leftover_lab(ephemeral: Path) -> None:
    """A lab the scenario started and did not stop (a failed or killed run): stop it by its pid."""
    pid_file = ephemeral / "lab" / "lab.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"lab-adc" in cmdline.read_bytes():
        os.kill(pid, signal.SIGTERM)


def molecule_env(tmp_path: Path, port: int) -> dict[str, str]:
    """The harness's environment (PATH with the venv first, ANSIBLE_CONFIG = the repository's
    ansible.cfg, no ANSIBLE_/MOLECULE_ variables from outside), without its recording callback,
    plus the lab's port and an ephemeral directory of this test's own."""
    env = AnsibleProject(tmp_path / "ansible", nsip=None).env()
    for key in ("ANSIBLE_CALLBACK_PLUGINS", "ANSIBLE_CALLBACKS_ENABLED"):
        env.pop(key)
    env.update({
        "ADCML_LAB_PORT": str(port),
        "MOLECULE_EPHEMERAL_DIRECTORY": str(tmp_path / "ephemeral"),
        "NO_COLOR": "1",
        "PY_COLORS": "0",
    })
    return env


def test_molecule_test_adc_scenario(tmp_path):
    port = free_port()
    try:
        proc = subprocess.run([str(BIN / "molecule"), "test", "-s", "adc"], cwd=REPO / "tests",
                              env=molecule_env(tmp_path, port), capture_output=True, text=True,
                              timeout=240, check=False)
    finally:
        stop_leftover_lab(tmp_path / "ephemeral")
    output = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-12000:]
    succeeded = stages_done(output, "adc")
    for stage in ("create", "prepare", "converge", "idempotence", "verify", "destroy"):
        assert stage in succeeded, (stage, succeeded, output[-12000:])
    assert succeeded.count("destroy") == 2, succeeded  # before create (no lab yet) and at the end
    assert succeeded.index("converge") < succeeded.index("idempotence") < succeeded.index("verify")
    assert "Molecule executed 1 scenario (1 successful)" in output, output[-12000:]
    assert not listening(port)  # destroy stopped the lab


@pytest.mark.parametrize("scenario", ["adc", "gpu_hosts"])
def test_scenario_playbooks_pass_ansible_lint_production(tmp_path, scenario):
    """The repository's .ansible-lint leaves tests/ out; the scenarios are held to the same profile."""
    config = tmp_path / "ansible-lint.yml"
    config.write_text("profile: production\nexclude_paths: [.venv/, .lab/, .cache/]\n")
    project = AnsibleProject(tmp_path / "ansible", nsip=None)
    done = project.command("ansible-lint", "--offline", "--project-dir", str(REPO), "-c", str(config),
                           f"tests/molecule/{scenario}")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Profile 'production' was required, and it passed" in output, output
    assert re.search(r"in ([1-9]\d*) files processed", output), output
