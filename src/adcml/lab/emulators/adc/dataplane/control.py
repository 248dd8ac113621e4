"""``GET /lab/dataplane``: what the data plane serves, and why not (loopback test control)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from adcml.lab.emulators.adc.dataplane.engine import DataPlane


def status(plane: DataPlane) -> dict:
    """Listeners, members, vservers not served and why, problems of the running config."""
    tables = plane.tables
    listeners = []
    for address, frontend in sorted(tables.frontends.items()):
        listening = address in plane.listeners
        listeners.append({
            "address": f"{address[0]}:{address[1]}", "kind": frontend.kind, "name": frontend.name,
            "partition": frontend.partition, "tls": frontend.tls is not None,
            "listening": listening, "error": plane.listen_errors.get(address),
        })
    members = []
    for key, m in sorted(plane.members.items()):
        members.append({
            "partition": key[0], "servicegroup": key[1], "server": key[2], "port": key[3],
            "ip": m.spec.ip, "state": m.state, "lastresponse": m.lastresponse,
            "requests": m.requests, "active": m.active, "unreachable": m.spec.unreachable,
            "last_failure": m.last_failure,
        })
    return {
        "running": plane.running, "settled": plane.settled,
        "generation": plane.applied_generation, "allowed_networks": list(plane.policy.networks),
        "listeners": listeners, "members": members,
        "not_served": {f"{p}/{n}": why for (p, n), why in sorted(tables.skipped.items())},
        "problems": tables.problems,
    }


def status_handler(plane: DataPlane) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The handler of ``GET /lab/dataplane`` for ``plane``."""

    async def get_status(request: web.Request) -> web.Response:
        return web.json_response(status(plane))

    return get_status
