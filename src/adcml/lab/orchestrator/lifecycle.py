"""The local lab as background processes: ``adcml lab up | status | down | token | smoke``.

``up`` starts, detached (own session, stdin closed, output to ``<dir>/logs/<name>.log``, pid in
``<dir>/run/<name>.pid``):

- ``idp``: the lab IdP (``python -m adcml.lab.idp``), 127.0.0.1:5556;
- ``backend-1``, ``backend-2``: demo backends (``python -m adcml.lab.demo_backend``), the
  stand-in for a chat model (none ships offline), 127.0.0.21:8001 and 127.0.0.22:8001;
- ``adc``: the lab ADC with its data plane (``adcml lab-adc --data-plane --test-hosts``), NITRO
  on 127.0.0.1:9080 and :9443, state in ``<dir>/adc``.

Before them, as root, the model-server hosts ``model-1`` and ``model-2``: test hosts in network
namespaces (``adcml.lab.hosts``, 10.231.0.11 and .12, ssh keys and inventory under
``<dir>/hosts``), empty until ``playbooks/site.yml`` provisions them with the ``gpu_host`` and
``model_server`` roles from the offline wheelhouse ``<dir>/wheelhouse`` that ``up`` fills
(``adcml.lab.wheelhouse``). And, once, the lab CA and the gateway's certificate under
``<dir>/pki``. Every address can be
changed (options or ``ADCML_LAB_*``); the layout a lab was started with is kept in
``<dir>/lab.json`` and reused by the other commands (and by the next ``up``).

A pid file records the pid, the process start time and its command line; a process counts as
the lab's only while all three still match (``/proc``), so ``down`` never signals a process
that merely inherited a recycled pid.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import httpx

from adcml.lab.services.demo_backend import API_KEY_ENV
from adcml.lab.services.pki import LabCA

# Lab value, never a real credential: the chat pool's backend_token in inventories/local, which
# the demo backends require on chat requests (so a 200 proves the ADC injected it).
LAB_BACKEND_TOKEN = "lab-only-chat-backend-key-not-a-secret"
BACKEND_TOKEN_ENV = "ADCML_LAB_BACKEND_TOKEN"
AUDIENCE = "adcml-lab"
TRUSTED_GROUP = "ml-trusted"
LOG_TAIL_LINES = 25


class LabError(RuntimeError):
    """A lab command could not do what it was asked (the message says why and what to do)."""


# --- layout -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where the lab's pieces listen. Addresses are HOST:PORT on loopback."""

    nitro: str = "127.0.0.1:9080"
    nitro_tls: str = "127.0.0.1:9443"
    idp: str = "127.0.0.1:5556"
    backends: tuple[str, ...] = ("127.0.0.21:8001", "127.0.0.22:8001")
    gateway: str = "127.0.0.10:8443"  # the gateway spec's frontend: the certificate's SAN, smoke URL
    gateway_name: str = "gateway.lab.test"
    # Model-server hosts (test hosts, root only; () for none). Their addresses follow from the
    # network in order (.11, .12, ...): inventories/local names them.
    model_hosts: tuple[str, ...] = ("model-1", "model-2")
    hosts_network: str = "10.231.0.0/24"
    hosts_bridge: str = "adcmlbr0"
    model_port: int = 8080  # the model servers' port (model_server_port)

    def __post_init__(self) -> None:
        for label, address in [("nitro", self.nitro), ("nitro_tls", self.nitro_tls), ("idp", self.idp),
                               ("gateway", self.gateway), *(("backend", b) for b in self.backends)]:
            split_address(address, label)
        if not self.backends:
            raise LabError("backends: give at least one demo backend address")
        addresses = [self.nitro, self.nitro_tls, self.idp, self.gateway, *self.backends]
        if len(set(addresses)) != len(addresses):
            raise LabError(f"two of the lab's pieces share an address: {addresses}")

    @property
    def issuer(self) -> str:
        return f"http://{self.idp}"

    @property
    def gateway_url(self) -> str:
        return f"https://{self.gateway}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"backends": list(self.backends), "model_hosts": list(self.model_hosts)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Layout:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("backends", "model_hosts"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)


