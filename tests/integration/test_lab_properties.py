"""Properties of the lab ADC, over random requests (hypothesis).

1. Whatever is sent (bodies, attribute values, names, query strings), the answer is a NITRO
   envelope with a known errorcode and a 2xx, 4xx or 599 status: never a 500, never the lab's
   internal-error message, never a traceback.
2. Valid random lbvserver and servicegroup objects round-trip: GET returns what was added,
   modulo the documented normalisation (enums upper-case, most numbers as strings).
"""

from __future__ import annotations

import json
import logging
import os
import string
from collections.abc import Iterator
from itertools import count
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from adcml.lab.server import LabADC, LabServer
from adcml.resources import SCHEMA, ErrorCode, Kind
from adcml.resources.check import NAME_RE
from adcml.resources.values import canonical, wire

KNOWN_CODES = {int(code) for code in ErrorCode}
INTERNAL = "internal error in the lab ADC"
# Bounded so the lab suite stays quick; LAB_PROPERTY_EXAMPLES=2000 searches harder.
SETTINGS = settings(max_examples=int(os.environ.get("LAB_PROPERTY_EXAMPLES", "60")),
                    deadline=None, suppress_health_check=[HealthCheck.too_slow])

RESOURCES = sorted(SCHEMA) + [
    "login", "lbvserver_binding", "servicegroup_binding", "sslvserver_binding",
    "csvserver_binding", "nosuchresource", "LBVSERVER", "",
]
# Not "clear": it would wipe the seeded objects that random requests are meant to meet.
ACTIONS = sorted({a for r in SCHEMA.values() for a in r.actions} - {"clear"}) + [
    "Switch", "SAVE", "bogus", ""]
QUERY_KEYS = ["args", "filter", "attrs", "count", "pagesize", "pageno", "view", "warning",
              "idempotent", "bulkbindings", "action"]
NAMES = ["web", "pool", "10.0.0.5", "http", "web.pem", "api", "default", "tenant1", "x y"]
LIKELY = ["HTTP", "SSL", "TCP", "10.0.0.1", "fd00::1", "web", "pool", "api", "http", 80, "80",
          "/nsconfig/ssl/", "YQ==", True, False, "ENABLED", "roundrobin", "YES", 0, -1, 60,
          "web.pem", "web.key", ["LB", "CS"], "LB,SSL", "", None]

leaves = (st.none() | st.booleans() | st.integers(-(2**40), 2**40)
          | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=16)
          | st.sampled_from(LIKELY))
names = st.from_regex(NAME_RE, fullmatch=True).filter(lambda n: len(n) <= 100)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=8,
)


def valid_values(resource: str, attr: str):
    """Values that fit one attribute, in the forms clients send them."""
    spec = SCHEMA[resource].attr(attr)
    if spec.kind is Kind.ENUM:
        return any_case(spec.choices)
    if spec.kind is Kind.FLAGS:
        return st.lists(any_case(spec.choices), max_size=3) | any_case(spec.choices)
    if spec.kind is Kind.BOOL:
        return st.booleans() | st.sampled_from(["true", "false", "YES", "no"])
    if spec.kind is Kind.LIST:
        return st.lists(st.text(max_size=8), max_size=3)
    if spec.kind is Kind.INT:
        low = spec.min if spec.min is not None else -5
        numbers = st.integers(low, spec.max if spec.max is not None else 2**31)
        return numbers | numbers.map(str)
    if attr in ("ipv46", "ipaddress", "ip"):
        return st.ip_addresses().map(str)
    if spec.ref or spec.name == SCHEMA[resource].key:
        return st.sampled_from(NAMES) | names
    return st.text(st.characters(exclude_categories=("Cs",)), max_size=spec.max_len or 64)


def any_case(choices: tuple[str, ...]):
    return st.sampled_from(choices).flatmap(
        lambda c: st.sampled_from([c, c.lower(), c.capitalize()]))


def attribute_names(resource: str) -> list[str]:
    res = SCHEMA.get(resource)
    if res is None:
        return ["name", "bogus"]
    names = [a.name for a in res.attrs] + [alias for a in res.attrs for alias in a.aliases]
    return names + ["newname", "nodomaincheck", "bogus", "__count"]


@st.composite
def objects(draw, resource: str) -> dict:
    """Objects that fit the schema, ones with one attribute off, and ones of random keys."""
    res = SCHEMA.get(resource)
    junk_keys = st.sampled_from(attribute_names(resource))
    mode = draw(st.sampled_from(["fits", "fits", "one off", "random"]))
    writable = [a.name for a in res.attrs if not a.readonly] if res else []
    if not writable or mode == "random":
        return draw(st.dictionaries(junk_keys, json_values, max_size=6))
    required = [a.name for a in res.attrs if a.required]
    optional = st.lists(st.sampled_from(writable), max_size=4, unique=True)
    keys = dict.fromkeys(required + draw(optional))
    obj = {key: draw(valid_values(resource, key)) for key in keys}
    if mode == "one off":
        obj[draw(junk_keys)] = draw(json_values)
    return obj


