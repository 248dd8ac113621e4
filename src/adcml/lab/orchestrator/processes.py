"""The lab's processes: started detached, recorded in pid files, checked, stopped.

A pid file records the pid, the process start time and its command line; a process counts as
the lab's only while all three still match (``/proc``), so ``stop`` never signals a process
that merely inherited a recycled pid. Each process leads a session of its own; what it started
and left behind (the Hugging Face stand-in's replicas, should it be killed) is found in that
session and stopped with it.
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
    stop_timeout: float = 10.0  # seconds from SIGTERM to SIGKILL (it may have children to drain)


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of a process, or None when there is none."""
    fields = _stat_fields(pid)
    return None if fields is None else (fields[0], fields[19])  # fields 3 (state) and 22 (starttime)


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat from its third field on (state, ppid, pgrp, session, ...)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def session_members(leader: Record) -> list[int]:
    """Live processes of the session ``leader`` started (``spawn`` makes each process a session
    leader), started no earlier than it: what it left behind once it is gone. The leader
    itself is not among them."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == leader.pid:
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or fields[0] in ("Z", "X") or fields[3] != str(leader.pid):
            continue
        with contextlib.suppress(ValueError):
            if int(fields[19]) >= int(leader.start):
                found.append(int(entry.name))
    return found


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
    after ``timeout`` seconds), and what it left running in its session; what happened, in
    words. The pid file goes either way."""
    record = read_record(path)
    if record is None:
        path.unlink(missing_ok=True)
        return "not running"
    if not record.ours():
        path.unlink(missing_ok=True)
        # Gone (killed, say): what it left in its session is still the lab's. Linux hands out
        # no pid that is still some process's session id, so while the pid is free (or still
        # this very process, dead and not yet reaped), processes of that session are those it left.
        stat = proc_stat(record.pid)
        gone = stat is None or (stat[0] in ("Z", "X") and stat[1] == record.start)
        left = _stop_left_behind(record, timeout) if gone else ""
        return (f"not running (stale pid file for pid {record.pid} removed; that pid was left alone)"
                + (f"; {left}" if left else ""))
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
    left = _stop_left_behind(record, timeout)
    return f"{how} (pid {record.pid})" + (f"; {left}" if left else "")


def _stop_left_behind(leader: Record, timeout: float) -> str:
    """Stop what a stopped session leader left running in its session (children it did not
    stop, say because it was killed); what happened, in words ("" when nothing was left)."""
    left = session_members(leader)
    if not left:
        return ""
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while set(left) & set(session_members(leader)) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = set(left) & set(session_members(leader))
    for pid in killed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    how = f"; killed: {', '.join(map(str, sorted(killed)))}" if killed else ""
    return f"{len(left)} process(es) it left in its session stopped (pids {', '.join(map(str, left))}{how})"
