"""Run the Ansible front-end as a user does: ``ansible-playbook``, ``ansible-doc`` and
``ansible-lint`` as subprocesses, from the repository root (its ansible.cfg), against an
inventory that points at a lab ADC.

    project = AnsibleProject(tmp_path, nsip=lab_adc.nsip)
    run = project.playbook("playbooks/adc.yml", extra_vars={"adc_gateway_spec": spec})
    assert run.recap["lab"]["changed"] == 1
    run.result("Gateway llm is merged")["summary"]

Each run records every task result as JSON (the ``adcml_record`` callback in
``callback_plugins/``), so tests read module results without parsing the human output, while
``stdout`` keeps that output for what the user sees (the PLAY RECAP, ``--diff``, ``-vvv``).
Nothing here depends on pytest: a Molecule scenario's verifier can use it as it is.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
HOST = "lab"
MODULES = ("adc_gateway", "adc_resource", "adc_save_config", "adc_facts", "adc_servicegroup_member")
# What a playbook that calls the modules directly says once (the role maps the same variables).
CONNECTION = {
    "nsip": "{{ netscaler_nsip | default(omit) }}",
    "nitro_user": "{{ netscaler_nitro_user | default(omit) }}",
    "nitro_pass": "{{ netscaler_nitro_pass | default(omit) }}",
    "nitro_protocol": "{{ netscaler_nitro_protocol | default(omit) }}",
    "validate_certs": "{{ netscaler_validate_certs | default(omit) }}",
}
_RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.MULTILINE)


@dataclass
class Run:
    """One finished ansible-playbook run."""

    args: list[str]
    rc: int
    stdout: str
    stderr: str
    results: list[dict[str, Any]] = field(default_factory=list)
    record: Path | None = None  # the recorded task results, one JSON line each

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        """The PLAY RECAP: host → {ok, changed, unreachable, failed, skipped, rescued, ignored}."""
        tail = self.stdout.rsplit("PLAY RECAP", 1)[-1]
        return {host: {k: int(v) for k, v in (kv.split("=") for kv in counts.split())}
                for host, counts in _RECAP.findall(tail)}

    def result(self, task: str, host: str = HOST) -> dict[str, Any]:
        """The result of the last task named ``task`` on ``host`` (KeyError when it did not run)."""
        for entry in reversed(self.results):
            if entry["task"] == task and entry["host"] == host:
                return entry["result"] | {"_status": entry["status"]}
        raise KeyError(f"no result for task {task!r} on {host!r}; ran: "
                       f"{[e['task'] for e in self.results]}")

    def explain(self) -> str:
        return f"$ {' '.join(self.args)}\nrc={self.rc}\n{self.stdout[-6000:]}\n{self.stderr[-3000:]}"


class AnsibleProject:
    """A working directory with an inventory for one lab ADC, and the commands to run there."""

    def __init__(self, workdir: Path, *, nsip: str | None, user: str = "nsroot",
                 password: str = "nsroot", protocol: str = "http", timeout: float = 120):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self.inventory = self.workdir / "inventory"
        connection = {"netscaler_nitro_protocol": protocol, "netscaler_validate_certs": False,
                      "netscaler_nitro_user": user, "netscaler_nitro_pass": password}
        if nsip is not None:
            connection["netscaler_nsip"] = nsip
        _write_yaml(self.inventory / "hosts.yml", {"all": {"children": {"adc": {"hosts": {HOST: {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}})
        _write_yaml(self.inventory / "group_vars" / "adc.yml", connection)
        self._runs = 0

    # -- files -------------------------------------------------------------------------------

    def write_playbook(self, name: str, tasks: list[dict[str, Any]], hosts: str = "adc") -> Path:
        """A one-play playbook running ``tasks``; the modules connect with the inventory's
        ``netscaler_*`` variables (``module_defaults``)."""
        path = self.workdir / name
        _write_yaml(path, [{"name": name, "hosts": hosts, "gather_facts": False,
                            "module_defaults": {m: CONNECTION for m in MODULES}, "tasks": tasks}])
        return path

    def write_vars(self, name: str, values: dict[str, Any]) -> Path:
        path = self.workdir / name
        path.write_text(json.dumps(values))
        return path

    # -- commands ----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("ANSIBLE_", "NETSCALER_", "MOLECULE_"))}
        tmp = self.workdir / ".ansible"
        env.update({
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(tmp / "local"),
            "ANSIBLE_REMOTE_TMP": str(tmp / "remote"),
            "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
            "ANSIBLE_CALLBACKS_ENABLED": "adcml_record",
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        return env

    def playbook(self, playbook: str | Path, *options: str, extra_vars: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None, prefix: Sequence[str] = ()) -> Run:
        """``ansible-playbook -i <inventory> <playbook> <options>``; ``extra_vars`` go as ``-e @file``.

        ``prefix`` runs the command under another one (``SyslogCapture.prefix``, for instance).
        """
        self._runs += 1
        record = self.workdir / f"run-{self._runs}.jsonl"
        args = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), str(playbook), *options]
        if extra_vars is not None:
            args += ["-e", f"@{self.write_vars(f'vars-{self._runs}.json', extra_vars)}"]
        run_env = self.env() | {"ADCML_RECORD": str(record)} | (env or {})
        proc = subprocess.run([*prefix, *args], cwd=REPO, env=run_env, capture_output=True, text=True,
                              timeout=self.timeout, check=False)
        results = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
        return Run(args, proc.returncode, proc.stdout, proc.stderr, results, record)

    def command(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        """Another Ansible tool (``ansible-doc``, ``ansible-lint``) from the repository root."""
        return subprocess.run([str(BIN / tool), *args], cwd=REPO, env=self.env(),
                              capture_output=True, text=True, timeout=self.timeout, check=False)


def _write_yaml(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