@st.composite
def bodies(draw, resource: str):
    """Mostly well-formed ``{resource: ...}`` envelopes, sometimes anything at all."""
    kind = draw(st.sampled_from(["object", "object", "object", "list", "raw", "bytes"]))
    if kind == "object":
        return {resource: draw(objects(resource))}
    if kind == "list":
        return {resource: draw(st.lists(objects(resource) | json_values, max_size=4))}
    if kind == "raw":
        return draw(json_values)
    return draw(st.binary(max_size=24))


query_values = st.text(alphabet=string.printable.replace("#", "").replace("\x0b", "")
                       + "é€✓", max_size=16)


@st.composite
def query_strings(draw) -> str:
    params = draw(st.lists(st.tuples(st.sampled_from(QUERY_KEYS + ["x"]), query_values),
                           max_size=4))
    encode = draw(st.booleans())
    parts = []
    for key, value in params:
        if key == "action":
            value = draw(st.sampled_from(ACTIONS))
        parts.append(f"{key}={quote(value, safe=':,') if encode else quote(value, safe=':,%=&')}")
    return "?" + "&".join(parts) if parts else ""


@st.composite
def requests(draw) -> tuple[str, str, object]:
    resource = draw(st.sampled_from(RESOURCES))
    method = draw(st.sampled_from(["GET", "GET", "POST", "POST", "PUT", "PUT", "DELETE", "PATCH"]))
    name = draw(st.none() | st.sampled_from(NAMES) | st.text(max_size=12))
    path = f"/{resource}" + ("" if name is None else "/" + quote(quote(name, safe=""), safe=""))
    body = draw(bodies(resource)) if method in ("POST", "PUT") else None
    return method, path + draw(query_strings()), body


def check_envelope(response: httpx.Response) -> dict:
    """The answer is a NITRO envelope with a known code and a 2xx/4xx/599 status."""
    status = response.status_code
    assert status in (200, 201, 207, 209) or 400 <= status < 500 or status == 599, (
        status, response.text)
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert "Traceback" not in response.text
    body = response.json()
    assert body["errorcode"] in KNOWN_CODES, body
    assert isinstance(body["message"], str) and INTERNAL not in body["message"], body
    assert body["severity"] == ("NONE" if body["errorcode"] == 0 else "ERROR"), body
    assert (body["errorcode"] == 0) == (status < 300 and status != 207), (status, body)
    for entry in body.get("response", []):
        assert entry["errorcode"] in KNOWN_CODES and INTERNAL not in entry["message"], entry
    return body


