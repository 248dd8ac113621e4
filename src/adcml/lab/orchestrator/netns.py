"""What test hosts are made of on this machine: ``ip`` links and network namespaces, the
processes in a namespace, mount points, and ssh answering. Every failure is TestHostsError."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from adcml.lab.orchestrator.errors import TestHostsError

SSH_PORT = 22
MOUNTPOINT_MARK = "user.adcml.test-hosts"  # xattr on the mount points up had to make


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command; TestHostsError with its output when it fails (unless ``check`` is off)."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise TestHostsError(f"`{shlex.join(argv)}` failed (exit {proc.returncode}): "
                             f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", *args, check=check)


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def namespace_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def namespace_pids(name: str) -> set[int]:
    proc = ip("netns", "pids", name, check=False)
    return {int(p) for p in proc.stdout.split()} if proc.returncode == 0 else set()


def in_namespace(pid: int, namespace: str) -> bool:
    try:
        ns = os.stat(f"/proc/{pid}/ns/net")
        mine = os.stat(Path("/run/netns", namespace))
    except OSError:
        return False
    return (ns.st_dev, ns.st_ino) == (mine.st_dev, mine.st_ino)


def write_proc_sys(path: str, value: str) -> None:
    Path("/proc/sys", path).write_text(value)


def require_root() -> None:
    if not Path("/proc/self/ns/net").exists():
        raise TestHostsError("test hosts need Linux network namespaces (/proc/self/ns/net)")
    if os.geteuid() != 0:
        raise TestHostsError("test hosts need root (network namespaces, a bridge, bind mounts): "
                             "run this as root")
    require_tools([("ip", "iproute2")])


def require_tools(needs: Iterable[tuple[str, str]]) -> None:
    for tool, package in needs:
        if shutil.which(tool) is None:
            raise TestHostsError(f"`{tool}` not found: apt-get install {package}")


def networks_in_use() -> list[tuple[str, ipaddress.IPv4Network]]:
    """(interface, network) of every IPv4 address and non-default route on this machine."""
    used = []
    for link in json.loads(ip("-j", "-4", "addr").stdout or "[]"):
        for addr in link.get("addr_info", []):
            used.append((link["ifname"], ipaddress.IPv4Network(f"{addr['local']}/{addr['prefixlen']}",
                                                               strict=False)))
    for route in json.loads(ip("-j", "-4", "route").stdout or "[]"):
        if route.get("dst") != "default":
            used.append((route.get("dev", "?"), ipaddress.IPv4Network(route["dst"], strict=False)))
    return used


def ssh_banner(address: str, timeout: float = 1.0) -> bool:
    """Whether an SSH server answers on ``address``:22."""
    try:
        with socket.create_connection((address, SSH_PORT), timeout=timeout) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def kill_all(namespace: str, grace: float = 5.0) -> int:
    """Stop every process in ``namespace``: SIGTERM, then SIGKILL after ``grace`` seconds."""
    seen: set[int] = set()
    sig, deadline = signal.SIGTERM, time.monotonic() + grace
    signalled: set[int] = set()
    while pids := namespace_pids(namespace):
        if time.monotonic() > deadline:
            if sig == signal.SIGKILL:
                raise TestHostsError(f"processes {sorted(pids)} in namespace {namespace} survive "
                                     "SIGKILL; the namespace is kept")
            sig, deadline, signalled = signal.SIGKILL, time.monotonic() + grace, set()
        for pid in pids - signalled:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        signalled |= pids
        seen |= pids
        time.sleep(0.02)
    return len(seen)


def marked(path: str) -> bool:
    try:
        os.getxattr(path, MOUNTPOINT_MARK)
    except OSError:
        return False
    return True


def remove_mountpoint(path: str) -> str:
    """Remove a mount point ``up`` made, unless something uses it: files in it, or a mount on it
    in any mount namespace (other test hosts' sshd namespaces, say)."""
    target = Path(path)
    if not target.is_dir():
        return "already gone"
    if any(target.iterdir()):
        return "kept (not empty)"
    if path in mount_points_anywhere():
        return "kept (other test hosts still mount on it; their down removes it)"
    target.rmdir()
    return "removed"


def mount_points_anywhere() -> set[str]:
    """Mount points of every mount namespace on the machine (one mountinfo read per namespace)."""
    points: set[str] = set()
    seen: set[tuple[int, int]] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ns = os.stat(entry / "ns" / "mnt")
            if (ns.st_dev, ns.st_ino) in seen:
                continue
            seen.add((ns.st_dev, ns.st_ino))
            text = (entry / "mountinfo").read_text()
        except OSError:
            continue
        points.update(line.split()[4] for line in text.splitlines())
    return points
