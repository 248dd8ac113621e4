"""``adcml lab status`` and ``adcml lab hosts status``: what runs and whether it is healthy,
as a report (plain data, ``--json``) and as text (``render_status``, one for both reports)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from adcml.lab.orchestrator.layout import LAB_HF_NAMESPACE, LAB_HF_TOKEN, Lab
from adcml.lab.orchestrator.processes import healthy, require_proc, running

Row = Sequence[str]


def status(lab: Lab) -> dict[str, Any]:
    """What runs, with pids, addresses and health; plus the ADC's data-plane listeners and the
    Hugging Face stand-in's endpoints."""
    require_proc()
    rows = []
    for service in lab.services():
        record = running(lab.pid_file(service.name))
        stale = record is None and lab.pid_file(service.name).exists()
        health = healthy(service.health_url)[1] if record else ("stale pid file" if stale else "-")
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
            health = healthy(f"{url}/health")[1] if alive else "-"
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
    hf_running = any(r["running"] for r in rows if r["name"] == "hf")
    return {"dir": str(lab.dir), "layout": lab.layout.to_json(), "services": rows,
            "healthy": all(r["running"] and r["health"] == "ok" for r in rows),
            "listeners": listeners, "members": members,
            "endpoints": _endpoints(lab) if hf_running else []}


def _endpoints(lab: Lab) -> list[dict[str, Any]]:
    """The stand-in's endpoints in the lab's namespace, as its API lists them (with the lab's
    token); [] when it does not answer."""
    try:
        reply = httpx.get(f"{lab.layout.hf_url}/v2/endpoint/{LAB_HF_NAMESPACE}", timeout=2,
                          headers={"Authorization": f"Bearer {LAB_HF_TOKEN}"})
        items = reply.json().get("items", []) if reply.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return []
    out = []
    for item in items:
        state = item.get("status") or {}
        out.append({"namespace": LAB_HF_NAMESPACE, "name": item.get("name"), "state": state.get("state"),
                    "url": state.get("url"), "host_name": state.get("hostName"),
                    "message": state.get("message")})
    return out


def render_status(report: Mapping[str, Any]) -> str:
    """A status report as text: the lab's (``status``) or the test hosts'
    (``TestHosts.status``): a title, a table, then what else the report says."""
    title, head, rows, notes = _lab_view(report) if "services" in report else _hosts_view(report)
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    table = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
             for row in (head, *rows)]
    return "\n".join([title, *table, *notes])


def _lab_view(report: Mapping[str, Any]) -> tuple[str, Row, list[Row], list[str]]:
    head = ("NAME", "PID", "ADDRESS", "HEALTH")
    rows = [(r["name"], str(r["pid"] or "-"), r["address"], r["health"] if r["running"] else
             f"not running{'' if r['health'] == '-' else ' (' + r['health'] + ')'}")
            for r in report["services"]]
    notes = []
    for listener in report["listeners"]:
        scheme = "https" if listener["tls"] else "http"
        state = "listening" if listener["listening"] else f"not listening ({listener.get('error')})"
        notes.append(f"vserver {listener['name']}: {scheme}://{listener['address']} {state}")
    groups: dict[str, list[str]] = {}
    for member in report["members"]:
        groups.setdefault(member["servicegroup"], []).append(member["state"])
    for group, states in sorted(groups.items()):
        notes.append(f"service group {group}: {states.count('UP')}/{len(states)} members UP")
    for endpoint in report.get("endpoints", []):
        where = f" {endpoint['url']} ({endpoint['host_name']})" if endpoint["url"] else ""
        notes.append(f"HF endpoint {endpoint['namespace']}/{endpoint['name']}: {endpoint['state']}{where}")
    return f"lab in {report['dir']}", head, rows, notes


def _hosts_view(report: Mapping[str, Any]) -> tuple[str, Row, list[Row], list[str]]:
    head = ("HOST", "ADDRESS", "NAMESPACE", "SSHD PID", "STATE")
    rows = [(r["name"], r["address"], r["namespace"], str(r["pid"] if r["running"] else "-"),
             "ssh ok" if r["ssh"] else ("running, ssh does not answer" if r["running"] else "not running"))
            for r in report["hosts"]]
    title = (f"test hosts in {report['dir']}: network {report['network']}, bridge {report['bridge']}, "
             f"inventory {report['inventory']} (group {report['group']})")
    return title, head, rows, [] if rows else ["(none)"]


__all__ = ["render_status", "status"]