def split_address(address: str, label: str = "address") -> tuple[str, int]:
    """``HOST:PORT`` on IPv4 loopback → (host, port); LabError otherwise."""
    host, _, port = str(address).rpartition(":")
    try:
        loopback = ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback or not port.isdigit() or not 0 < int(port) < 65536:
        raise LabError(f"{label} {address!r}: give HOST:PORT with an IPv4 loopback host "
                       "(127.x.y.z) and a port from 1 to 65535")
    return host, int(port)


@dataclass(frozen=True)
class Lab:
    """A lab directory and the layout of the lab in it."""

    dir: Path
    layout: Layout = field(default_factory=Layout)

    @classmethod
    def open(cls, directory: Path | str, **overrides: Any) -> Lab:
        """The lab in ``directory``: its saved layout (or the defaults), with ``overrides``
        (those that are not None) applied."""
        directory = Path(directory).absolute()
        layout = Layout()
        saved = directory / "lab.json"
        if saved.is_file():
            with contextlib.suppress(ValueError, TypeError, LabError):
                layout = Layout.from_json(json.loads(saved.read_text()))
        changes = {k: (tuple(v) if k in ("backends", "model_hosts") else v)
                   for k, v in overrides.items() if v is not None and (v != () or k == "model_hosts")}
        return cls(directory, replace(layout, **changes) if changes else layout)

    # paths
    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def pki_dir(self) -> Path:
        return self.dir / "pki"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.pem"

    @property
    def hosts_dir(self) -> Path:
        return self.dir / "hosts"

    @property
    def wheelhouse_dir(self) -> Path:
        return self.dir / "wheelhouse"

    def test_hosts(self):
        """The model-server hosts (``adcml.lab.hosts.TestHosts``), in inventory group gpu_hosts."""
        from adcml.lab.orchestrator.hosts import TestHosts

        layout = self.layout
        return TestHosts(self.hosts_dir, network=layout.hosts_network, bridge=layout.hosts_bridge,
                         group="gpu_hosts")

    def model_servers(self) -> list[tuple[str, str]]:
        """(host name, base URL) of each model server, as the playbook provisions them."""
        net = ipaddress.IPv4Network(self.layout.hosts_network)
        return [(name, f"http://{net.network_address + 11 + i}:{self.layout.model_port}")
                for i, name in enumerate(self.layout.model_hosts)]

    def services(self) -> list[Service]:
        """The lab's processes, in start order (the ADC last: it fetches keys from the IdP and
        probes the backends)."""
        py = sys.executable
        layout = self.layout
        out = [Service("idp", (py, "-m", "adcml.lab.services.idp", "--listen", layout.idp), (layout.idp,),
                       f"{layout.issuer}/.well-known/openid-configuration")]
        token = os.environ.get(BACKEND_TOKEN_ENV) or LAB_BACKEND_TOKEN
        for i, address in enumerate(layout.backends, 1):
            name = f"backend-{i}"
            out.append(Service(name, (py, "-m", "adcml.lab.services.demo_backend", "--listen", address,
                                      "--name", name),
                               (address,), f"http://{address}/health", {API_KEY_ENV: token}))
        reach = ("--test-hosts", str(self.hosts_dir)) if layout.model_hosts else ()
        out.append(Service("adc", (py, "-m", "adcml.cli", "lab-adc", "--listen", layout.nitro,
                                   "--tls-listen", layout.nitro_tls, "--state-dir", str(self.dir / "adc"),
                                   "--data-plane", *reach),
                           (layout.nitro, layout.nitro_tls), f"http://{layout.nitro}/lab/health",
                           binds=(layout.gateway,)))
        return out

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"


@dataclass(frozen=True)
class Service:
    name: str
    argv: tuple[str, ...]
    addresses: tuple[str, ...]
    health_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    binds: tuple[str, ...] = ()  # addresses it will listen on later (the ADC's gateway VIP)


# --- processes ----------------------------------------------------------------------------------
def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) of a process, or None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rest = raw[raw.rindex(")") + 2:].split()
    return rest[0], rest[19]  # fields 3 (state) and 22 (starttime)


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def _require_proc() -> None:
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
        stat = _proc_stat(self.pid)
        if stat is None or stat[0] in ("Z", "X") or stat[1] != self.start:
            return False
        return tuple(_cmdline(self.pid) or ()) == self.argv


