"""``adcml lab up`` and ``adcml lab down``: the local lab as background processes.

``up`` makes the PKI once (``pki_files``), brings up the model-server hosts as root
(``hosts``) with the wheelhouse they install from (``wheelhouse``), then starts what does not
run yet (``layout.Lab.services``: IdP, demo backends, the Hugging Face stand-in, the lab ADC),
each detached (``processes``), and waits until each answers its health check. ``down`` stops
them (only the processes their pid files still describe, and what those left in their
sessions: the stand-in's replicas) and takes the hosts down.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence

from adcml.lab.orchestrator import wheelhouse
from adcml.lab.orchestrator.errors import LabError, TestHostsError
from adcml.lab.orchestrator.layout import Lab, Layout, split_address
from adcml.lab.orchestrator.pki_files import ensure_pki
from adcml.lab.orchestrator.processes import (
    Record,
    Service,
    address_free,
    healthy,
    log_tail,
    require_proc,
    running,
    spawn,
    stop,
)

Echo = Callable[[str], None]


def _check_layout_matches(lab: Lab) -> None:
    saved = lab.dir / "lab.json"
    if not saved.is_file():
        return
    try:
        old = Layout.from_json(json.loads(saved.read_text()))
    except (ValueError, TypeError, LabError):
        return
    if old != lab.layout and any(running(lab.pid_file(s.name)) for s in Lab(lab.dir, old).services()):
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
    require_proc()
    _check_layout_matches(lab)
    lab.dir.mkdir(parents=True, exist_ok=True)
    for made in ensure_pki(lab):
        echo(f"created {made}")
    (lab.dir / "lab.json").write_text(json.dumps(lab.layout.to_json(), indent=2) + "\n")
    if lab.layout.model_hosts:
        _model_hosts_up(lab, echo)

    services = lab.services()
    live = {s.name for s in services if running(lab.pid_file(s.name))}
    if "idp" not in live and "adc" in live:
        # The IdP signs with a new key at each start: an ADC that cached the old key refuses new
        # tokens until it fetches the JWKS again (for an unknown kid, at most every few seconds).
        # Restart it with the IdP, so that new tokens pass at once.
        echo("the IdP is not running but the ADC is: restarting the ADC too (it caches the "
             "IdP's signing key)")
        stop(lab.pid_file("adc"))
        live.discard("adc")

    started: dict[str, tuple[subprocess.Popen, Record]] = {}
    try:
        for service in services:
            if service.name in live:
                continue
            stop(lab.pid_file(service.name))  # a stale pid file, if any, and what it left running
            busy = [a for a in (*service.addresses, *service.binds)
                    if not address_free(*split_address(a))]
            if busy:
                raise LabError(f"{service.name}: {', '.join(busy)} already in use by another "
                               f"process (not one of this lab's); free it or choose other addresses "
                               f"(adcml lab up --help)")
            started[service.name] = spawn(service, lab.log_file(service.name),
                                          lab.pid_file(service.name), lab.dir)
        _wait_healthy(lab, services, started, timeout)
    except BaseException:
        for name in reversed(list(started)):
            stop(lab.pid_file(name))
        raise
    for service in services:
        record = running(lab.pid_file(service.name))
        state = "started" if service.name in started else "already running"
        echo(f"{service.name:<10} {state:<16} pid {record.pid if record else '?':<8} "
             f"{' '.join(service.addresses)}")
    if not started:
        echo(f"the lab in {lab.dir} is already up; nothing to do")
    return bool(started)


def _model_hosts_up(lab: Lab, echo: Echo) -> None:
    """The model-server hosts (root: network namespaces) and the wheelhouse they install from."""
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
            elif not running(lab.pid_file(name)):
                raise LabError(f"{name} stopped while the lab was starting; the end of "
                               f"{lab.log_file(name)}:\n{log_tail(lab.log_file(name))}")
            ok, last[name] = healthy(service.health_url, timeout=1.0)
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
    require_proc()
    timeouts = {s.name: s.stop_timeout for s in reversed(lab.services())}
    names = list(timeouts)
    if lab.run_dir.is_dir():  # pid files of pieces a previous layout had (more backends)
        names += sorted(p.stem for p in lab.run_dir.glob("*.pid") if p.stem not in names)
    for name in names:
        echo(f"{name:<10} {stop(lab.pid_file(name), timeout=timeouts.get(name, 10.0))}")
    if (lab.hosts_dir / "hosts.json").is_file():
        lab.test_hosts().down(echo=echo)


__all__ = ["Echo", "down", "up"]
