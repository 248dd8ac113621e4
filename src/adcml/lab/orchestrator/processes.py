"""The lab's processes: started detached, recorded in pid files, checked, stopped.

A pid file records the pid, the process start time and its command line; a process counts as
the lab's only while all three still match (``/proc``), so ``stop`` never signals a process
that merely inherited a recycled pid.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from adcml.lab.orchestrator.errors import LabError

LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class Service:
    """A process to supervise: how to start it, where it listens, how to tell it is healthy."""

    name: str
    argv: tuple[str, ...]
    addresses: tuple[str, ...]
    health_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    binds: tuple[str, ...] = ()  # addresses it will listen on later (the ADC's gateway VIP)
    unset_env: tuple[str, ...] = ()  # taken out of this process's environment before it starts


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of a process, or None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = raw[raw.rindex(")") + 2:].split()
    return rest[0], rest[19]  # fields 3 (state) and 22 (starttime)


def cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def require_proc() -> None:
    if not Path("/proc/self/stat").exists():
        raise LabError("the lab's process management needs Linux (/proc)")


@dataclass(frozen=True)
class Record:
    """What a pid file says: the process, when it started, how."""

    pid: int
    start: str
    argv: tuple[str, ...]

    def ours(self) -> bool:
        """The process still exists (not a zombie) and is the one this record describes."""
        stat = proc_stat(self.pid)
        if stat is None or stat[0] in ("Z", "X") or stat[1] != self.start:
            return False
        return tuple(cmdline(self.pid) or ()) == self.argv


def read_record(path: Path) -> Record | None:
    try:
        data = json.loads(path.read_text())
        return Record(int(data["pid"]), str(data["start"]), tuple(data["argv"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_record(path: Path, record: Record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": record.pid, "start": record.start, "argv": list(record.argv)}))
    tmp.replace(path)


def running(pid_file: Path) -> Record | None:
    """The record in ``pid_file`` when its process runs, else None."""
    record = read_record(pid_file)
    return record if record is not None and record.ours() else None


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def address_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port (this process could bind it)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def spawn(service: Service, log_file: Path, pid_file: Path, cwd: Path) -> tuple[subprocess.Popen, Record]:
    """Start ``service`` detached (its own session, stdin closed, output appended to
    ``log_file``) and record it in ``pid_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in service.unset_env}
    env.update(service.env)
    env["PYTHONUNBUFFERED"] = "1"
    with open(log_file, "ab") as log:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        log.write(f"--- {stamp} adcml lab up: {' '.join(service.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(service.argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=cwd, env=env,
                                start_new_session=True, close_fds=True)
    stat = proc_stat(proc.pid)
    record = Record(proc.pid, stat[1] if stat else "?", service.argv)
    write_record(pid_file, record)
    return proc, record


def healthy(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    """Whether ``url`` answers 200, and what it answered (``HTTP 503``, ``ConnectError``)."""
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    return response.status_code == 200, f"HTTP {response.status_code}"


def stop(path: Path, timeout: float = 10.0) -> str:
    """Stop the process recorded in pid file ``path`` if it still runs (SIGTERM, then SIGKILL
    after ``timeout`` seconds); what happened, in words. The pid file goes either way."""
    record = read_record(path)
    if record is None:
        path.unlink(missing_ok=True)
        return "not running"
    if not record.ours():
        path.unlink(missing_ok=True)
        return f"not running (stale pid file for pid {record.pid} removed; that pid was left alone)"
    with contextlib.suppress(ProcessLookupError):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while record.ours() and time.monotonic() < deadline:
        time.sleep(0.05)
    how = "stopped"
    if record.ours():
        with contextlib.suppress(ProcessLookupError):
            os.kill(record.pid, signal.SIGKILL)
        how = "killed (did not stop on SIGTERM)"
        while record.ours() and time.monotonic() < deadline + 5:
            time.sleep(0.05)
    path.unlink(missing_ok=True)
    return f"{how} (pid {record.pid})"
