"""The smoke check's spillover leg (``adcml lab smoke``): the local pool serves; with its members
disabled through NITRO, the Hugging Face endpoint serves (the stand-in's request record proves
it, and that the ADC sent it the lab's HF token, not the caller's); enabled again, the local
pool serves again (failback). The HF token is in no answer the caller gets.

The lab ADC is spoken to in raw NITRO (``LabNitro``) and the stand-in through its lab-only
``/lab/requests``: the lab never uses adcml's NITRO client or engine (docs/architecture.md), so
it cannot agree with them by sharing their mistakes.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from adcml.lab.orchestrator.errors import LabError
from adcml.lab.orchestrator.layout import LAB_HF_NAMESPACE, LAB_HF_TOKEN, Lab

Echo = Callable[[str], None]
NITRO_USER = NITRO_PASS = "nsroot"  # the lab ADC's default (adcml lab up gives it no password file)
SCALE_UP_WAIT = 180.0  # an endpoint scaled to zero wakes while the request waits (scale_up_timeout)
FAILBACK_WAIT = 30.0  # the members' monitors see them UP again


def fingerprint(authorization: str) -> str:
    """What the stand-in records of an Authorization header: the first 16 hex digits of its
    SHA-256 (docs/lab-hf.md, the request record)."""
    return hashlib.sha256(authorization.encode()).hexdigest()[:16]


class LabNitro:
    """The few NITRO calls the check needs, over plain HTTP to the lab ADC."""

    def __init__(self, address: str, timeout: float = 10.0):
        self.address = address
        self._http = httpx.Client(base_url=f"http://{address}/nitro/v1", timeout=timeout,
                                  headers={"X-NITRO-USER": NITRO_USER, "X-NITRO-PASS": NITRO_PASS})

    def __enter__(self) -> LabNitro:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def get(self, kind: str, resource: str, name: str = "") -> list[dict[str, Any]]:
        """``GET /nitro/v1/<kind>/<resource>[/<name>]`` → its objects ([] when there are none)."""
        path = f"/{kind}/{resource}" + (f"/{name}" if name else "")
        reply = self._http.get(path)
        if reply.status_code != 200:
            raise LabError(f"the lab ADC answered GET {path} with HTTP {reply.status_code}: "
                           f"{reply.text[:200]}")
        return reply.json().get(resource, [])

    def member_action(self, action: str, group: str, member: tuple[str, int]) -> None:
        """``POST /config/servicegroup?action=enable|disable`` for one member (docs/nitro-facts.md)."""
        body = {"servicegroup": {"servicegroupname": group, "servername": member[0], "port": member[1]}}
        reply = self._http.post("/config/servicegroup", params={"action": action}, json=body)
        if reply.status_code not in (200, 201):
            raise LabError(f"the lab ADC refused to {action} member {member[0]}:{member[1]} of {group}: "
                           f"HTTP {reply.status_code}: {reply.text[:200]}")

    def lbvserver_stats(self, name: str) -> dict[str, Any]:
        found = self.get("stat", "lbvserver", name)
        return found[0] if found else {}


@dataclass(frozen=True)
class Spillover:
    """A pool of the lab's gateway that spills over, as the ADC holds it."""

    primary: str  # its LB vserver (<gw>.<pool>)
    backup: str  # the LB vserver it spills over to
    group: str  # the primary's service group
    members: tuple[tuple[str, int], ...]  # (servername, port) of each member
    disabled: tuple[tuple[str, int], ...]  # those already out of service


