"""The ``adcml`` command as a user runs it, and what is left running afterwards (from /proc)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ADCML = Path(sys.executable).parent / "adcml"
OUTSIDE_SETTINGS = ("ADCML_", "NETSCALER_", "ANSIBLE_", "MOLECULE_")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without settings that would steer adcml or Ansible."""
    return {k: v for k, v in os.environ.items() if not k.startswith(OUTSIDE_SETTINGS)} | (extra or {})


def adcml(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(ADCML), *args], capture_output=True, text=True, timeout=timeout,
                          env=clean_env(env), check=False)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (one its parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if text in cmdline and alive(int(entry.name)):
            found.append((int(entry.name), cmdline))
    return found
