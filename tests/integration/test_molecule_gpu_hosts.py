"""The Molecule scenario tests/molecule/gpu_hosts: ``molecule test -s gpu_hosts`` as a user runs
it, from tests/: two test hosts (network namespaces with their own address, sshd and install
paths; Ansible over ssh), a lab ADC in front of them, the gpu_host and model_server roles through
playbooks/gpu_hosts.yml, idempotence, a rolling update under load through the ADC with no
failed request, verify, and a destroy that leaves nothing running (docs/molecule.md)."""

from __future__ import annotations

import ipaddress
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from ansible_harness import BIN, REPO
from test_molecule import ANSI, free_port, listening, molecule_env, stages_done

from adcml.lab.orchestrator.hosts import TestHosts
from adcml.lab.orchestrator.netns import networks_in_use

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.geteuid() != 0, reason="the scenario's test hosts need root (network "
                                                           "namespaces, a bridge, bind mounts); run as root")]

API_KEY = "adcml-molecule-key-5d1e8c27"  # tests/molecule/gpu_hosts/molecule.yml
VIP = "127.0.0.30"
LOAD_DONE = re.compile(r'"msg": "(\d+) requests in ([\d.]+) s, none failed"')


def free_network() -> str:
    """Three octets of a /24 in 10.231.64.0/18 that nothing on this machine uses (the hosts'
    own tests take 10.231.128.0/17, a developer's hosts 10.231.0.0/24)."""
    used = [net for _, net in networks_in_use()]
    for i in range(64):
        third = 64 + (os.getpid() + i) % 64
        if not any(ipaddress.IPv4Network(f"10.231.{third}.0/24").overlaps(net) for net in used):
            return f"10.231.{third}"
    raise AssertionError("no free test network in 10.231.64.0/18")


def free_vip_port() -> int:
    with socket.socket() as sock:
        sock.bind((VIP, 0))
        return sock.getsockname()[1]


def stop_by_pid_file(pid_file: Path, marker: bytes) -> None:
    """A process the scenario started and did not stop (a failed or killed run)."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip())
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and marker in cmdline.read_bytes():
        os.kill(pid, signal.SIGTERM)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


@pytest.mark.timeout(1500)
def test_molecule_test_gpu_hosts_scenario(tmp_path):
    ephemeral = tmp_path / "ephemeral"
    net, bridge = free_network(), f"adcmlmg{os.getpid() % 1000}"
    port, vip_port = free_port(), free_vip_port()
    env = molecule_env(tmp_path, port) | {"ADCML_MOLECULE_NET": net, "ADCML_MOLECULE_BRIDGE": bridge,
                                          "ADCML_MOLECULE_VIP_PORT": str(vip_port)}
    started = time.monotonic()
    try:
        proc = subprocess.run([str(BIN / "molecule"), "test", "-s", "gpu_hosts"], cwd=REPO / "tests",
                              env=env, capture_output=True, text=True, timeout=1400, check=False)
    finally:
        stop_by_pid_file(ephemeral / "load" / "load.pid", b"load.py")
        stop_by_pid_file(ephemeral / "lab" / "lab.pid", b"lab-adc")
        if (ephemeral / "hosts" / "hosts.json").exists():
            TestHosts(ephemeral / "hosts").down(echo=lambda _line: None)
    seconds = time.monotonic() - started
    output = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 0, output[-15000:]
    succeeded = stages_done(output, "gpu_hosts")
    expected = ["destroy", "syntax", "create", "prepare", "converge", "idempotence", "side_effect",
                "verify", "destroy"]
    assert succeeded[:len(expected)] == expected, (succeeded, output[-15000:])
    assert "Molecule executed 1 scenario (1 successful)" in output, output[-15000:]
    # The rolling update ran under load, and no request failed (side_effect.yml asserts it too).
    load = LOAD_DONE.search(output)
    assert load and int(load.group(1)) >= 100, output[-15000:]
    # The API key went through the inventory, the env file and the gateway: never to the output.
    assert API_KEY not in output
    # destroy left nothing: no namespace, no lab ADC, no load loop, no process of the scenario.
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    assert f"{bridge}-" not in namespaces.stdout, namespaces.stdout
    assert not listening(port)
    assert processes_mentioning(str(ephemeral)) == []
    print(f"molecule test -s gpu_hosts: {seconds:.0f} s; rolling update: {load.group(1)} requests "
          f"in {load.group(2)} s, none failed")