def find_spillover(nitro: LabNitro, frontend: str) -> Spillover:
    """The pool of the gateway listening on ``frontend`` (HOST:PORT) that spills over to another
    (the lab's inventory has one: embed → embed-hf). LabError when there is none."""
    host, _, port = frontend.rpartition(":")
    names = [cs["name"] for cs in nitro.get("config", "csvserver")
             if cs.get("ipv46") == host and str(cs.get("port")) == port]
    if not names:
        raise LabError(f"no gateway listens on {frontend} on the lab ADC (did the playbook converge it? "
                       "adcml lab status)")
    gateway = names[0].removesuffix(".cs")
    spilling = sorted((vs for vs in nitro.get("config", "lbvserver")
                       if vs["name"].startswith(f"{gateway}.") and vs.get("backupvserver")),
                      key=lambda vs: vs["name"])
    if not spilling:
        raise LabError(f"no pool of gateway {gateway} spills over to another (spillover.to): converge "
                       "inventories/local's gateway (playbooks/site.yml), whose embed pool spills over "
                       "to the Hugging Face endpoint pool embed-hf")
    primary = spilling[0]
    groups = nitro.get("config", "lbvserver_servicegroup_binding", primary["name"])
    if not groups:
        raise LabError(f"pool {primary['name']} has no service group on the lab ADC")
    group = groups[0]["servicegroupname"]
    bound = nitro.get("config", "servicegroup_servicegroupmember_binding", group)
    members = tuple((m.get("servername") or m["ip"], int(m["port"])) for m in bound)
    if not members:
        raise LabError(f"pool {primary['name']} has no members to disable")
    disabled = tuple((m.get("servername") or m["ip"], int(m["port"])) for m in bound
                     if str(m.get("state", "ENABLED")).upper() == "DISABLED")
    return Spillover(primary["name"], primary["backupvserver"], group, members, disabled)


def hf_records(lab: Lab) -> list[dict[str, Any]]:
    """The stand-in's record of the data-plane requests of the lab's namespace, oldest first."""
    try:
        reply = httpx.get(f"{lab.layout.hf_url}/lab/requests", params={"namespace": LAB_HF_NAMESPACE},
                          timeout=5)
        reply.raise_for_status()
        return list(reply.json()["items"])
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        raise LabError(f"the Hugging Face stand-in at {lab.layout.hf_url} does not list its requests "
                       f"({type(exc).__name__}: {exc}); is it up? adcml lab status") from None


