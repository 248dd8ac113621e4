"""Monitored states and counters in NITRO answers come from the traffic provider the lab ADC
registers when it is built (its data plane), and only while that carries traffic.

A lab ADC built with a data plane that never started, or one that started and stopped, answers
every GET and stat exactly as a lab ADC without a data plane does. Driven through the backend
(``LabADC``), without HTTP: the answers are the backend's.
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from dataplane_kit import free_port

from adcml.lab.emulators.adc.backend import LabADC
from adcml.lab.emulators.adc.exceptions import NitroFault
from adcml.lab.emulators.adc.models.operations import Change, Query, Verb
from adcml.lab.emulators.adc.models.sessions import Session
from adcml.lab.services.pki import LabCA
from adcml.resources import SCHEMA

SSL_DIR = "/nsconfig/ssl"
SECURE_VIP = "127.0.0.1"
STATS = {"lbvserver": {}, "csvserver": {}, "servicegroup": {}, "cache": {},
         "cachecontentgroup": {}, "servicegroupmember": {"servicegroupname": "pool"}}
AGGREGATES = ["lbvserver_binding", "servicegroup_binding", "csvserver_binding", "sslvserver_binding"]


@pytest.fixture(scope="module")
def issued():
    return LabCA().issue("web.lab.test", sans=("web.lab.test",), passphrase="pw")


def configure(lab: LabADC, issued, secure_port: int) -> None:
    """Vservers, a pool with a member, an SSL vserver with an encrypted key (the only one that
    listens, on ``secure_port``), a content group; written through the backend as NITRO
    requests are."""
    part = lab.store.partition("default")
    session = Session("", "nsroot", 0, 0.0)

    def add(resource: str, obj: dict, action: str | None = None) -> None:
        lab.write(part, session, SCHEMA[resource], Change(Verb.ADD, action), obj)

    add("nsfeature", {"feature": ["LB", "CS", "SSL", "IC"]}, action="enable")
    for name, data in (("web.crt", issued.cert_pem), ("web.key", issued.key_pem)):
        add("systemfile", {"filename": name, "filelocation": SSL_DIR,
                           "filecontent": base64.b64encode(data).decode()})
    add("sslcertkey", {"certkey": "web", "cert": "web.crt", "key": "web.key", "passplain": "pw"})
    add("server", {"name": "s1", "ipaddress": "127.0.0.1"})
    add("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"})
    add("servicegroup_servicegroupmember_binding",
        {"servicegroupname": "pool", "servername": "s1", "port": 1})
    for name, kind, ip, port in (("web", "HTTP", "0.0.0.0", 0),
                                 ("secure", "SSL", SECURE_VIP, secure_port)):
        add("lbvserver", {"name": name, "servicetype": kind, "ipv46": ip, "port": port})
        add("lbvserver_servicegroup_binding", {"name": name, "servicegroupname": "pool"})
    add("sslvserver_sslcertkey_binding", {"vservername": "secure", "certkeyname": "web"})
    add("csvserver", {"name": "cs", "servicetype": "HTTP", "ipv46": "0.0.0.0", "port": 0})
    add("csvserver_lbvserver_binding", {"name": "cs", "lbvserver": "web"})
    add("cachecontentgroup", {"name": "g1", "relexpiry": 60})


def answers(lab: LabADC) -> dict[str, object]:
    """What a GET of every resource (and aggregate), and every stat, answers: rows or the fault."""
    part = lab.store.partition("default")
    out: dict[str, object] = {}
    for resource in [*sorted(SCHEMA), *AGGREGATES]:
        args = {"filelocation": SSL_DIR} if resource == "systemfile" else {}
        out[resource] = outcome(lambda r=resource, a=args: lab.get(part, r, None, Query(
            args=a, bulkbindings=True)))
    for resource, args in STATS.items():
        out[f"stat/{resource}"] = outcome(lambda r=resource, a=args: lab.stats(part, r, None, a))
    return out


def outcome(read) -> object:
    try:
        return read()
    except NitroFault as fault:
        return fault.status, fault.envelope()


async def start_and_stop(lab: LabADC) -> tuple[dict[str, object], set[tuple[str, int]]]:
    """Start the data plane, read everything while it runs (and where it listens), stop it."""
    await lab.dataplane.start()
    try:
        return answers(lab), set(lab.dataplane.listeners)
    finally:
        await lab.dataplane.stop()


def test_a_nitro_get_answers_the_same_whether_or_not_the_data_plane_started(issued):
    port = free_port(SECURE_VIP)
    without = LabADC()
    configure(without, issued, port)
    never_started = LabADC(data_plane=True)
    configure(never_started, issued, port)
    stopped = LabADC(data_plane=True)
    configure(stopped, issued, port)
    asyncio.run(start_and_stop(stopped))

    expected = answers(without)
    assert answers(never_started) == expected
    assert answers(stopped) == expected
    # Without traffic, states derive from the config and there is no stat/csvserver.
    [web] = [r for r in expected["lbvserver"] if r["name"] == "web"]
    assert web["curstate"] == "UP" and "health" not in web
    assert expected["stat/csvserver"][0] == 404


def test_while_the_data_plane_runs_gets_and_stats_report_what_it_observes(issued):
    port = free_port(SECURE_VIP)
    lab = LabADC(data_plane=True)
    configure(lab, issued, port)
    running, listening = asyncio.run(start_and_stop(lab))

    [web] = [r for r in running["lbvserver"] if r["name"] == "web"]
    assert web["curstate"] == "UP" and web["health"] == "100"  # its one member, unmonitored: UP
    [cs] = running["stat/csvserver"]
    assert cs["name"] == "cs" and cs["totalrequests"] == "0"
    [pool] = running["stat/servicegroup"]
    assert [m["svrstate"] for m in pool["servicegroupmember"]] == ["UP"]
    # The encrypted key's passphrase (kept by the store, never in the config) reached the data
    # plane: the SSL vserver listened.
    assert listening == {(SECURE_VIP, port)}
    without = LabADC()
    configure(without, issued, port)
    assert answers(lab) == answers(without)  # stopped again: the config alone