def read_record(path: Path) -> Record | None:
    try:
        data = json.loads(path.read_text())
        return Record(int(data["pid"]), str(data["start"]), tuple(data["argv"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_record(path: Path, record: Record) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": record.pid, "start": record.start, "argv": list(record.argv)}))
    tmp.replace(path)


def running(lab: Lab, name: str) -> Record | None:
    """The record of the lab's process ``name`` when it runs, else None."""
    record = read_record(lab.pid_file(name))
    return record if record is not None and record.ours() else None


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


def _address_free(address: str) -> bool:
    host, port = split_address(address)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _spawn(lab: Lab, service: Service) -> tuple[subprocess.Popen, Record]:
    lab.log_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
    env.update(service.env)
    env["PYTHONUNBUFFERED"] = "1"
    with open(lab.log_file(service.name), "ab") as log:
        stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        log.write(f"--- {stamp} adcml lab up: {' '.join(service.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(service.argv, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, cwd=lab.dir, env=env,
                                start_new_session=True, close_fds=True)
    stat = _proc_stat(proc.pid)
    record = Record(proc.pid, stat[1] if stat else "?", service.argv)
    _write_record(lab.pid_file(service.name), record)
    return proc, record


def _healthy(url: str, timeout: float = 2.0) -> tuple[bool, str]:
    try:
        response = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    return response.status_code == 200, f"HTTP {response.status_code}"


def _stop(lab: Lab, name: str, timeout: float = 10.0) -> str:
    """Stop the lab's process ``name`` if it runs; what happened, in words."""
    path = lab.pid_file(name)
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


# --- PKI ----------------------------------------------------------------------------------------
def _sans(cert_pem: bytes) -> set[str]:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = {str(n) for n in ext.get_values_for_type(x509.DNSName)}
    names |= {str(ip) for ip in ext.get_values_for_type(x509.IPAddress)}
    days_left = (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
    return names if days_left > 30 else set()


def ensure_pki(lab: Lab) -> list[str]:
    """The lab CA and the gateway's certificate under ``<dir>/pki``: made once, kept after that
    (the gateway certificate is reissued only when it does not cover the gateway's name and VIP,
    or expires within 30 days). Keys are 0600. Returns what was made."""
    made = []
    pki = lab.pki_dir
    pki.mkdir(parents=True, exist_ok=True)
    ca_key = pki / "ca.key"
    if lab.ca_file.is_file() and ca_key.is_file():
        ca = LabCA.from_pem(lab.ca_file.read_bytes(), ca_key.read_bytes())
    else:
        ca = LabCA("adcml lab CA")
        fd = os.open(ca_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(ca.key_pem)
        lab.ca_file.write_bytes(ca.cert_pem)
        made.append(f"lab CA {lab.ca_file}")
    cert, key = pki / "gateway.crt", pki / "gateway.key"
    vip = split_address(lab.layout.gateway)[0]
    wanted = {lab.layout.gateway_name, vip}
    if made or not (cert.is_file() and key.is_file()) or not wanted <= _sans(cert.read_bytes()):
        issued = ca.issue(lab.layout.gateway_name, sans=(lab.layout.gateway_name, vip))
        issued.write(cert, key)
        made.append(f"gateway certificate {cert} ({lab.layout.gateway_name}, {vip})")
    return made


# --- commands -----------------------------------------------------------------------------------
Echo = Callable[[str], None]


def _check_layout_matches(lab: Lab) -> None:
    saved = lab.dir / "lab.json"
    if not saved.is_file():
        return
    try:
        old = Layout.from_json(json.loads(saved.read_text()))
    except (ValueError, TypeError, LabError):
        return
    if old != lab.layout and any(running(lab, s.name) for s in Lab(lab.dir, old).services()):
        now = ", ".join(f"{k} {' '.join(v) if isinstance(v, list) else v}"
                        for k, v in old.to_json().items())
        raise LabError(f"the lab in {lab.dir} runs with other addresses ({now}); "
                       f"run `adcml lab down --dir {lab.dir}` first")


def up(lab: Lab, echo: Echo = print, timeout: float = 30.0) -> bool:
    """Start what is not running, wait until everything answers its health check.

    Returns True when something was started. Already running and healthy: reports, changes
    nothing. A process that does not come up: LabError with its log tail (what this call
    started is stopped again).
    """
    _require_proc()
    _check_layout_matches(lab)
    lab.dir.mkdir(parents=True, exist_ok=True)
    for made in ensure_pki(lab):
        echo(f"created {made}")
    (lab.dir / "lab.json").write_text(json.dumps(lab.layout.to_json(), indent=2) + "\n")
    if lab.layout.model_hosts:
        _model_hosts_up(lab, echo)

    services = lab.services()
    live = {s.name for s in services if running(lab, s.name)}
    if "idp" not in live and "adc" in live:
        # The IdP signs with a new key at each start and its tokens carry no key id: an ADC that
        # cached the old key would refuse every new token. Restart it with the IdP.
        echo("the IdP is not running but the ADC is: restarting the ADC too (it caches the "
             "IdP's signing key)")
        _stop(lab, "adc")
        live.discard("adc")

    started: dict[str, tuple[subprocess.Popen, Record]] = {}
    try:
        for service in services:
            if service.name in live:
                continue
            lab.pid_file(service.name).unlink(missing_ok=True)  # stale, if any
            busy = [a for a in (*service.addresses, *service.binds) if not _address_free(a)]
            if busy:
                raise LabError(f"{service.name}: {', '.join(busy)} already in use by another "
                               f"process (not one of this lab's); free it or choose other addresses "
                               f"(adcml lab up --help)")
            started[service.name] = _spawn(lab, service)
        _wait_healthy(lab, services, started, timeout)
    except BaseException:
        for name in reversed(list(started)):
            _stop(lab, name)
        raise
    for service in services:
        record = running(lab, service.name)
        state = "started" if service.name in started else "already running"
        echo(f"{service.name:<10} {state:<16} pid {record.pid if record else '?':<8} "
             f"{' '.join(service.addresses)}")
    if not started:
        echo(f"the lab in {lab.dir} is already up; nothing to do")
    return bool(started)


def _model_hosts_up(lab: Lab, echo: Echo) -> None:
    """The model-server hosts (root: network namespaces) and the wheelhouse they install from."""
    from adcml.lab.orchestrator import wheelhouse
    from adcml.lab.orchestrator.hosts import TestHostsError

    if os.geteuid() != 0:
        raise LabError("the lab's model-server hosts are network namespaces, which need root: run "
                       "`make lab` / `adcml lab up` as root, or `adcml lab up --no-model-hosts` for the "
                       "lab without them (docs/lab.md)")
    try:
        lab.test_hosts().up(lab.layout.model_hosts, echo=echo)
    except TestHostsError as exc:
        raise LabError(f"model-server hosts: {exc}") from None
    wheelhouse.build(lab.wheelhouse_dir, echo=echo)


def _wait_healthy(lab: Lab, services: Sequence[Service],
                  started: Mapping[str, tuple[subprocess.Popen, Record]], timeout: float) -> None:
    pending = {s.name: s for s in services}
    deadline = time.monotonic() + timeout
    last: dict[str, str] = {}
    while pending:
        for name, service in list(pending.items()):
            if name in started:
                proc = started[name][0]
                if proc.poll() is not None:
                    raise LabError(f"{name} exited with status {proc.returncode} while starting; "
                                   f"the end of {lab.log_file(name)}:\n{log_tail(lab.log_file(name))}")
            elif not running(lab, name):
                raise LabError(f"{name} stopped while the lab was starting; the end of "
                               f"{lab.log_file(name)}:\n{log_tail(lab.log_file(name))}")
            ok, last[name] = _healthy(service.health_url, timeout=1.0)
            if ok:
                del pending[name]
        if not pending:
            return
        if time.monotonic() > deadline:
            name = next(iter(pending))
            raise LabError(f"{name} did not answer {pending[name].health_url} within {timeout:g} s "
                           f"(last: {last.get(name)}); the end of {lab.log_file(name)}:\n"
                           f"{log_tail(lab.log_file(name))}")
        time.sleep(0.1)


def down(lab: Lab, echo: Echo = print) -> None:
    """Stop the processes the lab started (by pid file, checked); idempotent."""
    _require_proc()
    names = [s.name for s in reversed(lab.services())]
    if lab.run_dir.is_dir():  # pid files of pieces a previous layout had (more backends)
        names += sorted(p.stem for p in lab.run_dir.glob("*.pid") if p.stem not in names)
    for name in names:
        echo(f"{name:<10} {_stop(lab, name)}")
    if (lab.hosts_dir / "hosts.json").is_file():
        lab.test_hosts().down(echo=echo)


def status(lab: Lab) -> dict[str, Any]:
    """What runs, with pids, addresses and health; plus the ADC's data-plane listeners."""
    _require_proc()
    rows = []
    for service in lab.services():
        record = running(lab, service.name)
        stale = record is None and lab.pid_file(service.name).exists()
        health = _healthy(service.health_url)[1] if record else ("stale pid file" if stale else "-")
        rows.append({"name": service.name, "pid": record.pid if record else None,
                     "running": record is not None, "address": " ".join(service.addresses),
                     "health": "ok" if health == "HTTP 200" else health,
                     "log": str(lab.log_file(service.name))})
    if lab.layout.model_hosts and os.geteuid() == 0:
        test_hosts = lab.test_hosts()
        hosts = {h.name: h for h in test_hosts.hosts()}
        for name, url in lab.model_servers():
            host = hosts.get(name)
            alive = host is not None and test_hosts.running(host)
            health = _healthy(f"{url}/health")[1] if alive else "-"
            rows.append({"name": name, "pid": host.pid if alive else None, "running": alive,
                         "address": url.removeprefix("http://"),
                         "health": "ok" if health == "HTTP 200" else f"model server: {health}",
                         "log": "systemctl log adcml-model-server (on the host)"})
    adc_running = next(r["running"] for r in rows if r["name"] == "adc")
    listeners: list[dict[str, Any]] = []
    members: list[dict[str, Any]] = []
    if adc_running:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            plane = httpx.get(f"http://{lab.layout.nitro}/lab/dataplane", timeout=2).json()
            listeners, members = plane.get("listeners", []), plane.get("members", [])
    return {"dir": str(lab.dir), "layout": lab.layout.to_json(), "services": rows,
            "healthy": all(r["running"] and r["health"] == "ok" for r in rows),
            "listeners": listeners, "members": members}


def render_status(report: Mapping[str, Any]) -> str:
    head = ("NAME", "PID", "ADDRESS", "HEALTH")
    rows = [(r["name"], str(r["pid"] or "-"), r["address"], r["health"] if r["running"] else
             f"not running{'' if r['health'] == '-' else ' (' + r['health'] + ')'}")
            for r in report["services"]]
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    lines = [f"lab in {report['dir']}"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
              for row in (head, *rows)]
    for listener in report["listeners"]:
        scheme = "https" if listener["tls"] else "http"
        state = "listening" if listener["listening"] else f"not listening ({listener.get('error')})"
        lines.append(f"vserver {listener['name']}: {scheme}://{listener['address']} {state}")
    groups: dict[str, list[str]] = {}
    for member in report["members"]:
        groups.setdefault(member["servicegroup"], []).append(member["state"])
    for group, states in sorted(groups.items()):
        lines.append(f"service group {group}: {states.count('UP')}/{len(states)} members UP")
    return "\n".join(lines)


def token(lab: Lab, user: str, groups: Iterable[str] = (), audience: str = AUDIENCE) -> str:
    """An ID token for ``user`` from the lab's running IdP."""
    from adcml.lab.services.idp import IdPError, LabIdPClient

    try:
        return LabIdPClient(lab.layout.issuer).token(user, groups=list(groups), audience=audience)
    except (IdPError, httpx.HTTPError) as exc:
        raise LabError(f"no token from the lab IdP at {lab.layout.issuer}: {exc} "
                       "(is the lab up? adcml lab status)") from None


def smoke(lab: Lab, url: str | None = None, ca_file: Path | None = None, user: str = "ana",
          echo: Echo = print, timeout: float = 20.0) -> None:
    """Requests through the gateway's TLS frontend, checked: no token → 401; an ml-trusted
    user's token → 200 on embeddings and on chat (the demo backends require the injected
    backend credential there); a token without the group → 403 on chat. LabError on a failure."""
    url = (url or lab.layout.gateway_url).rstrip("/")
    ca = ssl.create_default_context(cafile=str(ca_file or lab.ca_file))
    trusted = token(lab, user, [TRUSTED_GROUP])
    other = token(lab, f"{user}-guest", [])
    bearer = {"Authorization": f"Bearer {trusted}"}
    embed_body = {"input": "hello from the lab"}
    with httpx.Client(base_url=url, verify=ca, timeout=5) as http:
        def call(path: str, headers: Mapping[str, str] | None, body: dict) -> httpx.Response:
            # Right after a converge the ADC's monitors may not have probed the members yet (503).
            deadline = time.monotonic() + timeout
            while True:
                try:
                    reply = http.post(path, json=body, headers=headers)
                    if reply.status_code != 503 or time.monotonic() > deadline:
                        return reply
                except httpx.ConnectError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.25)

        def expect(label: str, reply: httpx.Response, status: int) -> None:
            if reply.status_code != status:
                raise LabError(f"smoke check failed: {label}: HTTP {reply.status_code}, expected "
                               f"{status}: {reply.text[:300]}")
            echo(f"ok  {label}: {status}")

        try:
            reply = call("/v1/embeddings", bearer, embed_body)
            expect(f"POST {url}/v1/embeddings as {user} ({TRUSTED_GROUP})", reply, 200)
            data = reply.json().get("data")
            if not data or not data[0].get("embedding"):
                raise LabError(f"smoke check failed: no embedding in {reply.text[:300]}")
            echo(f"    an embedding of {len(data[0]['embedding'])} numbers from "
                 f"{reply.json().get('model', '?')}")
            expect("the same without a token", call("/v1/embeddings", None, embed_body), 401)
            chat = {"messages": [{"role": "user", "content": "hi"}]}
            expect(f"POST /v1/chat/completions as {user} ({TRUSTED_GROUP}; backend credential "
                   "injected)", call("/v1/chat/completions", bearer, chat), 200)
            expect(f"POST /v1/chat/completions as {user}-guest (no {TRUSTED_GROUP})",
                   call("/v1/chat/completions", {"Authorization": f"Bearer {other}"}, chat), 403)
        except httpx.HTTPError as exc:
            raise LabError(f"smoke check failed: {url}: {type(exc).__name__}: {exc} (did the "
                           "playbook converge the gateway? adcml lab status)") from None


def howto(lab: Lab, repo_relative_dir: str | None = None) -> str:
    """What the lab is and how to try it, for the end of ``make lab``."""
    d = repo_relative_dir or str(lab.dir)
    layout = lab.layout
    models = (", ".join(f"{name} {url}" for name, url in lab.model_servers()) + " (adcml serve)"
              if layout.model_hosts else "none (adcml lab up --no-model-hosts)")
    return f"""
The lab is up (it keeps running in the background):
  gateway     {layout.gateway_url}  (TLS with the lab CA {d}/pki/ca.pem; {layout.gateway_name})
  lab ADC     NITRO http://{layout.nitro} and https://{layout.nitro_tls} (nsroot/nsroot)
  lab IdP     {layout.issuer}
  models      {models}
  chat        {', '.join(layout.backends)} (demo chat backends)

Try it:
  TOKEN=$(.venv/bin/adcml lab token --dir {d} --user ana --group {TRUSTED_GROUP})
  curl --cacert {d}/pki/ca.pem -H "Authorization: Bearer $TOKEN" \\
       {layout.gateway_url}/v1/embeddings -d '{{"input": "hello"}}'
  .venv/bin/adcml lab status --dir {d}     # what runs, health, the gateway's listeners
  .venv/bin/adcml lab down --dir {d}       # stop it all
""".rstrip()


__all__ = ["AUDIENCE", "LAB_BACKEND_TOKEN", "Lab", "LabError", "Layout", "down", "ensure_pki", "howto",
           "running", "smoke", "status", "token", "up"]