def _since(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records in ``after`` that came after the last one of ``before`` (the list is capped)."""
    if not before:
        return after
    last = before[-1]
    for i in range(len(after) - 1, -1, -1):
        if after[i] == last:
            return after[i + 1:]
    return after


def _frontend(lab: Lab, url: str) -> str:
    """The VIP:PORT the gateway at ``url`` listens on: the URL's own when it names an address,
    else the lab's gateway (a name, say gateway.lab.test, resolves to it in the lab)."""
    parts = urlsplit(url)
    try:
        ipaddress.IPv4Address(parts.hostname or "")
    except ValueError:
        return lab.layout.gateway
    return f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"


def check_spillover(lab: Lab, http: httpx.Client, headers: Mapping[str, str], echo: Echo,
                    seen: list[httpx.Response]) -> None:
    """The spillover leg through ``http`` (the gateway, TLS verified) with a caller's
    ``headers``; every answer is added to ``seen``. LabError on a failure; the members are
    enabled again whatever happens."""
    expected = fingerprint(f"Bearer {LAB_HF_TOKEN}")

    def embed(timeout: float) -> tuple[httpx.Response, list[dict[str, Any]]]:
        """One embedding request; the stand-in's records it caused (503 while the ADC has not
        seen a change yet, or an endpoint still waking, is retried until ``timeout``). Each
        has a sentence of its own: the pools cache embeddings by body, and a cached answer
        would say nothing of who serves."""
        deadline = time.monotonic() + timeout
        while True:
            before = hf_records(lab)
            body = {"input": f"hello from the lab, spilled over ({time.time_ns()})"}
            reply = http.post("/v1/embeddings", json=body, headers=dict(headers),
                              timeout=SCALE_UP_WAIT + 10)
            seen.append(reply)
            if reply.status_code != 503 or time.monotonic() > deadline:
                return reply, _since(before, hf_records(lab))
            time.sleep(0.5)

    def served(reply: httpx.Response, what: str) -> None:
        if reply.status_code != 200:
            raise LabError(f"smoke check failed: POST /v1/embeddings {what}: HTTP {reply.status_code}, "
                           f"expected 200: {reply.text[:300]}")

    with LabNitro(lab.layout.nitro) as nitro:
        pair = find_spillover(nitro, _frontend(lab, str(http.base_url)))
        if pair.disabled:
            listed = ", ".join(f"{s}:{p}" for s, p in pair.disabled)
            raise LabError(
                f"member(s) {listed} of {pair.group} are disabled (a rolling update under way, or an "
                "interrupted smoke check): make lab enables them (playbooks/gpu_hosts.yml), or "
                f"POST http://{lab.layout.nitro}/nitro/v1/config/servicegroup?action=enable "
                f'{{"servicegroup": {{"servicegroupname": "{pair.group}", "servername": ..., "port": ...}}}}')
        reply, records = embed(20.0)
        served(reply, f"to {pair.primary}")
        if records:
            raise LabError(f"smoke check failed: a request for {pair.primary} reached the Hugging Face "
                           f"endpoint ({records[-1]['name']}) although its members are enabled: are they "
                           f"UP? adcml lab status")
        echo(f"ok  POST /v1/embeddings served by the local pool {pair.primary}: 200 (no request reached "
             "the Hugging Face endpoint)")

        stats = nitro.lbvserver_stats(pair.primary)
        members = ", ".join(f"{s}:{p}" for s, p in pair.members)
        try:
            for member in pair.members:
                nitro.member_action("disable", pair.group, member)
            echo(f"ok  {pair.primary}'s members disabled through NITRO ({members})")
            reply, records = embed(SCALE_UP_WAIT)
            served(reply, f"with {pair.primary}'s members disabled")
            hits = [r for r in records if r.get("path") == "/v1/embeddings" and r.get("status") == 200]
            if not hits:
                raise LabError(f"smoke check failed: {pair.primary} is down, a request was answered 200, "
                               "but the Hugging Face stand-in recorded no request for it")
            record = hits[-1]
            if record.get("authorization") != expected:
                raise LabError(f"smoke check failed: the endpoint got Authorization with fingerprint "
                               f"{record.get('authorization')}, not the lab's HF token's ({expected}): the "
                               "ADC did not inject the pool's backend_token")
            data = reply.json().get("data") or [{}]
            after = nitro.lbvserver_stats(pair.primary)
            echo(f"ok  POST /v1/embeddings served by the Hugging Face endpoint {record['namespace']}/"
                 f"{record['name']} through {pair.backup}: 200")
            echo(f"    an embedding of {len(data[0].get('embedding') or [])} numbers; the stand-in "
                 f"recorded {record['method']} {record['path']} for {record['sni']} with Authorization "
                 f"{record['authorization']} (the lab's HF token, injected by the ADC)")
            counter = "totvserverdownbackuphits"
            echo(f"    the ADC sent it to the backup: {pair.primary} {counter} {stats.get(counter, '?')} -> "
                 f"{after.get(counter, '?')}")
        finally:
            for member in pair.members:
                nitro.member_action("enable", pair.group, member)

        deadline = time.monotonic() + FAILBACK_WAIT
        while True:
            reply, records = embed(FAILBACK_WAIT)
            if reply.status_code == 200 and not records:
                break
            if time.monotonic() > deadline:
                served(reply, f"after {pair.primary}'s members were enabled again")
                raise LabError(f"smoke check failed: {FAILBACK_WAIT:g} s after {pair.primary}'s members "
                               "were enabled again, requests still reach the Hugging Face endpoint (no "
                               "failback): adcml lab status")
            time.sleep(0.5)
        echo(f"ok  {pair.primary}'s members enabled again: POST /v1/embeddings served by the local pool: "
             "200 (failback)")


def assert_token_unseen(replies: list[httpx.Response], echo: Echo) -> None:
    """The lab's HF token is in no body or header of ``replies`` (what the caller got)."""
    for reply in replies:
        headers = "\n".join(f"{k}: {v}" for k, v in reply.headers.multi_items())
        if LAB_HF_TOKEN in reply.text or LAB_HF_TOKEN in headers:
            raise LabError(f"smoke check failed: the Hugging Face token is in an answer to "
                           f"{reply.request.method} {reply.request.url.path} (HTTP {reply.status_code})")
    echo(f"ok  the Hugging Face token is in none of the {len(replies)} answers (bodies, headers)")


__all__ = ["LabNitro", "Spillover", "assert_token_unseen", "check_spillover", "find_spillover",
           "fingerprint", "hf_records"]