class Errors(logging.Handler):
    """Collects what the lab logs at ERROR (an internal error logs its traceback there)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[LabServer]:
    state: Path = tmp_path_factory.mktemp("lab-properties")
    errors = Errors()
    loggers = [logging.getLogger(name) for name in ("adcml.lab", "aiohttp")]
    for logger in loggers:
        logger.addHandler(errors)
    with LabServer(LabADC(state, save_delay=0)) as server:
        yield server
    for logger in loggers:
        logger.removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []


@pytest.fixture(scope="module")
def http(lab: LabServer) -> Iterator[httpx.Client]:
    """A session with a few objects in place, so random requests meet existing ones."""
    client = httpx.Client(base_url=f"{lab.url}/nitro/v1/config", timeout=10)
    login = client.post("/login", json={"login": {"username": "nsroot", "password": "nsroot"}})
    assert login.status_code == 201
    seed = [
        ("lbvserver", {"name": "web", "servicetype": "HTTP", "ipv46": "10.0.0.10", "port": 80}),
        ("lbvserver", {"name": "api", "servicetype": "SSL", "ipv46": "10.0.0.11", "port": 443}),
        ("servicegroup", {"servicegroupname": "pool", "servicetype": "HTTP"}),
        ("servicegroup_servicegroupmember_binding",
         {"servicegroupname": "pool", "ip": "10.0.0.5", "port": 80}),
        ("lbvserver_servicegroup_binding", {"name": "web", "servicegroupname": "pool"}),
        ("nspartition", {"partitionname": "tenant1"}),
    ]
    for resource, obj in seed:
        assert client.post(f"/{resource}", json={resource: obj}).status_code == 201
    yield client
    client.close()


@pytest.fixture(scope="module")
def relogin(lab: LabServer, http: httpx.Client):
    """Keep the session usable between examples: logged in, in the default partition."""

    def relogin() -> None:
        state = http.get("/nsversion")
        if state.status_code == 401:
            http.post("/login", json={"login": {"username": "nsroot", "password": "nsroot"}})
        http.post("/nspartition?action=switch", json={"nspartition": {"partitionname": "default"}})

    return relogin


@SETTINGS
@given(request=requests())
def test_any_request_gets_a_nitro_envelope(http, relogin, request):
    method, url, body = request
    if isinstance(body, bytes):
        response = http.request(method, url, content=body)
    elif body is None:
        response = http.request(method, url)
    else:
        response = http.request(method, url, content=json.dumps(body).encode())
    outcome = check_envelope(response)
    event(f"{method} {response.status_code} {outcome['errorcode']}")
    relogin()


@SETTINGS
@given(resource=st.sampled_from(sorted(SCHEMA)), obj=st.data())
def test_random_attribute_values_get_a_nitro_envelope(http, relogin, resource, obj):
    body = obj.draw(objects(resource))
    for method in ("POST", "PUT"):
        outcome = check_envelope(http.request(method, f"/{resource}", json={resource: body}))
        event(f"{method} {outcome['errorcode']}")
    name = body.get(SCHEMA[resource].key)
    if isinstance(name, str):
        segment = quote(quote(name, safe=""), safe="")
        check_envelope(http.get(f"/{resource}/{segment}"))
        check_envelope(http.delete(f"/{resource}/{segment}"))
    relogin()


@SETTINGS
@given(name=st.text(max_size=40), query=query_strings(),
       resource=st.sampled_from(["lbvserver", "systemfile", "lbmonitor", "sslcertkey",
                                 "servicegroup_servicegroupmember_binding", "lbvserver_binding"]))
def test_random_names_and_queries_get_a_nitro_envelope(http, name, query, resource):
    segment = quote(quote(name, safe=""), safe="")
    for method in ("GET", "DELETE"):
        check_envelope(http.request(method, f"/{resource}/{segment}{query}"))
    check_envelope(http.get(f"/{resource}{query}"))


@SETTINGS
@given(raw=st.text(alphabet="%/?&=:,#ab2F5 é", max_size=30))
def test_raw_paths_get_a_nitro_envelope(lab, http, raw):
    url = httpx.URL(f"{lab.url}/nitro/v1/config/").copy_with(
        raw_path=("/nitro/v1/config/" + quote(raw, safe="%/?&=:,")).encode())
    check_envelope(http.get(url))


# --- round trips ------------------------------------------------------------------------------
unique = count()


def objects_of(resource: str, fields: list[str]):
    return st.fixed_dictionaries(
        {SCHEMA[resource].key: names},
        optional={attr: valid_values(resource, attr) for attr in fields},
    )


LB_FIELDS = ["servicetype", "ipv46", "port", "lbmethod", "persistencetype", "timeout",
             "clttimeout", "authentication", "authn401", "comment", "state"]
SG_FIELDS = ["servicetype", "maxclient", "maxreq", "sp", "cip", "cipheader", "usip",
             "clttimeout", "svrtimeout", "healthmonitor", "comment", "state"]


def expected(resource: str, obj: dict) -> dict:
    res = SCHEMA[resource]
    return {res.attr(k).name: wire(res.attr(k), canonical(res.attr(k), v)) for k, v in obj.items()}


def round_trip(http: httpx.Client, resource: str, obj: dict) -> None:
    res = SCHEMA[resource]
    obj = {**obj, res.key: f"{obj[res.key]}-{next(unique)}"}
    added = http.post(f"/{resource}", json={resource: obj})
    check_envelope(added)
    assert added.status_code == 201, added.text
    segment = quote(quote(obj[res.key], safe=""), safe="")
    try:
        got = check_envelope(http.get(f"/{resource}/{segment}"))[resource]
        assert len(got) == 1
        assert {k: got[0].get(k) for k in obj} == expected(resource, obj)
    finally:
        check_envelope(http.delete(f"/{resource}/{segment}"))


@SETTINGS
@given(obj=objects_of("lbvserver", LB_FIELDS).filter(lambda o: "servicetype" in o))
def test_lbvserver_round_trips(http, obj):
    round_trip(http, "lbvserver", obj)


@SETTINGS
@given(obj=objects_of("servicegroup", SG_FIELDS).filter(lambda o: "servicetype" in o))
def test_servicegroup_round_trips(http, obj):
    round_trip(http, "servicegroup", obj)


# --- every action the schema declares ---------------------------------------------------------
ACTION_CASES = [(res.name, action) for res in SCHEMA.values() for action in sorted(res.actions)]


@pytest.mark.parametrize("resource, action", ACTION_CASES)
def test_every_declared_action_answers_in_nitro_form(tmp_path, resource, action):
    key = SCHEMA[resource].key
    payloads = [{key: "nope"}, {key: "web"}, {}, {key: ["web"]}, [], "web", {key: "web",
                                                                             "newname": "web2"}]
    with LabServer(LabADC(tmp_path, save_delay=0)) as server, httpx.Client(
            base_url=f"{server.url}/nitro/v1/config", timeout=10) as client:
        client.post("/login", json={"login": {"username": "nsroot", "password": "nsroot"}})
        web = {"name": "web", "servicetype": "SSL", "ipv46": "10.0.0.1", "port": 443}
        assert client.post("/lbvserver", json={"lbvserver": web}).status_code == 201
        for payload in payloads:
            check_envelope(client.post(f"/{resource}?action={action}",
                                       json={resource: payload}))
